"""Edwards25519 on libsodium (PyNaCl's low-level ``crypto_core_ed25519_*`` bindings).

Points are kept as their canonical 32-byte encodings (RFC 8032 §5.1.2), which is
what libsodium's point functions take.  Decoding uses
``crypto_core_ed25519_is_valid_point``: canonical y, on the curve, not of small
order and in the prime-order subgroup — so the small-order and mixed-order
encodings that enable "double public key" and torsion games (SECURITY #6) never
enter a protocol.  Scalars are little-endian.
"""

from __future__ import annotations

from collections.abc import Iterable

from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_is_valid_point,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from gridlock.crypto.group import Group, Point
from gridlock.errors import InvalidPointError

L = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = b"\x01" + bytes(31)
_SIGN_BIT = 0x80


class Ed25519Point(Point):
    __slots__ = ("_enc",)

    group: Ed25519Group

    def __init__(self, enc: bytes) -> None:
        self._enc = enc

    def is_identity(self) -> bool:
        return self._enc == _IDENTITY

    def encode(self) -> bytes:
        if self._enc == _IDENTITY:
            raise InvalidPointError("the identity element has no encoding")
        return self._enc

    def __add__(self, other: Point) -> Point:
        if not isinstance(other, Ed25519Point):
            return NotImplemented
        if other._enc == _IDENTITY:
            return self
        if self._enc == _IDENTITY:
            return other
        return Ed25519Point(crypto_core_ed25519_add(self._enc, other._enc))

    def __neg__(self) -> Point:
        # Negation flips the sign of x; every subgroup point but the identity has x != 0.
        if self._enc == _IDENTITY:
            return self
        return Ed25519Point(self._enc[:31] + bytes([self._enc[31] ^ _SIGN_BIT]))

    def __rmul__(self, k: int) -> Point:
        k %= L
        if k == 0 or self._enc == _IDENTITY:
            return ED25519.identity
        return Ed25519Point(crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), self._enc))


class Ed25519Group(Group):
    name = "ed25519"
    order = L
    scalar_len = 32
    element_len = 32

    def __init__(self) -> None:
        self._id = Ed25519Point(_IDENTITY)
        self._g = Ed25519Point(bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666"))

    @property
    def identity(self) -> Point:
        return self._id

    @property
    def generator(self) -> Point:
        return self._g

    def base_mul(self, k: int) -> Point:
        k %= L
        if k == 0:
            return self._id
        return Ed25519Point(crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")))

    def decode(self, data: bytes) -> Point:
        if len(data) != 32:
            raise InvalidPointError("Ed25519 point must be 32 bytes")
        if not crypto_core_ed25519_is_valid_point(bytes(data)):
            raise InvalidPointError(
                "Ed25519 point is non-canonical, off-curve, of small order or outside the prime-order subgroup"
            )
        return Ed25519Point(bytes(data))

    def scalar_to_bytes(self, k: int) -> bytes:
        return (k % L).to_bytes(32, "little")

    def _scalar_int(self, data: bytes) -> int:
        return int.from_bytes(data, "little")

    def sum(self, points: Iterable[Point]) -> Point:
        acc = _IDENTITY
        for p in points:
            assert isinstance(p, Ed25519Point)
            if p._enc == _IDENTITY:
                continue
            acc = p._enc if acc == _IDENTITY else crypto_core_ed25519_add(acc, p._enc)
        return Ed25519Point(acc)


ED25519 = Ed25519Group()
Ed25519Point.group = ED25519
