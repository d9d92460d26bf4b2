"""What every ``gridlock`` command shares: the common options, :class:`Cmd` and :func:`command`.

A command's body is a function of a :class:`Cmd` run by :func:`command`, which turns every failure
into a message and an exit code (:mod:`gridlock.cli.errors`), never a traceback.
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import contextlib
import functools
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from gridlock.cli.agent import AgentClient
from gridlock.cli.errors import INTERRUPTED, CliError, classify
from gridlock.cli.output import Output
from gridlock.cli.profile import Profile, find_profile, load_profile
from gridlock.cli.state import Paths, paths_for, resolve_vault
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.cli.keyring import Keyring
    from gridlock.cli.owner import OwnerOps
    from gridlock.cli.sdk import OwnerSession

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Devnet or profile directory (default: ~/.gridlock/NAME for --profile NAME, else $GRIDLOCK_HOME, "
        "else ~/.gridlock/devnet).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PwOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read the owner's password from FILE (else $GRIDLOCK_PASSWORD, else a prompt)."
    ),
]
VaultArg = Annotated[str, typer.Argument(help="Vault id, unique id prefix, or name.", show_default=False)]
ChainOpt = Annotated[str, typer.Option("--chain", help="bitcoin, ethereum, solana or cosmos.")]
NetworkOpt = Annotated[
    str | None,
    typer.Option("--network", help="Bitcoin network (mainnet, testnet, signet, regtest) or Cosmos bech32 prefix."),
]


T = TypeVar("T")
VaultCall = Callable[["OwnerOps", "OwnerSession", dict[str, Any]], T]


@dataclass
class Cmd:
    out: Output
    paths: Paths
    password_file: Path | None = None
    _password: str | None = field(default=None, repr=False)
    _keyring: Keyring | None = field(default=None, repr=False)
    _profile: Profile | None = field(default=None, repr=False)

    def profile(self) -> Profile:
        """The devnet or deployment profile in ``--dir`` (exit code 3 when there is neither)."""
        if self._profile is None:
            self._profile = load_profile(self.paths)
        return self._profile

    def password(self, purpose: str = "unlock the owner's keyring") -> str:
        if self._password is None:
            from gridlock.cli.keyring import get_password

            self._password = get_password(self.password_file, purpose=purpose)
        return self._password

    def keyring(self) -> Keyring:
        """The unlocked keyring, decrypted once per command: with the unlocked session's key when
        there is one (``gridlock unlock``; ~1 ms), else with the password (Argon2id costs ~0.2 s; a
        wrong password typed at the terminal is asked again, :func:`gridlock.cli.keyring.unlock`)."""
        if self._keyring is None:
            from gridlock.cli.keyring import Keyring, unlock

            key = self.agent.key() if self.agent is not None else None
            if key is not None:
                with contextlib.suppress(CliError):  # a key that no longer opens it: the password
                    self._keyring = Keyring.load_with_key(self.paths.keyring, key)
            if self._keyring is None:
                self._keyring, self._password = unlock(self.paths.keyring, self.password_file, first=self._password)
        return self._keyring

    @functools.cached_property
    def agent(self) -> AgentClient | None:
        """The unlocked session's agent for this devnet directory, if there is a safe one."""
        return AgentClient.find(self.paths)

    def agent_sign(self, entry: dict[str, Any], message: bytes, path: str) -> bytes | None:
        """``message`` signed by the unlocked session's agent (on its open SDK connection), or None
        when no session answers: then the command signs itself."""
        if self.agent is None:
            return None
        answer = self.agent.call("sign", timeout=120.0, vault=entry["id"], message=message.hex(), path=path)
        if answer is None:
            return None
        try:
            return bytes.fromhex(str(answer["signature"]))
        except (KeyError, ValueError):
            raise CliError("the session's agent answered no signature", code="agent-error") from None

    def session(self) -> tuple[OwnerSession, Keyring]:
        from gridlock.cli.sdk import OwnerSession  # the SDK is imported only by commands that use it

        profile = self.profile()
        profile.route()  # fails (devnet not running) before the password is asked for
        keyring = self.keyring()
        try:
            return OwnerSession(profile, keyring), keyring
        except GridlockError as exc:
            raise profile.explain(classify(exc, profile.names(), f"connecting to the {profile.kind}")) from None

    def on_vault(
        self, vault: str, what: str, call: Callable[[OwnerOps, OwnerSession, dict[str, Any]], T]
    ) -> tuple[dict[str, Any], T]:
        """Run ``call(ops, session, vault entry)`` for an owner operation on a vault, its errors
        reported as ``what`` failing (guardians named); returns the vault entry and the result."""
        from gridlock.cli.owner import OwnerOps

        self.profile()
        entry = resolve_vault(self.paths, vault)
        session, _ = self.session()
        with session as s:
            try:
                return entry, call(OwnerOps(s), s, entry)
            except GridlockError as exc:
                raise s.error(exc, what) from None


def members(entry: dict[str, Any]) -> list[str]:
    """The guardian ids holding a vault, from its vault-book entry."""
    return [g for _, g in entry["members"]]


def command(json_mode: bool, dir_: Path | None, password_file: Path | None, body: Callable[[Cmd], None]) -> None:
    out = Output(json_mode)
    try:
        body(Cmd(out, paths_for(dir_), password_file))  # paths_for: a bad --profile name is a usage error
    except typer.Exit:
        raise
    except CliError as exc:
        out.fail(exc)
    except KeyboardInterrupt:
        out.fail(CliError("interrupted", exit_code=INTERRUPTED, code="interrupted"))
    except Exception as exc:  # every failure ends as a message and an exit code, never a traceback
        if os.environ.get("GRIDLOCK_DEBUG"):
            traceback.print_exc()
        names: dict[str, str] = {}
        with contextlib.suppress(CliError, GridlockError, OSError, ValueError, KeyError):
            found = find_profile(paths_for(dir_))
            names = found.names() if found else {}
        err = classify(exc, names)
        if err.code == "internal" and not err.hint:
            err.hint = "this is a bug in gridlock; run again with GRIDLOCK_DEBUG=1 for the traceback"
        out.fail(err)


def table(*columns: str, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    return t


def split_list(items: list[str] | None) -> list[str]:
    """Repeated options that may also hold comma-separated values, as one flat list."""
    return [x.strip() for item in items or [] for x in item.split(",") if x.strip()]


def devnet_module() -> Any:
    """:mod:`gridlock.cli.devnet`, imported on use (it pulls in the guardian node and the chains)."""
    from gridlock.cli import devnet

    return devnet


def owner_ops(session: OwnerSession) -> OwnerOps:
    from gridlock.cli.owner import OwnerOps

    return OwnerOps(session)


def grouped(lines: dict[str, str], of: int | None = None) -> list[str]:
    """Guardian → text as lines for people, guardians that say the same thing on one line
    (``every guardian: …`` when all ``of`` of them — default: every line — agree), in the order
    they first appear."""
    by_text: dict[str, list[str]] = {}
    for g, text in lines.items():
        by_text.setdefault(text, []).append(g)
    if len(by_text) == 1 and len(lines) > 1 and len(lines) == (len(lines) if of is None else of):
        return [f"every guardian: {next(iter(by_text))}"]
    return [f"{', '.join(names)}: {text}" for text, names in by_text.items()]


SAME_MOMENT = 60
"""Guardians whose time locks (of one kind) end within this many seconds of each other got them
from one request, a second or so apart: people see one end time, the latest."""


def aligned_unlocks(
    results: dict[str, dict[str, Any]], kind: Callable[[dict[str, Any]], object]
) -> dict[str, dict[str, Any]]:
    """``results`` with each ``unlock_at`` moved to the latest one of the same ``kind`` within
    :data:`SAME_MOMENT` of it, so one change that reached the guardians a second apart reads as one
    line rather than one line per second (``--json`` keeps each guardian's own time)."""
    locked = {g: r for g, r in results.items() if "error" not in r and r.get("unlock_at")}
    out = dict(results)
    for g, r in locked.items():
        t = int(r["unlock_at"])
        near = [
            int(o["unlock_at"])
            for o in locked.values()
            if kind(o) == kind(r) and abs(int(o["unlock_at"]) - t) <= SAME_MOMENT
        ]
        out[g] = {**r, "unlock_at": max(near)}
    return out


def per_guardian_render(
    title: str, results: dict[str, dict[str, Any]], show: Callable[[dict[str, Any]], str]
) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        con.print(f"[bold]{title}[/]")
        lines = {g: show(r) if r.get("ok", True) else f"[red]{r.get('error')}[/]" for g, r in results.items()}
        for line in grouped(lines):
            con.print(f"  {line}")

    return render


PathOpt = Annotated[
    str | None,
    typer.Option("--path", help="Sign with / show the non-hardened child key at this path, e.g. m/0/1."),
]


def book_root(entry: dict[str, Any]) -> Any:
    """The vault book's HD root (:class:`gridlock.crypto.hd.HdRoot`, fixed at keygen): every child
    key the CLI shows or signs with is derived from it, never from a guardian's answer."""
    from gridlock.cli.errors import usage
    from gridlock.client.hdroot import root_or_none

    key, chain_code = bytes.fromhex(entry.get("group_key", "")), bytes.fromhex(entry.get("chain_code", ""))
    root = root_or_none(entry["scheme"], key, chain_code)
    if root is None:
        raise usage(
            f"the vault book has no chain code for vault {entry['id']} (recorded at creation since HD wallets)",
            hint="`gridlock vault show VAULT --remote` records it when every guardian reports the same one",
        )
    return root


def check_path(path: str) -> str:
    """``path`` in its one spelling; a bad or hardened path is a usage error before any network."""
    from gridlock.cli.errors import usage

    if path == "m":  # the vault's own key: no need to load the HD code
        return path
    from gridlock.crypto import hd

    try:
        return hd.canonical_path(path)
    except GridlockError as exc:
        raise usage(str(exc)) from None
