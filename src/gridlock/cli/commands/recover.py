"""``gridlock recover start|status|cancel|finish``: time-locked device recovery (owner security)."""

from __future__ import annotations

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command, owner_ops, per_guardian_render
from gridlock.cli.errors import usage
from gridlock.cli.state import require_state, resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer(help="Time-locked device recovery (owner security).", no_args_is_help=True)


@app.command("start")
def recover_start(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From a new device: prove the password and open a time-locked recovery (the old device is told).

    Every vault's recovery moves it onto the same new device key: recover each vault of the lost device.
    """

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            try:
                unlock = owner_ops(s).recovery_start(entry["id"], [g for _, g in entry["members"]], c.password())
            except GridlockError as exc:
                raise s.error(exc, "recovery start") from None
        doc = {"vault": entry["id"], "unlock_at": unlock}
        c.out.emit(doc, lambda con: con.print(f"recovery open; guardians unlock at {max(unlock.values())}"))

    command(json, dir_, password_file, body)


@app.command("status")
def recover_status(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Each guardian's view of a vault's device recovery."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            results = owner_ops(s).recovery_status(entry["id"], [g for _, g in entry["members"]])
        doc = {"vault": entry["id"], "guardians": results}
        c.out.emit(doc, per_guardian_render(f"recovery of vault {entry['id']}", results, str))

    command(json, dir_, password_file, body)


@app.command("cancel")
def recover_cancel(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From the registered device: cancel a recovery during its time lock."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            try:
                owner_ops(s).recovery_cancel(s.open_vault(entry))
            except GridlockError as exc:
                raise s.error(exc, "recovery cancel") from None
        c.out.emit({"vault": entry["id"], "cancelled": True}, lambda con: con.print("recovery cancelled"))

    command(json, dir_, password_file, body)


@app.command("finish")
def recover_finish(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """After the time lock: the guardians accept the new device key for this vault (the other vaults
    keep the key they answer to until their own recovery finishes)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        if entry["id"] not in c.keyring().keys.recovering:
            raise usage("no recovery was started from this keyring", hint="`gridlock recover start VAULT`")
        session, _ = c.session()
        with session as s:
            try:
                old_key = owner_ops(s).recovery_finish(entry["id"], [g for _, g in entry["members"]], c.password())
            except GridlockError as exc:
                raise s.error(exc, "recovery finish") from None
        doc = {"vault": entry["id"], "finished": True, "vaults_on_old_key": old_key}
        note = f"; still on the old device key (recover them too): {', '.join(old_key)}" if old_key else ""
        c.out.emit(doc, lambda con: con.print("recovery finished" + note))

    command(json, dir_, password_file, body)
