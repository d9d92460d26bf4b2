"""Adversarial tests of the DKG (SECURITY.md rows 1–8).

Every attack is played by a malicious router or a malicious participant through
the in-memory network's interceptor, which sees one delivery per recipient and
may drop, duplicate, rewrite or fork it.  Honest parties must refuse, abort,
name the culprit where possible, and never output a key after an attack.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_add

from gridlock.crypto import codec, dkg, transcript
from gridlock.crypto.dkg import Round1Package, Round2Package
from gridlock.crypto.ed25519 import ED25519
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import lagrange_coefficient, validate_indices
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.schemes import get_scheme
from gridlock.crypto.secp256k1 import SECP256K1
from gridlock.errors import (
    DecodeError,
    GridlockError,
    InvalidParameterError,
    InvalidPointError,
    MessageRejected,
    ProtocolAbort,
    ProtocolStalled,
)
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.message import ABORT_ROUND, Message
from gridlock.protocol.runner import InMemoryNetwork, RunOutcome

SCHEMES = ["frost-ed25519", "frost-secp256k1", "frost-taproot"]
IDS = (1, 2, 3, 4, 5)
T = 3

Delivery = tuple[int, Message]


# --- helpers ----------------------------------------------------------------------------------
def sid() -> bytes:
    return secrets.token_bytes(32)


def make_parties(scheme: Scheme, session_id: bytes, ids: Sequence[int] = IDS, t: int = T) -> dict[int, DkgParty]:
    return {i: DkgParty(scheme, session_id, i, ids, t) for i in ids}


def run_dkg(
    scheme: Scheme,
    interceptor: Callable[[int, Message], Iterable[Delivery]] | None = None,
    *,
    session_id: bytes | None = None,
    drop_notices: bool = False,
    ids: Sequence[int] = IDS,
    t: int = T,
    **kwargs: object,
) -> RunOutcome[KeyShare]:
    """Run a DKG; ``drop_notices`` makes the router drop abort notices so that every
    honest party has to reach its own verdict (rather than relaying a peer's)."""

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if drop_notices and msg.round == ABORT_ROUND:
            return []
        if interceptor is None:
            return [(to, msg)]
        return list(interceptor(to, msg))

    parties = make_parties(scheme, session_id or sid(), ids, t)
    return InMemoryNetwork(interceptor=icpt, **kwargs).run(parties)  # type: ignore[arg-type]


def assert_no_key(outcome: RunOutcome[KeyShare]) -> None:
    assert outcome.results == {}, f"parties {sorted(outcome.results)} output a key after an attack"


def assert_honest_blame(outcome: RunOutcome[KeyShare], honest: Iterable[int], culprits: set[int], check: str) -> None:
    """Every honest party aborted on its own finding, naming exactly ``culprits``."""
    for i in honest:
        exc = outcome.aborts.get(i)
        assert exc is not None, f"honest party {i} did not abort (stalled: {outcome.stalled.get(i)})"
        assert exc.reported_by is None, f"party {i} only relayed a peer's abort: {exc}"
        assert exc.check == check, f"party {i}: {exc}"
        assert exc.culprits == frozenset(culprits), f"party {i}: {exc}"


def rewrite_round1(
    scheme: Scheme, sender: int, edit: Callable[[dict[int, object]], None]
) -> Callable[[int, Message], list[Delivery]]:
    """Interceptor: rewrite ``sender``'s round-1 broadcast at the CBOR level (same copy to all)."""
    cache: dict[bytes, bytes] = {}

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == sender:
            if msg.payload not in cache:
                m = codec.loads(msg.payload)
                edit(m)
                cache[msg.payload] = codec.dumps(m)
            return [(to, dataclasses.replace(msg, payload=cache[msg.payload]))]
        return [(to, msg)]

    return icpt


def decode_r1(scheme: Scheme, payload: bytes, t: int = T) -> Round1Package:
    return Round1Package.from_bytes(scheme, payload, t)


# --- invalid encodings (SECURITY #6) ------------------------------------------------------------
_P25519 = 2**255 - 19
_D25519 = -121665 * pow(121666, -1, _P25519) % _P25519
_PSECP = 2**256 - 2**32 - 977


def _ed25519_off_curve() -> bytes:
    """The smallest y whose x² = (y²−1)/(d·y²+1) is a non-square: not on the curve."""
    y = 2
    while True:
        u, v = (y * y - 1) % _P25519, (_D25519 * y * y + 1) % _P25519
        x2 = u * pow(v, -1, _P25519) % _P25519
        if x2 and pow(x2, (_P25519 - 1) // 2, _P25519) == _P25519 - 1:
            return y.to_bytes(32, "little")
        y += 1


def _secp_off_curve_x() -> int:
    x = 1
    while pow((x**3 + 7) % _PSECP, (_PSECP - 1) // 2, _PSECP) != _PSECP - 1:
        x += 1
    return x


_T8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")  # order 8


def _ed25519_mixed_order() -> bytes:
    return crypto_core_ed25519_add(ED25519.generator.encode(), _T8)  # G + T8: not in the prime-order subgroup


def bad_points(scheme_name: str) -> dict[str, bytes]:
    if scheme_name == "frost-ed25519":
        return {
            "identity": b"\x01" + bytes(31),
            "small-order-8": _T8,
            "small-order-2": (_P25519 - 1).to_bytes(32, "little"),  # (0, -1)
            "small-order-4": bytes(32),  # y = 0
            "mixed-order": _ed25519_mixed_order(),
            "off-curve": _ed25519_off_curve(),
            "non-canonical-y": (_P25519 + 1).to_bytes(32, "little"),  # y = p + 1 ≡ 1
            "non-canonical-y=p": _P25519.to_bytes(32, "little"),
            "negative-zero-x": b"\x01" + bytes(30) + b"\x80",
            "short": ED25519.generator.encode()[:31],
            "long": ED25519.generator.encode() + b"\x00",
        }
    g = SECP256K1.generator.encode()
    gx = g[1:]
    return {
        "identity-zeros": bytes(33),
        "identity-sec1": b"\x00",
        "off-curve": b"\x02" + _secp_off_curve_x().to_bytes(32, "big"),
        "x-equals-p": b"\x02" + _PSECP.to_bytes(32, "big"),
        "non-canonical-x": b"\x02" + (_PSECP + 1).to_bytes(32, "big"),
        "bad-prefix": b"\x05" + gx,
        "uncompressed": b"\x04"
        + gx
        + bytes.fromhex("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"),
        "hybrid": b"\x06" + gx + bytes.fromhex("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"),
        "short": g[:32],
    }


# ==============================================================================================
# 1. indices
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_bad_participant_sets_rejected_at_setup(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order
    s = sid()
    bad_sets: list[list[object]] = [
        [0, 1, 2],  # index 0 would receive f(0), the secret
        [1, 2, q],  # ≡ 0 mod q
        [1, 2, q + 1],  # alias of 1
        [1, 2, 2 * q + 3],
        [1, 2, 2],  # duplicate
        [1, 2, -1],
        [True, 2, 3],  # a bool is not an index
        [1, 2, 3.0],
    ]
    for ids in bad_sets:
        with pytest.raises(InvalidParameterError):
            DkgParty(scheme, s, 2, ids, 2)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError):
            validate_indices(ids, q)  # type: ignore[arg-type]
    for t in (0, 1, 4, True):
        with pytest.raises(InvalidParameterError):
            DkgParty(scheme, s, 1, [1, 2, 3], t)  # type: ignore[arg-type]
    with pytest.raises(GridlockError):  # not one of the participants
        DkgParty(scheme, s, 4, [1, 2, 3], 2)
    with pytest.raises(GridlockError):  # session id too short to be unique
        DkgParty(scheme, b"short", 1, [1, 2, 3], 2)


@pytest.mark.parametrize("name", SCHEMES)
def test_non_participant_messages_rejected_state_unchanged(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order
    s = sid()
    parties = make_parties(scheme, s)
    first = {i: p.start() for i, p in parties.items()}
    genuine = first[2][0]  # party 2's round-1 broadcast
    victim = parties[1]
    forged = [
        dataclasses.replace(genuine, sender=0),
        dataclasses.replace(genuine, sender=6),
        dataclasses.replace(genuine, sender=q),
        dataclasses.replace(genuine, sender=q + 1),  # alias of 1
        dataclasses.replace(genuine, sender=-2),
        dataclasses.replace(genuine, sender=1),  # itself
        dataclasses.replace(genuine, session_id=sid()),
        dataclasses.replace(genuine, round=7),
        dataclasses.replace(genuine, round=2),  # round 2 is point-to-point
        dataclasses.replace(genuine, recipient=1),  # round 1 is broadcast
        dataclasses.replace(genuine, payload=bytes(codec.MAX_PAYLOAD + 1)),  # oversized
        Message(s, 9, None, ABORT_ROUND, codec.dumps({0: [2], 1: "x", 2: "y"})),  # notice from a stranger
    ]
    before = (copy.deepcopy(victim._inbox), victim._current, victim.waiting_for())
    for bad in forged:
        with pytest.raises(MessageRejected):
            victim.receive(bad)
        assert (victim._inbox, victim._current, victim.waiting_for()) == before
        assert victim.aborted is None
    # The genuine message is still accepted after all that (no equivocation recorded).
    assert victim.receive(genuine) == []
    assert victim.waiting_for() == frozenset({3, 4, 5})


@pytest.mark.parametrize("name", SCHEMES)
def test_forged_and_misrouted_messages_do_not_disturb_an_honest_run(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order

    def icpt(to: int, msg: Message) -> list[Delivery]:
        out: list[Delivery] = []
        # forgeries come first, so they would be stored if they were accepted
        for fake_sender in (0, q, q + msg.sender, 6):
            out.append((to, dataclasses.replace(msg, sender=fake_sender)))
        if msg.recipient is not None:  # misroute a p2p message to someone else as well
            other = next(i for i in IDS if i not in (to, msg.sender))
            out.append((other, msg))
        out.append((to, msg))
        return out

    outcome = run_dkg(scheme, icpt)
    assert outcome.aborts == {}
    assert set(outcome.results) == set(IDS)
    assert len(outcome.rejected) > 0
    assert all(isinstance(e, MessageRejected) for _, _, e in outcome.rejected)
    fps = {s.public_fingerprint() for s in outcome.results.values()}
    assert len(fps) == 1


# ==============================================================================================
# 2. rogue key
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_rogue_key_attack_is_caught_by_proof_of_knowledge(name: str) -> None:
    scheme = get_scheme(name)
    g = scheme.group
    target = g.base_mul(g.random_scalar())  # the key the attacker wants: T
    seen: dict[int, Round1Package] = {}
    cancelled: list[bool] = []

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round != 1:
            return [(to, msg)]
        if msg.sender != 5:
            seen[msg.sender] = decode_r1(scheme, msg.payload)
            return [(to, msg)]
        # the rogue party has seen every honest round-1 message (it speaks last)
        assert set(seen) == {1, 2, 3, 4}
        own = decode_r1(scheme, msg.payload)
        c0 = target - g.sum(p.commitment[0] for p in seen.values())
        rogue = dataclasses.replace(own, commitment=(c0, *own.commitment[1:]))
        # sanity: without the proof of knowledge the joint key would be exactly T
        cancelled.append(g.sum([c0, *(p.commitment[0] for p in seen.values())]) == target)
        return [(to, dataclasses.replace(msg, payload=rogue.to_bytes(scheme)))]

    outcome = run_dkg(scheme, icpt, drop_notices=True)
    assert cancelled and all(cancelled)
    assert_honest_blame(outcome, [1, 2, 3, 4], {5}, "dkg-proof-of-knowledge")
    assert_no_key(outcome)

    # With abort notices flowing, still nobody outputs a key and everybody blames 5.
    seen.clear()
    outcome = run_dkg(scheme, icpt)
    assert_no_key(outcome)
    assert set(outcome.aborts) == set(IDS)
    # own findings name 5; relayed notices blame nobody on their word but record the claim
    assert all(
        e.culprits == {5} if e.reported_by is None else (not e.culprits and e.claimed_culprits == {5})
        for e in outcome.aborts.values()
    )


@pytest.mark.parametrize("name", SCHEMES)
def test_rogue_key_with_a_fresh_proof_attempt_is_caught(name: str) -> None:
    """The rogue dealer also replaces the proof by one it can make (for a key it knows)."""
    scheme = get_scheme(name)
    g = scheme.group
    seen: dict[int, Round1Package] = {}
    s = sid()
    ctx = dkg.pok_context(s)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round != 1:
            return [(to, msg)]
        if msg.sender != 5:
            seen[msg.sender] = decode_r1(scheme, msg.payload)
            return [(to, msg)]
        own = decode_r1(scheme, msg.payload)
        a = g.random_scalar()
        c0 = g.base_mul(a) - g.sum(p.commitment[0] for p in seen.values())
        # a proof of knowledge of `a` for the point a·G, not for c0
        proof = dkg.prove_knowledge(scheme, 5, a, g.base_mul(a), ctx)
        rogue = dataclasses.replace(own, commitment=(c0, *own.commitment[1:]), proof=proof)
        return [(to, dataclasses.replace(msg, payload=rogue.to_bytes(scheme)))]

    outcome = run_dkg(scheme, icpt, session_id=s, drop_notices=True)
    assert_honest_blame(outcome, [1, 2, 3, 4], {5}, "dkg-proof-of-knowledge")
    assert_no_key(outcome)


# ==============================================================================================
# 3. commitment vector length
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("delta", [+1, -1, -2, +5])
def test_wrong_commitment_length_aborts_naming_sender(name: str, delta: int) -> None:
    scheme = get_scheme(name)
    g = scheme.group

    def edit(m: dict[int, object]) -> None:
        comm = list(m[0])  # type: ignore[call-overload]
        if delta > 0:
            comm += [g.base_mul(g.random_scalar()).encode() for _ in range(delta)]
        else:
            comm = comm[:delta]
        m[0] = comm

    outcome = run_dkg(scheme, rewrite_round1(scheme, 2, edit), drop_notices=True)
    assert_honest_blame(outcome, [1, 3, 4, 5], {2}, "decode")
    assert_no_key(outcome)


@pytest.mark.parametrize("name", SCHEMES)
def test_round1_decoder_enforces_threshold_length(name: str) -> None:
    scheme = get_scheme(name)
    _, pkg = dkg.part1(scheme, 1, T, sid())
    data = pkg.to_bytes(scheme)
    assert decode_r1(scheme, data, T) == pkg
    for t in (T - 1, T + 1, 2, 5):
        if t == T:
            continue
        with pytest.raises(DecodeError):
            Round1Package.from_bytes(scheme, data, t)


# ==============================================================================================
# 4. a bad share to one party
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_tampered_share_is_blamed_on_its_sender_and_nobody_outputs(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 1 and to == 3:
            pkg = Round2Package.from_bytes(scheme, msg.payload)
            bad = Round2Package((pkg.share + 1) % q, pkg.chain_code_part)
            return [(to, dataclasses.replace(msg, payload=bad.to_bytes(scheme)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt)
    assert_no_key(outcome)
    assert set(outcome.aborts) == set(IDS)
    assert_honest_blame(outcome, [3], {1}, "dkg-share-feldman")
    for i in (1, 2, 4, 5):
        exc = outcome.aborts[i]
        assert exc.check == "peer-abort"
        assert exc.reported_by == 3
        assert not exc.culprits and exc.claimed_culprits == {1}
    with pytest.raises(ProtocolAbort) as info:
        outcome.unwrap()
    assert info.value.check == "dkg-share-feldman"
    assert info.value.culprits == {1}


@pytest.mark.parametrize("name", SCHEMES)
def test_bad_chain_code_opening_is_blamed_on_its_sender(name: str) -> None:
    scheme = get_scheme(name)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 4 and to == 2:
            pkg = Round2Package.from_bytes(scheme, msg.payload)
            bad = Round2Package(pkg.share, bytes(32))
            return [(to, dataclasses.replace(msg, payload=bad.to_bytes(scheme)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt)
    assert_no_key(outcome)
    assert_honest_blame(outcome, [2], {4}, "dkg-chain-code-opening")


@pytest.mark.parametrize("name", SCHEMES)
def test_round3_confirmation_mismatch_is_refused(name: str) -> None:
    """A confirmation hash that differs from one's own transcript is never accepted."""
    scheme = get_scheme(name)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 3 and msg.sender == 5 and to == 1:
            return [(to, dataclasses.replace(msg, payload=bytes(32)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt, drop_notices=True)
    assert 1 not in outcome.results
    assert_honest_blame(outcome, [1], {5}, "dkg-confirmation")


# ==============================================================================================
# 5. equivocation: forked round 1 (router) and two messages from one sender
# ==============================================================================================
def _alternative_round1(scheme: Scheme, session_id: bytes, sender: int) -> Message:
    """A valid round-1 broadcast for ``sender`` made by a second instance of that party."""
    (msg,) = DkgParty(scheme, session_id, sender, IDS, T).start()
    return msg


@pytest.mark.parametrize("name", SCHEMES)
def test_router_forks_round1_everyone_aborts_nothing_stored(name: str) -> None:
    scheme = get_scheme(name)
    s = sid()
    alt = _alternative_round1(scheme, s, 1)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 1 and to == 2:
            return [(to, alt)]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt, session_id=s, drop_notices=True)
    assert_no_key(outcome)
    # Everyone finds the mismatch itself.  On this unsigned network the fork looks like 1 sending 2
    # another package.  Parties 3, 4, 5 cannot tell whether 1 equivocated or 2 misreports: both are
    # suspects, nobody a culprit (SECURITY #28).  Party 2 holds 1's package and 1's echo of it, which
    # contradict each other: 1 is its culprit.  Party 1 knows what it sent, but without a signature
    # on 2's echo it cannot rule out the router: 2 is only its suspect.
    for i in IDS:
        exc = outcome.aborts[i]
        assert (exc.check, exc.reported_by) == ("echo-mismatch", None), exc
    for i in (3, 4, 5):
        assert not outcome.aborts[i].culprits and outcome.aborts[i].suspects == {1, 2}
    assert outcome.aborts[2].culprits == {1}
    assert not outcome.aborts[1].culprits and outcome.aborts[1].suspects == {2}

    outcome = run_dkg(scheme, icpt, session_id=s)
    assert_no_key(outcome)
    assert set(outcome.aborts) == set(IDS)
    for i, exc in outcome.aborts.items():
        assert exc.check in ("echo-mismatch", "peer-abort")
        assert exc.culprits <= {1} and 1 in exc.culprits | exc.suspects | exc.claimed_culprits | {i}
    with pytest.raises(ProtocolAbort) as info:
        outcome.unwrap()
    assert info.value.check == "echo-mismatch"


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_router_fork_detected_under_reordering(name: str, seed: int) -> None:
    scheme = get_scheme(name)
    s = sid()
    alt = _alternative_round1(scheme, s, 3)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 3 and to in (4, 5):
            return [(to, alt)]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt, session_id=s, reorder=True, seed=seed)
    assert_no_key(outcome)
    own = {i: e for i, e in outcome.aborts.items() if e.reported_by is None}
    assert own and all(e.check == "echo-mismatch" for e in own.values())
    # the others' own findings always involve 3 (3 never suspects itself); nobody but 3 is ever a
    # culprit (4 and 5 only got what 3 seemed to send)
    assert all(3 in e.culprits | e.suspects for i, e in own.items() if i != 3)
    assert all(e.culprits <= {3} for e in outcome.aborts.values())


@pytest.mark.parametrize("name", SCHEMES)
def test_equivocating_sender_is_named(name: str) -> None:
    scheme = get_scheme(name)
    s = sid()
    alt = _alternative_round1(scheme, s, 1)

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 1 and to == 2:
            return [(to, msg), (to, alt)]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt, session_id=s)
    assert_no_key(outcome)
    assert_honest_blame(outcome, [2], {1}, "equivocation")


@pytest.mark.parametrize("name", SCHEMES)
def test_equivocation_in_point_to_point_round(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 4 and to == 5:
            pkg = Round2Package.from_bytes(scheme, msg.payload)
            other = Round2Package((pkg.share + 7) % q, pkg.chain_code_part)
            return [(to, msg), (to, dataclasses.replace(msg, payload=other.to_bytes(scheme)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt)
    assert_honest_blame(outcome, [5], {4}, "equivocation")
    assert 5 not in outcome.results
    # NB: party 5 may see the second copy only after it already sent its round-3
    # confirmation; the other parties then finish without it (see the report).


@pytest.mark.parametrize("name", SCHEMES)
def test_lying_echo_names_the_liar(name: str) -> None:
    """Party 4 claims, in its round-2 echo, to have seen a different round-1 message from the
    honest party 2.  Nobody can tell 2's equivocation from 4's lie by the digests alone: both are
    suspects, and no honest party is a culprit (it used to be {2, 4}, naming an honest party).
    With signed envelopes party 2 names 4 (see test_blame.py)."""
    scheme = get_scheme(name)

    def lie(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 4:
            echo = bytearray(msg.echo)
            assert len(echo) == 40 * len(IDS)
            assert int.from_bytes(echo[40:48], "big") == 2
            echo[48] ^= 1  # the digest of party 2's broadcast
            return [(to, dataclasses.replace(msg, echo=bytes(echo)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, lie, drop_notices=True)
    assert_no_key(outcome)
    for i in (1, 2, 3, 5):
        exc = outcome.aborts[i]
        assert (exc.check, exc.reported_by) == ("echo-mismatch", None)
        assert not exc.culprits
        assert exc.suspects == ({4} if i == 2 else {2, 4})

    def garbage(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 4:
            return [(to, dataclasses.replace(msg, echo=b"\x00" * 7))]
        return [(to, msg)]

    outcome = run_dkg(scheme, garbage, drop_notices=True)
    assert_honest_blame(outcome, [1, 2, 3, 5], {4}, "echo-mismatch")


@pytest.mark.parametrize("name", SCHEMES)
def test_forged_abort_notice_stops_everyone_but_is_marked_as_relayed(name: str) -> None:
    """A participant can always stop a run (DoS); its notice is a claim, recorded as relayed
    from it, never as the receiver's own finding."""
    scheme = get_scheme(name)

    def frame(to: int, msg: Message) -> list[Delivery]:
        out = [(to, msg)]
        if msg.round == 1 and msg.sender == 4:
            notice = codec.dumps({0: [2], 1: "dkg-share-feldman", 2: "made up"})
            out.append((to, Message(msg.session_id, 4, None, ABORT_ROUND, notice)))
        return out

    outcome = run_dkg(scheme, frame)
    assert_no_key(outcome)
    for i in (1, 2, 3, 5):
        exc = outcome.aborts[i]
        assert exc.check == "peer-abort"
        assert exc.reported_by == 4
    with pytest.raises(ProtocolAbort) as info:
        outcome.unwrap()
    assert info.value.reported_by == 4

    # garbage notices are still aborts, with no culprits taken from them
    def junk(to: int, msg: Message) -> list[Delivery]:
        out = [(to, msg)]
        if msg.round == 1 and msg.sender == 4:
            out.append((to, Message(msg.session_id, 4, None, ABORT_ROUND, b"\xff")))
        return out

    outcome = run_dkg(scheme, junk)
    assert_no_key(outcome)
    assert all(e.culprits == frozenset() for i, e in outcome.aborts.items() if i != 4)


# ==============================================================================================
# 6. invalid group elements
# ==============================================================================================
_BAD_CASES = [(name, kind) for name in SCHEMES for kind in bad_points(name)]


@pytest.mark.parametrize(("name", "kind"), _BAD_CASES)
def test_invalid_points_rejected_by_decoder(name: str, kind: str) -> None:
    g = get_scheme(name).group
    with pytest.raises(InvalidPointError):
        g.decode(bad_points(name)[kind])


@pytest.mark.parametrize(("name", "kind"), _BAD_CASES)
@pytest.mark.parametrize("where", ["C0", "C1", "proof-R"])
def test_invalid_point_in_round1_aborts_naming_sender(name: str, kind: str, where: str) -> None:
    scheme = get_scheme(name)
    bad = bad_points(name)[kind]

    def edit(m: dict[int, object]) -> None:
        if where == "proof-R":
            m[1] = bad
        else:
            comm = list(m[0])  # type: ignore[call-overload]
            comm[int(where[1])] = bad
            m[0] = comm

    outcome = run_dkg(scheme, rewrite_round1(scheme, 2, edit), drop_notices=True)
    assert_honest_blame(outcome, [1, 3, 4, 5], {2}, "decode")
    assert_no_key(outcome)


@pytest.mark.parametrize("name", SCHEMES)
def test_invalid_scalars_and_fields_in_round1_abort_naming_sender(name: str) -> None:
    scheme = get_scheme(name)
    g = scheme.group
    q = g.order
    byteorder = "little" if name == "frost-ed25519" else "big"
    edits: list[Callable[[dict[int, object]], None]] = [
        lambda m: m.__setitem__(2, q.to_bytes(32, byteorder)),  # proof scalar = q (not reduced)
        lambda m: m.__setitem__(2, (q + 1).to_bytes(32, byteorder)),
        lambda m: m.__setitem__(2, b"\x01" * 31),  # wrong length
        lambda m: m.__setitem__(2, 5),  # not a byte string
        lambda m: m.__setitem__(3, bytes(31)),  # chain commitment of the wrong length
        lambda m: m.__setitem__(0, b"not a list"),
        lambda m: m.__setitem__(0, [1, 2, 3]),  # integers instead of points
        lambda m: m.__setitem__(9, b"extra field"),
        lambda m: m.__delitem__(3),
    ]
    for edit in edits:
        outcome = run_dkg(scheme, rewrite_round1(scheme, 4, edit), drop_notices=True)
        assert_honest_blame(outcome, [1, 2, 3, 5], {4}, "decode")
        assert_no_key(outcome)
    # Not CBOR at all / a non-canonical encoding of a valid package.
    for raw in (b"", b"\xff\x00", b"garbage"):
        icpt = _replace_payload(4, 1, raw)
        outcome = run_dkg(scheme, icpt, drop_notices=True)
        assert_honest_blame(outcome, [1, 2, 3, 5], {4}, "decode")


def _replace_payload(sender: int, round_no: int, payload: bytes) -> Callable[[int, Message], list[Delivery]]:
    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == round_no and msg.sender == sender:
            return [(to, dataclasses.replace(msg, payload=payload))]
        return [(to, msg)]

    return icpt


@pytest.mark.parametrize("name", SCHEMES)
def test_malformed_round2_package_aborts_naming_sender(name: str) -> None:
    scheme = get_scheme(name)
    q = scheme.group.order
    byteorder = "little" if name == "frost-ed25519" else "big"
    for raw in (
        codec.dumps({0: q.to_bytes(32, byteorder), 1: bytes(32)}),
        codec.dumps({0: bytes(32), 1: bytes(31)}),
        codec.dumps({0: bytes(32)}),
        b"\x00",
    ):

        def icpt(to: int, msg: Message, raw: bytes = raw) -> list[Delivery]:
            if msg.round == 2 and msg.sender == 3 and to == 1:
                return [(to, dataclasses.replace(msg, payload=raw))]
            return [(to, msg)]

        outcome = run_dkg(scheme, icpt, drop_notices=True)
        assert_honest_blame(outcome, [1], {3}, "decode")
        assert 1 not in outcome.results


# ==============================================================================================
# 7. proof replay across sessions and senders
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_proof_replayed_from_another_session_is_rejected(name: str) -> None:
    scheme = get_scheme(name)
    captured: dict[int, bytes] = {}

    def capture(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1:
            captured[msg.sender] = msg.payload
        return [(to, msg)]

    session_a = run_dkg(scheme, capture)
    assert set(session_a.results) == set(IDS)
    old = captured[3]
    assert decode_r1(scheme, old)  # a perfectly valid package — in session A

    outcome = run_dkg(scheme, _replace_payload(3, 1, old), drop_notices=True)
    assert_honest_blame(outcome, [1, 2, 4, 5], {3}, "dkg-proof-of-knowledge")
    assert_no_key(outcome)


@pytest.mark.parametrize("name", SCHEMES)
def test_proof_moved_to_another_sender_is_rejected(name: str) -> None:
    scheme = get_scheme(name)
    s = sid()
    # party 2's genuine package of this very session, presented as party 3's
    (msg2,) = DkgParty(scheme, s, 2, IDS, T).start()
    outcome = run_dkg(scheme, _replace_payload(3, 1, msg2.payload), session_id=s, drop_notices=True)
    assert_honest_blame(outcome, [1, 2, 4, 5], {3}, "dkg-proof-of-knowledge")
    assert_no_key(outcome)

    # party 3 keeps its commitment but grafts party 2's proof
    graft = decode_r1(scheme, msg2.payload).proof

    def icpt(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 3:
            pkg = dataclasses.replace(decode_r1(scheme, msg.payload), proof=graft)
            return [(to, dataclasses.replace(msg, payload=pkg.to_bytes(scheme)))]
        return [(to, msg)]

    outcome = run_dkg(scheme, icpt, session_id=s, drop_notices=True)
    assert_honest_blame(outcome, [1, 2, 4, 5], {3}, "dkg-proof-of-knowledge")


@pytest.mark.parametrize("name", SCHEMES)
def test_proof_of_knowledge_is_bound_to_session_and_sender(name: str) -> None:
    scheme = get_scheme(name)
    g = scheme.group
    a0 = g.random_scalar()
    c0 = g.base_mul(a0)
    s1, s2 = sid(), sid()
    proof = dkg.prove_knowledge(scheme, 3, a0, c0, dkg.pok_context(s1))
    assert dkg.verify_knowledge(scheme, 3, c0, proof, dkg.pok_context(s1))
    assert not dkg.verify_knowledge(scheme, 3, c0, proof, dkg.pok_context(s2))
    assert not dkg.verify_knowledge(scheme, 4, c0, proof, dkg.pok_context(s1))
    assert not dkg.verify_knowledge(scheme, 3, c0 + g.generator, proof, dkg.pok_context(s1))
    assert not dkg.verify_knowledge(scheme, 3, c0, (proof[0], (proof[1] + 1) % g.order), dkg.pok_context(s1))
    with pytest.raises(ProtocolAbort) as info:
        dkg.check_round1(scheme, s2, {3: Round1Package((c0, c0), proof, bytes(32))})
    assert info.value.culprits == {3}


# ==============================================================================================
# 8. transcript injectivity
# ==============================================================================================
_fields = st.lists(st.binary(max_size=12), max_size=5)
_label = st.binary(max_size=8)


@settings(max_examples=300, deadline=None)
@given(l1=_label, f1=_fields, l2=_label, f2=_fields)
def test_transcript_encoding_is_injective_random_pairs(l1: bytes, f1: list[bytes], l2: bytes, f2: list[bytes]) -> None:
    same = (l1, f1) == (l2, f2)
    assert (transcript.encode(l1, *f1) == transcript.encode(l2, *f2)) == same
    assert (transcript.digest(l1, *f1) == transcript.digest(l2, *f2)) == same


@st.composite
def _resplit(draw: st.DrawFn) -> tuple[bytes, list[bytes], bytes, list[bytes]]:
    """Two tuples with the same concatenation (label included): the α-shuffle shape."""
    whole = draw(st.binary(min_size=1, max_size=24))
    cuts1 = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=5)))
    cuts2 = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=5)))

    def split(cuts: list[int]) -> tuple[bytes, list[bytes]]:
        bounds = [0, *cuts, len(whole)]
        parts = [whole[a:b] for a, b in itertools.pairwise(bounds)]
        return parts[0], parts[1:]

    la, fa = split(cuts1)
    lb, fb = split(cuts2)
    return la, fa, lb, fb


@settings(max_examples=300, deadline=None)
@given(case=_resplit())
def test_transcript_encoding_resists_alpha_shuffle(case: tuple[bytes, list[bytes], bytes, list[bytes]]) -> None:
    l1, f1, l2, f2 = case
    assert (transcript.encode(l1, *f1) == transcript.encode(l2, *f2)) == ((l1, f1) == (l2, f2))


def test_transcript_classic_alpha_shuffle_pairs() -> None:
    pairs = [
        ((b"L", b"ab", b"c"), (b"L", b"a", b"bc")),
        ((b"L", b"abc"), (b"L", b"ab", b"c")),
        ((b"L", b"", b"abc"), (b"L", b"abc")),
        ((b"L", b"", b""), (b"L", b"")),
        ((b"La", b"b"), (b"L", b"ab")),  # label/field boundary
        ((b"", b"Lab"), (b"L", b"ab")),
        ((b"L", b"a\x00"), (b"L", b"a", b"")),
    ]
    for (la, *fa), (lb, *fb) in pairs:
        assert transcript.encode(la, *fa) != transcript.encode(lb, *fb)
        assert transcript.digest(la, *fa) != transcript.digest(lb, *fb)
    # nested sequences are injective too
    assert transcript.seq([b"ab", b"c"]) != transcript.seq([b"a", b"bc"])
    nested_a = transcript.encode(b"x", transcript.seq([b"a"]), b"b")
    assert nested_a != transcript.encode(b"x", transcript.seq([b"a", b"b"]))
    # integer fields are minimal and distinct
    ints = [0, 1, 255, 256, 2**64, 2**255]
    assert len({transcript.int_field(n) for n in ints}) == len(ints)


@settings(max_examples=100, deadline=None)
@given(a=st.integers(0, 2**300), b=st.integers(0, 2**300))
def test_int_field_is_injective(a: int, b: int) -> None:
    assert (transcript.int_field(a) == transcript.int_field(b)) == (a == b)


# ==============================================================================================
# network faults: duplicates, reordering, drops
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_duplicates_and_reordering_still_complete(name: str, seed: int) -> None:
    scheme = get_scheme(name)

    def dup(to: int, msg: Message) -> list[Delivery]:
        return [(to, msg), (to, msg), (to, msg)]

    outcome = run_dkg(scheme, dup, reorder=True, seed=seed)
    assert outcome.aborts == {}
    assert outcome.rejected == []
    assert set(outcome.results) == set(IDS)
    assert len({s.public_fingerprint() for s in outcome.results.values()}) == 1


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("seed", [5, 6])
def test_reordering_without_duplicates_completes(name: str, seed: int) -> None:
    outcome = run_dkg(get_scheme(name), reorder=True, seed=seed)
    assert set(outcome.results) == set(IDS)
    assert len({s.public_fingerprint() for s in outcome.results.values()}) == 1


@pytest.mark.parametrize("name", SCHEMES)
def test_dropped_message_stalls_naming_the_missing_sender(name: str) -> None:
    scheme = get_scheme(name)

    def drop(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 1 and msg.sender == 4 and to == 2:
            return []
        return [(to, msg)]

    outcome = run_dkg(scheme, drop)
    assert outcome.aborts == {}
    assert_no_key(outcome)
    assert outcome.stalled[2] == {4}
    with pytest.raises(ProtocolStalled) as info:
        outcome.unwrap()
    assert 4 in info.value.missing

    def drop_p2p(to: int, msg: Message) -> list[Delivery]:
        if msg.round == 2 and msg.sender == 5 and to == 1:
            return []
        return [(to, msg)]

    outcome = run_dkg(scheme, drop_p2p)
    assert_no_key(outcome)
    assert outcome.stalled[1] == {5}
    with pytest.raises(ProtocolStalled) as info:
        outcome.unwrap()
    assert 5 in info.value.missing


# ==============================================================================================
# the DKG output
# ==============================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_dkg_output_is_consistent(name: str) -> None:
    scheme = get_scheme(name)
    g = scheme.group
    s = sid()
    shares = run_dkg(scheme, session_id=s).unwrap()
    assert set(shares) == set(IDS)
    first = shares[1]
    for i, sh in shares.items():
        assert sh.index == i
        assert sh.scheme == name
        assert sh.threshold == T
        assert sh.participants == IDS
        assert sh.epoch == 0
        assert sh.origin == "dkg"
        assert sh.group_key == first.group_key
        assert dict(sh.verifying_shares) == dict(first.verifying_shares)
        assert sh.chain_code == first.chain_code
        assert sh.transcript_hash == first.transcript_hash
        assert sh.public_fingerprint() == first.public_fingerprint()
        assert g.base_mul(sh.secret) == sh.verifying_shares[i]
        sh.check_public_data()
    # any t shares interpolate to the discrete log of the group key
    for subset in ((1, 2, 3), (2, 4, 5), (1, 3, 5)):
        x = sum(shares[i].secret * lagrange_coefficient(i, subset, g.order) for i in subset) % g.order
        assert g.base_mul(x) == first.group_key
    # a second run gives a fresh key, chain code and transcript
    again = run_dkg(scheme).unwrap()[1]
    assert again.chain_code != first.chain_code
    assert again.group_key != first.group_key
    assert again.transcript_hash != first.transcript_hash


def test_dkg_with_sparse_indices_and_other_thresholds() -> None:
    scheme = get_scheme("frost-secp256k1")
    ids = (3, 17, 2**40, 2**64 - 1)
    shares = run_dkg(scheme, ids=ids, t=2).unwrap()
    assert {sh.public_fingerprint() for sh in shares.values()} == {shares[3].public_fingerprint()}
    # Indices the round engine cannot carry in its 8-byte echo fields are refused at setup
    # with a typed error (they used to crash the run with OverflowError).
    for big in (2**64, scheme.group.order - 1):
        with pytest.raises(InvalidParameterError):
            DkgParty(scheme, sid(), 1, (1, 2, big), 2)
    shares = run_dkg(scheme, ids=(1, 2), t=2).unwrap()
    assert shares[1].group_key == shares[2].group_key
