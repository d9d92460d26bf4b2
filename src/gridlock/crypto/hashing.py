"""Hash building blocks: RFC 9380 ``expand_message_xmd`` / ``hash_to_field`` and BIP340 tagged hashes."""

from __future__ import annotations

import hashlib

from Crypto.Hash import RIPEMD160


def expand_message_xmd_sha256(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-256 (b_in_bytes = 32, s_in_bytes = 64)."""
    if len(dst) > 255:
        raise ValueError("DST longer than 255 bytes")
    ell = (len_in_bytes + 31) // 32
    if ell > 255 or len_in_bytes > 65535:
        raise ValueError("requested output too long")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(64) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha256(msg_prime).digest()
    b = [hashlib.sha256(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        prev = bytes(x ^ y for x, y in zip(b0, b[-1], strict=True))
        b.append(hashlib.sha256(prev + bytes([i]) + dst_prime).digest())
    return b"".join(b)[:len_in_bytes]


def hash_to_field_secp256k1(msg: bytes, dst: bytes, order: int) -> int:
    """RFC 9380 §5.2 ``hash_to_field`` with count = 1, m = 1 and L = 48 for a 256-bit order."""
    return int.from_bytes(expand_message_xmd_sha256(msg, dst, 48), "big") % order


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP340 ``hash_tag(x) = SHA256(SHA256(tag) ‖ SHA256(tag) ‖ x)``."""
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 from pycryptodome: OpenSSL 3 builds may leave it out of ``hashlib``."""
    return bytes(RIPEMD160.new(data).digest())


def hash160(data: bytes) -> bytes:
    """RIPEMD-160(SHA-256(data)) (Bitcoin's HASH160; BIP32 fingerprints, P2WPKH, Cosmos addresses)."""
    return ripemd160(hashlib.sha256(data).digest())
