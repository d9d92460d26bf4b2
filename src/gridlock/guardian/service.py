"""Running a guardian as a process: ``python -m gridlock.guardian run --config FILE``.

:func:`build_node` is the one place a :class:`GuardianNode` is made: by this service, by the devnet
host and by the test clusters (:mod:`gridlock.devnet`); its role comes from the configuration.

``init`` creates the keystore and the guardian's identity (Ed25519 + hybrid HPKE keys, stored
encrypted in the keystore) and prints its public identity for the directory; ``run`` serves until
SIGTERM/SIGINT.  Both are what ``gridlock guardian …`` of the CLI calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from gridlock.guardian import owner
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.config import (
    DEFAULT_RECOVERY_DELAY,
    ENCLAVE,
    GUARDIAN,
    ROLES,
    WATCH,
    ConfigError,
    Directory,
    GuardianConfig,
)
from gridlock.guardian.node import GuardianNode, RegisteredClients
from gridlock.guardian.shares import backend_of
from gridlock.guardian.store import Keystore, ShareStore
from gridlock.transport.base import Transport
from gridlock.transport.nats import NatsTransport
from gridlock.wire import Identity, PublicIdentity

log = logging.getLogger("gridlock.guardian")


def build_node(
    identity: Identity,
    store: ShareStore,
    transport: Transport,
    directory: Mapping[str, PublicIdentity],
    clients: Iterable[str],
    *,
    role: str = GUARDIAN,
    session_timeout: float = 60.0,
    max_sessions: int = 64,
    recovery_delay: float = DEFAULT_RECOVERY_DELAY,
    audit: AuditLog | None = None,
) -> GuardianNode:
    """A guardian node of ``role`` that knows ``directory`` (guardians and clients) and serves the
    registered ``clients``."""
    if role not in ROLES:
        raise ValueError(f"unknown guardian role {role!r}; known: {', '.join(ROLES)}")
    owner.seal_stored_verifiers(store, identity)  # a store written before verifiers were sealed
    return GuardianNode(
        identity,
        store,
        transport,
        directory,
        authorizer=RegisteredClients(clients),
        session_timeout=session_timeout,
        max_sessions=max_sessions,
        audit=audit,
        kind=WATCH if role == WATCH else GUARDIAN,  # the node's policy tells only the watch service apart
        recovery_delay=recovery_delay,
    )


def open_keystore(cfg: GuardianConfig) -> Keystore:
    """The SQLite keystore of an ordinary or watch guardian (an enclave guardian has its own store)."""
    if cfg.role == ENCLAVE:
        raise ConfigError(f"guardian {cfg.name} has the role enclave: run it with python -m gridlock.enclave.guardian")
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    return Keystore.open(cfg.data_dir / "keystore.db", cfg.secret())


def load_or_create_identity(keystore: ShareStore, name: str) -> Identity:
    """The guardian's identity; a new one carries its store's custody key, if the store keeps the
    shares where the guardian host cannot read them (the enclave guardian's custody contract)."""
    blob = keystore.get_identity()
    if blob is not None:
        return Identity.from_bytes(blob)
    identity = Identity.generate(name=name, custody_key=backend_of(keystore).custody_key())
    keystore.put_identity(identity.to_bytes())
    return identity


def init(config: str | Path, *, open_store: Callable[[GuardianConfig], ShareStore] = open_keystore) -> dict[str, str]:
    """Create (or read) this guardian's identity; returns its id and public identity (hex)."""
    cfg = GuardianConfig.load(config)
    store = open_store(cfg)
    try:
        identity = load_or_create_identity(store, cfg.name)
    finally:
        store.close()
    public = identity.public
    (cfg.data_dir / "public-identity.hex").write_text(public.to_bytes().hex() + "\n")
    return {"id": identity.guardian_id, "name": cfg.name, "public": public.to_bytes().hex()}


async def serve(
    config: str | Path,
    *,
    ready: asyncio.Event | None = None,
    open_store: Callable[[GuardianConfig], ShareStore] = open_keystore,
) -> None:
    """Run a guardian; ``open_store`` picks its store (SQLite by default; the enclave guardian's
    entry point passes the custody-contract store)."""
    cfg = GuardianConfig.load(config)
    keystore = open_store(cfg)
    identity = load_or_create_identity(keystore, cfg.name)
    directory = Directory.load(cfg.directory)
    transport = NatsTransport(cfg.router, identity.guardian_id, nkey=cfg.nats_seed())
    await transport.start()
    audit = AuditLog(cfg.data_dir / "audit.db", identity)
    node = build_node(
        identity,
        keystore,
        transport,
        directory.everyone,
        directory.clients,
        role=cfg.role,
        session_timeout=cfg.session_timeout,
        max_sessions=cfg.max_sessions,
        recovery_delay=cfg.recovery_delay,
        audit=audit,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, node.stop)
    log.info("guardian %s (%s) serving on %s", identity.guardian_id, cfg.name, cfg.router)
    print(json.dumps({"ready": identity.guardian_id}), flush=True)
    if ready is not None:
        ready.set()
    try:
        await node.serve()
    finally:
        await transport.close()
        keystore.close()
        audit.close()
