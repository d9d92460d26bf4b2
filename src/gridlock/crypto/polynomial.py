"""Shamir polynomials over a scalar field and Lagrange interpolation (RFC 9591 §4.2, App. C)."""

from __future__ import annotations

from collections.abc import Sequence

from gridlock.crypto.group import Group
from gridlock.errors import InvalidParameterError


def validate_indices(indices: Sequence[int], order: int) -> tuple[int, ...]:
    """Participant indices are non-zero, reduced and distinct (SECURITY #1).

    An index ≡ 0 mod q would hand out ``f(0)``, the secret itself; duplicates
    make Lagrange coefficients undefined.  We reject rather than reduce.
    """
    seen: set[int] = set()
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            raise InvalidParameterError("participant indices must be integers")
        if not 0 < i < order:
            raise InvalidParameterError(f"participant index {i} is not in 1..q-1")
        if i in seen:
            raise InvalidParameterError(f"participant index {i} appears twice")
        seen.add(i)
    return tuple(indices)


class Polynomial:
    """``f(x) = a0 + a1·x + … + a_{t-1}·x^{t-1}`` with secret coefficients.

    ``repr`` never shows coefficients (SECURITY #24).
    """

    __slots__ = ("coefficients", "order")

    def __init__(self, coefficients: Sequence[int], order: int) -> None:
        if not coefficients:
            raise InvalidParameterError("a polynomial needs at least one coefficient")
        self.coefficients = [c % order for c in coefficients]
        self.order = order

    @classmethod
    def random(cls, group: Group, degree: int, constant: int | None = None) -> Polynomial:
        """Random polynomial of the given degree; ``constant`` fixes ``f(0)`` (0 for refresh)."""
        a0 = group.random_scalar() if constant is None else constant
        return cls([a0] + [group.random_scalar() for _ in range(degree)], group.order)

    def __call__(self, x: int) -> int:
        acc = 0
        for c in reversed(self.coefficients):
            acc = (acc * x + c) % self.order
        return acc

    def __repr__(self) -> str:
        return f"Polynomial(degree={len(self.coefficients) - 1}, coefficients=<redacted>)"


def lagrange_coefficient(i: int, indices: Sequence[int], order: int, at: int = 0) -> int:
    """λ_i(at) over ``indices`` (RFC 9591 §4.2 ``derive_interpolating_value`` for at = 0)."""
    if i not in indices:
        raise InvalidParameterError(f"index {i} is not among the interpolation points")
    num, den = 1, 1
    for j in indices:
        if j == i:
            continue
        num = num * (at - j) % order
        den = den * (i - j) % order
    if den == 0:
        raise InvalidParameterError("interpolation points are not distinct modulo the group order")
    return num * pow(den, -1, order) % order


def interpolate(points: dict[int, int], order: int, at: int = 0) -> int:
    """``f(at)`` from ``{x: f(x)}`` with enough points (used by import/export and repair)."""
    xs = list(points)
    validate_indices(xs, order)
    return sum(y * lagrange_coefficient(x, xs, order, at) for x, y in points.items()) % order
