"""The custody contract's policy ledger (:mod:`gridlock.policy.ledger`): entries appended per
vault, read back by time window, and the set of destinations a vault ever paid.

Entries cross the contract boundary as JSON arrays ``[time, kind, tx_hash, chain, destination,
asset, amount]`` (``amount`` a decimal string: it may exceed JSON's safe integers).  Storage keys:
``("ledger", vault, n)`` for the n-th entry, ``("ledger_count", vault)`` and ``("paid", vault,
chain, destination)``.  Entries of one guardian are appended with non-decreasing times (its own
clock), so a window is read from the newest entry backwards.
"""

from __future__ import annotations

from typing import Any, Final

from gridlock.crypto import codec
from gridlock.enclave.custody_state import CustodyState, storage_key
from gridlock.errors import InvalidParameterError
from gridlock.guardian.store.errors import BadArgument
from gridlock.policy.ledger import Entry, EntryKind

__all__ = ["MAX_ENTRIES", "append", "decode_entries", "encode_entry", "paid", "since"]

MAX_ENTRIES: Final = 64  # per execute


def encode_entry(e: Entry) -> list[Any]:
    return [e.time, str(e.kind), e.tx_hash, e.chain, e.destination, e.asset, str(e.amount)]


def decode_entries(raw: object, limit: int | None = MAX_ENTRIES) -> list[Entry]:
    """Entries from their JSON form (``limit``: at most this many, as an execute takes)."""
    if not isinstance(raw, list) or (limit is not None and len(raw) > limit):
        raise BadArgument(f"ledger entries: a list of at most {limit}")
    out = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 7 and isinstance(item[6], str) and item[6].isdigit()):
            raise BadArgument("a ledger entry is [time, kind, tx_hash, chain, destination, asset, amount]")
        try:
            out.append(Entry(item[0], item[1], item[2], item[3], item[4], item[5], int(item[6])))
        except InvalidParameterError as exc:
            raise BadArgument(str(exc)) from None
    return out


def _count(st: CustodyState, vault_id: str) -> int:
    raw = st.s.get(storage_key("ledger_count", vault_id))
    return 0 if raw is None else int(codec.loads(raw))


def append(st: CustodyState, vault_id: str, entries: list[Entry]) -> None:
    n = _count(st, vault_id)
    for e in entries:
        st.s.set(storage_key("ledger", vault_id, n), codec.dumps(encode_entry(e)))
        paid = storage_key("paid", vault_id, e.chain, e.destination)
        if e.kind is EntryKind.TRANSFER and st.s.get(paid) is None:
            st.s.set(paid, codec.dumps(e.time))  # when it was first paid
        n += 1
    st.s.set(storage_key("ledger_count", vault_id), codec.dumps(n))


def since(st: CustodyState, vault_id: str, start: int) -> list[list[Any]]:
    out = []
    for n in range(_count(st, vault_id) - 1, -1, -1):
        raw = st.s.get(storage_key("ledger", vault_id, n))
        if raw is None:
            continue
        item = codec.loads(raw)
        if item[0] < start:
            break
        out.append(item)
    return out[::-1]


def paid(st: CustodyState, vault_id: str, chain: str, destinations: list[str], before: int) -> list[str]:
    """The destinations first paid at time ``before`` or earlier."""
    out = []
    for d in destinations:
        raw = st.s.get(storage_key("paid", vault_id, chain, d))
        if raw is not None and codec.loads(raw) <= before:
            out.append(d)
    return out


def erase(st: CustodyState, vault_id: str) -> None:
    """Forget the vault's ledger (the vault is deleted); ``paid`` keys stay unreadable without it."""
    for n in range(_count(st, vault_id)):
        st.s.remove(storage_key("ledger", vault_id, n))
    st.s.remove(storage_key("ledger_count", vault_id))
