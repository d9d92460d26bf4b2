"""Reshare and repair with a custody holder (:mod:`gridlock.protocol.custody`), in memory.

A custody holder keeps its share in a contract its host cannot read.  :class:`LocalCustody` plays
that contract (:mod:`gridlock.enclave.contract_keychange`) with the same math, so these tests run
the protocol parties (:class:`ReshareParty`, :class:`RepairParty`) as a guardian does: the custody
holder's party gets only the sealed view of its share (:class:`SealedShare`, whose secret cannot
be read), every value to or from it travels sealed, and the runs end with the same key.  The
attack tests are the documentation of what each side refuses, and whom it names.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import pytest

from gridlock import local
from gridlock.crypto import codec, vss, x25519_seal
from gridlock.crypto import repair as rp
from gridlock.crypto import reshare as rs
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import Polynomial, interpolate, lagrange_coefficient
from gridlock.crypto.schemes import get_scheme
from gridlock.crypto.sealed import SealedShare
from gridlock.errors import GridlockError, ProtocolAbort
from gridlock.protocol.custody import PLAIN, SEALED, Channel, context
from gridlock.protocol.message import Message
from gridlock.protocol.party import RoundProtocol
from gridlock.protocol.repair import RepairParty
from gridlock.protocol.reshare import ReshareParty
from gridlock.protocol.runner import InMemoryNetwork, RunOutcome
from gridlock.wire import (
    Identity,
    PublicIdentity,
    ReplayGuard,
    envelope_to_message,
    make_directory,
    message_to_envelope,
    open_envelope,
)
from gridlock.wire.messages import EvidenceVerifier

SCHEME = "frost-ed25519"
GROUP = get_scheme(SCHEME).group
VAULT = "vault-custody"
NOW = 1_700_000_000


# --- the custody side, in memory ------------------------------------------------------------------
class LocalCustody:
    """What the custody contract does, in memory: deal / combine, split / sum / rebuild with the
    share it keeps, each outgoing value sealed to its recipient's seal key, each incoming one opened
    with the custody key (a value that does not open names its sender, as the contract does)."""

    def __init__(self, session: bytes, me: int, share: KeyShare | None) -> None:
        self.session, self.me, self.share = session, me, share
        self.private = secrets.token_bytes(32)
        self.public = x25519_seal.public_key(self.private)
        self.seal_keys: Mapping[int, bytes] = {}  # node → seal key, from the public identities
        self.new: KeyShare | None = None
        self._kept: tuple[int, list[Point]] | None = None  # its own sub-share and commitment
        self._split: tuple[Sequence[int], int, int] | None = None  # helpers, lost, its own part

    def _seal(self, step: str, to: int, value: int) -> bytes:
        ctx = context(self.session, VAULT, step, self.me, to)
        return x25519_seal.seal(self.seal_keys[to], GROUP.scalar_to_bytes(value), ctx, secrets.token_bytes(32))

    def _open(self, step: str, sender: int, blob: bytes, check: str) -> int:
        try:
            ctx = context(self.session, VAULT, step, sender, self.me)
            return codec.scalar(GROUP, x25519_seal.open_sealed(self.private, blob, ctx))
        except GridlockError:
            raise ProtocolAbort([sender], check, "what it sealed to this holder does not open") from None

    def deal(
        self, dealers: Sequence[int], receivers: Sequence[int], threshold: int
    ) -> tuple[list[Point], dict[int, bytes]]:
        assert self.share is not None
        q = GROUP.order
        poly = Polynomial.random(
            GROUP, threshold - 1, lagrange_coefficient(self.me, dealers, q) * self.share.secret % q
        )
        commitment = vss.commit(GROUP, poly)
        if self.me in receivers:
            self._kept = (poly(self.me), commitment)
        return commitment, {j: self._seal("reshare", j, poly(j)) for j in receivers if j != self.me}

    def combine(
        self,
        old: rs.PublicPackage,
        receivers: Sequence[int],
        threshold: int,
        commitments: Mapping[int, Sequence[Point]],
        sealed: Mapping[int, bytes],
        transcript_hash: bytes,
    ) -> KeyShare:
        scheme = get_scheme(old.scheme)
        dealers = sorted(commitments)
        full = {d: rs.full_commitment(scheme, old, d, dealers, commitments[d], refresh=False) for d in dealers}
        subs = {d: self._open("reshare", d, sealed[d], "reshare-share-feldman") for d in dealers if d != self.me}
        if self.me in dealers:
            assert self._kept is not None and self._kept[1] == list(commitments[self.me])
            subs[self.me] = self._kept[0]
        self.new = rs.finalize(scheme, old, self.me, threshold, receivers, full, subs, transcript_hash, old_secret=None)
        return SealedShare.of(self.new)

    def split(self, helpers: Sequence[int], lost: int) -> tuple[list[Point], dict[int, bytes]]:
        assert self.share is not None
        parts = rp.split(self.share, helpers, lost)
        self._split = (helpers, lost, parts[self.me])
        sealed = {k: self._seal("repair-part", k, parts[k]) for k in helpers if k != self.me}
        return [GROUP.base_mul(parts[k]) for k in helpers], sealed

    def sum(self, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]) -> bytes:
        assert self._split is not None
        helpers, lost, sigma = self._split
        pos = list(helpers).index(self.me)
        for i, blob in sealed.items():
            delta = self._open("repair-part", i, blob, "repair-part")
            if GROUP.base_mul(delta) != published[i][pos]:
                raise ProtocolAbort([i], "repair-part", "the part it sealed here is not the one it published")
            sigma += delta
        return self._seal("repair-sum", lost, sigma % GROUP.order)

    def rebuild(
        self, old: rs.PublicPackage, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]
    ) -> KeyShare:
        helpers = sorted(published)
        for i in helpers:
            rp.check_split(GROUP, old, helpers, self.me, i, published[i])
        sigmas = {k: self._open("repair-sum", k, sealed[k], "repair-sum") for k in helpers}
        for k in helpers:
            rp.check_sigma(GROUP, k, sigmas[k], published, helpers.index(k))
        self.new = rp.rebuild(old, self.me, sigmas)
        return SealedShare.of(self.new)


class MissealingCustody(LocalCustody):
    """A custody side that seals what it sends ``victim`` wrongly: under another vault's context,
    or to another node's key."""

    victim = 3
    wrong = "context"

    def _seal(self, step: str, to: int, value: int) -> bytes:
        if to != self.victim:
            return super()._seal(step, to, value)
        vault, key = (VAULT, self.seal_keys[self.me]) if self.wrong == "key" else ("another-vault", self.seal_keys[to])
        ctx = context(self.session, vault, step, self.me, to)
        return x25519_seal.seal(key, GROUP.scalar_to_bytes(value), ctx, secrets.token_bytes(32))


# --- a committee of ordinary and custody holders ----------------------------------------------------
def _open_with(identity: Identity, sealed: bytes, ctx: bytes) -> bytes:
    return identity.open_sealed(sealed, context=ctx)


class Committee:
    """Nodes with wire identities; those in ``custody`` have a custody key (in their identity) whose
    private half only their :class:`LocalCustody` holds, and a party given only a sealed view."""

    def __init__(
        self,
        nodes: Iterable[int],
        custody: Iterable[int],
        shares: Mapping[int, KeyShare],
        kind: type[LocalCustody] = LocalCustody,
    ) -> None:
        self.sid = secrets.token_bytes(32)
        self.vaults = {j: kind(self.sid, j, shares.get(j)) for j in custody}
        self.identities = {
            j: Identity.generate(kem="x25519", custody_key=self.vaults[j].public if j in self.vaults else None)
            for j in nodes
        }
        self.publics: dict[int, PublicIdentity] = {j: i.public for j, i in self.identities.items()}
        for v in self.vaults.values():
            v.seal_keys = {j: p.seal_key for j, p in self.publics.items()}
        self.log: list[tuple[int, Message]] = []

    def channel(self, j: int) -> Channel:
        """As a guardian builds it: every custody holder's key, and an opener unless it is one."""
        keys = {i: p.custody_key for i, p in self.publics.items() if p.custody_key is not None}
        opener = None if j in self.vaults else partial(_open_with, self.identities[j])
        return Channel(self.sid, VAULT, j, keys, opener)

    def held(self, share: KeyShare | None, j: int) -> KeyShare | None:
        """What node ``j``'s party is given: a custody holder's is the sealed view."""
        return SealedShare.of(share) if share is not None and j in self.vaults else share

    def run(self, parties: Mapping[int, RoundProtocol[Any]], *, signed: bool = False) -> RunOutcome[Any]:
        """In memory; ``signed``: every message in a real wire envelope, so complaints carry evidence
        the others check (as guardians run it)."""
        net = InMemoryNetwork(interceptor=self._signed(parties) if signed else None)
        outcome = net.run(parties)
        self.log = net.log
        return outcome

    def _signed(self, parties: Mapping[int, RoundProtocol[Any]]) -> Any:
        directory = make_directory(self.publics.values())
        id_to_index = {p.guardian_id: i for i, p in self.publics.items()}
        guards = {i: ReplayGuard() for i in self.identities}
        seq = dict.fromkeys(self.identities, 0)
        sealed: dict[Message, bytes] = {}
        for p in parties.values():
            p.set_evidence_verifier(EvidenceVerifier(self.sid, "test", self.publics))

        def icpt(to: int, m: Message) -> list[tuple[int, Message]]:
            if m not in sealed:
                [sealed[m]] = message_to_envelope(
                    m, self.identities[m.sender], self.publics, "test", seq[m.sender], NOW
                )
                seq[m.sender] += 1
            env = open_envelope(
                sealed[m],
                me=self.identities[to],
                directory=directory,
                now=NOW,
                guard=guards[to],
                expect_session=self.sid,
            )
            return [(to, envelope_to_message(env, id_to_index, directory))]

        return icpt


@pytest.fixture(scope="module")
def shares() -> dict[int, KeyShare]:
    return {s.index: s for s in local.keygen(SCHEME, threshold=2, n=3)}


def _secret(shares: Mapping[int, KeyShare]) -> int:
    return interpolate({j: s.secret for j, s in shares.items()}, GROUP.order)


def _reshare(
    c: Committee, shares: Mapping[int, KeyShare], channels: Mapping[int, Channel] | None = None
) -> dict[int, ReshareParty]:
    """2-of-3 (nodes 1–3 deal) to 3-of-4 (node 4 joins)."""
    return {
        j: ReshareParty(
            c.sid,
            j,
            scheme=SCHEME,
            old_share=c.held(shares.get(j), j),
            dealers=[1, 2, 3],
            new_participants=[1, 2, 3, 4],
            new_threshold=3,
            refresh=False,
            custody=c.vaults.get(j),
            channel=(channels or {}).get(j, c.channel(j)),
        )
        for j in (1, 2, 3, 4)
    }


def _repair(
    c: Committee,
    shares: Mapping[int, KeyShare],
    helpers: Sequence[int],
    lost: int,
    channels: Mapping[int, Channel] | None = None,
) -> dict[int, RepairParty]:
    return {
        j: RepairParty(
            c.sid,
            j,
            scheme=SCHEME,
            helper_share=c.held(shares[j], j) if j in helpers else None,
            helpers=helpers,
            lost=lost,
            custody=c.vaults.get(j),
            channel=(channels or {}).get(j, c.channel(j)),
        )
        for j in (*helpers, lost)
    }


def _fields(c: Committee, round_no: int, sender: int | None = None, to: int | None = None) -> list[set[int]]:
    """The field numbers of each delivered point-to-point message of ``round_no`` (from, to)."""
    return [
        set(codec.loads(m.payload))
        for t, m in c.log
        if m.round == round_no
        and m.recipient is not None
        and (sender is None or m.sender == sender)
        and (to is None or t == to)
    ]


def _own(outcome: RunOutcome[Any], j: int) -> ProtocolAbort:
    exc = outcome.aborts[j]
    assert exc.reported_by is None, exc
    return exc


# --- honest runs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("custody", [{1}, {1, 2}, {1, 4}], ids=["dealer", "two-dealers", "dealer-and-newcomer"])
def test_reshare_with_custody_holders_keeps_the_key(shares: dict[int, KeyShare], custody: set[int]) -> None:
    """A reshare 2-of-3 → 3-of-4 where custody holders deal and receive beside ordinary holders (one
    custody holder; two, sealing to each other; one and node 4, new to the key, holding nothing yet):
    everyone finishes, the custody holders' parties hold only sealed views (a read of the secret raises),
    the new shares — the custody holders' from their contracts — reconstruct the old group secret,
    and no value sent to a custody holder ever travels in the clear."""
    c = Committee([1, 2, 3, 4], custody, shares)
    results = c.run(_reshare(c, shares)).unwrap()
    assert all(isinstance(results[j], SealedShare) for j in custody)
    new = {j: c.vaults[j].new if j in custody else results[j] for j in (1, 2, 3, 4)}
    assert all(s is not None and s.group_key == shares[1].group_key and s.epoch == 1 for s in new.values())
    secrets_ = {j: s.secret for j, s in new.items() if s is not None}
    assert interpolate(secrets_, GROUP.order) == _secret(shares)
    assert interpolate({j: secrets_[j] for j in (2, 3, 4)}, GROUP.order) == _secret(shares)
    for j in custody:
        into = _fields(c, 2, to=j)
        assert into and all(PLAIN not in f and SEALED in f for f in into)  # sealed to its custody key
        assert all(f == {SEALED} for f in _fields(c, 2, sender=j))  # what its contract sealed


def test_repair_of_an_ordinary_holder_with_a_custody_helper(shares: dict[int, KeyShare]) -> None:
    """Custody holder 1 helps ordinary holder 2 repair node 3: its parts and sum come sealed from its
    contract, the part 2 sends it goes sealed to its custody key, and node 3 rebuilds its share."""
    c = Committee([1, 2, 3], {1}, shares)
    results = c.run(_repair(c, shares, [1, 2], 3)).unwrap()
    assert results[3].secret == shares[3].secret and results[1] is None and results[2] is None
    assert _fields(c, 2, sender=2, to=1) == [{SEALED}] and _fields(c, 3, sender=1) == [{SEALED}]
    assert _fields(c, 3, sender=2) == [{PLAIN}]  # between ordinary holders: in the clear (in the envelope)


def test_repair_of_the_custody_holder(shares: dict[int, KeyShare]) -> None:
    """Custody holder 1 lost its share (its contract holds none): helpers 2 and 3 seal their sums to
    its custody key and its contract rebuilds the very share it had; its party sees the sealed view."""
    c = Committee([1, 2, 3], {1}, {j: s for j, s in shares.items() if j != 1})
    results = c.run(_repair(c, shares, [2, 3], 1)).unwrap()
    assert isinstance(results[1], SealedShare) and results[1].verifying_shares == shares[1].verifying_shares
    assert c.vaults[1].new is not None and c.vaults[1].new.secret == shares[1].secret
    assert _fields(c, 3, to=1) == [{SEALED}, {SEALED}]


# --- attacks --------------------------------------------------------------------------------------------
PLAIN_TO_CUSTODY = {
    # scenario: (nodes, custody holder, helpers or None for the reshare, lost)
    "reshare-sub-share": ([1, 2, 3, 4], 1, None, 0),
    "repair-part": ([1, 2, 3], 1, [1, 2], 3),
    "repair-sum": ([1, 2, 3], 1, [2, 3], 1),
}


def _plain_run(shares: dict[int, KeyShare], scenario: str, *, signed: bool) -> tuple[Committee, RunOutcome[Any]]:
    """Ordinary node 2 is given a channel without the custody keys: it sends custody holder 1 its
    value in the clear, where 1's host can read it."""
    nodes, holder, helpers, lost = PLAIN_TO_CUSTODY[scenario]
    kept = {j: s for j, s in shares.items() if j != lost}
    c = Committee(nodes, {holder}, kept)
    leaky = {2: Channel(c.sid, VAULT, 2, {}, partial(_open_with, c.identities[2]))}
    parties = _reshare(c, shares, leaky) if helpers is None else _repair(c, kept, helpers, lost, leaky)
    return c, c.run(parties, signed=signed)


@pytest.mark.parametrize("scenario", list(PLAIN_TO_CUSTODY))
def test_a_value_sent_to_a_custody_holder_in_the_clear_names_its_sender(
    shares: dict[int, KeyShare], scenario: str
) -> None:
    """A dealer's sub-share, a helper's part or a helper's sum sent to a custody holder in the clear
    was shown to that holder's host: the custody holder refuses it and names the sender (decode)."""
    c, outcome = _plain_run(shares, scenario, signed=False)
    assert any(PLAIN in f for f in _fields(c, 2 if scenario != "repair-sum" else 3, sender=2, to=1))
    exc = _own(outcome, 1)
    assert exc.culprits == {2} and exc.check == "decode"
    assert all(r is None for r in outcome.results.values())  # no share comes out of it (helpers end with None)


@pytest.mark.parametrize("scenario", ["reshare-sub-share", "repair-part"])
def test_with_signatures_nobody_blames_the_custody_holder_for_refusing_a_plain_value(
    shares: dict[int, KeyShare], scenario: str
) -> None:
    """The same attack over signed envelopes: the custody holder's complaint carries node 2's signed
    plaintext message, which the others re-check.  A value in the clear to a custody holder breaks
    the protocol whatever it is: the others name its sender too, never the complaining custody holder."""
    _, outcome = _plain_run(shares, scenario, signed=True)
    assert _own(outcome, 1).culprits == {2}
    verdicts = {j: exc for j, exc in outcome.aborts.items() if j not in (1, 2)}  # the honest others
    assert verdicts
    for j, exc in verdicts.items():
        assert exc.culprits == {2}, f"node {j}: {exc}"


@pytest.mark.parametrize("wrong", ["context", "key"])
@pytest.mark.parametrize("protocol", ["reshare", "repair"])
def test_a_sealed_value_that_does_not_open_names_the_custody_holder(
    shares: dict[int, KeyShare], protocol: str, wrong: str
) -> None:
    """Custody holder 1's contract seals what it sends ordinary node 3 (a sub-share; a repair sum)
    under another vault's context, or to another key: node 3 cannot open it and names 1 (the value
    came on 1's authenticated channel) with ``sealed-value``."""
    kind = type("Missealing", (MissealingCustody,), {"wrong": wrong})
    if protocol == "reshare":
        c = Committee([1, 2, 3, 4], {1}, shares, kind)
        outcome = c.run(_reshare(c, shares))
    else:
        kept = {1: shares[1], 2: shares[2]}
        c = Committee([1, 2, 3], {1}, kept, kind)
        outcome = c.run(_repair(c, kept, [1, 2], 3))
    exc = _own(outcome, 3)
    assert exc.culprits == {1} and exc.check == "sealed-value"
    assert 3 not in outcome.results


# --- Channel.read ------------------------------------------------------------------------------------------
def _sealed_to(identity: Identity, sender: int, value: bytes, sid: bytes) -> bytes:
    ctx = context(sid, VAULT, "reshare", sender, 2)
    return x25519_seal.seal(identity.public.seal_key, value, ctx, secrets.token_bytes(32))


def test_channel_reads_a_value_in_the_clear_or_sealed() -> None:
    """An ordinary node reads a value in the clear, or sealed to it by a contract and opened here."""
    me, sid, value = Identity.generate(kem="x25519"), secrets.token_bytes(32), GROUP.scalar_to_bytes(7)
    ch = Channel(sid, VAULT, 2, {}, partial(_open_with, me))
    assert ch.read("reshare", 5, {PLAIN: value}, GROUP.scalar_len) == value
    assert ch.read("reshare", 5, {SEALED: _sealed_to(me, 5, value, sid)}, GROUP.scalar_len) == value


@pytest.mark.parametrize(
    "case", ["both-fields", "neither", "not-bytes", "short-plain", "long-sealed", "sealed-without-opener"]
)
def test_channel_read_refuses_malformed_values(case: str) -> None:
    """Both fields, neither, a field that is not bytes, a value of the wrong length (in the clear or
    sealed), or a sealed value to a node that cannot open one: ``decode``, naming the sender."""
    me, sid, value = Identity.generate(kem="x25519"), secrets.token_bytes(32), GROUP.scalar_to_bytes(7)
    ch = Channel(sid, VAULT, 2, {}, partial(_open_with, me))
    m: dict[int, Any] = {
        "both-fields": {PLAIN: value, SEALED: _sealed_to(me, 5, value, sid)},
        "neither": {},
        "not-bytes": {PLAIN: 7},
        "short-plain": {PLAIN: value[:-1]},
        "long-sealed": {SEALED: _sealed_to(me, 5, value + b"\0", sid)},
        "sealed-without-opener": {SEALED: _sealed_to(me, 5, value, sid)},
    }[case]
    if case == "sealed-without-opener":
        ch = dataclasses.replace(ch, opener=None)
    with pytest.raises(ProtocolAbort) as info:
        ch.read("reshare", 5, m, GROUP.scalar_len)
    assert info.value.culprits == {5} and info.value.check == "decode"


@pytest.mark.parametrize("m", [{PLAIN: b"x" * 32}, {PLAIN: b"x" * 32, SEALED: b"y" * 80}, {}, {SEALED: "text"}])
def test_custody_holder_takes_only_a_sealed_value(m: dict[int, Any]) -> None:
    """What reaches a custody holder must come sealed and only sealed (else its host saw it)."""
    with pytest.raises(ProtocolAbort) as info:
        Channel(secrets.token_bytes(32), VAULT, 1).sealed_from("reshare", 4, m)
    assert info.value.culprits == {4} and info.value.check == "decode"
