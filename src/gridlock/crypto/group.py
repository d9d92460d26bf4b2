"""Prime-order groups behind one small interface.

Scalars are plain Python ``int`` values reduced modulo the group order: modular
arithmetic on ints is fast and exact, and the expensive operations (scalar
multiplication, point addition, decoding checks) are delegated to libsecp256k1
(coincurve) and libsodium (PyNaCl) by the concrete groups.

Points are immutable objects with ``+``, ``-`` and ``int * point``.  The
identity exists as a value (sums may cancel) but is never accepted by
:meth:`Group.decode` and never encoded: protocols reject it where RFC 9591
§4 and SECURITY #6 say so.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from gridlock.errors import InvalidScalarError


class Point(ABC):
    """An element of a prime-order group."""

    __slots__ = ()

    group: Group

    @abstractmethod
    def __add__(self, other: Point) -> Point: ...

    @abstractmethod
    def __neg__(self) -> Point: ...

    @abstractmethod
    def __rmul__(self, k: int) -> Point: ...

    @abstractmethod
    def is_identity(self) -> bool: ...

    @abstractmethod
    def encode(self) -> bytes:
        """Canonical compressed encoding; raises for the identity."""

    def __sub__(self, other: Point) -> Point:
        return self + (-other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point) or other.group is not self.group:
            return NotImplemented
        if self.is_identity() or other.is_identity():
            return self.is_identity() and other.is_identity()
        return self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash((self.group.name, b"" if self.is_identity() else self.encode()))

    def __repr__(self) -> str:
        body = "identity" if self.is_identity() else self.encode().hex()
        return f"{type(self).__name__}({body})"


class Group(ABC):
    """A prime-order group with its scalar field (RFC 9591 §3.1 'Group')."""

    name: str
    order: int
    scalar_len: int
    element_len: int

    @property
    @abstractmethod
    def identity(self) -> Point: ...

    @property
    @abstractmethod
    def generator(self) -> Point: ...

    @abstractmethod
    def base_mul(self, k: int) -> Point:
        """``k·G``; the fixed-base path of the native library."""

    @abstractmethod
    def decode(self, data: bytes) -> Point:
        """Strict decoding: raises :class:`InvalidPointError` for anything but a canonical,
        valid, non-identity element of the prime-order subgroup."""

    @abstractmethod
    def scalar_to_bytes(self, k: int) -> bytes: ...

    @abstractmethod
    def _scalar_int(self, data: bytes) -> int:
        """Integer value of a scalar encoding (byte order of the suite)."""

    def sum(self, points: Iterable[Point]) -> Point:
        """Sum of points; subclasses batch the additions in native code."""
        acc = self.identity
        for p in points:
            acc = acc + p
        return acc

    def msm(self, scalars: Sequence[int], points: Sequence[Point]) -> Point:
        """``Σ k_i·P_i`` (multi-scalar multiplication)."""
        return self.sum(k * p for k, p in zip(scalars, points, strict=True))

    def decode_scalar(self, data: bytes, *, nonzero: bool = False) -> int:
        """Strict scalar decoding: exact length, canonical (< order)."""
        if len(data) != self.scalar_len:
            raise InvalidScalarError(f"{self.name} scalar must be {self.scalar_len} bytes")
        k = self._scalar_int(data)
        if k >= self.order:
            raise InvalidScalarError(f"{self.name} scalar is not reduced modulo the group order")
        if nonzero and k == 0:
            raise InvalidScalarError(f"{self.name} scalar must not be zero")
        return k

    def random_scalar(self) -> int:
        """Uniform non-zero scalar by rejection sampling from the OS CSPRNG (SECURITY #10)."""
        bits = self.order.bit_length()
        nbytes = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            k = int.from_bytes(secrets.token_bytes(nbytes), "big") & mask
            if 0 < k < self.order:
                return k
