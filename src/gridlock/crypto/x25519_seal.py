"""Encryption to an X25519 public key with the ephemeral key given, not drawn.

A custody contract cannot draw randomness of its own — every node of the chain must compute the
same answer — so whoever seals passes a 32-byte ``ephemeral_seed`` no one else knows (the contract:
``env.block.random`` mixed with its counter and the request; a guardian process: the OS CSPRNG).
Everything else is HPKE's base mode (RFC 9180 §5.1) with DHKEM(X25519) written out:
``shared = X25519(eph, recipient)``, the key from HKDF-SHA256 (RFC 5869) over the shared secret with
both public keys as salt and the caller's context in ``info``, and one ChaCha20-Poly1305
(RFC 8439) message under it with the context as associated data.  One key seals one message, so
the all-zero nonce is safe.

Used for what a custody contract hands out through its untrusted host: an exported share sealed to
an owner device (:mod:`gridlock.crypto.device_seal`), and the values of a reshare or repair sealed
to the guardian that receives them (:mod:`gridlock.protocol.custody`).
"""

from __future__ import annotations

import hashlib
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto import transcript
from gridlock.errors import DecodeError, InvalidParameterError

__all__ = ["LABEL", "SEALED_OVERHEAD", "open_sealed", "public_key", "seal"]

LABEL: Final = b"gridlock/x25519-seal/v1"
SEALED_OVERHEAD: Final = 32 + 16  # the ephemeral public key and the tag
_NONCE: Final = bytes(12)


def _key(shared: bytes, eph_public: bytes, recipient: bytes, context: bytes, label: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=eph_public + recipient,
        info=transcript.encode(label, context),
    ).derive(shared)


def public_key(private: bytes) -> bytes:
    """The X25519 public key of the 32-byte private key ``private``."""
    if len(private) != 32:
        raise InvalidParameterError("an X25519 private key is 32 bytes")
    return x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def seal(recipient: bytes, plaintext: bytes, context: bytes, ephemeral_seed: bytes, *, label: bytes = LABEL) -> bytes:
    """``plaintext`` sealed to the X25519 public key ``recipient``, bound to ``context``; the
    ephemeral key is derived from ``ephemeral_seed`` (32 bytes no one else knows, used once).
    ``label`` separates the formats built on this one (an owner device's has its own)."""
    if len(ephemeral_seed) != 32:
        raise InvalidParameterError("the ephemeral seed is 32 bytes")
    if len(recipient) != 32:
        raise InvalidParameterError("an X25519 public key is 32 bytes")
    eph = x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(label + ephemeral_seed).digest())
    eph_public = eph.public_key().public_bytes_raw()
    try:
        shared = eph.exchange(x25519.X25519PublicKey.from_public_bytes(recipient))
    except ValueError:  # a low-order point: the shared secret would be all zero
        raise InvalidParameterError("not a usable X25519 public key") from None
    box = ChaCha20Poly1305(_key(shared, eph_public, recipient, context, label))
    return eph_public + box.encrypt(_NONCE, plaintext, context)


def open_sealed(private: bytes, sealed: bytes, context: bytes, *, label: bytes = LABEL) -> bytes:
    """What :func:`seal` sealed to the X25519 key whose 32-byte private key is ``private``, under
    the same ``context``; ``DecodeError`` for anything else."""
    if len(sealed) < SEALED_OVERHEAD:
        raise DecodeError("a sealed message is at least 48 bytes")
    own = x25519.X25519PrivateKey.from_private_bytes(private)
    recipient = own.public_key().public_bytes_raw()
    eph_public, body = sealed[:32], sealed[32:]
    try:
        shared = own.exchange(x25519.X25519PublicKey.from_public_bytes(eph_public))
        return ChaCha20Poly1305(_key(shared, eph_public, recipient, context, label)).decrypt(_NONCE, body, context)
    except (InvalidTag, ValueError):
        raise DecodeError("the sealed message does not open with this key and context") from None
