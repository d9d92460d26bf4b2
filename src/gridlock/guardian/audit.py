"""A guardian's audit log: what it was asked and what it did (no secrets), one signed chain per vault.

The format and the owner's checks are :mod:`gridlock.wire.audit`'s.  Every entry is signed with the
guardian's identity as it is written, so an edit of ``audit.db`` by anyone without that key — a
changed decision, a removed or re-chained entry — fails the owner's check, and the owner's
remembered head shows a log cut short or replaced.  SQLite, WAL, ``synchronous=FULL``: an
acknowledged entry survives a crash.  Every storage failure is an :class:`AuditError`.

A log written before entries were signed (one unsigned chain across all vaults, table ``audit``) is
converted when it is opened, provided its chain still verifies: its entries join their vaults'
chains in order, signed at conversion — the guardian vouches for them from then on; the digest of a
device-recovery request is dropped (it covered the password verifier).  A legacy chain that does not
verify is kept aside, unsigned, in table ``audit_unverified``, and the signed chains start empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from gridlock.wire import Identity, ops
from gridlock.wire.audit import (
    ENTRY_LABEL,
    GENESIS,
    HEAD_LABEL,
    AuditError,
    entry_hash,
    head_statement,
)

__all__ = ["GENESIS", "MAX_ENTRIES", "AuditError", "AuditLog", "audit_reply"]

log = logging.getLogger("gridlock.guardian.audit")
MAX_ENTRIES: Final = 1000  # entries in one answer; the owner asks again from where it ended
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS entries (
    seq       INTEGER PRIMARY KEY,
    vault     TEXT NOT NULL,
    n         INTEGER NOT NULL CHECK (n > 0),
    body      TEXT NOT NULL,
    hash      TEXT NOT NULL,
    prev      TEXT NOT NULL,
    signature BLOB NOT NULL,
    UNIQUE (vault, n)
)"""
_RECOVERY_OPS: Final = frozenset({"recovery-start", "recovery-finish"})
_LEGACY_FIELDS: Final = ("time", "op", "requester", "decision", "reason", "digest")  # and seq, vault


class AuditLog:
    def __init__(self, path: str | Path, identity: Identity) -> None:
        self._identity = identity
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise AuditError(f"cannot open the audit log {path}: {exc}") from None
        try:
            with self._errors():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute(_SCHEMA)
                self._convert_legacy()
        except AuditError:
            self._db.close()
            raise

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise AuditError(f"the audit log failed ({type(exc).__name__}: {exc})") from None
        except (ValueError, TypeError, KeyError):  # damaged rows (text that is not JSON, wrong types)
            raise AuditError("the audit log is damaged") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    # --- writing ---------------------------------------------------------------------------------
    def append(self, *, time: int, vault: str, op: str, requester: str, decision: str, reason: str, digest: str) -> int:
        """Add a signed entry to ``vault``'s chain (durable when this returns); its ``seq``."""
        body = {"time": time, "op": op, "requester": requester, "decision": decision, "reason": reason[:300]}
        with self._transaction() as db:
            return self._add(db, vault, {**body, "digest": digest})

    def _add(self, db: sqlite3.Connection, vault: str, fields: dict[str, Any]) -> int:
        row = db.execute("SELECT n, hash FROM entries WHERE vault = ? ORDER BY n DESC LIMIT 1", (vault,)).fetchone()
        n, prev = (0, GENESIS) if row is None else (int(row[0]), str(row[1]))
        seq = int(db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0]) + 1
        body = {**fields, "seq": seq, "n": n + 1, "vault": vault}
        h = entry_hash(prev, body)
        signature = self._identity.sign(ENTRY_LABEL, bytes.fromhex(h))
        db.execute(
            "INSERT INTO entries (seq, vault, n, body, hash, prev, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, vault, n + 1, json.dumps(body, sort_keys=True), h, prev, signature),
        )
        return seq

    def _convert_legacy(self) -> None:
        db = self._db
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone() is None:
            return
        rows = db.execute("SELECT seq, body, hash FROM audit ORDER BY seq").fetchall()
        with self._transaction():
            bodies = _legacy_bodies(rows)
            if bodies is None or db.execute("SELECT count(*) FROM entries").fetchone()[0]:
                log.warning("the unsigned audit log from before signed entries does not verify: kept aside")
                db.execute("ALTER TABLE audit RENAME TO audit_unverified")
                return
            for b in bodies:
                if b["op"] in _RECOVERY_OPS:
                    b["digest"] = ""
                self._add(db, str(b["vault"]), {k: b[k] for k in _LEGACY_FIELDS})
            db.execute("DROP TABLE audit")

    # --- reading ---------------------------------------------------------------------------------
    def head(self, vault: str) -> tuple[int, str]:
        """``vault``'s chain: how many entries, and the last one's hash."""
        with self._lock, self._errors():
            return self._head(vault)

    def _head(self, vault: str) -> tuple[int, str]:
        row = self._db.execute("SELECT n, hash FROM entries WHERE vault = ? ORDER BY n DESC LIMIT 1", (vault,))
        found = row.fetchone()
        return (0, GENESIS) if found is None else (int(found[0]), str(found[1]))

    def entries(self, vault: str | None = None, since: int = 0, limit: int = MAX_ENTRIES) -> list[dict[str, Any]]:
        """``vault``'s entries after its ``since``-th; without a vault, every entry after ``seq``
        ``since``.  Each is ``{"body", "hash", "prev", "signature"}`` (the signature in hex)."""
        with self._lock, self._errors():
            return self._entries(vault, since, limit)

    def _entries(self, vault: str | None, since: int, limit: int) -> list[dict[str, Any]]:
        columns = "SELECT body, hash, prev, signature FROM entries"
        if vault is None:
            rows = self._db.execute(columns + " WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit))
        else:
            rows = self._db.execute(columns + " WHERE vault = ? AND n > ? ORDER BY n LIMIT ?", (vault, since, limit))
        return [
            {"body": json.loads(body), "hash": str(h), "prev": str(prev), "signature": bytes(sig).hex()}
            for body, h, prev, sig in rows.fetchall()
        ]

    def read(self, vault: str, since: int = 0, limit: int = MAX_ENTRIES) -> tuple[list[dict[str, Any]], int, str]:
        """``vault``'s entries after its ``since``-th and its head, read together."""
        with self._lock, self._errors():
            return (self._entries(vault, since, limit), *self._head(vault))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _legacy_bodies(rows: list[Any]) -> list[dict[str, Any]] | None:
    """The entries of a log from before signed entries, if its chain verifies (its own hash)."""
    prev, bodies = GENESIS, []
    for seq, text, h in rows:
        try:
            body = json.loads(text)
            data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            ok = isinstance(body, dict) and body.get("seq") == seq and isinstance(body.get("vault"), str)
            ok = ok and set(body) >= set(_LEGACY_FIELDS)
            ok = ok and hashlib.sha256(b"gridlock/audit/v1" + bytes.fromhex(prev) + data).hexdigest() == h
        except (ValueError, TypeError):
            return None
        if not ok:
            return None
        prev = h
        bodies.append(body)
    return bodies


def audit_reply(log: AuditLog | None, identity: Identity, vault: str | None, since: int) -> ops.AuditReply:
    """A guardian's answer to ``audit``: ``vault``'s chain after its ``since``-th entry (at most
    :data:`MAX_ENTRIES`) with the chain's head ``[n, hash]``, signed now.  Without a vault: every
    entry after ``seq`` ``since`` (the operator's view) and no head."""
    if vault is None:
        entries = [] if log is None else log.entries(None, since)
        return ops.AuditReply([json.dumps(e, sort_keys=True) for e in entries], [0, GENESIS], b"")
    entries, n, head = ([], 0, GENESIS) if log is None else log.read(vault, since)
    signature = identity.sign(HEAD_LABEL, head_statement(vault, n, head))
    return ops.AuditReply([json.dumps(e, sort_keys=True) for e in entries], [n, head], signature)
