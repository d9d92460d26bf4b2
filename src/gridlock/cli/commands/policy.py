"""``gridlock policy set|replace|cancel|show``: the vault's spending policy at its guardians.

``set`` merges options into the policy the guardians enforce; ``replace`` sets a whole policy from
a file; both are owner-approved requests.  Each guardian applies what tightens at once and holds
what loosens for the policy's loosening delay, telling the owner's devices (``cancel`` drops it).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    grouped,
    members,
    owner_ops,
    per_guardian_render,
    split_list,
)
from gridlock.cli.errors import usage
from gridlock.cli.state import resolve_vault
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="The vault's spending policy at its guardians.", no_args_is_help=True)

LimitOpt = Annotated[
    list[str] | None, typer.Option("--limit", help="CHAIN:AMOUNT or CHAIN:ASSET:AMOUNT, then /SECONDS (default a day).")
]
AllowOpt = Annotated[list[str] | None, typer.Option("--allow", help="CHAIN:ADDRESS to add to the allow-list.")]
DisallowOpt = Annotated[list[str] | None, typer.Option("--disallow", help="CHAIN:ADDRESS to take off it.")]
TimelockOpt = Annotated[list[str] | None, typer.Option("--timelock", help="CHAIN:ABOVE:SECONDS hold for large spends.")]
RateOpt = Annotated[str | None, typer.Option("--rate", help="MAX/SECONDS signatures per period.")]
RawOpt = Annotated[str | None, typer.Option("--raw-signing", help="on|off: sign bare hashes despite chain rules.")]
WatchOpt = Annotated[str | None, typer.Option("--watch", help="GUARDIAN that must co-sign every signature.")]
DelayOpt = Annotated[str | None, typer.Option("--loosen-delay", help="SECONDS a loosening waits.")]
RemoveOpt = Annotated[
    list[str] | None,
    typer.Option("--remove", help="limit:CHAIN(:ASSET), timelock:CHAIN, allow:CHAIN, rate or watch."),
]
GuardiansOpt = Annotated[list[str] | None, typer.Option("--guardians", "-g", help="Only these guardians.")]


def _render_set(title: str, results: dict[str, dict[str, Any]]) -> Any:
    from gridlock.cli.output import when

    aligned, now = aligned_unlocks(results, lambda r: r.get("reasons")), time.time()

    def line(r: dict[str, Any]) -> str:
        if r.get("unlock_at"):
            return f"tightened now; loosening waits until {when(r['unlock_at'], now)} ({'; '.join(r['reasons'])})"
        return f"in force (fingerprint {r['fingerprint'][:16]})"

    return per_guardian_render(title, aligned, line)


def render_policies(con: Console, vault_id: str, results: dict[str, dict[str, Any]]) -> None:
    """``policy show`` for people: each distinct policy once, rule by rule, with the guardians that
    enforce it; then what waits (a loosening and its end time) and the guardians that did not answer."""
    from gridlock.cli.output import when
    from gridlock.cli.policy_options import describe_lines

    by_print: dict[str, list[str]] = {}
    for g, r in results.items():
        if r.get("ok"):
            by_print.setdefault(r["fingerprint"], []).append(g)
    con.print(f"[bold]policy of vault {vault_id}[/]")
    for fingerprint, names in by_print.items():
        rules = results[names[0]]["rules"]
        who = "every guardian" if len(names) == len(results) else ", ".join(names)
        con.print(f"  enforced by {who} (fingerprint {fingerprint[:16]}):")
        for line in describe_lines(rules):
            con.print(f"    {escape(line)}")
    waiting: dict[str, str] = {}
    now = time.time()
    for g, r in aligned_unlocks(results, lambda r: r.get("reasons")).items():
        if not r.get("ok"):
            waiting[g] = f"[red]{escape(str(r.get('error')))}[/]"
        elif r.get("unlock_at"):
            waiting[g] = f"a loosening waits until {when(r['unlock_at'], now)}: {escape('; '.join(r['reasons']))}"
    for line in grouped(waiting, of=len(results)):
        con.print(f"  {line}")
    if len(by_print) > 1:
        con.print("[red]the guardians enforce different policies: set one with `policy replace`[/]")


def _send(c: Cmd, vault: str, guardians: list[str] | None, build: Any) -> None:
    """Resolve the vault and target guardians, build the new document from the current one, send it."""
    profile = c.profile()
    entry = resolve_vault(c.paths, vault)
    targets = [profile.resolve_guardian(r)["id"] for r in split_list(guardians)] or [g for _, g in entry["members"]]
    session, _ = c.session()
    with session as s:
        ops = owner_ops(s)
        handle = s.open_vault(entry)
        try:
            doc_rules = build(lambda: ops.policy_now(handle), profile.doc)
            results = ops.policy_set(handle, doc_rules, targets)
        except GridlockError as exc:
            raise s.error(exc, "policy") from None
    doc = {"vault": entry["id"], "rules": doc_rules, "guardians": results}
    c.out.emit(doc, _render_set(f"policy of vault {entry['id']}", results))


@app.command("set")
def policy_set(
    vault: VaultArg,
    limit: LimitOpt = None,
    allow: AllowOpt = None,
    disallow: DisallowOpt = None,
    timelock: TimelockOpt = None,
    rate: RateOpt = None,
    raw_signing: RawOpt = None,
    watch: WatchOpt = None,
    loosen_delay: DelayOpt = None,
    remove: RemoveOpt = None,
    guardians: GuardiansOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Change the policy: the options are merged into the one the guardians enforce now."""

    def body(c: Cmd) -> None:
        from gridlock.cli.policy_options import PolicyOptions, apply

        def build(current: Any, state: dict[str, Any]) -> dict[str, Any]:
            o = PolicyOptions(
                limits=tuple(limit or ()),
                allow=tuple(allow or ()),
                disallow=tuple(disallow or ()),
                timelocks=tuple(timelock or ()),
                rate=rate,
                raw_signing=raw_signing,
                watch=None if watch is None else c.profile().resolve_guardian(watch)["id"],
                loosen_delay=loosen_delay,
                remove=tuple(remove or ()),
            )
            if o.empty():
                hint = "give a rule option; `policy replace --rules FILE` sets a whole policy"
                raise usage("nothing to change", hint=hint)
            return apply(current(), o)

        _send(c, vault, guardians, build)

    command(json, dir_, password_file, body)


@app.command("replace")
def policy_replace(
    vault: VaultArg,
    rules: Annotated[Path, typer.Option("--rules", help="JSON file with the whole new policy ({} for none).")],
    guardians: GuardiansOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replace the whole policy with the one in a file (what it loosens waits the loosening delay)."""

    def body(c: Cmd) -> None:
        from gridlock.cli.policy_options import PolicyOptions, apply, read_rules_file

        _send(c, vault, guardians, lambda _current, _state: apply(read_rules_file(rules), PolicyOptions()))

    command(json, dir_, password_file, body)


@app.command("cancel")
def policy_cancel(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Drop a policy loosening that waits (from the owner's device)."""

    def body(c: Cmd) -> None:
        entry, _ = c.on_vault(vault, "policy cancel", lambda o, s, e: o.policy_cancel(s.open_vault(e), members(e)))
        c.out.emit({"vault": entry["id"], "cancelled": True}, lambda con: con.print("the waiting change is dropped"))

    command(json, dir_, password_file, body)


@app.command("show")
def policy_show(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Each guardian's policy for a vault, its fingerprint, and a change that waits."""

    def body(c: Cmd) -> None:
        entry, results = c.on_vault(vault, "policy show", lambda o, s, e: o.policy_show(s.open_vault(e), members(e)))
        prints = {r["fingerprint"] for r in results.values() if r.get("ok")}
        doc = {"vault": entry["id"], "guardians": results, "agree": len(prints) == 1}
        c.out.emit(doc, lambda con: render_policies(con, entry["id"], results))

    command(json, dir_, password_file, body)
