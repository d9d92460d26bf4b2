"""Pedersen DKG known-answer tests against the Zcash Foundation's 2-of-3 vectors.

Checks, per suite: every dealer's Schnorr proof of knowledge (with the empty
context, which is exactly ZF's challenge, and failing under our session-bound
non-empty context or any tampering), every share sent (recomputed from the
dealer's coefficients and Feldman-verified), every final signing share,
verifying share and the group key — for Taproot after the BIP341 TapTweak with
an empty script tree.  Finally the vector's data is fed through
``dkg.finalize`` itself (with chain-code commitments of our own, which the
vectors do not have) and must produce the same key shares.

Proof encoding: ZF serialises the proof as ``R ‖ mu`` where R is the group
element encoding (32 bytes for Ed25519, 33 for secp256k1) — except for Taproot,
whose proofs use the 64-byte BIP340 signature encoding with an x-only R (ZF's
TR nonce generation always yields an even-y R, so ``lift_x`` recovers it).
The Ed25519 file's ``secret`` fields are stale and ignored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import load_vector
from gridlock.crypto import dkg, vss
from gridlock.crypto.group import Point
from gridlock.crypto.polynomial import Polynomial
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.secp256k1 import SECP256K1, Secp256k1Point
from gridlock.crypto.suites import FROST_ED25519, FROST_SECP256K1, FROST_TAPROOT
from gridlock.errors import ProtocolAbort

DKG_VECTORS: dict[str, Scheme] = {
    "zf-ed25519-dkg.json": FROST_ED25519,
    "zf-secp256k1-dkg.json": FROST_SECP256K1,
    "zf-secp256k1-tr-dkg.json": FROST_TAPROOT,
}
NAMES = sorted(DKG_VECTORS)


@dataclass(frozen=True)
class Dealer:
    identifier: int
    polynomial: Polynomial
    commitment: tuple[Point, ...]
    proof_r: Point
    proof_mu: int
    proof_bytes: bytes
    shares_received: dict[int, int]  # dealer j -> f_j(this participant), from the other dealers only
    signing_share: int  # the final (for TR: tweaked) share of this participant
    verifying_share: Point


@dataclass(frozen=True)
class DkgVector:
    scheme: Scheme
    threshold: int
    dealers: dict[int, Dealer]
    group_key: Point
    raw: dict[str, Any]

    @property
    def ids(self) -> list[int]:
        return sorted(self.dealers)


def _decode_proof(scheme: Scheme, pok: bytes) -> tuple[Point, int]:
    g = scheme.group
    r_bytes, mu_bytes = pok[: -g.scalar_len], pok[-g.scalar_len :]
    if scheme is FROST_TAPROOT:
        assert len(r_bytes) == 32
        r: Point = SECP256K1.lift_x(r_bytes)
    else:
        assert len(r_bytes) == g.element_len
        r = g.decode(r_bytes)
    return r, g.decode_scalar(mu_bytes)


@functools.cache
def vector(name: str) -> DkgVector:
    raw = load_vector(f"frost/{name}")
    scheme = DKG_VECTORS[name]
    g = scheme.group
    inputs = raw["inputs"]
    n = int(raw["config"]["MAX_PARTICIPANTS"])
    t = int(raw["config"]["MIN_PARTICIPANTS"])
    dealers = {}
    for i in range(1, n + 1):
        d = inputs[str(i)]
        assert int(d["identifier"]) == i
        pok = bytes.fromhex(d["proof_of_knowledge"])
        r, mu = _decode_proof(scheme, pok)
        coeffs = [g.decode_scalar(bytes.fromhex(d["signing_key"])), g.decode_scalar(bytes.fromhex(d["coefficient"]))]
        dealers[i] = Dealer(
            identifier=i,
            polynomial=Polynomial(coeffs, g.order),
            commitment=tuple(g.decode(bytes.fromhex(c)) for c in d["vss_commitments"]),
            proof_r=r,
            proof_mu=mu,
            proof_bytes=pok,
            shares_received={int(j): g.decode_scalar(bytes.fromhex(s)) for j, s in d["signing_shares"].items()},
            signing_share=g.decode_scalar(bytes.fromhex(d["signing_share"])),
            verifying_share=g.decode(bytes.fromhex(d["verifying_share"])),
        )
    return DkgVector(scheme, t, dealers, g.decode(bytes.fromhex(inputs["verifying_key"])), raw)


def test_config() -> None:
    for name in NAMES:
        v = vector(name)
        assert v.raw["config"]["group"] == v.scheme.group.name
        assert v.threshold == 2
        assert v.ids == [1, 2, 3]
        for d in v.dealers.values():
            assert len(d.commitment) == v.threshold
            assert set(d.shares_received) == set(v.ids) - {d.identifier}


# --- proofs of knowledge --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_proof_of_knowledge_verifies_with_empty_context(name: str) -> None:
    v = vector(name)
    for i, d in v.dealers.items():
        assert dkg.verify_knowledge(v.scheme, i, d.commitment[0], (d.proof_r, d.proof_mu), context=b"")


@pytest.mark.parametrize("name", NAMES)
def test_proof_of_knowledge_rejects_tampered_mu(name: str) -> None:
    v = vector(name)
    g = v.scheme.group
    for i, d in v.dealers.items():
        for pos in (0, g.scalar_len // 2, g.scalar_len - 1):
            pok = bytearray(d.proof_bytes)
            pok[len(pok) - g.scalar_len + pos] ^= 0x01
            mu = int.from_bytes(pok[-g.scalar_len :], "little" if g.name == "ed25519" else "big") % g.order
            assert mu != d.proof_mu
            assert not dkg.verify_knowledge(v.scheme, i, d.commitment[0], (d.proof_r, mu), context=b"")


@pytest.mark.parametrize("name", NAMES)
def test_proof_of_knowledge_is_bound_to_context_identifier_and_commitment(name: str) -> None:
    v = vector(name)
    proof_1 = (v.dealers[1].proof_r, v.dealers[1].proof_mu)
    c0_1 = v.dealers[1].commitment[0]
    # Our session-bound form: a non-empty context changes the challenge.
    assert not dkg.verify_knowledge(v.scheme, 1, c0_1, proof_1, context=dkg.pok_context(bytes(32)))
    assert not dkg.verify_knowledge(v.scheme, 1, c0_1, proof_1, context=b"\x00")
    # Replayed under another identifier or for another dealer's constant term.
    assert not dkg.verify_knowledge(v.scheme, 2, c0_1, proof_1, context=b"")
    assert not dkg.verify_knowledge(v.scheme, 1, v.dealers[2].commitment[0], proof_1, context=b"")


def test_our_own_proofs_round_trip() -> None:
    for scheme in DKG_VECTORS.values():
        g = scheme.group
        a0 = g.random_scalar()
        c0 = g.base_mul(a0)
        ctx = dkg.pok_context(b"session")
        proof = dkg.prove_knowledge(scheme, 7, a0, c0, ctx)
        assert dkg.verify_knowledge(scheme, 7, c0, proof, ctx)
        assert not dkg.verify_knowledge(scheme, 7, c0, proof, dkg.pok_context(b"other session"))


# --- shares ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_coefficients_match_commitments(name: str) -> None:
    v = vector(name)
    g = v.scheme.group
    for d in v.dealers.values():
        assert vss.commit(g, d.polynomial) == list(d.commitment)


@pytest.mark.parametrize("name", NAMES)
def test_shares_received_are_polynomial_values_and_pass_feldman(name: str) -> None:
    """Participant i's ``signing_shares[j]`` is f_j(i), the share dealer j sent to i."""
    v = vector(name)
    g = v.scheme.group
    for i, holder in v.dealers.items():
        for j, s in holder.shares_received.items():
            dealer = v.dealers[j]
            assert dealer.polynomial(i) == s, f"dealer {j} -> {i}"
            assert vss.verify(g, dealer.commitment, i, s)
            assert not vss.verify(g, dealer.commitment, i, (s + 1) % g.order)
            assert not vss.verify(g, dealer.commitment, j, s)
            assert not vss.verify(g, holder.commitment, i, s)  # another dealer's commitment


def _summed(v: DkgVector) -> tuple[dict[int, int], dict[int, Point], Point]:
    """Untweaked DKG output: share sums, verifying shares from summed commitments, group key."""
    g = v.scheme.group
    secrets_ = {}
    for i in v.ids:
        received = [v.dealers[i].shares_received[j] if j != i else v.dealers[i].polynomial(i) for j in v.ids]
        secrets_[i] = sum(received) % g.order
    summed = vss.add_commitments(g, [v.dealers[j].commitment for j in v.ids])
    vshares = {i: vss.evaluate(g, summed, i) for i in v.ids}
    for i in v.ids:
        assert g.base_mul(secrets_[i]) == vshares[i]
    return secrets_, vshares, summed[0]


@pytest.mark.parametrize("name", NAMES)
def test_final_shares_and_group_key(name: str) -> None:
    v = vector(name)
    secrets_, vshares, group_key = _summed(v)
    for i in v.ids:
        secret, tweaked_vshares, tweaked_key = v.scheme.apply_keygen_tweak(secrets_[i], vshares, group_key)
        assert secret == v.dealers[i].signing_share, f"signing share of {i}"
        assert tweaked_key == v.group_key
        for j in v.ids:
            assert tweaked_vshares[j] == v.dealers[j].verifying_share, f"verifying share of {j}"
    if v.scheme is not FROST_TAPROOT:
        assert group_key == v.group_key
        assert all(secrets_[i] == v.dealers[i].signing_share for i in v.ids)


def test_taproot_tweak_is_applied_and_untweaked_key_has_odd_y() -> None:
    """The TR vector exercises the negation branch: the untweaked key has odd y."""
    v = vector("zf-secp256k1-tr-dkg.json")
    _, _, untweaked = _summed(v)
    assert isinstance(untweaked, Secp256k1Point)
    assert not untweaked.has_even_y()
    negate, t = FROST_TAPROOT.post_keygen_tweak(untweaked)
    assert negate
    assert t != 0
    assert -untweaked + SECP256K1.base_mul(t) == v.group_key
    assert untweaked != v.group_key


# --- dkg.finalize ---------------------------------------------------------------------------------------
def _finalize_inputs(
    v: DkgVector, session_id: bytes
) -> tuple[dict[int, dkg.Round1Package], dict[int, bytes], dict[int, dict[int, dkg.Round2Package]]]:
    """Round-1 packages from the vector (plus chain-code commitments of our own) and, per recipient,
    the round-2 packages it received."""
    parts = {j: bytes([j]) * 32 for j in v.ids}
    round1 = {
        j: dkg.Round1Package(
            commitment=d.commitment,
            proof=(d.proof_r, d.proof_mu),
            chain_commit=dkg.chain_commitment(session_id, j, parts[j]),
        )
        for j, d in v.dealers.items()
    }
    round1_bytes = {j: p.to_bytes(v.scheme) for j, p in round1.items()}
    received = {
        i: {
            j: dkg.Round2Package(v.dealers[i].shares_received[j] if j != i else d.polynomial(i), parts[j])
            for j, d in v.dealers.items()
        }
        for i in v.ids
    }
    return round1, round1_bytes, received


@pytest.mark.parametrize("name", NAMES)
def test_finalize_reproduces_vector(name: str) -> None:
    v = vector(name)
    sid = b"gridlock dkg vector test session"
    round1, round1_bytes, received = _finalize_inputs(v, sid)
    # The round-1 packages survive their own wire format.
    for j, b in round1_bytes.items():
        assert dkg.Round1Package.from_bytes(v.scheme, b, v.threshold) == round1[j]
    results = {i: dkg.finalize(v.scheme, sid, i, v.threshold, v.ids, round1, round1_bytes, received[i]) for i in v.ids}
    for i, ks in results.items():
        assert ks.scheme == v.scheme.name
        assert ks.secret == v.dealers[i].signing_share
        assert ks.group_key == v.group_key
        assert all(ks.verifying_shares[j] == v.dealers[j].verifying_share for j in v.ids)
        ks.check_public_data()
    assert len({ks.public_fingerprint() for ks in results.values()}) == 1


@pytest.mark.parametrize("name", NAMES)
def test_finalize_blames_dealer_of_bad_share(name: str) -> None:
    v = vector(name)
    sid = b"gridlock dkg vector test session"
    round1, round1_bytes, received = _finalize_inputs(v, sid)
    me, cheater = 1, 3
    bad = dict(received[me])
    bad[cheater] = dkg.Round2Package((bad[cheater].share + 1) % v.scheme.group.order, bad[cheater].chain_code_part)
    with pytest.raises(ProtocolAbort) as exc:
        dkg.finalize(v.scheme, sid, me, v.threshold, v.ids, round1, round1_bytes, bad)
    assert exc.value.culprits == {cheater}
    assert exc.value.check == "dkg-share-feldman"


@pytest.mark.parametrize("name", NAMES)
def test_check_round1_requires_session_bound_proofs(name: str) -> None:
    """The published proofs use ZF's empty context, so our session-bound round-1 check rejects them all."""
    v = vector(name)
    round1, _, _ = _finalize_inputs(v, b"sid")
    with pytest.raises(ProtocolAbort) as exc:
        dkg.check_round1(v.scheme, b"sid", round1)
    assert exc.value.culprits == set(v.ids)
