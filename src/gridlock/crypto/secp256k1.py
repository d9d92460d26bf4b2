"""secp256k1 on libsecp256k1 (coincurve).

Points wrap a ``coincurve.PublicKey`` so additions and multiplications run in
libsecp256k1; the identity, which libsecp256k1 cannot represent as a public
key, is a separate value.  Encoding is 33-byte SEC1 compressed (SEC 1 v2
§2.3.3); decoding accepts nothing else (no uncompressed or hybrid forms, no
x ≥ p, no off-curve x, no identity).
"""

from __future__ import annotations

from collections.abc import Iterable

from coincurve import PublicKey

from gridlock.crypto.group import Group, Point
from gridlock.errors import InvalidPointError

P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Secp256k1Point(Point):
    __slots__ = ("_enc", "_pk")

    group: Secp256k1Group

    def __init__(self, pk: PublicKey | None, enc: bytes | None = None) -> None:
        self._pk = pk
        self._enc = enc

    def is_identity(self) -> bool:
        return self._pk is None

    def encode(self) -> bytes:
        if self._pk is None:
            raise InvalidPointError("the identity element has no encoding")
        if self._enc is None:
            self._enc = self._pk.format(compressed=True)
        return self._enc

    def has_even_y(self) -> bool:
        return self.encode()[0] == 2

    def x_bytes(self) -> bytes:
        return self.encode()[1:]

    def __add__(self, other: Point) -> Point:
        if not isinstance(other, Secp256k1Point):
            return NotImplemented
        if other._pk is None:
            return self
        if self._pk is None:
            return other
        try:
            return Secp256k1Point(PublicKey.combine_keys([self._pk, other._pk]))
        except ValueError:  # the sum is the point at infinity
            return SECP256K1.identity

    def __neg__(self) -> Point:
        if self._pk is None:
            return self
        enc = self.encode()
        flipped = bytes([enc[0] ^ 1]) + enc[1:]
        return Secp256k1Point(PublicKey(flipped), flipped)

    def __rmul__(self, k: int) -> Point:
        k %= N
        if k == 0 or self._pk is None:
            return SECP256K1.identity
        return Secp256k1Point(self._pk.multiply(k.to_bytes(32, "big")))


class Secp256k1Group(Group):
    name = "secp256k1"
    order = N
    scalar_len = 32
    element_len = 33

    def __init__(self) -> None:
        g = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        self._g = Secp256k1Point(PublicKey(g), g)
        self._id = Secp256k1Point(None)

    @property
    def identity(self) -> Point:
        return self._id

    @property
    def generator(self) -> Point:
        return self._g

    def base_mul(self, k: int) -> Point:
        k %= N
        if k == 0:
            return self._id
        return Secp256k1Point(PublicKey.from_valid_secret(k.to_bytes(32, "big")))

    def decode(self, data: bytes) -> Point:
        if len(data) != 33 or data[0] not in (2, 3):
            raise InvalidPointError("secp256k1 point must be 33-byte SEC1 compressed (02/03 prefix)")
        if int.from_bytes(data[1:], "big") >= P:
            raise InvalidPointError("secp256k1 point x-coordinate is not reduced")
        try:
            pk = PublicKey(bytes(data))
        except ValueError:
            raise InvalidPointError("secp256k1 point is not on the curve") from None
        return Secp256k1Point(pk, bytes(data))

    def lift_x(self, x: bytes) -> Secp256k1Point:
        """BIP340 ``lift_x``: the point with this x-coordinate and even y."""
        point = self.decode(b"\x02" + x)
        assert isinstance(point, Secp256k1Point)
        return point

    def scalar_to_bytes(self, k: int) -> bytes:
        return (k % N).to_bytes(32, "big")

    def _scalar_int(self, data: bytes) -> int:
        return int.from_bytes(data, "big")

    def sum(self, points: Iterable[Point]) -> Point:
        keys = []
        for p in points:
            assert isinstance(p, Secp256k1Point)
            if p._pk is not None:
                keys.append(p._pk)
        if not keys:
            return self._id
        if len(keys) == 1:
            return Secp256k1Point(keys[0])
        try:
            return Secp256k1Point(PublicKey.combine_keys(keys))
        except ValueError:
            return self._id


SECP256K1 = Secp256k1Group()
Secp256k1Point.group = SECP256K1
