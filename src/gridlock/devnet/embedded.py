"""Guardians in this process, on one :class:`~gridlock.transport.local.LocalRouter`.

:class:`EmbeddedGuardian` is one such guardian (its store, identity, audit log and, while it runs,
its node); the devnet host (embedded mode) and :class:`EmbeddedCluster` (tests, the demo) are both
made of them.  Each guardian has its own data directory ``DATA_DIR/NAME`` and its own random
key-encryption secret, held by whoever opened it, never written next to the keystore.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridlock.client.client import Client
from gridlock.client.owner import OwnerDevice
from gridlock.devnet.spec import GuardianSpec, specs
from gridlock.devnet.stores import open_store
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.node import GuardianNode
from gridlock.guardian.service import build_node, load_or_create_identity
from gridlock.guardian.store import ShareStore
from gridlock.transport.base import Transport
from gridlock.transport.local import LocalRouter
from gridlock.wire import Identity, PublicIdentity

StoreOpener = Callable[[GuardianSpec, Path, str], ShareStore | None]
"""(spec, data directory, secret) → the guardian's store, or ``None`` for its role's own."""


def new_secret() -> str:
    """A fresh key-encryption secret for one guardian."""
    return secrets.token_hex(32)


@dataclass
class EmbeddedGuardian:
    """One guardian in this event loop: its store and identity always, its node while it runs."""

    spec: GuardianSpec
    identity: Identity
    keystore: ShareStore
    audit: AuditLog
    transport: Transport | None = None
    node: GuardianNode | None = None
    task: asyncio.Task[None] | None = None

    @classmethod
    def open(
        cls, spec: GuardianSpec, data_dir: Path, secret: str, stores: StoreOpener | None = None
    ) -> EmbeddedGuardian:
        """Open (or create) the guardian's store, identity and audit log in ``data_dir``; ``stores``
        may open the store instead (``None`` from it: the role's own)."""
        store = (stores and stores(spec, data_dir, secret)) or open_store(spec.name, spec.role, data_dir, secret)
        try:
            identity = load_or_create_identity(store, spec.name)
            audit = AuditLog(data_dir / "audit.db", identity)
        except BaseException:
            store.close()
            raise
        return cls(spec, identity, store, audit)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(
        self,
        router: LocalRouter,
        directory: Mapping[str, PublicIdentity],
        clients: Iterable[str],
        *,
        session_timeout: float,
        recovery_delay: float,
    ) -> None:
        """Connect to ``router`` and serve (nothing if it already runs)."""
        if self.task is not None:
            return
        self.transport = router.connect(self.identity.guardian_id)
        await self.transport.start()
        self.node = build_node(
            self.identity,
            self.keystore,
            self.transport,
            directory,
            clients,
            role=self.spec.role,
            session_timeout=session_timeout,
            recovery_delay=recovery_delay,
            audit=self.audit,
        )
        self.task = asyncio.ensure_future(self.node.serve())

    async def stop(self) -> None:
        """Go offline (the transport closes; nothing the guardian holds is lost)."""
        if self.node is not None:
            self.node.stop()
        if self.transport is not None:
            await self.transport.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    def close(self) -> None:
        """Close the store and the audit log (after :meth:`stop`)."""
        self.keystore.close()
        self.audit.close()


@dataclass
class EmbeddedCluster:
    """Guardians and a client on one :class:`LocalRouter`, all in this event loop."""

    data_dir: Path
    router: LocalRouter
    client_identity: Identity
    directory: dict[str, PublicIdentity]
    guardians: list[EmbeddedGuardian] = field(default_factory=list)
    client: Client | None = None
    secrets_: dict[str, str] = field(default_factory=dict)
    owner: OwnerDevice = field(default_factory=OwnerDevice)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    session_timeout: float = 30.0
    recovery_delay: float = 3600.0

    @classmethod
    async def start(
        cls,
        data_dir: str | os.PathLike[str],
        guardians: Sequence[str | GuardianSpec],
        *,
        router: LocalRouter | None = None,
        session_timeout: float = 30.0,
        recovery_delay: float = 3600.0,
        stores: StoreOpener | None = None,
    ) -> EmbeddedCluster:
        """Open the guardians (plain names are ordinary guardians; a :class:`GuardianSpec` gives a
        role, e.g. an enclave guardian with its custody-contract store) and start them and the client.
        ``stores`` opens a guardian's store itself where it answers one (a test's recording store)."""
        base = Path(data_dir)
        base.mkdir(parents=True, exist_ok=True)
        client_identity = Identity.generate(name="owner")
        cluster = cls(
            base,
            router or LocalRouter(),
            client_identity,
            {},
            session_timeout=session_timeout,
            recovery_delay=recovery_delay,
        )
        try:
            for spec in specs(guardians):
                cluster.secrets_[spec.name] = new_secret()
                secret = cluster.secrets_[spec.name]
                cluster.guardians.append(EmbeddedGuardian.open(spec, base / spec.name, secret, stores))
            cluster.directory = {g.identity.guardian_id: g.identity.public for g in cluster.guardians} | {
                client_identity.guardian_id: client_identity.public
            }
            for i in range(len(cluster.guardians)):
                await cluster.start_guardian(i)
            ct = cluster.router.connect(client_identity.guardian_id)
            await ct.start()
            cluster.client = Client(
                client_identity, ct, cluster.directory, timeout=session_timeout + 10, owner=cluster.owner
            )
            await cluster.client.start()
        except BaseException:
            await cluster.close()
            raise
        return cluster

    @property
    def ids(self) -> list[str]:
        return [g.identity.guardian_id for g in self.guardians]

    async def stop_guardian(self, i: int) -> None:
        """Take guardian ``i`` offline (its transport closes; nothing it holds is lost)."""
        await self.guardians[i].stop()

    async def start_guardian(self, i: int) -> None:
        await self.guardians[i].start(
            self.router,
            self.directory,
            [self.client_identity.guardian_id],
            session_timeout=self.session_timeout,
            recovery_delay=self.recovery_delay,
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            await self.client.transport.close()
        for g in self.guardians:
            await g.stop()
        for g in self.guardians:
            g.close()
