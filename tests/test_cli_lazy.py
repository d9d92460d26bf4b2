"""The CLI's lazy start-up (issue 19, point 2): ``gridlock --help`` lists every command without
importing one, and a command imports only what it uses.  No timing is asserted here (``make
bench-cli`` measures); these tests check *what* gets imported, which is what the time depends on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlock.cli import main as cli_main

SRC = str(Path(__file__).resolve().parent.parent / "src")

# What a command that touches no chain and no guardian must not import: the SDK, the transports,
# the crypto, and the chain libraries.
HEAVY = (
    "gridlock.client",
    "gridlock.transport.nats",
    "gridlock.transport.bridge",
    "gridlock.crypto.hd",
    "gridlock.guardian",
    "nats",
    "eth_account",
    "eth_abi",
    "solders",
    "embit",
    "argon2",
    "numpy",
)


def imported_by(*argv: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Run ``gridlock ARGV`` in a fresh interpreter; its exit code and the modules it imported."""
    code = (
        "import sys, json\n"
        f"sys.argv = ['gridlock', *{list(argv)!r}]\n"
        "from gridlock.cli.main import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as e:\n"
        "    rc = e.code or 0\n"
        "else:\n"
        "    rc = 0\n"
        "sys.stderr.write('\\nMODULES' + json.dumps([rc, sorted(sys.modules)]))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    environ.update({"PYTHONPATH": SRC, "COLUMNS": "200", **(env or {})})
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    rc, modules = json.loads(p.stderr.rsplit("\nMODULES", 1)[1])
    return int(rc), set(modules)


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_root_help_imports_no_command_and_no_sdk() -> None:
    rc, modules = imported_by("--help")
    assert rc == 0
    assert heavy(modules) == []
    assert not [m for m in modules if m.startswith("gridlock.cli.commands.")]


def test_root_help_lists_what_the_loaded_commands_say() -> None:
    """The help lines of ``COMMANDS`` (shown without importing) are the commands' own docstrings:
    the root help rendered lazily is the one rendered with every command loaded."""
    runner = CliRunner()
    lazy = runner.invoke(cli_main.app, ["--help"], env={"COLUMNS": "200"})
    assert lazy.exit_code == 0
    root = cli_main.typer.main.get_command(cli_main.app)
    assert isinstance(root, cli_main.LazyGroup)
    for entry in cli_main.COMMANDS:
        real = cli_main.load(entry)
        assert entry.help == (real.help or "").split("\n\n")[0].strip(), entry.name
        panel = getattr(real, "rich_help_panel", None)
        assert entry.panel == (panel if isinstance(panel, str) else None), entry.name  # else Typer's default
    for entry in cli_main.COMMANDS:
        assert entry.name in lazy.output


@pytest.mark.parametrize("entry", cli_main.COMMANDS, ids=lambda e: e.name)
def test_every_registered_command_loads_and_runs_its_help(entry: cli_main.Entry) -> None:
    result = CliRunner().invoke(cli_main.app, [entry.name, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and entry.name in result.output


def test_a_typo_is_answered_with_the_lazy_commands() -> None:
    result = CliRunner().invoke(cli_main.app, ["sgin"])
    assert result.exit_code == 2
    assert "'sign'" in result.output


def test_address_on_an_empty_directory_imports_no_sdk(tmp_path: Path) -> None:
    rc, modules = imported_by("address", "v", "--chain", "bitcoin", env={"GRIDLOCK_HOME": str(tmp_path)})
    assert rc == 3  # no devnet here
    assert heavy(modules) == []


def test_a_bad_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="bad command entry"):
        cli_main.Entry("x", "not a module", False, "help")


def test_values_other_than_text_still_get_typers_check(tmp_path: Path) -> None:
    """Text values skip Typer's pydantic check (cli.main.defer_pydantic); numbers and paths do not."""
    runner = CliRunner()
    bad = runner.invoke(cli_main.app, ["vault", "create", "--threshold", "x"], env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "valid integer" in bad.output
    listed = runner.invoke(cli_main.app, ["vault", "list", "--dir", str(tmp_path / "here"), "--json"])
    assert listed.exit_code == 3  # no devnet there: the path given is the one used
    assert str(tmp_path / "here") in json.loads(listed.stdout)["error"]["message"]
