"""The SQLite keystore's ``ledger`` table: a vault's policy ledger (:mod:`gridlock.policy.ledger`).

Rows are appended in the transaction of the request they count and never changed.  Each carries a
MAC over its row id and contents under the keystore's secret, so a row edited on disk (a limit's
spending rewritten to zero, say) is :class:`Corrupted`, not believed.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from gridlock.errors import InvalidParameterError
from gridlock.guardian.store.errors import Corrupted
from gridlock.guardian.store.sealing import Sealer
from gridlock.policy.ledger import Entry, EntryKind

__all__ = ["LEDGER_SCHEMA", "LedgerRows", "entries_from_v2"]

LEDGER_SCHEMA = """
CREATE TABLE ledger (
    id          INTEGER PRIMARY KEY,
    vault_id    TEXT NOT NULL REFERENCES vaults (vault_id),
    time        INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    tx_hash     TEXT NOT NULL,
    chain       TEXT NOT NULL,
    destination TEXT NOT NULL,
    asset       TEXT NOT NULL,
    amount      TEXT NOT NULL,
    mac         BLOB NOT NULL
);
CREATE INDEX ledger_by_time ON ledger (vault_id, time);
CREATE INDEX ledger_by_destination ON ledger (vault_id, chain, destination);
"""

_SELECT = "SELECT id, time, kind, tx_hash, chain, destination, asset, amount, mac FROM ledger WHERE vault_id = ?"


def entries_from_v2(metadata_text: str) -> list[Entry]:
    """The spending history a schema-v2 guardian kept in the vault's metadata (``policy.history``:
    ``[time, chain, amount, destinations, tx hash]`` per signature; ``policy.seen``: destinations paid)
    as ledger entries, so an upgrade does not start every limit afresh.  What does not parse is left
    out (it was only ever advisory to the same guardian)."""
    try:
        policy = json.loads(metadata_text).get("policy", {})
        history, seen = policy.get("history", []), policy.get("seen", {})
    except (ValueError, AttributeError):
        return []
    out: list[Entry] = []
    for h in history if isinstance(history, list) else []:
        try:
            time, chain, amount = int(h[0]), str(h[1]), int(h[2])
            tx = str(h[4]) if len(h) > 4 else ""
            out.append(Entry(time, EntryKind.SIGNATURE, tx, chain))
            if amount:
                out.append(Entry(time, EntryKind.TRANSFER, tx, chain, "", "", amount))
        except (TypeError, ValueError, IndexError, InvalidParameterError):
            continue
    for chain, dests in seen.items() if isinstance(seen, dict) else []:
        for d in dests if isinstance(dests, list) else []:
            with contextlib.suppress(InvalidParameterError):  # paid long ago: known to the watch guardian
                out.append(Entry(0, EntryKind.TRANSFER, "", str(chain), str(d), "", 0))
    return sorted(out, key=lambda e: e.time)


class LedgerRows:
    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def _mac(self, vault_id: str, row_id: int, e: Entry) -> bytes:
        return self.sealer.mac(
            "ledger", vault_id, row_id, e.time, str(e.kind), e.tx_hash, e.chain, e.destination, e.asset, str(e.amount)
        )

    def add(self, db: sqlite3.Connection, vault_id: str, entries: Iterable[Entry]) -> None:
        for e in entries:
            cur = db.execute(
                "INSERT INTO ledger (vault_id, time, kind, tx_hash, chain, destination, asset, amount, mac)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, x'')",
                (vault_id, e.time, str(e.kind), e.tx_hash, e.chain, e.destination, e.asset, str(e.amount)),
            )
            row_id = cur.lastrowid
            assert row_id is not None
            db.execute("UPDATE ledger SET mac = ? WHERE id = ?", (self._mac(vault_id, row_id, e), row_id))

    def _parse(self, vault_id: str, row: Sequence[Any]) -> Entry:
        row_id, time, kind, tx_hash, chain, destination, asset, amount, mac = row
        try:
            if not (isinstance(amount, str) and amount.isdigit() and isinstance(mac, bytes)):
                raise InvalidParameterError("amount")
            e = Entry(time, kind, tx_hash, chain, destination, asset, int(amount))
        except InvalidParameterError:
            raise Corrupted(f"the policy ledger of vault {vault_id!r} is damaged") from None
        if not hmac.compare_digest(mac, self._mac(vault_id, row_id, e)):
            raise Corrupted(f"the policy ledger of vault {vault_id!r} is damaged")
        return e

    def since(self, db: sqlite3.Connection, vault_id: str, since: int) -> list[Entry]:
        rows = db.execute(_SELECT + " AND time >= ? ORDER BY id", (vault_id, since)).fetchall()
        return [self._parse(vault_id, r) for r in rows]

    def paid(
        self, db: sqlite3.Connection, vault_id: str, chain: str, destinations: Sequence[str], before: int
    ) -> frozenset[str]:
        found: set[str] = set()
        for d in destinations:
            rows = db.execute(
                _SELECT + " AND chain = ? AND destination = ? AND kind = 'transfer' AND time <= ? LIMIT 1",
                (vault_id, chain, d, before),
            ).fetchall()
            found.update(self._parse(vault_id, r).destination for r in rows)
        return frozenset(found)

    @staticmethod
    def delete_vault(db: sqlite3.Connection, vault_id: str) -> None:
        db.execute("DELETE FROM ledger WHERE vault_id = ?", (vault_id,))
