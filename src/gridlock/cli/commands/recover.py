"""``gridlock recover start|status|cancel|finish``: time-locked device recovery (owner security)."""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import secrets

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command, owner_ops, per_guardian_render
from gridlock.cli.errors import usage
from gridlock.cli.state import require_state, resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer(help="Time-locked device recovery (owner security).", no_args_is_help=True)


@app.command("start")
def recover_start(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From a new device: prove the password and open a time-locked recovery (the old device is told)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        keyring = c.keyring()
        if keyring.pending_device is None:
            keyring.pending_device = secrets.token_bytes(32)
            keyring.save(c.paths.keyring)
        from gridlock.client.owner import OwnerDevice

        lost = OwnerDevice.from_bytes(keyring.device).public
        session, _ = c.session(pending_device=True)
        with session as s:
            try:
                unlock = owner_ops(s).recovery_start(entry["id"], [g for _, g in entry["members"]], lost, c.password())
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
        session, keyring = c.session()
        with session as s:
            try:
                owner_ops(s).recovery_cancel(s.open_vault(entry))
            except GridlockError as exc:
                raise s.error(exc, "recovery cancel") from None
        keyring.pending_device = None
        keyring.save(c.paths.keyring)
        c.out.emit({"vault": entry["id"], "cancelled": True}, lambda con: con.print("recovery cancelled"))

    command(json, dir_, password_file, body)


@app.command("finish")
def recover_finish(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """After the time lock: the guardians accept the new device, which becomes this keyring's device."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        keyring = c.keyring()
        if keyring.pending_device is None:
            raise usage("no recovery was started from this keyring", hint="`gridlock recover start VAULT`")
        session, _ = c.session(pending_device=True)
        with session as s:
            try:
                owner_ops(s).recovery_finish(entry["id"], [g for _, g in entry["members"]], c.password())
            except GridlockError as exc:
                raise s.error(exc, "recovery finish") from None
        keyring.device, keyring.pending_device = keyring.pending_device, None
        keyring.save(c.paths.keyring)
        c.out.emit({"vault": entry["id"], "finished": True}, lambda con: con.print("recovery finished"))

    command(json, dir_, password_file, body)
