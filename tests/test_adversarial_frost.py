"""Adversarial tests of FROST signing (SECURITY.md rows 9–12 and 15).

Attacks are played with the pure functions of :mod:`gridlock.crypto.frost` (a
malicious coordinator building signing packages) and on the peer-to-peer
protocol through the in-memory network's interceptor (a malicious router or
signer).  Honest signers must refuse, name the cheater, and never output a
signature after an attack.
"""

from __future__ import annotations

import dataclasses
import inspect
import secrets
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations

import pytest

from gridlock import local
from gridlock.crypto import codec, frost, group
from gridlock.crypto.frost import SigningCommitments, SigningNonces, SigningPackage
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.crypto.suites import FrostSuite
from gridlock.errors import (
    GridlockError,
    InvalidParameterError,
    NonceReuseError,
    ProtocolAbort,
)
from gridlock.protocol.frost import FrostSignParty, inputs_digest
from gridlock.protocol.message import ABORT_ROUND, Message
from gridlock.protocol.runner import InMemoryNetwork, RunOutcome

SCHEMES = ["frost-ed25519", "frost-secp256k1", "frost-taproot"]
MSG = b"transfer 1 BTC to the owner's cold wallet"

Delivery = tuple[int, Message]


# --- fixtures and helpers -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys() -> dict[str, list[KeyShare]]:
    """One 3-of-5 key per scheme (shares are immutable; nonces are made per test)."""
    return {name: local.keygen(name, 3, 5) for name in SCHEMES}


def by_index(shares: Sequence[KeyShare]) -> dict[int, KeyShare]:
    return {s.index: s for s in shares}


def run_sign(
    shares: Sequence[KeyShare],
    signers: Sequence[int],
    message: bytes = MSG,
    interceptor: Callable[[int, Message], Iterable[Delivery]] | None = None,
    *,
    nonces: dict[int, SigningNonces] | None = None,
    drop_notices: bool = False,
    session_id: bytes | None = None,
    **kwargs: object,
) -> RunOutcome[bytes]:
    def icpt(to: int, msg: Message) -> list[Delivery]:
        if drop_notices and msg.round == ABORT_ROUND:
            return []
        return [(to, msg)] if interceptor is None else list(interceptor(to, msg))

    s = session_id or secrets.token_bytes(32)
    idx = by_index(shares)
    nonces = nonces or {}
    parties = {i: FrostSignParty(idx[i], s, signers, message, nonces=nonces.get(i)) for i in signers}
    return InMemoryNetwork(interceptor=icpt, **kwargs).run(parties)  # type: ignore[arg-type]


def assert_honest_blame(outcome: RunOutcome[bytes], honest: Iterable[int], culprits: set[int], check: str) -> None:
    for i in honest:
        exc = outcome.aborts.get(i)
        assert exc is not None, f"honest signer {i} did not abort (result: {i in outcome.results})"
        assert exc.reported_by is None, f"signer {i} only relayed a peer's abort: {exc}"
        assert exc.check == check, f"signer {i}: {exc}"
        assert exc.culprits == frozenset(culprits), f"signer {i}: {exc}"


def assert_no_signature(outcome: RunOutcome[bytes], honest: Iterable[int]) -> None:
    for i in honest:
        assert i not in outcome.results, f"honest signer {i} output a signature after an attack"


def package_for(
    suite: FrostSuite, shares: dict[int, KeyShare], signers: Sequence[int], message: bytes = MSG
) -> tuple[dict[int, SigningNonces], SigningPackage]:
    nonces = {i: frost.commit(suite, shares[i]) for i in signers}
    return nonces, SigningPackage.build([n.commitments for n in nonces.values()], message)


def sign_all(
    suite: FrostSuite, shares: dict[int, KeyShare], nonces: dict[int, SigningNonces], pkg: SigningPackage
) -> bytes:
    z = {i: frost.sign(suite, shares[i], nonces[i], pkg) for i in pkg.signers}
    return frost.aggregate(suite, shares[pkg.signers[0]], pkg, z)


def scalar_bytes(suite: FrostSuite, k: int) -> bytes:
    """Raw 32-byte encoding of an integer in the suite's byte order, without reduction."""
    return k.to_bytes(32, "little" if suite.name == "frost-ed25519" else "big")


# ==============================================================================================
# 9. nonce reuse
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_nonces_can_be_taken_once(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    n = frost.commit(suite, keys[name][0])
    assert not n.used
    d, e = n.take()
    assert 0 < d < suite.group.order and 0 < e < suite.group.order
    assert n.used
    with pytest.raises(NonceReuseError):
        n.take()
    with pytest.raises(NonceReuseError):
        n.take()


@pytest.mark.parametrize("name", SCHEMES)
def test_sign_refuses_used_nonces(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, pkg = package_for(suite, shares, [1, 2, 3])
    nonces[1].take()  # e.g. used by an earlier, crashed attempt
    with pytest.raises(NonceReuseError):
        frost.sign(suite, shares[1], nonces[1], pkg)
    # a nonce spent on a successful share cannot sign anything else either
    frost.sign(suite, shares[2], nonces[2], pkg)
    other = SigningPackage.build(pkg.commitments, b"another message")
    with pytest.raises(NonceReuseError):
        frost.sign(suite, shares[2], nonces[2], other)


@pytest.mark.parametrize("name", SCHEMES)
def test_party_refuses_used_or_foreign_nonces_at_construction(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    sid = secrets.token_bytes(32)
    used = frost.commit(suite, shares[1])
    used.take()
    with pytest.raises(InvalidParameterError):
        FrostSignParty(shares[1], sid, [1, 2, 3], MSG, nonces=used)
    foreign = frost.commit(suite, shares[2])  # signer 2's nonces offered to signer 1
    with pytest.raises(InvalidParameterError):
        FrostSignParty(shares[1], sid, [1, 2, 3], MSG, nonces=foreign)
    assert not foreign.used


@pytest.mark.parametrize("name", SCHEMES)
def test_nonces_consumed_by_a_successful_run(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces = {i: frost.commit(suite, shares[i]) for i in (1, 2, 3)}
    sigs = run_sign(keys[name], [1, 2, 3], nonces=nonces).unwrap()
    assert len(set(sigs.values())) == 1
    assert local.verify(name, shares[1].public_key, MSG, sigs[1])
    assert all(n.used for n in nonces.values())
    with pytest.raises(InvalidParameterError):
        FrostSignParty(shares[1], secrets.token_bytes(32), [1, 2, 3], MSG, nonces=nonces[1])


def _tamper_share(sender: int, suite: FrostSuite) -> Callable[[int, Message], list[Delivery]]:
    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == sender:
            z = suite.group.decode_scalar(msg.payload)
            bad = suite.group.scalar_to_bytes(z + 1)
            return [(to, dataclasses.replace(msg, payload=bad))]
        return [(to, msg)]

    return icpt


def round1_payload(nonces: frost.SigningNonces, share: KeyShare, signers: Sequence[int], message: bytes = MSG) -> bytes:
    """A signer's round-1 message as FrostSignParty sends it: commitments, its key epoch, and the
    digest of the signer set and message it was asked to sign."""
    return codec.dumps({0: nonces.commitments.to_bytes(), 1: share.transcript_hash, 2: inputs_digest(signers, message)})


def _garble_commitment(sender: int) -> Callable[[int, Message], list[Delivery]]:
    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == sender:
            return [(to, dataclasses.replace(msg, payload=b"\x00"))]
        return [(to, msg)]

    return icpt


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("when", ["after-signing", "before-signing", "peer-notice"])
def test_nonces_consumed_after_an_aborted_run(name: str, when: str, keys: dict[str, list[KeyShare]]) -> None:
    """SECURITY #9: the nonces are gone after an abort, whenever it happens."""
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces = {i: frost.commit(suite, shares[i]) for i in (1, 2, 3)}
    if when == "after-signing":  # a bad share: detected after every signer released its own
        icpt = _tamper_share(2, suite)
    elif when == "before-signing":  # a malformed commitment: detected before signing
        icpt = _garble_commitment(2)
    else:  # signer 1 learns of the abort only through signer 3's notice, while in round 1

        def icpt(to: int, msg: Message) -> list[Delivery]:
            if msg.round == 1 and msg.sender == 2:
                if to == 1:
                    return []  # signer 1 never gets 2's commitment
                return [(to, dataclasses.replace(msg, payload=b"\x00"))]
            return [(to, msg)]

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt, nonces=nonces)
    assert outcome.aborts, "the attack was not detected"
    assert_no_signature(outcome, [1, 3])
    if when == "peer-notice":
        assert outcome.aborts[1].check == "peer-abort"
    for i in outcome.aborts:
        assert nonces[i].used, f"signer {i} kept fresh nonces after aborting ({when})"
        with pytest.raises(NonceReuseError):
            nonces[i].take()
        with pytest.raises(InvalidParameterError):
            FrostSignParty(shares[i], secrets.token_bytes(32), [1, 2, 3], MSG, nonces=nonces[i])


@pytest.mark.parametrize("name", SCHEMES)
def test_commit_batch_distinct_and_single_use(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    signers = [2, 4, 5]
    batches = {i: frost.commit_batch(suite, shares[i], 4) for i in signers}
    encs = [
        enc
        for b in batches.values()
        for n in b
        for enc in (n.commitments.hiding.encode(), n.commitments.binding.encode())
    ]
    assert len(set(encs)) == len(encs) == 3 * 4 * 2
    assert all(n.commitments.identifier == i for i, b in batches.items() for n in b)
    for k in range(4):
        msg = b"batch message %d" % k
        nonces = {i: batches[i][k] for i in signers}
        sigs = run_sign(keys[name], signers, msg, nonces=nonces).unwrap()
        assert local.verify(name, shares[2].public_key, msg, sigs[2])
        assert all(n.used for n in nonces.values())
        assert all(not batches[i][j].used for i in signers for j in range(k + 1, 4))
    for i in signers:
        for n in batches[i]:
            with pytest.raises(InvalidParameterError):
                FrostSignParty(shares[i], secrets.token_bytes(32), signers, MSG, nonces=n)
    for bad in (0, -1, 10_001):
        with pytest.raises(InvalidParameterError):
            frost.commit_batch(suite, shares[2], bad)


# ==============================================================================================
# 10. nonce sanity
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_nonce_commitments_never_repeat(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    share = keys[name][0]
    seen: set[bytes] = set()
    for _ in range(300):
        n = frost.commit(suite, share)
        for p in (n.commitments.hiding, n.commitments.binding):
            enc = p.encode()
            assert enc not in seen
            seen.add(enc)
    assert len(seen) == 600


@pytest.mark.parametrize("name", SCHEMES)
def test_nonce_generation_is_hedged(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """RFC 9591 §4.1: H3(random ‖ secret) — fixed randomness alone does not fix the nonce."""
    suite = get_frost_suite(name)
    a, b = keys[name][0].secret, keys[name][1].secret
    rnd = bytes(32)
    assert frost.nonce_generate(suite, a, rnd) == frost.nonce_generate(suite, a, rnd)
    assert frost.nonce_generate(suite, a, rnd) != frost.nonce_generate(suite, b, rnd)
    assert frost.nonce_generate(suite, a) != frost.nonce_generate(suite, a)
    n = frost.commit(suite, keys[name][0], hiding_randomness=rnd, binding_randomness=rnd)
    d, e = n.take()
    assert d == e  # same inputs, same output: the randomness is what makes them differ
    n2 = frost.commit(suite, keys[name][0])
    d2, e2 = n2.take()
    assert d2 != e2


@pytest.mark.parametrize("name", ["frost-ed25519", "frost-secp256k1"])
def test_random_scalar_range_and_distribution(name: str) -> None:
    g = get_frost_suite(name).group
    q = g.order
    samples = [g.random_scalar() for _ in range(4000)]
    assert all(isinstance(k, int) and 0 < k < q for k in samples)
    assert len(set(samples)) == len(samples)
    # Crude uniformity checks with very loose bounds (≥ 7 standard deviations): a bias such as
    # "reduce a 256-bit value mod q" would not show here, but a broken sampler (constant
    # bits, truncation to fewer bytes, only small values) would.
    n = len(samples)
    upper_half = sum(k >= q // 2 for k in samples) / n
    assert 0.44 < upper_half < 0.56
    top_bit = sum(k >> (q.bit_length() - 1) for k in samples) / n
    if name == "frost-secp256k1":  # q ≈ 2^256: the top bit is set about half the time
        assert 0.44 < top_bit < 0.56
    else:  # q = 2^252 + δ with δ ≈ 2^125: a sample ≥ 2^252 has probability ≈ 2^-127
        assert top_bit == 0
    for bit in (0, 1, 64, 128, q.bit_length() - 2):
        freq = sum((k >> bit) & 1 for k in samples) / n
        assert 0.44 < freq < 0.56, f"bit {bit}"
    buckets = [0] * 16
    for k in samples:
        buckets[k * 16 // q] += 1
    assert all(150 < b < 350 for b in buckets), buckets  # expected 250 each, σ ≈ 15
    assert min(k.bit_length() for k in samples) > q.bit_length() - 48  # P(fail) ≈ 4000·2^-47


@pytest.mark.parametrize("name", ["frost-ed25519", "frost-secp256k1"])
def test_random_scalar_rejects_rather_than_reduces(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejection sampling: out-of-range and zero candidates are discarded, never reduced."""
    g = get_frost_suite(name).group
    q = g.order
    order = "big"
    feed = [
        (q + 5).to_bytes(32, order),  # ≥ q: must be rejected (reduction would give 5)
        q.to_bytes(32, order),  # ≡ 0
        bytes(32),  # zero
        (12345).to_bytes(32, order),
    ]
    calls: list[int] = []

    def fake(nbytes: int) -> bytes:
        calls.append(nbytes)
        return feed[len(calls) - 1]

    monkeypatch.setattr(group.secrets, "token_bytes", fake)
    assert g.random_scalar() == 12345
    assert calls == [32, 32, 32, 32]


# ==============================================================================================
# 11. coordinator attacks on the signing package
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_package_omitting_signers_commitment_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, _ = package_for(suite, shares, [1, 2, 3, 4])
    pkg = SigningPackage.build([nonces[i].commitments for i in (2, 3, 4)], MSG)
    with pytest.raises(InvalidParameterError):
        frost.sign(suite, shares[1], nonces[1], pkg)
    assert not nonces[1].used  # refused before use: nothing was revealed


@pytest.mark.parametrize("name", SCHEMES)
def test_package_swapping_signers_commitment_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, pkg = package_for(suite, shares, [1, 2, 3])
    other = frost.commit(suite, shares[1]).commitments  # a valid, but different, commitment of 1
    swapped = SigningPackage.build([other, nonces[2].commitments, nonces[3].commitments], MSG)
    with pytest.raises(InvalidParameterError):
        frost.sign(suite, shares[1], nonces[1], swapped)
    # hiding and binding exchanged
    c = nonces[1].commitments
    crossed = SigningCommitments(1, c.binding, c.hiding)
    with pytest.raises(InvalidParameterError):
        frost.sign(suite, shares[1], nonces[1], SigningPackage.build([crossed, *pkg.commitments[1:]], MSG))
    # somebody else's commitment relabelled as signer 1's
    c2 = nonces[2].commitments
    relabelled = SigningCommitments(1, c2.hiding, c2.binding)
    with pytest.raises(InvalidParameterError):
        frost.sign(suite, shares[1], nonces[1], SigningPackage.build([relabelled, *pkg.commitments[1:]], MSG))
    assert not nonces[1].used
    # the untouched package still signs
    sig = sign_all(suite, shares, nonces, pkg)
    assert local.verify(name, shares[1].public_key, MSG, sig)


@pytest.mark.parametrize("name", SCHEMES)
def test_package_replay_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, pkg = package_for(suite, shares, [1, 3, 5])
    sig = sign_all(suite, shares, nonces, pkg)
    assert local.verify(name, shares[1].public_key, MSG, sig)
    for i in (1, 3, 5):
        with pytest.raises(NonceReuseError):
            frost.sign(suite, shares[i], nonces[i], pkg)  # the same package again
        with pytest.raises(NonceReuseError):  # or the same commitments with another message
            frost.sign(suite, shares[i], nonces[i], SigningPackage.build(pkg.commitments, b"evil"))


@pytest.mark.parametrize("name", SCHEMES)
def test_package_identifier_rules(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, pkg = package_for(suite, shares, [1, 2, 3])
    c1, c2, c3 = pkg.commitments
    with pytest.raises(InvalidParameterError):
        SigningPackage((c2, c1, c3), MSG)  # unsorted
    with pytest.raises(InvalidParameterError):
        SigningPackage((c1, c2, c2, c3), MSG)  # duplicate
    with pytest.raises(InvalidParameterError):
        SigningPackage.build([c1, c2, c3, c2], MSG)
    dup_id = SigningCommitments(2, c3.hiding, c3.binding)
    with pytest.raises(InvalidParameterError):
        SigningPackage.build([c1, c2, dup_id], MSG)
    # too few signers
    with pytest.raises(InvalidParameterError):
        frost.sign(suite, shares[1], nonces[1], SigningPackage.build([c1, c2], MSG))
    # identifiers that are not participants of the key
    for stranger in (6, 1000, suite.group.order - 1):
        alien = SigningCommitments(stranger, c3.hiding, c3.binding)
        bad = SigningPackage.build([c1, c2, c3, alien], MSG)
        with pytest.raises(ProtocolAbort) as info:
            frost.sign(suite, shares[1], nonces[1], bad)
        assert info.value.culprits == {stranger}
        assert info.value.check == "frost-unknown-signer"
        with pytest.raises(ProtocolAbort):
            frost.aggregate(suite, shares[1], bad, {1: 1, 2: 1, 3: 1, stranger: 1})
    assert not nonces[1].used


@pytest.mark.parametrize("name", SCHEMES)
def test_aggregate_names_bad_and_missing_shares(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, pkg = package_for(suite, shares, [1, 2, 4])
    z = {i: frost.sign(suite, shares[i], nonces[i], pkg) for i in pkg.signers}
    q = suite.group.order
    with pytest.raises(ProtocolAbort) as info:
        frost.aggregate(suite, shares[1], pkg, {**z, 4: (z[4] + 1) % q})
    assert (info.value.check, info.value.culprits) == ("frost-signature-share", {4})
    with pytest.raises(ProtocolAbort) as info:
        frost.aggregate(suite, shares[1], pkg, {**z, 2: z[4], 4: z[2]})  # swapped shares
    assert (info.value.check, info.value.culprits) == ("frost-signature-share", {2, 4})
    with pytest.raises(ProtocolAbort) as info:
        frost.aggregate(suite, shares[1], pkg, {1: z[1], 2: z[2]})
    assert (info.value.check, info.value.culprits) == ("frost-missing-share", {4})
    sig = frost.aggregate(suite, shares[1], pkg, z)
    assert local.verify(name, shares[1].public_key, MSG, sig)


@pytest.mark.parametrize("name", SCHEMES)
def test_router_sends_different_commitment_lists_all_abort(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    fork = round1_payload(frost.commit(suite, shares[1]), shares[1], [1, 2, 3])  # a valid alternative from signer 1

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 1 and to == 3:
            return [(to, dataclasses.replace(msg, payload=fork))]
        return [(to, msg)]

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt, drop_notices=True)
    assert outcome.results == {}
    for i in (1, 2, 3):
        exc = outcome.aborts[i]
        assert (exc.check, exc.reported_by) == ("echo-mismatch", None), exc
    # 2 cannot tell whether 1 equivocated or 3 misreports: both suspects.  3 holds 1's (forked)
    # commitment and 1's echo contradicting it: 1 is its culprit, which also explains why 2's echo
    # differs (2 is no suspect).  1 only suspects 3 (without a signature on 3's echo the router may
    # have changed what 3 got).
    assert not outcome.aborts[2].culprits and outcome.aborts[2].suspects == {1, 3}
    assert outcome.aborts[3].culprits == {1} and not outcome.aborts[3].suspects
    assert not outcome.aborts[1].culprits and outcome.aborts[1].suspects == {3}

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt)
    assert outcome.results == {}
    assert set(outcome.aborts) == {1, 2, 3}
    assert all(e.culprits <= {1} for e in outcome.aborts.values())
    with pytest.raises(ProtocolAbort) as info:
        outcome.unwrap()
    assert info.value.check == "echo-mismatch"


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("seed", [1, 2])
def test_router_fork_with_more_signers_and_reordering(name: str, seed: int, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    fork = round1_payload(frost.commit(suite, shares[4]), shares[4], [1, 2, 3, 4, 5])

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 4 and to in (1, 5):
            return [(to, dataclasses.replace(msg, payload=fork))]
        return [(to, msg)]

    outcome = run_sign(keys[name], [1, 2, 3, 4, 5], interceptor=icpt, reorder=True, seed=seed)
    assert outcome.results == {}
    own = {i: e for i, e in outcome.aborts.items() if e.reported_by is None}
    assert own and all(e.check == "echo-mismatch" for e in own.values())
    assert all(4 in e.culprits | e.suspects for i, e in own.items() if i != 4)
    assert all(e.culprits <= {4} for e in outcome.aborts.values())  # only 4's two commitments differ


@pytest.mark.parametrize("name", SCHEMES)
def test_commitment_relabelled_to_another_identifier(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    wrong = round1_payload(frost.commit(suite, shares[2]), shares[2], [1, 2, 3])  # identifier 2, sent as signer 1's

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 1:
            return [(to, dataclasses.replace(msg, payload=wrong))]
        return [(to, msg)]

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt, drop_notices=True)
    assert_honest_blame(outcome, [2, 3], {1}, "frost-commitment-identifier")
    assert_no_signature(outcome, [1, 2, 3])


@pytest.mark.parametrize("name", SCHEMES)
def test_commitment_from_another_session_is_rejected(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """A round-1 message replayed from another session never enters this one."""
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    old_sid = secrets.token_bytes(32)
    old = FrostSignParty(shares[2], old_sid, [1, 2, 3], MSG).start()[0]

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 2:
            return [(to, old), (to, msg)]
        return [(to, msg)]

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt)
    sigs = outcome.unwrap()
    assert {m.session_id for _, m, _ in outcome.rejected} == {old_sid}
    assert local.verify(name, shares[1].public_key, MSG, sigs[1])
    del suite


# ==============================================================================================
# 12. bad signature shares
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_corrupt_share_named_and_no_signature(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    outcome = run_sign(keys[name], [1, 2, 3], interceptor=_tamper_share(2, suite), drop_notices=True)
    assert_honest_blame(outcome, [1, 3], {2}, "frost-signature-share")
    assert_no_signature(outcome, [1, 3])
    # signer 2 (its share was altered in transit) may finish; what it holds is a valid signature
    for sig in outcome.results.values():
        assert local.verify(name, keys[name][0].public_key, MSG, sig)

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=_tamper_share(2, suite))
    assert_no_signature(outcome, [1, 3])
    for i in (1, 3):
        assert outcome.aborts[i].culprits == {2}
    with pytest.raises(ProtocolAbort) as info:
        outcome.unwrap()
    assert (info.value.check, info.value.culprits) == ("frost-signature-share", {2})


@pytest.mark.parametrize("name", SCHEMES)
def test_two_cheaters_both_named(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    t2, t3 = _tamper_share(2, suite), _tamper_share(3, suite)

    def both(to: int, msg: Message) -> list[Delivery]:
        return t3(*t2(to, msg)[0])

    outcome = run_sign(keys[name], [1, 2, 3, 4], interceptor=both, drop_notices=True)
    assert_honest_blame(outcome, [1, 4], {2, 3}, "frost-signature-share")
    assert outcome.results == {}

    outcome = run_sign(keys[name], [1, 2, 3], interceptor=both, drop_notices=True)
    assert_honest_blame(outcome, [1], {2, 3}, "frost-signature-share")
    assert outcome.results == {}


@pytest.mark.parametrize("name", SCHEMES)
def test_non_canonical_share_is_a_decode_failure(name: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    q = suite.group.order
    for raw in (
        scalar_bytes(suite, q),
        scalar_bytes(suite, q + 1),
        b"\xff" * 32,
        b"\x01" * 31,
        b"\x01" * 33,
        b"",
    ):

        def icpt(to: int, msg: Message, raw: bytes = raw) -> list[Delivery]:
            if msg.round == 2 and msg.sender == 2:
                return [(to, dataclasses.replace(msg, payload=raw))]
            return [(to, msg)]

        outcome = run_sign(keys[name], [1, 2, 3], interceptor=icpt, drop_notices=True)
        assert_honest_blame(outcome, [1, 3], {2}, "decode")
        assert_no_signature(outcome, [1, 3])
    # zero is canonical but wrong
    outcome = run_sign(keys[name], [1, 2, 3], interceptor=_replace_round2(2, bytes(32)), drop_notices=True)
    assert_honest_blame(outcome, [1, 3], {2}, "frost-signature-share")


def _replace_round2(sender: int, payload: bytes) -> Callable[[int, Message], list[Delivery]]:
    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == sender:
            return [(to, dataclasses.replace(msg, payload=payload))]
        return [(to, msg)]

    return icpt


@pytest.mark.parametrize("name", SCHEMES)
def test_share_replayed_from_an_earlier_run_is_named(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """A valid share of signer 2 from a completed earlier run does not pass in a new one."""
    earlier: dict[int, bytes] = {}

    def capture(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2:
            earlier.setdefault(msg.sender, msg.payload)
        return [(to, msg)]

    run_sign(keys[name], [1, 2, 3], interceptor=capture).unwrap()
    outcome = run_sign(keys[name], [1, 2, 3], interceptor=_replace_round2(2, earlier[2]), drop_notices=True)
    assert_honest_blame(outcome, [1, 3], {2}, "frost-signature-share")
    assert_no_signature(outcome, [1, 3])


# ==============================================================================================
# 15. the "double public key" oracle: the public key is never a signing input
# ==============================================================================================
_FORBIDDEN = ("public", "pubkey", "pk", "group_key", "verifying", "key")


@pytest.mark.parametrize("fn", [local.sign, frost.sign, FrostSignParty.__init__, frost.commit, frost.aggregate])
def test_sign_apis_take_no_public_key(fn: Callable[..., object]) -> None:
    params = list(inspect.signature(fn).parameters)
    for p in params:
        assert not any(f in p.lower() for f in _FORBIDDEN), f"{fn.__qualname__} takes {p!r}"


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("swap", ["other-key", "negated-key", "generator"])
def test_share_with_swapped_group_key_cannot_sign(name: str, swap: str, keys: dict[str, list[KeyShare]]) -> None:
    suite = get_frost_suite(name)
    shares = keys[name]
    gk = shares[0].group_key
    new = {
        "other-key": gk + suite.group.generator,
        "negated-key": -gk,  # for Taproot: the same x-only public key bytes
        "generator": suite.group.generator,
    }[swap]
    if swap == "negated-key" and name == "frost-taproot":
        assert suite.public_key_bytes(new) == shares[0].public_key
    try:
        swapped = [dataclasses.replace(s, group_key=new) for s in shares]
    except InvalidParameterError:
        return  # refused at construction: good
    for s in swapped:
        with pytest.raises(InvalidParameterError):
            s.check_public_data()
        with pytest.raises(GridlockError):  # DecodeError: stored shares are checked on load
            KeyShare.from_bytes(s.to_bytes())
    # Mixed with genuine shares: refused up front.
    with pytest.raises(InvalidParameterError):
        local.sign([swapped[0], *shares[1:3]], MSG)
    # All swapped: never yields a signature under either key.
    with pytest.raises(GridlockError):
        local.sign(swapped[:3], MSG)


@pytest.mark.parametrize("name", SCHEMES)
def test_signing_is_bound_to_the_package_it_is_given(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """A coordinator precomputes the context of a package for an unapproved message, then shows
    the signers a copy whose message is the approved one: the shares must be for what they see."""
    suite = get_frost_suite(name)
    shares = by_index(keys[name])
    nonces, evil = package_for(suite, shares, [1, 2, 3], b"NOT approved")
    frost.signing_context(suite, shares[1].group_key, evil)
    shown = dataclasses.replace(evil, message=b"approved")
    assert shown.message == b"approved"
    z = {i: frost.sign(suite, shares[i], nonces[i], shown) for i in (1, 2, 3)}
    fresh = SigningPackage.build(list(shown.commitments), shown.message)  # rebuilt from public data only
    ctx = frost.signing_context(suite, shares[1].group_key, fresh)
    for i in (1, 2, 3):
        assert frost.verify_share(suite, fresh, i, z[i], shares[i].verifying_shares[i], ctx), (
            f"signer {i} signed something other than the package it was shown"
        )


# ==============================================================================================
# the façade: subsets, thresholds and bad share sets
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_every_three_subset_of_three_of_five_signs(name: str, keys: dict[str, list[KeyShare]]) -> None:
    shares = keys[name]
    pk = shares[0].public_key
    for subset in combinations(shares, 3):
        sig = local.sign(list(subset), MSG)
        assert local.verify(name, pk, MSG, sig)
        assert not local.verify(name, pk, MSG + b"!", sig)
    for subset in (shares[:4], shares[1:], shares):
        assert local.verify(name, pk, MSG, local.sign(subset, MSG))
    assert local.verify(name, pk, b"", local.sign(shares[2:], b""))


@pytest.mark.parametrize("name", SCHEMES)
def test_two_of_three_every_pair_signs(name: str) -> None:
    shares = local.keygen(name, 2, 3)
    pk = shares[0].public_key
    for pair in combinations(shares, 2):
        assert local.verify(name, pk, MSG, local.sign(list(pair), MSG))
    assert local.verify(name, pk, MSG, local.sign(shares, MSG))


@pytest.mark.parametrize("name", SCHEMES)
def test_sign_refuses_bad_share_sets(name: str, keys: dict[str, list[KeyShare]]) -> None:
    shares = keys[name]
    other = local.keygen(name, 3, 5)
    with pytest.raises(InvalidParameterError):
        local.sign(shares[:2], MSG)  # fewer than t
    with pytest.raises(InvalidParameterError):
        local.sign([], MSG)
    with pytest.raises(InvalidParameterError):
        local.sign([shares[0], shares[1], other[2]], MSG)  # two different keys
    with pytest.raises(InvalidParameterError):
        local.sign([shares[0], shares[1], shares[1]], MSG)  # duplicate share
    with pytest.raises(InvalidParameterError):
        local.sign([shares[0], shares[0], shares[0]], MSG)
    with pytest.raises(InvalidParameterError):
        local.sign(shares[:3], "text, not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        local.sign([shares[0], shares[1], "not a share"], MSG)  # type: ignore[list-item]


@pytest.mark.parametrize("name", SCHEMES)
def test_party_refuses_bad_signer_sets(name: str, keys: dict[str, list[KeyShare]]) -> None:
    share = keys[name][0]
    sid = secrets.token_bytes(32)
    for signers in ([1, 2], [1, 2, 2], [1, 2, 6], [1, 2, 0]):
        with pytest.raises(InvalidParameterError):
            FrostSignParty(share, sid, signers, MSG)
    with pytest.raises(GridlockError):  # the share's own index is not among the signers
        FrostSignParty(share, sid, [2, 3, 4], MSG)
