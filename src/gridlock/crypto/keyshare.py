"""A participant's key share and its versioned, strict byte format.

The share holds everything a participant needs to sign and to check others:
its secret share, every participant's verifying share, the group key, the
joint chain code (BIP32), the epoch and the hash of the transcript that made
it; a Taproot share also keeps the BIP86 internal key its group key is the
tweak of (checked when built), which BIP32 derivation starts from.
Construction checks the share against the public data, so a corrupted or
mixed-up share fails loudly at load time rather than producing a bad signature
later.

The byte format has exactly one form per share (issue 12 item 9): on top of the
codec's deterministic CBOR (RFC 8949 §4.2.1; no tags, §3.4), :meth:`KeyShare.from_bytes`
refuses an optional field spelled out with its default value (an empty ``ext`` or ban
list, a master key's HD field) instead of dropping it, refuses ``true``/``false`` where an
integer belongs, wants participants in increasing order and the ban list sorted, and
refuses a share whose fields contradict: an ``ext`` on a scheme that has no OT setup, an
``ext`` that is not exactly the threshold-ECDSA OT setup with the other participants, a
master depth with a parent or child number, a hardened child number, or a threshold the
verifying shares do not have (their polynomial must have degree exactly ``t − 1``,
SECURITY #3).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import base58

from gridlock.crypto import codec
from gridlock.crypto.group import Point
from gridlock.crypto.polynomial import validate_indices
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError

FORMAT_MAGIC = "gridlock/keyshare"
FORMAT_VERSION = 1
ORIGINS = ("dkg", "import")
MAX_KEYSHARE_BYTES = 32 << 20  # threshold-ECDSA shares carry ~12 KB of OT setup per counterparty
HARDENED = 1 << 31  # BIP32: child numbers from here on are hardened, which threshold keys cannot derive
XPUB_VERSIONS = {
    "mainnet": bytes.fromhex("0488b21e"),  # xpub
    "testnet": bytes.fromhex("043587cf"),  # tpub, for every test network (testnet, signet, regtest)
    "signet": bytes.fromhex("043587cf"),
    "regtest": bytes.fromhex("043587cf"),
}
SECP_SCHEMES = ("ecdsa-secp256k1", "frost-secp256k1", "frost-taproot")  # the schemes with an xpub

# CBOR map keys of format version 1.
_K_MAGIC, _K_VERSION, _K_SCHEME, _K_INDEX, _K_THRESHOLD = 0, 1, 2, 3, 4
_K_PARTICIPANTS, _K_SECRET, _K_VSHARES, _K_GROUP_KEY, _K_CHAIN_CODE = 5, 6, 7, 8, 9
_K_EPOCH, _K_TRANSCRIPT, _K_ORIGIN, _K_EXT, _K_BANNED, _K_HD = 10, 11, 12, 13, 14, 15
_K_INTERNAL = 16
_REQUIRED = frozenset(range(0, 13))
_OPTIONAL = frozenset({_K_EXT, _K_BANNED, _K_HD, _K_INTERNAL})
TAPROOT = "frost-taproot"


def validate_threshold(threshold: int, n: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or isinstance(n, bool) or not isinstance(n, int):
        raise InvalidParameterError("threshold and n must be integers")
    if not 2 <= threshold <= n:
        raise InvalidParameterError(f"threshold must be between 2 and n (got threshold={threshold}, n={n})")
    if n > 1024:
        raise InvalidParameterError("at most 1024 participants are supported")


@dataclass(frozen=True, eq=False, repr=False)
class KeyShare:
    """One participant's share of a threshold key (any scheme).

    ``secret`` never appears in ``repr`` or ``str`` (SECURITY #24).  ``ext`` is
    scheme-specific data (e.g. the threshold-ECDSA pairwise OT setup), kept as
    opaque CBOR-able values.  ``banned`` is the one mutable part: counterparties
    that failed a check whose failure may leak secrets to them (the OT/VOLE
    checks of threshold ECDSA, SECURITY #13); this share refuses to run with
    them until the next refresh replaces it.
    """

    scheme: str
    index: int
    threshold: int
    participants: tuple[int, ...]
    secret: int
    verifying_shares: Mapping[int, Point]
    group_key: Point
    chain_code: bytes
    epoch: int = 0
    transcript_hash: bytes = bytes(32)
    origin: str = "dkg"
    ext: Mapping[int, Any] = field(default_factory=dict)
    banned: set[int] = field(default_factory=set)
    # BIP32 position of this key (non-zero for derived child keys; see gridlock.crypto.hd)
    depth: int = 0
    parent_fingerprint: bytes = bytes(4)
    child_number: int = 0
    # frost-taproot: the BIP86 internal key P whose tweak is ``group_key`` (Q); BIP32 derives from P
    internal_key: Point | None = None

    def __post_init__(self) -> None:
        scheme = get_scheme(self.scheme)
        group = scheme.group
        validate_indices(self.participants, group.order)
        validate_threshold(self.threshold, len(self.participants))
        if self.index not in self.participants:
            raise InvalidParameterError("the share's index is not among its participants")
        if set(self.verifying_shares) != set(self.participants):
            raise InvalidParameterError("verifying shares must cover exactly the participants")
        if len(self.chain_code) != 32 or len(self.transcript_hash) != 32:
            raise InvalidParameterError("chain code and transcript hash must be 32 bytes")
        if self.origin not in ORIGINS:
            raise InvalidParameterError(f"origin must be one of {ORIGINS}")
        if not self.banned <= set(self.participants) - {self.index}:
            raise InvalidParameterError("banned counterparties must be other participants")
        if self.epoch < 0:
            raise InvalidParameterError("epoch must be non-negative")
        if not (0 <= self.depth <= 255 and len(self.parent_fingerprint) == 4 and 0 <= self.child_number < 2**32):
            raise InvalidParameterError("malformed derivation info")
        if self.depth == 0 and (self.parent_fingerprint != bytes(4) or self.child_number != 0):
            # BIP32: a master key has neither; to_bytes writes the HD field only for depth > 0
            raise InvalidParameterError("a master key (depth 0) has no parent fingerprint or child number")
        self._check_secret()
        if self.internal_key is not None:
            if self.scheme != TAPROOT:
                raise InvalidParameterError(f"a {self.scheme} key has no internal key (Taproot keys only)")
            if bip86_output(scheme, self.internal_key) != self.group_key:
                raise InvalidParameterError("the internal key does not tweak (BIP86) to the group key")
        check_verifying_shares(scheme, self.threshold, self.verifying_shares, self.group_key)

    def _check_secret(self) -> None:
        """The secret share is in range and matches this participant's verifying share."""
        group = get_scheme(self.scheme).group
        if not 0 < self.secret < group.order:
            raise InvalidParameterError("secret share out of range")
        if group.base_mul(self.secret) != self.verifying_shares[self.index]:
            raise InvalidParameterError("secret share does not match its verifying share")

    def check_public_data(self) -> None:
        """Re-run the consistency check of the public data (construction already runs it)."""
        check_verifying_shares(get_scheme(self.scheme), self.threshold, self.verifying_shares, self.group_key)

    # --- the façade contract -------------------------------------------------------
    @property
    def public_key(self) -> bytes:
        return get_scheme(self.scheme).public_key_bytes(self.group_key)

    @property
    def scheme_obj(self) -> Scheme:
        return get_scheme(self.scheme)

    @property
    def untweaked_key(self) -> Point:
        """The key BIP32 derives from: the group key, or for Taproot the internal key ``P`` (BIP86
        tweaks only the leaf, :mod:`gridlock.crypto.hd`).  A Taproot share made before the internal
        key was kept cannot name it (``Q`` does not reveal ``P``): an error saying so."""
        if self.scheme != TAPROOT:
            return self.group_key
        if self.internal_key is None:
            raise InvalidParameterError(
                "this Taproot share does not keep its internal key (it predates BIP86 derivation): "
                "it has no xpub and derives no child keys"
            )
        return self.internal_key

    @property
    def untweaked_key_bytes(self) -> bytes:
        """:attr:`untweaked_key` encoded, or ``b""`` for a Taproot share that does not keep it (what a
        guardian reports as the vault's BIP32 key, beside the chain code)."""
        if self.scheme == TAPROOT and self.internal_key is None:
            return b""
        return self.untweaked_key.encode()

    def xpub(self, network: str = "mainnet") -> str:
        """BIP32 extended public key of this key at its BIP32 position (secp256k1 schemes; of the
        internal key ``P`` for Taproot, so ``tr(xpub)`` is this key's address; :mod:`gridlock.crypto.hd`)."""
        if self.scheme not in SECP_SCHEMES:
            raise InvalidParameterError("xpub exists for secp256k1 keys only")
        return serialize_xpub(
            network, self.depth, self.parent_fingerprint, self.child_number, self.chain_code, self.untweaked_key
        )

    def public_fingerprint(self) -> tuple[object, ...]:
        """What every holder of the same key and epoch agrees on."""
        return (
            self.scheme,
            self.threshold,
            self.participants,
            self.group_key,
            tuple(self.verifying_shares[i] for i in self.participants),
            self.chain_code,
            self.epoch,
            self.transcript_hash,
            self.depth,
            self.child_number,
            self.internal_key,
        )

    def __repr__(self) -> str:
        return (
            f"KeyShare(scheme={self.scheme!r}, index={self.index}, threshold={self.threshold}, "
            f"n={len(self.participants)}, public_key={self.public_key.hex()}, epoch={self.epoch}, "
            f"secret=<redacted>)"
        )

    __str__ = __repr__

    # --- serialisation -------------------------------------------------------------
    def to_bytes(self) -> bytes:
        scheme = get_scheme(self.scheme)
        group = scheme.group
        m: dict[int, Any] = {
            _K_MAGIC: FORMAT_MAGIC,
            _K_VERSION: FORMAT_VERSION,
            _K_SCHEME: self.scheme,
            _K_INDEX: self.index,
            _K_THRESHOLD: self.threshold,
            _K_PARTICIPANTS: list(self.participants),
            _K_SECRET: group.scalar_to_bytes(self.secret),
            _K_VSHARES: [self.verifying_shares[i].encode() for i in self.participants],
            _K_GROUP_KEY: self.group_key.encode(),
            _K_CHAIN_CODE: self.chain_code,
            _K_EPOCH: self.epoch,
            _K_TRANSCRIPT: self.transcript_hash,
            _K_ORIGIN: self.origin,
        }
        if self.ext:
            m[_K_EXT] = dict(self.ext)
        if self.banned:
            m[_K_BANNED] = sorted(self.banned)
        if self.depth:
            m[_K_HD] = [self.depth, self.parent_fingerprint, self.child_number]
        if self.internal_key is not None:
            m[_K_INTERNAL] = self.internal_key.encode()
        return codec.dumps(m)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyShare:
        """Strict decoding: exact schema, one byte form per share, every element validated,
        and the share checked against the public data.  Raises :class:`DecodeError`.

        The codec already refuses tags (RFC 8949 §3.4) and anything but the deterministic
        encoding (RFC 8949 §4.2.1); that makes each *CBOR value* have one byte form.  This
        reader makes each *share* have one: it refuses what :meth:`to_bytes` never writes
        (optional fields holding their defaults, unsorted participants or bans, ``true`` for
        an integer) and fields that contradict each other (see the module docstring).
        """
        try:
            m = codec.load_format(
                data, FORMAT_MAGIC, FORMAT_VERSION, "key share", _REQUIRED, _OPTIONAL, max_size=MAX_KEYSHARE_BYTES
            )
            scheme = get_scheme(codec.get_str(m, _K_SCHEME))
            group = scheme.group
            participants = tuple(codec.get_list(m, _K_PARTICIPANTS, max_len=1024))
            if not all(codec.is_int(p) for p in participants):
                raise DecodeError("participant indices must be integers")
            if not _increasing(participants):
                raise DecodeError("participant indices must be listed in increasing order")
            index = codec.get_int(m, _K_INDEX, 1, group.order - 1)
            vshares = codec.get_list(m, _K_VSHARES, length=len(participants))
            ext = _read_ext(m, scheme, index, participants)
            banned = _read_banned(m)
            depth, parent_fingerprint, child_number = _read_hd(m)
            share = cls(
                scheme=scheme.name,
                index=index,
                threshold=codec.get_int(m, _K_THRESHOLD, 2, 1024),
                participants=participants,
                secret=codec.scalar(group, m[_K_SECRET], nonzero=True),
                verifying_shares={i: codec.point(group, v) for i, v in zip(participants, vshares, strict=True)},
                group_key=codec.point(group, m[_K_GROUP_KEY]),
                chain_code=codec.get_bytes(m, _K_CHAIN_CODE, 32),
                epoch=codec.get_int(m, _K_EPOCH),
                transcript_hash=codec.get_bytes(m, _K_TRANSCRIPT, 32),
                origin=codec.get_str(m, _K_ORIGIN),
                ext=ext,
                banned=banned,
                depth=depth,
                parent_fingerprint=parent_fingerprint,
                child_number=child_number,
                internal_key=codec.point(group, m[_K_INTERNAL]) if _K_INTERNAL in m else None,
            )
            return share
        except DecodeError:
            raise
        except (InvalidParameterError, KeyError, TypeError, ValueError) as exc:
            raise codec.reraise_as_decode(exc) from None


def _increasing(values: tuple[int, ...] | list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def _read_ext(m: Mapping[int, Any], scheme: Scheme, index: int, participants: tuple[int, ...]) -> dict[int, Any]:
    """The extension field: absent, or a non-empty map that the share's scheme accepts
    (:meth:`Scheme.check_ext`: for ``ecdsa-secp256k1`` exactly its pairwise OT setup, every size
    checked, which bounds the field by the number of participants; no other scheme has one)."""
    if _K_EXT not in m:
        return {}
    ext = m[_K_EXT]
    if not isinstance(ext, dict) or not ext:
        raise DecodeError("extension field must be a non-empty map (absent when empty)")
    scheme.check_ext(ext, index, participants)
    return ext


def _read_banned(m: Mapping[int, Any]) -> set[int]:
    """Banned counterparties: absent, or a non-empty increasing list of indices (other participants,
    checked at construction).  Bans protect the threshold-ECDSA OT setup (SECURITY #13); they are
    still accepted on other shares, which the guardian keystores' tests rely on."""
    if _K_BANNED not in m:
        return set()
    banned = m[_K_BANNED]
    if not isinstance(banned, list) or not banned or not all(codec.is_int(b) for b in banned):
        raise DecodeError("banned field must be a non-empty list of indices (absent when empty)")
    if not _increasing(banned):
        raise DecodeError("banned indices must be listed in increasing order")
    return set(banned)


def _read_hd(m: Mapping[int, Any]) -> tuple[int, bytes, int]:
    """BIP32 position ``[depth, parent fingerprint, child number]``: absent for a master key (so
    ``[0, 00000000, 0]`` spelled out is refused, not dropped), depth 1..255 otherwise, and a
    non-hardened child number (threshold keys cannot derive hardened children, see ``crypto.hd``)."""
    if _K_HD not in m:
        return 0, bytes(4), 0
    hd = m[_K_HD]
    if not (
        isinstance(hd, list)
        and len(hd) == 3
        and codec.is_int(hd[0])
        and isinstance(hd[1], bytes)
        and len(hd[1]) == 4
        and codec.is_int(hd[2])
    ):
        raise DecodeError("malformed derivation info")
    depth, parent_fingerprint, child_number = hd
    if not 1 <= depth <= 255:
        raise DecodeError("derivation depth must be 1..255 (a master key has no derivation field)")
    if not 0 <= child_number < HARDENED:
        raise DecodeError("derivation child number must be non-hardened (0..2^31-1)")
    return depth, parent_fingerprint, child_number


def serialize_xpub(
    network: str, depth: int, parent_fingerprint: bytes, child_number: int, chain_code: bytes, key: Point
) -> str:
    """BIP32 serialisation of an extended public key (Base58Check of version, depth, parent
    fingerprint, child number, chain code, compressed key); ``tpub`` for the test networks."""
    try:
        version = XPUB_VERSIONS[network]
    except KeyError:
        raise InvalidParameterError(f"network must be one of {sorted(XPUB_VERSIONS)}") from None
    body = version + bytes([depth]) + parent_fingerprint + child_number.to_bytes(4, "big") + chain_code + key.encode()
    return str(base58.b58encode_check(body).decode())


def bip86_output(scheme: Scheme, internal: Point) -> Point:
    """BIP86's output key ``Q = lift_x(x(P)) + H_TapTweak(x(P))·G`` of an internal key ``P``."""
    negate, t = scheme.post_keygen_tweak(internal)
    return (-internal if negate else internal) + scheme.group.base_mul(t)


def check_verifying_shares(scheme: Scheme, threshold: int, vshares: Mapping[int, Point], group_key: Point) -> None:
    """All verifying shares lie on one polynomial of degree exactly ``t − 1`` whose value at 0 is the group key.

    "Degree < t" alone is not enough (SECURITY #3): the shares of a 3-of-5 key also lie on a
    polynomial of degree < 4, so a share re-labelled 4-of-5 used to load and claim a policy its key
    does not have.  The degree is ``t − 1`` exactly when the points fit degree < t but not degree
    < t − 1 (a false "fits" of the second test has probability 1/q).
    """
    points = tuple((i, vshares[i].encode()) for i in sorted(vshares))
    key = (scheme.name, threshold, group_key.encode(), points)
    if not _on_one_polynomial(key, scheme, threshold, vshares, group_key):
        raise InvalidParameterError("verifying shares are inconsistent with the group key and threshold")
    lower = (scheme.name, threshold - 1, group_key.encode(), points)
    if _on_one_polynomial(lower, scheme, threshold - 1, vshares, group_key):
        raise InvalidParameterError(
            f"verifying shares lie on a polynomial of degree below {threshold - 1}: the key's threshold is lower"
        )


def _on_one_polynomial(
    key: tuple[object, ...], scheme: Scheme, threshold: int, vshares: Mapping[int, Point], group_key: Point
) -> bool:
    """Reed–Solomon dual-code test, memoised (every holder of a key checks the same data).

    ``(Y_0 = Y, Y_1, …, Y_n)`` at ``x = (0, i_1, …, i_n)`` is a codeword of degree < t iff
    ``Σ_k w_k·g(x_k)·Y_k = 0`` for every ``g`` of degree ≤ n − t, with ``w_k = Π_{m≠k} (x_k − x_m)⁻¹``.
    One random ``g`` gives a false pass with probability 1/q, at the cost of one (n+1)-term MSM
    instead of Lagrange interpolation at every point.
    """
    cached = _MEMO.get(key)
    if cached is not None:
        return cached
    group = scheme.group
    q = group.order
    xs = [0, *sorted(vshares)]
    ys = [group_key, *(vshares[i] for i in sorted(vshares))]
    if len(xs) - 1 < threshold:
        return False
    weights = []
    for k, xk in enumerate(xs):
        den = 1
        for m, xm in enumerate(xs):
            if m != k:
                den = den * (xk - xm) % q
        weights.append(pow(den, -1, q))
    degree = len(xs) - 1 - threshold
    g = [group.random_scalar() for _ in range(degree + 1)]

    def evaluate(x: int) -> int:
        acc = 0
        for c in reversed(g):
            acc = (acc * x + c) % q
        return acc

    ok = group.msm([w * evaluate(x) % q for w, x in zip(weights, xs, strict=True)], ys).is_identity()
    if len(_MEMO) >= 256:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = ok
    return ok


_MEMO: dict[tuple[object, ...], bool] = {}
