"""Encryption to an owner device's Ed25519 key (:mod:`gridlock.crypto.x25519_seal` on its X25519 form).

The custody contract hands an exported share to the owner this way (:mod:`gridlock.enclave.
contract_owner`): sealed to the approving device's key, so that the guardian host that carries the
answer cannot read it.  The device's Ed25519 public key is mapped to its X25519 form (RFC 7748
birational map, libsodium's ``crypto_sign_ed25519_pk_to_curve25519``); the device opens with its
private key mapped the same way (``crypto_sign_ed25519_sk_to_curve25519``).
"""

from __future__ import annotations

from typing import Final

import nacl.bindings
import nacl.exceptions

from gridlock.crypto import transcript, x25519_seal
from gridlock.crypto.x25519_seal import SEALED_OVERHEAD
from gridlock.errors import InvalidParameterError

__all__ = ["LABEL", "SEALED_OVERHEAD", "export_context", "open_sealed", "seal"]

LABEL: Final = b"gridlock/device-seal/v1"
EXPORT_LABEL: Final = b"gridlock/device-seal/export/v1"


def _x25519_public(ed25519_public: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise InvalidParameterError("not an Ed25519 public key") from None


def seal(device: bytes, plaintext: bytes, context: bytes, ephemeral_seed: bytes) -> bytes:
    """``plaintext`` sealed to the Ed25519 public key ``device``, bound to ``context``."""
    if len(ephemeral_seed) != 32:
        raise InvalidParameterError("the ephemeral seed is 32 bytes")
    return x25519_seal.seal(_x25519_public(device), plaintext, context, ephemeral_seed, label=LABEL)


def open_sealed(device_private: bytes, sealed: bytes, context: bytes) -> bytes:
    """What :func:`seal` sealed to the device whose Ed25519 private key (32-byte seed) is
    ``device_private``, under the same ``context``; ``DecodeError`` for anything else."""
    signing = nacl.bindings.crypto_sign_seed_keypair(device_private)
    private = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(signing[1])
    return x25519_seal.open_sealed(private, sealed, context, label=LABEL)


def export_context(vault_id: str, index: int, device: bytes) -> bytes:
    """The context an exported share is sealed under: which vault and share, for which device (the
    owner rebuilds the key from the shares and checks it against the vault's public key)."""
    return transcript.encode(EXPORT_LABEL, vault_id.encode(), transcript.int_field(index), device)
