"""``gridlock recover start|status|cancel|finish``: time-locked device recovery (owner security)."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.markup import escape

from gridlock.cli.commands.common import (
    Cmd,
    DirOpt,
    JsonOpt,
    PwOpt,
    VaultArg,
    aligned_unlocks,
    command,
    members,
    per_guardian_render,
)
from gridlock.cli.errors import usage
from gridlock.cli.output import when
from gridlock.cli.state import resolve_vault

app = typer.Typer(help="Time-locked device recovery (owner security).", no_args_is_help=True)


def recovery_line(r: dict[str, Any]) -> str:
    """One guardian's view of a recovery for people (``--json`` keeps the raw state and Unix time)."""
    if "error" in r:
        return f"[red]{escape(str(r['error']))}[/]"
    state, unlock = str(r.get("state")), int(r.get("unlock_at") or 0)
    if state == "none":
        return "no recovery"
    if state == "open":
        if unlock <= time.time():
            return f"open — the time lock ended {when(unlock)}: `recover finish` may run"
        return f"open — the time lock ends {when(unlock)}"
    return escape(state)


@app.command("start")
def recover_start(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From a new device: prove the password and open a time-locked recovery (the old device is told).

    Every vault's recovery moves it onto the same new device key: recover each vault of the lost device.
    """

    def body(c: Cmd) -> None:
        entry, unlock = c.on_vault(
            vault, "recovery start", lambda o, _s, e: o.recovery_start(e["id"], members(e), c.password())
        )
        doc = {"vault": entry["id"], "unlock_at": unlock}
        last = when(max(unlock.values()))
        c.out.emit(doc, lambda con: con.print(f"recovery open; the guardians' time lock ends {last}"))

    command(json, dir_, password_file, body)


@app.command("status")
def recover_status(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Each guardian's view of a vault's device recovery."""

    def body(c: Cmd) -> None:
        entry, results = c.on_vault(vault, "recovery status", lambda o, _s, e: o.recovery_status(e["id"], members(e)))
        doc = {"vault": entry["id"], "guardians": results}
        shown = aligned_unlocks(results, lambda r: r.get("state"))
        c.out.emit(doc, per_guardian_render(f"recovery of vault {entry['id']}", shown, recovery_line))

    command(json, dir_, password_file, body)


@app.command("cancel")
def recover_cancel(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From the registered device: cancel a recovery during its time lock."""

    def body(c: Cmd) -> None:
        entry, _ = c.on_vault(vault, "recovery cancel", lambda o, s, e: o.recovery_cancel(s.open_vault(e)))
        c.out.emit({"vault": entry["id"], "cancelled": True}, lambda con: con.print("recovery cancelled"))

    command(json, dir_, password_file, body)


@app.command("finish")
def recover_finish(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """After the time lock: the guardians accept the new device key for this vault (the other vaults
    keep the key they answer to until their own recovery finishes)."""

    def body(c: Cmd) -> None:
        if resolve_vault(c.paths, vault)["id"] not in c.keyring().keys.recovering:
            raise usage("no recovery was started from this keyring", hint="`gridlock recover start VAULT`")
        entry, old_key = c.on_vault(
            vault, "recovery finish", lambda o, _s, e: o.recovery_finish(e["id"], members(e), c.password())
        )
        doc = {"vault": entry["id"], "finished": True, "vaults_on_old_key": old_key}
        note = f"; still on the old device key (recover them too): {', '.join(old_key)}" if old_key else ""
        c.out.emit(doc, lambda con: con.print("recovery finished" + note))

    command(json, dir_, password_file, body)
