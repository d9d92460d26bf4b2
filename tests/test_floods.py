"""Guardians and the owner's client keep serving under floods (issue 18, findings 1, 2, 5, 6).

Each test performs the flood the issue reproduced — at its full size — and then shows that the owner's
signatures still succeed, that the replay guards stay within their budgets and that nobody's audit
log grows by an entry per junk request.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gridlock.chains import EthereumTx
from gridlock.chains import get as chain
from gridlock.client import OperationFailed
from gridlock.crypto import codec
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.guardian import node as node_mod
from gridlock.local import verify
from gridlock.wire import KEM_X25519, Identity, PublicIdentity, ops, seal
from gridlock.wire import control as ctl
from gridlock.wire.replay import DEFAULT_PER_SENDER

NAMES = ["device", "enclave", "cloud"]


def run(fn: Any) -> Any:
    return asyncio.run(fn())


def request(sender: Identity, to: PublicIdentity, op: str, params: dict[str, Any], *, ttl: int = 60) -> bytes:
    return seal(
        sender,
        session_id=os.urandom(16),
        protocol=ctl.CONTROL,
        round=0,
        seq=0,
        recipient=to,
        expires=int(time.time()) + ttl,
        body=ctl.Request(op, params).to_bytes(),
    )


def intro(outsider: Identity, to: PublicIdentity, op: str, params: dict[str, Any]) -> bytes:
    """A request from a device no guardian knows (what device recovery sends)."""
    return codec.dumps({"intro": outsider.public.to_bytes(), "envelope": request(outsider, to, op, params)})


async def signs(c: EmbeddedCluster, vault: Any) -> None:
    message = os.urandom(32)
    sig = await vault.sign(message, timeout=30)
    assert verify(vault.scheme, vault.public_key, message, sig)


def audit_size(c: EmbeddedCluster) -> list[int]:
    return [len(g.audit.entries(None, 0, 1_000_000)) for g in c.guardians]


def test_outsiders_flooding_every_guardian_do_not_stop_the_owner_signing(tmp_path: Path) -> None:
    """10,050 requests from fresh identities at each of three guardians (pings, and requests they may
    not make) while the owner signs: the owner's signatures keep succeeding, the guardians' replay
    state of unknown devices stays within its small budget, and no refusal is audited one by one."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            audit_before = audit_size(c)

            async def flood() -> None:  # in bursts, as a flooder on the router sends (2-6 s in the issue)
                for i in range(10_050):
                    outsider = Identity.generate(kem=KEM_X25519)
                    op, params = ("ping", {}) if i % 2 else ("info", {"vault": vault.vault_id})
                    for gid in c.ids:
                        c.router.inject(gid, intro(outsider, c.directory[gid], op, params))
                    if i % 250 == 0:
                        await asyncio.sleep(0)

            flooding = asyncio.ensure_future(flood())
            signed = 0
            while not flooding.done():
                await signs(c, vault)
                signed += 1
            await flooding
            await signs(c, vault)
            assert signed >= 2  # the owner signed during the flood, not only after it
            owner = c.client_identity.guardian_id
            for g in c.guardians:
                node = g.node
                assert node.intro_guard.live <= node_mod.INTRO_IN_FLIGHT
                assert len(node.intro_guard) <= node_mod.INTRO_LIVE_SESSIONS + node_mod.INTRO_CLOSED_SESSIONS
                assert node.guard.live_of(owner) == 0  # every answered request released its place
                assert sum(node.door.values()) >= 5000  # counted instead of audited
                node._flush_door(force=True)
            # the owner's signatures and one counting entry per guardian; no entry per refused outsider
            for before, after, g in zip(audit_before, audit_size(c), c.guardians, strict=True):
                entries = [e["body"] for e in g.audit.entries(None, 0, 1_000_000)[before:]]
                assert after - before < 3 * (signed + 1) + 2
                assert [e["op"] for e in entries if e["requester"] not in (owner, *c.ids)] == ["door"]
                assert "unknown identities" in entries[-1]["reason"]
        finally:
            await c.close()

    run(main)


def test_a_known_identity_flooding_cannot_starve_the_owner(tmp_path: Path) -> None:
    """One identity of the directory (here a guardian's keys) sends 10,050 pings to a guardian, and one
    claiming a day of validity: the day is refused, the flood fills only its sender's budget (answered
    busy beyond its quota of requests in flight) and the owner keeps signing with that guardian."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            flooder = c.guardians[2].identity
            victims = c.guardians[:1]
            for g in victims:  # a request valid for a day is refused before it costs a place
                g.node.handle(request(flooder, g.identity.public, "ping", {}, ttl=86_400))
                assert g.node.guard.live_of(flooder.guardian_id) == 0

            async def flood() -> None:
                for i in range(10_050):
                    for g in victims:
                        c.router.inject(g.identity.guardian_id, request(flooder, g.identity.public, "ping", {}))
                    if i % 250 == 0:
                        await asyncio.sleep(0)

            flooding = asyncio.ensure_future(flood())
            signed = 0
            while not flooding.done():
                message = os.urandom(32)  # with the flooded guardian among the signers
                sig = await vault.sign(message, signers=[c.ids[0], c.ids[1]], timeout=30)
                assert verify(vault.scheme, vault.public_key, message, sig)
                signed += 1
            await flooding
            await signs(c, vault)
            assert signed >= 2
            for g in victims:
                assert g.node.guard.live_of(flooder.guardian_id) <= DEFAULT_PER_SENDER
                assert g.node.guard.live_of(c.client_identity.guardian_id) == 0
        finally:
            await c.close()

    run(main)


def test_a_malicious_guardian_cannot_make_the_client_deaf(tmp_path: Path) -> None:
    """10,001 small envelopes signed by a guardian of the vault, sent to the owner's client (fake replies
    and notifications, each its own session): the client keeps hearing every honest reply."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            evil = c.guardians[0].identity
            client_id = c.client_identity.guardian_id
            for i in range(10_001):
                c.router.inject(
                    client_id,
                    seal(
                        evil,
                        session_id=os.urandom(16),
                        protocol=ctl.REPLY if i % 2 else "notify",
                        round=0,
                        seq=0,
                        recipient=c.client_identity.public,
                        expires=int(time.time()) + 3600,
                        body=codec.dumps({"event": "junk"}),
                    ),
                )
                if i % 250 == 0:
                    await asyncio.sleep(0)
            for _ in range(3):
                await signs(c, vault)
            assert await c.client.ping(c.ids) != []
            assert c.client._guard.live == 0
            assert c.client._guard.live_of(evil.guardian_id) == 0
        finally:
            await c.close()

    run(main)


def test_an_owner_making_more_than_ten_thousand_requests_is_still_heard(tmp_path: Path) -> None:
    """The client's and the guardian's replay state are released as requests end: request 10,001 and the
    signature after it are answered like the first."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            client = c.client
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            target = c.ids[0]
            done = 0
            while done < 10_001:
                batch = min(32, 10_001 - done)
                replies = await asyncio.gather(*(client.call(target, ops.Ping()) for _ in range(batch)))
                assert all(isinstance(r, ops.PingReply) for r in replies)
                done += batch
            await signs(c, vault)
            assert client._guard.live == 0
            assert c.guardians[0].node.guard.live_of(c.client_identity.guardian_id) == 0
        finally:
            await c.close()

    run(main)


def test_overload_is_answered_busy_and_the_client_backs_off(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            node = c.guardians[0].node
            node.per_client_requests = 1
            # one try at a time: the guardian's answer to the second of two requests in flight is busy
            first = asyncio.ensure_future(c.client._request_once(c.ids[0], "list", {}, 10, False))
            second = asyncio.ensure_future(c.client._request_once(c.ids[0], "list", {}, 10, False))
            bodies = await asyncio.gather(first, second)
            with pytest.raises(ctl.RequestRefused) as busy:
                for body in bodies:
                    ctl.decode_reply(body, c.ids[0])
            assert busy.value.code is ctl.Refusal.BUSY and busy.value.retry_after == node_mod.BUSY_RETRY_AFTER
            # the SDK waits and asks again: twenty requests at once all succeed
            replies = await asyncio.gather(*(c.client.call(c.ids[0], ops.ListVaults()) for _ in range(20)))
            assert all(isinstance(r, ops.VaultsReply) for r in replies)
            assert any(k.startswith("busy") for k in node.door)
        finally:
            await c.close()

    run(main)


def test_signatures_answered_busy_are_sent_again_with_fresh_approvals(tmp_path: Path) -> None:
    """A guardian takes one request at a time: the signatures it answers ``busy`` are sent again after
    those approved later ran, so the retries carry fresh owner approvals (a guardian accepts an owner
    device's approval counters only increasing) and every signature succeeds.  A ping is answered over
    the quota all the same (a client choosing signers under load learns who is alive)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            node = c.guardians[0].node
            node.per_client_requests = 0  # every request over the quota
            with pytest.raises(ctl.RequestRefused) as busy:
                ctl.decode_reply(await c.client._request_once(c.ids[0], "list", {}, 10, False), c.ids[0])
            assert busy.value.code is ctl.Refusal.BUSY
            ping = await c.client._request_once(c.ids[0], "ping", {"vault": vault.vault_id}, 10, False)
            assert ctl.decode_reply(ping, c.ids[0])["epoch"] == 0  # answered, not busy
            node.per_client_requests = 1
            signers = c.ids[:2]
            messages = [os.urandom(32) for _ in range(6)]
            sigs = await asyncio.gather(*(vault.sign(m, signers=signers) for m in messages))
            assert all(verify("frost-ed25519", vault.public_key, m, s) for m, s in zip(messages, sigs, strict=True))
            assert c.client.busy_answers > 0  # they were refused busy first
        finally:
            await c.close()

    run(main)


def test_envelopes_for_sessions_not_started_are_held_within_a_byte_budget(tmp_path: Path) -> None:
    """A guardian of the network sends 150 envelopes of 1 MiB for sessions its victim never starts."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            victim, evil = c.guardians[0].node, c.guardians[1].identity
            for _ in range(150):
                victim.handle(
                    seal(
                        evil,
                        session_id=os.urandom(16),
                        protocol="frost-sign",
                        round=0,
                        seq=0,
                        recipient=None,  # a broadcast: the body is carried as it is
                        expires=int(time.time()) + 600,
                        body=os.urandom(1 << 20),
                    )
                )
            held = sum(len(e.raw) + len(e.body) for envs in victim._early.values() for e in envs)
            assert 0 < held <= node_mod.EARLY_BYTES_PER_SENDER
        finally:
            await c.close()

    run(main)


ETH_TX = {
    "type": 2,
    "chainId": 1337,
    "nonce": 0,
    "maxFeePerGas": 2_000_000_000,
    "maxPriorityFeePerGas": 1_000_000_000,
    "gas": 30_000,
    "to": "0x000000000000000000000000000000000000dEaD",
    "value": 10**15,
    "data": "0x",
    "accessList": [{"address": "0x000000000000000000000000000000000000dEaD", "storageKeys": [2**256]}],
}


def test_an_access_list_key_too_large_is_a_typed_refusal_at_the_guardian(tmp_path: Path) -> None:
    """A storage key of 2^256 (EIP-2930 keys are 32-byte words) reaches the guardians, past the SDK's own
    check: each answers bad-request, and audits it."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
            with pytest.raises(InvalidParameterError, match="storage key"):
                await vault.sign_transaction("ethereum", ETH_TX)  # the SDK refuses it first
            with pytest.raises(OperationFailed) as err:
                await vault.sign(os.urandom(32), tx=EthereumTx.of(ETH_TX), timeout=10)
            refusals = [e for e in err.value.errors.values() if isinstance(e, ctl.RequestRefused)]
            assert refusals and all(e.code is ctl.Refusal.BAD_REQUEST for e in refusals)
            assert all("storage key" in e.reason for e in refusals)
            for g in c.guardians:
                last = g.audit.entries(vault.vault_id, 0, 1_000_000)[-1]["body"]
                if g.identity.guardian_id in err.value.errors:
                    assert last["op"] == "sign" and last["decision"] == "refused"
        finally:
            await c.close()

    run(main)


def test_deeply_nested_transaction_json_is_refused_before_parsing() -> None:
    with pytest.raises(DecodeError, match="nests deeper"):
        chain("ethereum").load(b"[" * 100_000)
    with pytest.raises(DecodeError, match="nests deeper"):
        EthereumTx("[" * 100_000)
