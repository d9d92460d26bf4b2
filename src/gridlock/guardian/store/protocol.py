"""What a guardian needs of its share store, and the public record both stores return.

Two stores satisfy :class:`ShareStore`: the SQLite :class:`~gridlock.guardian.store.sqlite.Keystore`
and the enclave guardian's :class:`~gridlock.enclave.keystore.EnclaveKeystore` (the custody
contract).  Both apply the same rules (:mod:`gridlock.guardian.store.rules`) and are tested by the
same suite (``tests/test_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gridlock.crypto.keyshare import KeyShare
from gridlock.policy.ledger import Entry

__all__ = ["ShareStore", "VaultRecord"]


@dataclass(frozen=True)
class VaultRecord:
    """Public facts about one vault (read without decrypting any share).

    ``index``, ``threshold`` and ``participants`` are those of the active epoch, or of the newest
    pending epoch while none is active yet.
    """

    vault_id: str
    scheme: str
    public_key: bytes
    index: int
    threshold: int
    participants: tuple[int, ...]
    active_epoch: int | None
    pending_epochs: tuple[int, ...]
    retired_epochs: tuple[int, ...]


class ShareStore(Protocol):
    """What a guardian node needs of its store: the SQLite ``Keystore``, or the enclave guardian's
    custody-contract store (``gridlock.enclave.keystore.EnclaveKeystore``)."""

    def put_identity(self, blob: bytes, *, replace: bool = False) -> None: ...
    def get_identity(self) -> bytes | None: ...
    def store_pending(self, vault_id: str, share: KeyShare, *, metadata: Mapping[str, Any] | None = None) -> None: ...
    def activate(self, vault_id: str, epoch: int) -> None: ...
    def discard_pending(self, vault_id: str, epoch: int) -> None: ...
    def purge_retired(self, vault_id: str) -> int: ...
    def active_share(self, vault_id: str) -> KeyShare: ...
    def share(self, vault_id: str, epoch: int) -> KeyShare: ...
    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None: ...
    def claim_session(
        self,
        vault_id: str,
        epoch: int,
        session_id: bytes,
        *,
        metadata: Mapping[str, Any] | None = None,
        ledger: Sequence[Entry] = (),
    ) -> None: ...
    def vaults(self) -> list[VaultRecord]: ...
    def vault(self, vault_id: str) -> VaultRecord: ...
    def metadata(self, vault_id: str) -> dict[str, Any]: ...
    def all_metadata(self) -> dict[str, dict[str, Any]]: ...
    def set_metadata(
        self, vault_id: str, metadata: Mapping[str, Any] | None, *, ledger: Sequence[Entry] = ()
    ) -> None: ...
    def ledger(self, vault_id: str, since: int) -> list[Entry]: ...
    def paid_before(self, vault_id: str, chain: str, destinations: Sequence[str], before: int) -> frozenset[str]: ...
    def add_presignatures(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None: ...
    def take_presignature(self, vault_id: str, epoch: int, item_id: bytes) -> bytes: ...
    def delete_vault(self, vault_id: str) -> None: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
