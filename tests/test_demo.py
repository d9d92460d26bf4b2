"""``make demo`` reads well in an 80-column terminal (issue 16): the whole tour runs and its output
is checked line by line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from gridlock import demo

VAULT_ID = re.compile(r"\bvault ([0-9a-f]{16})\b")


@pytest.fixture(scope="module")
def tour() -> str:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    p = subprocess.run(
        [sys.executable, "-m", "gridlock.demo"], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_no_line_is_wider_than_80_columns(tour: str) -> None:
    wide = [line for line in tour.splitlines() if len(line) > demo.WIDTH]
    assert not wide, "\n".join(wide)
    assert demo.WIDTH == 80


def test_no_colour_when_stdout_is_not_a_terminal(tour: str) -> None:
    assert "\x1b[" not in tour


def test_the_tour_introduces_the_spare_and_names_vaults_by_id(tour: str) -> None:
    lines = tour.splitlines()
    spare_intro = next(i for i, line in enumerate(lines) if line.split()[:1] == ["spare"])
    replaced = next(i for i, line in enumerate(lines) if "replace the friend's guardian by the spare" in line)
    assert spare_intro < replaced
    ids = set(VAULT_ID.findall(tour))
    assert len(ids) == 4  # one per scheme, shown by id wherever a vault is named
    for scheme in demo.SCHEMES:
        assert re.search(rf"vault [0-9a-f]{{16}}: {scheme} ", tour)


def test_policy_recovery_and_audit_are_shown(tour: str) -> None:
    assert "- limit ethereum: 5000000000000000000 per 1 d" in tour
    assert "recovery status at every guardian: open" in tour and "cancels it: cancelled" in tour
    assert re.search(r"#\d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S*  sign → refused \(raw-signing\)", tour)


def test_the_summary_is_a_verdict_and_the_end_is_three_commands(tour: str) -> None:
    summary = tour[tour.index("== summary") :]
    assert re.search(r"All \d+ checks passed in \d+ s\.", summary)
    assert "Ethereum EIP-1559 transfer" not in summary  # the body is not repeated
    last = [line.strip() for line in tour.rstrip().splitlines()[-3:]]
    assert last == list(demo.NEXT)


def test_colour_on_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert demo.paint("ok", "ok") == "\x1b[32mok\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert demo.paint("ok", "ok") == "ok"
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert demo.paint("ok", "ok") == "ok"


def test_wrapping_keeps_words_and_long_tokens_whole(capsys: pytest.CaptureFixture[str]) -> None:
    word = "bc1p" + "q" * 90  # longer than a line: printed whole, never split
    demo.say("a few words " * 20 + word + " end")
    out = capsys.readouterr().out.splitlines()
    assert word in [line.strip() for line in out]
    assert all(len(line) <= 80 for line in out if word not in line)
    assert " ".join(line.strip() for line in out) == ("a few words " * 20 + word + " end").strip()
