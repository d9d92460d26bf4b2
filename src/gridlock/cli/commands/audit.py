"""``gridlock audit``: fetch and verify each guardian's signed audit log of a vault (exit 1 when one was
changed since it was last read: the heads seen are kept in ``DIR/audit-heads.json``).

The whole log is always fetched and verified (a chain is checked from its start); ``--limit`` and
``--all`` choose only how many of the newest entries are shown — for people 20 by default, with
``--json`` every entry unless ``--limit`` is given (each guardian's ``total`` says how many there are).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, VaultArg, command, owner_ops, split_list
from gridlock.cli.errors import CliError
from gridlock.cli.output import local_time
from gridlock.cli.state import resolve_vault

app = typer.Typer()  # merged into the root command (no group name)

DEFAULT_SHOWN = 20


def render_log(con: Console, results: dict[str, dict[str, Any]]) -> None:
    """Each guardian's log for people: the entries chosen, each with its local time, and how many
    were left out."""
    for g, r in results.items():
        if not r.get("ok"):
            con.print(f"[bold]{g}[/]: [red]{escape(str(r.get('error')))}[/]")
            continue
        mark = "[green]chain verified[/]" if r.get("verified") else "[yellow]not verified[/]"
        con.print(f"[bold]{g}[/] ({r['total']} entries, {mark})")
        for e in r["entries"]:
            stamp = local_time(e["time"]) if isinstance(e.get("time"), int) else "?"
            reason = f" ({e['reason']})" if e.get("reason") else ""
            con.print(escape(f"  #{e.get('n')} {stamp}  {e.get('op')} → {e.get('decision')}{reason}"))
        if len(r["entries"]) < r["total"]:
            con.print(f"  showing {len(r['entries'])} of {r['total']} — --all for more")


@app.command("audit")
def audit_cmd(
    vault: VaultArg,
    guardian: Annotated[list[str] | None, typer.Option("--guardian", "-g", help="Only these guardians.")] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            metavar="N",
            help="Show the newest N entries (default 20; --json: all).",
            show_default=False,
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Show every entry.")] = False,
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
        shown = None if all_ or (limit is None and json) else (limit or DEFAULT_SHOWN)
        for r in results.values():
            if r.get("ok"):
                r["total"] = len(r["entries"])
                r["entries"] = r["entries"][-shown:] if shown else r["entries"]
        doc = {"vault": entry["id"], "guardians": results}

        c.out.emit(doc, lambda con: render_log(con, results))
        tampered = [g for g, r in results.items() if r.get("code") == "audit-tampered"]
        if tampered:
            raise CliError(
                f"the audit log of {', '.join(tampered)} was changed since it was last read",
                hint="someone with that guardian's disk edited, cut short or replaced its log; ask its operator",
                code="audit-tampered",
            )

    command(json, dir_, password_file, body)
