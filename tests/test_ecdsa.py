"""Threshold ECDSA (DKLs23): libsecp256k1 checks honest runs; attacks of issue 3 and SECURITY #1-7, 9, 12, 13."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gridlock import local
from gridlock.crypto import codec
from gridlock.crypto.ecdsa import online, vole
from gridlock.crypto.ecdsa import setup as ecdsa_setup
from gridlock.crypto.ecdsa.ot_extension import KAPPA
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.secp256k1 import SECP256K1, N
from gridlock.errors import DecodeError, InvalidParameterError, MessageRejected, NonceReuseError, ProtocolAbort
from gridlock.protocol.ecdsa import OnlineSignParty, PresignParty
from gridlock.protocol.message import Message
from gridlock.protocol.runner import InMemoryNetwork

SCHEME = "ecdsa-secp256k1"


@pytest.fixture(scope="module")
def key35() -> list[KeyShare]:
    return local.keygen(SCHEME, threshold=3, n=5)


@pytest.fixture
def fresh35(key35: list[KeyShare]) -> list[KeyShare]:
    """Copies (bans mutate a share; tests must not leak bans into each other)."""
    return [KeyShare.from_bytes(s.to_bytes()) for s in key35]


def libsecp_verify(pk: bytes, digest: bytes, sig: bytes) -> bool:
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    return bool(PublicKey(pk).verify(encode_dss_signature(r, s), digest, hasher=None))


# --- honest behaviour -----------------------------------------------------------------------------
def test_keygen_outputs(key35: list[KeyShare]) -> None:
    pk = key35[0].public_key
    assert len(pk) == 33 and pk[0] in (2, 3)
    assert all(s.public_key == pk and s.transcript_hash == key35[0].transcript_hash for s in key35)
    assert len(key35[0].to_bytes()) < 200_000
    for s in key35:
        setups = ecdsa_setup.pair_setups(s)
        assert set(setups) == set(s.participants) - {s.index}
    # the pairwise OT setup is a real correlation: s's sender keys are r's receiver keys chosen by Δ
    a, b = key35[0], key35[1]
    sa, sb = ecdsa_setup.pair_setups(a)[b.index], ecdsa_setup.pair_setups(b)[a.index]
    assert sa.zero_seed == sb.zero_seed
    delta_bits = [(sa.as_sender.delta[i // 8] >> (i % 8)) & 1 for i in range(KAPPA)]
    for i, bit in enumerate(delta_bits):
        pair = (sb.as_receiver.seeds0[i], sb.as_receiver.seeds1[i])
        assert sa.as_sender.seeds[i] == pair[bit]
        assert sa.as_sender.seeds[i] != pair[1 - bit]


def test_every_3_subset_signs_low_s_and_libsecp256k1_accepts(key35: list[KeyShare]) -> None:
    pk = key35[0].public_key
    for subset in itertools.combinations(key35, 3):
        digest = os.urandom(32)
        sig = local.sign(list(subset), digest)
        assert len(sig) == 64
        assert int.from_bytes(sig[32:], "big") <= N // 2
        assert libsecp_verify(pk, digest, sig)
        assert local.verify(SCHEME, pk, digest, sig)
        assert not local.verify(SCHEME, pk, os.urandom(32), sig)


def test_2_of_3_every_pair_and_more_signers_than_threshold() -> None:
    shares = local.keygen(SCHEME, threshold=2, n=3)
    for subset in itertools.combinations(shares, 2):
        d = os.urandom(32)
        assert libsecp_verify(shares[0].public_key, d, local.sign(list(subset), d))
    d = os.urandom(32)
    assert libsecp_verify(shares[0].public_key, d, local.sign(shares, d))


def test_all_signers_reach_the_same_signature(key35: list[KeyShare]) -> None:
    pres = local.presign(key35[:3])
    sid = os.urandom(32)
    digest = os.urandom(32)
    parties = {p.index: OnlineSignParty(p, sid, digest) for p in pres}
    out = InMemoryNetwork().run(parties).unwrap()
    assert len(set(out.values())) == 1


def test_share_round_trip_and_strict_ext(key35: list[KeyShare]) -> None:
    s = key35[0]
    again = KeyShare.from_bytes(s.to_bytes())
    assert again.to_bytes() == s.to_bytes()
    broken = dataclasses.replace(s, ext={0: 1, 1: {}}, banned=set())
    with pytest.raises(DecodeError):
        ecdsa_setup.pair_setups(broken)


# --- presignatures are single use (SECURITY #9) --------------------------------------------------
def test_presignature_single_use(key35: list[KeyShare]) -> None:
    pres = local.presign(key35[:3])
    d = os.urandom(32)
    assert libsecp_verify(key35[0].public_key, d, local.sign_with_presignatures(pres, d))
    assert all(p.used for p in pres)
    with pytest.raises(InvalidParameterError, match="already used"):
        local.sign_with_presignatures(pres, os.urandom(32))
    with pytest.raises(NonceReuseError):
        pres[0].take()


def test_presignature_consumed_on_abort(key35: list[KeyShare]) -> None:
    pres = local.presign(key35[:3])
    net = InMemoryNetwork(interceptor=lambda to, m: [] if m.sender == 2 else [(to, m)])
    outcome = net.run({p.index: OnlineSignParty(p, os.urandom(32), os.urandom(32)) for p in pres})
    assert not outcome.results
    assert all(p.used for p in pres)  # consumed although no signature came out


def test_signers_must_agree_on_presignature_and_message(key35: list[KeyShare]) -> None:
    pres = local.presign(key35[:3])
    sid = os.urandom(32)
    parties = {p.index: OnlineSignParty(p, sid, os.urandom(32) if p.index == 3 else b"\x01" * 32) for p in pres}
    outcome = InMemoryNetwork().run(parties)
    assert not outcome.results
    own = [e for e in outcome.aborts.values() if e.reported_by is None]
    assert own and all(e.check == "presignature-mismatch" for e in own)
    assert any(e.culprits == {3} for e in own)


def test_digest_must_be_32_bytes(key35: list[KeyShare]) -> None:
    with pytest.raises(InvalidParameterError):
        local.sign(key35[:3], b"short")
    with pytest.raises(InvalidParameterError):
        local.sign(key35[:2], os.urandom(32))


# --- attacks --------------------------------------------------------------------------------------
def _rewrite(payload: bytes, key: int, fn: Callable[[Any], Any]) -> bytes:
    m = cbor2.loads(payload)
    m[key] = fn(m[key])
    return codec.dumps(m)


def _flip(b: bytes, pos: int = 7) -> bytes:
    ba = bytearray(b)
    ba[pos] ^= 1
    return bytes(ba)


def _presign(
    shares: list[KeyShare], interceptor: Callable[[int, Message], list[tuple[int, Message]]]
) -> tuple[dict[int, Any], dict[int, ProtocolAbort]]:
    sid = os.urandom(32)
    signers = [s.index for s in shares]
    parties = {s.index: PresignParty(s, sid, signers) for s in shares}
    outcome = InMemoryNetwork(interceptor=interceptor).run(parties)
    return outcome.results, outcome.aborts


def tamper(sender: int, to: int, round_no: int, key: int, fn: Callable[[Any], Any]):  # type: ignore[no-untyped-def]
    def interceptor(dest: int, m: Message) -> list[tuple[int, Message]]:
        if m.sender == sender and dest == to and m.round == round_no:
            m = dataclasses.replace(m, payload=_rewrite(m.payload, key, fn))
        return [(dest, m)]

    return interceptor


def _own_abort(aborts: dict[int, ProtocolAbort], party: int) -> ProtocolAbort:
    exc = aborts[party]
    assert exc.reported_by is None
    return exc


def test_tampered_ot_extension_message_bans_the_receiver(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]  # party 2 (VOLE receiver towards 1) sends 1 a corrupted OT-extension matrix
    results, aborts = _presign(shares, tamper(2, 1, 2, 2, lambda b: _flip(b, 100)))
    assert not results
    exc = _own_abort(aborts, 1)
    assert exc.check == "ote-consistency" and exc.culprits == {2}
    assert shares[0].banned == {2}
    assert KeyShare.from_bytes(shares[0].to_bytes()).banned == {2}  # persisted with the share
    with pytest.raises(InvalidParameterError, match="banned"):
        local.presign(shares)
    assert not shares[2].banned  # nobody else bans anyone


def test_tampered_vole_reply_bans_the_sender(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]
    results, aborts = _presign(shares, tamper(3, 1, 3, 1, lambda b: _flip(b, 40)))
    assert not results
    exc = _own_abort(aborts, 1)
    assert exc.check == "vole-consistency" and exc.culprits == {3}
    assert shares[0].banned == {3}


def test_vole_output_inconsistent_with_nonce_bans_the_sender(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]
    other = SECP256K1.base_mul(12345).encode()
    results, aborts = _presign(shares, tamper(2, 3, 3, 2, lambda _b: other))  # Γ_u of 2 → 3
    assert not results
    exc = _own_abort(aborts, 3)
    assert exc.check == "vole-gamma" and exc.culprits == {2}
    assert shares[2].banned == {2}


def test_wrong_key_share_in_vole_is_caught(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]  # party 2 claims another pk_2: its Γ_v no longer matches
    results, aborts = _presign(shares, tamper(2, 1, 3, 7, lambda _b: SECP256K1.base_mul(7).encode()))
    assert not results
    assert _own_abort(aborts, 1).culprits == {2}


def test_bad_opening_of_R(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]
    _results, aborts = _presign(shares, tamper(3, 2, 3, 6, lambda b: _flip(b, 0)))
    exc = _own_abort(aborts, 2)
    assert exc.check == "presign-decommit" and exc.culprits == {3}
    assert not shares[1].banned  # not an OT/VOLE check: no ban


def test_equivocated_commitment_is_caught_by_the_echo(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]  # 3 sends party 1 a different commitment than party 2 gets
    results, aborts = _presign(shares, tamper(3, 1, 2, 0, lambda b: _flip(b, 3)))
    assert not results
    # 1 holds both of 3's messages (the commitment and the echo that contradicts it): evidence
    assert aborts[1].reported_by is None and aborts[1].check == "echo-mismatch" and aborts[1].culprits == {3}
    # 2 only sees 1 and 3 disagree about 3's commitment: a suspicion, never a culprit
    assert aborts[2].culprits <= {3} and (aborts[2].reported_by is not None or aborts[2].suspects == {1, 3})
    assert not any(s.banned for s in shares)


def test_equivocated_round3_broadcast_names_the_liar_in_the_online_round(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]
    fake_u = SECP256K1.base_mul(99).encode()
    results, _aborts = _presign(shares, tamper(2, 3, 4, 2, lambda _b: fake_u))  # U_2 as seen by 3
    # The presignature id names the session, so the fork surfaces in the online round, where party 3
    # checks 2's share against the commitment it was shown — and names 2, never an honest signer.
    assert len(results) == 3
    sid = os.urandom(32)
    outcome = InMemoryNetwork().run({i: OnlineSignParty(p, sid, b"\x07" * 32) for i, p in results.items()})
    assert 3 not in outcome.results  # party 3 outputs nothing; whatever others output is a valid signature
    for sig in outcome.results.values():
        assert libsecp_verify(fresh35[0].public_key, b"\x07" * 32, sig)
    exc = outcome.aborts[3]
    assert exc.reported_by is None and exc.check == "ecdsa-final-share" and exc.culprits == {2}
    assert all(e.culprits <= {2} for e in outcome.aborts.values())


def test_bad_final_share_names_its_sender(fresh35: list[KeyShare]) -> None:
    pres = local.presign(fresh35[:3])

    def interceptor(to: int, m: Message) -> list[tuple[int, Message]]:
        if m.sender == 3:
            m = dataclasses.replace(m, payload=_rewrite(m.payload, 2, lambda _b: SECP256K1.scalar_to_bytes(5)))
        return [(to, m)]

    sid = os.urandom(32)
    outcome = InMemoryNetwork(interceptor=interceptor).run(
        {p.index: OnlineSignParty(p, sid, b"\x42" * 32) for p in pres}
    )
    assert 1 not in outcome.results and 2 not in outcome.results  # the honest signers output nothing
    for i in (1, 2):
        exc = outcome.aborts[i]
        assert exc.check == "ecdsa-final-share" and exc.culprits == {3}


def test_shares_of_different_epochs_never_combine(fresh35: list[KeyShare]) -> None:
    a = fresh35[0]
    other_epoch = dataclasses.replace(fresh35[1], transcript_hash=os.urandom(32), banned=set())
    with pytest.raises(InvalidParameterError, match="epoch"):
        local.presign([a, other_epoch, fresh35[2]])
    # below the façade: the signers notice before any OT check, and nobody is banned
    sid = os.urandom(32)
    shares = [a, other_epoch, fresh35[2]]
    parties = {s.index: PresignParty(s, sid, [1, 2, 3]) for s in shares}
    outcome = InMemoryNetwork().run(parties)
    assert not outcome.results
    own = [e for e in outcome.aborts.values() if e.reported_by is None]
    assert own and {e.check for e in own} == {"presign-context"} and not any(e.culprits for e in own)
    assert not any(s.banned for s in shares)


def test_wrong_session_and_replayed_messages_are_rejected(fresh35: list[KeyShare]) -> None:
    shares = fresh35[:3]
    old = InMemoryNetwork()
    sid_a = os.urandom(32)
    old.run({s.index: PresignParty(s, sid_a, [1, 2, 3]) for s in shares}).unwrap()
    recorded = [m for _, m in old.log if m.round == 1]
    sid_b = os.urandom(32)
    party = PresignParty(shares[0], sid_b, [1, 2, 3])
    party.start()
    for m in recorded:
        with pytest.raises(MessageRejected):
            party.receive(m)  # replays from session A
    assert party.waiting_for() == {2, 3}  # state unchanged
    # a replay of a message of the same session is an exact duplicate: ignored
    new = InMemoryNetwork(interceptor=lambda to, m: [(to, m), (to, m)])
    sid_c = os.urandom(32)
    assert len(new.run({s.index: PresignParty(s, sid_c, [1, 2, 3]) for s in shares}).unwrap()) == 3


@pytest.mark.parametrize(
    ("round_no", "key", "value"),
    [
        (1, 0, b"\x00" * 31),  # session-id contribution of the wrong length
        (2, 0, b"\x00" * 31),  # commitment of the wrong length
        (2, 2, b"\x00" * 10),  # OT-extension message of the wrong length
        (3, 5, b"\x00" * 33),  # R_j: identity / invalid point
        (3, 8, []),  # zero-share points: wrong count
        (3, 4, (N).to_bytes(32, "big")),  # ψ not reduced
    ],
)
def test_malformed_fields_are_rejected_before_arithmetic(
    fresh35: list[KeyShare], round_no: int, key: int, value: Any
) -> None:
    shares = fresh35[:3]
    results, aborts = _presign(shares, tamper(2, 1, round_no, key, lambda _b: value))
    assert not results
    exc = _own_abort(aborts, 1)
    assert exc.check == "decode" and exc.culprits == {2}
    assert not shares[0].banned


def test_vole_alone() -> None:
    """Protocol 5.2 in isolation: c + d = a·b, and a receiver-side check failure is typed."""
    shares = local.keygen(SCHEME, threshold=2, n=2)
    s1 = ecdsa_setup.pair_setups(shares[0])[2]
    s2 = ecdsa_setup.pair_setups(shares[1])[1]
    bob = vole.VoleReceiver(s2.as_receiver, b"sid-for-test")
    a = [SECP256K1.random_scalar(), SECP256K1.random_scalar()]
    c, reply = vole.vole_send(s1.as_sender, b"sid-for-test", bob.message, a, 2)
    d = bob.finish(reply, 1)
    assert all((ci + di) % N == ai * bob.b % N for ci, di, ai in zip(c, d, a, strict=True))
    bob2 = vole.VoleReceiver(s2.as_receiver, b"sid-2")
    _, reply2 = vole.vole_send(s1.as_sender, b"sid-2", bob2.message, a, 2)
    with pytest.raises(vole.VoleConsistencyError):
        bob2.finish(_flip(reply2, 5000), 1)
    with pytest.raises(DecodeError):
        bob2.finish(reply2[:-1], 1)


def test_signing_with_presignature_from_signing_module_is_refused_twice(key35: list[KeyShare]) -> None:
    pres = local.presign(key35[:3])
    online.online_message(pres[0], b"\x01" * 32)
    with pytest.raises(NonceReuseError):
        online.online_message(pres[0], b"\x01" * 32)
    assert "redacted" in repr(pres[1])
