"""Threshold ECDSA (DKLs23) attacked by a malicious co-signer and a malicious owner (issue 12, items 1-6).

Each test performs the attack as the review described it and shows what the attacker gets now:
nothing it can use, a refusal, or an abort that blames only with evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import pytest

from gridlock import local
from gridlock.crypto import codec
from gridlock.crypto.ecdsa import online, ot_extension, signing, vole
from gridlock.crypto.ecdsa import setup as ecdsa_setup
from gridlock.crypto.hd import derive
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.secp256k1 import SECP256K1, N
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import InvalidParameterError, NonceReuseError, ProtocolAbort
from gridlock.guardian import session as session_mod
from gridlock.guardian.bans import VaultBans
from gridlock.guardian.store import AlreadyUsed, Keystore, StorageError
from gridlock.protocol.ecdsa import OnlineSignParty, PresignParty
from gridlock.protocol.message import Message
from gridlock.protocol.runner import InMemoryNetwork
from gridlock.wire import ReplayGuard
from gridlock.wire import control as ctl

SCHEME = "ecdsa-secp256k1"
REPLY_LEN = vole.XI * vole.WIDTH * 32 + vole.RHO * 32 + 32  # a VOLE sender reply: ã, η, μ


@pytest.fixture(scope="module")
def key33() -> list[KeyShare]:
    return local.keygen(SCHEME, threshold=3, n=3)


def copies(shares: list[KeyShare]) -> list[KeyShare]:
    return [KeyShare.from_bytes(s.to_bytes()) for s in shares]


# --- 1. a repeated session id would leak the key: the id is jointly random ------------------------
@dataclasses.dataclass
class Run:
    """What the attacker (a signer that follows the protocol) keeps from one presigning run."""

    replies: dict[int, bytes]  # the VOLE reply each honest signer sent the attacker
    choices: dict[int, list[int]]  # the attacker's OT choice bits β towards each honest signer
    own_sk: int  # the attacker's own additive key share for this run
    contribution: bytes
    sids: set[bytes]


def presign_as_attacker(
    shares: list[KeyShare], session_id: bytes, attacker: int, replay: dict[int, bytes] | None = None
) -> Run:
    """One presigning run; ``replay`` makes the named signers send a chosen round-1 contribution."""
    replies: dict[int, bytes] = {}

    def spy(to: int, m: Message) -> list[tuple[int, Message]]:
        if to == attacker and m.sender != attacker:
            for v in cbor2.loads(m.payload).values():
                if isinstance(v, bytes) and len(v) == REPLY_LEN:
                    replies[m.sender] = v
        return [(to, m)]

    signers = [s.index for s in shares]
    parties = {s.index: PresignParty(s, session_id, signers) for s in shares}
    for i, contribution in (replay or {}).items():
        parties[i]._presigner._contribution = contribution
    atk = parties[attacker]._presigner
    own: list[int] = []
    round3 = atk.round3
    atk.round3 = lambda inbox: (own.append(atk._sk), round3(inbox))[1]  # type: ignore[method-assign]
    InMemoryNetwork(interceptor=spy).run(parties).unwrap()
    choices = {i: list(atk._receivers[i]._beta) for i in replies}
    return Run(replies, choices, own[0], atk._contribution, {p._presigner.sid for p in parties.values()})


def subtract(first: Run, second: Run) -> int:
    """The attack: where the attacker's choice bits differ between two runs of one session id, the
    sender's pads swap, so ``ã + ã' = a + a'`` and the key-share column gives ``2·sk_i``."""
    total = first.own_sk
    for i, reply in first.replies.items():
        k = next(k for k in range(vole.XI) if first.choices[i][k] != second.choices[i][k])
        col = slice((k * vole.WIDTH + 1) * 32, (k * vole.WIDTH + 2) * 32)
        a1, a2 = int.from_bytes(reply[col], "big"), int.from_bytes(second.replies[i][col], "big")
        total += (a1 + a2) * pow(2, -1, N)
    return total % N


def test_the_subtraction_attack_is_real_when_a_session_id_repeats(key33: list[KeyShare]) -> None:
    """Control: with every contribution repeated (as a broken RNG would), the attack takes the key.
    This is what a caller-chosen session id allowed before the id became jointly random."""
    sid = os.urandom(32)
    first = presign_as_attacker(key33, sid, attacker=3)
    second = presign_as_attacker(key33, sid, attacker=3, replay={1: b"\x01" * 32, 2: b"\x02" * 32, 3: b"\x03" * 32})
    third = presign_as_attacker(key33, sid, attacker=3, replay={1: b"\x01" * 32, 2: b"\x02" * 32, 3: b"\x03" * 32})
    assert first.sids != second.sids and len(second.sids) == 1 and second.sids == third.sids
    assert SECP256K1.base_mul(subtract(second, third)) == key33[0].group_key  # the whole key


def test_a_signer_replaying_its_contribution_under_a_repeated_session_id_learns_nothing(
    key33: list[KeyShare],
) -> None:
    sid = os.urandom(32)  # the coordinator (or a malicious owner) repeats the session id
    first = presign_as_attacker(key33, sid, attacker=3)
    second = presign_as_attacker(key33, sid, attacker=3, replay={3: first.contribution})
    assert first.sids.isdisjoint(second.sids)  # the honest signers' fresh contributions differ
    assert SECP256K1.base_mul(subtract(first, second)) != key33[0].group_key


# --- 1. the guardian refuses a repeated session for good ---------------------------------------------
@pytest.mark.parametrize("scheme", [SCHEME, "frost-secp256k1"])
def test_owner_repeating_a_nonce_is_refused_across_restarts(tmp_path: Path, scheme: str) -> None:
    """ECDSA: a rerun would repeat per-signature values.  Every scheme: a rerun's signed messages could
    be passed off as equivocation in the first run and frame an honest guardian (SECURITY #28)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["device", "enclave", "cloud"], session_timeout=15.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault(scheme, c.ids, 3, password=c.password)
            nonce = os.urandom(32)

            def request(message: bytes) -> dict[str, Any]:  # a fresh approval each time: the owner signs again
                params = {"vault": vault.vault_id, "message": message, "signers": c.ids, "nonce": nonce}
                return vault._approved("sign", params)

            first = await c.client.fanout(c.ids, "sign", request(b"\x11" * 32))
            assert all(isinstance(r, dict) and "signature" in r for r in first.values())
            again = await c.client.fanout(c.ids, "sign", request(b"\x22" * 32))
            assert all(isinstance(r, ctl.RequestRefused) and r.code == "replay" for r in again.values())
            for g in c.guardians:  # a flooded replay guard that purged everything it knew
                g.node.guard = ReplayGuard()
            flooded = await c.client.fanout(c.ids, "sign", request(b"\x23" * 32))
            assert all(isinstance(r, ctl.RequestRefused) and r.code == "replay" for r in flooded.values())
            for i in range(3):  # restart: every in-memory replay guard and tombstone is gone
                await c.stop_guardian(i)
                await c.start_guardian(i)
            after = await c.client.fanout(c.ids, "sign", request(b"\x33" * 32))
            assert all(isinstance(r, ctl.RequestRefused) and r.code == "replay" for r in after.values())
            assert await vault.sign(b"\x44" * 32)  # an honest request with a fresh nonce still signs
        finally:
            await c.close()

    asyncio.run(main())


def test_session_claims_persist_in_the_keystore(tmp_path: Path, key33: list[KeyShare]) -> None:
    secret = os.urandom(32)
    ks = Keystore.open(tmp_path / "g.db", secret)
    ks.store_pending("v", key33[0])
    ks.activate("v", key33[0].epoch)
    ks.claim_session("v", key33[0].epoch, b"s" * 32)
    ks.close()
    ks = Keystore.open(tmp_path / "g.db", secret)
    with pytest.raises(AlreadyUsed):
        ks.claim_session("v", key33[0].epoch, b"s" * 32)
    ks.claim_session("v", key33[0].epoch, b"t" * 32)
    ks.close()


# --- 2. bans hold for sessions opened before them ---------------------------------------------------
def bit_flipper(attacker: int, victim: int, row: int) -> Callable[[int, Message], list[tuple[int, Message]]]:
    """The receiver flips one bit of base-OT row ``row`` in its OT-extension message to ``victim``;
    the victim's correlation check then passes or fails with Δ's bit ``row``."""
    row_bytes = (vole.XI + ot_extension.PAD) // 8

    def intercept(to: int, m: Message) -> list[tuple[int, Message]]:
        if m.sender == attacker and to == victim and m.round == 2:
            body = cbor2.loads(m.payload)
            ote = bytearray(body[2])
            ote[row * row_bytes] ^= 1
            body[2] = bytes(ote)
            m = dataclasses.replace(m, payload=codec.dumps(body))
        return [(to, m)]

    return intercept


def test_concurrent_sessions_with_a_bit_flipping_receiver_leak_one_bit(
    key33: list[KeyShare], monkeypatch: pytest.MonkeyPatch
) -> None:
    shares = copies(key33)
    victim, attacker = shares[0], 2
    delta = ecdsa_setup.pair_setups(victim)[attacker].as_sender.delta
    ones = [b for b in range(ot_extension.KAPPA) if (delta[b // 8] >> (b % 8)) & 1]
    checks: list[bool] = []  # every correlation check the victim ran against the attacker, and its result
    real = ot_extension.sender_extend

    def counted(setup: Any, sid: bytes, m: int, message: bytes, counterparty: int) -> Any:
        try:
            rows = real(setup, sid, m, message, counterparty)
        except ot_extension.OtConsistencyError:
            checks.append(False)
            raise
        checks.append(True)
        return rows

    monkeypatch.setattr(vole.ote, "sender_extend", counted)
    sessions = 16
    signers = [1, 2, 3]
    opened = []  # all sessions exist (and passed the ban check at creation) before the first failure
    for _ in range(sessions):
        sid = os.urandom(32)
        opened.append({s.index: PresignParty(s, sid, signers) for s in shares})
    outcomes = []
    for n, parties in enumerate(opened):  # each session flips Δ bit rows that are 1: every check fails
        outcomes.append(InMemoryNetwork(interceptor=bit_flipper(attacker, 1, ones[n % len(ones)])).run(parties))
    victim_checks = [c for c in checks if not c]
    assert len(victim_checks) == 1  # one failed check: one bit, then the ban
    assert victim.banned == {attacker}
    later = [o.aborts[1] for o in outcomes[1:]]
    assert all(e.check == "banned" and e.culprits == {attacker} for e in later)


def test_guardian_ban_list_is_shared_persisted_at_once_and_stops_running_sessions(
    tmp_path: Path, key33: list[KeyShare]
) -> None:
    share = copies(key33)[0]
    ks = Keystore.open(tmp_path / "g.db", os.urandom(32))
    ks.store_pending("v", share)
    ks.activate("v", share.epoch)
    stopped: list[int] = []
    bans = VaultBans(ks, "v", share.epoch, set(), lambda _b, j: stopped.append(j))
    a = signing.Presigner(ks.active_share("v"), os.urandom(32), [1, 2, 3], bans=bans)
    b = signing.Presigner(ks.active_share("v"), os.urandom(32), [1, 2, 3], bans=bans)
    bans.add(2)  # session a caught participant 2
    assert ks.share("v", share.epoch).banned == {2}  # on disk before add() returned
    assert stopped == [2]  # the guardian aborts its running sessions with 2
    with pytest.raises(ProtocolAbort) as err:
        b._refuse_banned(2)  # b was created before the ban and still refuses before using Δ
    assert err.value.check == "banned"
    with pytest.raises(InvalidParameterError, match="banned"):
        signing.Presigner(ks.active_share("v"), os.urandom(32), [1, 2, 3])  # new sessions: from the store
    del a
    ks.close()


class FailingStore:
    """A store whose writes fail (a full disk, an unreachable enclave network)."""

    def __init__(self, inner: Keystore) -> None:
        self.inner, self.fail = inner, True

    def share(self, vault_id: str, epoch: int) -> KeyShare:
        return self.inner.share(vault_id, epoch)

    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None:
        if self.fail:
            raise StorageError("disk full")
        self.inner.update_share(vault_id, epoch, share)


def test_a_ban_the_store_cannot_take_still_aborts_and_is_stored_later(tmp_path: Path, key33: list[KeyShare]) -> None:
    share = copies(key33)[0]
    ks = Keystore.open(tmp_path / "g.db", os.urandom(32))
    ks.store_pending("v", share)
    ks.activate("v", share.epoch)
    store = FailingStore(ks)
    stopped: list[int] = []
    bans = VaultBans(store, "v", share.epoch, set(), lambda _b, j: stopped.append(j))  # type: ignore[arg-type]
    p = signing.Presigner(ks.active_share("v"), os.urandom(32), [1, 2, 3], bans=bans)
    exc = p._abort(2, "ote-consistency", "correlation check failed")  # what a failed check does
    assert isinstance(exc, ProtocolAbort) and exc.culprits == {2}  # the abort, not the store's error
    assert 2 in bans and stopped == [2] and bans.unpersisted == {2}
    with pytest.raises(StorageError):
        bans.persist()  # the guardian calls this before every OT-based session: refused while it fails
    store.fail = False
    bans.persist()
    assert ks.share("v", share.epoch).banned == {2} and not bans.unpersisted
    ks.close()


# --- 3. a false round-4 commitment: suspects, never culprits ----------------------------------------
def test_consistent_false_commitment_fails_with_suspects_only(key33: list[KeyShare]) -> None:
    shares = copies(key33)
    liar = 3
    signers = [1, 2, 3]
    sid = os.urandom(32)
    parties = {s.index: PresignParty(s, sid, signers) for s in shares}

    def lie(to: int, m: Message) -> list[tuple[int, Message]]:
        if m.sender == liar and m.round == 4:  # the same false U_3 = (u_3 + 1)·G to everyone
            body = cbor2.loads(m.payload)
            body[2] = SECP256K1.base_mul((parties[liar]._presigner._u + 1) % N).encode()
            m = dataclasses.replace(m, payload=codec.dumps(body))
        return [(to, m)]

    pres = InMemoryNetwork(interceptor=lie).run(parties).unwrap()
    phi, u, v = pres[liar].take()
    pres[liar]._secrets = (phi, (u + 1) % N, v)  # and an online share that matches the lie
    digest = os.urandom(32)
    online_sid = os.urandom(32)
    outcome = InMemoryNetwork().run({i: OnlineSignParty(p, online_sid, digest) for i, p in pres.items()})
    for honest in (1, 2):
        exc = outcome.aborts[honest]
        assert exc.reported_by is None and exc.check == "final-verification"
        assert not exc.culprits and exc.suspects == set(signers) - {honest}
        assert exc.blame_text({1: "device", 2: "cloud", 3: "friend"}).startswith("suspects: ")  # what guardians audit
    assert all(not e.culprits for e in outcome.aborts.values())


# --- 4. a presignature has one usable copy -------------------------------------------------------
class OneShotStore:
    """A store that refuses a second take (what the guardian keystore does durably)."""

    def __init__(self) -> None:
        self.items: dict[bytes, bytes | None] = {}

    def take(self, presig_id: bytes, /) -> bytes:
        blob = self.items.get(presig_id)
        if blob is None:
            raise NonceReuseError("already taken")
        self.items[presig_id] = None
        return blob


def test_a_stored_presignature_signs_once(key33: list[KeyShare]) -> None:
    pres = local.presign(key33)
    store = OneShotStore()
    store.items[pres[0].presig_id] = pres[0].to_bytes()
    assert pres[0].used  # the bytes are the one remaining copy
    with pytest.raises(NonceReuseError):
        pres[0].to_bytes()
    loaded = online.Presignature.take_from(store, pres[0].presig_id)
    digest = os.urandom(32)
    sig = local.sign_with_presignatures([loaded, pres[1], pres[2]], digest)
    assert local.verify(SCHEME, key33[0].public_key, digest, sig)
    with pytest.raises(NonceReuseError):
        online.Presignature.take_from(store, pres[0].presig_id)  # a second load: refused
    assert not hasattr(online.Presignature, "from_bytes")


# --- 5. signers given different signer sets abort without banning each other --------------------------
def test_different_signer_sets_abort_before_any_ban() -> None:
    shares = local.keygen(SCHEME, threshold=2, n=3)
    sid = os.urandom(32)
    parties = {
        1: PresignParty(shares[0], sid, [1, 2]),
        2: PresignParty(shares[1], sid, [1, 2, 3]),
        3: PresignParty(shares[2], sid, [1, 2, 3]),
    }
    outcome = InMemoryNetwork().run(parties)
    assert not outcome.results
    assert not any(s.banned for s in shares)
    own = [e for e in outcome.aborts.values() if e.reported_by is None]
    assert own and all(e.check == "presign-context" and not e.culprits for e in own)


# --- 6. constant-time GF(2^128) arithmetic and HD child keys -----------------------------------------
def clmul_reference(a: int, b: int) -> int:
    """Carry-less product reduced by x^128 + x^7 + x^2 + x + 1, written independently."""
    p = 0
    for i in range(128):
        if (b >> i) & 1:
            p ^= a << i
    for k in range(254, 127, -1):
        if (p >> k) & 1:
            p ^= ((1 << 128) | 0x87) << (k - 128)
    return p


def test_gf_mul_matches_an_independent_reference_in_both_argument_orders() -> None:
    rng = random.Random(12)
    for _ in range(200):
        a, b = rng.getrandbits(128), rng.getrandbits(128)
        assert ot_extension.gf_mul(a, b) == ot_extension.gf_mul(b, a) == clmul_reference(a, b)
    assert ot_extension.gf_mul((1 << 128) - 1, (1 << 128) - 1) == clmul_reference((1 << 128) - 1, (1 << 128) - 1)


def test_a_child_key_never_shares_a_session_with_its_parent(key33: list[KeyShare]) -> None:
    parent = key33[0]
    child = derive(parent, "m/0/7")
    sid = os.urandom(32)
    assert ecdsa_setup.pair_setups(child) == ecdsa_setup.pair_setups(parent)  # one OT setup for both
    assert signing.signing_context(sid, child, [1, 2, 3]) != signing.signing_context(sid, parent, [1, 2, 3])


def test_through_real_guardians_concurrent_signatures_leak_one_bit_per_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malicious guardian flips one bit of its OT-extension message to each honest co-signer in
    16 concurrent signing requests (the review leaked 16 bits this way)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["device", "enclave", "cloud", "watch"], session_timeout=15.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault(SCHEME, c.ids, 3, password=c.password)
            honest, mal = c.guardians[:2], c.guardians[3]
            members = honest[0].node._vault_members(vault.vault_id, 0)
            index = {g: i for i, g in members.items()}
            mal_index = index[mal.identity.guardian_id]
            rows = {}  # victim index -> a base-OT row where the victim's Δ bit is 1 (the check must fail)
            for g in honest:
                delta = ecdsa_setup.pair_setups(g.keystore.active_share(vault.vault_id))[mal_index].as_sender.delta
                rows[index[g.identity.guardian_id]] = next(b for b in range(128) if (delta[b // 8] >> (b % 8)) & 1)
            row_bytes = (vole.XI + ot_extension.PAD) // 8
            real_seal = session_mod.message_to_envelope

            def evil_seal(msg: Message, identity: Any, *args: Any, **kw: Any) -> list[bytes]:
                if identity.guardian_id == mal.identity.guardian_id and msg.recipient in rows and msg.round == 2:
                    body = cbor2.loads(msg.payload)
                    if isinstance(body, dict) and len(body.get(2, b"")) == vole.SENDER_MSG_LEN:
                        ote = bytearray(body[2])
                        ote[rows[msg.recipient] * row_bytes] ^= 1
                        body[2] = bytes(ote)
                        msg = dataclasses.replace(msg, payload=codec.dumps(body))
                return real_seal(msg, identity, *args, **kw)

            failed: list[int] = []
            real_extend = ot_extension.sender_extend

            def counted(setup: Any, sid: bytes, m: int, message: bytes, counterparty: int) -> Any:
                try:
                    return real_extend(setup, sid, m, message, counterparty)
                except ot_extension.OtConsistencyError:
                    failed.append(counterparty)
                    raise

            monkeypatch.setattr(session_mod, "message_to_envelope", evil_seal)
            monkeypatch.setattr(vole.ote, "sender_extend", counted)
            signers = [g.identity.guardian_id for g in (*honest, mal)]
            results = await asyncio.gather(
                *(vault.sign(os.urandom(32), signers=signers) for _ in range(16)), return_exceptions=True
            )
            assert all(isinstance(r, Exception) for r in results)
            assert failed == [mal_index, mal_index]  # one failed check per honest victim, then the ban
            for g in honest:
                assert g.keystore.active_share(vault.vault_id).banned == {mal_index}  # persisted
            monkeypatch.setattr(session_mod, "message_to_envelope", real_seal)
            with pytest.raises(Exception, match="banned"):
                await vault.sign(os.urandom(32), signers=signers)
            digest = os.urandom(32)
            sig = await vault.sign(digest, signers=[g.identity.guardian_id for g in c.guardians[:3]])
            assert local.verify(SCHEME, vault.public_key, digest, sig)
        finally:
            await c.close()

    asyncio.run(main())
