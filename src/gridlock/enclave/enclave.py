"""The emulated SGX enclave of one node: it holds the consensus seeds and runs secret contracts.

Everything that SGX would keep inside the enclave lives in an :class:`Enclave` object: the sealed
registration key, the consensus seeds and every key derived from them, the decrypted messages and
the plaintext contract state.  What crosses the boundary is what crosses it on Secret Network:

* in: the encrypted message, the contract's code and (public) contract key, the block header,
  and the *encrypted* state entries the host reads on the enclave's behalf (``host_get``);
* out: the encrypted output, encrypted errors (plaintext only when no key could be derived),
  encrypted log attributes, and the encrypted state writes for the host to store;
* sealed: :meth:`Enclave.seal` gives a blob only this (emulated) CPU running this measurement can
  unseal (AES-GCM under ``HKDF(fuse key, measurement)``).

Emulation, not SGX: Python cannot stop the process owner from reading an object's memory, and the
"fuse key" of the emulated CPU derives from the owner's secret (:mod:`gridlock.enclave.platform`).
The measurement is that of the enclave code running (:mod:`gridlock.enclave.measure`), so a
modified enclave cannot unseal what this one sealed, and the enclave runs a contract only if the
code it would run has the stored code's hash.  The boundary is a
discipline of this code — no method returns a seed, a derived key or plaintext state — and the
formats and keys are the real ones, so the attack surface a test can see is the real one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridlock.crypto import codec
from gridlock.enclave import crypto
from gridlock.enclave.attestation import AttestationReport, verify_report
from gridlock.enclave.contract import CUSTODY_CODE_HASH, CustodyContract, Env, MessageInfo, StdError
from gridlock.enclave.errors import (
    AttestationError,
    CodeHashMismatch,
    DecryptionFailed,
    EnclaveCryptoError,
    NotRegistered,
    SealingError,
)
from gridlock.enclave.measure import enclave_measurement, running_contract_hash
from gridlock.errors import DecodeError

__all__ = ["DECRYPT_FAILED", "VALIDATION_FAILED", "CallOutcome", "Enclave", "HostGet"]

HostGet = Callable[[bytes], bytes | None]
"""The host's read of one encrypted state entry (``db_key → db_value``) of the contract being run."""


def _load_contract(code: bytes) -> CustodyContract | str:
    """The contract for ``code`` (the stand-in for compiling the wasm), or why it is refused: the
    enclave runs only the custody contract, and only if the code it would run — measured now
    (:func:`~gridlock.enclave.measure.running_contract_hash`) — is the code the chain stores."""
    code_hash = crypto.code_hash_hex(code)
    if code_hash != CUSTODY_CODE_HASH:
        return "Execution error: Enclave: failed to find the contract code"
    if running_contract_hash() != code_hash:
        return "Execution error: Enclave: the contract code this enclave runs does not match its code hash"
    return CustodyContract()


_SEAL_VERSION: Final = 1
_SEAL_LABEL: Final = b"gridlock/enclave/seal/v1"
DECRYPT_FAILED: Final = "Execution error: Enclave: failed to decrypt data"
"""The enclave's ``EnclaveError::DecryptionError`` as the chain logs it: in plaintext (enclave errors
are not encrypted for the sender, only the contract's own ``StdError`` is)."""
VALIDATION_FAILED: Final = "Execution error: Enclave: failed to validate transaction"
"""``EnclaveError::ValidationFailure``: the message's code hash is not the contract's (plaintext)."""


@dataclass(frozen=True)
class CallOutcome:
    """What the enclave hands back to the host for one contract call (all of it may be public)."""

    ok: bool
    output: bytes = b""  # execute/instantiate: encrypted ``data``; query: encrypted result
    encrypted_error: bytes | None = None
    plaintext_error: str | None = None
    nonce: bytes | None = None
    attributes: tuple[tuple[bytes, bytes], ...] = ()  # encrypted (key, value) log attributes
    writes: tuple[tuple[bytes, bytes | None], ...] = ()  # (db_key, db_value | None = delete), sorted
    contract_key: bytes | None = None  # instantiate only
    authenticated: bool = False  # the input decrypted (AES-SIV verified): its nonce is now used


class _EncryptedStorage:
    """The contract's view of its storage: plaintext in, ciphertext out (``db.rs``, v3 scheme).

    Writes are buffered and handed to the host only when the call succeeds (a failed call changes
    nothing, as on the chain).  ``salt`` is ``None`` for queries: they may not write.
    """

    def __init__(self, host_get: HostGet, keys: crypto.KeyChain, contract_key: bytes, salt: bytes | None) -> None:
        self._host_get = host_get
        self._ikm = keys.state_ikm
        self._contract_key = contract_key
        self._salt = salt
        self._overlay: dict[bytes, tuple[bytes, bytes] | None] = {}  # db_key -> (plaintext, db_value) | deleted

    def _enc_key(self, key: bytes) -> tuple[bytes, bytes]:
        return crypto.encrypt_state_key(self._ikm, self._contract_key, bytes(key))

    def get(self, key: bytes) -> bytes | None:
        enc_key, db_key = self._enc_key(key)
        if db_key in self._overlay:
            entry = self._overlay[db_key]
            return None if entry is None else entry[0]
        raw = self._host_get(db_key)
        if raw is None:
            return None
        return crypto.decrypt_state_value(self._ikm, self._contract_key, enc_key, raw)

    def set(self, key: bytes, value: bytes) -> None:
        if self._salt is None:
            raise StdError.generic_err("storage is read-only in a query")
        enc_key, db_key = self._enc_key(key)
        db_value = crypto.encrypt_state_value(self._ikm, self._contract_key, enc_key, bytes(value), self._salt)
        self._overlay[db_key] = (bytes(value), db_value)

    def remove(self, key: bytes) -> None:
        if self._salt is None:
            raise StdError.generic_err("storage is read-only in a query")
        _, db_key = self._enc_key(key)
        self._overlay[db_key] = None

    def writes(self) -> tuple[tuple[bytes, bytes | None], ...]:
        return tuple(sorted((k, None if v is None else v[1]) for k, v in self._overlay.items()))


@dataclass
class _Secrets:
    registration_private: bytes
    keys: crypto.KeyChain | None = None


class Enclave:
    """One node's enclave.  Create with :meth:`create` or :meth:`unseal`."""

    def __init__(self, fuse_key: bytes, measurement: bytes, secrets: _Secrets) -> None:
        if len(fuse_key) != 32 or len(measurement) != 32:
            raise SealingError("the fuse key and the measurement are 32 bytes")
        self._fuse_key = bytes(fuse_key)
        self.measurement = bytes(measurement)
        self._s = secrets
        self.registration_key: bytes = crypto.x25519_public_key(secrets.registration_private)

    @classmethod
    def create(cls, fuse_key: bytes, measurement: bytes | None = None) -> Enclave:
        """A fresh enclave (``init-enclave``): a new random registration key, no seeds yet.  Its
        measurement is that of the enclave code running now unless a test stands in another."""
        return cls(fuse_key, enclave_measurement() if measurement is None else measurement, _Secrets(os.urandom(32)))

    # -- sealing ------------------------------------------------------------------------------------------
    def _seal_key(self) -> AESGCM:
        return AESGCM(crypto.derive_from_key(hashlib.sha256(self._fuse_key).digest(), _SEAL_LABEL + self.measurement))

    def seal(self) -> bytes:
        body = codec.dumps(
            {
                "registration_private": self._s.registration_private,
                "seeds": list(self._s.keys.seeds) if self._s.keys else [],
            }
        )
        nonce = os.urandom(12)
        return bytes([_SEAL_VERSION]) + nonce + self._seal_key().encrypt(nonce, body, self.measurement)

    @classmethod
    def unseal(cls, fuse_key: bytes, blob: bytes, measurement: bytes | None = None) -> Enclave:
        """Open a sealed blob: only the same emulated CPU (fuse key) running the same enclave code
        (measurement; by default the code running now) can, as with SGX's MRENCLAVE sealing policy."""
        if measurement is None:
            measurement = enclave_measurement()
        shell = cls(fuse_key, measurement, _Secrets(bytes(32)))
        if not isinstance(blob, bytes) or len(blob) < 1 + 12 + 16 or blob[0] != _SEAL_VERSION:
            raise SealingError("not a sealed enclave blob")
        try:
            body = shell._seal_key().decrypt(blob[1:13], blob[13:], measurement)
            obj = codec.loads(body)
            reg = obj["registration_private"]
            seeds = obj["seeds"]
        except (InvalidTag, DecodeError, KeyError, TypeError):
            raise SealingError("this CPU and enclave measurement cannot unseal the blob") from None
        keys = crypto.KeyChain.from_seeds(seeds) if seeds else None
        return cls(fuse_key, measurement, _Secrets(reg, keys))

    # -- the consensus seed ---------------------------------------------------------------------------------
    @property
    def has_seeds(self) -> bool:
        return self._s.keys is not None

    def _keys(self) -> crypto.KeyChain:
        if self._s.keys is None:
            raise NotRegistered("this enclave holds no consensus seed")
        return self._s.keys

    @property
    def io_public_key(self) -> bytes:
        return self._keys().io_public

    @property
    def seed_exchange_public_key(self) -> bytes:
        return self._keys().seed_exchange_public

    def bootstrap(self, seed_count: int = 2) -> None:
        """The bootstrap node (``init-bootstrap``): make the consensus seeds (genesis and current)."""
        if self._s.keys is not None:
            raise AttestationError("this enclave already holds a consensus seed")
        self._s.keys = crypto.KeyChain.generate(seed_count)

    def share_seeds(
        self,
        report_bytes: bytes,
        *,
        registration_key: bytes,
        authority_public_key: bytes,
        chain_id: str,
        accepted_measurements: frozenset[bytes],
    ) -> bytes:
        """A registered enclave answering a registration: verify the report, then encrypt every seed
        for the new node (48 bytes each).  :class:`AttestationError` if the report does not verify."""
        keys = self._keys()
        report = AttestationReport.from_bytes(report_bytes)
        verify_report(
            report,
            authority_public_key=authority_public_key,
            chain_id=chain_id,
            registration_key=registration_key,
            accepted_measurements=accepted_measurements,
        )
        try:
            return crypto.encrypt_seeds(keys.seed_exchange_private, registration_key, keys.seeds)
        except EnclaveCryptoError as exc:
            raise AttestationError(f"cannot share the seed with this registration key: {exc}") from None

    def verify_bootstrap(
        self, report_bytes: bytes, *, authority_public_key: bytes, chain_id: str, accepted: frozenset[bytes]
    ) -> None:
        report = AttestationReport.from_bytes(report_bytes)
        verify_report(
            report,
            authority_public_key=authority_public_key,
            chain_id=chain_id,
            registration_key=report.registration_key,
            accepted_measurements=accepted,
        )

    def receive_seeds(self, encrypted: bytes, seed_exchange_public: bytes, expected_io_public: bytes) -> None:
        """The new node's side of registration: decrypt the seeds and check they are the network's."""
        try:
            seeds = crypto.decrypt_seeds(self._s.registration_private, seed_exchange_public, encrypted)
        except (DecryptionFailed, EnclaveCryptoError) as exc:
            raise AttestationError(f"the encrypted seed does not open for this enclave: {exc}") from None
        keys = crypto.KeyChain.from_seeds(seeds)
        if keys.io_public != expected_io_public or keys.seed_exchange_public != seed_exchange_public:
            raise AttestationError("the shared seed does not derive the network's public keys")
        self._s.keys = keys

    # -- contracts -----------------------------------------------------------------------------------------
    def instantiate(
        self,
        host_get: HostGet,
        *,
        code: bytes,
        env: Env,
        sender: str,
        sender_canonical: bytes,
        contract_canonical: bytes,
        msg: bytes,
    ) -> CallOutcome:
        keys = self._keys()
        code_hash = hashlib.sha256(code).digest()
        ckey = crypto.contract_key(keys.state_ikm[0], sender_canonical, env.block_height, code_hash, contract_canonical)
        outcome = self._call(
            "instantiate", host_get, code=code, env=env, sender=sender, contract_key=ckey, msg=msg, replayed=False
        )
        return dataclasses.replace(outcome, contract_key=ckey if outcome.ok else None)

    def execute(
        self,
        host_get: HostGet,
        *,
        code: bytes,
        env: Env,
        sender: str,
        contract_key: bytes,
        contract_canonical: bytes,
        msg: bytes,
        replayed: bool,
    ) -> CallOutcome:
        return self._call(
            "execute",
            host_get,
            code=code,
            env=env,
            sender=sender,
            contract_key=contract_key,
            msg=msg,
            replayed=replayed,
            contract_canonical=contract_canonical,
        )

    def query(
        self, host_get: HostGet, *, code: bytes, env: Env, contract_key: bytes, contract_canonical: bytes, msg: bytes
    ) -> CallOutcome:
        return self._call(
            "query",
            host_get,
            code=code,
            env=env,
            sender="",
            contract_key=contract_key,
            msg=msg,
            replayed=False,
            contract_canonical=contract_canonical,
        )

    def _call(
        self,
        op: str,
        host_get: HostGet,
        *,
        code: bytes,
        env: Env,
        sender: str,
        contract_key: bytes,
        msg: bytes,
        replayed: bool,
        contract_canonical: bytes | None = None,
    ) -> CallOutcome:
        keys = self._keys()
        try:
            wire = crypto.SecretMessage.from_bytes(msg)
            key = wire.encryption_key(keys.io_private)
        except EnclaveCryptoError as exc:
            return CallOutcome(False, plaintext_error=f"Execution error: Enclave: failed to decrypt data ({exc})")

        authenticated = False

        def fail(error: dict[str, Any]) -> CallOutcome:
            return CallOutcome(
                False, encrypted_error=crypto.encrypt_error(key, error), nonce=wire.nonce, authenticated=authenticated
            )

        if replayed:
            return fail({"generic_err": {"msg": "replayed message: this nonce and public key were already used"}})
        contract = _load_contract(code)
        if isinstance(contract, str):
            return CallOutcome(False, plaintext_error=contract)
        code_hash = hashlib.sha256(code).digest()
        if contract_canonical is not None and not crypto.verify_contract_key(
            keys.state_ikm[0], contract_key, code_hash, contract_canonical
        ):
            return fail({"generic_err": {"msg": "failed to authenticate secret contract"}})
        try:
            decrypted = wire.decrypt(key)
        except DecryptionFailed:  # an enclave error: plaintext on the real chain too
            return CallOutcome(False, plaintext_error=DECRYPT_FAILED)
        authenticated = True
        try:
            body = crypto.validate_code_hash(decrypted, code_hash.hex())
        except CodeHashMismatch:
            return CallOutcome(False, plaintext_error=VALIDATION_FAILED, nonce=wire.nonce, authenticated=True)
        salt = None if op == "query" else crypto.encryption_salt(env.block_time, env.block_height, 0)
        if op != "query":
            random = crypto.block_random(keys.state_ikm[-1], env.block_height, env.block_time, wire.nonce)
            env = dataclasses.replace(env, random=random)
        storage = _EncryptedStorage(host_get, keys, contract_key, salt)
        try:
            if op == "query":
                result = contract.query(storage, env, body)
                return CallOutcome(True, output=crypto.encrypt_binary(key, result), nonce=wire.nonce)
            info = MessageInfo(sender)
            if op == "instantiate":
                response = contract.instantiate(storage, env, info, body)
            else:
                response = contract.execute(storage, env, info, body)
        except StdError as exc:
            return fail(exc.to_json())
        except DecryptionFailed:  # the host handed us state that is not ours (tampered)
            return fail({"generic_err": {"msg": "failed to decrypt contract state"}})
        except Exception:  # a trap in the contract: the call fails, the node keeps serving
            return fail({"generic_err": {"msg": "execution error: the contract panicked"}})
        output = b"" if response.data is None else crypto.encrypt_binary(key, response.data)
        attributes = tuple(
            (crypto.encrypt_output(key, k.encode()), crypto.encrypt_output(key, v.encode()))
            for k, v in response.attributes
        )
        return CallOutcome(
            True, output=output, nonce=wire.nonce, attributes=attributes, writes=storage.writes(), authenticated=True
        )

    def burn_items(
        self, host_get: HostGet, *, code: bytes, env: Env, contract_key: bytes, contract_canonical: bytes
    ) -> CallOutcome:
        """After a detected rollback: the custody contract burns every single-use item stored before
        this block (:meth:`CustodyContract.burn_items`).  Not a message a client can send — the
        network commits it when its monotonic counter is ahead of the chain it resumed
        (:mod:`gridlock.enclave.network`); the counter is what SGX's monotonic counters stand for."""
        keys = self._keys()
        contract = _load_contract(code)
        if isinstance(contract, str):
            return CallOutcome(False, plaintext_error=contract)
        if not crypto.verify_contract_key(
            keys.state_ikm[0], contract_key, hashlib.sha256(code).digest(), contract_canonical
        ):
            return CallOutcome(
                False, plaintext_error="Execution error: Enclave: failed to authenticate secret contract"
            )
        storage = _EncryptedStorage(
            host_get, keys, contract_key, crypto.encryption_salt(env.block_time, env.block_height, 0)
        )
        try:
            contract.burn_items(storage, env)
        except (StdError, DecryptionFailed):
            return CallOutcome(False, plaintext_error="Execution error: Enclave: failed to burn the items")
        return CallOutcome(True, writes=storage.writes(), authenticated=True)

    def __repr__(self) -> str:
        state = "registered" if self.has_seeds else "unregistered"
        return f"Enclave(registration_key={self.registration_key.hex()}, {state}, secrets=<redacted>)"
