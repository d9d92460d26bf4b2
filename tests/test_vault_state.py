"""A guardian's per-vault state: typed, bounded, and not a lock-out lever for strangers.

* ``VaultState`` reads what older versions wrote and refuses damaged state with a typed error;
* the state does not grow with age: a vault refreshed many times keeps a flat metadata size, and a
  vault that signed tens of thousands of times keeps its spending history out of it (it used to
  live in metadata capped at 64 KiB: ~3,000 signatures a month made every request fail);
* wrong passwords from strangers do not lock the owner's registered device out.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gridlock.client import Client, OperationFailed
from gridlock.client.owner import OwnerDevice
from gridlock.client.recovery import recovery_start
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import DecodeError
from gridlock.guardian.vault_state import OWNER, STRANGERS, Recovery, VaultState
from gridlock.policy import Entry, EntryKind
from gridlock.wire import Identity

DAY = 86400


def run(fn: Any) -> Any:
    return asyncio.run(fn())


def test_the_typed_state_round_trips_and_reads_older_forms() -> None:
    old = {
        "members": {"0": {"1": "a", "2": "b"}},
        "password_failures": [5, 6],  # one list for everyone, as written before requester classes
        "policy": {"rules": {"limits": {"bitcoin": {"amount": 5, "period": 60}}, "rate": {}}, "history": [[1]]},
        "recovery": {"state": "open", "new_device": "aa", "lost_device": "bb", "opened": 1, "unlock_at": 9},
        "future_field": [1, 2],
    }
    state = VaultState.from_meta(old)
    assert state.members == {0: {1: "a", 2: "b"}}
    assert state.password_failures == {STRANGERS: [5, 6]}
    assert state.policy.active.limit("bitcoin", "") is not None and state.policy.active.rate is None
    assert state.recovery == Recovery("open", b"\xaa", b"\xbb", 1, 9) and state.recovery.open
    again = VaultState.from_meta(json.loads(json.dumps(state.to_meta())))
    assert again == state and again.others == {"future_field": [1, 2]}  # unknown keys are kept


@pytest.mark.parametrize(
    "damaged",
    [
        {"members": {"x": {}}},
        {"members": {"0": {"1": "a"}}, "recovery": {"state": "open"}},
        {"policy": {"active": {"rate": {"max": "a", "period": 1}}}},
        {"password_failures": {"owner": ["t"]}},
    ],
)
def test_damaged_state_is_a_typed_error(damaged: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        VaultState.from_meta(damaged)


def test_membership_of_retired_epochs_is_dropped() -> None:
    state = VaultState()
    for epoch in range(50):
        state.add_epoch(epoch, {1: "a", 2: "b"}, oldest_usable=epoch - 1 if epoch else None)
    assert sorted(state.members) == [48, 49]


def _metadata_size(c: EmbeddedCluster, vault_id: str) -> int:
    return max(len(json.dumps(g.keystore.metadata(vault_id))) for g in c.guardians)


def test_a_vault_refreshed_again_and_again_keeps_a_flat_state(tmp_path: Path) -> None:
    """A vault used to die after ~320 refreshes (every epoch's member list in capped metadata)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "c"], session_timeout=20.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            await vault.refresh()
            size = _metadata_size(c, vault.vault_id)
            for _ in range(40):
                await vault.refresh()
            assert _metadata_size(c, vault.vault_id) <= size + 8  # epoch numbers grow a digit or two
            for g in c.guardians:
                rec = g.keystore.vault(vault.vault_id)
                assert rec.active_epoch == 41 and rec.retired_epochs == ()
            assert await vault.sign(b"m" * 32)
        finally:
            await c.close()

    run(main)


def test_a_long_spending_history_stays_out_of_the_vault_state(tmp_path: Path) -> None:
    """25,000 counted signatures: the metadata stays small and the vault keeps signing under a rate
    limit (before, the history lived in metadata capped at 64 KiB)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "c"], session_timeout=20.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            await vault.set_policy({"rate": {"max": 100_000, "period": 30 * DAY}})
            history = [Entry(1_700_000_000 + i, EntryKind.SIGNATURE) for i in range(25_000)]
            for g in c.guardians:
                for k in range(0, len(history), 5000):
                    g.keystore.set_metadata(vault.vault_id, None, ledger=history[k : k + 5000])
            assert await vault.sign(b"m" * 32)
            assert _metadata_size(c, vault.vault_id) < 4096
        finally:
            await c.close()

    run(main)


def test_strangers_guessing_passwords_do_not_lock_the_owner_out(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "c"], session_timeout=20.0)
        stranger: Client | None = None
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            ident = Identity.generate(name="stranger")
            transport = c.router.connect(ident.guardian_id)
            await transport.start()
            stranger = Client(ident, transport, c.directory, timeout=10.0, owner=OwnerDevice())
            await stranger.start()
            for _ in range(8):  # more wrong guesses than the budget (5 an hour)
                with pytest.raises(OperationFailed):
                    await recovery_start(
                        stranger, vault.vault_id, c.ids, lost_device=c.owner.public, password="a wrong guess"
                    )
            with pytest.raises(OperationFailed) as err:  # this stranger is now throttled ...
                await recovery_start(stranger, vault.vault_id, c.ids, lost_device=c.owner.public, password=c.password)
            assert "rate-limited" in str(err.value)
            # ... but not the owner on a new machine (another identity, its own budget) ...
            ident2 = Identity.generate(name="owner's new laptop")
            t2 = c.router.connect(ident2.guardian_id)
            await t2.start()
            laptop = Client(ident2, t2, c.directory, timeout=10.0, owner=OwnerDevice())
            await laptop.start()
            try:
                unlock = await recovery_start(
                    laptop, vault.vault_id, c.ids, lost_device=c.owner.public, password=c.password
                )
                assert len(unlock) == 3
            finally:
                await laptop.close()
            # ... and the owner's registered device has a budget strangers never touch
            state = VaultState.from_meta(c.guardians[0].keystore.metadata(vault.vault_id))
            assert len(state.password_failures[STRANGERS]) >= 5 and OWNER not in state.password_failures
        finally:
            if stranger is not None:
                await stranger.close()
            await c.close()

    run(main)
