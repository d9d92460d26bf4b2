"""Encryption to an owner device's Ed25519 key, with the ephemeral key given (not drawn).

The custody contract hands an exported share to the owner this way (:mod:`gridlock.enclave.
contract_owner`): sealed to the approving device's key, so that the guardian host that carries the
answer cannot read it.  A contract cannot draw randomness of its own — every node must compute the
same answer — so the ephemeral key is derived from ``env.block.random`` by the caller; everything
else is HPKE's base mode (RFC 9180 §5.1) with DHKEM(X25519) written out: the device's Ed25519 public
key mapped to its X25519 form (RFC 7748 birational map, libsodium's
``crypto_sign_ed25519_pk_to_curve25519``), ``shared = X25519(eph, device)``, the key from HKDF-SHA256
(RFC 5869) over the shared secret with both public keys and the caller's context, and one
ChaCha20-Poly1305 (RFC 8439) message under it with the context as associated data.  One key is
used for one message, so the all-zero nonce is safe.

The device opens it with its Ed25519 private key mapped the same way
(``crypto_sign_ed25519_sk_to_curve25519``).
"""

from __future__ import annotations

import hashlib
from typing import Final

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto import transcript
from gridlock.errors import DecodeError, InvalidParameterError

__all__ = ["SEALED_OVERHEAD", "export_context", "open_sealed", "seal"]

LABEL: Final = b"gridlock/device-seal/v1"
EXPORT_LABEL: Final = b"gridlock/device-seal/export/v1"
SEALED_OVERHEAD: Final = 32 + 16  # the ephemeral public key and the tag
_NONCE: Final = bytes(12)


def _x25519_public(ed25519_public: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise InvalidParameterError("not an Ed25519 public key") from None


def _key(shared: bytes, eph_public: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=eph_public + recipient,
        info=transcript.encode(LABEL, context),
    ).derive(shared)


def seal(device: bytes, plaintext: bytes, context: bytes, ephemeral_seed: bytes) -> bytes:
    """``plaintext`` sealed to the Ed25519 public key ``device``, bound to ``context``; the
    ephemeral key is derived from ``ephemeral_seed`` (32 bytes no one else knows, used once)."""
    if len(ephemeral_seed) != 32:
        raise InvalidParameterError("the ephemeral seed is 32 bytes")
    recipient = _x25519_public(device)
    eph = x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(LABEL + ephemeral_seed).digest())
    eph_public = eph.public_key().public_bytes_raw()
    shared = eph.exchange(x25519.X25519PublicKey.from_public_bytes(recipient))
    box = ChaCha20Poly1305(_key(shared, eph_public, recipient, context))
    return eph_public + box.encrypt(_NONCE, plaintext, context)


def open_sealed(device_private: bytes, sealed: bytes, context: bytes) -> bytes:
    """What :func:`seal` sealed to the device whose Ed25519 private key (32-byte seed) is
    ``device_private``, under the same ``context``; ``DecodeError`` for anything else."""
    if len(sealed) < SEALED_OVERHEAD:
        raise DecodeError("a sealed message is at least 48 bytes")
    signing = nacl.bindings.crypto_sign_seed_keypair(device_private)
    own = x25519.X25519PrivateKey.from_private_bytes(nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(signing[1]))
    recipient = own.public_key().public_bytes_raw()
    eph_public, body = sealed[:32], sealed[32:]
    try:
        shared = own.exchange(x25519.X25519PublicKey.from_public_bytes(eph_public))
        return ChaCha20Poly1305(_key(shared, eph_public, recipient, context)).decrypt(_NONCE, body, context)
    except (InvalidTag, ValueError):
        raise DecodeError("the sealed message does not open with this device key and context") from None


def export_context(vault_id: str, index: int, device: bytes) -> bytes:
    """The context an exported share is sealed under: which vault and share, for which device (the
    owner rebuilds the key from the shares and checks it against the vault's public key)."""
    return transcript.encode(EXPORT_LABEL, vault_id.encode(), transcript.int_field(index), device)
