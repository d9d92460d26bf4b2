"""The owner's SDK session for one command: the unlocked keyring and a started :class:`Client`.

The client runs on a :class:`gridlock.client.SyncClient` (its own event-loop thread), so the
synchronous command bodies call the async SDK (chain transactions through
``Vault.sign_transaction``).  Its transport is the devnet's: a :class:`BridgeTransport` to the
embedded host's router, or a :class:`NatsTransport` to the NATS server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from gridlock.chains import SignedTx, TxContext
from gridlock.cli.errors import CliError, classify
from gridlock.cli.keyring import Keyring
from gridlock.cli.profile import Profile
from gridlock.client import Client, OperationFailed, Vault
from gridlock.client.audit import AuditHeads
from gridlock.client.errors import RootMismatch
from gridlock.client.hdroot import disagreeing
from gridlock.client.owner import OwnerDevice
from gridlock.client.sync import SyncClient
from gridlock.guardian.config import Directory
from gridlock.transport.base import Transport
from gridlock.transport.bridge import BridgeTransport
from gridlock.transport.nats import NatsTransport
from gridlock.transport.nats_auth import NkeySeed
from gridlock.wire import ops

T = TypeVar("T")


class OwnerSession:
    """A connected owner client; use as a context manager.

    The client's owner device is the keyring's current device key (it creates vaults); a vault
    opened here is approved by the key that vault answers to (``DeviceKeys.approver``): during a
    device recovery, a vault not yet recovered still answers to the old key.
    """

    def __init__(self, profile: Profile, keyring: Keyring, *, timeout: float | None = None) -> None:
        self.profile = profile
        self.paths = profile.paths
        self.route = profile.route()
        self.keyring = keyring
        self.names = profile.names()  # id -> name
        self.directory = Directory.load(self.paths.directory)
        self.timeout = timeout or self.route.session_timeout + 15.0
        device = keyring.keys.current
        self._sync = SyncClient(lambda: self._connect(device), owns_transport=True)

    async def _connect(self, device: OwnerDevice) -> Client:
        transport: Transport
        route = self.route
        if route.bridge:
            transport = BridgeTransport(route.router, self.keyring.client_id)
        else:
            nkey = None if route.nkey is None else NkeySeed.load(route.nkey)
            transport = NatsTransport(route.router, self.keyring.client_id, connect_timeout=5.0, nkey=nkey)
        await transport.start()
        client = Client(
            self.keyring.identity,
            transport,
            self.directory.everyone,
            timeout=self.timeout,
            owner=device,
            audit_heads=AuditHeads(self.paths.audit_heads),
        )
        await client.start()
        return client

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._sync.run(coro)
        except concurrent.futures.CancelledError:
            raise CliError("the operation was cancelled", code="cancelled") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self._sync.close(timeout=10)

    def __enter__(self) -> OwnerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ------------------------------------------------------------------------------------
    @property
    def c(self) -> Client:
        return self._sync.client

    def error(self, exc: BaseException, what: str = "") -> CliError:
        return self.profile.explain(classify(exc, self.names, what))

    def name(self, gid: str) -> str:
        return self.names.get(gid, gid)

    def ping(self, guardian_ids: Sequence[str], timeout: float = 3.0) -> list[str]:
        return self.run(self.c.ping(list(guardian_ids), timeout))

    def create_vault(self, scheme: str, guardian_ids: Sequence[str], threshold: int, password: str) -> Vault:
        return self.run(self.c.create_vault(scheme, list(guardian_ids), threshold, password=password))

    def ask_info(self, entry: dict[str, Any], timeout: float = 3.0) -> dict[str, ops.Reply | BaseException]:
        """Each holder's ``info`` about a vault-book entry (``timeout`` seconds for an offline one)."""
        holders = [str(g) for _, g in entry["members"]]
        return self.run(self.c.call_all(holders, ops.Info(entry["id"]), timeout))

    def open_vault(
        self,
        entry: dict[str, Any],
        *,
        fresh: bool = False,
        answers: dict[str, ops.Reply | BaseException] | None = None,
    ) -> Vault:
        """The vault of a vault-book entry.

        Without ``fresh`` (or ``answers``) it is built from the book (no round trip: the guardians
        check everything against what they hold anyway).  Otherwise from its holders' ``info``
        answers (:meth:`ask_info`): the newest epoch wins, and it must be the book's key.
        """
        approvers = [self.keyring.keys.approver(entry["id"])]
        group_key, chain_code = bytes.fromhex(entry.get("group_key", "")), bytes.fromhex(entry.get("chain_code", ""))
        if not fresh and answers is None:
            members = {int(i): str(g) for i, g in entry["members"]}
            public_key, threshold, epoch = bytes.fromhex(entry["public_key"]), entry["threshold"], entry["epoch"]
            return Vault(
                self.c,
                entry["id"],
                entry["scheme"],
                public_key,
                int(threshold),
                members,
                int(epoch),
                approvers=approvers,
                group_key=group_key,
                chain_code=chain_code,
            )
        answers = answers if answers is not None else self.ask_info(entry)
        try:
            vault = self.c.vault_from_info(entry["id"], answers)
        except OperationFailed as exc:
            raise self.error(exc, "opening the vault") from None
        vault.approvers = approvers
        if vault.public_key.hex() != entry["public_key"] or vault.scheme != entry["scheme"]:
            raise CliError(
                f"the guardians report another key for vault {entry['id']} than the vault book",
                hint=f"the {self.profile.kind} directory may have been mixed up with another one",
                code="vault-mismatch",
            )
        if group_key:  # the book's root, fixed at keygen, is the one: a guardian reporting another is named
            vault.group_key, vault.chain_code = group_key, chain_code
            liars = disagreeing(vault.root, answers)
            if liars:
                raise self.error(RootMismatch(vault.vault_id, liars, "opening the vault"))
        return vault

    def sign(self, vault: Vault, message: bytes, path: str = "m") -> bytes:
        return self.run(vault.sign(message, path=path))

    def sign_transaction(
        self,
        vault: Vault,
        chain: str,
        tx: TxContext,
        on_signature: Callable[[int, int], None] | None = None,
        path: str | None = None,
    ) -> SignedTx:
        """The SDK's guardian-aware transaction signer (every request shows the guardians ``tx``)."""
        return self.run(vault.sign_transaction(chain, tx, on_signature=on_signature, path=path))

    def refresh(self, vault: Vault) -> int:
        return self.run(vault.refresh())

    def replace_guardian(self, vault: Vault, old: str, new: str, password: str) -> int:
        return self.run(vault.replace_guardian(old, new, password=password))

    def vault_entry(self, vault: Vault, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The vault book's record of ``vault``."""
        base = dict(base or {})
        return {
            "id": vault.vault_id,
            "name": base.get("name"),
            "scheme": vault.scheme,
            "threshold": vault.threshold,
            "members": [[i, g] for i, g in sorted(vault.members.items())],
            "guardians": [self.name(g) for g in vault.guardians],
            "public_key": vault.public_key.hex(),
            # the HD root fixed at keygen (every child key is derived from it; client.hdroot)
            "group_key": vault.group_key.hex() or base.get("group_key", ""),
            "chain_code": vault.chain_code.hex() or base.get("chain_code", ""),
            "epoch": vault.epoch,
            "created": base.get("created"),
        }
