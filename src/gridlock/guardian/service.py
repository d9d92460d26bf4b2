"""Running a guardian as a process: ``python -m gridlock.guardian run --config FILE``.

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
from collections.abc import Callable
from pathlib import Path

from gridlock.guardian.audit import AuditLog
from gridlock.guardian.config import Directory, GuardianConfig
from gridlock.guardian.keystore import Keystore, ShareStore
from gridlock.guardian.node import GuardianNode, RegisteredClients
from gridlock.transport.nats import NatsTransport
from gridlock.wire import Identity

log = logging.getLogger("gridlock.guardian")


def open_keystore(cfg: GuardianConfig) -> Keystore:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    return Keystore.open(cfg.data_dir / "keystore.db", cfg.secret())


def load_or_create_identity(keystore: ShareStore, name: str) -> Identity:
    blob = keystore.get_identity()
    if blob is not None:
        return Identity.from_bytes(blob)
    identity = Identity.generate(name=name)
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
    transport = NatsTransport(cfg.router, identity.guardian_id)
    await transport.start()
    audit = AuditLog(cfg.data_dir / "audit.db")
    node = GuardianNode(
        identity,
        keystore,
        transport,
        directory.everyone,
        authorizer=RegisteredClients(directory.clients),
        session_timeout=cfg.session_timeout,
        max_sessions=cfg.max_sessions,
        audit=audit,
        kind=cfg.kind,
        recovery_delay=cfg.recovery_delay,
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
