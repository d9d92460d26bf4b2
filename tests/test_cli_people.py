"""The `gridlock` command's output for people against a live devnet (issue 16): readable policy,
recovery and audit pages, the t == n warning, vault names two concurrent creates cannot share, a
mistyped password asked again on a terminal, and `devnet status` when the NATS router is down.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from conftest import need_nats_server
from gridlock.cli.commands.policy import render_policies
from test_cli import PASSWORD, fails, gl, ok, teardown

LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d \(in \d")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    h = tmp_path_factory.mktemp("people") / "devnet"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--json"))
        yield h
    finally:
        teardown(h)


def test_policy_recovery_and_audit_read_as_text(home: Path) -> None:
    ok(gl(home, "vault", "create", "--scheme", "ed25519", "--name", "pages", "--json"))
    ok(gl(home, "policy", "set", "pages", "--limit", "solana:1000/3600", "--json"))
    ok(gl(home, "policy", "set", "pages", "--limit", "solana:5000/3600", "--json"))  # a loosening: it waits
    shown = ok(gl(home, "policy", "show", "pages"))
    assert "{" not in shown and "'" not in shown
    assert "enforced by every guardian" in shown and "limit solana: 1000 per 1 h" in shown
    assert "every guardian: a loosening waits until" in shown and LOCAL_TIME.search(shown)
    raw = ok(gl(home, "policy", "show", "pages", "--json"))  # programs keep the Unix time
    assert all(isinstance(g["unlock_at"], int) and g["unlock_at"] > 0 for g in raw["guardians"].values())

    status = ok(gl(home, "recover", "status", "pages"))
    assert "every guardian: no recovery" in status and "{" not in status

    log = ok(gl(home, "audit", "pages", "-g", "device", "--limit", "2"))
    total = ok(gl(home, "audit", "pages", "-g", "device", "--json"))["guardians"]["device"]["total"]
    assert f"showing 2 of {total} — --all for more" in log
    assert re.search(r"#\d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", log)
    everything = ok(gl(home, "audit", "pages", "-g", "device", "--all"))
    assert "showing" not in everything and "#1 " in everything and "keygen" in everything


def test_a_vault_every_guardian_must_sign_is_warned_about(home: Path) -> None:
    r = gl(home, "vault", "create", "--scheme", "ed25519", "-t", "2", "-g", "device,cloud", "--json")
    doc = ok(r)
    assert "warning: a 2-of-2 vault needs every guardian" in r.err and "loses the key" in r.err
    assert doc["warnings"] and "2-of-2" in doc["warnings"][0]
    quiet = gl(home, "vault", "create", "--scheme", "ed25519", "-t", "2", "-g", "device,cloud,watch", "--json")
    assert "warning" not in ok(quiet) and "warning" not in quiet.err


def test_two_concurrent_creates_cannot_both_get_a_name(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    env.update({"GRIDLOCK_HOME": str(home), "GRIDLOCK_PASSWORD": PASSWORD})
    argv = [sys.executable, "-m", "gridlock.cli", "vault", "create", "--scheme", "ed25519", "--name", "twin", "--json"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    loser = next(err for rc, _, err in results if rc == 2)
    assert "twin" in loser and ("being created" in loser or "exists already" in loser)
    book = json.loads((home / "vaults.json").read_text())["vaults"]
    assert [v["name"] for v in book].count("twin") == 1
    fails(gl(home, "vault", "create", "--scheme", "ed25519", "--name", "twin"), 2, "exists already")


def on_terminal(home: Path, argv: list[str], answers: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal (where getpass asks), typing
    ``answers`` one per password prompt; the exit code and everything it wrote."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    env.update({"GRIDLOCK_HOME": str(home), "COLUMNS": "200"})
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        os.execve(sys.executable, [sys.executable, "-m", "gridlock.cli", *argv], env)
    seen, typed, deadline = b"", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if seen.count(b"Owner password") > typed and typed < len(answers) and seen.rstrip().endswith(b":"):
                os.write(fd, answers[typed].encode() + b"\n")
                typed += 1
        else:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), re.sub(r"\x1b\[[0-9;]*m", "", seen.decode(errors="replace"))


def test_a_mistyped_password_on_a_terminal_is_asked_again(home: Path) -> None:
    ok(gl(home, "vault", "create", "--scheme", "ed25519", "--name", "pw", "--json"))
    rc, text = on_terminal(home, ["recover", "status", "pw"], ["wrong one", "still wrong", PASSWORD])
    assert rc == 0, text
    assert text.count("Owner password") == 3 and "wrong password, try again (2 more)" in text
    assert "every guardian: no recovery" in text

    rc, text = on_terminal(home, ["recover", "status", "pw"], ["nope"] * 3)
    assert rc == 4, text
    assert text.count("Owner password") == 3 and "error: wrong password" in text

    # not on a terminal: one wrong password is exit 4 at once, nothing is asked
    fails(gl(home, "recover", "status", "pw", password="not the password"), 4, "wrong password")


def test_devnet_status_says_the_router_is_down_when_its_nats_server_is(tmp_path: Path) -> None:
    need_nats_server()
    h = tmp_path / "nats"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--nats", "--json"))
        up = ok(gl(h, "devnet", "status", "--json"))
        assert up["running"] and up["router_up"]
        nats_pid = json.loads((h / "devnet.json").read_text())["running"]["nats_pid"]
        os.kill(nats_pid, signal.SIGTERM)  # the devnet's own nats-server, started by this test
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and gl(h, "devnet", "status", "--json").doc["router_up"]:
            time.sleep(0.2)
        down = gl(h, "devnet", "status")
        assert down.rc == 3, down.out + down.err
        assert "router down" in down.out and "does not answer" in down.out and "running" not in down.out
        assert gl(h, "devnet", "status", "--json").doc["router_up"] is False
    finally:
        teardown(h)


def test_replacing_by_a_guardian_never_provisioned_says_how_to_add_it(home: Path) -> None:
    ok(gl(home, "vault", "create", "--scheme", "ed25519", "--name", "keep", "--json"))
    r = gl(home, "guardian", "replace", "keep", "friend", "spare")  # this devnet was started without --spare
    fails(r, 2, "unknown guardian 'spare'")
    assert "gridlock guardian add spare" in r.err


def test_one_loosening_reaching_guardians_a_second_apart_reads_as_one_line() -> None:
    """Guardians record a loosening when it reaches them, often a second apart: people see one
    line with the latest end time; a loosening set a day later is its own line."""
    now = int(time.time())
    rules = {"limits": {}}
    waits = {"unlock_at": now + 86400, "reasons": ["raises the solana limit"], "ok": True, "rules": rules}
    results = {
        "device": {**waits, "fingerprint": "ab" * 32},
        "cloud": {**waits, "fingerprint": "ab" * 32, "unlock_at": now + 86401},
        "watch": {**waits, "fingerprint": "ab" * 32},
    }
    out = StringIO()
    render_policies(Console(file=out, width=200), "v", results)
    assert out.getvalue().count("a loosening waits until") == 1 and "every guardian: a loosening" in out.getvalue()

    results["watch"]["unlock_at"] = now + 2 * 86400
    out = StringIO()
    render_policies(Console(file=out, width=200), "v", results)
    assert "device, cloud: a loosening waits" in out.getvalue() and "watch: a loosening waits" in out.getvalue()
