"""Pedersen distributed key generation with Schnorr proofs of knowledge.

Pedersen (EUROCRYPT '91) as used by FROST (Komlo–Goldberg 2020, Fig. 1) and
RFC 9591 App. C, in the shape of the Zcash Foundation's ``dkg`` module
(part 1 / part 2 / finalise), with the hardening of ChillDKG:

* the proof of knowledge of each dealer's constant term is bound to the
  session id and the dealer's identifier (SECURITY #2, #7): the challenge is
  ``HDKG(ser(i) ‖ ser(C_i0) ‖ ser(R) ‖ ctx)`` with ``ctx`` an injective
  encoding of the session id — identical to ZF's when ``ctx`` is empty, which is
  how the published vectors are checked;
* commitment vectors must have exactly ``t`` entries (SECURITY #3), every
  element is strictly decoded (SECURITY #6);
* a jointly random chain code for BIP32 derivation, committed to in round 1
  and revealed in round 2, so no dealer can choose it after seeing the others;
* received shares are checked with one batched Feldman equation and, only when
  that fails, one by one to name the dealers that cheated (SECURITY #4);
  :func:`check_dealing` is that per-dealer check on its own, which every other
  party re-runs on the signed messages a complaint carries (the complaint phase
  of Gennaro–Jarecki–Krawczyk–Rabin, J. Cryptology 2007, without its extra round);
* the round-1 package carries a digest of the run's parameters (scheme,
  threshold, participants: :func:`inputs_digest`), compared before any check
  that can blame, so parties given different parameters abort without naming
  each other (SECURITY #28).

Round structure and agreement (echo of round 1, confirmation of the final
transcript hash) live in :mod:`gridlock.protocol.dkg`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridlock.crypto import codec, transcript, vss
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import TAPROOT, KeyShare
from gridlock.crypto.polynomial import Polynomial
from gridlock.crypto.scheme import Scheme
from gridlock.errors import DecodeError, ProtocolAbort

POK_LABEL = b"gridlock/dkg/pok/v1"
CHAIN_LABEL = b"gridlock/dkg/chain-code/v1"
CHAIN_COMMIT_LABEL = b"gridlock/dkg/chain-code-commitment/v1"
TRANSCRIPT_LABEL = b"gridlock/dkg/transcript/v1"
INPUTS_LABEL = b"gridlock/dkg/inputs/v1"


# --- proof of knowledge (Schnorr, Fiat–Shamir) -----------------------------------------------
def pok_context(session_id: bytes) -> bytes:
    return transcript.encode(POK_LABEL, session_id)


def pok_challenge(scheme: Scheme, ident: int, c0: Point, r: Point, context: bytes) -> int:
    return scheme.hdkg(scheme.encode_identifier(ident) + c0.encode() + r.encode() + context)


def prove_knowledge(scheme: Scheme, ident: int, a0: int, c0: Point, context: bytes) -> tuple[Point, int]:
    group = scheme.group
    k = group.random_scalar()
    r = group.base_mul(k)
    c = pok_challenge(scheme, ident, c0, r, context)
    return r, (k + a0 * c) % group.order


def verify_knowledge(scheme: Scheme, ident: int, c0: Point, proof: tuple[Point, int], context: bytes) -> bool:
    r, mu = proof
    c = pok_challenge(scheme, ident, c0, r, context)
    return scheme.group.base_mul(mu) == r + c * c0


# --- messages ---------------------------------------------------------------------------------
def inputs_digest(scheme: Scheme, threshold: int, participants: Sequence[int]) -> bytes:
    """The run's parameters as every dealer was given them (carried in its round-1 package)."""
    return transcript.digest(
        INPUTS_LABEL,
        scheme.name.encode(),
        transcript.int_field(threshold),
        transcript.seq(transcript.int_field(j) for j in sorted(participants)),
    )


@dataclass(frozen=True)
class Round1Package:
    """Broadcast by every dealer: Feldman commitment, proof of knowledge, chain-code commitment,
    and (in the protocol) the digest of the parameters it was given (:func:`inputs_digest`)."""

    commitment: tuple[Point, ...]
    proof: tuple[Point, int]
    chain_commit: bytes
    context: bytes = b""  # inputs digest; absent from the encoding when empty

    def to_bytes(self, scheme: Scheme) -> bytes:
        m: dict[int, object] = {
            0: [c.encode() for c in self.commitment],
            1: self.proof[0].encode(),
            2: scheme.group.scalar_to_bytes(self.proof[1]),
            3: self.chain_commit,
        }
        if self.context:
            m[4] = self.context
        return codec.dumps(m)

    @classmethod
    def from_bytes(cls, scheme: Scheme, data: bytes, threshold: int) -> Round1Package:
        return cls.from_map(scheme, codec.load_map(data, frozenset({0, 1, 2, 3}), frozenset({4})), threshold)

    @classmethod
    def from_map(cls, scheme: Scheme, m: Mapping[int, Any], threshold: int) -> Round1Package:
        g = scheme.group
        raw = codec.get_list(m, 0)
        if len(raw) != threshold:
            raise DecodeError(f"commitment has {len(raw)} entries, expected {threshold} (the threshold)")
        return cls(
            commitment=tuple(codec.point(g, c) for c in raw),
            proof=(codec.point(g, m[1]), codec.scalar(g, m[2])),
            chain_commit=codec.get_bytes(m, 3, 32),
            context=codec.get_bytes(m, 4, 32) if 4 in m else b"",
        )


def read_context(data: bytes) -> tuple[bytes, dict[int, Any]]:
    """The inputs digest of an encoded round-1 package, read before anything that depends on the
    parameters (the commitment's length is the threshold), and the decoded map for
    :meth:`Round1Package.from_map`; :class:`DecodeError` if it has no digest."""
    m = codec.load_map(data, frozenset({0, 1, 2, 3, 4}))
    return codec.get_bytes(m, 4, 32), m


@dataclass(frozen=True, repr=False)
class Round2Package:
    """Sent point-to-point (confidentially) from dealer to each holder: its share and the chain-code opening."""

    share: int
    chain_code_part: bytes

    def to_bytes(self, scheme: Scheme) -> bytes:
        return codec.dumps({0: scheme.group.scalar_to_bytes(self.share), 1: self.chain_code_part})

    @classmethod
    def from_bytes(cls, scheme: Scheme, data: bytes) -> Round2Package:
        m = codec.load_map(data, frozenset({0, 1}))
        return cls(codec.scalar(scheme.group, m[0]), codec.get_bytes(m, 1, 32))

    def __repr__(self) -> str:
        return "Round2Package(share=<redacted>)"


class DealerSecret:
    """What a dealer keeps between rounds: its polynomial and chain-code contribution."""

    __slots__ = ("chain_code_part", "polynomial")

    def __init__(self, polynomial: Polynomial, chain_code_part: bytes) -> None:
        self.polynomial = polynomial
        self.chain_code_part = chain_code_part

    def __repr__(self) -> str:
        return "DealerSecret(<redacted>)"


def chain_commitment(session_id: bytes, ident: int, part: bytes) -> bytes:
    return transcript.digest(CHAIN_COMMIT_LABEL, session_id, transcript.int_field(ident), part)


# --- steps ------------------------------------------------------------------------------------
def part1(
    scheme: Scheme, ident: int, threshold: int, session_id: bytes, context: bytes = b""
) -> tuple[DealerSecret, Round1Package]:
    """Sample ``f_i`` of degree t−1, commit to it, prove knowledge of ``f_i(0)``."""
    group = scheme.group
    poly = Polynomial.random(group, threshold - 1)
    commitment = vss.commit(group, poly)
    proof = prove_knowledge(scheme, ident, poly.coefficients[0], commitment[0], pok_context(session_id))
    part = secrets.token_bytes(32)
    package = Round1Package(tuple(commitment), proof, chain_commitment(session_id, ident, part), context)
    return DealerSecret(poly, part), package


def check_round1(scheme: Scheme, session_id: bytes, packages: Mapping[int, Round1Package]) -> None:
    """Verify every dealer's proof of knowledge; abort naming those that fail."""
    ctx = pok_context(session_id)
    bad = [j for j, p in packages.items() if not verify_knowledge(scheme, j, p.commitment[0], p.proof, ctx)]
    if bad:
        raise ProtocolAbort(bad, "dkg-proof-of-knowledge", "invalid proof of knowledge of the constant term")


def check_dealing(
    scheme: Scheme, session_id: bytes, dealer: int, holder: int, round1: Round1Package, round2: Round2Package
) -> None:
    """One dealer's round-2 package to ``holder`` against its round-1 package: the chain-code
    opening and the Feldman check ``s·G = Σ_k C_k·holder^k``.  Raises ProtocolAbort naming ``dealer``.

    What :func:`finalize` checks per dealer, on its own: a party re-runs it on a complaint's
    signed messages to see for itself whether the dealer or the complainer lies.
    """
    if chain_commitment(session_id, dealer, round2.chain_code_part) != round1.chain_commit:
        raise ProtocolAbort([dealer], "dkg-chain-code-opening", "chain-code opening does not match its commitment")
    if not vss.verify(scheme.group, round1.commitment, holder, round2.share):
        raise ProtocolAbort(
            [dealer], "dkg-share-feldman", f"share sent to participant {holder} fails Feldman verification"
        )


def part2(secret: DealerSecret, participants: Sequence[int]) -> dict[int, Round2Package]:
    """Evaluate this dealer's polynomial for every participant (including itself)."""
    return {j: Round2Package(secret.polynomial(j), secret.chain_code_part) for j in participants}


def finalize(
    scheme: Scheme,
    session_id: bytes,
    me: int,
    threshold: int,
    participants: Sequence[int],
    round1: Mapping[int, Round1Package],
    round1_bytes: Mapping[int, bytes],
    received: Mapping[int, Round2Package],
) -> KeyShare:
    """Check the received shares and chain-code openings; derive the key share (epoch 0).

    ``round1`` and ``received`` hold every participant's data, this party's own included.
    """
    group = scheme.group
    bad_chain = [
        j
        for j in participants
        if chain_commitment(session_id, j, received[j].chain_code_part) != round1[j].chain_commit
    ]
    if bad_chain:
        raise ProtocolAbort(bad_chain, "dkg-chain-code-opening", "chain-code opening does not match its commitment")
    summed, secret = vss.verify_received(
        group,
        {j: round1[j].commitment for j in participants},
        me,
        {j: received[j].share for j in participants},
        "dkg-share-feldman",
    )
    group_key = summed[0]
    vshares = {j: vss.evaluate(group, summed, j) for j in participants}
    chain_code = transcript.digest(CHAIN_LABEL, session_id, *(received[j].chain_code_part for j in participants))
    th = transcript.digest(
        TRANSCRIPT_LABEL,
        scheme.name.encode(),
        session_id,
        transcript.int_field(threshold),
        transcript.seq(transcript.int_field(j) for j in participants),
        transcript.seq(round1_bytes[j] for j in participants),
    )
    internal = group_key if scheme.name == TAPROOT else None  # BIP86: the vault keeps P (crypto.hd)
    secret, vshares, group_key = scheme.apply_keygen_tweak(secret, vshares, group_key)
    return KeyShare(
        scheme=scheme.name,
        index=me,
        threshold=threshold,
        participants=tuple(participants),
        secret=secret,
        verifying_shares=vshares,
        group_key=group_key,
        chain_code=chain_code,
        epoch=0,
        transcript_hash=th,
        origin="dkg",
        internal_key=internal,
    )
