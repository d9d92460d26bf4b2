"""What each kind of transaction does to one node's chain database, run through its enclave.

A block carries one transaction (:mod:`gridlock.enclave.network`); every node applies it with the
handler for its kind (:data:`HANDLERS`) inside one database transaction
(:meth:`~gridlock.enclave.node.EnclaveNode.apply`):

* ``genesis`` — the first node's enclave proves (bootstrap attestation) that it holds the seed the
  block names; the chain id, attestation authority, accepted measurements and network keys are pinned;
* ``register`` — a new node's attestation report, checked by this node's enclave, which encrypts
  the consensus seed for the new node's registration key (the result is public);
* ``store_code`` / ``instantiate`` / ``execute`` — x/compute's messages: store contract code, create
  a contract (its address as x/compute derives it), run an encrypted message; the enclave's
  encrypted state writes are committed only when the call succeeds;
* ``create_account`` — an account comes into existence (as when a faucet funds it): an account
  number, sequence 0;
* ``tx`` — a signed ``TxRaw`` carrying one ``MsgExecuteContract`` (:mod:`~gridlock.enclave.cosmos_tx`):
  the ante handler checks the signature, account number and sequence, the sequence is spent, the
  message runs as the sender the signature authenticated, gas is metered (:mod:`~gridlock.enclave.gas`);
* ``rollback`` — the network found its monotonic counter ahead of the chain (a restored backup):
  the custody contract burns every single-use item stored before this block.

A handler returns the block's result (public: the ``code`` of x/compute's codespace, the log,
encrypted data or error) and the state writes that enter the app hash.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from gridlock.crypto import codec
from gridlock.enclave import cosmos_tx, crypto, gas
from gridlock.enclave.address import canonical, contract_address, human
from gridlock.enclave.attestation import AttestationReport
from gridlock.enclave.contract import Env
from gridlock.enclave.cosmos_tx import CODE_OUT_OF_GAS, AnteError, SignedExecute, decode_execute_tx
from gridlock.enclave.enclave import CallOutcome, Enclave
from gridlock.enclave.errors import AttestationError, InvalidAddress, raw_log
from gridlock.enclave.gas import GasMeter

__all__ = [
    "CODE_EXECUTE_FAILED",
    "CODE_INSTANTIATE_FAILED",
    "CODE_NOT_FOUND",
    "CODE_OK",
    "CODE_QUERY_FAILED",
    "CODE_REGISTRATION_FAILED",
    "HANDLERS",
    "ChainNode",
    "Handler",
    "TxResult",
]

# result codes (x/compute's codespace): 2 instantiate failed, 3 execute failed, 4 query failed
CODE_OK: Final = 0
CODE_INSTANTIATE_FAILED: Final = 2
CODE_EXECUTE_FAILED: Final = 3
CODE_QUERY_FAILED: Final = 4
CODE_NOT_FOUND: Final = 5
CODE_REGISTRATION_FAILED: Final = 6


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
    codespace: str = ""
    gas_wanted: int = 0
    gas_used: int = 0

    @property
    def ok(self) -> bool:
        return self.code == CODE_OK

    @classmethod
    def from_result(cls, height: int, txhash: str, result: dict[str, Any]) -> TxResult:
        """From the result a handler recorded in the block."""
        return cls(
            height=height,
            txhash=txhash,
            code=result["code"],
            data=result.get("data") or b"",
            raw_log=result["log"],
            encrypted_error=result.get("error"),
            plaintext_error=result.get("plaintext_error"),
            nonce=result.get("nonce"),
            attributes=tuple((bytes(k), bytes(v)) for k, v in result.get("attributes", [])),
            codespace=result.get("codespace", ""),
            gas_wanted=int(result.get("gas_wanted", 0)),
            gas_used=int(result.get("gas_used", 0)),
        )


class ChainNode(Protocol):
    """What a handler reads of the node applying the block (:class:`~gridlock.enclave.node.EnclaveNode`)."""

    @property
    def name(self) -> str: ...
    @property
    def enclave(self) -> Enclave: ...
    def meta(self, key: str) -> Any: ...
    def registration(self, registration_key: bytes) -> tuple[bytes, bytes | None] | None: ...
    def contract(self, address: str) -> dict[str, Any] | None: ...
    def state_reader(self, db: sqlite3.Connection, address: str) -> Callable[[bytes], bytes | None]: ...
    def contract_env(self, address: str, height: int, time_ns: int) -> Env: ...


Handler = Callable[[ChainNode, sqlite3.Connection, int, int, dict[str, Any]], tuple[dict[str, Any], list[Any]]]
"""``(node, db, height, time_ns, tx) -> (result, writes)``."""


def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, codec.dumps(value)))


def apply_genesis(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    accepted = frozenset(tx["measurements"])
    node.enclave.verify_bootstrap(
        tx["bootstrap_report"],
        authority_public_key=tx["authority_public_key"],
        chain_id=tx["chain_id"],
        accepted=accepted,
    )
    if node.enclave.io_public_key != tx["io_public_key"]:
        raise AttestationError(f"node {node.name}: its enclave does not hold this network's seed")
    for key in ("chain_id", "authority_public_key", "measurements", "io_public_key", "seed_exchange_public_key"):
        _set_meta(db, key, tx[key])
    report = AttestationReport.from_bytes(tx["bootstrap_report"])
    db.execute(
        "INSERT INTO registrations (registration_key, report, encrypted_seed, height) VALUES (?, ?, NULL, ?)",
        (report.registration_key, tx["bootstrap_report"], height),
    )
    return {"code": CODE_OK, "log": "genesis"}, []


def apply_register(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    reg_key, report = tx["registration_key"], tx["report"]
    if node.registration(reg_key) is not None:
        return {"code": CODE_REGISTRATION_FAILED, "log": "this registration key is already registered"}, []
    try:
        encrypted = node.enclave.share_seeds(
            report,
            registration_key=reg_key,
            authority_public_key=node.meta("authority_public_key"),
            chain_id=node.meta("chain_id"),
            accepted_measurements=frozenset(node.meta("measurements")),
        )
    except AttestationError as exc:
        return {"code": CODE_REGISTRATION_FAILED, "log": f"failed to verify the attestation report: {exc}"}, []
    db.execute(
        "INSERT INTO registrations (registration_key, report, encrypted_seed, height) VALUES (?, ?, ?, ?)",
        (reg_key, report, encrypted, height),
    )
    return {"code": CODE_OK, "log": "registered", "encrypted_seed": encrypted}, [["registration", reg_key]]


def apply_store_code(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    code = tx["code"]
    code_id = int(db.execute("SELECT coalesce(max(code_id), 0) + 1 FROM codes").fetchone()[0])
    code_hash = crypto.code_hash_hex(code)
    db.execute(
        "INSERT INTO codes (code_id, code_hash, code, creator, height) VALUES (?, ?, ?, ?, ?)",
        (code_id, code_hash, code, tx["sender"], height),
    )
    return {"code": CODE_OK, "log": "stored", "code_id": code_id, "code_hash": code_hash}, []


def _write_state(db: sqlite3.Connection, address: str, outcome: CallOutcome) -> list[Any]:
    for key, value in outcome.writes:
        if value is None:
            db.execute("DELETE FROM state WHERE contract = ? AND key = ?", (address, key))
        else:
            db.execute("INSERT OR REPLACE INTO state (contract, key, value) VALUES (?, ?, ?)", (address, key, value))
    return [[address, k, v] for k, v in outcome.writes]


def _failure(op: str, code: int, outcome: CallOutcome) -> dict[str, Any]:
    return {
        "code": code,
        "log": raw_log(op, outcome.encrypted_error, outcome.plaintext_error),
        "error": outcome.encrypted_error,
        "plaintext_error": outcome.plaintext_error,
        "nonce": outcome.nonce,
    }


def apply_instantiate(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
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
    outcome = node.enclave.instantiate(
        node.state_reader(db, address),
        code=bytes(row[0]),
        env=node.contract_env(address, height, time_ns),
        sender=tx["sender"],
        sender_canonical=creator,
        contract_canonical=address_bytes,
        msg=tx["init_msg"],
    )
    if not outcome.ok or outcome.contract_key is None:
        return _failure("instantiate", CODE_INSTANTIATE_FAILED, outcome), []
    db.execute(
        "INSERT INTO contracts (address, code_id, creator, label, contract_key, height, instance_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (address, tx["code_id"], tx["sender"], tx["label"], outcome.contract_key, height, instance_id),
    )
    writes = _write_state(db, address, outcome)
    result = {"code": CODE_OK, "log": "instantiated", "contract_address": address, "data": outcome.output}
    return result, writes


def _execute(
    node: ChainNode,
    db: sqlite3.Connection,
    height: int,
    time_ns: int,
    sender: str,
    address: str,
    msg: bytes,
    meter: GasMeter | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    info = node.contract(address)
    if info is None:
        return {"code": CODE_NOT_FOUND, "log": f"contract {address}: not found"}, []
    tag = hashlib.sha256(msg[:64]).digest() if len(msg) >= 64 else None
    replayed = tag is not None and (db.execute("SELECT 1 FROM nonces WHERE tag = ?", (tag,)).fetchone() is not None)
    reader = node.state_reader(db, address)
    if meter is not None:
        meter.instance()
        inner = reader

        def reader(key: bytes) -> bytes | None:
            value = inner(key)
            meter.read(key, value)
            return value

    outcome = node.enclave.execute(
        reader,
        code=info["code"],
        env=node.contract_env(address, height, time_ns),
        sender=sender,
        contract_key=info["contract_key"],
        contract_canonical=canonical(address),
        msg=msg,
        replayed=replayed,
    )
    if meter is not None and outcome.ok:
        meter.write_all(outcome.writes)
        if meter.used > meter.limit:  # reverted as a whole: the same message may be sent again
            return {"code": CODE_OUT_OF_GAS, "codespace": "sdk", "log": _out_of_gas(meter)}, []
    if tag is not None and outcome.authenticated:  # a forged copy must not burn the client's nonce
        db.execute("INSERT INTO nonces (tag, height) VALUES (?, ?)", (tag, height))
    if not outcome.ok:
        return _failure("execute", CODE_EXECUTE_FAILED, outcome), []
    writes = _write_state(db, address, outcome)
    result = {
        "code": CODE_OK,
        "log": "executed",
        "data": outcome.output,
        "nonce": outcome.nonce,
        "attributes": [list(a) for a in outcome.attributes],
    }
    return result, writes


def apply_execute(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """An unsigned execute whose sender the block names: only genesis and the tests' in-process
    :meth:`LocalSecretNetwork.execute` make these; clients send :func:`apply_signed_tx`."""
    return _execute(node, db, height, time_ns, tx["sender"], tx["contract"], tx["msg"])


def _out_of_gas(meter: GasMeter) -> str:
    return f"out of gas in location: execute; gasWanted: {meter.limit}, gasUsed: {meter.used}: out of gas"


def apply_create_account(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """An account comes into existence (on the real chain: when it first receives funds, e.g. from
    a faucet); it gets the next account number and sequence 0."""
    address = tx["address"]
    if db.execute("SELECT 1 FROM accounts WHERE address = ?", (address,)).fetchone() is not None:
        return {"code": CODE_OK, "log": "account exists"}, []
    number = int(db.execute("SELECT coalesce(max(account_number) + 1, 0) FROM accounts").fetchone()[0])
    db.execute(
        "INSERT INTO accounts (address, account_number, sequence, public_key) VALUES (?, ?, 0, NULL)",
        (address, number),
    )
    return {"code": CODE_OK, "log": "account created", "account_number": number}, [["account", address, number]]


def check_tx(db: sqlite3.Connection, chain_id: str, tx_bytes: bytes) -> tuple[SignedExecute, int]:
    """The ante handler: decode, find the signer's account, check its sequence and the signature
    (:class:`~gridlock.enclave.cosmos_tx.AnteError` with the SDK's code and log otherwise); the
    transaction and the gas the ante handler charged."""
    tx = decode_execute_tx(tx_bytes)
    row = db.execute(
        "SELECT account_number, sequence, public_key FROM accounts WHERE address = ?", (tx.sender,)
    ).fetchone()
    if row is None:
        raise AnteError(cosmos_tx.CODE_UNKNOWN_ADDRESS, f"account {tx.sender} not found: unknown address")
    number, sequence, known_key = int(row[0]), int(row[1]), row[2]
    tx.check_signer()
    if known_key is not None and bytes(known_key) != tx.public_key:
        raise AnteError(cosmos_tx.CODE_INVALID_PUBKEY, "the account has another public key: invalid pubkey")
    if tx.sequence != sequence:
        raise AnteError(
            cosmos_tx.CODE_WRONG_SEQUENCE,
            f"account sequence mismatch, expected {sequence}, got {tx.sequence}: incorrect account sequence",
        )
    tx.verify(chain_id, number)
    ante = gas.ante_gas(len(tx_bytes))
    if ante > tx.gas_limit:
        raise AnteError(
            CODE_OUT_OF_GAS,
            f"out of gas in location: txSize; gasWanted: {tx.gas_limit}, gasUsed: {ante}: out of gas",
        )
    return tx, sequence


def apply_signed_tx(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx_in: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """A signed ``TxRaw`` (:mod:`gridlock.enclave.cosmos_tx`): every node runs the ante handler
    again, then — the signature having authenticated the sender — the sequence is spent and the
    message runs as that sender.  A message that fails (or runs out of gas) writes no state, but
    the sequence stays spent, as on the chain."""
    tx_bytes = tx_in["tx_bytes"]
    txhash = cosmos_tx.tx_hash(tx_bytes)
    try:
        tx, sequence = check_tx(db, str(node.meta("chain_id")), tx_bytes)
    except AnteError as exc:  # CheckTx admitted it; a node that disagrees now says so in its result
        return {"code": exc.code, "codespace": exc.codespace, "log": str(exc), "txhash": txhash}, []
    db.execute(
        "UPDATE accounts SET sequence = ?, public_key = ? WHERE address = ?",
        (sequence + 1, tx.public_key, tx.sender),
    )
    db.execute("INSERT INTO txs (txhash, height) VALUES (?, ?)", (txhash, height))
    meter = GasMeter(limit=tx.gas_limit)
    meter.ante(len(tx_bytes))
    result, writes = _execute(node, db, height, time_ns, tx.sender, tx.contract, tx.msg, meter)
    result.setdefault("codespace", "" if result["code"] == CODE_OK else "compute")
    result.update(txhash=txhash, gas_wanted=tx.gas_limit, gas_used=min(meter.used, tx.gas_limit))
    return result, [["account", tx.sender, sequence + 1], *writes]


def apply_rollback(
    node: ChainNode, db: sqlite3.Connection, height: int, time_ns: int, tx: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """A restored backup was detected (the network's monotonic counter is ahead of the chain): the
    custody contract at ``tx["contract"]`` burns every single-use item stored before this block."""
    address = tx["contract"]
    info = node.contract(address)
    if info is None:
        return {"code": CODE_NOT_FOUND, "log": f"contract {address}: not found"}, []
    outcome = node.enclave.burn_items(
        node.state_reader(db, address),
        code=info["code"],
        env=node.contract_env(address, height, time_ns),
        contract_key=info["contract_key"],
        contract_canonical=canonical(address),
    )
    if not outcome.ok:
        return _failure("execute", CODE_EXECUTE_FAILED, outcome), []
    writes = _write_state(db, address, outcome)
    return {"code": CODE_OK, "log": f"rollback detected: items before height {height} burned"}, writes


HANDLERS: Final[dict[str, Handler]] = {
    "rollback": apply_rollback,
    "genesis": apply_genesis,
    "register": apply_register,
    "store_code": apply_store_code,
    "instantiate": apply_instantiate,
    "execute": apply_execute,
    "create_account": apply_create_account,
    "tx": apply_signed_tx,
}
