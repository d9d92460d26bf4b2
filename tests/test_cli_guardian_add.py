"""``gridlock guardian add NAME`` on a running devnet (issue 16): "replace friend by charlie" without a restart.

The new guardian gets a keystore, an identity, a place in the devnet's directory (and NATS access in
NATS mode) and starts at once; the guardians already running learn its identity, so a reshare to it
works while the devnet stays up — the host's pid does not change and the vaults are untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import need_nats_server
from gridlock.local import verify
from test_cli import fails, gl, ok, teardown


def _add_then_replace(h: Path) -> None:
    host_pid = json.loads((h / "devnet.json").read_text())["running"]["host_pid"]
    created = gl(h, "vault", "create", "--scheme", "ed25519", "--json")
    v = ok(created)
    assert "not for real funds" in created.err
    pk = bytes.fromhex(v["public_key"])
    fails(gl(h, "guardian", "replace", v["id"], "friend", "charlie"), 2, "unknown guardian", "guardian add charlie")
    added = ok(gl(h, "guardian", "add", "charlie", "--json"))
    assert added["guardian"] == "charlie" and added["running"]
    fails(gl(h, "guardian", "add", "charlie"), 2, "already")
    fails(gl(h, "guardian", "add", "Bad_Name"), 2, "bad guardian name")
    listed = {g["name"]: g for g in ok(gl(h, "guardian", "list", "--json"))["guardians"]}
    assert listed["charlie"]["answers"] and listed["charlie"]["running"] and listed["charlie"]["id"] == added["id"]
    replaced = ok(gl(h, "guardian", "replace", v["id"], "friend", "charlie", "--json"))
    assert "charlie" in replaced["guardians"] and "friend" not in replaced["guardians"]
    assert replaced["public_key"] == v["public_key"]
    ok(gl(h, "guardian", "stop", "device"))  # charlie's new share is needed: only 3 of the 5 sign
    ok(gl(h, "guardian", "stop", "enclave"))
    s = ok(gl(h, "sign", v["id"], "--message", "cafe", "--json"))
    assert verify("frost-ed25519", pk, b"\xca\xfe", bytes.fromhex(s["signature"]))
    assert json.loads((h / "devnet.json").read_text())["running"]["host_pid"] == host_pid  # no restart


def test_guardian_add_on_a_running_embedded_devnet(tmp_path: Path) -> None:
    h = tmp_path / "devnet"
    try:
        up = gl(h, "devnet", "up", "--detach", "--json")
        assert ok(up)["for_real_funds"] is False and "devnet — not for real funds" in up.err
        _add_then_replace(h)
    finally:
        teardown(h)


@pytest.mark.slow
def test_guardian_add_on_a_running_nats_devnet(tmp_path: Path) -> None:
    need_nats_server()
    h = tmp_path / "devnet"
    try:
        ok(gl(h, "devnet", "up", "--nats", "--detach"))
        _add_then_replace(h)
    finally:
        teardown(h)


def test_guardian_add_is_for_a_devnet(tmp_path: Path) -> None:
    p = tmp_path / "profile"
    p.mkdir()
    (p / "profile.json").write_text(json.dumps({"format": "gridlock-profile/1", "router": "nats://x:1"}))
    fails(gl(p, "guardian", "add", "charlie"), 2, "adds a guardian to a devnet", "guardian init")
