"""The SQLite keystore's file: schema, migrations, creation, opening, and SQLite error mapping.

One file per guardian (plus SQLite's ``-wal`` file and the ``.generation`` file beside it).  Every
write is durable before the call returns (WAL journal, ``synchronous=FULL``); only one process may
open a keystore at a time (``locking_mode=EXCLUSIVE``: a second one gets :class:`KeystoreLocked`).
"""

from __future__ import annotations

import contextlib
import os
import secrets as pysecrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gridlock.guardian.store.errors import Corrupted, KeystoreError, KeystoreLocked, StorageError, UnsupportedVersion
from gridlock.guardian.store.generation import fsync_dir
from gridlock.guardian.store.ledger_rows import LEDGER_SCHEMA, LedgerRows, entries_from_v2
from gridlock.guardian.store.rows import Tables
from gridlock.guardian.store.sealing import SALT_BYTES

__all__ = [
    "FORMAT",
    "MIGRATIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "FileMeta",
    "Migration",
    "create",
    "open_connection",
    "sqlite_errors",
    "translate",
    "upgrade",
]

FORMAT: Final = b"gridlock/keystore"

SCHEMA: Final = (
    """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE identity (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    blob BLOB NOT NULL
);
CREATE TABLE vaults (
    vault_id   TEXT PRIMARY KEY,
    scheme     TEXT NOT NULL,
    public_key BLOB NOT NULL,
    metadata   TEXT NOT NULL,
    mac        BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE shares (
    vault_id        TEXT NOT NULL REFERENCES vaults (vault_id),
    epoch           INTEGER NOT NULL CHECK (epoch >= 0),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
    idx             INTEGER NOT NULL,
    threshold       INTEGER NOT NULL,
    participants    TEXT NOT NULL,
    transcript_hash BLOB NOT NULL,
    blob            BLOB,
    mac             BLOB NOT NULL,
    PRIMARY KEY (vault_id, epoch),
    CHECK ((state = 'retired') = (blob IS NULL))
) WITHOUT ROWID;
CREATE UNIQUE INDEX shares_one_active ON shares (vault_id) WHERE state = 'active';
CREATE TABLE items (
    kind     TEXT NOT NULL CHECK (kind IN ('presignature', 'nonce')),
    vault_id TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    item_id  BLOB NOT NULL,
    used     INTEGER NOT NULL CHECK (used IN (0, 1)),
    blob     BLOB,
    PRIMARY KEY (kind, vault_id, epoch, item_id),
    FOREIGN KEY (vault_id, epoch) REFERENCES shares (vault_id, epoch),
    CHECK ((used = 0) = (blob IS NOT NULL))
) WITHOUT ROWID;
"""
    + """
CREATE TABLE sessions (
    vault_id   TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    session_id BLOB NOT NULL,
    PRIMARY KEY (vault_id, epoch, session_id),
    FOREIGN KEY (vault_id, epoch) REFERENCES shares (vault_id, epoch)
) WITHOUT ROWID;
"""
    + LEDGER_SCHEMA
)

SCHEMA_VERSION = 4
"""Current schema version; a database with an older one is upgraded through :data:`MIGRATIONS`."""

Migration = Callable[[Tables, sqlite3.Connection], None]


def _add_sessions_table(_: Tables, db: sqlite3.Connection) -> None:
    db.execute(SCHEMA[SCHEMA.index("CREATE TABLE sessions") : SCHEMA.index("CREATE TABLE ledger")])


def _add_ledger_table(tables: Tables, db: sqlite3.Connection) -> None:
    """The ledger table, filled with the history a v2 guardian kept in each vault's metadata."""
    for statement in LEDGER_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    ledger = LedgerRows(tables.sealer)
    for vault_id, metadata in db.execute("SELECT vault_id, metadata FROM vaults").fetchall():
        ledger.add(db, vault_id, entries_from_v2(metadata))


def _mac_whole_share_rows(tables: Tables, db: sqlite3.Connection) -> None:
    tables.mac_whole_share_rows(db)


MIGRATIONS: dict[int, Migration] = {1: _add_sessions_table, 2: _add_ledger_table, 3: _mac_whole_share_rows}
"""Migration hook: ``MIGRATIONS[v](tables, db)`` upgrades a version-``v`` database to ``v + 1``.  It
runs inside a write transaction after the secret was checked, so it may re-encrypt rows with the
keystore's row codec ``tables`` (its sealer is ``tables.sealer``)."""


def upgrade(version: int, tables: Tables, write: Callable[[], AbstractContextManager[sqlite3.Connection]]) -> None:
    """Bring a version-``version`` database to :data:`SCHEMA_VERSION`, one migration per write
    transaction (``write``: the keystore's), recording each new version as it commits."""
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UnsupportedVersion(f"no migration from keystore schema version {version}")
        with write() as db:
            step(tables, db)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version + 1,))
        version += 1


# --- SQLite errors as keystore errors ---------------------------------------------------------------
_BUSY_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
# SQLITE_ERROR (schema missing), CORRUPT, CONSTRAINT (invariant broken on disk), MISMATCH, FORMAT, NOTADB
_CORRUPT_CODES: Final = frozenset({1, 11, 19, 20, 24, 26})


def translate(exc: sqlite3.Error) -> KeystoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _BUSY_CODES:
        return KeystoreLocked("the keystore is in use by another process")
    if primary in _CORRUPT_CODES or (isinstance(exc, sqlite3.DatabaseError) and primary is None):
        return Corrupted(f"the keystore database is damaged or not a keystore ({name})")
    return StorageError(f"keystore storage error ({name})")


@contextlib.contextmanager
def sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc) from None
    except UnicodeDecodeError:  # damaged text on disk (the schema or a row) that SQLite hands back
        raise Corrupted("the keystore database is damaged (text that is not UTF-8)") from None


# --- creating and opening ------------------------------------------------------------------------------
def create(path: Path, meta: list[tuple[str, Any]]) -> None:
    """Build a complete new database under a temporary name and link it into place atomically, so
    a crash during creation never leaves a half-made keystore at ``path``."""
    tmp = path.with_name(f"{path.name}.init-{pysecrets.token_hex(6)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with sqlite_errors():
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(SCHEMA)
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta)
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection checkpoints and removes the WAL
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if somebody else created it meanwhile
        except FileExistsError:
            pass
        except OSError:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"cannot create the keystore ({type(exc).__name__})") from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()


@dataclass(frozen=True)
class FileMeta:
    """The keystore file's ``meta`` table, checked when built (:class:`Corrupted` otherwise)."""

    schema_version: int
    salt: bytes = field(repr=False)
    kcv: bytes = field(repr=False)  # the key check value of the key-encryption secret
    generation: int  # committed writes so far (see :mod:`~gridlock.guardian.store.generation`)

    def __post_init__(self) -> None:
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_BYTES or not isinstance(self.kcv, bytes):
            raise Corrupted("the keystore's key parameters are damaged")
        version = self.schema_version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise Corrupted("the keystore's schema version is damaged")
        generation = self.generation
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise Corrupted("the keystore's generation counter is damaged")

    @classmethod
    def from_table(cls, meta: dict[Any, Any]) -> FileMeta:
        if meta.get("format") != FORMAT:
            raise Corrupted("not a Gridlock keystore")
        values = [meta.get(key) for key in ("schema_version", "salt", "kcv", "generation")]
        return cls(*values)  # type: ignore[arg-type]  # None or another type: refused by __post_init__


def open_connection(path: Path, keep: Callable[[sqlite3.Connection], None]) -> FileMeta:
    """Connect, lock, configure and integrity-check the database; return its checked meta table.
    ``keep`` receives the connection as soon as it exists (so the caller can close it on failure)."""
    with sqlite_errors():
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0.5)
        keep(db)
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise StorageError("the keystore needs a WAL journal")
        for pragma in (
            "synchronous=FULL",
            "secure_delete=ON",
            "foreign_keys=ON",
            "trusted_schema=OFF",
            "cell_size_check=ON",
        ):
            db.execute(f"PRAGMA {pragma}")
        db.execute("BEGIN IMMEDIATE")  # take the exclusive lock now
        db.execute("COMMIT")
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise Corrupted("the keystore database failed its integrity check")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    return FileMeta.from_table(meta)
