"""Repair of one lost share by ``t`` helpers, with every step checkable: the repairable threshold
scheme of Laing–Stinson (ePrint 2017/1155, §3 "enrolment" with additive re-sharing), as in ZF's
``repairable`` module, plus public commitments so a lying helper is named (ZF does not check).

Helper ``i`` (of the helper set H) holds ``s_i``; with ``ζ_i = λ_i(ℓ)`` (the Lagrange coefficient
of ``i`` over H evaluated at the lost index ``ℓ``), ``Σ_i ζ_i·s_i = f(ℓ) = s_ℓ``.  Each helper splits
``ζ_i·s_i`` into random additive parts ``δ_{i→k}`` (one per helper), publishes ``Δ_{i→k} = δ_{i→k}·G``
and sends ``δ_{i→k}`` to helper ``k``; each helper ``k`` sends ``σ_k = Σ_i δ_{i→k}`` to the lost party,
who takes ``s_ℓ = Σ_k σ_k``.  No party learns more than its own values: every ``σ_k`` is masked by
the random parts of the others.

Checks (each failure names its helper): ``Σ_k Δ_{i→k} = ζ_i·Y_i`` (the split is of the right value),
``δ_{i→k}·G = Δ_{i→k}`` (helper ``k`` got what ``i`` published), ``σ_k·G = Σ_i Δ_{i→k}`` (helper
``k`` summed honestly), and finally ``s_ℓ·G = Y_ℓ``, the lost holder's verifying share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridlock.crypto.group import Group, Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import lagrange_coefficient
from gridlock.crypto.reshare import PublicPackage
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import ProtocolAbort


def split(share: KeyShare, helpers: Sequence[int], lost: int) -> dict[int, int]:
    """Helper ``share.index``: random additive parts of ``ζ_i·s_i``, one per helper."""
    group = get_scheme(share.scheme).group
    q = group.order
    value = lagrange_coefficient(share.index, helpers, q, at=lost) * share.secret % q
    parts = {k: group.random_scalar() for k in helpers[:-1]}
    parts[helpers[-1]] = (value - sum(parts.values())) % q
    return parts


def check_split(
    group: Group, pub: PublicPackage, helpers: Sequence[int], lost: int, i: int, deltas: Sequence[Point]
) -> None:
    zeta = lagrange_coefficient(i, helpers, group.order, at=lost)
    if group.sum(deltas) != zeta * pub.verifying_shares[i]:
        raise ProtocolAbort([i], "repair-split", "helper's parts do not add up to its weighted verifying share")


def check_sigma(group: Group, k: int, sigma: int, published: Mapping[int, Sequence[Point]], position: int) -> None:
    if group.base_mul(sigma) != group.sum(d[position] for d in published.values()):
        raise ProtocolAbort([k], "repair-sum", "helper's sum does not match the published parts")


def rebuild(pub: PublicPackage, lost: int, sigmas: Mapping[int, int]) -> KeyShare:
    scheme = get_scheme(pub.scheme)
    group = scheme.group
    secret = sum(sigmas.values()) % group.order
    if group.base_mul(secret) != pub.verifying_shares[lost]:
        raise ProtocolAbort([], "repair-result", "the rebuilt share does not match the verifying share")
    depth, fingerprint, child = pub.hd
    return KeyShare(
        scheme=pub.scheme,
        index=lost,
        threshold=pub.threshold,
        participants=pub.participants,
        secret=secret,
        verifying_shares=pub.verifying_shares,
        group_key=pub.group_key,
        chain_code=pub.chain_code,
        epoch=pub.epoch,
        transcript_hash=pub.transcript_hash,
        origin=pub.origin,
        depth=depth,
        parent_fingerprint=fingerprint,
        child_number=child,
        internal_key=pub.internal_key,
    )
