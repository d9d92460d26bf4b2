"""``gridlock audit``: fetch and verify each guardian's signed audit log of a vault (exit 1 when one was
changed since it was last read: the heads seen are kept in ``DIR/audit-heads.json``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command, owner_ops, split_list
from gridlock.cli.errors import CliError
from gridlock.cli.state import resolve_vault

app = typer.Typer()  # merged into the root command (no group name)


@app.command("audit")
def audit_cmd(
    vault: VaultArg,
    guardian: Annotated[list[str] | None, typer.Option("--guardian", "-g", help="Only these guardians.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Fetch and verify each guardian's signed audit log of a vault."""

    def body(c: Cmd) -> None:
        profile = c.profile()
        entry = resolve_vault(c.paths, vault)
        targets = [profile.resolve_guardian(r)["id"] for r in split_list(guardian)] or [g for _, g in entry["members"]]
        session, _ = c.session()
        with session as s:
            results = owner_ops(s).audit(s.open_vault(entry), targets)
        doc = {"vault": entry["id"], "guardians": results}

        def render(con: Console) -> None:
            for g, r in results.items():
                if not r.get("ok"):
                    con.print(f"[bold]{g}[/]: [red]{r.get('error')}[/]")
                    continue
                mark = "[green]chain verified[/]" if r.get("verified") else "[yellow]not verified[/]"
                con.print(f"[bold]{g}[/] ({len(r['entries'])} entries, {mark})")
                for e in r["entries"][-20:]:
                    con.print(f"  #{e.get('n')} {e.get('op')} → {e.get('decision')} {e.get('reason') or ''}")

        c.out.emit(doc, render)
        tampered = [g for g, r in results.items() if r.get("code") == "audit-tampered"]
        if tampered:
            raise CliError(
                f"the audit log of {', '.join(tampered)} was changed since it was last read",
                hint="someone with that guardian's disk edited, cut short or replaced its log; ask its operator",
                code="audit-tampered",
            )

    command(json, dir_, password_file, body)
