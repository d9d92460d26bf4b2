"""Issue 18, finding 8: ``Vault.sign`` returns at the first signature that verifies, and signer
selection skips a guardian that reports another epoch of the vault."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gridlock.client import GuardianTimeout
from gridlock.devnet import EmbeddedCluster
from gridlock.local import verify
from gridlock.wire import ops

NAMES = ["device", "enclave", "cloud"]


def run(fn: Any) -> Any:
    return asyncio.run(fn())


def test_sign_returns_at_the_first_verified_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            slow = c.guardians[0].node
            real = slow._handlers[ops.Sign]

            async def late(op: ops.Sign) -> ops.Reply:
                reply = await real(op)  # signs with the others, then answers the client late
                await asyncio.sleep(8)
                return reply

            monkeypatch.setitem(slow._handlers, ops.Sign, late)
            message = os.urandom(32)
            t0 = time.monotonic()
            sig = await vault.sign(message, signers=c.ids[:2], timeout=20)
            assert time.monotonic() - t0 < 4  # not the 8 s the slow signer's answer takes
            assert verify(vault.scheme, vault.public_key, message, sig)
        finally:
            await c.close()

    run(main)


def test_ping_reports_the_epoch_and_selection_skips_a_guardian_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            reply = await c.client.call(c.ids[0], ops.Ping(vault.vault_id))
            assert isinstance(reply, ops.PingReply) and reply.epoch == vault.epoch == 0
            unknown = await c.client.call(c.ids[0], ops.Ping("no-such-vault"))
            assert isinstance(unknown, ops.PingReply) and unknown.epoch == -1
            assert await vault.refresh() == vault.epoch == 1  # the vault moves on: epoch 1 everywhere
            left_behind = c.guardians[0]

            async def old_epoch(op: ops.Ping) -> ops.PingReply:  # as after a commit it never received
                return ops.PingReply(left_behind.identity.guardian_id, int(time.time()), vault.epoch - 1)

            monkeypatch.setitem(left_behind.node._handlers, ops.Ping, old_epoch)
            for _ in range(5):
                chosen = await vault._pick_signers(None)
                assert left_behind.identity.guardian_id not in chosen and len(chosen) == 2
            message = os.urandom(32)
            assert verify(vault.scheme, vault.public_key, message, await vault.sign(message))
            await c.stop_guardian(2)  # only the one left behind and one other remain
            with pytest.raises(GuardianTimeout, match="on epoch 1"):
                await vault._pick_signers(None)
        finally:
            await c.close()

    run(main)
