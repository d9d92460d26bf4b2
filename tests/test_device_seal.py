"""gridlock.crypto.device_seal: a share sealed to an owner device's Ed25519 key (the custody
contract's export), opened only by that device under the same context."""

from __future__ import annotations

import os

import nacl.bindings
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.signing import SigningKey

from gridlock.crypto import device_seal, transcript
from gridlock.errors import DecodeError, InvalidParameterError

DEVICE = SigningKey(bytes(range(32)))
PUBLIC = bytes(DEVICE.verify_key)
CONTEXT = device_seal.export_context("vault", 3, PUBLIC)


def test_the_device_opens_what_was_sealed_to_it_and_nothing_else() -> None:
    seed = os.urandom(32)
    sealed = device_seal.seal(PUBLIC, b"a share scalar", CONTEXT, seed)
    assert len(sealed) == len(b"a share scalar") + device_seal.SEALED_OVERHEAD
    assert device_seal.open_sealed(bytes(DEVICE), sealed, CONTEXT) == b"a share scalar"
    assert device_seal.seal(PUBLIC, b"a share scalar", CONTEXT, seed) == sealed  # every node computes the same
    assert device_seal.seal(PUBLIC, b"a share scalar", CONTEXT, os.urandom(32)) != sealed
    other = SigningKey.generate()
    for device, context, blob in (
        (bytes(other), CONTEXT, sealed),  # another device
        (bytes(DEVICE), device_seal.export_context("vault", 4, PUBLIC), sealed),  # another share
        (bytes(DEVICE), CONTEXT, sealed[:-1] + bytes([sealed[-1] ^ 1])),  # tampered
        (bytes(DEVICE), CONTEXT, sealed[:40]),  # cut short
    ):
        with pytest.raises(DecodeError):
            device_seal.open_sealed(device, blob, context)


def test_the_construction_is_x25519_hkdf_chacha20poly1305_on_the_converted_key() -> None:
    """Opened independently: libsodium's Ed25519→X25519 private key (RFC 7748 map), the DH, HKDF-SHA256
    with both public keys as salt, ChaCha20-Poly1305 with the context as associated data."""
    sealed = device_seal.seal(PUBLIC, b"scalar", CONTEXT, bytes(32))
    eph, body = sealed[:32], sealed[32:]
    mine = bytes(DEVICE.to_curve25519_private_key())
    shared = nacl.bindings.crypto_scalarmult(mine, eph)
    recipient = bytes(DEVICE.verify_key.to_curve25519_public_key())
    key = HKDF(hashes.SHA256(), 32, salt=eph + recipient, info=transcript.encode(device_seal.LABEL, CONTEXT)).derive(
        shared
    )
    assert ChaCha20Poly1305(key).decrypt(bytes(12), body, CONTEXT) == b"scalar"


def test_bad_inputs_are_typed_errors() -> None:
    with pytest.raises(InvalidParameterError):
        device_seal.seal(PUBLIC, b"x", CONTEXT, b"short")
    with pytest.raises(InvalidParameterError):
        device_seal.seal(b"\x00" * 31, b"x", CONTEXT, bytes(32))
