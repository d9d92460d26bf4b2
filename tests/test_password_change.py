"""The owner's password change reaches the guardians (``password-change``; SECURITY #21).

After a change, device recovery works with the new password and no longer with the old one.  The
attacks: a wrong old password is refused and counted against the password's rate limit (a thief
holding the unlocked device cannot set a password of their own, and their guesses do not lock the
owner out of a recovery from a new device); a request without the owner device's approval, or with
an approval used before, is refused; a change is refused while a device recovery is open.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from gridlock import local
from gridlock.client import Client, OperationFailed, PasswordChangeReport, Vault, recovery_finish, recovery_start
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.crypto import codec
from gridlock.devnet import EmbeddedCluster, GuardianSpec
from gridlock.errors import InvalidParameterError
from gridlock.guardian import owner as owner_mod
from gridlock.wire import Identity, ops
from gridlock.wire import control as ctl
from gridlock.wire.approval import verifier_digest

NAMES: list[str | GuardianSpec] = ["device", "cloud", GuardianSpec("friend", "enclave")]  # one in the enclave
NEW = "a-new-password-1"


def run(fn: Any) -> Any:
    return asyncio.run(fn())


async def _cluster(tmp_path: Path) -> tuple[EmbeddedCluster, Client, Vault]:
    c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0, recovery_delay=0.0)
    assert c.client is not None
    vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
    return c, c.client, vault


async def _new_phone(c: EmbeddedCluster) -> Client:
    """A device the guardians do not know (a stranger to them): it can only recover."""
    ident = Identity.generate(name="new-phone")
    transport = c.router.connect(ident.guardian_id)
    await transport.start()
    client = Client(
        ident, transport, c.directory | {ident.guardian_id: ident.public}, timeout=20.0, owner=OwnerDevice()
    )
    await client.start()
    return client


async def _close(client: Client) -> None:
    await client.close()
    await client.transport.close()


def _codes(report: PasswordChangeReport) -> set[str]:
    return {str(e.code) if isinstance(e, ctl.RequestRefused) else type(e).__name__ for e in report.failed.values()}


def test_recovery_works_with_the_new_password_and_not_the_old(tmp_path: Path) -> None:
    async def main() -> None:
        c, owner, vault = await _cluster(tmp_path)
        phone = await _new_phone(c)
        try:
            report = await vault.change_password(c.password, NEW)
            assert report.complete and sorted(report.changed) == sorted(c.ids) and not report.already
            # the owner's devices are told, and each guardian's audit log records it
            notes = [await asyncio.wait_for(owner.notifications.get(), 5) for _ in c.ids]
            assert {n["event"] for n in notes} == {"password-changed"} and {n["guardian"] for n in notes} == set(c.ids)
            for g in c.ids:
                assert [e["decision"] for e in await vault.audit(g) if e["op"] == "password-change"] == ["done"]
            # the old password proves nothing any more, at any guardian
            with pytest.raises(OperationFailed) as err:
                await recovery_start(phone, vault.vault_id, c.ids, lost_device=c.owner.public, password=c.password)
            assert set(err.value.errors) == set(c.ids)
            assert {e.code for e in err.value.errors.values()} == {"wrong-password"}  # type: ignore[attr-defined]
            # the new one recovers the vault onto the new phone's key, which then signs
            await recovery_start(phone, vault.vault_id, c.ids, lost_device=c.owner.public, password=NEW)
            recovered = await recovery_finish(phone, vault.vault_id, c.ids, password=NEW)
            m = os.urandom(32)
            assert local.verify("frost-ed25519", vault.public_key, m, await recovered.sign(m))
        finally:
            await _close(phone)
            await c.close()

    run(main)


def test_an_interrupted_change_is_finished_by_running_it_again(tmp_path: Path) -> None:
    async def main() -> None:
        c, _, vault = await _cluster(tmp_path)
        try:
            await c.stop_guardian(2)
            first = await vault.change_password(c.password, NEW, timeout=2.0)
            assert not first.complete and list(first.failed) == [c.ids[2]]
            assert sorted(first.changed) == sorted(c.ids[:2])
            await c.start_guardian(2)
            again = await vault.change_password(c.password, NEW)
            assert again.complete and list(again.changed) == [c.ids[2]] and sorted(again.already) == sorted(c.ids[:2])
            # the same change a third time changes nothing, and is no error
            third = await vault.change_password(c.password, NEW)
            assert third.complete and sorted(third.already) == sorted(c.ids) and not third.changed
            # another new password with the old one, after the change: the old one proves nothing
            other = await vault.change_password(c.password, "yet-another-password", c.ids[:1])
            assert _codes(other) == {"wrong-password"}
        finally:
            await c.close()

    run(main)


def test_attack_a_thief_with_the_device_guesses_the_old_password(tmp_path: Path) -> None:
    """Each wrong old password counts; then the device is rate-limited (even with the right one), the
    verifier is the owner's still, and the owner recovers from a new device with the password."""

    async def main() -> None:
        c, _, vault = await _cluster(tmp_path)
        phone = await _new_phone(c)
        try:
            g = c.ids[:1]
            codes = [_codes(await vault.change_password(f"guess-{i:04d}", "thief-password", g)) for i in range(6)]
            assert codes == [{"wrong-password"}] * 5 + [{"rate-limited"}]
            assert _codes(await vault.change_password(c.password, "thief-password", g)) == {"rate-limited"}
            # the device's guesses spent the device's budget: the owner's recovery still works
            unlock = await recovery_start(phone, vault.vault_id, g, lost_device=c.owner.public, password=c.password)
            assert set(unlock) == set(g)
            audit = await vault.audit(g[0])
            changes = [e for e in audit if e["op"] == "password-change"]
            assert len(changes) == 7 and all(e["decision"] == "refused" for e in changes)
        finally:
            await _close(phone)
            await c.close()

    run(main)


def test_attack_no_approval_a_foreign_device_or_a_replayed_approval_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        c, owner, vault = await _cluster(tmp_path)
        phone = await _new_phone(c)
        try:
            g = c.ids[0]
            old, new = password_verifier(c.password, g, vault.vault_id), password_verifier(NEW, g, vault.vault_id)
            bare = ops.PasswordChange(vault.vault_id, old, new, os.urandom(32))
            with pytest.raises(ctl.RequestRefused) as refused:  # the password alone changes nothing
                await owner.call(g, bare)
            assert refused.value.code == "unauthorised" and "no owner approval" in str(refused.value)
            thief = dataclasses.replace(vault, approvers=[OwnerDevice()])  # a device the vault never registered
            report = await thief.change_password(c.password, NEW, [g])
            assert _codes(report) == {"unauthorised"} and "unregistered device" in str(report.failed[g])
            with pytest.raises(ctl.RequestRefused) as refused:  # an unknown client may only recover
                await phone.call(g, vault._approve(bare), introduce=True)
            assert refused.value.code == "unauthorised"
            approved = vault._approve(bare)
            assert await owner.call(g, approved) == ops.PasswordReply(changed=True)
            with pytest.raises(ctl.RequestRefused) as refused:  # the same approved request again
                await owner.call(g, approved)
            assert refused.value.code == "unauthorised" and "replayed" in str(refused.value)
            # none of the refusals counted as a wrong password: five guesses are still allowed
            assert _codes(await vault.change_password("guess-0000", "x" * 12, [g])) == {"wrong-password"}
        finally:
            await _close(phone)
            await c.close()

    run(main)


def test_attack_a_change_racing_an_open_recovery_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        c, _, vault = await _cluster(tmp_path)
        phone = await _new_phone(c)
        try:
            await recovery_start(phone, vault.vault_id, c.ids, lost_device=c.owner.public, password=c.password)
            report = await vault.change_password(c.password, NEW)
            assert _codes(report) == {"recovery-pending"} and set(report.failed) == set(c.ids)
            await vault.recovery_cancel()  # the owner, with the device, cancels it first
            assert (await vault.change_password(c.password, NEW)).complete
        finally:
            await _close(phone)
            await c.close()

    run(main)


def test_the_guardian_keeps_nothing_of_the_new_password_to_guess_offline(tmp_path: Path) -> None:
    async def main() -> None:
        c, _, vault = await _cluster(tmp_path)
        try:
            assert (await vault.change_password(c.password, NEW)).complete
        finally:
            await c.close()
        for g, spec in zip(c.ids, NAMES, strict=True):
            name = spec if isinstance(spec, str) else spec.name
            disk = b"".join(f.read_bytes() for f in sorted((tmp_path / name).rglob("*")) if f.is_file())
            old, new = password_verifier(c.password, g, vault.vault_id), password_verifier(NEW, g, vault.vault_id)
            params = {"vault": vault.vault_id, "verifier": old, "new_verifier": new}  # a digest that covered them
            assert hashlib.sha256(codec.dumps(params)).hexdigest().encode() not in disk
            for v in (old, new):
                for material in (v, v.hex().encode(), verifier_digest(v).encode(), bytes.fromhex(verifier_digest(v))):
                    assert material not in disk

    run(main)


def test_the_replaced_verifier_is_kept_sealed_with_the_owner_state() -> None:
    ident = Identity.generate(name="g")
    a, b = password_verifier("first-password", "g", "v"), password_verifier("second-password", "g", "v")
    state = owner_mod.registration(
        {"devices": [OwnerDevice().public], "required": 1, "verifier": a, "notify": []}, ident
    )
    assert state.password_change(b, a, ident) is None and "previous_verifier" not in state.to_meta()
    assert state.password_change(a, b, ident) is True
    state.replace_verifier(b, ident)
    again = owner_mod.OwnerState.from_meta({"owner": state.to_meta()})
    assert again == state and again.previous.startswith(owner_mod.SEALED)
    assert again.check_password(b, ident) and not again.check_password(a, ident)
    assert again.password_change(a, b, ident) is False  # the same change again: "already"
    assert again.password_change(a, password_verifier("third-password", "g", "v"), ident) is None
    assert again.password_change(password_verifier("guess-0000", "g", "v"), b, ident) is None


def test_the_report_and_the_arguments_are_checked() -> None:
    with pytest.raises(InvalidParameterError):
        PasswordChangeReport(changed=("g",), already=("g",))
    assert PasswordChangeReport(changed=("g",)).complete
    assert not PasswordChangeReport(failed={"g": ctl.RequestRefused(ctl.Refusal.BUSY, "busy")}).complete
