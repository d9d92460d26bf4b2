"""Guardians as OS processes on a NATS router.

:class:`GuardianProcess` is one such guardian: its configuration file (written by
:func:`write_config`, role included), its secret (handed to the process in its environment, never
written next to the keystore) and, while it runs, ``python -m gridlock.guardian run`` (or
``gridlock.enclave.guardian`` for the enclave role).  The devnet host (NATS mode) and
:class:`ProcessCluster` (tests, ``bench/network.py``) are both made of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridlock.client.client import Client
from gridlock.client.owner import OwnerDevice
from gridlock.devnet.embedded import new_secret
from gridlock.devnet.spec import GuardianSpec, specs
from gridlock.devnet.stores import guardian_module, open_store
from gridlock.guardian.config import SECRET_ENV, Directory, config_text
from gridlock.guardian.service import load_or_create_identity
from gridlock.transport.nats import NatsTransport
from gridlock.transport.nats_auth import NatsAccess, NkeySeed
from gridlock.wire import Identity, PublicIdentity

OVERRIDES = ("GRIDLOCK_ROUTER", "GRIDLOCK_DATA_DIR", "GRIDLOCK_DIRECTORY")  # the file decides, not our environment


def write_config(
    spec: GuardianSpec,
    data_dir: Path,
    router: str,
    directory: Path,
    *,
    session_timeout: float,
    recovery_delay: float,
    header: str = "",
    nats_key: Path | None = None,
) -> Path:
    """``DATA_DIR/guardian.toml`` for ``spec`` (its role and NATS key included; paths relative to the file)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = config_text(
        spec.name,
        router,
        os.path.relpath(directory, data_dir),
        session_timeout=session_timeout,
        recovery_delay=recovery_delay,
        role=spec.role,
        nats_key=None if nats_key is None else os.path.relpath(nats_key, data_dir),
    )
    path = data_dir / "guardian.toml"
    path.write_text(header + text)
    return path


def _die_with_parent() -> None:  # pragma: no cover -- runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class GuardianProcess:
    """One guardian process: spawned from its configuration file, stopped, spawned again."""

    spec: GuardianSpec
    config: Path
    secret: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def log(self) -> Path:
        return self.config.parent / "guardian.log"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def spawn(self) -> None:
        """Start the process (nothing if it runs); :meth:`wait_ready` then waits for it."""
        if self.pid is not None:
            return
        self.stop()  # what is left of an earlier run that exited
        env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
        env[SECRET_ENV] = self.secret
        on_main = threading.current_thread() is threading.main_thread() and sys.platform.startswith("linux")
        with open(self.log, "ab") as errlog:
            self.proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
                [sys.executable, "-m", guardian_module(self.spec.role), "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errlog,
                env=env,
                preexec_fn=_die_with_parent if on_main else None,  # noqa: PLW1509 -- only prctl
            )

    def wait_ready(self, timeout: float) -> bool:
        """Whether the process says it is ready (one JSON line ``{"ready": ID}``) within ``timeout``."""
        proc = self.proc
        if proc is None or proc.stdout is None:
            return False
        fd, line, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return False
            chunk = os.read(fd, 4096)
            if not chunk:
                return False
            line += chunk
        try:
            return bool(json.loads(line).get("ready"))
        except (ValueError, AttributeError):
            return False

    def send_signal(self, sig: int) -> None:
        if self.pid is not None:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Send ``sig`` and wait; killed if it does not exit within ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            if sig != signal.SIGKILL:
                proc.send_signal(signal.SIGCONT)  # a paused process must run to take the signal
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class ProcessCluster:
    """Guardians as separate OS processes on a NATS server, and clients for them.

    Every guardian and client has its own NATS key (``DATA_DIR/NAME/nats.nkey``,
    ``DATA_DIR/nats/clients/ID.nkey``); :attr:`access` is the list a server admits them by
    (``NatsServer.start(access=…)`` or ``server.authorize(cluster.access)``).
    """

    data_dir: Path
    nats_url: str
    client_identity: Identity
    directory: Directory
    names: list[str]
    ids: list[str]
    processes: dict[str, GuardianProcess] = field(default_factory=dict)
    owner: OwnerDevice = field(default_factory=OwnerDevice)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nkeys: dict[str, NkeySeed] = field(default_factory=dict)  # endpoint name -> its NATS key

    @property
    def access(self) -> NatsAccess:
        """Who may use the NATS server: every guardian and client, each on its own subject."""
        guardians = {g: self.nkeys[g].public for g in self.ids}
        clients = {c: k.public for c, k in self.nkeys.items() if c not in guardians}
        return NatsAccess.for_network(guardians, clients)

    @classmethod
    def create(
        cls,
        data_dir: str | os.PathLike[str],
        guardians: Sequence[str | GuardianSpec],
        nats_url: str,
        *,
        session_timeout: float = 30.0,
        recovery_delay: float = 3600.0,
        extra_clients: Sequence[Identity] = (),
    ) -> ProcessCluster:
        """Write every guardian's configuration (``DATA_DIR/NAME/guardian.toml``), create their
        identities and the shared ``directory.json``; plain names are ordinary guardians."""
        base = Path(data_dir)
        base.mkdir(parents=True, exist_ok=True)
        client_identity = Identity.generate(name="owner")
        members: dict[str, PublicIdentity] = {}
        processes: dict[str, GuardianProcess] = {}
        ids = []
        nkeys: dict[str, NkeySeed] = {}
        for spec in specs(guardians):
            gdir, secret = base / spec.name, new_secret()
            config = write_config(
                spec,
                gdir,
                nats_url,
                base / "directory.json",
                session_timeout=session_timeout,
                recovery_delay=recovery_delay,
                nats_key=gdir / "nats.nkey",
            )
            store = open_store(spec.name, spec.role, gdir, secret)
            try:
                public = load_or_create_identity(store, spec.name).public
            finally:
                store.close()
            members[public.guardian_id] = public
            ids.append(public.guardian_id)
            nkeys[public.guardian_id] = NkeySeed.load_or_create(gdir / "nats.nkey")
            processes[spec.name] = GuardianProcess(spec, config, secret)
        clients = {c.guardian_id: c.public for c in (client_identity, *extra_clients)}
        for cid in clients:
            nkeys[cid] = NkeySeed.load_or_create(base / "nats" / "clients" / f"{cid}.nkey")
        directory = Directory(members, clients)
        directory.save(base / "directory.json")
        return cls(base, nats_url, client_identity, directory, list(processes), ids, processes, nkeys=nkeys)

    def start(self, names: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Start guardian processes and wait until each says that it is ready."""
        todo = [self.processes[n] for n in (names or self.names)]
        for p in todo:
            p.spawn()
        deadline = time.monotonic() + timeout
        for p in todo:
            if not p.wait_ready(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"guardian {p.name} did not start; see {p.log}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.processes[name].stop(sig)

    def pause(self, name: str) -> None:
        """Freeze a guardian process (SIGSTOP): alive to the network, answering nothing."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        for p in self.processes.values():
            p.stop()

    def id_of(self, name: str) -> str:
        return self.ids[self.names.index(name)]

    async def client(
        self, timeout: float = 40.0, identity: Identity | None = None, owner: OwnerDevice | None = None
    ) -> Client:
        ident = identity or self.client_identity
        transport = NatsTransport(self.nats_url, ident.guardian_id, nkey=self.nkeys.get(ident.guardian_id))
        await transport.start()
        c = Client(ident, transport, self.directory.everyone, timeout=timeout, owner=owner or self.owner)
        await c.start()
        return c
