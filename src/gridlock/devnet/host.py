"""The devnet host: the one long-lived process of a devnet, which CLI commands talk to.

Every ``gridlock`` command is a short process, so a devnet must live in processes of its own.
``gridlock devnet up`` runs this host in the foreground (until Ctrl-C or ``gridlock devnet down``)
or, with ``--detach``, as a background process (``python -m gridlock.devnet.host --dir DIR``, its own
session, secrets handed over on its stdin, never on the command line or in the environment).

Two modes, one on-disk layout (:mod:`gridlock.devnet.layout`), so a devnet made in one mode comes up
in the other with the same guardians, roles and vaults:

* **embedded** (default): a :class:`~gridlock.transport.local.LocalRouter` and the guardians
  (:class:`~gridlock.devnet.embedded.EmbeddedGuardian`: a node on the store of its role) all run in
  the host's event loop — no server needed, up in about a second.  Commands reach the router through
  the host's Unix socket (:mod:`gridlock.transport.bridge`), as endpoints of it.
* **nats** (``--nats [URL]``): each guardian is a separate OS process
  (:class:`~gridlock.devnet.processes.GuardianProcess`: ``python -m gridlock.guardian run --config
  guardians/NAME/guardian.toml``, its role in that file, its secret in its environment) on a NATS
  server — the one at URL, or one the host starts (``nats-server`` from the distribution) on a free
  loopback port.  Commands connect to NATS directly; the host supervises the processes (they die
  with it: ``PR_SET_PDEATHSIG``) and answers control requests.  Every guardian and client has its
  own NATS key (:mod:`gridlock.transport.nats_auth`, files in the layout); a server the host starts
  admits only those keys, each to its own subject; for a server at URL the host writes the access
  list to ``nats/authorization.conf``, for its operator to include.

Control requests on the socket (one JSON frame each, see :mod:`gridlock.transport.bridge`):
``{"op": "ping"}``, ``{"op": "status"}``, ``{"op": "stop-guardian", "name": N}``,
``{"op": "start-guardian", "name": N}``, ``{"op": "add-guardian", "name": N, "secret": S}``,
``{"op": "shutdown"}``.

``add-guardian`` takes a guardian that ``gridlock guardian add`` has just made (keystore, identity,
state file, directory; its secret comes with the request, over the devnet's private socket as the
others came over the host's stdin): the host admits its NATS key (NATS mode), starts it, and
restarts every running guardian on the new directory so that each knows the newcomer's identity —
the devnet stays up, its vaults untouched (a session running at that moment may fail; run it again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridlock.devnet.embedded import EmbeddedGuardian
from gridlock.devnet.layout import Paths, guardian_specs, read_state, update_running
from gridlock.devnet.processes import GuardianProcess, write_config
from gridlock.devnet.spec import GuardianSpec
from gridlock.guardian.config import DEFAULT_RECOVERY_DELAY, Directory
from gridlock.transport.bridge import BridgeServer
from gridlock.transport.local import LocalRouter
from gridlock.transport.nats_auth import NatsAccess, NkeySeed
from gridlock.transport.server import NatsServer

log = logging.getLogger("gridlock.devnet.host")
HOST_MARKER = "gridlock.devnet.host"


@dataclass
class HostOptions:
    mode: str = "embedded"  # or "nats"
    nats: str | None = None  # a URL, or "auto": start a nats-server
    session_timeout: float = 30.0
    recovery_delay: float = DEFAULT_RECOVERY_DELAY
    guardian_startup: float = 60.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class HostError(Exception):
    """The devnet could not start; the message says why."""


@dataclass
class DevnetHost:
    paths: Paths
    state: dict[str, Any]
    secrets: dict[str, str]
    options: HostOptions
    router: LocalRouter | None = None
    nats_server: NatsServer | None = None
    nats_url: str | None = None
    embedded: dict[str, EmbeddedGuardian] = field(default_factory=dict)
    processes: dict[str, GuardianProcess] = field(default_factory=dict)
    server: BridgeServer | None = None
    started: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def guardians(self) -> list[GuardianSpec]:
        """The devnet's guardians and their roles, from its state file."""
        return guardian_specs(self.state)

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.guardians]

    # --- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        self.started = time.time()
        directory = Directory.load(self.paths.directory)
        socket_path = self.paths.socket
        try:
            if self.options.mode == "embedded":
                self.router = LocalRouter()
                for spec in self.guardians:
                    self._open_embedded(spec, directory)
                    await self._start_embedded(spec.name, directory)
            else:
                await self._start_nats()
            self.server = BridgeServer(socket_path, self.router, self.control, private_dir=self.paths.socket_private)
            await self.server.start()
        except BaseException:
            await self.stop()
            raise
        running = self.running_info()
        update_running(self.paths, running)
        log.info("devnet up: %s", running)
        return running

    def running_info(self) -> dict[str, Any]:
        pids: dict[str, int | None] = {}
        for name in self.names:
            if self.options.mode == "embedded":
                g = self.embedded.get(name)
                pids[name] = os.getpid() if g is not None and g.task is not None else None
            else:
                p = self.processes.get(name)
                pids[name] = p.pid if p is not None else None
        return {
            "mode": self.options.mode,
            "router": self.nats_url if self.options.mode == "nats" else f"unix:{self.paths.socket}",
            "socket": str(self.paths.socket),
            "host_pid": os.getpid(),
            "pids": pids,
            "nats_pid": self.nats_server.pid if self.nats_server is not None else None,
            "nats_managed": self.nats_server is not None,
            "started": int(self.started),
            "session_timeout": self.options.session_timeout,
        }

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        for g in list(self.embedded.values()):
            await g.stop()
            g.close()
        self.embedded.clear()
        for p in self.processes.values():
            p.stop()
        self.processes.clear()
        if self.router is not None:
            await self.router.close()
            self.router = None
        if self.nats_server is not None:
            self.nats_server.stop()
            self.nats_server = None
        update_running(self.paths, None)

    # --- embedded guardians -------------------------------------------------------------------------
    def _open_embedded(self, spec: GuardianSpec, directory: Directory) -> None:
        g = EmbeddedGuardian.open(spec, self.paths.guardian(spec.name), self.secrets[spec.name])
        if g.identity.guardian_id not in directory.guardians:
            g.close()
            raise HostError(f"guardian {spec.name} ({g.identity.guardian_id}) is not in {self.paths.directory}")
        self.embedded[spec.name] = g

    async def _start_embedded(self, name: str, directory: Directory | None = None) -> None:
        g = self.embedded[name]
        if g.task is not None:
            return
        assert self.router is not None
        directory = directory or Directory.load(self.paths.directory)
        await g.start(
            self.router,
            directory.everyone,
            directory.clients,
            session_timeout=self.options.session_timeout,
            recovery_delay=self.options.recovery_delay,
        )

    # --- guardian processes on NATS -----------------------------------------------------------------
    def nats_access(self) -> NatsAccess:
        """Every guardian's and client's NATS key (made on first use) and what each may reach."""
        directory = Directory.load(self.paths.directory)
        ids = {str(g["name"]): str(g["id"]) for g in self.state.get("guardians", [])}
        guardians = {
            ids[spec.name]: NkeySeed.load_or_create(self.paths.guardian_nkey(spec.name)).public
            for spec in self.guardians
            if ids.get(spec.name) in directory.guardians
        }
        clients = {c: NkeySeed.load_or_create(self.paths.client_nkey(c)).public for c in directory.clients}
        return NatsAccess.for_network(guardians, clients)

    async def _start_nats(self) -> None:
        access = self.nats_access()
        if self.options.nats in (None, "", "auto"):
            self.nats_server = await asyncio.to_thread(NatsServer.start, 0, self.paths.nats, access=access)
            self.nats_url = self.nats_server.url
        else:
            self.nats_url = self.options.nats
            self.paths.nats.mkdir(parents=True, exist_ok=True)
            (self.paths.nats / "authorization.conf").write_text(access.config())
        for spec in self.guardians:
            self._make_process(spec)
        await asyncio.gather(*(self._start_process(name) for name in self.names))

    def _make_process(self, spec: GuardianSpec) -> None:
        assert self.nats_url is not None
        config = write_config(
            spec,
            self.paths.guardian(spec.name),
            self.nats_url,
            self.paths.directory,
            session_timeout=self.options.session_timeout,
            recovery_delay=self.options.recovery_delay,
            header="# written by `gridlock devnet up`\n",
            nats_key=self.paths.guardian_nkey(spec.name),
        )
        self.processes[spec.name] = GuardianProcess(spec, config, self.secrets[spec.name])

    async def _start_process(self, name: str) -> None:
        p = self.processes[name]
        if p.pid is not None:
            return
        p.spawn()
        if not await asyncio.to_thread(p.wait_ready, self.options.guardian_startup):
            p.stop(signal.SIGKILL)
            raise HostError(f"guardian {name} did not start; see {p.log}")

    # --- control ------------------------------------------------------------------------------------
    def guardian_states(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in self.names:
            if self.options.mode == "embedded":
                g = self.embedded.get(name)
                up = g is not None and g.running
                out[name] = {"running": up, "pid": os.getpid() if up else None}
            else:
                p = self.processes.get(name)
                proc = p.proc if p else None
                code = proc.poll() if proc is not None else None
                out[name] = {
                    "running": proc is not None and code is None,
                    "pid": proc.pid if proc is not None and code is None else None,
                    **({"exit_code": code} if code is not None else {}),
                }
        return out

    async def control(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            return {"ok": True, **self.running_info(), "guardians": self.guardian_states()}
        if op in ("stop-guardian", "start-guardian"):
            name = req.get("name")
            if name not in self.names:
                return {"ok": False, "error": f"unknown guardian {name!r}"}
            assert isinstance(name, str)
            if op == "stop-guardian":
                if self.options.mode == "embedded":
                    await self.embedded[name].stop()
                else:
                    await asyncio.to_thread(self.processes[name].stop)
            elif self.options.mode == "embedded":
                await self._start_embedded(name)
            else:
                await self._start_process(name)
            update_running(self.paths, self.running_info())
            return {"ok": True, "guardians": self.guardian_states()}
        if op == "add-guardian":
            return await self._add_guardian(req.get("name"), req.get("secret"))
        if op == "shutdown":
            asyncio.get_running_loop().call_later(0.05, self.request_stop)
            return {"ok": True}
        return {"ok": False, "error": f"unknown control op {op!r}"}

    async def _add_guardian(self, name: object, secret: object) -> dict[str, Any]:
        """Start a guardian new to the state file; every running one restarts on the new directory."""
        if not isinstance(name, str) or not isinstance(secret, str) or not secret:
            return {"ok": False, "error": "add-guardian needs a name and a secret"}
        state = read_state(self.paths)
        if state is None:
            return {"ok": False, "error": "the state file is gone"}
        known = set(self.names)
        self.state = state
        spec = next((g for g in self.guardians if g.name == name), None)
        if spec is None or name in known:
            return {"ok": False, "error": f"{name!r} is not a new guardian of the state file"}
        self.secrets[name] = secret
        directory = Directory.load(self.paths.directory)
        running = [n for n, st in self.guardian_states().items() if st["running"] and n != name]
        if self.options.mode == "embedded":
            self._open_embedded(spec, directory)
            for n in running:
                await self.embedded[n].stop()
            for n in [*running, name]:
                await self._start_embedded(n, directory)
        else:
            access = self.nats_access()
            if self.nats_server is not None:
                await asyncio.to_thread(self.nats_server.authorize, access)
            else:  # a server the devnet did not start: its operator includes the new list
                (self.paths.nats / "authorization.conf").write_text(access.config())
            self._make_process(spec)
            for n in running:
                await asyncio.to_thread(self.processes[n].stop)
            await asyncio.gather(*(self._start_process(n) for n in [*running, name]))
        update_running(self.paths, self.running_info())
        return {"ok": True, "guardians": self.guardian_states()}


async def run_host(
    paths: Paths,
    state: dict[str, Any],
    secrets: dict[str, str],
    options: HostOptions,
    on_ready: Callable[[dict[str, Any]], None],
) -> None:
    """Start the devnet, call ``on_ready``, serve until stopped (signal or ``shutdown``), stop."""
    host = DevnetHost(paths, state, secrets, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, host.request_stop)
    await host.start()
    try:
        on_ready(host.running_info())
        await host.wait()
    finally:
        await host.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m gridlock.devnet.host --dir DIR``: the detached devnet (one JSON line on stdin)."""
    ap = argparse.ArgumentParser(prog="python -m gridlock.devnet.host")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args(argv)
    paths = Paths(Path(args.dir))
    logging.basicConfig(
        filename=str(paths.log), level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        spec = json.loads(sys.stdin.readline())
        sys.stdin.close()
        state = json.loads(paths.state.read_text())
        options = HostOptions(**spec["options"])
        secrets = {str(k): str(v) for k, v in spec["secrets"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(json.dumps({"error": f"bad devnet host input: {exc}"}), flush=True)
        return 2

    def ready(info: dict[str, Any]) -> None:
        print(json.dumps({"ready": info}), flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)  # nobody reads our stdout any more
        os.dup2(devnull, 1)
        os.close(devnull)

    try:
        asyncio.run(run_host(paths, state, secrets, options, ready))
    except Exception as exc:
        log.exception("devnet host failed")
        with contextlib.suppress(OSError, ValueError):
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
