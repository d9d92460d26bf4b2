"""The ``gridlock`` command (Typer + Rich); entry point ``gridlock.cli.main:app``.

Command names are a contract (acceptance tests call them); see ``gridlock --help`` and the
package documentation (:mod:`gridlock.cli`) for the design, and :mod:`gridlock.cli.errors` for the
exit codes.  Every command takes ``--json`` (one JSON document on stdout) and ``--dir`` (the
devnet directory; ``$GRIDLOCK_HOME``, else ``~/.gridlock/devnet``); commands that use the owner's
keys take ``--password-file`` (else ``$GRIDLOCK_PASSWORD``, else a prompt on the terminal).

This module builds the root command; the commands themselves are in :mod:`gridlock.cli.commands`,
one module per top-level command or group (``gridlock vault …`` is ``commands/vault.py``).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from gridlock.cli.commands import (
    address,
    audit,
    devnet,
    guardian,
    message,
    owner_keyring,
    policy,
    profile,
    recover,
    refresh,
    sign,
    tx,
    vault,
)
from gridlock.cli.commands import committee as _committee  # noqa: F401 -- adds `vault repair|add-guardian|…`
from gridlock.cli.errors import EXIT_CODES_HELP
from gridlock.cli.output import plain_flags_in_help

HELP = (
    "Gridlock: threshold custody. Keys are born by distributed key generation and used by any t "
    "of n guardians; no one ever holds the whole key.\n\n"
    "Quick start:  gridlock devnet up --detach  ·  gridlock vault create --scheme ecdsa-secp256k1\n\n" + EXIT_CODES_HELP
)


class _App(typer.Typer):
    """``--nats`` with no URL means: start a nats-server for me (Click options need a value)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "args" not in kwargs:
            argv = list(sys.argv[1:])
            for i, a in enumerate(argv):
                if a == "--nats" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
                    argv.insert(i + 1, "auto")
                    break
            kwargs["args"] = argv
        kwargs.setdefault("prog_name", "gridlock")
        return super().__call__(*args, **kwargs)


plain_flags_in_help()
app = _App(
    help=HELP, no_args_is_help=True, add_completion=True, rich_markup_mode="rich", pretty_exceptions_enable=False
)
# Top-level commands first, then the groups: `gridlock --help` lists them in this order.
app.add_typer(profile.app)
app.add_typer(address.app)
app.add_typer(sign.app)
app.add_typer(message.app)
app.add_typer(refresh.app)
app.add_typer(audit.app)
app.add_typer(devnet.app, name="devnet")
app.add_typer(vault.app, name="vault")
app.add_typer(guardian.app, name="guardian")
app.add_typer(recover.app, name="recover")
app.add_typer(policy.app, name="policy")
app.add_typer(owner_keyring.app, name="keyring")
app.add_typer(tx.app, name="tx")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as dist_version

        typer.echo(f"gridlock {dist_version('gridlock')}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
    profile_name: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Use the profile in ~/.gridlock/NAME (else $GRIDLOCK_PROFILE, else $GRIDLOCK_HOME, else the devnet).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Gridlock: threshold custody from the command line."""
    from gridlock.cli.errors import CliError
    from gridlock.cli.output import Output
    from gridlock.cli.state import choose_profile

    try:
        choose_profile(profile_name)
    except CliError as exc:
        Output().fail(exc)
