"""Lost messages during a two-phase key change heal by themselves (issue 18, finding 4; SECURITY #33).

Each test loses one message on the way between the owner's client and a guardian — a ``commit`` that
never arrives, a refresh reply that never comes back, an ``abort`` that times out — and shows that the
vault ends on one epoch at every holder and keeps signing, without anyone aborting by hand.  The loss
is injected by wrapping the client's ``call`` (every request the SDK sends goes through it).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gridlock.client import GuardianTimeout
from gridlock.client.epochs import TRIES
from gridlock.devnet import EmbeddedCluster
from gridlock.wire import control as ctl
from gridlock.wire import ops

Rule = Callable[[str, ops.Op], str | None]
"""Given (guardian, op): ``"request"`` loses the request, ``"reply"`` loses the answer, ``None`` delivers."""


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())  # type: ignore[arg-type]


NAMES = ("a", "b", "c", "d")


def lose(c: EmbeddedCluster, rule: Rule) -> list[tuple[str, str]]:
    """Make the cluster's client lose the messages ``rule`` picks (it names guardians "a", "b", "c");
    returns the log of what was lost."""
    client = c.client
    assert client is not None
    real = client.call
    name = dict(zip(c.ids, NAMES, strict=False))
    lost: list[tuple[str, str]] = []

    async def call(guardian: str, op: ops.Op, timeout: float | None = None, **kw: Any) -> ops.Reply:
        what = rule(name[guardian], op)
        if what == "request":
            lost.append((name[guardian], op.NAME))
            raise GuardianTimeout([guardian], op.NAME)
        reply = await real(guardian, op, timeout, **kw)
        if what == "reply":
            lost.append((name[guardian], op.NAME))
            raise GuardianTimeout([guardian], op.NAME)
        return reply

    client.call = call  # type: ignore[method-assign]
    return lost


def first(n: int, name: str, guardian: str) -> Rule:
    """Lose the first ``n`` ``name`` requests to ``guardian``."""
    left = [n]

    def rule(g: str, op: ops.Op) -> str | None:
        if (g, op.NAME) == (guardian, name) and left[0] > 0:
            left[0] -= 1
            return "request"
        return None

    return rule


def states(c: EmbeddedCluster, vault_id: str) -> dict[str, tuple[int | None, tuple[int, ...]]]:
    """Each guardian's (active epoch, pending epochs) of the vault."""
    out = {}
    for n, g in zip(NAMES, c.guardians[:3], strict=False):
        rec = g.keystore.vault(vault_id)
        out[n] = (rec.active_epoch, rec.pending_epochs)
    return out


def pairs(c: EmbeddedCluster) -> list[list[str]]:
    """Every signer set of a 2-of-3 vault, by guardian id."""
    a, b, g = c.ids
    return [[a, b], [a, g], [b, g]]


async def cluster(tmp_path: Path) -> EmbeddedCluster:
    return await EmbeddedCluster.start(tmp_path, ["a", "b", "c"], session_timeout=20.0)


def test_a_commit_lost_once_is_sent_again(tmp_path: Path) -> None:
    """The client keeps the acknowledgements and retries the commit at the guardian that missed it."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            lost = lose(c, first(1, "commit", "c"))
            assert await vault.refresh() == 1
            assert lost == [("c", "commit")]
            assert set(states(c, vault.vault_id).values()) == {(1, ())}
            for pair in pairs(c):
                assert await vault.sign(b"m" * 32, signers=pair)
        finally:
            await c.close()

    run(main)


def test_a_commit_no_holder_confirmed_is_sent_again_before_the_next_operation(tmp_path: Path) -> None:
    """Every answer to the commit is lost (the commit arrived at none, or at some and their answers
    were lost): the refresh fails, the client keeps the commit and sends it before the next
    operation; once a holder confirms, the vault object moves to the new epoch."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            left = [3 * TRIES]

            def rule(g: str, op: ops.Op) -> str | None:
                if op.NAME == "commit" and left[0] > 0:
                    left[0] -= 1
                    return "reply" if g == "a" else "request"  # a commits, nobody hears of it
                return None

            lose(c, rule)
            with pytest.raises(GuardianTimeout):
                await vault.refresh()
            assert states(c, vault.vault_id) == {"a": (1, ()), "b": (0, (1,)), "c": (0, (1,))}
            assert vault.epoch == 0 and vault.kept_commit is not None
            assert await vault.sign(b"m" * 32)
            assert vault.epoch == 1 and vault.kept_commit is None
            assert set(states(c, vault.vault_id).values()) == {(1, ())}
            for pair in pairs(c):
                assert await vault.sign(b"m" * 32, signers=pair)
        finally:
            await c.close()

    run(main)


def test_a_guardian_the_commit_never_reached_catches_up_at_the_next_operation(tmp_path: Path) -> None:
    """The commit never reaches ``c`` during the refresh: the epoch is committed at the others, so the
    refresh succeeds and ``c`` is left on epoch 0 with epoch 1 pending.  The next operation brings it
    forward — from the acknowledgements the client kept, or (a client that has none, e.g. another
    process) from acknowledgements it collects again from the holders of the new epoch."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            lost = lose(c, first(TRIES, "commit", "c"))  # every try
            assert await vault.refresh() == 1
            assert lost == [("c", "commit")] * TRIES
            assert states(c, vault.vault_id)["c"] == (0, (1,))
            # the next operation brings c forward with the kept acknowledgements
            assert await vault.sign(b"m" * 32, signers=pairs(c)[1])
            assert set(states(c, vault.vault_id).values()) == {(1, ())}

            # the same loss again, then the kept acknowledgements are gone (another client object)
            lose(c, first(TRIES, "commit", "c"))
            assert await vault.refresh() == 2
            assert states(c, vault.vault_id)["c"] == (1, (2,))
            fresh = await c.client.open_vault(vault.vault_id, c.ids)
            assert fresh.epoch == 2
            assert await fresh.refresh() == 3  # it first repairs c's epoch, then refreshes everyone
            assert set(states(c, vault.vault_id).values()) == {(3, ())}
            for pair in pairs(c):
                assert await fresh.sign(b"n" * 32, signers=pair)
        finally:
            await c.close()

    run(main)


def test_a_lost_refresh_reply_does_not_block_later_key_changes(tmp_path: Path) -> None:
    """``c`` stores epoch 1 but its reply is lost, and so is every abort sent to it: ``c`` keeps a
    pending epoch 1 that will never be committed.  The next refresh replaces it (it used to be refused: "a
    different share is already pending for epoch 1"), the old pending share is erased, and its
    session's acknowledgements cannot activate the share that replaced it."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            old: dict[str, bytes] = {}
            client = c.client
            real = client.call

            async def keep_acks(guardian: str, op: ops.Op, timeout: float | None = None, **kw: Any) -> ops.Reply:
                if guardian == c.ids[2] and op.NAME == "abort":
                    raise GuardianTimeout([guardian], "abort")  # lost, every time
                reply = await real(guardian, op, timeout, **kw)
                if isinstance(reply, ops.StoredReply):
                    old[guardian] = reply.ack
                if guardian == c.ids[2] and op.NAME == "refresh":
                    raise GuardianTimeout([guardian], "refresh")
                return reply

            client.call = keep_acks  # type: ignore[method-assign]
            with pytest.raises(GuardianTimeout):
                await vault.refresh()
            client.call = real  # type: ignore[method-assign]
            assert states(c, vault.vault_id) == {"a": (0, ()), "b": (0, ()), "c": (0, (1,))}
            stale = c.guardians[2].keystore.share(vault.vault_id, 1)

            # only a key change the owner approved replaces it: a refresh without approvals is refused
            with pytest.raises(ctl.RequestRefused) as unapproved:
                await client.call(c.ids[2], ops.Refresh(vault.vault_id, b"n" * 32))
            assert unapproved.value.code is ctl.Refusal.UNAUTHORISED
            assert c.guardians[2].keystore.share(vault.vault_id, 1).transcript_hash == stale.transcript_hash

            assert await vault.refresh() == 1
            assert set(states(c, vault.vault_id).values()) == {(1, ())}
            now = c.guardians[2].keystore.share(vault.vault_id, 1)
            assert now.transcript_hash != stale.transcript_hash  # replaced, not the stale one
            assert now.transcript_hash == c.guardians[0].keystore.share(vault.vault_id, 1).transcript_hash
            assert await vault.sign(b"m" * 32, signers=pairs(c)[2])

            # the replaced session's acknowledgements do not verify against the share that replaced it
            with pytest.raises(ctl.RequestRefused) as refused:
                await client.call(c.ids[2], ops.Commit(vault.vault_id, 1, old))
            assert refused.value.code is ctl.Refusal.ACK_MISSING
        finally:
            await c.close()

    run(main)


def test_an_abort_reaches_every_holder_even_after_a_timeout(tmp_path: Path) -> None:
    """A refresh fails because ``c``'s reply is lost: the client aborts at every holder, ``c`` included
    (a holder that timed out may have stored), and sends an abort that timed out (at ``b``) again.
    When every abort to ``b`` is lost, the next refresh replaces the stale pending epoch there."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            mode = ["once"]

            def rule(g: str, op: ops.Op) -> str | None:
                if (g, op.NAME) == ("c", "refresh") and mode[0] != "deliver":
                    return "reply"
                if (g, op.NAME) == ("b", "abort") and mode[0] in ("once", "always"):
                    mode[0] = "sent" if mode[0] == "once" else mode[0]
                    return "request"
                return None

            lost = lose(c, rule)
            with pytest.raises(GuardianTimeout):
                await vault.refresh()
            assert lost == [("c", "refresh"), ("b", "abort")]
            assert set(states(c, vault.vault_id).values()) == {(0, ())}

            mode[0] = "always"
            with pytest.raises(GuardianTimeout):
                await vault.refresh()
            assert states(c, vault.vault_id) == {"a": (0, ()), "b": (0, (1,)), "c": (0, ())}

            mode[0] = "deliver"
            assert await vault.refresh() == 1
            assert set(states(c, vault.vault_id).values()) == {(1, ())}
            assert await vault.sign(b"m" * 32, signers=pairs(c)[0])
        finally:
            await c.close()

    run(main)


def test_a_new_holder_left_with_a_stale_pending_epoch_joins_the_next_reshare(tmp_path: Path) -> None:
    """Replacing ``c`` by ``d`` fails after ``d`` stored its share (its reply and every abort to it are
    lost): ``d`` knows the vault only from that pending epoch.  The next replacement, approved again
    by the owner, replaces it there and the vault signs with ``d``."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "c", "d"], session_timeout=20.0)
        try:
            assert c.client is not None
            a, b, old, new = c.ids
            vault = await c.client.create_vault("frost-ed25519", [a, b, old], 2, password=c.password)
            mode = ["lose"]

            def rule(g: str, op: ops.Op) -> str | None:
                if g == "d" and mode[0] == "lose":
                    return {"reshare": "reply", "abort": "request"}.get(op.NAME)
                return None

            lose(c, rule)
            with pytest.raises(GuardianTimeout):
                await vault.replace_guardian(old, new, password=c.password)
            rec = c.guardians[3].keystore.vault(vault.vault_id)
            assert (rec.active_epoch, rec.pending_epochs) == (None, (1,))
            assert states(c, vault.vault_id) == {"a": (0, ()), "b": (0, ()), "c": (0, ())}

            mode[0] = "deliver"
            assert await vault.replace_guardian(old, new, password=c.password) == 1
            rec = c.guardians[3].keystore.vault(vault.vault_id)
            assert (rec.active_epoch, rec.pending_epochs) == (1, ())
            assert await vault.sign(b"m" * 32, signers=[a, new])
            assert await vault.sign(b"m" * 32, signers=[b, new])
        finally:
            await c.close()

    run(main)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_thousand_refreshes_keep_state_and_latency_flat(tmp_path: Path) -> None:
    """Years of daily refreshes: after 1,000 of them the vault signs, every guardian's metadata is as
    small as after the first, and a refresh takes about as long as the first ones did."""

    async def main() -> None:
        c = await cluster(tmp_path)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            await vault.refresh()
            size = max(len(json.dumps(g.keystore.metadata(vault.vault_id))) for g in c.guardians)
            took: list[float] = []
            for _ in range(1000):
                start = time.perf_counter()
                await vault.refresh()
                took.append(time.perf_counter() - start)
            after = max(len(json.dumps(g.keystore.metadata(vault.vault_id))) for g in c.guardians)
            assert after <= size + 8  # epoch numbers grow by a few digits
            assert set(states(c, vault.vault_id).values()) == {(1001, ())}
            for g in c.guardians:
                assert g.keystore.vault(vault.vault_id).retired_epochs == ()
            early, late = statistics.median(took[:50]), statistics.median(took[-50:])
            assert late <= 2 * early, f"refresh median went from {early:.3f}s to {late:.3f}s"
            for pair in pairs(c):
                assert await vault.sign(b"m" * 32, signers=pair)
        finally:
            await c.close()

    run(main)
