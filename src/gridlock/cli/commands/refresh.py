"""``gridlock refresh``: proactive refresh of every share of a vault (same key, same addresses)."""

from __future__ import annotations

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command
from gridlock.cli.state import resolve_vault, save_vault
from gridlock.errors import GridlockError

app = typer.Typer()  # merged into the root command (no group name)


@app.command("refresh")
def refresh_cmd(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Proactive refresh: every share changes, the key and addresses stay (old shares become useless)."""

    def body(c: Cmd) -> None:
        c.profile()
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            with c.out.status("refreshing every share…"):
                try:
                    v = s.open_vault(entry)
                    before = v.epoch
                    s.refresh(v)
                except GridlockError as exc:
                    raise s.error(exc, "refresh") from None
            fresh = s.vault_entry(v, entry)
        save_vault(c.paths, fresh)
        doc = {
            "vault": entry["id"],
            "previous_epoch": before,
            "epoch": fresh["epoch"],
            "public_key": fresh["public_key"],
        }
        c.out.emit(doc, lambda con: con.print(f"vault {entry['id']} refreshed: epoch {before} → {fresh['epoch']}"))

    command(json, dir_, password_file, body)
