"""An append-only, hash-chained log of what a guardian was asked and what it did (no secrets).

Each entry holds (sequence, time, vault, operation, requester, decision, reason, a digest of the
request) and the hash of the previous entry, so the owner can fetch the log and verify that no
entry was changed, removed or reordered (:func:`verify_chain`); the guardian signs the head it
reports.  SQLite, WAL, ``synchronous=FULL``: an acknowledged entry survives a crash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from gridlock.wire.audit import GENESIS, AuditError, entry_hash, verify_chain

__all__ = ["GENESIS", "AuditError", "AuditLog", "verify_chain"]


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise AuditError(f"cannot open the audit log {path}: {exc}") from None

    def head(self) -> tuple[int, str]:
        row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def append(self, *, time: int, vault: str, op: str, requester: str, decision: str, reason: str, digest: str) -> int:
        with self._lock:
            seq, prev = self.head()
            body = {
                "seq": seq + 1,
                "time": time,
                "vault": vault,
                "op": op,
                "requester": requester,
                "decision": decision,
                "reason": reason[:300],
                "digest": digest,
            }
            h = entry_hash(prev, body)
            self._db.execute("INSERT INTO audit (seq, body, hash) VALUES (?, ?, ?)", (seq + 1, json.dumps(body), h))
            return seq + 1

    def entries(self, vault: str | None = None, since: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Entries after ``since`` with their hashes; filtered by vault, the chain still verifies
        because every entry carries the previous hash."""
        rows = self._db.execute(
            "SELECT seq, body, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit)
        ).fetchall()
        out = []
        prev = GENESIS if since == 0 else self._hash_at(since)
        for _seq, body, h in rows:
            b = json.loads(body)
            if vault is None or b["vault"] == vault:
                out.append({"body": b, "hash": h, "prev": prev})
            prev = h
        return out

    def _hash_at(self, seq: int) -> str:
        row = self._db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        return GENESIS if row is None else str(row[0])

    def close(self) -> None:
        self._db.close()
