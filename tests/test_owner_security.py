"""Owner security (issue 7; SECURITY #19, #21) over the real NATS router, guardians as OS processes:
for each rule the honest path works and the attack fails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from conftest import need_nats_server
from gridlock import local
from gridlock.chains import ethereum
from gridlock.client import (
    Client,
    DeviceKeys,
    OperationFailed,
    Vault,
    recovery_finish,
    recovery_start,
    recovery_status,
)
from gridlock.client.owner import OwnerDevice
from gridlock.devnet import GuardianSpec, ProcessCluster
from gridlock.transport.nats import NatsTransport
from gridlock.transport.server import NatsServer
from gridlock.wire import Identity
from gridlock.wire import control as ctl
from gridlock.wire.approval import Approval
from gridlock.wire.audit import AuditError, verify_chain

NAMES = ["device", "enclave", "cloud", GuardianSpec("watch", "watch"), "friend", "newdevice"]  # the watch service
RECOVERY_DELAY = 3.0
NEW_PHONE = Identity.generate(name="new-phone")
SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot")


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_nats_server()
    server = NatsServer.start()
    # The new phone runs its own guardian ("newdevice"), which knows its own client; the other
    # guardians learn of it only through the recovery (its requests come as introductions).
    cluster = ProcessCluster.create(
        tmp_path_factory.mktemp("owner-sec"),
        NAMES,
        server.url,
        session_timeout=6.0,
        recovery_delay=RECOVERY_DELAY,
        extra_clients=[NEW_PHONE],
    )
    cluster.start()
    yield cluster
    cluster.stop()
    server.stop()


async def _client(pc: ProcessCluster, **kw: Any) -> Client:
    return await pc.client(timeout=15.0, **kw)


async def _close(c: Client) -> None:
    await c.close()
    await c.transport.close()


def five(pc: ProcessCluster) -> list[str]:
    return pc.ids[:5]


# --- authorisation bound to the message ---------------------------------------------------------
def test_swapped_message_replay_expiry_and_unregistered_devices_are_refused(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            vault = await c.create_vault("frost-secp256k1", five(pc), 3, password=pc.password)
            signers = vault.guardians[:3]
            good = vault._approved(
                "sign", {"vault": vault.vault_id, "message": b"A" * 32, "signers": signers, "nonce": os.urandom(32)}
            )
            # the relay swaps the message after approval: every guardian refuses
            swapped = {**good, "message": b"B" * 32}
            res = await c.fanout(signers, "sign", swapped)
            for r in res.values():
                assert isinstance(r, ctl.RequestRefused) and r.code == "unauthorised"
                assert "does not match this request" in str(r)
            # the honest request passes; sent again (replayed), it is refused
            ok = await c.fanout(signers, "sign", good)
            sigs = {r["signature"] for r in ok.values() if isinstance(r, dict)}
            assert len(sigs) == 1 and local.verify("frost-secp256k1", vault.public_key, b"A" * 32, sigs.pop())
            again = await c.fanout(signers, "sign", good)
            assert all(isinstance(r, ctl.RequestRefused) and "replayed" in str(r) for r in again.values())
            # an expired approval
            params = {"vault": vault.vault_id, "message": b"C" * 32, "signers": signers, "nonce": os.urandom(32)}
            a = vault.approvers[0].approve(vault.vault_id, vault.scheme, "sign", params)
            stale = dataclasses.replace(a, expires=int(time.time()) - 10)
            res = await c.fanout(signers, "sign", {**params, "approvals": [stale.to_wire()]})
            assert all(isinstance(r, ctl.RequestRefused) for r in res.values())
            # an unregistered device's approval
            intruder = dataclasses.replace(vault, approvers=[OwnerDevice()])
            with pytest.raises(OperationFailed) as err:
                await intruder.sign(b"D" * 32, signers=signers)
            assert "unregistered device" in str(err.value)
            # no approval at all
            res = await c.fanout(signers, "sign", {k: v for k, v in params.items()})
            assert all(isinstance(r, ctl.RequestRefused) and r.code == "unauthorised" for r in res.values())
        finally:
            await _close(c)

    run(main)


def test_multi_owner_vault_needs_k_of_m_devices(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            second = OwnerDevice()
            vault = await c.create_vault(
                "frost-ed25519", five(pc), 3, password=pc.password, owners=[pc.owner.public, second.public], required=2
            )
            with pytest.raises(OperationFailed) as err:  # one device is not enough
                await vault.sign(b"x" * 32)
            assert "1 of 2 owner approvals" in str(err.value)
            vault.approvers = [pc.owner, second]
            m = os.urandom(32)
            assert local.verify("frost-ed25519", vault.public_key, m, await vault.sign(m))
        finally:
            await _close(c)

    run(main)


# --- chain transactions: re-derived hashes and policy ----------------------------------------------
def _eth_tx(value: int, to: str = "0x" + "22" * 20, nonce: int = 0) -> dict[str, Any]:
    return {
        "type": 2,
        "chainId": 1,
        "nonce": nonce,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "gas": 21000,
        "to": to,
        "value": value,
        "data": "0x",
        "accessList": [],
    }


def _eth_req(tx: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    return ethereum.signing_hash(tx), {"chain": "ethereum", "json": json.dumps(tx)}


def test_guardians_rederive_the_hash_and_apply_policy(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            vault = await c.create_vault("ecdsa-secp256k1", five(pc), 3, password=pc.password)
            signers = [g for g in vault.guardians if g != pc.id_of("watch")][:3]
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**18, "period": 3600}}})
            # honest: a 0.4 ETH transfer signs, and eth-account recovers our address
            tx = _eth_tx(4 * 10**17)
            digest, shown = _eth_req(tx)
            sig = await vault.sign(digest, signers=signers, tx=shown)
            assert local.verify("ecdsa-secp256k1", vault.public_key, digest, sig)
            # the hash of another transaction, shown with this one: refused and logged
            other, _ = _eth_req(_eth_tx(5 * 10**18))
            with pytest.raises(OperationFailed) as err:
                await vault.sign(other, signers=signers, tx=shown)
            assert "hash-mismatch" in str(err.value)
            # over the limit (0.4 already spent of 1.0 per hour): refused, saying which guardian and why
            digest2, shown2 = _eth_req(_eth_tx(7 * 10**17, nonce=1))
            with pytest.raises(OperationFailed) as err:
                await vault.sign(digest2, signers=signers, tx=shown2)
            assert "spending limit" in str(err.value) and any(g in str(err.value) for g in signers)
            # an allow-list: a destination outside it is refused
            await vault.set_policy({"allow": {"ethereum": ["0x" + "33" * 20]}})
            digest3, shown3 = _eth_req(_eth_tx(1, nonce=2))
            with pytest.raises(OperationFailed) as err:
                await vault.sign(digest3, signers=signers, tx=shown3)
            assert "allow-list" in str(err.value)
            audit = await vault.audit(signers[0])
            decisions = [(e["op"], e["decision"]) for e in audit]
            assert ("sign", "done") in decisions and ("sign", "refused") in decisions
        finally:
            await _close(c)

    run(main)


def test_watch_guardian_holds_new_destination_with_large_amount(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            vault = await c.create_vault("ecdsa-secp256k1", five(pc), 3, password=pc.password)
            watch = pc.id_of("watch")
            signers = [watch, *[g for g in vault.guardians if g != watch][:2]]
            digest, shown = _eth_req(_eth_tx(2 * 10**18, to="0x" + "44" * 20))
            with pytest.raises(OperationFailed) as err:
                await vault.sign(digest, signers=signers, tx=shown)
            assert "held" in str(err.value) and watch in str(err.value)
            # without the watch guardian, the same transaction signs (policy is each guardian's own)
            others = [g for g in vault.guardians if g != watch][:3]
            sig = await vault.sign(digest, signers=others, tx=shown)
            raw = ethereum.sign_transaction(_eth_tx(2 * 10**18, to="0x" + "44" * 20), _Fixed(vault, sig))
            assert Account.recover_transaction(raw) == ethereum.address(vault.public_key)
        finally:
            await _close(c)

    run(main)


class _Fixed:
    """A signer that returns one signature already made by the guardians."""

    def __init__(self, vault: Vault, sig: bytes) -> None:
        self.scheme, self.public_key, self._sig = vault.scheme, vault.public_key, sig

    def sign(self, message: bytes) -> bytes:
        return self._sig


# --- device recovery ----------------------------------------------------------------------------
async def _new_device(pc: ProcessCluster) -> tuple[Client, OwnerDevice]:
    ident, device = NEW_PHONE, OwnerDevice()
    transport = NatsTransport(pc.nats_url, ident.guardian_id)
    await transport.start()
    guardians = {g: p for g, p in pc.directory.guardians.items()}
    client = Client(ident, transport, guardians, timeout=15.0, owner=device)
    await client.start()
    return client, device


def test_recovery_time_lock_cancel_and_finish(pc: ProcessCluster) -> None:
    async def main() -> None:
        old = await _client(pc)
        new, device = await _new_device(pc)
        try:
            vault = await old.create_vault("frost-taproot", five(pc), 3, password=pc.password)
            g5 = vault.guardians
            # wrong password: refused
            with pytest.raises(OperationFailed) as err:
                await recovery_start(new, vault.vault_id, g5, lost_device=pc.owner.public, password="not-the-password")
            assert "wrong-password" in str(err.value)
            # start: every guardian starts the same time lock and tells the old device
            unlock = await recovery_start(new, vault.vault_id, g5, lost_device=pc.owner.public, password=pc.password)
            assert len(set(unlock.values())) <= 2  # same lock (seconds may tick between guardians)
            note = await asyncio.wait_for(old.notifications.get(), 5)
            assert note["event"] == "recovery-started" and note["vault"] == vault.vault_id
            # the new device cannot sign before the delay ends (nor finish)
            with pytest.raises(OperationFailed):
                await recovery_finish(new, vault.vault_id, g5, password=pc.password)
            # the old device cancels during the delay; the recovery cannot finish afterwards
            await vault.recovery_cancel()
            await asyncio.sleep(RECOVERY_DELAY + 0.5)
            with pytest.raises(OperationFailed) as err:
                await recovery_finish(new, vault.vault_id, g5, password=pc.password)
            assert "no open recovery" in str(err.value)
            status = await recovery_status(new, vault.vault_id, g5[:1])
            assert next(iter(status.values()))["state"] == "cancelled"
            # a second recovery, not cancelled: after the delay the new device takes over
            await recovery_start(new, vault.vault_id, g5, lost_device=pc.owner.public, password=pc.password)
            params = {"vault": vault.vault_id, "message": b"z" * 32, "signers": g5[:3], "nonce": os.urandom(32)}
            early = device.approve(vault.vault_id, vault.scheme, "sign", params)
            with pytest.raises(ctl.RequestRefused):  # still locked: the new device signs nothing
                await new.request(g5[0], "sign", {**params, "approvals": [early.to_wire()]}, introduce=True)
            await asyncio.sleep(RECOVERY_DELAY + 0.5)
            recovered = await recovery_finish(new, vault.vault_id, g5, password=pc.password)
            # the lost device's seat ("device") goes to the new device's guardian, which refreshes every share
            lost_seat, new_seat = pc.id_of("device"), pc.id_of("newdevice")
            await recovered.replace_guardian(lost_seat, new_seat, password=pc.password)
            m = os.urandom(32)
            assert local.verify("frost-taproot", vault.public_key, m, await recovered.sign(m))
            with pytest.raises(OperationFailed) as err:  # the old device key is no longer an owner
                await vault.sign(os.urandom(32))
            assert "unregistered device" in str(err.value)
        finally:
            await _close(old)
            await _close(new)

    run(main)


def test_recovery_of_one_vault_leaves_the_others_usable_and_recoverable(pc: ProcessCluster) -> None:
    """Issue 14: the lost device approved for three vaults; recovering them one by one never leaves a
    vault that neither the old key nor the new one can use, and each ends on the same new key."""

    async def main() -> None:
        old = await _client(pc)
        new, _ = await _new_device(pc)
        try:
            three = [await old.create_vault(s, five(pc)[:3], 2, password=pc.password) for s in SCHEMES]
            v1, v2, v3 = (v.vault_id for v in three)
            g = three[0].guardians
            keys = DeviceKeys(pc.owner.to_bytes())  # the new phone, from the keyring's backup

            async def use(vault_id: str, approver: OwnerDevice) -> None:
                vault = dataclasses.replace(await new.open_vault(vault_id, g), approvers=[approver])
                m = os.urandom(32)
                assert local.verify(vault.scheme, vault.public_key, m, await vault.sign(m))

            async def start(vault_id: str) -> DeviceKeys:
                k = keys.start(vault_id)
                await recovery_start(
                    new, vault_id, g, lost_device=k.lost_device(vault_id), password=pc.password,
                    new_device=k.new_device(vault_id),
                )  # fmt: skip
                return k

            async def finish(vault_id: str) -> DeviceKeys:
                await recovery_finish(new, vault_id, g, password=pc.password, new_device=keys.new_device(vault_id))
                return keys.finish(vault_id, [v1, v2, v3])

            keys = await start(v1)
            keys = await start(v2)
            assert keys.new_device(v1).public == keys.new_device(v2).public  # one new key for the whole recovery
            await use(v3, keys.approver(v3))  # no recovery on v3: the old key still signs it
            await three[1].recovery_cancel()  # the old device cancels v2's recovery during the delay
            keys = keys.cancel(v2)
            await asyncio.sleep(RECOVERY_DELAY + 0.5)
            keys = await finish(v1)
            new_key = keys.device
            assert keys.key_for(v1) == new_key and keys.key_for(v2) == keys.key_for(v3) == pc.owner.to_bytes()

            # v1 answers to the new key only; v2 and v3 still to the old one
            await use(v1, keys.approver(v1))
            with pytest.raises(OperationFailed, match="unregistered device"):
                await three[0].sign(os.urandom(32))
            await use(v2, keys.approver(v2))
            await use(v3, keys.approver(v3))
            # a recovery "onto" a key that is still registered (the old device's own) is refused
            with pytest.raises(OperationFailed, match="already a registered owner device"):
                await recovery_start(
                    new, v2, g, lost_device=pc.owner.public, password=pc.password, new_device=pc.owner
                )  # fmt: skip
            # the others' recoveries move them onto the same new key
            keys = await start(v2)
            keys = await start(v3)
            assert keys.new_device(v3).to_bytes() == new_key
            await asyncio.sleep(RECOVERY_DELAY + 0.5)
            keys = await finish(v2)
            keys = await finish(v3)

            assert keys.device == new_key and not keys.held and not keys.recovering
            for vault in three:
                await use(vault.vault_id, keys.approver(vault.vault_id))
                with pytest.raises(OperationFailed, match="unregistered device"):  # the old key: revoked everywhere
                    await vault.sign(os.urandom(32))
        finally:
            await _close(old)
            await _close(new)

    run(main)


def test_password_brute_force_hits_the_rate_limit(pc: ProcessCluster) -> None:
    async def main() -> None:
        old = await _client(pc)
        new, _ = await _new_device(pc)
        try:
            vault = await old.create_vault("frost-ed25519", five(pc)[:3], 2, password=pc.password)
            g = vault.guardians[:1]
            codes = []
            for i in range(7):
                try:
                    await recovery_start(new, vault.vault_id, g, lost_device=pc.owner.public, password=f"guess-{i:04d}")
                except OperationFailed as exc:
                    codes.append(next(iter(exc.errors.values())).code)  # type: ignore[attr-defined]
            assert codes[:5] == ["wrong-password"] * 5 and codes[5:] == ["rate-limited"] * 2
            with pytest.raises(OperationFailed) as err:  # even the right password waits now
                await recovery_start(new, vault.vault_id, g, lost_device=pc.owner.public, password=pc.password)
            assert "rate-limited" in str(err.value)
        finally:
            await _close(old)
            await _close(new)

    run(main)


def test_export_with_approval_rebuilds_the_key(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            vault = await c.create_vault("frost-secp256k1", five(pc), 3, password=pc.password)
            secret = await vault.export()
            assert local.import_key("frost-secp256k1", secret, 2, 3)[0].public_key == vault.public_key
            intruder = dataclasses.replace(vault, approvers=[OwnerDevice()])
            with pytest.raises(OperationFailed):
                await intruder.export()
        finally:
            await _close(c)

    run(main)


def test_audit_chain_detects_tampering(pc: ProcessCluster) -> None:
    async def main() -> None:
        c = await _client(pc)
        try:
            vault = await c.create_vault("frost-ed25519", five(pc), 3, password=pc.password)
            await vault.sign(b"m" * 32, signers=vault.guardians[:3])
            g = vault.guardians[0]
            raw = await c.request(g, "audit", {"vault": vault.vault_id})
            entries = [json.loads(e) for e in raw["entries"]]
            verify_chain(entries, c.directory[g], guardian=g, vault=vault.vault_id)
            assert {e["body"]["op"] for e in entries} >= {"keygen", "commit", "sign"}
            assert all("share" not in json.dumps(e) for e in entries)
            entries[0]["body"]["decision"] = "refused"
            with pytest.raises(AuditError):
                verify_chain(entries, c.directory[g], guardian=g, vault=vault.vault_id)
        finally:
            await _close(c)

    run(main)


def test_approval_wire_format_is_strict() -> None:
    with pytest.raises(Exception):
        Approval.from_wire({"device": b"x", "counter": 1, "expires": 1, "signature": b"y" * 64})
    with pytest.raises(Exception):
        Approval.from_wire({"device": b"x" * 32, "counter": -1, "expires": 1, "signature": b"y" * 64})
    Path  # noqa: B018
