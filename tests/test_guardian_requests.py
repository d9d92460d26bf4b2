"""Every request a guardian accepts ends in a reply and an audit entry, whatever fails inside it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from gridlock.devnet import EmbeddedCluster
from gridlock.wire import control as ctl
from gridlock.wire import ops

NAMES = ["device", "enclave", "cloud", "watch"]


def run(fn: Any) -> Any:
    return asyncio.run(fn())


def test_sign_presigned_with_other_signers_is_refused_with_a_reply(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 3, password=c.password)
            (presig,) = await vault.presign(1, signers=c.ids[:3])
            op = ops.SignPresigned(vault.vault_id, presig, os.urandom(32), tuple(c.ids[1:]), os.urandom(32))
            params = vault._approved(op.NAME, op.to_params())
            res = await c.client.fanout(c.ids[1:3], op.NAME, params, timeout=8)
            for r in res.values():  # a reply, not a dead task and a timeout
                assert isinstance(r, ctl.RequestRefused) and r.code == "bad-request"
                assert "other signers" in str(r) and str(r).count("refused (") == 1
        finally:
            await c.close()

    run(main)


def test_an_unexpected_failure_still_ends_in_a_reply_and_an_audit_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES[:3], session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            node = c.guardians[0].node

            async def broken(op: ops.Info) -> dict[str, Any]:
                raise KeyError("a bug")

            monkeypatch.setitem(node._handlers, ops.Info, broken)
            with pytest.raises(ctl.RequestRefused) as err:
                await c.client.request(c.ids[0], "info", {"vault": vault.vault_id}, timeout=5)
            assert err.value.code == "error" and "internal error (KeyError)" in str(err.value)
            audit = c.guardians[0].audit.entries(vault.vault_id, 0)
            assert audit[-1]["body"]["op"] == "info" and audit[-1]["body"]["decision"] == "failed"
        finally:
            await c.close()

    run(main)


def test_typed_operations_refuse_unknown_and_missing_fields(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES[:3], session_timeout=10.0)
        try:
            assert c.client is not None
            for params, why in [
                ({}, "missing"),
                ({"vault": "v", "extra": 1}, "no parameter"),
                ({"vault": 7}, "must be a str"),
            ]:
                with pytest.raises(ctl.RequestRefused) as err:
                    await c.client.request(c.ids[0], "info", params, timeout=5)
                assert err.value.code == "bad-request" and why in str(err.value)
        finally:
            await c.close()

    run(main)


WRITES = (
    "set_metadata",
    "claim_session",
    "update_share",
    "store_pending",
    "activate",
    "add_presignatures",
    "take_presignature",
    "discard_pending",
    "delete_vault",
    "put_identity",
)


@pytest.mark.parametrize("scheme", ["frost-secp256k1", "ecdsa-secp256k1"])
def test_one_signature_costs_each_guardian_one_state_load_and_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """Issue 13: the vault state is loaded once per request and written in one transaction (with the
    session claim), plus the audit entry; it was ~9 metadata reads and 3 writes per guardian."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES[:3], session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault(scheme, c.ids, 3, password=c.password)
            await vault.set_policy({"rate": {"max": 100, "period": 60}})
            counts: dict[str, dict[str, int]] = {}
            for g in c.guardians:
                mine = counts.setdefault(g.name, {"reads": 0, "writes": 0})
                for name, kind in [("metadata", "reads"), *((w, "writes") for w in WRITES)]:
                    real = getattr(g.keystore, name)

                    def counted(*a: Any, _real: Any = real, _kind: str = kind, _mine: Any = mine, **kw: Any) -> Any:
                        _mine[_kind] += 1
                        return _real(*a, **kw)

                    monkeypatch.setattr(g.keystore, name, counted)
            await vault.sign(os.urandom(32), signers=c.ids)
            for name, n in counts.items():
                assert n == {"reads": 1, "writes": 1}, (name, n)
        finally:
            await c.close()

    run(main)
