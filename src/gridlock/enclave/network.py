"""A local Secret Network: enclave nodes, a replicated chain, the custody contract.

::

    net = LocalSecretNetwork.start(nodes=3, data_dir=path, secret=owner_secret)
    net.consensus_io_pubkey     # 32 bytes (what GET /registration/v1beta1/tx-key serves)
    net.custody_code_hash       # hex sha256 of the custody contract's code
    net.custody_address         # secret1… (x/compute's contract address derivation)
    enc_out = net.execute(sender, net.custody_address, encrypted_msg)   # encrypted ``data``
    enc_res = net.query(net.custody_address, encrypted_query)           # encrypted result
    net.stop()

Clients — the enclave guardian among them — reach it over HTTP through
:class:`gridlock.enclave.lcd.LcdServer` (``LcdServer(net).start()``; its ``url``; ``stop()``) with
signed transactions (:meth:`LocalSecretNetwork.broadcast_tx`, :mod:`gridlock.enclave.cosmos_tx`);
``execute(sender, …)``, which takes its sender on trust, is for the protocol tests.

Layout of ``data_dir``::

    network.cbor                  public: chain id, node names, the custody contract's address, the
                                  salt of the platform secret and its check value, the accepted
                                  enclave measurement and the custody contract's code hash
    <node>/chain.db               the node's chain: blocks, registrations, codes, contracts and the
                                  contract state — public data and ciphertext only
    <node>/enclave.sealed         the node's sealed registration key and consensus seeds

and beside it ``<data_dir>.generation``, the monotonic counter.  Fuse keys and the attestation
authority's key are not files: they derive from the owner's ``secret``
(:mod:`gridlock.enclave.platform`), so a copy of ``data_dir`` opens nothing.  Resuming with a
modified enclave or contract is refused (:mod:`gridlock.enclave.measure`: code is identity), and
resuming a chain older than the counter (a restored backup) raises
:class:`~gridlock.guardian.store.RollbackDetected` — or, with ``accept_rollback=True``, commits a
``rollback`` transaction in which the custody contract burns every presignature and nonce.

How it works.  The first node's enclave makes the consensus seeds (genesis bootstrap); the genesis
block pins the attestation authority's key, the accepted enclave measurement and the network's
public keys.  Every further node presents an attestation report; each registered node's enclave
checks it and, only if it verifies, encrypts the seeds for the new node's registration key (the
result is in the block, public — only the new enclave can open it).  The new node then replays
every block through its own enclave and must reach the same app hash at every height.

Every transaction is a block that every live node (:mod:`~gridlock.enclave.node`) applies through
its own enclave (what each kind of transaction does: :mod:`~gridlock.enclave.transactions`); state
encryption is deterministic given the block (AES-SIV with the block's salt), so honest nodes write
byte-identical ciphertext and agree on the app hash.  A node that disagrees with the majority is
halted.  Deleting any node's data loses nothing: the others hold the same encrypted state, and a
replacement node registers and catches up.

Errors.  A failed call raises :class:`ContractError` the way Secret Network reports it; what each
failure looks like here and on the real network is tabled in :mod:`gridlock.enclave.errors`.

Emulated, not real (see the package docs and docs/ENCLAVE.md): Tendermint (one transaction per
block, accepted by a strict majority of the *live* nodes, where a real chain needs more than 2/3 of
the voting power of *all* validators), balances and fees (accounts are created by
:meth:`~LocalSecretNetwork.create_account`, fees are not deducted), and SGX.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.enclave import cosmos_tx, crypto
from gridlock.enclave.address import canonical, check_sender, human, module_address
from gridlock.enclave.attestation import AttestationAuthority
from gridlock.enclave.contract import CUSTODY_CODE
from gridlock.enclave.cosmos_tx import AnteError
from gridlock.enclave.errors import (
    ConsensusFailure,
    ContractError,
    ContractNotFound,
    EnclaveError,
    NetworkError,
)
from gridlock.enclave.measure import enclave_measurement
from gridlock.enclave.membership import NodeMembership, NodeRef
from gridlock.enclave.node import EnclaveNode
from gridlock.enclave.platform import SALT_BYTES, Platform
from gridlock.enclave.transactions import CODE_OK, CODE_QUERY_FAILED, TxResult, check_tx
from gridlock.errors import DecodeError, GridlockError
from gridlock.files import write_private
from gridlock.guardian.store.errors import RollbackDetected

__all__ = [
    "CUSTODY_LABEL",
    "DEFAULT_CHAIN_ID",
    "GENESIS_CREATOR",
    "LocalSecretNetwork",
    "TxResult",
]

log = logging.getLogger("gridlock.enclave")

DEFAULT_CHAIN_ID: Final = "secret-gridlock-1"
CUSTODY_LABEL: Final = "gridlock-custody"
GENESIS_CREATOR: Final = human(module_address("gridlock/custody"))
"""The account that stores and instantiates the custody contract at genesis (a module-style address)."""


_META_FILE: Final = "network.cbor"


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


# --- the network -----------------------------------------------------------------------------------------
class LocalSecretNetwork(NodeMembership):
    """A local Secret Network of enclave nodes (see the module docstring).  Thread-safe."""

    def __init__(
        self, data_dir: Path, chain_id: str, authority: AttestationAuthority, measurement: bytes, platform: Platform
    ) -> None:
        self.data_dir = data_dir
        self._platform = platform
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
        secret: bytes | str | None = None,
        accept_rollback: bool = False,
    ) -> LocalSecretNetwork:
        """Start a network of ``nodes`` enclave nodes in ``data_dir`` (a new temporary directory if
        omitted).  An existing network there is resumed: nodes whose data is missing or damaged are
        replaced by new nodes that register and catch up from the others.

        ``secret`` (at least 16 bytes; the enclave guardian passes its key-encryption secret) is
        what the emulated hardware derives from (:mod:`gridlock.enclave.platform`); it is needed to
        resume, so a network in a given ``data_dir`` must have one (a temporary network gets a
        random one).  A resumed chain older than the monotonic counter beside ``data_dir`` raises
        :class:`~gridlock.guardian.store.RollbackDetected` unless ``accept_rollback``, which burns
        every presignature and nonce stored before the restore."""
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 32:
            raise NetworkError("a network has 1 to 32 nodes")
        if data_dir is None:
            base, counter = Path(tempfile.mkdtemp(prefix="gridlock-secret-")), None
            secret = os.urandom(32) if secret is None else secret
        else:
            base = counter = Path(data_dir)
            if secret is None:
                raise NetworkError("a network kept in a data directory needs the owner's sealing secret")
        base.mkdir(parents=True, exist_ok=True)
        if (base / _META_FILE).exists():
            return cls._resume(base, nodes, secret, counter, accept_rollback)
        platform = Platform.derive(secret, os.urandom(SALT_BYTES), counter)
        return cls._genesis(base, nodes, chain_id, platform)

    @classmethod
    def _genesis(cls, base: Path, n: int, chain_id: str, platform: Platform) -> LocalSecretNetwork:
        authority = platform.authority()
        measurement = enclave_measurement()
        net = cls(base, chain_id, authority, measurement, platform)
        node = net.create_node()
        node.enclave.bootstrap()
        node.save_sealed()
        report = authority.attest(chain_id, node.enclave.registration_key, node.enclave.measurement)
        genesis = {
            "chain_id": chain_id,
            "authority_public_key": authority.public_key,
            "measurements": [measurement],
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
    def _resume(
        cls, base: Path, n: int, secret: bytes | str, counter: Path | None, accept_rollback: bool
    ) -> LocalSecretNetwork:
        try:
            meta = codec.loads((base / _META_FILE).read_bytes())
        except (OSError, DecodeError) as exc:
            raise NetworkError(f"cannot resume the network in {base}: {exc}") from None
        platform = Platform.resume(meta, secret, counter)  # refuses another secret or modified code
        measurement = bytes(meta["measurement"])
        net = cls(base, meta["chain_id"], platform.authority(), measurement, platform)
        net._next_index = meta["next_index"]
        net._custody_address = meta["custody_address"]
        opened: list[EnclaveNode] = []
        lost: list[str] = []
        for name in meta["nodes"]:
            try:
                opened.append(EnclaveNode.open(name, base / name, platform.fuse_key(name), measurement))
            except (EnclaveError, sqlite3.Error, OSError, DecodeError) as exc:
                log.warning("node %s is lost and will be replaced: %s", name, exc)
                lost.append(name)
        if not opened:
            raise NetworkError("the data of every node is lost; the consensus seed and the state are gone")
        source = max(opened, key=lambda nd: nd.height)
        problem = platform.rollback(source.height)
        if problem is not None and not accept_rollback:
            for node in opened:
                node.close()
            platform.close()
            raise RollbackDetected(f"{problem}; resume with accept_rollback=True to burn its presignatures and nonces")
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
        if problem is not None:
            log.warning("%s: burning every presignature and nonce stored before now", problem)
            result = net._commit("rollback", {"contract": net.custody_address})
            if result["code"] != CODE_OK:
                raise NetworkError(f"cannot burn the items after a rollback: {result['log']}")
        return net

    def stop(self) -> None:
        """Stop every node (their data stays in ``data_dir``)."""
        with self._lock:
            for node in self.nodes:
                node.close()
            self._platform.close()

    def __enter__(self) -> LocalSecretNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _save_meta(self) -> None:
        meta = {
            "chain_id": self.chain_id,
            "nodes": [n.name for n in self.nodes],
            "next_index": self._next_index,
            "custody_address": self._custody_address,
            "salt": self._platform.salt,
            "verifier": self._platform.verifier(),
            "measurement": self.measurement,
            "custody_code_hash": crypto.code_hash_hex(CUSTODY_CODE),
        }
        write_private(self.data_dir / _META_FILE, codec.dumps(meta))

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
        """The code hash of the custody contract as the chain stores it."""
        return self.code_hash(self.custody_address)

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
        """Include an *unsigned* ``MsgExecuteContract`` whose sender is taken on trust (tests and the
        genesis module only; clients broadcast signed transactions, :meth:`broadcast_tx`)."""
        check_sender(sender)
        canonical(contract)
        msg = _as_bytes(encrypted_msg, "the encrypted message")
        if len(msg) > crypto.MAX_MESSAGE_SIZE:
            raise DecodeError("the encrypted message is too large")
        with self._lock:
            result = self._commit("execute", {"sender": sender, "contract": contract, "msg": msg})
            height = self._any_node().height
        txhash = hashlib.sha256(codec.dumps([sender, contract, msg])).hexdigest().upper()
        return TxResult.from_result(height, txhash, result)

    # -- accounts and signed transactions (what the LCD serves) ------------------------------------------
    def create_account(self, address: str) -> int:
        """Bring the account ``address`` into existence (a faucet's first transfer on the real
        chain); its account number.  An existing account is left as it is."""
        canonical(address)
        with self._lock:
            found = self._any_node().account(address)
            if found is not None:
                return found[0]
            self._commit("create_account", {"address": address})
            created = self._any_node().account(address)
            assert created is not None
            return created[0]

    def account(self, address: str) -> tuple[int, int, bytes | None] | None:
        """``(account_number, sequence, public_key)`` of an account, or ``None``."""
        canonical(address)
        with self._lock:
            return self._any_node().account(address)

    def broadcast_tx(self, tx_bytes: bytes) -> TxResult:
        """``BroadcastTx``: CheckTx (the ante handler on one node: decoding, account, sequence,
        signature) and, if it passes, the transaction in the next block.  A transaction refused by
        CheckTx is in no block: its result has height 0 and the SDK's code and log."""
        tx_bytes = _as_bytes(tx_bytes, "the transaction")
        txhash = cosmos_tx.tx_hash(tx_bytes)
        with self._lock:
            node = self._any_node()
            try:
                check_tx(node.db, self.chain_id, tx_bytes)
            except AnteError as exc:
                return TxResult.from_result(0, txhash, {"code": exc.code, "codespace": exc.codespace, "log": str(exc)})
            result = self._commit("tx", {"tx_bytes": tx_bytes})
            return TxResult.from_result(self._any_node().height, txhash, result)

    def lookup_tx(self, txhash: str) -> tuple[TxResult, bytes, int] | None:
        """A committed signed transaction: ``(result, tx_bytes, block time in ns)``, or ``None``."""
        with self._lock:
            node = self._any_node()
            height = node.tx_height(txhash.upper())
            if height is None:
                return None
            block_bytes, result_bytes, _ = node.block(height)
        block = codec.loads(block_bytes)
        return (
            TxResult.from_result(height, txhash.upper(), codec.loads(result_bytes)),
            block["tx"]["tx_bytes"],
            block["time"],
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
            self._platform.advance(height + 1)
            result: dict[str, Any] = codec.loads(result_bytes)
            return result

    def _halt(self, node: EnclaveNode, reason: str) -> None:
        log.error("node %s halted: %s", node.name, reason)
        node.halted = reason
        node.running = False

    def __repr__(self) -> str:
        return f"LocalSecretNetwork(chain_id={self.chain_id!r}, nodes={[n.name for n in self.nodes]})"
