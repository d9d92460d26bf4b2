"""A thin synchronous wrapper over :class:`~gridlock.client.client.Client`.

It runs the asyncio client on its own event-loop thread, so scripts can use a networked vault.
:meth:`SyncVault.sign_transaction` signs a chain transaction and shows it to the guardians (who
re-derive what they sign and apply their policy); a :class:`SyncVault` is also a
``gridlock.chains.Signer``, so ``bitcoin.sign_psbt(psbt, vault)`` works, but such requests carry a
bare hash: the guardians cannot check what it is the hash of.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from gridlock.chains import SignedTx
from gridlock.client.client import Client
from gridlock.client.owner_controls import PasswordChangeReport
from gridlock.client.vault import Vault
from gridlock.policy import Policy
from gridlock.wire import ops

T = TypeVar("T")


class SyncClient:
    def __init__(self, make_client: Callable[[], Awaitable[Client]], *, owns_transport: bool = False) -> None:
        """``make_client`` is a coroutine function building (and starting) the client on our loop;
        with ``owns_transport`` :meth:`close` closes the client's transport too."""
        self._owns_transport = owns_transport
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gridlock-client", daemon=True)
        self._thread.start()
        try:
            self.client: Client = self._call(make_client())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        async def wrap() -> T:
            return await coro

        fut = asyncio.run_coroutine_threadsafe(wrap(), self._loop)
        try:
            return fut.result(timeout)
        except (KeyboardInterrupt, TimeoutError):  # Ctrl-C or too slow: the operation stops too
            fut.cancel()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run any coroutine of the client on its loop."""
        return self._call(coro, timeout)

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    async def _shutdown(self) -> None:
        await self.client.close()
        if self._owns_transport:
            await self.client.transport.close()

    def close(self, timeout: float | None = None) -> None:
        """Close the client (and the transport it owns), then stop the loop thread.  Idempotent."""
        if not self._loop.is_running():
            return
        try:
            self._call(self._shutdown(), timeout)
        finally:
            self._stop_loop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self, guardians: Sequence[str], timeout: float = 3.0) -> list[str]:
        return self._call(self.client.ping(guardians, timeout))

    def create_vault(self, scheme: str, guardians: Sequence[str], threshold: int = 3, *, password: str) -> SyncVault:
        return SyncVault(self, self._call(self.client.create_vault(scheme, guardians, threshold, password=password)))

    def open_vault(self, vault_id: str, guardians: Sequence[str]) -> SyncVault:
        return SyncVault(self, self._call(self.client.open_vault(vault_id, guardians)))


class SyncVault:
    """A vault with blocking methods; also the ``Signer`` the chain functions take."""

    def __init__(self, owner: SyncClient, vault: Vault) -> None:
        self._owner = owner
        self.vault = vault

    @property
    def scheme(self) -> str:
        return self.vault.scheme

    @property
    def public_key(self) -> bytes:
        return self.vault.public_key

    @property
    def vault_id(self) -> str:
        return self.vault.vault_id

    @property
    def epoch(self) -> int:
        return self.vault.epoch

    @property
    def guardians(self) -> list[str]:
        return self.vault.guardians

    def sign(self, message: bytes, *, path: str = "m") -> bytes:
        return self._owner._call(self.vault.sign(message, path=path))

    def sign_transaction(
        self,
        chain: str,
        tx: object,
        *,
        network: str | None = None,
        signers: Sequence[str] | None = None,
        on_signature: Callable[[int, int], None] | None = None,
        path: str | None = None,
    ) -> SignedTx:
        """:meth:`Vault.sign_transaction <gridlock.client.vault.Vault.sign_transaction>`, blocking."""
        return self._owner._call(
            self.vault.sign_transaction(
                chain, tx, network=network, signers=signers, on_signature=on_signature, path=path
            )
        )

    def sign_ethereum_message(self, message: bytes | str, *, signers: Sequence[str] | None = None) -> bytes:
        """:meth:`Vault.sign_ethereum_message <gridlock.client.vault.Vault.sign_ethereum_message>`, blocking."""
        return self._owner._call(self.vault.sign_ethereum_message(message, signers=signers))

    def sign_typed_data(self, typed_data: Mapping[str, Any], *, signers: Sequence[str] | None = None) -> bytes:
        """:meth:`Vault.sign_typed_data <gridlock.client.vault.Vault.sign_typed_data>`, blocking."""
        return self._owner._call(self.vault.sign_typed_data(typed_data, signers=signers))

    def address(self, chain: str, network: str | None = None) -> str:
        return self.vault.address(chain, network)

    def child_public_key(self, path: str) -> bytes:
        return self.vault.key_at(path)

    def xpub(self, network: str = "mainnet") -> str:
        return self.vault.xpub(network)

    def descriptors(self, network: str = "mainnet") -> dict[str, str]:
        return self.vault.descriptors(network)

    def presign(self, count: int = 1, *, path: str = "m") -> list[bytes]:
        return self._owner._call(self.vault.presign(count, path=path))

    def sign_presigned(self, digest: bytes, *, path: str = "m") -> bytes:
        return self._owner._call(self.vault.sign_presigned(digest, path=path))

    def refresh(self) -> int:
        return self._owner._call(self.vault.refresh())

    def replace_guardian(self, old: str, new: str, *, password: str | None = None) -> int:
        return self._owner._call(self.vault.replace_guardian(old, new, password=password))

    def add_guardian(self, new: str, threshold: int | None = None, *, password: str | None = None) -> int:
        return self._owner._call(self.vault.add_guardian(new, threshold, password=password))

    def remove_guardian(self, old: str, threshold: int | None = None) -> int:
        return self._owner._call(self.vault.remove_guardian(old, threshold))

    def change_threshold(self, threshold: int) -> int:
        return self._owner._call(self.vault.change_threshold(threshold))

    def repair(self, lost: str, *, password: str | None = None) -> int:
        return self._owner._call(self.vault.repair(lost, password=password))

    def set_policy(self, rules: Policy | Mapping[str, Any]) -> dict[str, ops.PolicyReply]:
        """:meth:`Vault.set_policy <gridlock.client.vault.Vault.set_policy>`, blocking."""
        return self._owner._call(self.vault.set_policy(rules))

    def cancel_policy_change(self) -> None:
        self._owner._call(self.vault.cancel_policy_change())

    def change_password(self, old: str, new: str) -> PasswordChangeReport:
        """:meth:`Vault.change_password <gridlock.client.vault.Vault.change_password>`, blocking."""
        return self._owner._call(self.vault.change_password(old, new))

    def policy(self, guardian: str) -> ops.PolicyReply:
        return self._owner._call(self.vault.policy(guardian))
