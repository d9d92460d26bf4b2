"""Typed errors of the enclave emulation (all subclasses of :class:`gridlock.errors.GridlockError`).

Messages never contain secret material: they say what was wrong, not the value that was wrong.

How a failed contract call is reported.  The network (:mod:`gridlock.enclave.network`) raises
:class:`ContractError`; a contract's own error is encrypted for the caller (AES-SIV under the
caller's transaction key, AD ``[b""]``) inside the chain's ``raw_log``, which the official clients'
regular expressions find and decrypt; an *enclave* error (the message cannot be decrypted or names
another code hash) is plaintext, as on the real chain (Secret Network encrypts only the
contract's ``StdError``):

=============================  ==========================================  =====================================
failure                        real Secret Network                         here
=============================  ==========================================  =====================================
contract ``StdError``          encrypted ``{"generic_err":…}`` etc.        the same
wrong code hash                plaintext ``Execution error: Enclave:       the same
                               failed to validate transaction``
tampered ciphertext, wrong     plaintext ``Execution error: Enclave:       the same
AD, other io key, < 64 bytes   failed to decrypt data``
replayed signed transaction    the ante handler refuses it in plaintext    the same (signed transactions,
                               (``account sequence mismatch``, code 32)    :mod:`~gridlock.enclave.cosmos_tx`)
forged sender, bad signature   plaintext ``signature verification          the same (code 4 / 8, codespace
                               failed`` / ``invalid pubkey``               ``sdk``)
the same ciphertext in a new   runs again (no enclave check)               the chain refuses a (nonce, public
signed transaction                                                         key) that already authenticated,
                                                                           with an encrypted ``replayed
                                                                           message`` error
unknown contract               plaintext ``not found``                     plaintext
=============================  ==========================================  =====================================
"""

from __future__ import annotations

import base64

from gridlock.errors import DecodeError, GridlockError, InvalidParameterError
from gridlock.guardian.store.errors import KeystoreError

__all__ = [
    "AttestationError",
    "CodeHashMismatch",
    "ConsensusFailure",
    "ContractBusy",
    "ContractError",
    "ContractNotFound",
    "Culprit",
    "DecryptionFailed",
    "EnclaveCryptoError",
    "EnclaveError",
    "InvalidAddress",
    "InvalidKey",
    "MalformedMessage",
    "NetworkError",
    "NoOwner",
    "NotRegistered",
    "OwnerMismatch",
    "RateLimited",
    "RegistrationRefused",
    "SealingError",
    "TimeLocked",
    "Unauthorized",
    "UntrustedContract",
    "WrongPassword",
]


class EnclaveError(GridlockError):
    """Base class of every error of :mod:`gridlock.enclave`."""


class InvalidAddress(EnclaveError, DecodeError):
    """Not a bech32 account or contract address with the expected prefix."""


class EnclaveCryptoError(EnclaveError):
    """A failure of the Secret Network encryption protocol."""


class InvalidKey(EnclaveCryptoError, InvalidParameterError):
    """A key of the wrong size, or an X25519 public key of small order (all-zero shared secret)."""


class MalformedMessage(EnclaveCryptoError, DecodeError):
    """Bytes that are not a ``nonce(32) ‖ public key(32) ‖ ciphertext`` message (too short)."""


class DecryptionFailed(EnclaveCryptoError):
    """AES-SIV authentication failed: a tampered ciphertext, another key, or other associated data.
    The enclave's own wording is ``failed to decrypt data``."""


class CodeHashMismatch(EnclaveCryptoError):
    """The decrypted message names another contract code (its 64-hex-character prefix is not the
    sha256 of the contract's code).  The enclave's own wording is ``failed to validate transaction``."""


class SealingError(EnclaveError):
    """A sealed blob that this (emulated) CPU and enclave measurement cannot unseal."""


class AttestationError(EnclaveError):
    """An attestation report that does not verify (signature, measurement or registration key)."""


class RegistrationRefused(AttestationError):
    """The network refused to register a node: it gets no consensus seed."""


class NotRegistered(EnclaveError):
    """The node's enclave holds no consensus seed (it was never registered, or was refused)."""


class NetworkError(EnclaveError):
    """The emulated network cannot serve the request (no live node, unknown contract, …)."""


class ContractNotFound(NetworkError):
    """No contract at this address."""


class ConsensusFailure(NetworkError):
    """Live nodes computed different results for the same block (one of them is faulty)."""


class ContractError(EnclaveError):
    """A contract call that failed, reported the way Secret Network reports it.

    ``encrypted`` is the error encrypted for the caller (AES-SIV under the caller's transaction key,
    associated data ``[b""]``) — the client decrypts it with the nonce of its own message and gets
    the contract's ``StdError`` JSON, e.g. ``{"generic_err":{"msg":"..."}}``.  ``plaintext`` is set
    instead when the failure happened before any key could be derived (a message shorter than the
    64-byte nonce and public key prefix, an unknown contract).  ``raw_log`` (also ``str(exc)``) is
    the chain's text: ``failed to execute message; message index: 0: encrypted: <base64>: execute
    contract failed`` or ``encrypted: <base64>: query contract failed`` — the forms the official
    clients' regular expressions look for.
    """

    def __init__(
        self,
        *,
        operation: str,
        encrypted: bytes | None = None,
        plaintext: str | None = None,
        nonce: bytes | None = None,
        code: int = 3,
    ) -> None:
        self.operation = operation
        self.encrypted = encrypted
        self.plaintext = plaintext
        self.nonce = nonce
        self.code = code
        self.raw_log = raw_log(operation, encrypted, plaintext)
        super().__init__(self.raw_log)


def raw_log(operation: str, encrypted: bytes | None, plaintext: str | None) -> str:
    """The chain's error text for a failed ``execute`` / ``instantiate`` / ``query``."""
    inner = f"encrypted: {base64.b64encode(encrypted).decode()}" if encrypted is not None else (plaintext or "error")
    text = f"{inner}: {operation} contract failed"
    if operation == "query":
        return text
    return f"failed to execute message; message index: 0: {text}"


# --- the custody contract's refusals, as the guardian keystore's errors ----------------------------------
class Unauthorized(KeystoreError):
    """The custody contract refused: another sender owns the vault, or the viewing key is wrong."""


class UntrustedContract(KeystoreError):
    """The contract's code hash is not the one pinned in the guardian's configuration."""

    code = "untrusted-contract"


class NoOwner(Unauthorized):
    """The vault has no owner pinned in the custody contract (created before pinning existed)."""


class OwnerMismatch(Unauthorized):
    """The vault id was pinned to another owner in the contract before (a pin outlives its vault)."""


class TimeLocked(Unauthorized):
    """The contract's own device-recovery time lock has not ended (block time)."""


class RateLimited(Unauthorized):
    """The contract refuses password checks for this vault for now (too many wrong ones)."""


class WrongPassword(Unauthorized):
    """The contract's pinned verifier is another (counted by the contract)."""


class ContractBusy(KeystoreError):
    """The contract answers this vault's owner in a later block (a password check was made in this one)."""

    code = "busy"


class Culprit(KeystoreError):
    """The contract found what some nodes sealed to this guardian faulty (it does not open, or fails
    its check): ``nodes`` names them (none if the contract's text does not), ``reason`` says what."""

    code = "culprit"

    def __init__(self, text: str) -> None:
        listed, _, reason = text.partition(": ")
        parts = listed.split(",")
        self.nodes = tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()
        self.reason = reason if self.nodes else text
        super().__init__(text)
