"""One validator of the local Secret Network: the untrusted host (a SQLite chain database) around
its emulated enclave (:class:`~gridlock.enclave.enclave.Enclave`).

Its files (``<node>/chain.db``: public data and ciphertext only; ``<node>/enclave.sealed``) are laid
out in :mod:`gridlock.enclave.network`; its emulated CPU's fuse key (the sealing root) is not a file
but comes from the network's :class:`~gridlock.enclave.platform.Platform`.

The node applies a block through its enclave (what each kind of transaction does is in
:mod:`gridlock.enclave.transactions`) and chains the app hash over the previous app hash, the
block, its result and the state writes; :meth:`EnclaveNode.catch_up` replays another node's blocks
and must reach the same app hash at every height.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.enclave.address import canonical
from gridlock.enclave.contract import Env
from gridlock.enclave.enclave import CallOutcome, Enclave
from gridlock.enclave.errors import ConsensusFailure, ContractNotFound, NetworkError
from gridlock.enclave.transactions import HANDLERS
from gridlock.files import write_private

__all__ = ["EnclaveNode"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, time INTEGER NOT NULL, block BLOB NOT NULL, result BLOB NOT NULL,
    app_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    registration_key BLOB PRIMARY KEY, report BLOB NOT NULL, encrypted_seed BLOB, height INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS codes (
    code_id INTEGER PRIMARY KEY, code_hash TEXT NOT NULL, code BLOB NOT NULL, creator TEXT NOT NULL,
    height INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contracts (
    address TEXT PRIMARY KEY, code_id INTEGER NOT NULL, creator TEXT NOT NULL, label TEXT NOT NULL UNIQUE,
    contract_key BLOB NOT NULL, height INTEGER NOT NULL, instance_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (tag BLOB PRIMARY KEY, height INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
    address TEXT PRIMARY KEY, account_number INTEGER NOT NULL UNIQUE, sequence INTEGER NOT NULL,
    public_key BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txs (txhash TEXT PRIMARY KEY, height INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    contract TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (contract, key)) WITHOUT ROWID;
"""


class EnclaveNode:
    """A validator: the untrusted host (a SQLite chain database) around an :class:`Enclave`."""

    def __init__(self, name: str, path: Path, enclave: Enclave, db: sqlite3.Connection) -> None:
        self.name = name
        self.path = path
        self.enclave = enclave
        self._db: sqlite3.Connection | None = db
        self.running = False
        self.halted: str | None = None

    # -- files -----------------------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path / "chain.db", isolation_level=None, check_same_thread=False, timeout=5)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        db.executescript(_SCHEMA)
        return db

    @classmethod
    def create(cls, name: str, path: Path, fuse_key: bytes, measurement: bytes | None = None) -> EnclaveNode:
        """A new node with a fresh enclave on the emulated CPU with ``fuse_key``, running the enclave
        code of this process (or, for a test, claiming ``measurement``)."""
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        enclave = Enclave.create(fuse_key, measurement)
        node = cls(name, path, enclave, cls._connect(path))
        node.save_sealed()
        return node

    @classmethod
    def open(cls, name: str, path: Path, fuse_key: bytes, measurement: bytes | None = None) -> EnclaveNode:
        """Reopen a node: unseal its enclave (only the same CPU running the same enclave code can),
        open and check its database."""
        sealed = path / "enclave.sealed"
        if not (path / "chain.db").is_file() or not sealed.is_file():
            raise NetworkError(f"node {name}: its data is missing")
        enclave = Enclave.unseal(fuse_key, sealed.read_bytes(), measurement)
        if not enclave.has_seeds:
            raise NetworkError(f"node {name} was never registered")
        db = cls._connect(path)
        node = cls(name, path, enclave, db)
        try:
            if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                raise NetworkError(f"node {name}: its chain database is damaged")
            io = node.meta("io_public_key")
            if io is not None and io != enclave.io_public_key:
                raise NetworkError(f"node {name}: its enclave is not of this network")
        except BaseException:
            node.close()
            raise
        return node

    def save_sealed(self) -> None:
        write_private(self.path / "enclave.sealed", self.enclave.seal())

    def close(self) -> None:
        db, self._db = self._db, None
        self.running = False
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise NetworkError(f"node {self.name} is stopped")
        return self._db

    # -- reads -------------------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        row = self.db.execute("SELECT max(height) FROM blocks").fetchone()
        return int(row[0] or 0)

    def block(self, height: int) -> tuple[bytes, bytes, bytes]:
        """``(block, result, app_hash)`` at ``height``."""
        row = self.db.execute("SELECT block, result, app_hash FROM blocks WHERE height = ?", (height,)).fetchone()
        if row is None:
            raise NetworkError(f"node {self.name} has no block {height}")
        return bytes(row[0]), bytes(row[1]), bytes(row[2])

    def app_hash(self, height: int) -> bytes:
        if height == 0:
            return bytes(32)
        return self.block(height)[2]

    def last_time(self) -> int:
        row = self.db.execute("SELECT time FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        return 0 if row is None else int(row[0])

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else codec.loads(bytes(row[0]))

    def contract(self, address: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT c.code_id, c.creator, c.label, c.contract_key, c.height, c.instance_id, k.code_hash, k.code"
            " FROM contracts c JOIN codes k ON k.code_id = c.code_id WHERE c.address = ?",
            (address,),
        ).fetchone()
        if row is None:
            return None
        keys = ("code_id", "creator", "label", "contract_key", "height", "instance_id", "code_hash", "code")
        return {"address": address, **dict(zip(keys, row, strict=True))}

    def codes(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT code_id, creator, code_hash FROM codes ORDER BY code_id").fetchall()
        return [{"code_id": r[0], "creator": r[1], "code_hash": r[2]} for r in rows]

    def contracts_by_code(self, code_id: int) -> list[str]:
        rows = self.db.execute("SELECT address FROM contracts WHERE code_id = ? ORDER BY instance_id", (code_id,))
        return [r[0] for r in rows.fetchall()]

    def registration(self, registration_key: bytes) -> tuple[bytes, bytes | None] | None:
        row = self.db.execute(
            "SELECT report, encrypted_seed FROM registrations WHERE registration_key = ?", (registration_key,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), None if row[1] is None else bytes(row[1]))

    def account(self, address: str) -> tuple[int, int, bytes | None] | None:
        """``(account_number, sequence, public_key)`` of an account (``None``: it does not exist)."""
        row = self.db.execute(
            "SELECT account_number, sequence, public_key FROM accounts WHERE address = ?", (address,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), None if row[2] is None else bytes(row[2]))

    def tx_height(self, txhash: str) -> int | None:
        """The height of the block that holds the signed transaction ``txhash``."""
        row = self.db.execute("SELECT height FROM txs WHERE txhash = ?", (txhash,)).fetchone()
        return None if row is None else int(row[0])

    def state_reader(self, db: sqlite3.Connection, address: str) -> Callable[[bytes], bytes | None]:
        def get(key: bytes) -> bytes | None:
            row = db.execute("SELECT value FROM state WHERE contract = ? AND key = ?", (address, key)).fetchone()
            return None if row is None else bytes(row[0])

        return get

    def contract_env(self, address: str, height: int, time_ns: int) -> Env:
        return Env(str(self.meta("chain_id")), height, time_ns, address)

    # -- queries -----------------------------------------------------------------------------------------
    def query(self, address: str, msg: bytes) -> CallOutcome:
        info = self.contract(address)
        if info is None:
            raise ContractNotFound(f"no contract at {address}")
        return self.enclave.query(
            self.state_reader(self.db, address),
            code=info["code"],
            env=self.contract_env(address, self.height, self.last_time()),
            contract_key=info["contract_key"],
            contract_canonical=canonical(address),
            msg=msg,
        )

    # -- blocks ------------------------------------------------------------------------------------------
    def apply(self, block_bytes: bytes) -> tuple[bytes, bytes]:
        """Run one block through this node's enclave and commit it: ``(result, app_hash)``."""
        block = codec.loads(block_bytes)
        height, time_ns, kind, tx = block["height"], block["time"], block["kind"], block["tx"]
        db = self.db
        if height != self.height + 1:
            raise ConsensusFailure(f"node {self.name}: block {height} does not follow block {self.height}")
        handler = HANDLERS.get(kind)
        if handler is None:
            raise ConsensusFailure(f"node {self.name}: block {height} has an unknown kind of transaction")
        db.execute("BEGIN IMMEDIATE")
        try:
            prev = self.app_hash(height - 1)
            result, writes = handler(self, db, height, time_ns, tx)
            result_bytes = codec.dumps(result)
            app_hash = hashlib.sha256(
                codec.dumps([prev, block_bytes, result_bytes, hashlib.sha256(codec.dumps(writes)).digest()])
            ).digest()
            db.execute(
                "INSERT INTO blocks (height, time, block, result, app_hash) VALUES (?, ?, ?, ?, ?)",
                (height, time_ns, block_bytes, result_bytes, app_hash),
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return result_bytes, app_hash

    def catch_up(self, source: EnclaveNode) -> None:
        """Replay ``source``'s blocks after this node's height through this node's enclave; every
        app hash must match (:class:`ConsensusFailure` otherwise)."""
        mine = self.height
        if mine > source.height or self.app_hash(mine) != source.app_hash(mine):
            raise ConsensusFailure(f"node {self.name} diverges from node {source.name} at height {mine}")
        for h in range(mine + 1, source.height + 1):
            block, _, expected = source.block(h)
            _, got = self.apply(block)
            if got != expected:
                raise ConsensusFailure(f"node {self.name} computed another app hash than {source.name} at height {h}")

    def __repr__(self) -> str:
        state = "halted" if self.halted else ("running" if self.running else "stopped")
        return f"EnclaveNode({self.name}, {state}, {self.enclave!r})"
