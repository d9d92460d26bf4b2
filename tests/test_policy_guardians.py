"""The policy at real guardians, tried by a thief who holds the owner's device and password.

Every test starts from the attack as the review performed it (issue 14) and shows it refused with a
typed, explained answer.  The guardians run in this process on one router; the clock is moved by
patching ``time.time`` (guardians, client and owner device read it), never by sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from gridlock.chains import ethereum
from gridlock.chains.context import EthereumTx
from gridlock.client import OperationFailed
from gridlock.client.errors import SpendHeld
from gridlock.devnet import EmbeddedCluster
from gridlock.devnet.spec import GuardianSpec
from gridlock.errors import InvalidParameterError
from gridlock.guardian.config import WATCH
from gridlock.wire import control as ctl
from gridlock.wire import ops
from test_owner_security import _eth_tx

FRIEND = "0x" + "22" * 20
STRANGER = "0x" + "44" * 20
DAY = 86400


def run(fn: Callable[[], Any]) -> Any:
    return asyncio.run(fn())


class Clock:
    """``time.time`` moved forward on demand, for every part of the cluster at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)

    def attach(self, c: EmbeddedCluster) -> None:
        assert c.client is not None
        c.client.clock = time.time
        for g in c.guardians:
            assert g.node is not None
            g.node.clock = time.time


async def cluster(tmp_path: Path) -> EmbeddedCluster:
    names: list[str | GuardianSpec] = ["device", "cloud", "friend", "backup", GuardianSpec("watch", WATCH)]
    return await EmbeddedCluster.start(tmp_path, names, session_timeout=20.0)


def refusals(err: pytest.ExceptionInfo[OperationFailed]) -> set[str]:
    return {str(e.code) for e in err.value.errors.values() if isinstance(e, ctl.RequestRefused)}


def test_blind_signing_a_transactions_hash_is_refused_when_the_vault_has_chain_rules(tmp_path: Path) -> None:
    """The review signed ``keccak(tx)`` with ``gridlock sign --message`` under a limit and got a
    transaction that verified.  Now the hash alone is refused; the transaction itself signs."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 3, password=c.password)
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**18, "period": DAY}}})
            tx = _eth_tx(5 * 10**18, STRANGER)  # far over the limit
            with pytest.raises(OperationFailed) as err:
                await vault.sign(ethereum.signing_hash(tx), signers=c.ids[:3])
            assert refusals(err) == {"raw-signing"} and "sign the transaction" in str(err.value)
            with pytest.raises(OperationFailed) as err:  # shown with its transaction: the limit
                await vault.sign_transaction("ethereum", tx, signers=c.ids[:3])
            assert refusals(err) == {"policy"} and "spending limit" in str(err.value)
            signed = await vault.sign_transaction("ethereum", _eth_tx(10**17), signers=c.ids[:3])
            assert signed.raw is not None
            assert Account.recover_transaction(signed.raw) == ethereum.address(vault.public_key)
        finally:
            await c.close()

    run(main)


def test_the_watch_guardian_must_sign_and_its_hold_is_reported_at_once(tmp_path: Path) -> None:
    """The client used to pick the three fastest guardians and skip the watch guardian; when it was
    picked and held, the call stalled 30 s.  Now the owner's watch rule makes it a required signer,
    and a hold is a typed answer with its end time, and the owner's device is told."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            watch = c.ids[4]
            others = c.ids[:3]
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 3, password=c.password)
            await vault.set_policy({"watch": {"guardian": watch, "large": {"ethereum": 10**18}}, "raw_signing": True})
            # naming three signers without it: every guardian refuses, naming the watch guardian
            with pytest.raises(OperationFailed) as err:
                await vault.sign_transaction("ethereum", _eth_tx(1), signers=others)
            assert refusals(err) == {"watch-required"} and watch in str(err.value)
            # a vault handle that knows nothing of the rule learns it from the refusal and retries
            fresh = await c.client.open_vault(vault.vault_id, c.ids)
            assert fresh.required_signers == []
            signed = await fresh.sign_transaction("ethereum", _eth_tx(1))
            assert signed.raw is not None and watch in fresh.required_signers
            # a large payment to a new destination: held by the watch guardian, reported as such
            while not c.client.notifications.empty():
                c.client.notifications.get_nowait()
            with pytest.raises(SpendHeld) as held:
                await vault.sign_transaction("ethereum", _eth_tx(2 * 10**18, STRANGER, nonce=1))
            assert held.value.guardian == watch and held.value.until >= int(time.time()) + DAY - 5
            assert "new destination" in held.value.reason
            note = await asyncio.wait_for(c.client.notifications.get(), 5)
            assert note["event"] == "spend-held" and note["until"] == held.value.until
        finally:
            await c.close()

    run(main)


def test_loosening_waits_and_the_owner_can_cancel_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thief with the device and password tried to clear the policy at once (``policy set`` with
    no options used to clear every rule).  Removing a rule now waits a day at every guardian; the
    owner's device is told and cancels; tightening applies at once."""

    async def main() -> None:
        clock = Clock(monkeypatch)
        c = await cluster(tmp_path)
        clock.attach(c)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 3, password=c.password)
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**17, "period": DAY}}})
            replies = await vault.set_policy({})  # the thief: remove the limit
            assert all(r.pending == {} or r.unlock_at > 0 for r in replies.values())
            assert {r.reasons[0] for r in replies.values()} == {"removes the ethereum limit"}
            note = await asyncio.wait_for(c.client.notifications.get(), 5)
            assert note["event"] == "policy-loosening"
            big = _eth_tx(10**18, STRANGER)
            with pytest.raises(OperationFailed) as err:  # still limited during the delay
                await vault.sign_transaction("ethereum", big, signers=c.ids[:3])
            assert "spending limit" in str(err.value)
            await vault.cancel_policy_change()  # the owner's device
            clock.offset += DAY + 1
            with pytest.raises(OperationFailed):  # cancelled: still limited after the delay
                await vault.sign_transaction("ethereum", big, signers=c.ids[:3])
            # an honest loosening takes effect after the delay
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**19, "period": DAY}}})
            with pytest.raises(OperationFailed):
                await vault.sign_transaction("ethereum", big, signers=c.ids[:3])
            clock.offset += DAY + 1
            signed = await vault.sign_transaction("ethereum", big, signers=c.ids[:3])
            assert signed.raw is not None
            shown = {(await vault.policy(g)).fingerprint for g in c.ids}
            assert len(shown) == 1  # every guardian reports the same policy
        finally:
            await c.close()

    run(main)


def test_a_replaced_guardian_receives_the_policy_and_a_weaker_one_is_refused(tmp_path: Path) -> None:
    """``guardian replace`` used to leave the new guardian with an empty policy."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids[:4], 3, password=c.password)
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**17, "period": DAY}}})
            before = (await vault.policy(c.ids[0])).fingerprint
            # a thief's client hands the new guardian an empty policy: the staying holders refuse
            original = vault.agreed_policy

            async def empty(_: Any) -> dict[str, Any]:
                return {}

            vault.agreed_policy = empty  # type: ignore[method-assign]
            with pytest.raises(OperationFailed) as err:
                await vault.replace_guardian(c.ids[3], c.ids[4], password=c.password)
            assert "policy-mismatch" in refusals(err)
            vault.agreed_policy = original  # type: ignore[method-assign]
            await vault.replace_guardian(c.ids[3], c.ids[4], password=c.password)
            assert (await vault.policy(c.ids[4])).fingerprint == before
            big = EthereumTx.of(_eth_tx(10**18, STRANGER))
            signers = [c.ids[4], c.ids[0], c.ids[1]]
            with pytest.raises(OperationFailed) as err:
                await vault.sign_transaction("ethereum", big, signers=signers)
            assert c.ids[4] in str(err.value) and "spending limit" in str(err.value)
        finally:
            await c.close()

    run(main)


def test_a_bad_policy_value_is_refused_when_set_not_when_signing(tmp_path: Path) -> None:
    """``rate: {max: "a"}`` was accepted, then every signature died with a TypeError (no reply,
    no audit entry).  Now the owner's SDK refuses it, and so does every guardian on its own."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids[:3], 2, password=c.password)
            with pytest.raises(InvalidParameterError):
                await vault.set_policy({"rate": {"max": "a", "period": 60}})
            op = vault._approve(ops.PolicySet(vault.vault_id, {"rate": {"max": "a", "period": 60}}, b"n" * 32))
            results = await c.client.call_all(c.ids[:3], op)
            assert all(isinstance(r, ctl.RequestRefused) and r.code == "bad-request" for r in results.values())
            assert (await vault.sign(b"m" * 32)) is not None  # the vault still signs
        finally:
            await c.close()

    run(main)
