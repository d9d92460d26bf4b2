"""Proactive refresh and resharing to a new committee and/or threshold — same key, new shares.

* **Refresh** (Herzberg–Jarecki–Krawczyk–Yung, CRYPTO '95, "proactive secret sharing"; the ZF
  ``refresh_dkg`` variant): every holder deals a random polynomial with **zero constant term** of
  the same degree; each holder adds what it receives to its share.  Receivers never accept a
  constant-term commitment from the wire: they insert the identity themselves, which *forces*
  every dealer's constant to be zero (a dealer cannot shift the key).
* **Reshare** (Desmedt–Jajodia 1997 / Wong–Wang–Wing 2002, verifiable redistribution): at least
  ``t`` holders of epoch ``e`` each deal their Lagrange-weighted share ``λ_i·s_i`` (over the dealer
  set) with a fresh polynomial of degree ``t'−1`` to a new committee of ``n'`` holders.  Receivers
  check ``C_i0 = λ_i·Y_i`` against the *old* verifying shares, Feldman-check their shares, and the
  new group key ``Σ C_i0`` must equal the old one.

Every dealer also sends the old epoch's public data (:class:`PublicPackage`); receivers that hold
no share of the old epoch take it only if all dealers agree on it (at least one dealer is honest).
The result is epoch ``e + 1`` with its own transcript hash; the old epoch's shares are untouched
here — the guardian layer retires them only when every new holder has confirmed (SECURITY #16).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridlock.crypto import codec, transcript, vss
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import TAPROOT, KeyShare, bip86_output, check_verifying_shares, validate_threshold
from gridlock.crypto.polynomial import Polynomial, lagrange_coefficient, validate_indices
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError, ProtocolAbort

TRANSCRIPT_LABEL = b"gridlock/reshare/transcript/v1"


@dataclass(frozen=True)
class PublicPackage:
    """The public data of one epoch of a key: what a new holder needs to verify a resharing."""

    scheme: str
    threshold: int
    participants: tuple[int, ...]
    verifying_shares: Mapping[int, Point]
    group_key: Point
    chain_code: bytes
    epoch: int
    transcript_hash: bytes
    origin: str
    hd: tuple[int, bytes, int]  # (depth, parent fingerprint, child number)
    internal_key: Point | None = None  # frost-taproot: the BIP86 internal key (KeyShare.internal_key)

    @classmethod
    def of(cls, share: KeyShare) -> PublicPackage:
        return cls(
            share.scheme,
            share.threshold,
            share.participants,
            dict(share.verifying_shares),
            share.group_key,
            share.chain_code,
            share.epoch,
            share.transcript_hash,
            share.origin,
            (share.depth, share.parent_fingerprint, share.child_number),
            share.internal_key,
        )

    def to_bytes(self) -> bytes:
        internal = {} if self.internal_key is None else {10: self.internal_key.encode()}
        return codec.dumps(
            {
                **internal,
                0: self.scheme,
                1: self.threshold,
                2: list(self.participants),
                3: [self.verifying_shares[i].encode() for i in self.participants],
                4: self.group_key.encode(),
                5: self.chain_code,
                6: self.epoch,
                7: self.transcript_hash,
                8: self.origin,
                9: list(self.hd),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicPackage:
        m = codec.load_map(data, frozenset(range(10)), frozenset({10}))
        scheme = get_scheme(codec.get_str(m, 0))
        g = scheme.group
        parts = codec.get_list(m, 2, max_len=1024)
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            raise DecodeError("participants must be integers")
        try:
            validate_indices(parts, g.order)
        except InvalidParameterError as exc:
            raise DecodeError(str(exc)) from None
        threshold = codec.get_int(m, 1, 2, len(parts))
        vs = codec.get_list(m, 3, length=len(parts))
        hd = codec.get_list(m, 9, length=3)
        if not (isinstance(hd[0], int) and isinstance(hd[1], bytes) and len(hd[1]) == 4 and isinstance(hd[2], int)):
            raise DecodeError("malformed derivation info")
        pkg = cls(
            scheme.name,
            threshold,
            tuple(parts),
            {i: codec.point(g, v) for i, v in zip(parts, vs, strict=True)},
            codec.point(g, m[4]),
            codec.get_bytes(m, 5, 32),
            codec.get_int(m, 6),
            codec.get_bytes(m, 7, 32),
            codec.get_str(m, 8),
            (hd[0], hd[1], hd[2]),
            codec.point(g, m[10]) if 10 in m else None,
        )
        try:
            check_verifying_shares(scheme, threshold, pkg.verifying_shares, pkg.group_key)
        except InvalidParameterError as exc:
            raise DecodeError(str(exc)) from None
        if pkg.internal_key is not None and (
            scheme.name != TAPROOT or bip86_output(scheme, pkg.internal_key) != pkg.group_key
        ):
            raise DecodeError("the internal key is not the Taproot group key's (BIP86)")
        return pkg


def agree_on_public_data(
    packages: Mapping[int, bytes],
    senders: Sequence[int],
    mine: PublicPackage | None,
    expected_group_key: Point | None,
    check: str,
) -> PublicPackage:
    """The old epoch's public data that every sender (dealer or repair helper) must describe alike.

    Blame only what can be shown (SECURITY #28).  A party holding a share of that epoch compares
    with its own copy: a sender describing *the same* epoch (same transcript hash) differently, or
    sending bytes that do not decode, lies — it is named; a sender describing another epoch may
    simply have been asked to deal from another one (``epoch-mismatch``, nobody named).  A party
    holding none accepts the data only if all senders agree — at least one of ``t`` senders is
    honest — and when they do not, it cannot tell who lies: every sender is a suspect, none a
    culprit (a majority vote would let ``t − 1`` colluders frame an honest one).  When the caller
    knows the vault's key and the agreed data is of another key, the request is wrong, not a sender.
    """

    def epoch_of(data: bytes) -> bytes | None:
        try:
            return PublicPackage.from_bytes(data).transcript_hash
        except DecodeError:
            return None

    if mine is not None:
        reference = mine.to_bytes()
        differ = {i: epoch_of(p) for i, p in sorted(packages.items()) if p != reference}
        lying = [i for i, th in differ.items() if th is None or th == mine.transcript_hash]
        if lying:
            raise ProtocolAbort(lying, check, "senders describe this epoch's public data differently (or not at all)")
        if differ:
            raise ProtocolAbort([], "epoch-mismatch", f"senders {sorted(differ)} hold another epoch of the key")
    else:
        distinct = set(packages.values())
        if len(distinct) != 1:
            epochs = {i: epoch_of(p) for i, p in sorted(packages.items())}
            malformed = [i for i, th in epochs.items() if th is None]
            if malformed:
                raise ProtocolAbort(malformed, check, "malformed public data of the key")
            if len(set(epochs.values())) > 1:
                raise ProtocolAbort([], "epoch-mismatch", "senders hold different epochs of the key")
            raise ProtocolAbort([], check, "senders disagree on the key's public data", suspects=list(packages))
        try:
            mine = PublicPackage.from_bytes(distinct.pop())
        except DecodeError as exc:
            raise ProtocolAbort(list(packages), check, f"malformed public data: {exc}") from None
    if expected_group_key is not None and mine.group_key != expected_group_key:
        raise ProtocolAbort([], "inputs-mismatch", "the senders' key is not the one this party was asked about")
    if len(senders) < mine.threshold or not set(senders) <= set(mine.participants):
        raise ProtocolAbort([], check, "too few senders, or senders that hold no share of this key")
    return mine


class Dealing:
    """A dealer's secret polynomial (kept) and public commitment (broadcast)."""

    __slots__ = ("commitment", "polynomial")

    def __init__(self, polynomial: Polynomial, commitment: list[Point]) -> None:
        self.polynomial = polynomial
        self.commitment = commitment

    def __repr__(self) -> str:
        return "Dealing(<redacted>)"


def deal(share: KeyShare, dealers: Sequence[int], new_threshold: int, *, refresh: bool) -> Dealing:
    """Refresh: zero constant, commitment without its (identity) constant term.
    Reshare: constant ``λ_i·s_i`` over the dealer set."""
    group = get_scheme(share.scheme).group
    constant = 0 if refresh else lagrange_coefficient(share.index, dealers, group.order) * share.secret
    poly = Polynomial.random(group, new_threshold - 1, constant % group.order)
    commitment = vss.commit(group, poly)
    return Dealing(poly, commitment[1:] if refresh else commitment)


def full_commitment(
    scheme: Scheme, old: PublicPackage, dealer: int, dealers: Sequence[int], sent: Sequence[Point], *, refresh: bool
) -> list[Point]:
    """The dealer's commitment with its constant term checked or forced.

    Raises ProtocolAbort naming ``dealer`` if the constant term is not the one it must be.
    """
    group = scheme.group
    if refresh:
        return [group.identity, *sent]
    expected = lagrange_coefficient(dealer, dealers, group.order) * old.verifying_shares[dealer]
    if sent[0] != expected:
        raise ProtocolAbort(
            [dealer], "reshare-constant", "dealt constant is not λ_i·s_i of the dealer's old verifying share"
        )
    return list(sent)


def decode_commitment(scheme: Scheme, raw: Any, new_threshold: int, *, refresh: bool) -> list[Point]:
    expected = new_threshold - 1 if refresh else new_threshold
    if not isinstance(raw, list) or len(raw) != expected:
        raise DecodeError(f"commitment must have {expected} entries")
    return [codec.point(scheme.group, c) for c in raw]


def finalize(
    scheme: Scheme,
    old: PublicPackage,
    me: int,
    new_threshold: int,
    new_participants: Sequence[int],
    commitments: Mapping[int, Sequence[Point]],
    shares: Mapping[int, int],
    transcript_hash: bytes,
    *,
    old_secret: int | None,
) -> KeyShare:
    """A receiver's new share: Feldman-check what each dealer sent, sum, derive the public data."""
    group = scheme.group
    validate_threshold(new_threshold, len(new_participants))
    summed, total = vss.verify_received(group, commitments, me, shares, "reshare-share-feldman")
    if old_secret is not None:  # refresh: add the zero sharing to the old shares
        secret = (old_secret + total) % group.order
        vshares = {j: old.verifying_shares[j] + vss.evaluate(group, summed, j) for j in new_participants}
        group_key = old.group_key
    else:
        secret = total
        vshares = {j: vss.evaluate(group, summed, j) for j in new_participants}
        group_key = summed[0]
        if group_key != old.group_key:
            raise ProtocolAbort([], "reshare-group-key", "the dealt sharing does not reproduce the group key")
    depth, fingerprint, child = old.hd
    return KeyShare(
        scheme=scheme.name,
        index=me,
        threshold=new_threshold,
        participants=tuple(new_participants),
        secret=secret,
        verifying_shares=vshares,
        group_key=group_key,
        chain_code=old.chain_code,
        epoch=old.epoch + 1,
        transcript_hash=transcript_hash,
        origin=old.origin,
        depth=depth,
        parent_fingerprint=fingerprint,
        child_number=child,
        internal_key=old.internal_key,
    )


def transcript_hash(
    session_id: bytes,
    old: PublicPackage,
    new_threshold: int,
    new_participants: Sequence[int],
    round1: Mapping[int, bytes],
    *,
    refresh: bool,
) -> bytes:
    return transcript.digest(
        TRANSCRIPT_LABEL,
        b"refresh" if refresh else b"reshare",
        session_id,
        old.to_bytes(),
        transcript.int_field(new_threshold),
        transcript.seq(transcript.int_field(j) for j in new_participants),
        transcript.seq(transcript.int_field(d) + round1[d] for d in sorted(round1)),
    )
