"""FROST threshold Schnorr signing, RFC 9591 §5 (two rounds), for the suites in :mod:`suites`.

* Round one (§5.1): :func:`commit` makes single-use nonces ``(d, e)`` with
  ``nonce_generate`` (§4.1: ``H3(random_32 ‖ ser(s_i))``, hedged against bad
  randomness) and their commitments ``(D, E)``; :func:`commit_batch` makes many
  ahead of time.
* Round two (§5.2): :func:`sign` checks the signing package (the signer's own
  commitment is present and is the one its nonces belong to, identifiers are
  distinct participants, at least ``t`` signers), consumes the nonces — once,
  for ever — and returns ``z_i = d + ρ_i·e + λ_i·s_i·c``.
* Aggregation (§5.3, §5.4): :func:`aggregate` verifies **every** signature share
  ``z_i·G = D_i + ρ_i·E_i + c·λ_i·Y_i`` and names the signers whose shares fail,
  then verifies the final signature before returning it.

Taproot (BIP340) adjustments come from the suite's hooks: the signing key is
negated when the group key has odd y and the nonce part when R has odd y.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gridlock.crypto import codec
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import lagrange_coefficient
from gridlock.crypto.suites import FrostSuite
from gridlock.errors import (
    DecodeError,
    InvalidParameterError,
    NonceReuseError,
    ProtocolAbort,
    SignatureError,
)


@dataclass(frozen=True)
class SigningCommitments:
    """A signer's public round-one output ``(D_i, E_i)`` (RFC 9591 §5.1)."""

    identifier: int
    hiding: Point
    binding: Point

    def to_bytes(self) -> bytes:
        return codec.dumps({0: self.identifier, 1: self.hiding.encode(), 2: self.binding.encode()})

    @classmethod
    def from_bytes(cls, suite: FrostSuite, data: bytes) -> SigningCommitments:
        m = codec.load_map(data, frozenset({0, 1, 2}))
        g = suite.group
        return cls(codec.get_int(m, 0, 1, 2**64), codec.point(g, m[1]), codec.point(g, m[2]))


class SigningNonces:
    """A signer's secret round-one nonces; usable exactly once (SECURITY #9).

    :meth:`take` hands the scalars out and erases them in the same step, so a
    nonce pair can never be used twice — not after an abort, not by a retry.
    """

    __slots__ = ("_binding", "_hiding", "commitments")

    def __init__(self, hiding: int, binding: int, commitments: SigningCommitments) -> None:
        self._hiding: int | None = hiding
        self._binding: int | None = binding
        self.commitments = commitments

    @property
    def used(self) -> bool:
        return self._hiding is None

    def take(self) -> tuple[int, int]:
        if self._hiding is None or self._binding is None:
            raise NonceReuseError("these signing nonces were already used; a nonce is never used twice")
        d, e = self._hiding, self._binding
        self._hiding = self._binding = None
        return d, e

    def __repr__(self) -> str:
        state = "used" if self.used else "fresh"
        return f"SigningNonces(identifier={self.commitments.identifier}, {state}, <redacted>)"


def nonce_generate(suite: FrostSuite, secret: int, random_bytes: bytes | None = None) -> int:
    """RFC 9591 §4.1: ``H3(random_bytes ‖ ser(secret))``.  ``random_bytes`` is injectable for KATs only."""
    rnd = secrets.token_bytes(32) if random_bytes is None else random_bytes
    return suite.H3(rnd + suite.group.scalar_to_bytes(secret))


def commit(
    suite: FrostSuite,
    share: KeyShare,
    *,
    hiding_randomness: bytes | None = None,
    binding_randomness: bytes | None = None,
) -> SigningNonces:
    """RFC 9591 §5.1 ``commit``.  The randomness arguments exist for known-answer tests only."""
    d = nonce_generate(suite, share.secret, hiding_randomness)
    e = nonce_generate(suite, share.secret, binding_randomness)
    g = suite.group
    return SigningNonces(d, e, SigningCommitments(share.index, g.base_mul(d), g.base_mul(e)))


def commit_batch(suite: FrostSuite, share: KeyShare, count: int) -> list[SigningNonces]:
    """Preprocess ``count`` nonce pairs ahead of time (FROST paper §5.2 'Preprocess')."""
    if not 0 < count <= 10_000:
        raise InvalidParameterError("batch size must be between 1 and 10000")
    return [commit(suite, share) for _ in range(count)]


def signing_secret(suite: FrostSuite, share: KeyShare) -> int:
    """The share as used for signing: negated for Taproot when the group key has odd y."""
    if suite.signing_key_negated(share.group_key):
        return -share.secret % suite.group.order
    return share.secret


@dataclass(frozen=True)
class SigningPackage:
    """The commitment list and message every signer signs (RFC 9591 §5.2 inputs).

    Commitments are kept sorted by identifier, as the RFC's encoding requires.
    """

    commitments: tuple[SigningCommitments, ...]
    message: bytes
    # Memo of signing_context() per group key: a signer and the aggregator need the same values,
    # computed once.  Never supplied by callers (SECURITY #15: no key is a sign-API input).
    _contexts: dict[bytes, SigningContext] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = [c.identifier for c in self.commitments]
        if ids != sorted(set(ids)):
            raise InvalidParameterError("commitment list must have distinct identifiers in ascending order")

    @classmethod
    def build(cls, commitments: Sequence[SigningCommitments], message: bytes) -> SigningPackage:
        return cls(tuple(sorted(commitments, key=lambda c: c.identifier)), bytes(message))

    @property
    def signers(self) -> tuple[int, ...]:
        return tuple(c.identifier for c in self.commitments)

    def commitment_of(self, ident: int) -> SigningCommitments | None:
        for c in self.commitments:
            if c.identifier == ident:
                return c
        return None


def encode_group_commitment_list(suite: FrostSuite, commitments: Sequence[SigningCommitments]) -> bytes:
    """RFC 9591 §4.3 ``encode_group_commitment_list``."""
    return b"".join(suite.encode_identifier(c.identifier) + c.hiding.encode() + c.binding.encode() for c in commitments)


def binding_factor_inputs(suite: FrostSuite, group_key: Point, package: SigningPackage) -> dict[int, bytes]:
    """RFC 9591 §4.4 ``compute_binding_factors`` inputs (exposed for the known-answer tests)."""
    prefix = (
        group_key.encode()
        + suite.H4(package.message)
        + suite.H5(encode_group_commitment_list(suite, package.commitments))
    )
    return {c.identifier: prefix + suite.encode_identifier(c.identifier) for c in package.commitments}


def binding_factors(suite: FrostSuite, group_key: Point, package: SigningPackage) -> dict[int, int]:
    return {i: suite.H1(inp) for i, inp in binding_factor_inputs(suite, group_key, package).items()}


def group_commitment(
    suite: FrostSuite, package: SigningPackage, rho: Mapping[int, int]
) -> tuple[Point, dict[int, Point]]:
    """RFC 9591 §4.5 ``compute_group_commitment``: ``R = Σ R_i`` with ``R_i = D_i + ρ_i·E_i``.

    The per-signer ``R_i`` are returned too: share verification (§5.4) needs
    exactly them, so they are computed once.
    """
    parts = {c.identifier: c.hiding + rho[c.identifier] * c.binding for c in package.commitments}
    return suite.group.sum(parts.values()), parts


@dataclass(frozen=True)
class SigningContext:
    """Everything derived from (group key, package) that every signer and the aggregator share."""

    key: Point  # the group key as signed with (even-y for Taproot)
    negate_key: bool
    binding_factors: dict[int, int]
    commitment_shares: dict[int, Point]
    R: Point
    negate_nonce: bool
    challenge: int


def signing_context(suite: FrostSuite, group_key: Point, package: SigningPackage) -> SigningContext:
    cache_key = suite.name.encode() + group_key.encode()
    ctx = package._contexts.get(cache_key)
    if ctx is None:
        ctx = package._contexts[cache_key] = _signing_context(suite, group_key, package)
    return ctx


def _signing_context(suite: FrostSuite, group_key: Point, package: SigningPackage) -> SigningContext:
    negate_key = suite.signing_key_negated(group_key)
    key = -group_key if negate_key else group_key
    rho = binding_factors(suite, key, package)
    R, parts = group_commitment(suite, package, rho)
    c = suite.challenge(R, key, package.message)
    return SigningContext(key, negate_key, rho, parts, R, suite.nonce_negated(R), c)


def _check_package(share: KeyShare, package: SigningPackage) -> None:
    signers = package.signers
    if len(signers) < share.threshold:
        raise InvalidParameterError(f"{len(signers)} signers, but the threshold is {share.threshold}")
    unknown = [i for i in signers if i not in share.participants]
    if unknown:
        raise ProtocolAbort(unknown, "frost-unknown-signer", "commitment list names identifiers that hold no share")


def sign(
    suite: FrostSuite,
    share: KeyShare,
    nonces: SigningNonces,
    package: SigningPackage,
) -> int:
    """RFC 9591 §5.2 ``sign``: returns this signer's share ``z_i``.

    Refuses (SECURITY #11) a package that omits this signer's commitment, one
    whose entry for this signer is not the commitment of ``nonces``, and nonces
    that were already used.  The nonces are consumed before any arithmetic, so
    even a failure below leaves them unusable.
    """
    if share.scheme != suite.name:
        raise InvalidParameterError(f"key share is for {share.scheme}, not {suite.name}")
    _check_package(share, package)
    mine = package.commitment_of(share.index)
    if mine is None:
        raise InvalidParameterError("the signing package omits this signer's commitment")
    if mine != nonces.commitments:
        raise InvalidParameterError("the signing package carries a commitment that is not this signer's")
    d, e = nonces.take()
    ctx = signing_context(suite, share.group_key, package)
    q = suite.group.order
    lam = lagrange_coefficient(share.index, package.signers, q)
    nonce = (d + e * ctx.binding_factors[share.index]) % q
    if ctx.negate_nonce:
        nonce = -nonce % q
    return (nonce + lam * signing_secret(suite, share) * ctx.challenge) % q


def verify_share(
    suite: FrostSuite, package: SigningPackage, ident: int, z: int, verifying_share: Point, ctx: SigningContext
) -> bool:
    """RFC 9591 §5.4 ``verify_signature_share``: ``z_i·G == D_i + ρ_i·E_i + c·λ_i·Y_i``
    (with the Taproot negations of ``R_i`` and ``Y_i`` applied)."""
    r_share = ctx.commitment_shares.get(ident)
    if r_share is None:
        return False
    q = suite.group.order
    lam = lagrange_coefficient(ident, package.signers, q)
    if ctx.negate_nonce:
        r_share = -r_share
    y = -verifying_share if ctx.negate_key else verifying_share
    return suite.group.base_mul(z) == r_share + (ctx.challenge * lam % q) * y


def aggregate(
    suite: FrostSuite,
    share: KeyShare,
    package: SigningPackage,
    shares: Mapping[int, int],
    *,
    own: int | None = None,
) -> bytes:
    """RFC 9591 §5.3 ``aggregate`` after checking every share (§5.4).

    Raises :class:`ProtocolAbort` naming every signer whose share is missing or
    invalid; never returns a signature that does not verify.  ``own`` is the
    identifier of a share computed by the caller itself: it is covered by the
    final verification instead of a separate check.
    """
    _check_package(share, package)
    missing = [i for i in package.signers if i not in shares]
    if missing:
        raise ProtocolAbort(missing, "frost-missing-share", "no signature share from these signers")
    ctx = signing_context(suite, share.group_key, package)
    bad = [
        i
        for i in package.signers
        if i != own and not verify_share(suite, package, i, shares[i], share.verifying_shares[i], ctx)
    ]
    if bad:
        raise ProtocolAbort(bad, "frost-signature-share", "signature share fails verification")
    q = suite.group.order
    z = sum(shares[i] for i in package.signers) % q
    sig = suite.serialize_signature(ctx.R, z)
    if not suite.verify(suite.public_key_bytes(share.group_key), package.message, sig):
        raise SignatureError("aggregated signature does not verify")  # unreachable if shares verified
    return sig


def decode_share(suite: FrostSuite, data: bytes) -> int:
    """A signature share on the wire: one canonical scalar."""
    if len(data) != suite.group.scalar_len:
        raise DecodeError("signature share has the wrong length")
    return suite.group.decode_scalar(data)
