"""Output for people (issue 16): times, grouped guardian lines, help pages and shell completion.

Everything here runs without a devnet; the commands' rendering against live guardians is in
tests/test_cli.py.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gridlock.cli.commands.audit import render_log
from gridlock.cli.commands.common import grouped
from gridlock.cli.commands.policy import render_policies
from gridlock.cli.commands.recover import recovery_line
from gridlock.cli.main import app
from gridlock.cli.output import duration, local_time, relative, when

NOW = 1_800_000_000


def rendered(draw: object, *args: object) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=200, color_system=None, highlight=False)
    draw(con, *args)  # type: ignore[operator]
    return buf.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (60, "1 min"),
        (125, "2 min 5 s"),
        (754, "12 min"),  # seconds only below ten minutes
        (3600, "1 h"),
        (2 * 3600 + 13 * 60 + 9, "2 h 13 min"),
        (86400, "1 d"),
        (86400 + 5 * 3600, "1 d 5 h"),
    ],
)
def test_durations_have_at_most_two_units(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_relative_times_say_in_or_ago() -> None:
    assert relative(NOW + 2 * 3600 + 13 * 60, now=NOW) == "in 2 h 13 min"
    assert relative(NOW - 300, now=NOW) == "5 min ago"
    assert relative(NOW, now=NOW) == "now"


def test_a_time_is_local_iso_with_its_offset_and_how_far_it_is() -> None:
    text = when(NOW + 90, now=NOW)
    stamp, rest = text.split(" (")
    assert rest == "in 1 min 30 s)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp)
    assert datetime.fromisoformat(stamp).timestamp() == NOW + 90  # the offset makes it unambiguous
    assert local_time(NOW) == datetime.fromtimestamp(NOW).astimezone().isoformat(sep=" ", timespec="seconds")


def test_guardians_saying_the_same_are_one_line() -> None:
    assert grouped({"a": "x", "b": "x", "c": "x"}) == ["every guardian: x"]
    assert grouped({"a": "x", "b": "y", "c": "x"}) == ["a, c: x", "b: y"]
    assert grouped({"a": "x", "b": "x"}, of=3) == ["a, b: x"]  # not every guardian when one is missing
    assert grouped({"a": "x"}) == ["a: x"]


def test_policy_show_is_text_not_a_dict() -> None:
    rules = {"limits": {"solana": {"amount": 1000, "period": 86400}}, "rate": {"max": 3, "period": 3600}}
    pending = {"ok": True, "rules": rules, "fingerprint": "ab" * 32, "kind": "guardian", "pending": {"x": 1}}
    results = {
        "device": {**pending, "unlock_at": NOW + 7200, "reasons": ["raises the solana limit"]},
        "cloud": {**pending, "unlock_at": NOW + 7200, "reasons": ["raises the solana limit"]},
        "friend": {"ok": False, "error": "no answer"},
    }
    text = rendered(render_policies, "v1", results)
    assert "{" not in text and "'" not in text
    assert "enforced by device, cloud (fingerprint abababababababab)" in text
    assert "limit solana: 1000 per 1 d" in text and "rate: 3 signatures per 1 h" in text
    assert f"device, cloud: a loosening waits until {local_time(NOW + 7200)}" in text
    assert "friend: no answer" in text
    assert str(NOW + 7200) not in text  # no raw Unix time for people


def test_recover_status_is_text_with_local_times() -> None:
    soon = int(time.time()) + 3 * 3600 + 30 * 60 + 30
    assert recovery_line({"state": "none", "unlock_at": 0}) == "no recovery"
    line = recovery_line({"state": "open", "unlock_at": soon})
    assert line == f"open — the time lock ends {local_time(soon)} (in 3 h 30 min)"
    assert str(soon) not in line
    assert "recover finish" in recovery_line({"state": "open", "unlock_at": 1})
    assert "no answer" in recovery_line({"error": "no answer"})


def test_audit_says_how_many_it_shows_and_when_each_happened() -> None:
    entries = [{"n": i, "time": NOW + i, "op": "sign", "decision": "done", "reason": ""} for i in range(1, 154)]
    results = {"device": {"ok": True, "verified": True, "entries": entries[-20:], "total": 153}}
    text = rendered(render_log, results)
    assert "device (153 entries, chain verified)" in text
    assert "showing 20 of 153 — --all for more" in text
    assert f"#153 {local_time(NOW + 153)}  sign → done" in text and "#133 " not in text
    everything = rendered(render_log, {"device": {**results["device"], "entries": entries}})
    assert "showing" not in everything and "#1 " in everything


@pytest.mark.parametrize("command", ["vault create", "audit", "devnet up", "sign-tx", ""])
def test_flags_show_no_bool_type_in_help(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "--help" in result.output
    if command == "vault create":
        assert "<int>" in result.output  # options that take a value keep their type


def test_shell_completion_is_offered_and_completes_commands() -> None:
    top = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert "--install-completion" in top.output and "--show-completion" in top.output
    env = {**os.environ, "_GRIDLOCK_COMPLETE": "complete_bash", "COMP_WORDS": "gridlock vau", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "gridlock.cli"], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.split() == ["vault"], done.stderr
