"""The guardian network end to end (issue 6): every protocol across guardians, over the in-process
router and over a real nats-server with every guardian a separate OS process."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from conftest import need_nats_server
from gridlock import local
from gridlock.chains import ethereum
from gridlock.client import Client, GuardianTimeout, OperationFailed, SyncClient
from gridlock.devnet import EmbeddedCluster, ProcessCluster
from gridlock.transport.local import LocalRouter
from gridlock.transport.server import NatsServer
from gridlock.wire import Identity, SessionClosed
from gridlock.wire import control as ctl

SCHEMES = ["frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1"]
NAMES = ["device", "enclave", "cloud", "watch", "friend", "spare"]


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def cluster(tmp: Path, **kw: Any) -> EmbeddedCluster:
    return await EmbeddedCluster.start(tmp, NAMES, session_timeout=kw.pop("session_timeout", 15.0), **kw)


def msg_for(scheme: str) -> bytes:
    return os.urandom(32)


# --- embedded: the local router ------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_vault_lifecycle_over_the_local_router(scheme: str, tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            five = c.ids[:5]
            vault = await c.client.create_vault(scheme, five, threshold=3, password=c.password)
            assert vault.epoch == 0 and len(vault.members) == 5
            listed = await c.client.list_vaults(five)
            assert [v["vault"] for v in listed] == [vault.vault_id] and listed[0]["public_key"] == vault.public_key
            if scheme == "ecdsa-secp256k1":
                assert vault.address("ethereum").startswith("0x") and vault.address("cosmos").startswith("secret1")
                assert vault.address("bitcoin", network="regtest").startswith("bcrt1q")
            elif scheme == "frost-taproot":
                assert vault.address("bitcoin").startswith("bc1p")
            elif scheme == "frost-ed25519":
                assert len(vault.address("solana")) >= 32
            for g in c.guardians[:5]:  # every guardian stored and activated the same key
                assert g.keystore.active_share(vault.vault_id).public_key == vault.public_key
            m = msg_for(scheme)
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            assert await vault.refresh() == 1
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            assert await vault.replace_guardian(five[2], c.ids[5], password=c.password) == 2
            assert five[2] not in vault.guardians and c.ids[5] in vault.guardians
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            await c.stop_guardian(0)  # one guardian offline: the others sign
            m2 = msg_for(scheme)
            assert local.verify(scheme, vault.public_key, m2, await vault.sign(m2))
            if scheme == "ecdsa-secp256k1":
                await vault.presign(2)
                d = os.urandom(32)
                assert local.verify(scheme, vault.public_key, d, await vault.sign_presigned(d))
        finally:
            await c.close()

    run(main)


def test_add_remove_threshold_and_repair(tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-secp256k1", c.ids[:5], threshold=3, password=c.password)
            await vault.add_guardian(c.ids[5], threshold=4, password=c.password)
            assert vault.threshold == 4 and len(vault.members) == 6
            await vault.remove_guardian(c.ids[0], threshold=3)
            assert vault.threshold == 3 and c.ids[0] not in vault.guardians
            lost = vault.guardians[1]
            idx = c.ids.index(lost)
            c.guardians[idx].keystore.delete_vault(vault.vault_id)  # its device is gone
            await vault.repair(lost, password=c.password)
            assert c.guardians[idx].keystore.active_share(vault.vault_id).public_key == vault.public_key
            m = os.urandom(32)
            assert local.verify(
                "frost-secp256k1", vault.public_key, m, await vault.sign(m, signers=vault.guardians[:3])
            )
        finally:
            await c.close()

    run(main)


def test_too_few_guardians_online_names_the_missing(tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids[:5], threshold=3, password=c.password)
            for i in (1, 3, 4):
                await c.stop_guardian(i)
            with pytest.raises(GuardianTimeout) as err:
                await vault.sign(b"x")
            assert set(err.value.missing) == {c.ids[1], c.ids[3], c.ids[4]}
        finally:
            await c.close()

    run(main)


def test_guardian_lost_mid_refresh_leaves_the_old_epoch_signing(tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path, session_timeout=3.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-taproot", c.ids[:5], threshold=3, password=c.password)
            refresh = asyncio.ensure_future(vault.refresh(timeout=4.0))
            await asyncio.sleep(0.01)
            await c.stop_guardian(4)  # dies in the middle of the refresh
            with pytest.raises((GuardianTimeout, OperationFailed)):
                await refresh
            assert vault.epoch == 0
            for g in c.guardians[:4]:  # nothing pending stays behind, nothing mixed
                rec = g.keystore.vault(vault.vault_id)
                assert rec.active_epoch == 0 and not rec.pending_epochs
            m = os.urandom(32)
            assert local.verify("frost-taproot", vault.public_key, m, await vault.sign(m))
            await c.start_guardian(4)
            assert await vault.refresh() == 1
            assert local.verify("frost-taproot", vault.public_key, m, await vault.sign(m))
        finally:
            await c.close()

    run(main)


def test_requests_from_unregistered_clients_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            stranger = Identity.generate()
            c.directory[stranger.guardian_id] = stranger.public
            for g in c.guardians:  # known to the guardians, but not a registered client
                g.node.directory[stranger.guardian_id] = stranger.public
            t = c.router.connect(stranger.guardian_id)
            await t.start()
            other = Client(stranger, t, c.directory, timeout=5)
            with pytest.raises(ctl.RequestRefused) as err:
                await other.request(c.ids[0], "keygen", {"vault": "x"})
            assert err.value.code == "unauthorised"
            await other.close()
        finally:
            await c.close()

    run(main)


def test_bad_requests_get_typed_refusals(tmp_path: Path) -> None:
    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            with pytest.raises(ctl.RequestRefused) as err:
                await c.client.request(c.ids[0], "sign", {"vault": "nope"})
            assert err.value.code == "bad-request"
            with pytest.raises(ctl.RequestRefused):
                await c.client.request(c.ids[0], "info", {"vault": "unknown-vault"})
            assert await c.client.ping(c.ids) != []  # the guardian still serves
        finally:
            await c.close()

    run(main)


def test_router_that_tampers_gets_nothing_through(tmp_path: Path) -> None:
    flips = {"n": 0}

    def tamper(to: str, data: bytes) -> list[tuple[str, bytes]]:
        if flips["n"] < 1000 and len(data) > 200:
            flips["n"] += 1
            b = bytearray(data)
            b[len(b) // 2] ^= 1
            return [(to, bytes(b))]
        return [(to, data)]

    async def main() -> None:
        c = await cluster(tmp_path, router=LocalRouter(interceptor=tamper), session_timeout=2.0)
        try:
            assert c.client is not None
            with pytest.raises(GuardianTimeout):
                await c.client.create_vault("frost-ed25519", c.ids[:3], threshold=2, timeout=2.0, password=c.password)
            assert all(not g.keystore.vaults() for g in c.guardians)  # nothing stored anywhere
        finally:
            await c.close()

    run(main)


def test_finished_protocol_sessions_are_closed_in_the_replay_guard(tmp_path: Path) -> None:
    """Otherwise the guard fills with live-looking sessions under load and refuses new ones."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids[:5], threshold=3, password=c.password)
            ran: list[bytes] = []
            for g in c.guardians[:5]:
                real_run = g.node._run

                async def spy(sid: bytes, *args: Any, _real: Any = real_run, **kw: Any) -> Any:
                    ran.append(sid)
                    return await _real(sid, *args, **kw)

                g.node._run = spy  # type: ignore[method-assign]
            await vault.sign(b"closed")
            assert len(ran) == 3 and len(set(ran)) == 1  # one signing session at the three signers
            holders = [g for g in c.guardians[:5] if ran[0] in g.node.guard]
            assert len(holders) == 3
            for g in holders:
                with pytest.raises(SessionClosed):
                    g.node.guard.check(ran[0], c.ids[0], 10**9)
        finally:
            await c.close()

    run(main)


def test_sync_client_that_fails_to_start_stops_its_loop_thread() -> None:
    async def make() -> Client:
        raise RuntimeError("no router")

    with pytest.raises(RuntimeError, match="no router"):
        SyncClient(make)
    assert not [t for t in threading.enumerate() if t.name == "gridlock-client" and t.is_alive()]


def test_chain_transaction_signed_by_the_networked_vault(tmp_path: Path) -> None:
    holder: dict[str, EmbeddedCluster] = {}

    async def make() -> Client:
        holder["c"] = await cluster(tmp_path)
        assert holder["c"].client is not None
        return holder["c"].client

    sync = SyncClient(make)
    try:
        vault = sync.create_vault("ecdsa-secp256k1", holder["c"].ids[:5], 3, password=holder["c"].password)
        tx = {
            "type": 2,
            "chainId": 1337,
            "nonce": 0,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 1,
            "gas": 21000,
            "to": "0x" + "11" * 20,
            "value": 5,
            "data": b"",
            "accessList": [],
        }
        raw = ethereum.sign_transaction(tx, vault)
        assert Account.recover_transaction(raw) == ethereum.address(vault.public_key)
    finally:
        sync.run(holder["c"].close())
        sync.close()


# --- NATS: every guardian its own OS process ----------------------------------------------------------
@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_nats_server()
    server = NatsServer.start()
    pc = ProcessCluster.create(tmp_path_factory.mktemp("nats-cluster"), NAMES, server.url, session_timeout=4.0)
    server.authorize(pc.access)  # each guardian and the client with its own NATS key, as deployed
    pc.start()
    yield pc
    pc.stop()
    server.stop()


async def _nats_client(pc: ProcessCluster) -> Client:
    return await pc.client(timeout=20.0)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_over_nats_with_guardian_processes(scheme: str, nats_cluster: ProcessCluster) -> None:
    pc = nats_cluster

    async def main() -> None:
        client = await _nats_client(pc)
        try:
            five = pc.ids[:5]
            vault = await client.create_vault(scheme, five, threshold=3, password=pc.password)
            m = msg_for(scheme)
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            await vault.refresh()
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            await vault.replace_guardian(five[3], pc.ids[5], password=pc.password)
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m))
            await vault.replace_guardian(pc.ids[5], five[3], password=pc.password)  # back, for the next scheme's run
        finally:
            await client.close()
            await client.transport.close()

    run(main)


def test_nats_guardian_killed_mid_round_and_mid_refresh(nats_cluster: ProcessCluster) -> None:
    pc = nats_cluster

    async def main() -> None:
        client = await _nats_client(pc)
        try:
            vault = await client.create_vault("frost-secp256k1", pc.ids[:5], threshold=3, password=pc.password)
            victim = "friend"
            signers = [pc.id_of(n) for n in ("device", "cloud", victim)]
            pc.pause(victim)  # frozen: it will have taken the request but never finish the round
            sign = asyncio.ensure_future(vault.sign(b"m" * 32, signers=signers, timeout=6.0))
            await asyncio.sleep(0.5)
            pc.kill(victim)  # kill -9 in the middle of the signing round
            with pytest.raises((GuardianTimeout, OperationFailed)) as err:
                await sign
            assert pc.id_of(victim) in str(err.value)  # the failure names the guardian that vanished
            m = os.urandom(32)  # the others go on without it
            assert local.verify("frost-secp256k1", vault.public_key, m, await vault.sign(m))
            with pytest.raises((GuardianTimeout, OperationFailed)):  # the victim is down: no refresh
                await vault.refresh(timeout=6.0)
            assert vault.epoch == 0  # nothing committed; the old epoch still signs
            assert local.verify("frost-secp256k1", vault.public_key, m, await vault.sign(m))
            pc.start([victim])  # back (its keystore survived kill -9)
            assert await vault.refresh() == 1
            assert local.verify("frost-secp256k1", vault.public_key, m, await vault.sign(m))
        finally:
            await client.close()
            await client.transport.close()

    run(main)
