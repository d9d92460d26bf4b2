"""The ``gridlock`` command (Typer + Rich); entry point ``gridlock.cli.main:app``.

Command names are a contract (acceptance tests call them); see ``gridlock --help`` and the
package documentation (:mod:`gridlock.cli`) for the design, and :mod:`gridlock.cli.errors` for the
exit codes.  Every command takes ``--json`` (one JSON document on stdout) and ``--dir`` (the
devnet directory; ``$GRIDLOCK_HOME``, else ``~/.gridlock/devnet``); commands that use the owner's
keys take ``--password-file`` (else ``$GRIDLOCK_PASSWORD``, else a prompt on the terminal).

**Commands are registered lazily.**  :data:`COMMANDS` names each top-level command or group, the
module in :mod:`gridlock.cli.commands` whose ``app`` (a ``typer.Typer``) defines it, and the one
line ``gridlock --help`` shows for it.  A module is imported only when its command runs (or its own
``--help`` is asked for), so ``gridlock --help`` imports no command module and no SDK, and
``gridlock sign`` does not import the modules of ``devnet`` or ``policy``.  ``tests/test_cli_units``
checks that every line of :data:`COMMANDS` is the command's own first docstring paragraph.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Annotated, Any, cast

import typer
from typer._click.core import Context  # Typer's own click (vendored): what TyperGroup's methods take
from typer.core import TyperGroup

from gridlock.cli.errors import EXIT_CODES_HELP
from gridlock.cli.output import plain_flags_in_help

HELP = (
    "Gridlock: threshold custody. Keys are born by distributed key generation and used by any t "
    "of n guardians; no one ever holds the whole key.\n\n"
    "Quick start:  gridlock devnet up --detach  ·  gridlock vault create --scheme ecdsa-secp256k1\n\n" + EXIT_CODES_HELP
)


@dataclass(frozen=True)
class Entry:
    """One top-level command or group of the root command.

    ``module`` is a module of :mod:`gridlock.cli.commands` with an ``app``; ``group`` says whether
    the name is a group (``app`` becomes ``gridlock NAME …``) or a command of ``app`` merged into
    the root (several entries may share one module: ``sign`` and ``sign-tx``).
    """

    name: str
    module: str
    group: bool
    help: str
    panel: str | None = None  # the command's rich_help_panel, if it has one

    def __post_init__(self) -> None:
        if not self.name or not self.module.isidentifier() or not self.help:
            raise ValueError(f"bad command entry {self.name!r}")


# Top-level commands first, then the groups: `gridlock --help` lists them in this order.
COMMANDS: tuple[Entry, ...] = (
    Entry(
        "init",
        "profile",
        False,
        "Set up the owner's profile for your own guardians (not a devnet): keyring, directory, router.",
    ),
    Entry(
        "address",
        "address",
        False,
        "A vault's address on a chain (with --path: of a derived child key, from the vault book's chain\n"
        "code fixed at keygen — no guardian is asked, so none can choose the address).",
    ),
    Entry(
        "sign",
        "sign",
        False,
        "Sign a raw message (FROST schemes) or a 32-byte digest (ECDSA) with t guardians (with --path:\n"
        "with that child key; each guardian derives its child share, the owner approves the path).",
    ),
    Entry(
        "sign-tx",
        "sign",
        False,
        "Show what a chain transaction does, ask, then sign it; guardians re-derive what they sign from\n"
        "the transaction itself.  `gridlock tx build` writes the files; examples/README.md shows each.",
    ),
    Entry(
        "sign-message",
        "message",
        False,
        "Sign a message as wallets do: Ethereum EIP-191 / EIP-712, a Solana off-chain message, a Bitcoin\n"
        "BIP-322 simple signature (P2WPKH, P2TR).",
    ),
    Entry(
        "refresh",
        "refresh",
        False,
        "Proactive refresh: every share changes, the key and addresses stay (old shares become useless).",
    ),
    Entry("audit", "audit", False, "Fetch and verify each guardian's signed audit log of a vault."),
    Entry(
        "unlock",
        "session",
        False,
        "Unlock the owner's keyring for a while (like ssh-agent): commands then need no password.",
    ),
    Entry("lock", "session", False, "End the unlocked session now: the agent forgets the keyring and exits."),
    Entry(
        "devnet",
        "devnet",
        True,
        "Start, inspect and stop a local devnet (router + 5 guardians; devnet — not for real funds).",
    ),
    Entry("vault", "vault", True, "Create and inspect vaults."),
    Entry(
        "guardian",
        "guardian",
        True,
        "Guardians: list, replace in a vault, add/stop/start (devnet), init/run (your own).",
    ),
    Entry("recover", "recover", True, "Time-locked device recovery (owner security)."),
    Entry("policy", "policy", True, "The vault's spending policy at its guardians."),
    Entry("keyring", "owner_keyring", True, "The owner's keyring: change its password, back it up, restore it."),
    Entry("tx", "tx", True, "Build unsigned transactions for `gridlock sign-tx`."),
)
_BY_NAME = {e.name: e for e in COMMANDS}


def load(entry: Entry) -> typer.core.TyperCommand | TyperGroup:
    """The click command of ``entry``, built from its module's ``app`` (imports the module)."""
    module = importlib.import_module(f"gridlock.cli.commands.{entry.module}")
    built = typer.main.get_group(module.app)
    if entry.group:
        built.name = entry.name
        return built
    command = built.commands.get(entry.name)
    if command is None:
        raise LookupError(f"gridlock.cli.commands.{entry.module} defines no command {entry.name!r}")
    return command  # type: ignore[return-value]


def defer_pydantic() -> None:
    """Typer 0.29 checks every parameter's value with a pydantic ``TypeAdapter`` built on first use;
    importing pydantic and building them costs ~0.1 s, more than the rest of ``gridlock sign``.
    A text parameter given a text value, or any parameter left at ``None`` (``--help`` itself), is
    what that check would return unchanged, so those skip it; every other value (paths, numbers,
    lists, choices, flags) still gets Typer's own check.  This replaces Typer's internal
    ``_TyperParameter.get_runtime_param`` (Typer is pinned in pyproject.toml); with a Typer that
    lacks it nothing changes, and ``tests/test_cli_lazy.py`` notices."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param  # noqa: PLC0415 -- internal
        from typer.core import _TyperParameter  # noqa: PLC0415 -- internal
    except ImportError:  # pragma: no cover -- another Typer: every value goes through pydantic
        return
    if getattr(_TyperParameter, "_gridlock_deferred", False) or not hasattr(_TyperParameter, "get_runtime_param"):
        return

    @dataclass(frozen=True)
    class Deferred(RuntimeParam):
        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            text = self.annotation in (str, str | None) and self.parameter_info.parser is None
            if text and isinstance(value, str):
                return value
            real = build_runtime_param(self.descriptor)
            param._runtime_param = real  # later values go straight to Typer's check
            return real._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> RuntimeParam:
        if self._runtime_param is None:
            d = self.type_descriptor
            self._runtime_param = Deferred(d.parameter_info, d.annotation, d)
        return cast(RuntimeParam, self._runtime_param)

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._gridlock_deferred = True  # type: ignore[attr-defined]


defer_pydantic()


class LazyGroup(TyperGroup):
    """The root command: lists :data:`COMMANDS` without importing them, loads one when it runs.

    While the root's own help is rendered, :meth:`get_command` answers with a stand-in carrying the
    entry's help line; otherwise (running a command, its ``--help``, tests) with the real command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        own = super().list_commands(ctx)
        return [e.name for e in COMMANDS] + [n for n in own if n not in _BY_NAME]

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = _BY_NAME.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return typer.core.TyperCommand(entry.name, help=entry.help, rich_help_panel=entry.panel)
        command = load(entry)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        from typer._click.exceptions import UsageError  # noqa: PLC0415 -- Typer's own click (vendored)

        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:  # "did you mean": over every command, loaded or not
            from difflib import get_close_matches  # noqa: PLC0415 -- only on a typo

            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in exc.message:
                exc.message = exc.message.rstrip(".") + ". Did you mean " + ", ".join(map(repr, matches)) + "?"
            raise


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
    cls=LazyGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as dist_version  # noqa: PLC0415 -- only for --version

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
    from gridlock.cli.errors import CliError  # noqa: PLC0415 -- lazy: --help imports no command code
    from gridlock.cli.output import Output  # noqa: PLC0415 -- lazy: --help imports no command code
    from gridlock.cli.state import choose_profile  # noqa: PLC0415 -- lazy: --help imports no command code

    try:
        choose_profile(profile_name)
    except CliError as exc:
        Output().fail(exc)
