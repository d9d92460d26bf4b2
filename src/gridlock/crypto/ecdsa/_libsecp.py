"""libsecp256k1 called directly through coincurve's cffi binding, for the base-OT batch loops.

A base-OT setup does thousands of point operations per pair of parties (:mod:`.base_ot`); through
:class:`gridlock.crypto.secp256k1.Secp256k1Point` each one also pays for a ``coincurve.PublicKey``
object, argument validation and, for a negation, a re-parse of the point.  Here a point is a bare
``secp256k1_pubkey`` struct and each operation one library call, with the same checks: every
decoded point is parsed (on the curve, compressed, ``x < p``) by libsecp256k1, and a result at
infinity raises :class:`InvalidPointError` exactly where the ``Point`` arithmetic would have (the
identity has no encoding).  Scalars are passed as 32-byte big-endian strings in ``[1, n)``.
"""

from __future__ import annotations

from typing import Any

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from gridlock.errors import InvalidPointError

_CTX = GLOBAL_CONTEXT.ctx
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED
_P = 2**256 - 2**32 - 977

RawPoint = Any  # a cffi ``secp256k1_pubkey *``


def parse(data: bytes) -> RawPoint | None:
    """A 33-byte SEC1 compressed point, or ``None`` if it is not one (libsecp256k1 checks the curve)."""
    pt = ffi.new("secp256k1_pubkey *")
    if len(data) != 33 or not lib.secp256k1_ec_pubkey_parse(_CTX, pt, data, 33):
        return None
    return pt


def decode(data: bytes) -> RawPoint:
    """Strict decoding, as :meth:`gridlock.crypto.secp256k1.Secp256k1Group.decode`."""
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidPointError("secp256k1 point must be 33-byte SEC1 compressed (02/03 prefix)")
    if int.from_bytes(data[1:], "big") >= _P:
        raise InvalidPointError("secp256k1 point x-coordinate is not reduced")
    pt = parse(data)
    if pt is None:
        raise InvalidPointError("secp256k1 point is not on the curve")
    return pt


def encode(pt: RawPoint) -> bytes:
    out = ffi.new("unsigned char[33]")
    size = ffi.new("size_t *", 33)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, pt, _COMPRESSED)
    return bytes(out)


def base_mul(k: bytes) -> RawPoint:
    pt = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_create(_CTX, pt, k):
        raise ValueError("scalar out of range")
    return pt


def add(p: RawPoint, q: RawPoint) -> RawPoint:
    """``p + q``; raises :class:`InvalidPointError` if the sum is the point at infinity."""
    out = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_combine(_CTX, out, ffi.new("secp256k1_pubkey *[2]", [p, q]), 2):
        raise InvalidPointError("the identity element has no encoding")
    return out


def sub(p: RawPoint, q: RawPoint) -> RawPoint:
    """``p − q``; raises :class:`InvalidPointError` if the difference is the point at infinity."""
    neg = ffi.new("secp256k1_pubkey *")
    ffi.memmove(neg, q, ffi.sizeof("secp256k1_pubkey"))
    lib.secp256k1_ec_pubkey_negate(_CTX, neg)
    return add(p, neg)


def mul_encode(k: bytes, p: RawPoint) -> bytes:
    """The encoding of ``k·p`` (``k`` in ``[1, n)``, so the product of a point is never infinity)."""
    out = ffi.new("secp256k1_pubkey *")
    ffi.memmove(out, p, ffi.sizeof("secp256k1_pubkey"))
    if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, out, k):
        raise ValueError("scalar out of range")
    return encode(out)
