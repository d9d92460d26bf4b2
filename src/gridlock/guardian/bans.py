"""The ban list of one vault epoch, shared by every threshold-ECDSA session a guardian runs with it.

A failed OT-extension, VOLE or Γ check may have told the counterparty one bit of this guardian's
long-term OT correlation Δ (selective failure, KOS15 §4; DKLs23 §5).  The counterparty must learn
nothing more until a refresh replaces the correlation, also from sessions that were already
running when it was caught: so there is one ban list per vault epoch (not a copy per request), the
ban is written to the store before :meth:`VaultBans.add` returns, the presigner re-reads the list
right before every use of the OT state, and every in-flight session with the banned party is
aborted at once (``on_ban``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from gridlock.errors import GridlockError
from gridlock.guardian.store import ShareStore

log = logging.getLogger("gridlock.guardian.bans")


class VaultBans:
    """Satisfies :class:`gridlock.crypto.ecdsa.signing.BanList` for one vault epoch."""

    def __init__(
        self,
        store: ShareStore,
        vault_id: str,
        epoch: int,
        banned: set[int],
        on_ban: Callable[[VaultBans, int], None],
    ) -> None:
        self._store = store
        self.vault_id = vault_id
        self.epoch = epoch
        self._banned = set(banned)
        self.unpersisted: set[int] = set()
        self._on_ban = on_ban

    def __contains__(self, j: object, /) -> bool:
        return j in self._banned

    def __repr__(self) -> str:
        return f"VaultBans({self.vault_id!r}, epoch={self.epoch}, banned={sorted(self._banned)})"

    def add(self, j: int, /) -> None:
        if j in self._banned:
            return
        self._banned.add(j)  # in force for every session of this process before anything can fail
        self.unpersisted.add(j)
        try:
            self.persist()
        except GridlockError:
            # the presigner's abort must still happen; the guardian refuses new OT-based sessions of
            # this vault until the ban is on disk (see GuardianNode._presign)
            log.error("vault %s epoch %d: the ban of participant %d is not stored yet", self.vault_id, self.epoch, j)
        finally:
            self._on_ban(self, j)
        log.warning("vault %s epoch %d: participant %d banned until the next refresh", self.vault_id, self.epoch, j)

    def persist(self) -> None:
        """Write the bans not yet on disk; raises the store's error when it still cannot."""
        if not self.unpersisted:
            return
        share = self._store.share(self.vault_id, self.epoch)
        self._store.update_share(self.vault_id, self.epoch, replace(share, banned=share.banned | self._banned))
        self.unpersisted.clear()
