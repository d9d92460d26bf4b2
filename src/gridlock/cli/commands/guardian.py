"""``gridlock guardian replace|list|stop|start|init|run``: the devnet's guardians, and one real guardian."""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gridlock.cli.commands.common import (
    Cmd,
    DirOpt,
    JsonOpt,
    PwOpt,
    VaultArg,
    command,
    devnet_module,
    split_list,
    table,
)
from gridlock.cli.commands.devnet import devnet_doc
from gridlock.cli.commands.vault import render_vault, vault_doc
from gridlock.cli.errors import CliError, usage
from gridlock.cli.profile import DevnetProfile, Profile
from gridlock.cli.state import load_vaults, require_running, resolve_guardian, resolve_vault, running_info, save_vault
from gridlock.errors import GridlockError


def _new_guardian(profile: Profile, ref: str) -> dict[str, Any]:
    """The guardian joining a vault; an unknown one is explained (how to make it known)."""
    try:
        return profile.resolve_guardian(ref)
    except CliError as exc:
        if isinstance(profile, DevnetProfile):
            exc.hint = f"{exc.hint}; add a new one to the devnet with `gridlock guardian add {ref}`"
        else:
            exc.hint = (
                f"{exc.hint}; add its public identity to directory.json (its operator gets it from "
                "`gridlock guardian init`), then `gridlock init --directory directory.json` in this profile"
            )
        raise


app = typer.Typer(
    help="Guardians: list, replace in a vault, add/stop/start (devnet), init/run (your own).", no_args_is_help=True
)


@app.command("add")
def guardian_add(
    name: Annotated[str, typer.Argument(help="The new guardian's name (a-z, 0-9, '-').", show_default=False)],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a new guardian to the devnet (devnet — not for real funds); a running devnet starts it at once."""

    def body(c: Cmd) -> None:
        profile = c.profile()
        if not isinstance(profile, DevnetProfile):
            raise usage(
                "`guardian add` adds a guardian to a devnet",
                hint="for your own guardians: its operator runs `gridlock guardian init`, adds it to "
                "directory.json and NATS access, then `gridlock init --directory directory.json` here",
            )
        if any(g["name"] == name for g in profile.guardians):
            raise usage(f"the devnet has a guardian {name!r} already")
        with c.out.status(f"adding guardian {name}…"):
            state, keyring, _ = devnet_module().prepare(c.paths, c.password(), [name])
            added = next(g for g in state["guardians"] if g["name"] == name)
            running = running_info(c.paths, state)
            if running is not None:
                devnet_module().control(
                    c.paths, running, "add-guardian", timeout=180.0, name=name, secret=keyring.guardian_secrets[name]
                )
        doc = {"guardian": name, "id": added["id"], "running": running is not None}
        c.out.emit(
            doc,
            lambda con: con.print(
                f"guardian {name} ({added['id']}) added"
                + (" and started" if running else "; it starts with `gridlock devnet up`")
                + f"; e.g. `gridlock guardian replace VAULT friend {name}`"
            ),
        )

    command(json, dir_, password_file, body)


@app.command("replace")
def guardian_replace(
    vault: VaultArg,
    old: Annotated[str, typer.Argument(help="The guardian leaving the vault.", show_default=False)],
    new: Annotated[str, typer.Argument(help="The guardian taking its place.", show_default=False)],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replace a guardian of a vault (reshare: same key, every share new, the old guardian's share useless)."""

    def body(c: Cmd) -> None:
        profile = c.profile()
        entry = resolve_vault(c.paths, vault)
        g_old, g_new = profile.resolve_guardian(old), _new_guardian(profile, new)
        members = [g for _, g in entry["members"]]
        if g_old["id"] not in members:
            raise usage(f"{g_old['name']} is not a guardian of vault {entry['id']}", hint="`gridlock vault show`")
        if g_new["id"] in members:
            raise usage(f"{g_new['name']} already holds a share of vault {entry['id']}")
        session, _ = c.session()
        with session as s:
            with c.out.status(f"resharing: {g_old['name']} → {g_new['name']}…"):
                try:
                    v = s.open_vault(entry, fresh=True)
                    s.replace_guardian(v, g_old["id"], g_new["id"], c.password())
                except GridlockError as exc:
                    raise s.error(exc, "guardian replacement") from None
            fresh = s.vault_entry(v, entry)
        save_vault(c.paths, fresh)
        doc = vault_doc(fresh) | {"replaced": g_old["name"], "by": g_new["name"]}
        c.out.emit(doc, render_vault(doc, f"{g_old['name']} replaced by {g_new['name']} in vault"))

    command(json, dir_, password_file, body)


@app.command("list")
def guardian_list(
    ping: Annotated[
        bool, typer.Option("--ping/--no-ping", help="Ask each guardian to answer (needs the password).")
    ] = True,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """The guardians: name, id, process state (devnet), whether they answer, and the vaults they hold."""

    def body(c: Cmd) -> None:
        profile = c.profile()
        reachable = True
        if isinstance(profile, DevnetProfile):
            running = running_info(c.paths, profile.doc)
            reachable = running is not None
            listed = devnet_doc(c.paths, profile.doc, running)["guardians"]
        else:  # a deployment's guardians run on their own hosts: whether they answer is all we can see
            listed = [g | {"running": None, "pid": None} for g in profile.guardians]
        vaults = load_vaults(c.paths)
        answering: set[str] | None = None
        if ping and reachable:
            session, _ = c.session()
            with session as s:
                answering = set(s.ping([g["id"] for g in profile.guardians]))
        rows = []
        for g in listed:
            held = [v["id"] for v in vaults if g["id"] in [m for _, m in v["members"]]]
            rows.append(g | {"answers": None if answering is None else g["id"] in answering, "vaults": held})

        def render(con: Console) -> None:
            t = table("guardian", "id", "process", "answers", "vaults")
            for r in rows:
                ans = "-" if r["answers"] is None else ("[green]yes[/]" if r["answers"] else "[red]no[/]")
                t.add_row(
                    r["name"] + (" (spare)" if r["spare"] else ""), r["id"],
                    _process(r["running"]), ans, str(len(r["vaults"])),
                )  # fmt: skip
            con.print(t)

        c.out.emit({"running": reachable, "guardians": rows}, render)

    command(json, dir_, password_file, body)


def _process(running: bool | None) -> str:
    return "-" if running is None else ("[green]up[/]" if running else "[red]down[/]")


def _guardian_power(names: list[str], op: str, dir_: Path | None, json: bool) -> None:
    def body(c: Cmd) -> None:
        state, running = require_running(c.paths)
        chosen = [resolve_guardian(state, n) for n in split_list(names)]
        if not chosen:
            raise usage("name at least one guardian")
        states: dict[str, Any] = {}
        verb = "stopping" if op == "stop-guardian" else "starting"
        with c.out.status(f"{verb} {', '.join(g['name'] for g in chosen)}…"):
            for g in chosen:
                states = devnet_module().control(c.paths, running, op, name=g["name"])["guardians"]
        docs = [
            {
                "guardian": g["name"],
                "id": g["id"],
                "running": states[g["name"]]["running"],
                "pid": states[g["name"]].get("pid"),
            }
            for g in chosen
        ]

        def render(con: Console) -> None:
            for d in docs:
                con.print(f"guardian {d['guardian']} is {'up' if d['running'] else 'down'}")

        c.out.emit(docs[0] if len(docs) == 1 else {"guardians": docs}, render)

    command(json, dir_, None, body)


GuardianNames = Annotated[list[str], typer.Argument(help="Guardian name(s).", show_default=False)]


@app.command("stop")
def guardian_stop(names: GuardianNames, dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Take devnet guardians offline (they keep their keystores)."""
    _guardian_power(names, "stop-guardian", dir_, json)


@app.command("start")
def guardian_start(names: GuardianNames, dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Bring stopped devnet guardians back."""
    _guardian_power(names, "start-guardian", dir_, json)


@app.command("init")
def guardian_init(
    config: Annotated[Path, typer.Option("--config", help="The guardian's TOML configuration.")],
    json: JsonOpt = False,
) -> None:
    """Create a guardian's keystore and identity; prints its id and public identity for the directory."""

    def body(c: Cmd) -> None:
        from gridlock.devnet.stores import open_configured
        from gridlock.guardian import service

        info = service.init(config, open_store=open_configured)
        c.out.emit(
            info, lambda con: con.print(f"guardian {info['name']}: {info['id']}\npublic identity {info['public']}")
        )

    command(json, None, None, body)


@app.command("run")
def guardian_run(
    config: Annotated[Path, typer.Option("--config", help="The guardian's TOML configuration.")],
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
    json: JsonOpt = False,
) -> None:
    """Run one guardian in the foreground on its NATS router (for real deployments); prints {"ready": ID}."""
    import asyncio
    import logging

    from gridlock.devnet.stores import open_configured
    from gridlock.guardian import service

    def body(c: Cmd) -> None:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
        try:
            asyncio.run(service.serve(config, open_store=open_configured))
        except GridlockError as exc:
            raise usage(str(exc)) from None

    command(json, None, None, body)
