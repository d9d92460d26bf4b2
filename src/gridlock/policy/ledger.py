"""A guardian's record of what it agreed to sign, per vault, that limits and rates are judged on.

It grows with use (thousands of signatures a month), so a guardian's store keeps it in a table of
its own, not in the vault's metadata, and returns only the window a decision needs
(``ShareStore.ledger(vault, since)``) plus the one all-time question the watch guardian asks
(``ShareStore.paid_before``).  Entries are written in the same transaction as the session claim of
the signature they count, so a crash never leaves a signature uncounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridlock.chains.movement import UNBOUNDED, Movement
from gridlock.errors import InvalidParameterError

__all__ = ["Entry", "EntryKind", "entries_for"]


class EntryKind(StrEnum):
    SIGNATURE = "signature"  # one per signature made (rate limits)
    HOLD = "hold"  # a transaction first held by a time lock (its hold runs from this entry's time)
    TRANSFER = "transfer"
    APPROVAL = "approval"
    GRANT = "grant"
    CALL = "call"
    FEE = "fee"


@dataclass(frozen=True)
class Entry:
    time: int
    kind: EntryKind
    tx_hash: str = ""
    chain: str = ""
    destination: str = ""
    asset: str = ""
    amount: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EntryKind):
            if self.kind not in EntryKind._value2member_map_:
                raise InvalidParameterError(f"unknown ledger entry kind {str(self.kind)[:20]!r}")
            object.__setattr__(self, "kind", EntryKind(self.kind))
        if isinstance(self.time, bool) or not isinstance(self.time, int) or self.time < 0:
            raise InvalidParameterError("a ledger entry's time is a non-negative integer")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 <= self.amount <= UNBOUNDED:
            raise InvalidParameterError("a ledger entry's amount is an integer in [0, 2^256)")
        for name in ("tx_hash", "chain", "destination", "asset"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > 256:
                raise InvalidParameterError(f"a ledger entry's {name} is a short text")


def entries_for(now: int, chain: str, tx_hash: str, movements: tuple[Movement, ...]) -> list[Entry]:
    """The entries that count one transaction's movements."""
    return [Entry(now, EntryKind(m.kind.value), tx_hash, chain, m.destination, m.asset, m.amount) for m in movements]
