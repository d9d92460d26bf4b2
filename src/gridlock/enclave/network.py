"""A local Secret Network: enclave nodes, a replicated chain, the custody contract.

::

    net = LocalSecretNetwork.start(nodes=3, data_dir=path)
    net.consensus_io_pubkey     # 32 bytes (what GET /registration/v1beta1/tx-key serves)
    net.custody_code_hash       # hex sha256 of the custody contract's code
    net.custody_address         # secret1… (x/compute's contract address derivation)
    enc_out = net.execute(sender, net.custody_address, encrypted_msg)   # encrypted ``data``
    enc_res = net.query(net.custody_address, encrypted_query)           # encrypted result
    net.stop()

The LCD endpoint that secret-sdk's ``LCDClient`` talks to is served over a network by
:class:`gridlock.enclave.lcd.LcdServer` (``LcdServer(net).start()``; its ``url``; ``stop()``).

Layout of ``data_dir``::

    network.cbor                  public: chain id, node names, the custody contract's address
    authority/authority.key       the emulated attestation authority's Ed25519 key (Intel's role)
    hardware/<node>.fuse          each emulated CPU's fuse key (stands for the SGX sealing root)
    <node>/chain.db               the node's chain: blocks, registrations, codes, contracts and the
                                  contract state — public data and ciphertext only
    <node>/enclave.sealed         the node's sealed registration key and consensus seeds

How it works.  The first node's enclave makes the consensus seeds (genesis bootstrap); the genesis
block pins the attestation authority's key, the accepted enclave measurement and the network's
public keys.  Every further node presents an attestation report; each registered node's enclave
checks it and, only if it verifies, encrypts the seeds for the new node's registration key (the
result is in the block, public — only the new enclave can open it).  The new node then replays
every block through its own enclave and must reach the same app hash at every height.

Every transaction is a block that every live node applies through its own enclave; state
encryption is deterministic given the block (AES-SIV with the block's salt), so honest nodes write
byte-identical ciphertext and agree on the app hash.  A node that disagrees with the majority is
halted.  Deleting any node's data loses nothing: the others hold the same encrypted state, and a
replacement node registers and catches up.

Errors.  A failed call raises :class:`ContractError`; its ``encrypted`` error is AES-SIV under the
caller's transaction key (AD ``[b""]``) and its ``raw_log`` is the chain's text, which the official
clients' regular expressions find and decrypt.  Where the real network answers in plaintext
instead, this emulation still encrypts (the caller can always decrypt: the key only needs the
nonce and public key at the front of its own message), and says so here:

=============================  ==========================================  =====================================
failure                        real Secret Network                         here
=============================  ==========================================  =====================================
contract ``StdError``          encrypted ``{"generic_err":…}`` etc.        the same
wrong code hash                plaintext ``failed to validate              encrypted ``{"generic_err":{"msg":
                               transaction`` (``ValidationFailure``)       "failed to validate transaction: …"}}``
tampered ciphertext, wrong     plaintext ``failed to decrypt data``        encrypted ``{"generic_err":{"msg":
AD, other io key, < 82 bytes   (``DecryptionError``)                       "failed to decrypt data"}}``
replayed nonce                 no enclave check: a replayed *signed tx*    the chain refuses a (nonce, public
                               fails the ante handler in plaintext         key) that already authenticated, with
                               (``account sequence mismatch``); the same   an encrypted ``replayed message``
                               ciphertext in a new tx would run again      error (a forged copy that does not
                                                                           decrypt burns nothing)
message shorter than 64 bytes  plaintext ``failed to decrypt data``        plaintext (no key can be derived)
unknown contract               plaintext ``not found``                     plaintext
=============================  ==========================================  =====================================

Emulated, not real (also see the package docs): no Tendermint (one transaction per block, blocks
are accepted when a strict majority of the *live* nodes agree — a real chain needs more than 2/3 of
the voting power of *all* validators, so three validators with one down would halt), no
signatures or fees on transactions (``execute`` trusts its ``sender`` argument, which a real chain
authenticates by the transaction's signature), no SGX (see :mod:`gridlock.enclave.enclave`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.enclave import crypto
from gridlock.enclave.address import canonical, check_sender, contract_address, human, module_address
from gridlock.enclave.attestation import ENCLAVE_MEASUREMENT, AttestationAuthority, AttestationReport
from gridlock.enclave.contract import CUSTODY_CODE, Env
from gridlock.enclave.enclave import CallOutcome, Enclave
from gridlock.enclave.errors import (
    AttestationError,
    ConsensusFailure,
    ContractError,
    ContractNotFound,
    EnclaveError,
    InvalidAddress,
    NetworkError,
    RegistrationRefused,
    SealingError,
    raw_log,
)
from gridlock.errors import DecodeError, GridlockError

__all__ = [
    "CUSTODY_LABEL",
    "DEFAULT_CHAIN_ID",
    "GENESIS_CREATOR",
    "EnclaveNode",
    "LocalSecretNetwork",
    "TxResult",
]

log = logging.getLogger("gridlock.enclave")

DEFAULT_CHAIN_ID: Final = "secret-gridlock-1"
CUSTODY_LABEL: Final = "gridlock-custody"
GENESIS_CREATOR: Final = human(module_address("gridlock/custody"))
"""The account that stores and instantiates the custody contract at genesis (a module-style address)."""

# result codes (x/compute's codespace): 2 instantiate failed, 3 execute failed, 4 query failed
CODE_OK: Final = 0
CODE_INSTANTIATE_FAILED: Final = 2
CODE_EXECUTE_FAILED: Final = 3
CODE_QUERY_FAILED: Final = 4
CODE_NOT_FOUND: Final = 5
CODE_REGISTRATION_FAILED: Final = 6

_META_FILE: Final = "network.cbor"
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
CREATE TABLE IF NOT EXISTS state (
    contract TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (contract, key)) WITHOUT ROWID;
"""


def _as_bytes(data: object, what: str) -> bytes:
    """``bytes``, or a list of ints as ``secret-sdk``'s ``EncryptionUtils.encrypt`` returns it."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, list | tuple) and all(isinstance(b, int) and not isinstance(b, bool) for b in data):
        try:
            return bytes(data)
        except ValueError:
            pass
    raise DecodeError(f"{what} must be bytes (or a list of byte values)")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True)
class TxResult:
    """The outcome of one transaction, as the chain records it (everything here is public)."""

    height: int
    txhash: str
    code: int
    data: bytes  # the encrypted ``data`` (raw ciphertext of the base64 text), empty on failure
    raw_log: str
    encrypted_error: bytes | None
    plaintext_error: str | None
    nonce: bytes | None
    attributes: tuple[tuple[bytes, bytes], ...]  # encrypted (key, value) pairs of the ``wasm`` event

    @property
    def ok(self) -> bool:
        return self.code == CODE_OK


# --- one node: its chain database (host) and its enclave -------------------------------------------------
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
    def _fuse(hardware_dir: Path, name: str, *, create: bool) -> bytes:
        path = hardware_dir / f"{name}.fuse"
        if not path.exists():
            if not create:
                raise SealingError(f"no emulated CPU for node {name}")
            hardware_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, os.urandom(32))
        key = path.read_bytes()
        if len(key) != 32:
            raise SealingError(f"the emulated CPU of node {name} is damaged")
        return key

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path / "chain.db", isolation_level=None, check_same_thread=False, timeout=5)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        db.executescript(_SCHEMA)
        return db

    @classmethod
    def create(cls, name: str, path: Path, hardware_dir: Path, measurement: bytes = ENCLAVE_MEASUREMENT) -> EnclaveNode:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        enclave = Enclave.create(cls._fuse(hardware_dir, name, create=True), measurement)
        node = cls(name, path, enclave, cls._connect(path))
        node.save_sealed()
        return node

    @classmethod
    def open(cls, name: str, path: Path, hardware_dir: Path, measurement: bytes = ENCLAVE_MEASUREMENT) -> EnclaveNode:
        """Reopen a node: unseal its enclave, open and check its database."""
        sealed = path / "enclave.sealed"
        if not (path / "chain.db").is_file() or not sealed.is_file():
            raise NetworkError(f"node {name}: its data is missing")
        enclave = Enclave.unseal(cls._fuse(hardware_dir, name, create=False), sealed.read_bytes(), measurement)
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
        _write_atomic(self.path / "enclave.sealed", self.enclave.seal())

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

    def _host_get(self, db: sqlite3.Connection, address: str) -> Callable[[bytes], bytes | None]:
        def get(key: bytes) -> bytes | None:
            row = db.execute("SELECT value FROM state WHERE contract = ? AND key = ?", (address, key)).fetchone()
            return None if row is None else bytes(row[0])

        return get

    def _env(self, address: str, height: int, time_ns: int) -> Env:
        return Env(str(self.meta("chain_id")), height, time_ns, address)

    # -- queries -----------------------------------------------------------------------------------------
    def query(self, address: str, msg: bytes) -> CallOutcome:
        info = self.contract(address)
        if info is None:
            raise ContractNotFound(f"no contract at {address}")
        return self.enclave.query(
            self._host_get(self.db, address),
            code=info["code"],
            env=self._env(address, self.height, self.last_time()),
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
        handler: Callable[[sqlite3.Connection, int, int, dict[str, Any]], tuple[dict[str, Any], list[Any]]] = getattr(
            self, "_apply_" + kind
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            prev = self.app_hash(height - 1)
            result, writes = handler(db, height, time_ns, tx)
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

    def _set_meta(self, db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, codec.dumps(value)))

    def _apply_genesis(
        self, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        accepted = frozenset(tx["measurements"])
        self.enclave.verify_bootstrap(
            tx["bootstrap_report"],
            authority_public_key=tx["authority_public_key"],
            chain_id=tx["chain_id"],
            accepted=accepted,
        )
        if self.enclave.io_public_key != tx["io_public_key"]:
            raise AttestationError(f"node {self.name}: its enclave does not hold this network's seed")
        for key in ("chain_id", "authority_public_key", "measurements", "io_public_key", "seed_exchange_public_key"):
            self._set_meta(db, key, tx[key])
        report = AttestationReport.from_bytes(tx["bootstrap_report"])
        db.execute(
            "INSERT INTO registrations (registration_key, report, encrypted_seed, height) VALUES (?, ?, NULL, ?)",
            (report.registration_key, tx["bootstrap_report"], height),
        )
        return {"code": CODE_OK, "log": "genesis"}, []

    def _apply_register(
        self, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        reg_key, report = tx["registration_key"], tx["report"]
        if self.registration(reg_key) is not None:
            return {"code": CODE_REGISTRATION_FAILED, "log": "this registration key is already registered"}, []
        try:
            encrypted = self.enclave.share_seeds(
                report,
                registration_key=reg_key,
                authority_public_key=self.meta("authority_public_key"),
                chain_id=self.meta("chain_id"),
                accepted_measurements=frozenset(self.meta("measurements")),
            )
        except AttestationError as exc:
            return {"code": CODE_REGISTRATION_FAILED, "log": f"failed to verify the attestation report: {exc}"}, []
        db.execute(
            "INSERT INTO registrations (registration_key, report, encrypted_seed, height) VALUES (?, ?, ?, ?)",
            (reg_key, report, encrypted, height),
        )
        return {"code": CODE_OK, "log": "registered", "encrypted_seed": encrypted}, [["registration", reg_key]]

    def _apply_store_code(
        self, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        code = tx["code"]
        code_id = int(db.execute("SELECT coalesce(max(code_id), 0) + 1 FROM codes").fetchone()[0])
        code_hash = crypto.code_hash_hex(code)
        db.execute(
            "INSERT INTO codes (code_id, code_hash, code, creator, height) VALUES (?, ?, ?, ?, ?)",
            (code_id, code_hash, code, tx["sender"], height),
        )
        return {"code": CODE_OK, "log": "stored", "code_id": code_id, "code_hash": code_hash}, []

    @staticmethod
    def _apply_writes(db: sqlite3.Connection, address: str, outcome: CallOutcome) -> list[Any]:
        for key, value in outcome.writes:
            if value is None:
                db.execute("DELETE FROM state WHERE contract = ? AND key = ?", (address, key))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO state (contract, key, value) VALUES (?, ?, ?)", (address, key, value)
                )
        return [[address, k, v] for k, v in outcome.writes]

    @staticmethod
    def _failure(op: str, code: int, outcome: CallOutcome) -> dict[str, Any]:
        return {
            "code": code,
            "log": raw_log(op, outcome.encrypted_error, outcome.plaintext_error),
            "error": outcome.encrypted_error,
            "plaintext_error": outcome.plaintext_error,
            "nonce": outcome.nonce,
        }

    def _apply_instantiate(
        self, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        row = db.execute("SELECT code FROM codes WHERE code_id = ?", (tx["code_id"],)).fetchone()
        if row is None:
            return {"code": CODE_NOT_FOUND, "log": f"code id {tx['code_id']}: not found"}, []
        if db.execute("SELECT 1 FROM contracts WHERE label = ?", (tx["label"],)).fetchone() is not None:
            return {"code": CODE_INSTANTIATE_FAILED, "log": f"label {tx['label']!r} already exists"}, []
        instance_id = int(db.execute("SELECT count(*) + 1 FROM contracts").fetchone()[0])
        try:
            creator = canonical(tx["sender"])
        except InvalidAddress:
            return {"code": CODE_INSTANTIATE_FAILED, "log": "invalid creator address"}, []
        address_bytes = contract_address(tx["code_id"], instance_id, creator)
        address = human(address_bytes)
        outcome = self.enclave.instantiate(
            self._host_get(db, address),
            code=bytes(row[0]),
            env=self._env(address, height, time_ns),
            sender=tx["sender"],
            sender_canonical=creator,
            contract_canonical=address_bytes,
            msg=tx["init_msg"],
        )
        if not outcome.ok or outcome.contract_key is None:
            return self._failure("instantiate", CODE_INSTANTIATE_FAILED, outcome), []
        db.execute(
            "INSERT INTO contracts (address, code_id, creator, label, contract_key, height, instance_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (address, tx["code_id"], tx["sender"], tx["label"], outcome.contract_key, height, instance_id),
        )
        writes = self._apply_writes(db, address, outcome)
        result = {"code": CODE_OK, "log": "instantiated", "contract_address": address, "data": outcome.output}
        return result, writes

    def _apply_execute(
        self, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        address, msg = tx["contract"], tx["msg"]
        info = self.contract(address)
        if info is None:
            return {"code": CODE_NOT_FOUND, "log": f"contract {address}: not found"}, []
        tag = hashlib.sha256(msg[:64]).digest() if len(msg) >= 64 else None
        replayed = tag is not None and (db.execute("SELECT 1 FROM nonces WHERE tag = ?", (tag,)).fetchone() is not None)
        outcome = self.enclave.execute(
            self._host_get(db, address),
            code=info["code"],
            env=self._env(address, height, time_ns),
            sender=tx["sender"],
            contract_key=info["contract_key"],
            contract_canonical=canonical(address),
            msg=msg,
            replayed=replayed,
        )
        if tag is not None and outcome.authenticated:  # a forged copy must not burn the client's nonce
            db.execute("INSERT INTO nonces (tag, height) VALUES (?, ?)", (tag, height))
        if not outcome.ok:
            return self._failure("execute", CODE_EXECUTE_FAILED, outcome), []
        writes = self._apply_writes(db, address, outcome)
        result = {
            "code": CODE_OK,
            "log": "executed",
            "data": outcome.output,
            "nonce": outcome.nonce,
            "attributes": [list(a) for a in outcome.attributes],
        }
        return result, writes

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


# --- the network -----------------------------------------------------------------------------------------
NodeRef = int | str | EnclaveNode


class LocalSecretNetwork:
    """A local Secret Network of enclave nodes (see the module docstring).  Thread-safe."""

    def __init__(self, data_dir: Path, chain_id: str, authority: AttestationAuthority, measurement: bytes) -> None:
        self.data_dir = data_dir
        self.chain_id = chain_id
        self.authority = authority
        self.measurement = measurement
        self.nodes: list[EnclaveNode] = []
        self._next_index = 0
        self._custody_address: str | None = None
        self._lock = threading.RLock()

    # -- starting and stopping ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        nodes: int = 3,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        chain_id: str = DEFAULT_CHAIN_ID,
    ) -> LocalSecretNetwork:
        """Start a network of ``nodes`` enclave nodes in ``data_dir`` (a new temporary directory if
        omitted).  An existing network there is resumed: nodes whose data is missing or damaged are
        replaced by new nodes that register and catch up from the others."""
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 32:
            raise NetworkError("a network has 1 to 32 nodes")
        base = Path(tempfile.mkdtemp(prefix="gridlock-secret-")) if data_dir is None else Path(data_dir)
        base.mkdir(parents=True, exist_ok=True)
        return cls._resume(base, nodes) if (base / _META_FILE).exists() else cls._genesis(base, nodes, chain_id)

    @classmethod
    def _genesis(cls, base: Path, n: int, chain_id: str) -> LocalSecretNetwork:
        authority = AttestationAuthority.generate()
        (base / "authority").mkdir(exist_ok=True)
        _write_atomic(base / "authority" / "authority.key", authority.private_bytes())
        net = cls(base, chain_id, authority, ENCLAVE_MEASUREMENT)
        node = net.create_node()
        node.enclave.bootstrap()
        node.save_sealed()
        report = authority.attest(chain_id, node.enclave.registration_key, node.enclave.measurement)
        genesis = {
            "chain_id": chain_id,
            "authority_public_key": authority.public_key,
            "measurements": [ENCLAVE_MEASUREMENT],
            "io_public_key": node.enclave.io_public_key,
            "seed_exchange_public_key": node.enclave.seed_exchange_public_key,
            "bootstrap_report": report.to_bytes(),
        }
        node.apply(codec.dumps({"height": 1, "time": time.time_ns(), "kind": "genesis", "tx": genesis}))
        node.running = True
        net.nodes.append(node)
        stored = net._commit("store_code", {"sender": GENESIS_CREATOR, "code": CUSTODY_CODE})
        code_hash = crypto.code_hash_hex(CUSTODY_CODE)
        init_msg = crypto.ClientEncryption(node.enclave.io_public_key).encrypt(code_hash, "{}")
        inst = net._commit(
            "instantiate",
            {"sender": GENESIS_CREATOR, "code_id": stored["code_id"], "label": CUSTODY_LABEL, "init_msg": init_msg},
        )
        if inst["code"] != CODE_OK:
            raise NetworkError(f"cannot instantiate the custody contract: {inst['log']}")
        net._custody_address = inst["contract_address"]
        net._save_meta()
        for _ in range(n - 1):
            net.add_node()
        return net

    @classmethod
    def _resume(cls, base: Path, n: int) -> LocalSecretNetwork:
        try:
            meta = codec.loads((base / _META_FILE).read_bytes())
            authority = AttestationAuthority.from_private_bytes((base / "authority" / "authority.key").read_bytes())
        except (OSError, DecodeError, AttestationError) as exc:
            raise NetworkError(f"cannot resume the network in {base}: {exc}") from None
        net = cls(base, meta["chain_id"], authority, ENCLAVE_MEASUREMENT)
        net._next_index = meta["next_index"]
        net._custody_address = meta["custody_address"]
        opened: list[EnclaveNode] = []
        lost: list[str] = []
        for name in meta["nodes"]:
            try:
                opened.append(EnclaveNode.open(name, base / name, net._hardware, net.measurement))
            except (EnclaveError, sqlite3.Error, OSError, DecodeError) as exc:
                log.warning("node %s is lost and will be replaced: %s", name, exc)
                lost.append(name)
        if not opened:
            raise NetworkError("the data of every node is lost; the consensus seed and the state are gone")
        source = max(opened, key=lambda nd: nd.height)
        for node in opened:
            try:
                if node is not source:
                    node.catch_up(source)
                node.running = True
                net.nodes.append(node)
            except (GridlockError, sqlite3.Error) as exc:
                log.warning("node %s diverges and will be replaced: %s", node.name, exc)
                node.close()
                lost.append(node.name)
        for name in lost:
            with contextlib.suppress(OSError):
                shutil.rmtree(base / name)
        net._save_meta()
        while len(net.nodes) < n:
            net.add_node()
        return net

    def stop(self) -> None:
        """Stop every node (their data stays in ``data_dir``)."""
        with self._lock:
            for node in self.nodes:
                node.close()

    def __enter__(self) -> LocalSecretNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _hardware(self) -> Path:
        return self.data_dir / "hardware"

    def _save_meta(self) -> None:
        meta = {
            "chain_id": self.chain_id,
            "nodes": [n.name for n in self.nodes],
            "next_index": self._next_index,
            "custody_address": self._custody_address,
        }
        _write_atomic(self.data_dir / _META_FILE, codec.dumps(meta))

    # -- the public contract ----------------------------------------------------------------------------
    @property
    def live_nodes(self) -> list[EnclaveNode]:
        """Running nodes.  A node whose data was deleted under it stops, as a real node would crash;
        the others serve, and it is replaced on the next :meth:`start` (or by :meth:`add_node`)."""
        with self._lock:
            for n in self.nodes:
                if n.running and not n.halted and not (n.path / "chain.db").is_file():
                    self._halt(n, "its data directory was deleted")
                    n.close()
            return [n for n in self.nodes if n.running and not n.halted]

    def _any_node(self) -> EnclaveNode:
        live = self.live_nodes
        if not live:
            raise NetworkError("no node of the network is running")
        return live[0]

    @property
    def consensus_io_pubkey(self) -> bytes:
        """The consensus io exchange public key (32 bytes) clients encrypt to."""
        with self._lock:
            return bytes(self._any_node().meta("io_public_key"))

    @property
    def registration_pubkey(self) -> bytes:
        """The consensus seed exchange public key (``/registration/v1beta1/registration-key``)."""
        with self._lock:
            return bytes(self._any_node().meta("seed_exchange_public_key"))

    @property
    def custody_code_hash(self) -> str:
        return crypto.code_hash_hex(CUSTODY_CODE)

    @property
    def custody_address(self) -> str:
        assert self._custody_address is not None
        return self._custody_address

    @property
    def height(self) -> int:
        with self._lock:
            return self._any_node().height

    def code_hash(self, contract: str) -> str:
        """The hex code hash of the contract at ``contract`` (:class:`ContractNotFound`)."""
        with self._lock:
            info = self._any_node().contract(contract)
            if info is None:
                raise ContractNotFound(f"no contract at {contract}")
            return str(info["code_hash"])

    def contract_info(self, contract: str) -> dict[str, Any]:
        with self._lock:
            info = self._any_node().contract(contract)
            if info is None:
                raise ContractNotFound(f"no contract at {contract}")
            return {k: v for k, v in info.items() if k not in ("code", "contract_key")}

    def encrypted_seed(self, registration_key: bytes) -> bytes | None:
        """The encrypted seed published for a registered node (``None``: not registered)."""
        with self._lock:
            reg = self._any_node().registration(registration_key)
            return None if reg is None else reg[1]

    def execute_tx(self, sender: str, contract: str, encrypted_msg: bytes | Sequence[int]) -> TxResult:
        """Include a ``MsgExecuteContract`` in a block; the result as the chain records it."""
        check_sender(sender)
        canonical(contract)
        msg = _as_bytes(encrypted_msg, "the encrypted message")
        if len(msg) > crypto.MAX_MESSAGE_SIZE:
            raise DecodeError("the encrypted message is too large")
        with self._lock:
            result = self._commit("execute", {"sender": sender, "contract": contract, "msg": msg})
            height = self._any_node().height
        txhash = hashlib.sha256(codec.dumps([sender, contract, msg])).hexdigest().upper()
        return TxResult(
            height=height,
            txhash=txhash,
            code=result["code"],
            data=result.get("data") or b"",
            raw_log=result["log"],
            encrypted_error=result.get("error"),
            plaintext_error=result.get("plaintext_error"),
            nonce=result.get("nonce"),
            attributes=tuple((bytes(k), bytes(v)) for k, v in result.get("attributes", [])),
        )

    def execute(self, sender: str, contract: str, encrypted_msg: bytes | Sequence[int]) -> bytes:
        """Execute an encrypted message (``nonce ‖ pubkey ‖ ciphertext`` as secret-sdk makes it —
        bytes or its list of ints) as ``sender``; returns the encrypted ``data`` (the SIV ciphertext
        of the base64 text of the contract's data).  A failed execution raises
        :class:`ContractError` carrying the encrypted error and the chain's raw log."""
        r = self.execute_tx(sender, contract, encrypted_msg)
        if not r.ok:
            raise ContractError(
                operation="execute",
                encrypted=r.encrypted_error,
                plaintext=r.plaintext_error or (None if r.encrypted_error else r.raw_log),
                nonce=r.nonce,
                code=r.code,
            )
        return r.data

    def query(self, contract: str, encrypted_query: bytes | Sequence[int], *, node: NodeRef | None = None) -> bytes:
        """Run an encrypted query on one node (the first live one unless ``node`` is given); returns
        the encrypted result (the SIV ciphertext of the base64 text of the result bytes).  A failed
        query raises :class:`ContractError` (``encrypted: <b64>: query contract failed``)."""
        msg = _as_bytes(encrypted_query, "the encrypted query")
        if len(msg) > crypto.MAX_MESSAGE_SIZE:
            raise DecodeError("the encrypted query is too large")
        with self._lock:
            target = self._any_node() if node is None else self._node(node)
            if not target.running:
                raise NetworkError(f"node {target.name} is not running")
            outcome = target.query(contract, msg)
        if not outcome.ok:
            raise ContractError(
                operation="query",
                encrypted=outcome.encrypted_error,
                plaintext=outcome.plaintext_error,
                nonce=outcome.nonce,
                code=CODE_QUERY_FAILED,
            )
        return outcome.output

    # -- blocks -----------------------------------------------------------------------------------------
    def _commit(self, kind: str, tx: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            live = self.live_nodes
            if not live:
                raise NetworkError("no node of the network is running")
            heights = {n.height for n in live}
            if len(heights) != 1:
                raise ConsensusFailure("live nodes are at different heights")
            height = heights.pop()
            now = max(time.time_ns(), max(n.last_time() for n in live) + 1)
            block = codec.dumps({"height": height + 1, "time": now, "kind": kind, "tx": tx})
            results: dict[EnclaveNode, tuple[bytes, bytes]] = {}
            for node in live:
                try:
                    results[node] = node.apply(block)
                except (GridlockError, sqlite3.Error, OSError, KeyError, TypeError) as exc:
                    self._halt(node, f"failed to apply block {height + 1}: {type(exc).__name__}: {exc}")
            votes = Counter(app for _, app in results.values())
            if not votes:
                raise ConsensusFailure(f"no node could apply block {height + 1}")
            app_hash, count = votes.most_common(1)[0]
            if 2 * count <= len(live):
                raise ConsensusFailure(f"no majority of the live nodes agrees on block {height + 1}")
            for node, (_, app) in results.items():
                if app != app_hash:
                    self._halt(node, f"app hash mismatch at block {height + 1}")
            result_bytes = next(res for res, app in results.values() if app == app_hash)
            result: dict[str, Any] = codec.loads(result_bytes)
            return result

    def _halt(self, node: EnclaveNode, reason: str) -> None:
        log.error("node %s halted: %s", node.name, reason)
        node.halted = reason
        node.running = False

    # -- nodes ------------------------------------------------------------------------------------------
    def _node(self, ref: NodeRef) -> EnclaveNode:
        if isinstance(ref, EnclaveNode):
            return ref
        if isinstance(ref, int) and not isinstance(ref, bool):
            return self.nodes[ref]
        for n in self.nodes:
            if n.name == ref:
                return n
        raise NetworkError(f"no node {ref!r}")

    def create_node(self, measurement: bytes = ENCLAVE_MEASUREMENT) -> EnclaveNode:
        """A new node with a fresh enclave (running ``measurement``); not registered yet."""
        with self._lock:
            name = f"node-{self._next_index}"
            self._next_index += 1
            return EnclaveNode.create(name, self.data_dir / name, self._hardware, measurement)

    def attest(self, node: EnclaveNode) -> AttestationReport:
        """What the attestation authority signs for ``node``'s enclave (its real measurement)."""
        return self.authority.attest(self.chain_id, node.enclave.registration_key, node.enclave.measurement)

    def register_node(self, node: EnclaveNode, report: AttestationReport | bytes | None = None) -> None:
        """Register ``node`` with ``report`` (by default the authority's report on it): the network's
        enclaves verify it and share the seed, the node catches up and joins.  A report that does
        not verify (forged signature, wrong measurement or registration key) raises
        :class:`RegistrationRefused`; the node gets nothing and does not join."""
        with self._lock:
            if report is None:
                report = self.attest(node)
            report_bytes = report.to_bytes() if isinstance(report, AttestationReport) else bytes(report)
            result = self._commit(
                "register", {"registration_key": node.enclave.registration_key, "report": report_bytes}
            )
            if result["code"] != CODE_OK:
                node.close()
                raise RegistrationRefused(f"node {node.name}: {result['log']}")
            source = max(self.live_nodes, key=lambda nd: nd.height)
            node.enclave.receive_seeds(
                result["encrypted_seed"], bytes(source.meta("seed_exchange_public_key")), self.consensus_io_pubkey
            )
            node.save_sealed()
            node.catch_up(source)
            node.running = True
            self.nodes.append(node)
            self._save_meta()

    def add_node(self, report: AttestationReport | bytes | None = None) -> EnclaveNode:
        """Create, attest, register and catch up a new node."""
        with self._lock:
            node = self.create_node()
            self.register_node(node, report)
            return node

    def stop_node(self, ref: NodeRef) -> None:
        """Take a node offline (its data stays; :meth:`start_node` brings it back)."""
        with self._lock:
            self._node(ref).close()

    def start_node(self, ref: NodeRef) -> None:
        """Bring a stopped node back: unseal its enclave and catch up from a live node."""
        with self._lock:
            old = self._node(ref)
            if old.running:
                return
            node = EnclaveNode.open(old.name, old.path, self._hardware, old.enclave.measurement)
            live = self.live_nodes
            if live:
                node.catch_up(max(live, key=lambda nd: nd.height))
            node.running = True
            self.nodes[self.nodes.index(old)] = node

    def remove_node(self, ref: NodeRef, *, delete_data: bool = True) -> None:
        """Stop a node and (by default) delete its data directory."""
        with self._lock:
            node = self._node(ref)
            node.close()
            self.nodes.remove(node)
            if delete_data:
                shutil.rmtree(node.path, ignore_errors=True)
            self._save_meta()

    def __repr__(self) -> str:
        return f"LocalSecretNetwork(chain_id={self.chain_id!r}, nodes={[n.name for n in self.nodes]})"
