"""``gridlock devnet up|status|down``: creating, starting and stopping a devnet (CLI side).

``up`` creates the devnet on first use — the owner's keyring (``gridlock.cli.keyring``), one
store and identity per guardian of :data:`gridlock.devnet.spec.STANDARD` (``guardians/NAME/``, each
under its own random secret; its role recorded in the state file), ``directory.json`` and the state
file — then starts the devnet host (:mod:`gridlock.devnet.host`): in this process (foreground,
until Ctrl-C) or detached.  A second ``up`` while the host lives is refused (exit code 5); a stale
state (host gone) is cleaned up first.
``down`` asks the host to stop over its socket, waits, and falls back to signals (only for
processes whose command line is ours).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridlock.cli.errors import CONFLICT, UNAVAILABLE, CliError, usage
from gridlock.cli.keyring import Keyring
from gridlock.cli.state import (
    STATE_FORMAT,
    Paths,
    load_state,
    locked,
    pid_alive,
    pid_is_ours,
    running_info,
    save_state,
    update_running,
)
from gridlock.devnet.host import HOST_MARKER, HostError, HostOptions, run_host
from gridlock.devnet.spec import STANDARD, GuardianSpec
from gridlock.devnet.stores import ENCLAVE_MODULE, GUARDIAN_MODULE, open_store
from gridlock.guardian.config import Directory
from gridlock.guardian.service import load_or_create_identity
from gridlock.transport import bridge
from gridlock.transport.errors import NatsServerError, NatsServerNotFound, TransportError
from gridlock.wire import PublicIdentity

NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")


def prepare(paths: Paths, password: str, spares: list[str]) -> tuple[dict[str, Any], Keyring, bool]:
    """The devnet's state and unlocked keyring, creating the devnet or adding spare guardians."""
    for name in spares:
        if NAME.fullmatch(name) is None:
            raise usage(f"bad guardian name {name!r}: 1-32 characters of a-z, 0-9 and '-', starting with a letter")
    with locked(paths):
        state = load_state(paths)
        created = state is None
        if state is None:
            paths.root.mkdir(parents=True, exist_ok=True)
            paths.root.chmod(0o700)
            keyring = Keyring.create(password)
            keyring.save(paths.keyring)
            state = {
                "format": STATE_FORMAT,
                "created": int(time.time()),
                "client_id": keyring.client_id,
                "keyring": paths.keyring.name,
                "directory": paths.directory.name,
                "guardians": [],
                "running": None,
            }
            directory = Directory({}, {keyring.client_id: keyring.identity.public})
            wanted = [*STANDARD, *(GuardianSpec(n) for n in spares)]
        else:
            keyring = Keyring.load(paths.keyring, password)
            directory = Directory.load(paths.directory)
            wanted = [GuardianSpec(n) for n in spares]
        known = {g["name"] for g in state["guardians"]}
        guardians: dict[str, PublicIdentity] = dict(directory.guardians)
        for spec in wanted:
            name = spec.name
            if name in known:
                continue
            secret = keyring.guardian_secrets.get(name) or secrets.token_hex(32)
            keyring.guardian_secrets[name] = secret
            keyring.save(paths.keyring)  # the secret is safe before its keystore exists
            gdir = paths.guardian(name)
            gdir.mkdir(parents=True, exist_ok=True)
            ks = open_store(name, spec.role, gdir, secret)
            try:
                identity = load_or_create_identity(ks, name)
            finally:
                ks.close()
            guardians[identity.guardian_id] = identity.public
            state["guardians"].append(
                {"name": name, "id": identity.guardian_id, "spare": spec not in STANDARD, "role": spec.role}
            )
            known.add(name)
        Directory(guardians, dict(directory.clients)).save(paths.directory)
        save_state(paths, state)
    return state, keyring, created


def check_not_running(paths: Paths) -> None:
    state = load_state(paths)
    if state is None:
        return
    running = running_info(paths, state)
    if running is not None:
        raise CliError(
            f"a devnet is already running in {paths.root} (host pid {running['host_pid']}, {running['mode']} mode)",
            hint="use it as it is, or stop it first with `gridlock devnet down`",
            exit_code=CONFLICT,
            code="already-running",
        )
    if state.get("running"):  # the host died without cleaning up
        cleanup(paths, state["running"])
        update_running(paths, None)


def cleanup(paths: Paths, running: dict[str, Any]) -> None:
    """Stop what a dead or stuck host left behind (only processes that are recognisably ours)."""
    for pid in (running.get("pids") or {}).values():
        if pid and pid != os.getpid() and any(pid_is_ours(pid, m) for m in (GUARDIAN_MODULE, ENCLAVE_MODULE)):
            _terminate(pid)
    nats_pid = running.get("nats_pid")
    if running.get("nats_managed") and nats_pid and pid_is_ours(nats_pid, "nats-server"):
        _terminate(nats_pid)
    sock = running.get("socket")
    if sock:
        with contextlib.suppress(OSError):
            Path(sock).unlink()


def _terminate(pid: int, wait: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_foreground(
    paths: Paths,
    state: dict[str, Any],
    keyring: Keyring,
    options: HostOptions,
    on_ready: Callable[[dict[str, Any]], None],
) -> None:
    try:
        asyncio.run(run_host(paths, state, dict(keyring.guardian_secrets), options, on_ready))
    except (NatsServerNotFound, NatsServerError) as exc:
        raise CliError(str(exc), hint="or pass --nats URL of a running NATS server", exit_code=UNAVAILABLE) from None
    except (HostError, TransportError) as exc:
        raise CliError(f"the devnet did not start: {exc}", exit_code=UNAVAILABLE, code="start-failed") from None


def start_detached(paths: Paths, keyring: Keyring, options: HostOptions, timeout: float = 120.0) -> dict[str, Any]:
    """Start the devnet host in the background; its running info once it is ready."""
    log = open(paths.log, "ab")  # noqa: SIM115 -- handed to the child
    try:
        proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", HOST_MARKER, "--dir", str(paths.root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=str(paths.root),
            start_new_session=True,
        )
    finally:
        log.close()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"secrets": keyring.guardian_secrets, "options": options.to_json()}).encode() + b"\n")
    proc.stdin.close()
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else b""), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        proc.kill()
        proc.wait()
        raise CliError(
            f"the devnet did not come up within {timeout:g} s", hint=f"see {paths.log}", exit_code=UNAVAILABLE
        )
    proc.stdout.close()
    try:
        answer = json.loads(box[0] or b"{}")
    except ValueError:
        answer = {}
    if "ready" not in answer:
        proc.wait(10)
        error = answer.get("error") or f"the devnet host exited with status {proc.poll()}"
        hint = f"see {paths.log}"
        if "nats-server" in error.lower() or "NatsServer" in error:
            hint = "install nats-server (`bash scripts/ensure-nats-server.sh`) or pass --nats URL; " + hint
        raise CliError(f"the devnet did not start: {error}", hint=hint, exit_code=UNAVAILABLE, code="start-failed")
    return dict(answer["ready"])


def stop(paths: Paths, timeout: float = 30.0) -> bool:
    """Stop the devnet; False if it was not running."""
    state = load_state(paths)
    if state is None or not state.get("running"):
        return False
    running = dict(state["running"])
    host_pid = running.get("host_pid")
    was_running = pid_alive(host_pid)
    if was_running:
        with contextlib.suppress(TransportError):
            asyncio.run(bridge.request(running["socket"], {"op": "shutdown"}, timeout=10))
        deadline = time.monotonic() + timeout
        while pid_alive(host_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if isinstance(host_pid, int) and host_pid != os.getpid() and pid_is_ours(host_pid, "gridlock"):
            _terminate(host_pid)
    cleanup(paths, running)
    update_running(paths, None)
    return was_running


def control(paths: Paths, running: dict[str, Any], op: str, *, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
    try:
        answer = asyncio.run(bridge.request(running["socket"], {"op": op, **params}, timeout=timeout))
    except TransportError as exc:
        raise CliError(str(exc), hint="`gridlock devnet status`", exit_code=UNAVAILABLE, code="devnet-down") from None
    if not answer.get("ok"):
        raise CliError(f"the devnet host refused {op}: {answer.get('error')}", code="host-refused")
    return answer
