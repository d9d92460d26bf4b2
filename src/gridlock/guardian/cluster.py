"""Several guardians at once: in one process on the local router, or as OS processes on NATS.

Used by the tests, the benchmark and the devnet.  Each guardian has its own data directory, its
own keystore and its own random key-encryption secret (held by the cluster object and handed to
a guardian process through its environment, never written next to the keystore).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridlock.client.client import Client
from gridlock.client.owner import OwnerDevice
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.config import SECRET_ENV, Directory, config_text, guardian_kind
from gridlock.guardian.keystore import Keystore, ShareStore
from gridlock.guardian.node import GuardianNode, RegisteredClients
from gridlock.guardian.service import load_or_create_identity
from gridlock.transport.base import Transport
from gridlock.transport.local import LocalRouter
from gridlock.transport.nats import NatsTransport
from gridlock.wire import Identity, PublicIdentity

ENCLAVE_MODULE = "gridlock.enclave.guardian"  # run by name: the enclave package builds on this one


def _new_secret() -> str:
    return secrets.token_hex(32)


@dataclass
class _Embedded:
    name: str
    identity: Identity
    keystore: ShareStore
    transport: Transport
    node: GuardianNode
    audit: AuditLog
    task: asyncio.Task[None] | None = None


@dataclass
class EmbeddedCluster:
    """``n`` guardians and a client on one :class:`LocalRouter`, all in this event loop."""

    data_dir: Path
    router: LocalRouter
    client_identity: Identity
    directory: dict[str, PublicIdentity]
    guardians: list[_Embedded] = field(default_factory=list)
    client: Client | None = None
    secrets_: dict[str, str] = field(default_factory=dict)
    owner: OwnerDevice = field(default_factory=OwnerDevice)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    recovery_delay: float = 3600.0
    extra_clients: list[str] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        data_dir: str | os.PathLike[str],
        names: Sequence[str],
        *,
        router: LocalRouter | None = None,
        session_timeout: float = 30.0,
        recovery_delay: float = 3600.0,
        stores: Mapping[str, Callable[[Path], ShareStore]] | None = None,
    ) -> EmbeddedCluster:
        """``stores`` gives a guardian another store than SQLite, by name (e.g. the enclave guardian's
        custody contract); each factory gets that guardian's data path."""
        base = Path(data_dir)
        base.mkdir(parents=True, exist_ok=True)
        client_identity = Identity.generate(name="owner")
        cluster = cls(base, router or LocalRouter(), client_identity, {}, recovery_delay=recovery_delay)
        opened = []
        for name in names:
            cluster.secrets_[name] = _new_secret()
            ks: ShareStore
            if stores and name in stores:
                ks = stores[name](base / name)
            else:
                ks = Keystore.open(base / f"{name}.db", cluster.secrets_[name].encode())
            opened.append((name, ks, load_or_create_identity(ks, name)))
        cluster.directory = {i.guardian_id: i.public for _, _, i in opened} | {
            client_identity.guardian_id: client_identity.public
        }
        for name, ks, identity in opened:
            transport = cluster.router.connect(identity.guardian_id)
            await transport.start()
            audit = AuditLog(base / f"{name}.audit.db")
            node = cluster._node(name, identity, ks, transport, audit, session_timeout)
            g = _Embedded(name, identity, ks, transport, node, audit)
            g.task = asyncio.ensure_future(node.serve())
            cluster.guardians.append(g)
        ct = cluster.router.connect(client_identity.guardian_id)
        await ct.start()
        cluster.client = Client(
            client_identity, ct, cluster.directory, timeout=session_timeout + 10, owner=cluster.owner
        )
        await cluster.client.start()
        return cluster

    def _node(
        self, name: str, identity: Identity, ks: ShareStore, transport: Transport, audit: AuditLog, timeout: float
    ) -> GuardianNode:
        return GuardianNode(
            identity,
            ks,
            transport,
            self.directory,
            authorizer=RegisteredClients(self.clients),
            session_timeout=timeout,
            audit=audit,
            kind=guardian_kind(name),
            recovery_delay=self.recovery_delay,
        )

    @property
    def clients(self) -> list[str]:
        return [self.client_identity.guardian_id, *self.extra_clients]

    @property
    def ids(self) -> list[str]:
        return [g.identity.guardian_id for g in self.guardians]

    def add_client(self, identity: Identity) -> None:
        """Register another client device (e.g. a recovering owner's new device) with every guardian."""
        self.extra_clients.append(identity.guardian_id)
        self.directory[identity.guardian_id] = identity.public
        for g in self.guardians:
            g.node.directory[identity.guardian_id] = identity.public
            g.node.authorizer = RegisteredClients(self.clients)

    async def stop_guardian(self, i: int) -> None:
        """Take guardian ``i`` offline (its transport closes; nothing it holds is lost)."""
        g = self.guardians[i]
        g.node.stop()
        await g.transport.close()
        if g.task is not None:
            await asyncio.gather(g.task, return_exceptions=True)
            g.task = None

    async def start_guardian(self, i: int) -> None:
        g = self.guardians[i]
        if g.task is not None:
            return
        g.transport = self.router.connect(g.identity.guardian_id)
        await g.transport.start()
        g.node = self._node(g.name, g.identity, g.keystore, g.transport, g.audit, g.node.session_timeout)
        g.task = asyncio.ensure_future(g.node.serve())

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            await self.client.transport.close()
        for i in range(len(self.guardians)):
            await self.stop_guardian(i)
        for g in self.guardians:
            g.keystore.close()
            g.audit.close()


@dataclass
class ProcessCluster:
    """``n`` guardians as separate OS processes (``python -m gridlock.guardian run``) on a NATS server."""

    data_dir: Path
    nats_url: str
    client_identity: Identity
    directory: Directory
    names: list[str]
    ids: list[str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    secrets_: dict[str, str] = field(default_factory=dict)
    owner: OwnerDevice = field(default_factory=OwnerDevice)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    enclave: list[str] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        data_dir: str | os.PathLike[str],
        names: Sequence[str],
        nats_url: str,
        *,
        session_timeout: float = 30.0,
        recovery_delay: float = 3600.0,
        extra_clients: Sequence[Identity] = (),
        enclave_names: Sequence[str] = (),
    ) -> ProcessCluster:
        """Write every guardian's configuration, create their identities and the shared directory."""
        base = Path(data_dir)
        base.mkdir(parents=True, exist_ok=True)
        client_identity = Identity.generate(name="owner")
        guardians: dict[str, PublicIdentity] = {}
        ids, secrets_ = [], {}
        for name in names:
            gdir = base / name
            gdir.mkdir(exist_ok=True)
            secrets_[name] = _new_secret()
            (gdir / "guardian.toml").write_text(
                config_text(
                    name,
                    nats_url,
                    "../directory.json",
                    session_timeout=session_timeout,
                    recovery_delay=recovery_delay,
                )
            )
            if name in enclave_names:  # its identity lives in the custody contract: let it make it
                out = subprocess.run(  # noqa: S603 -- our own interpreter and module
                    [sys.executable, "-m", ENCLAVE_MODULE, "init", "--config", str(gdir / "guardian.toml")],
                    capture_output=True,
                    check=True,
                    env={**os.environ, SECRET_ENV: secrets_[name]},
                    timeout=120,
                )
                public = PublicIdentity.from_bytes(bytes.fromhex(json.loads(out.stdout)["public"]))
            else:
                ks = Keystore.open(gdir / "keystore.db", secrets_[name].encode())
                try:
                    public = load_or_create_identity(ks, name).public
                finally:
                    ks.close()
            guardians[public.guardian_id] = public
            ids.append(public.guardian_id)
        clients = {c.guardian_id: c.public for c in (client_identity, *extra_clients)}
        directory = Directory(guardians, clients)
        directory.save(base / "directory.json")
        return cls(
            base, nats_url, client_identity, directory, list(names), ids, {}, secrets_, enclave=list(enclave_names)
        )

    def start(self, names: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Start guardian processes and wait until each prints that it is ready."""
        todo = list(names or self.names)
        for name in todo:
            env = dict(os.environ)
            env[SECRET_ENV] = self.secrets_[name]
            log = (self.data_dir / name / "guardian.log").open("ab")
            self.processes[name] = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    ENCLAVE_MODULE if name in self.enclave else "gridlock.guardian",
                    "run",
                    "--config",
                    str(self.data_dir / name / "guardian.toml"),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + timeout
        for name in todo:
            proc = self.processes[name]
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line or "ready" not in json.loads(line or b"{}") or time.monotonic() > deadline:
                raise RuntimeError(f"guardian {name} did not start; see {self.data_dir / name / 'guardian.log'}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=10)

    def pause(self, name: str) -> None:
        """Freeze a guardian process (SIGSTOP): alive to the network, answering nothing."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def id_of(self, name: str) -> str:
        return self.ids[self.names.index(name)]

    async def client(
        self, timeout: float = 40.0, identity: Identity | None = None, owner: OwnerDevice | None = None
    ) -> Client:
        ident = identity or self.client_identity
        transport = NatsTransport(self.nats_url, ident.guardian_id)
        await transport.start()
        c = Client(ident, transport, self.directory.everyone, timeout=timeout, owner=owner or self.owner)
        await c.start()
        return c
