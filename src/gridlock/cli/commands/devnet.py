"""``gridlock devnet up|status|down``: start, inspect and stop the local devnet.

The work is in :mod:`gridlock.cli.devnet` (imported on use); this module parses the options and
prints the devnet's state (:func:`devnet_doc`, also shown by ``guardian list``).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, command, devnet_module, table
from gridlock.cli.errors import UNAVAILABLE, usage
from gridlock.cli.keyring import get_password
from gridlock.cli.state import Paths, load_state, load_vaults, require_state, running_info

app = typer.Typer(
    help="Start, inspect and stop a local devnet (router + 5 guardians; devnet — not for real funds).",
    no_args_is_help=True,
)

NOT_FOR_REAL_FUNDS = (
    "devnet — not for real funds: its keyring holds every guardian's secret under your one password; "
    "for real funds run your own guardians (`gridlock init`, see the README)"
)


def nats_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a NATS server answers at ``url``: it greets every new connection with an ``INFO`` line
    (NATS client protocol), so an open port held by something else does not count."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"INFO")
    except (OSError, ValueError):
        return False


def router_up(running: dict[str, Any], host_answers: bool) -> bool:
    """Whether the devnet's router carries messages: its NATS server answers (NATS mode), or the host
    process that holds the in-process router answers on its socket (embedded mode)."""
    if running.get("mode") == "nats":
        return nats_answers(str(running.get("router")))
    return host_answers


def devnet_doc(paths: Paths, state: dict[str, Any], running: dict[str, Any] | None) -> dict[str, Any]:
    from gridlock.transport.bridge import host_status

    live = host_status(running["socket"]) if running else None
    states = (live or {}).get("guardians", {})
    return {
        "dir": str(paths.root),
        "running": running is not None,
        "mode": running["mode"] if running else None,
        "router": running["router"] if running else None,
        "router_up": router_up(running, live is not None) if running else False,
        "host_pid": running["host_pid"] if running else None,
        "started": running["started"] if running else None,
        "client_id": state["client_id"],
        "guardians": [
            {
                "name": g["name"],
                "id": g["id"],
                "spare": g.get("spare", False),
                "running": bool(states.get(g["name"], {}).get("running")),
                "pid": states.get(g["name"], {}).get("pid"),
            }
            for g in state["guardians"]
        ],
        "vaults": len(load_vaults(paths)),
        "for_real_funds": False,
    }


def render_devnet(doc: dict[str, Any]) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        if doc["running"] and not doc["router_up"]:
            con.print(f"[red]●[/] devnet [bold]router down[/] ({doc['mode']}) in {doc['dir']}")
            con.print(f"  router {doc['router']} [red]does not answer[/]: the guardians cannot be reached")
            con.print(f"  host pid {doc['host_pid']}  ·  {doc['vaults']} vault(s)")
            con.print("  restart it: `gridlock devnet down`, then `gridlock devnet up` as before")
        elif doc["running"]:
            con.print(f"[green]●[/] devnet [bold]running[/] ({doc['mode']}) in {doc['dir']}")
            con.print(f"  router {doc['router']}  ·  host pid {doc['host_pid']}  ·  {doc['vaults']} vault(s)")
        else:
            con.print(f"[red]●[/] devnet [bold]not running[/] in {doc['dir']}  ·  {doc['vaults']} vault(s)")
        t = table("guardian", "id", "state", "pid")
        for g in doc["guardians"]:
            st = "[green]up[/]" if g["running"] else "[red]down[/]"
            t.add_row(g["name"] + (" (spare)" if g["spare"] else ""), g["id"], st, str(g["pid"] or "-"))
        con.print(t)

    return render


@app.command("up")
def devnet_up(
    dir_: DirOpt = None,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            metavar="[URL]",
            help="Guardians as separate processes on NATS: the server at URL, or (no URL) a nats-server started here.",
        ),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background and return.")] = False,
    spare: Annotated[
        list[str] | None, typer.Option("--spare", help="Also provision a spare guardian NAME (repeatable).")
    ] = None,
    session_timeout: Annotated[float, typer.Option(help="Seconds per protocol run at the guardians.")] = 30.0,
    recovery_delay: Annotated[
        float | None, typer.Option(help="Device-recovery time lock in seconds (guardians' default if unset).")
    ] = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create (first time) and start the devnet: a router and guardians device, enclave, cloud, watch, friend.

    Devnet — not for real funds: its keyring holds every guardian's secret under the owner's one password.
    """

    def body(c: Cmd) -> None:
        devnetmod = devnet_module()
        from gridlock.devnet.host import HostOptions
        from gridlock.guardian.config import DEFAULT_RECOVERY_DELAY

        if not 1 <= session_timeout <= 3600:
            raise usage("--session-timeout must be 1..3600 seconds")
        devnetmod.check_not_running(c.paths)
        new = load_state(c.paths) is None
        if new:
            password = get_password(c.password_file, confirm=True, purpose="create the owner's keyring")
        else:
            c.keyring()  # opened before the devnet starts, so a mistyped password is asked again
            password = c.password()
        options = HostOptions(
            mode="nats" if nats else "embedded",
            nats=nats,
            session_timeout=session_timeout,
            recovery_delay=DEFAULT_RECOVERY_DELAY if recovery_delay is None else recovery_delay,
        )
        with c.out.status("preparing the devnet…"):
            state, keyring, created = devnetmod.prepare(c.paths, password, list(spare or []))
        if detach:
            with c.out.status(f"starting {len(state['guardians'])} guardians ({options.mode})…"):
                running = devnetmod.start_detached(c.paths, keyring, options)
            doc = devnet_doc(c.paths, state, running) | {"created": created}
            c.out.emit(doc, render_devnet(doc))
            c.out.note(f"[yellow]{NOT_FOR_REAL_FUNDS}[/]")
            if not c.out.json:
                c.out.note("stop it with `gridlock devnet down`")
            return

        def ready(running: dict[str, Any]) -> None:
            doc = devnet_doc(c.paths, state, None) | {"created": created, "running": True}
            doc.update({k: running[k] for k in ("mode", "router", "host_pid", "started")})
            doc["guardians"] = [g | {"running": True} for g in doc["guardians"]]
            c.out.emit(doc, render_devnet(doc))
            c.out.note(f"[yellow]{NOT_FOR_REAL_FUNDS}[/]")
            if not c.out.json:
                c.out.note("[dim]serving in the foreground; Ctrl-C (or `gridlock devnet down`) stops it[/]")

        devnetmod.start_foreground(c.paths, state, keyring, options, ready)
        if not c.out.json:
            c.out.note("devnet stopped")

    command(json, dir_, password_file, body)


@app.command("status")
def devnet_status(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Whether the devnet runs, its router and each guardian (exit code 3 when it is not running or its
    router does not answer)."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        running = running_info(c.paths, state)
        doc = devnet_doc(c.paths, state, running)
        c.out.emit(doc, render_devnet(doc))
        if running is None or not doc["router_up"]:
            raise typer.Exit(UNAVAILABLE)

    command(json, dir_, None, body)


@app.command("down")
def devnet_down(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Stop the devnet (its guardians keep their keystores: `devnet up` brings the same vaults back)."""

    def body(c: Cmd) -> None:
        with c.out.status("stopping the devnet…"):
            stopped = devnet_module().stop(c.paths)
        doc = {"dir": str(c.paths.root), "stopped": stopped, "running": False}
        c.out.emit(
            doc, lambda con: con.print("devnet stopped" if stopped else f"no devnet was running in {c.paths.root}")
        )

    command(json, dir_, None, body)
