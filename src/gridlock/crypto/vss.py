"""Feldman verifiable secret sharing (Feldman 1987; RFC 9591 App. C.2 ``vss_verify``).

A dealer publishes ``C_k = a_k·G`` for its polynomial's coefficients; a holder
of ``s = f(i)`` checks ``s·G = Σ_k i^k·C_k``.  The same commitments give every
participant's verifying share ``Y_i = f(i)·G`` without any secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridlock.crypto.group import Group, Point
from gridlock.crypto.polynomial import Polynomial
from gridlock.errors import ProtocolAbort


def commit(group: Group, poly: Polynomial) -> list[Point]:
    return [group.base_mul(a) for a in poly.coefficients]


def evaluate(group: Group, commitment: Sequence[Point], i: int) -> Point:
    """``Σ_k i^k·C_k`` — the public image of ``f(i)``."""
    q = group.order
    scalars, points = [], []
    power = 1
    for c in commitment:
        scalars.append(power)
        points.append(c)
        power = power * i % q
    return _msm_skip_one(group, scalars, points)


def verify(group: Group, commitment: Sequence[Point], i: int, share: int) -> bool:
    return group.base_mul(share) == evaluate(group, commitment, i)


def add_commitments(group: Group, commitments: Sequence[Sequence[Point]]) -> list[Point]:
    """Coefficient-wise sum: the commitment of the sum of the dealers' polynomials."""
    width = len(commitments[0])
    return [group.sum(c[k] for c in commitments) for k in range(width)]


def verify_received(
    group: Group, commitments: Mapping[int, Sequence[Point]], me: int, shares: Mapping[int, int], check: str
) -> tuple[list[Point], int]:
    """The shares every dealer sent to holder ``me``, checked against the dealers' commitments: one
    batched equation ``(Σ_d s_d)·G = Σ_k me^k·(Σ_d C_dk)``, and only when it fails one check per
    dealer, to name those that cheated (SECURITY #4).  Raises :class:`ProtocolAbort` ``check``.

    Returns the summed commitment (of the sum of the dealers' polynomials) and the sum of the shares.
    """
    summed = add_commitments(group, [commitments[d] for d in commitments])
    total = sum(shares[d] for d in commitments) % group.order
    if group.base_mul(total) != evaluate(group, summed, me):
        bad = [d for d in commitments if not verify(group, commitments[d], me, shares[d])]
        raise ProtocolAbort(bad, check, f"share sent to participant {me} fails Feldman verification")
    return summed, total


def _msm_skip_one(group: Group, scalars: Sequence[int], points: Sequence[Point]) -> Point:
    # Multiplying by 1 is the common first term; skip the native call for it.
    terms = [p if k == 1 else k * p for k, p in zip(scalars, points, strict=True)]
    return group.sum(terms)
