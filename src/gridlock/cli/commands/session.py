"""``gridlock unlock`` and ``gridlock lock``: the owner's unlocked session (:mod:`gridlock.cli.agent`)."""

# ruff: noqa: PLC0415 -- the keyring (and its KDF) is imported by `unlock` only

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from typing import Annotated

import typer

from gridlock.cli import agent
from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, command
from gridlock.cli.errors import CliError

app = typer.Typer()  # merged into the root command (no group name)

START_TIMEOUT = 20.0


@app.command("unlock")
def unlock_cmd(
    for_: Annotated[
        str, typer.Option("--for", help="How long the session lasts: 90s, 15m, 2h (at most 24h).", show_default=True)
    ] = "15m",
    status: Annotated[bool, typer.Option("--status", help="Only say whether a session is unlocked.")] = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Unlock the owner's keyring for a while (like ssh-agent): commands then need no password.

    The password's key is held by a small agent process (nothing is written to disk); `gridlock lock`
    or the end of the session makes it forget the key and exit.  Unlocking again starts a new session.
    """

    def body(c: Cmd) -> None:
        if status:
            doc = session_status(c)
            c.out.emit(doc, lambda con: con.print(_describe(doc)))
            return
        seconds = agent.parse_duration(for_)
        c.profile()
        _stop_agent(c)
        if os.environ.get(agent.NO_AGENT_ENV):
            raise CliError(f"${agent.NO_AGENT_ENV} is set: commands would not use the session", exit_code=2)
        directory = agent.agent_dir(c.paths)
        if os.path.lexists(directory):  # refused before the password is asked (the agent checks again)
            agent.check_private_dir(directory)
        from gridlock.cli.keyring import Keyring

        keyring = Keyring.load(c.paths.keyring, c.password())  # a wrong password fails here (exit 4)
        pid = _start_agent(c, keyring.key, seconds)
        doc = {"unlocked": True, "pid": pid, "seconds": seconds, "expires": int(time.time()) + seconds}
        c.out.emit(doc, lambda con: con.print(f"[green]unlocked[/] for {seconds} s (agent pid {pid})"))

    command(json, dir_, password_file, body)


@app.command("lock")
def lock_cmd(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """End the unlocked session now: the agent forgets the keyring and exits."""

    def body(c: Cmd) -> None:
        was = _stop_agent(c)
        doc = {"locked": True, "was_unlocked": was}
        c.out.emit(doc, lambda con: con.print("locked" if was else "no session was unlocked"))

    command(json, dir_, None, body)


def session_status(c: Cmd) -> dict[str, object]:
    client = agent.AgentClient.find(c.paths)
    answer = client.call("status") if client is not None else None
    if answer is None:
        return {"unlocked": False}
    expires = int(answer.get("expires", 0))
    return {"unlocked": True, "pid": answer.get("pid"), "expires": expires, "left": max(0, expires - int(time.time()))}


def _describe(doc: dict[str, object]) -> str:
    return f"unlocked ({doc['left']} s left)" if doc["unlocked"] else "locked"


def _stop_agent(c: Cmd) -> bool:
    """Lock the session of this devnet directory, if one answers; whether one did."""
    client = agent.AgentClient.find(c.paths)
    if client is None or client.call("lock") is None:
        return False
    deadline = time.monotonic() + 5.0
    while client.path.exists() and time.monotonic() < deadline:  # it removes its socket on the way out
        time.sleep(0.02)
    return True


def _start_agent(c: Cmd, key: bytes, seconds: int) -> int:
    """Start the agent, hand it the key through a pipe, wait for its ``ready``."""
    env = {k: v for k, v in os.environ.items() if k != "GRIDLOCK_PASSWORD"}
    cmd = [sys.executable, "-m", "gridlock.cli.agent_server", "--dir", str(c.paths.root), "--seconds", str(seconds)]
    proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # it outlives this command and its terminal
        close_fds=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(key.hex().encode() + b"\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    proc.stdout.close()
    if line.startswith("ready"):
        return proc.pid
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    message = line.removeprefix("error: ") or "the session's agent did not start"
    raise CliError(f"cannot unlock: {message}", code="agent-failed")
