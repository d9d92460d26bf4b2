"""``EnclaveKeystore``: the guardian keystore interface, backed by the custody contract.

It has the methods of :class:`gridlock.guardian.store.Keystore` that a
:class:`~gridlock.guardian.node.GuardianNode` and the guardian service use, with the same
semantics and the same exceptions (``NotFound``, ``Retired``, ``EpochConflict``, ``ShareMismatch``,
``AlreadyExists``, ``AlreadyUsed``, ``BadArgument``, ``StorageError`` — all ``KeystoreError``), so
it can be passed where a ``Keystore`` is expected.  Every call is a message to the custody contract
encrypted with the Secret Network protocol (:class:`~gridlock.enclave.crypto.ClientEncryption`, a
fresh nonce each time); writes are transactions (``execute``), reads are queries authenticated by
a viewing key set when the keystore is opened.

FROST shares stay in the contract: ``active_share``/``share`` return their sealed view
(:class:`~gridlock.crypto.sealed.SealedShare`, public data only), and the guardian signs through
:meth:`EnclaveKeystore.share_backend` (:mod:`gridlock.enclave.signer`), whose nonces and signature
shares are made by the contract (:mod:`gridlock.enclave.contract_frost`).  Threshold-ECDSA shares
come back whole, as from the SQLite keystore (their presigning runs in the guardian).  A FROST
share's refresh, reshare and repair run in the contract too (:meth:`EnclaveKeystore.refresh_share`,
:mod:`gridlock.enclave.keychange`): no call returns its secret.

Code pinning: opened with ``code_hash`` (the guardian pins the hash of the custody contract it was
configured with), the keystore refuses a contract whose code hash on chain is another
(:class:`UntrustedContract`) — a swapped contract never sees a message of this guardian.

Differences from the SQLite keystore: rollback detection is the network's (its monotonic counter,
:mod:`gridlock.enclave.platform`; single-use items are tombstoned on chain and burned after a
detected restore), no ``path``/``generation``; ``checkpoint`` and ``close`` only end the session.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.sealed import SealedShare
from gridlock.enclave import custody_ledger
from gridlock.enclave.address import canonical, check_sender
from gridlock.enclave.contract_calls import ContractSteps, _b64, _epoch_args, _unb64
from gridlock.enclave.crypto import ClientEncryption
from gridlock.enclave.errors import (
    ContractBusy,
    ContractError,
    Culprit,
    DecryptionFailed,
    EnclaveError,
    NoOwner,
    OwnerMismatch,
    RateLimited,
    TimeLocked,
    Unauthorized,
    UntrustedContract,
    WrongPassword,
)
from gridlock.enclave.signer import ContractShares
from gridlock.errors import GridlockError
from gridlock.guardian.shares import OwnerPin, ShareBackend
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import ERROR_CODES, BadArgument, Corrupted, KeystoreError, StorageError
from gridlock.guardian.store.protocol import VaultRecord
from gridlock.policy.ledger import Entry

__all__ = [
    "EnclaveKeystore",
    "NoOwner",
    "RateLimited",
    "SecretChain",
    "TimeLocked",
    "Unauthorized",
    "UntrustedContract",
    "WrongPassword",
]


_ERRORS: Final[dict[str, type[KeystoreError]]] = {
    **ERROR_CODES,
    "unauthorized": Unauthorized,
    "no-owner": NoOwner,
    "owner-mismatch": OwnerMismatch,
    "time-locked": TimeLocked,
    "rate-limited": RateLimited,
    "busy": ContractBusy,
    "culprit": Culprit,
}
"""The custody contract's error codes (the shared rules' errors, by their ``code``) and its own."""


class SecretChain(Protocol):
    """What the keystore needs of a Secret Network (``LocalSecretNetwork`` has it)."""

    @property
    def consensus_io_pubkey(self) -> bytes: ...

    @property
    def custody_address(self) -> str: ...

    def code_hash(self, contract: str) -> str: ...

    def execute(self, sender: str, contract: str, encrypted_msg: bytes) -> bytes: ...

    def query(self, contract: str, encrypted_query: bytes) -> bytes: ...


def _metadata_arg(metadata: object) -> Any:
    """Metadata as the contract will store it: the canonical JSON of the shared rules."""
    return json.loads(rules.encode_metadata(metadata))


class EnclaveKeystore(ContractSteps):
    """A guardian's keystore kept by the custody contract of a Secret Network."""

    def __init__(
        self,
        chain: SecretChain,
        *,
        sender: str,
        contract: str,
        viewing_key: str | None = None,
        encryption_seed: bytes | None = None,
        code_hash: str | None = None,
    ) -> None:
        try:
            check_sender(sender)
            canonical(contract)
        except EnclaveError as exc:
            raise BadArgument(f"bad address: {exc}") from None
        self._chain: SecretChain | None = chain
        self.sender = sender
        self.contract = contract
        try:
            self._code_hash = chain.code_hash(contract)
            self._enc = ClientEncryption(chain.consensus_io_pubkey, encryption_seed)
        except GridlockError as exc:
            raise StorageError(f"cannot reach the custody contract: {exc}") from None
        if code_hash is not None and not hmac.compare_digest(self._code_hash, code_hash.lower()):
            raise UntrustedContract(
                f"the contract at {contract} has code hash {self._code_hash}, not the pinned {code_hash.lower()}"
            )
        self._viewing_key = viewing_key or secrets.token_urlsafe(32)
        self._execute({"set_viewing_key": {"key": self._viewing_key}})

    @classmethod
    def open(
        cls,
        chain: SecretChain,
        *,
        sender: str,
        contract: str | None = None,
        viewing_key: str | None = None,
        encryption_seed: bytes | None = None,
        code_hash: str | None = None,
    ) -> EnclaveKeystore:
        """Open the keystore of ``sender`` (the guardian's chain account) in the custody contract
        (``chain.custody_address`` by default).  Sets a fresh viewing key unless one is given.
        With ``code_hash``, a contract whose code hash differs is refused (:class:`UntrustedContract`)."""
        if contract is None:
            contract = chain.custody_address
        return cls(
            chain,
            sender=sender,
            contract=contract,
            viewing_key=viewing_key,
            encryption_seed=encryption_seed,
            code_hash=code_hash,
        )

    # -- transport ---------------------------------------------------------------------------------------
    def _need_chain(self) -> SecretChain:
        if self._chain is None:
            raise StorageError("the keystore is closed")
        return self._chain

    def _raise(self, exc: ContractError) -> KeystoreError:
        if exc.encrypted is None or exc.nonce is None:
            return StorageError(f"the custody contract failed: {exc.plaintext or exc.raw_log}")
        try:
            err = json.loads(self._enc.decrypt(exc.encrypted, exc.nonce))
        except (DecryptionFailed, ValueError):
            return StorageError("the custody contract's error does not decrypt")
        if isinstance(err, dict) and "generic_err" in err:
            msg = str(err["generic_err"].get("msg", ""))
            code, _, text = msg.partition(": ")
            cls = _ERRORS.get(code)
            if cls is not None:
                return cls(text)
            return StorageError(f"the custody contract failed: {msg}")
        if isinstance(err, dict) and ("parse_err" in err or "invalid_base64" in err):
            return BadArgument(f"the custody contract could not parse the request: {err}")
        return StorageError(f"the custody contract failed: {err}")

    def _decode(self, ciphertext: bytes, nonce: bytes) -> dict[str, Any]:
        try:
            value = json.loads(base64.b64decode(self._enc.decrypt(ciphertext, nonce), validate=True))
        except (DecryptionFailed, binascii.Error, ValueError):
            raise Corrupted("the custody contract's answer does not decrypt or decode") from None
        if not isinstance(value, dict):
            raise Corrupted("the custody contract's answer is not an object")
        return value

    def _execute(self, msg: dict[str, Any]) -> dict[str, Any]:
        chain = self._need_chain()
        blob = self._enc.encrypt(self._code_hash, json.dumps(msg, separators=(",", ":")))
        try:
            out = chain.execute(self.sender, self.contract, blob)
        except ContractError as exc:
            raise self._raise(exc) from None
        except GridlockError as exc:
            raise StorageError(f"the network refused the transaction: {exc}") from None
        return self._decode(out, blob[:32])

    def _query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        chain = self._need_chain()
        msg = {name: {**body, "address": self.sender, "key": self._viewing_key}}
        blob = self._enc.encrypt(self._code_hash, json.dumps(msg, separators=(",", ":")))
        try:
            out = chain.query(self.contract, blob)
        except ContractError as exc:
            raise self._raise(exc) from None
        except GridlockError as exc:
            raise StorageError(f"the network refused the query: {exc}") from None
        return self._decode(out, blob[:32])

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """End the session (idempotent).  The shares stay in the contract."""
        self._chain = None

    def checkpoint(self) -> None:
        self._need_chain()

    def __enter__(self) -> EnclaveKeystore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._chain is not None else "closed"
        return f"EnclaveKeystore(sender={self.sender!r}, contract={self.contract!r}, {state})"

    __str__ = __repr__

    # -- identity ----------------------------------------------------------------------------------------
    def put_identity(self, blob: bytes, *, replace: bool = False) -> None:
        if not isinstance(blob, bytes) or not blob:
            raise BadArgument("an identity is a non-empty byte string")
        self._execute({"put_identity": {"blob": _b64(blob), "replace": bool(replace)}})

    def get_identity(self) -> bytes | None:
        blob = self._query("identity", {}).get("blob")
        return None if blob is None else _unb64(blob)

    # -- shares -------------------------------------------------------------------------------------------
    @staticmethod
    def _share_arg(share: object) -> str:
        if not isinstance(share, KeyShare):
            raise BadArgument("a KeyShare is needed")
        return _b64(share.to_bytes())

    def store_pending(
        self,
        vault_id: str,
        share: KeyShare,
        *,
        metadata: Mapping[str, Any] | None = None,
        owner: OwnerPin | None = None,
    ) -> None:
        """Store a pending share; a sealed one is the share the contract made (:meth:`refresh_share`)
        and staged, which it now makes the pending epoch.  ``owner``: pin the owner of a vault this
        store creates (:mod:`gridlock.enclave.contract_owner`)."""
        body: dict[str, Any] = {"vault_id": rules.check_vault_id(vault_id)}
        if owner is not None:
            body["owner"] = {
                "devices": [_b64(d) for d in owner.devices],
                "required": owner.required,
                "verifier_digest": _b64(owner.verifier_digest),
                "recovery_delay": owner.recovery_delay,
            }
        if isinstance(share, SealedShare):
            body["staged_epoch"] = share.epoch
        else:
            body["share"] = self._share_arg(share)
        if metadata is not None:
            body["metadata"] = _metadata_arg(metadata)
        self._execute({"store_pending": body})

    def activate(self, vault_id: str, epoch: int) -> None:
        self._execute({"activate": _epoch_args(vault_id, epoch)})

    def discard_pending(self, vault_id: str, epoch: int) -> None:
        self._execute({"discard_pending": _epoch_args(vault_id, epoch)})

    def purge_retired(self, vault_id: str) -> int:
        return int(self._execute({"purge_retired": {"vault_id": rules.check_vault_id(vault_id)}})["purged"])

    def delete_vault(self, vault_id: str) -> None:
        self._execute({"delete_vault": {"vault_id": rules.check_vault_id(vault_id)}})

    def _load_share(self, answer: dict[str, Any]) -> KeyShare:
        try:
            if answer.get("sealed") is True:
                return SealedShare.from_sealed(_unb64(answer.get("share")))
            return KeyShare.from_bytes(_unb64(answer.get("share")))
        except GridlockError:
            raise Corrupted("the custody contract returned a share that does not decode") from None

    def active_share(self, vault_id: str) -> KeyShare:
        return self._load_share(self._query("share", {"vault_id": rules.check_vault_id(vault_id)}))

    def share(self, vault_id: str, epoch: int) -> KeyShare:
        return self._load_share(self._query("share", _epoch_args(vault_id, epoch)))

    def public_share(self, vault_id: str, epoch: int, path: str) -> SealedShare:
        """The sealed view of this guardian's share of the vault's key at ``path`` (a FROST vault)."""
        share = self._load_share(self._query("share", {**_epoch_args(vault_id, epoch), "path": str(path)}))
        if not isinstance(share, SealedShare):
            raise Corrupted("the custody contract answered a share where a sealed view was asked for")
        return share

    def share_backend(self) -> ShareBackend:
        """FROST shares are used inside the contract (:class:`~gridlock.enclave.signer.ContractShares`)."""
        return ContractShares(self)

    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None:
        self._execute({"update_share": {**_epoch_args(vault_id, epoch), "share": self._share_arg(share)}})

    # -- records and metadata ----------------------------------------------------------------------------
    @staticmethod
    def _record(r: dict[str, Any]) -> VaultRecord:
        try:
            return VaultRecord(
                vault_id=str(r["vault_id"]),
                scheme=str(r["scheme"]),
                public_key=bytes.fromhex(r["public_key"]),
                index=int(r["index"]),
                threshold=int(r["threshold"]),
                participants=tuple(int(p) for p in r["participants"]),
                active_epoch=None if r["active_epoch"] is None else int(r["active_epoch"]),
                pending_epochs=tuple(int(e) for e in r["pending_epochs"]),
                retired_epochs=tuple(int(e) for e in r["retired_epochs"]),
            )
        except (KeyError, TypeError, ValueError):
            raise Corrupted("the custody contract returned a malformed vault record") from None

    def vaults(self) -> list[VaultRecord]:
        records = self._query("vaults", {}).get("vaults")
        if not isinstance(records, list):
            raise Corrupted("the custody contract returned a malformed vault list")
        return sorted((self._record(r) for r in records), key=lambda v: v.vault_id)

    def vault(self, vault_id: str) -> VaultRecord:
        return self._record(self._query("record", {"vault_id": rules.check_vault_id(vault_id)}))

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """Every vault's metadata, by vault id (one query per vault: the contract has no bulk query)."""
        return {r.vault_id: self.metadata(r.vault_id) for r in self.vaults()}

    def metadata(self, vault_id: str) -> dict[str, Any]:
        meta = self._query("metadata", {"vault_id": rules.check_vault_id(vault_id)}).get("metadata")
        if not isinstance(meta, dict):
            raise Corrupted(f"the metadata of vault {vault_id!r} is damaged")
        return meta

    def set_metadata(self, vault_id: str, metadata: Mapping[str, Any] | None, *, ledger: Sequence[Entry] = ()) -> None:
        body: dict[str, Any] = {"vault_id": rules.check_vault_id(vault_id)}
        if metadata is not None:
            body["metadata"] = _metadata_arg(metadata)
        if ledger:
            body["ledger"] = [custody_ledger.encode_entry(e) for e in ledger]
        if metadata is not None or ledger:
            self._execute({"set_metadata": body})

    def ledger(self, vault_id: str, since: int) -> list[Entry]:
        raw = self._query("ledger", {"vault_id": rules.check_vault_id(vault_id), "since": max(0, int(since))})
        try:
            return custody_ledger.decode_entries(raw.get("entries"), None)
        except KeystoreError:
            raise Corrupted(f"the policy ledger of vault {vault_id!r} is damaged") from None

    def paid_before(self, vault_id: str, chain: str, destinations: Sequence[str], before: int) -> frozenset[str]:
        body = {
            "vault_id": rules.check_vault_id(vault_id),
            "chain": chain,
            "destinations": list(destinations)[:64],
            "before": max(0, int(before)),
        }
        found = self._query("paid", body).get("paid")
        if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
            raise Corrupted("the custody contract returned a malformed answer")
        return frozenset(found)

    # -- single-use items -----------------------------------------------------------------------------------
    def _add(self, kind: str, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        pairs = [[_b64(i), _b64(b)] for i, b in rules.check_batch(items)]
        self._execute({"add_items": {**_epoch_args(vault_id, epoch), "kind": kind, "items": pairs}})

    def _take(self, kind: str, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        body = {**_epoch_args(vault_id, epoch), "kind": kind, "item_id": _b64(rules.check_item_id(item_id))}
        return _unb64(self._execute({"take_item": body}).get("blob"))

    def claim_session(
        self,
        vault_id: str,
        epoch: int,
        session_id: bytes,
        *,
        metadata: Mapping[str, Any] | None = None,
        ledger: Sequence[Entry] = (),
    ) -> None:
        """As :meth:`gridlock.guardian.store.Keystore.claim_session`: a used "session" item.  The
        contract takes the claim and the metadata as two executes (claim first: a repeated session
        writes nothing)."""
        self._add("session", vault_id, epoch, [(session_id, b"\x01")])
        self.set_metadata(vault_id, metadata, ledger=ledger)

    def add_presignatures(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        self._add("presignature", vault_id, epoch, items)

    def take_presignature(self, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        return self._take("presignature", vault_id, epoch, item_id)

    def add_nonces(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        self._add("nonce", vault_id, epoch, items)

    def take_nonce(self, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        return self._take("nonce", vault_id, epoch, item_id)

    def _items(self, vault_id: str, epoch: int, kind: str) -> dict[str, Any]:
        return self._query("items", {**_epoch_args(vault_id, epoch), "kind": rules.check_kind(kind)})

    def count_unused(self, vault_id: str, epoch: int, kind: rules.ItemKind = "presignature") -> int:
        return int(self._items(vault_id, epoch, kind)["unused"])

    def unused_ids(self, vault_id: str, epoch: int, kind: rules.ItemKind = "presignature") -> list[bytes]:
        return [_unb64(i) for i in self._items(vault_id, epoch, kind)["ids"]]
