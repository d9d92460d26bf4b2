"""``gridlock vault repair|add-guardian|remove-guardian|threshold|export``: a vault's committee and its exit.

Each is the SDK's (:class:`gridlock.client.Vault`): ``repair`` (``Vault.repair``: ``t`` helpers
rebuild the share a guardian lost, then every share is refreshed), ``add-guardian`` /
``remove-guardian`` / ``threshold`` (``Vault.reshare`` to a new committee or threshold: the key and
addresses stay, every share is new, a removed guardian's share is useless), and ``export``
(``Vault.export``: ``t`` guardians hand the owner their shares, approved by the owner's device key;
a guardian refuses when the vault's policy has chain rules without ``export: true``).  Every
change is approved by the owner's device key and the vault book is updated from the result.

The exported key is written only to the file ``--out`` names (mode 0600), never to the terminal
or the JSON document; the command asks first unless ``--yes``.
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command, members
from gridlock.cli.commands.vault import app, render_vault, vault_doc
from gridlock.cli.errors import CliError, usage
from gridlock.cli.state import resolve_vault, save_vault
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.cli.sdk import OwnerSession
    from gridlock.client import Vault

GuardianArg = Annotated[str, typer.Argument(help="Guardian name, id or unique id prefix.", show_default=False)]
ThresholdOpt = Annotated[
    int | None, typer.Option("--threshold", "-t", help="The new threshold [default: keep it].", show_default=False)
]


def _change(c: Cmd, vault: str, what: str, status: str, call: Callable[[OwnerSession, Vault], int]) -> dict[str, Any]:
    """Open the vault from its holders, run the key change, record the result in the vault book."""
    c.profile()
    entry = resolve_vault(c.paths, vault)
    session, _ = c.session()
    with session as s:
        with c.out.status(status):
            try:
                v = s.open_vault(entry, fresh=True)
                before = v.epoch
                epoch = call(s, v)
            except GridlockError as exc:
                raise s.error(exc, what) from None
        fresh = s.vault_entry(v, entry)
    save_vault(c.paths, fresh)
    return vault_doc(fresh) | {"previous_epoch": before, "epoch": epoch}


def _check_threshold(threshold: int | None, n: int) -> None:
    if threshold is not None and not 2 <= threshold <= n:
        raise usage(f"--threshold must be between 2 and the number of guardians ({n})")


@app.command("repair")
def vault_repair(
    vault: VaultArg, guardian: GuardianArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False
) -> None:
    """Rebuild the share a guardian lost (its disk died) from t others; then every share is refreshed."""

    def body(c: Cmd) -> None:
        g = c.profile().resolve_guardian(guardian)
        if g["id"] not in members(resolve_vault(c.paths, vault)):
            raise usage(f"{g['name']} is not a guardian of vault {vault}", hint="`gridlock vault show`")
        doc = _change(
            c,
            vault,
            "repair",
            f"rebuilding {g['name']}'s share…",
            lambda s, v: s.run(v.repair(g["id"], password=c.password())),
        )
        doc["repaired"] = g["name"]
        c.out.emit(doc, render_vault(doc, f"{g['name']}'s share rebuilt; every share refreshed in vault"))

    command(json, dir_, password_file, body)


@app.command("add-guardian")
def vault_add_guardian(
    vault: VaultArg,
    guardian: GuardianArg,
    threshold: ThresholdOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a guardian to a vault (reshare to the larger committee: same key, every share new)."""

    def body(c: Cmd) -> None:
        g = c.profile().resolve_guardian(guardian)
        held = members(resolve_vault(c.paths, vault))
        if g["id"] in held:
            raise usage(f"{g['name']} already holds a share of vault {vault}")
        _check_threshold(threshold, len(held) + 1)
        doc = _change(
            c,
            vault,
            "adding a guardian",
            f"resharing to {len(held) + 1} guardians…",
            lambda s, v: s.run(v.add_guardian(g["id"], threshold, password=c.password())),
        )
        c.out.emit(doc | {"added": g["name"]}, render_vault(doc, f"{g['name']} added to vault"))

    command(json, dir_, password_file, body)


@app.command("remove-guardian")
def vault_remove_guardian(
    vault: VaultArg,
    guardian: GuardianArg,
    threshold: ThresholdOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove a guardian from a vault (reshare without it: its share becomes useless)."""

    def body(c: Cmd) -> None:
        g = c.profile().resolve_guardian(guardian)
        entry = resolve_vault(c.paths, vault)
        held = members(entry)
        if g["id"] not in held:
            raise usage(f"{g['name']} is not a guardian of vault {vault}", hint="`gridlock vault show`")
        left = len(held) - 1
        if threshold is None and int(entry["threshold"]) > left:
            raise usage(f"{left} guardians cannot keep a {entry['threshold']}-of threshold", hint="pass --threshold")
        _check_threshold(threshold, left)
        doc = _change(
            c,
            vault,
            "removing a guardian",
            f"resharing to {left} guardians…",
            lambda s, v: s.run(v.remove_guardian(g["id"], threshold)),
        )
        c.out.emit(doc | {"removed": g["name"]}, render_vault(doc, f"{g['name']} removed from vault"))

    command(json, dir_, password_file, body)


@app.command("threshold")
def vault_threshold(
    vault: VaultArg,
    threshold: Annotated[int, typer.Argument(help="Signatures needed from now on.", show_default=False)],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Change how many guardians must sign (reshare among the same guardians)."""

    def body(c: Cmd) -> None:
        entry = resolve_vault(c.paths, vault)
        _check_threshold(threshold, len(members(entry)))
        if threshold == int(entry["threshold"]):
            raise usage(f"vault {entry['id']} already needs {threshold} signatures")
        doc = _change(
            c,
            vault,
            "changing the threshold",
            f"resharing with threshold {threshold}…",
            lambda s, v: s.run(v.change_threshold(threshold)),
        )
        c.out.emit(doc, render_vault(doc, f"threshold now {threshold} in vault"))

    command(json, dir_, password_file, body)


@app.command("export")
def vault_export(
    vault: VaultArg,
    out: Annotated[Path, typer.Option("--out", help="Write the private key (hex) to this new file (mode 0600).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")] = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """The emergency exit: t guardians hand over their shares and the whole private key is rebuilt here."""

    def body(c: Cmd) -> None:
        from gridlock.files import write_private

        entry = resolve_vault(c.paths, vault)
        if out.exists():
            raise usage(f"{out} exists; export writes a new file only")
        if not yes:
            if not sys.stdin.isatty():
                raise usage("export rebuilds the whole key in one place: confirm with --yes")
            question = (
                f"Rebuild the whole private key of vault {entry['id']} on this machine (it is then no longer "
                "protected by the guardians)?"
            )
            if not typer.confirm(question):
                raise CliError("export cancelled: nothing was asked of the guardians", code="cancelled")
        c.profile()
        session, _ = c.session()
        with session as s, c.out.status("collecting t shares…"):
            try:
                key = s.run(s.open_vault(entry).export())
            except GridlockError as exc:
                raise s.error(exc, "export") from None
        write_private(out, key.hex().encode() + b"\n")
        doc = {"vault": entry["id"], "scheme": entry["scheme"], "public_key": entry["public_key"], "out": str(out)}
        c.out.emit(doc, lambda con: con.print(f"the private key of vault {entry['id']} is in {out} (keep it offline)"))

    command(json, dir_, password_file, body)
