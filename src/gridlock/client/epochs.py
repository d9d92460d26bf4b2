"""The client's side of a two-phase key change (SECURITY #16), mixed into
:class:`~gridlock.client.vault.Vault`: commit the new epoch the holders stored, or abort it
everywhere — and heal what a lost message left behind (issue 18, finding 4; SECURITY #33).

A key change ends at each new holder with a pending epoch and a signed acknowledgement; a ``commit``
carrying every new holder's acknowledgement activates it.  Messages get lost, so:

* a commit or abort that gets no answer is sent again a few times (a guardian treats both as
  idempotent: activating the active epoch, or erasing an epoch it does not have, changes nothing);
* once one holder committed, the epoch *is* the vault's new epoch: the client adopts it and keeps
  the commit (the acknowledgements) for the holders it did not reach, and sends it again before the
  next operation;
* a client without those acknowledgements (another process, a restart) collects them again: each
  holder of the newest epoch acknowledges the share it holds (``ack``), pending or active, and the
  holder left behind verifies every acknowledgement against its own pending share before it
  activates it — a commit it cannot verify changes nothing there;
* an abort goes to every new holder, also those whose answer never came (they may have stored).  A
  pending epoch an abort never reached is replaced by the next owner-approved key change
  (:func:`gridlock.guardian.store.rules.replaces_pending`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from gridlock.client.errors import GuardianTimeout, OperationFailed, RootMismatch
from gridlock.client.hdroot import agreed_root, disagreeing, root_or_none
from gridlock.crypto.hd import HdRoot
from gridlock.errors import GridlockError, InvalidParameterError
from gridlock.wire import control as ctl
from gridlock.wire import ops

if TYPE_CHECKING:
    from gridlock.client.client import Client

__all__ = ["HEAL_TIMEOUT", "TRIES", "EpochChanges", "KeptCommit"]

log = logging.getLogger("gridlock.client")

TRIES: Final = 3
"""How many times a commit or abort is sent to a holder that does not answer, within the key change."""
PAUSE: Final = 0.2
"""Seconds between two tries (times the try's number)."""
ABORT_TIMEOUT: Final = 5.0
"""Seconds to wait for each answer to an abort, or to an acknowledgement or commit when catching up."""
HEAL_TIMEOUT: Final = 2.0
"""Seconds to wait for the answers to a kept commit sent again before the next operation."""


def _unanswered(results: Mapping[str, ops.Reply | BaseException]) -> list[str]:
    """The guardians whose request may not have arrived: any failure but a refusal (an answer)."""
    return [g for g, r in results.items() if isinstance(r, BaseException) and not isinstance(r, ctl.RequestRefused)]


@dataclass(frozen=True)
class KeptCommit:
    """A commit that did not reach every new holder: sent again before the vault's next operation.

    ``adopted``: at least one holder activated the epoch (so it is the vault's epoch, and the vault
    object moved to it); otherwise no holder confirmed it yet and the object stays on the old one."""

    commit: ops.Commit
    members: Mapping[int, str] = field(repr=False)
    threshold: int
    waiting: tuple[str, ...]
    adopted: bool
    root: HdRoot | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.waiting or not set(self.waiting) <= set(self.members.values()):
            raise InvalidParameterError("a kept commit waits for some of the epoch's holders")
        if set(self.commit.acks) != set(self.members.values()):
            raise InvalidParameterError("a kept commit carries every holder's acknowledgement")


class EpochChanges:
    """Commit, abort and catch up a vault's epochs (module doc)."""

    client: Client
    vault_id: str
    scheme: str
    threshold: int
    members: dict[int, str]
    epoch: int
    presignatures: list[tuple[bytes, tuple[str, ...], str]]
    group_key: bytes
    chain_code: bytes
    kept_commit: KeptCommit | None

    if TYPE_CHECKING:  # the Vault's own (the class this is mixed into)

        @staticmethod
        def _failures(results: Mapping[str, ops.Reply | BaseException], what: str) -> None: ...

    async def _send(
        self, guardians: Sequence[str], op: ops.Op, timeout: float | None
    ) -> dict[str, ops.Reply | BaseException]:
        """``op`` at ``guardians``, sent again (up to :data:`TRIES` times) where no answer came."""
        results: dict[str, ops.Reply | BaseException] = {}
        todo = list(guardians)
        for attempt in range(TRIES):
            if attempt:
                await asyncio.sleep(PAUSE * attempt)
            results.update(await self.client.call_all(todo, op, timeout))
            todo = _unanswered({g: results[g] for g in todo if g in results})
            if not todo:
                break
        return results

    async def _abort(self, holders: Sequence[str], stored: Sequence[str], epochs: set[int]) -> None:
        """Drop ``epochs`` (never committed) at every holder: again and again at those known to have
        stored one (``stored``), once at the others (a holder without it refuses, which is fine; one
        that never answered may be down, and waiting for it again would only delay the error)."""
        others = [g for g in holders if g not in stored]
        for epoch in sorted(epochs):
            op = ops.AbortEpoch(self.vault_id, epoch)
            sure, _ = await asyncio.gather(
                self._send(stored, op, ABORT_TIMEOUT), self.client.call_all(others, op, ABORT_TIMEOUT)
            )
            for g in _unanswered(sure):
                log.warning("client: the abort of epoch %d of vault %s did not reach %s", epoch, self.vault_id, g)

    async def _commit(
        self,
        results: Mapping[str, ops.Reply | BaseException],
        members: Mapping[int, str],
        what: str,
        timeout: float | None = None,
    ) -> ops.StoredReply:
        """Activate the new epoch the holders stored, or drop it everywhere (two-phase, SECURITY #16).

        Unanswered commits and aborts are sent again; once any holder confirmed the commit this
        object moves to the new epoch and keeps the commit for the holders that did not (module doc)."""
        holders = list(members.values())
        failed = {g: r for g, r in results.items() if g in holders and isinstance(r, BaseException)}
        failed.update({g: GuardianTimeout([g], what) for g in holders if g not in results})
        oks = {g: r for g, r in results.items() if g in holders and isinstance(r, ops.StoredReply)}
        epochs = {(r.epoch, r.public_key, r.transcript_hash) for r in oks.values()}
        root = root_or_none(self.scheme, self.group_key, self.chain_code)
        liars = disagreeing(root, oks) if root is not None else []
        if root is None and not failed and len(epochs) == 1 and set(oks) == set(holders):
            try:  # keygen (or a record without the root): every holder must report the same one
                key = next(iter(epochs))[1]
                root = agreed_root(self.vault_id, self.scheme, key, oks, holders, what)
            except RootMismatch as exc:
                liars = list(exc.guardians)
        if liars:  # the root is fixed at keygen: drop what was stored, name who reports another
            failed.update({g: RootMismatch(self.vault_id, [g], what) for g in liars})
        if failed or len(epochs) != 1 or set(oks) != set(holders):
            # nothing becomes active: drop what was stored — at every holder, as one that did not
            # answer may have stored it (without an answer, the epoch that follows the current one)
            await self._abort(holders, list(oks), {e for e, _, _ in epochs} or {self.epoch + 1})
            if failed and all(isinstance(e, GuardianTimeout) for e in failed.values()):
                raise GuardianTimeout(sorted(failed), what)
            raise OperationFailed(what, failed or {"*": GridlockError("guardians disagree on the result")})
        stored = next(iter(oks.values()))
        commit = ops.Commit(self.vault_id, stored.epoch, {g: r.ack for g, r in oks.items()})
        commits = await self._send(holders, commit, timeout)
        done = [g for g, r in commits.items() if isinstance(r, ops.EpochReply)]
        waiting = tuple(g for g in holders if g not in done)
        kept = KeptCommit(commit, dict(members), stored.threshold, waiting, bool(done), root) if waiting else None
        if not done:
            if not _unanswered(commits):  # every holder refused it: it never becomes active anywhere
                await self._abort(holders, holders, {stored.epoch})
            else:  # perhaps it arrived and the answers were lost: sent again before the next operation
                self.kept_commit = kept
            self._failures(commits, f"{what} (commit)")
        # active at ``done`` (whose old shares are erased): this is the vault's epoch now
        for g in waiting:
            log.warning(
                "client: %s of vault %s: epoch %d not committed at %s yet", what, self.vault_id, commit.epoch, g
            )
        self._adopt(commit.epoch, members, stored.threshold, root)
        self.kept_commit = kept
        return stored

    def _adopt(self, epoch: int, members: Mapping[int, str], threshold: int, root: HdRoot | None) -> None:
        self.members = dict(members)
        self.epoch = epoch
        self.threshold = threshold
        self.presignatures.clear()  # presignatures of the old epoch are useless now
        if root is not None and not self.group_key:
            self.group_key, self.chain_code = root.key_bytes, root.chain_code

    async def _heal(self) -> None:
        """Before an operation: send a kept commit again, once (no message without one).  If a holder
        confirms an epoch no holder had confirmed, this object moves to it.  A holder that still does
        not answer is forgotten here: when it is back, its Ping shows the older epoch and
        :meth:`catch_up` brings it forward (a dead holder does not slow every later operation)."""
        kept = self.kept_commit
        if kept is None:
            return
        results = await self.client.call_all(list(kept.waiting), kept.commit, HEAL_TIMEOUT)
        done = [g for g, r in results.items() if isinstance(r, ops.EpochReply)]
        if done and not kept.adopted:
            self._adopt(kept.commit.epoch, kept.members, kept.threshold, kept.root)
        for g, r in results.items():
            if g not in done:
                log.warning(
                    "client: vault %s: %s did not take the commit of epoch %d: %s",
                    self.vault_id,
                    g,
                    kept.commit.epoch,
                    r,
                )
        if kept.adopted or done or len(_unanswered(results)) < len(kept.waiting):
            self.kept_commit = None  # settled: an answer came (an unconfirmed epoch refused everywhere is dropped)

    async def catch_up(self, epochs: Mapping[str, int] | None = None) -> list[str]:
        """Bring holders left on an older epoch than this vault's (a commit lost on the way, and the
        commit not kept: another process, a restart) forward; returns those still behind.  ``epochs``:
        each holder's active epoch if known already (one Ping round otherwise).

        Every holder is asked for its acknowledgement of the epoch (the one left behind holds it
        pending) and the commit goes to those behind; each verifies every acknowledgement against
        its own share first.  A holder that gives none, or refuses the commit, holds no usable share
        of the epoch (e.g. its pending one was erased) and needs a :meth:`repair`."""
        await self._heal()
        if epochs is None:
            epochs = await self.client.epochs(self._holder_ids(), self.vault_id)
        behind = [g for g in self._holder_ids() if g in epochs and epochs[g] < self.epoch]
        if not behind:
            return []
        acks = await self.client.call_all(self._holder_ids(), ops.Ack(self.vault_id, self.epoch), ABORT_TIMEOUT)
        got = {g: r.ack for g, r in acks.items() if isinstance(r, ops.AckReply) and r.epoch == self.epoch}
        if set(got) != set(self._holder_ids()):
            log.warning(
                "client: vault %s: holders %s stay behind epoch %d (acknowledgements missing: %s)",
                self.vault_id,
                behind,
                self.epoch,
                sorted(set(self._holder_ids()) - set(got)),
            )
            return behind
        results = await self._send(behind, ops.Commit(self.vault_id, self.epoch, got), ABORT_TIMEOUT)
        still = [g for g in behind if not isinstance(results.get(g), ops.EpochReply)]
        for g in still:
            log.warning("client: vault %s: %s stays behind epoch %d: %s", self.vault_id, g, self.epoch, results.get(g))
        return still

    def _holder_ids(self) -> list[str]:
        return [self.members[i] for i in sorted(self.members)]
