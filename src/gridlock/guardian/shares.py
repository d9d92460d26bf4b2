"""Where a guardian's share arithmetic runs: in its own process, or where its store keeps the share.

The guardian's operations (:mod:`gridlock.guardian.sign_ops`, :mod:`gridlock.guardian.key_ops`)
run the network protocols and every owner and policy check themselves; the few steps that need the
secret share go through a :class:`ShareBackend`:

* :meth:`ShareBackend.key_at` — the share of the vault's key at a BIP32 path (the request's),
  whose public data the policy checks and the protocol use;
* :meth:`ShareBackend.frost_signer` — the secret half of one FROST signer
  (:class:`gridlock.protocol.frost.NonceSigner`);
* :meth:`ShareBackend.refresher` — the last step of a refresh (adding the checked sub-shares to
  the old share), or ``None`` to do it here;
* :meth:`ShareBackend.resharer` / :meth:`ShareBackend.repairer` — a reshare's or repair's steps
  with the share where the store keeps it (:mod:`gridlock.protocol.custody`), given the owner's
  approval of the request (:class:`Approved`), or ``None`` to do them here;
* :meth:`ShareBackend.custody_key` — the key that values for this guardian's key changes are
  sealed to, when its store keeps them (part of its identity);
* :meth:`ShareBackend.export` — the share for the owner's export (:class:`Exported`);
* :meth:`ShareBackend.store_new` — store the first share of a vault new to this guardian, pinning
  its owner (:class:`OwnerPin`) where the store checks owner approvals itself;
* the owner's device recovery and password change (:meth:`ShareBackend.owner_recovery_start`
  and the others), which such a store follows.

:class:`LocalShares` does each with the share the store returned (the SQLite guardian), and leaves
the owner's authority to the guardian's own checks (:mod:`gridlock.guardian.owner_gate`).  A store
that keeps shares out of the guardian's reach (the enclave guardian's custody contract) provides
its own backend (:class:`HasShareBackend`): its shares come back as
:class:`~gridlock.crypto.sealed.SealedShare` views, its signer asks the store to sign, its key
changes run in the store, and it exports a share only sealed to the owner's devices, on an owner
approval it checks itself against the pinned owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gridlock.crypto import hd
from gridlock.crypto.keyshare import KeyShare
from gridlock.protocol.custody import CustodyRepair, CustodyReshare
from gridlock.protocol.frost import LocalSigner, NonceSigner
from gridlock.protocol.reshare import RefreshCombiner
from gridlock.wire.approval import Approval
from gridlock.wire.identity import PublicIdentity

if TYPE_CHECKING:
    from gridlock.guardian.store import ShareStore

__all__ = [
    "Approved",
    "Exported",
    "HasShareBackend",
    "KeyChange",
    "LocalShares",
    "OwnerPin",
    "ShareBackend",
    "backend_of",
]


@dataclass(frozen=True)
class Approved:
    """An owner-approved request as the guardian checked it: what a store that checks approvals
    itself needs to check them again (the devices signed ``op``, ``subject``'s hash, ``nonce``)."""

    op: str
    subject: bytes
    nonce: bytes
    approvals: tuple[Approval, ...]


@dataclass(frozen=True)
class KeyChange:
    """One reshare or repair as this guardian runs it: where the steps with the share go need it."""

    vault_id: str
    scheme: str
    share: KeyShare | None  # this guardian's share of the old epoch, if it holds one
    approved: Approved | None
    session_id: bytes
    me: int
    identities: Mapping[int, PublicIdentity]  # every node's, by index


@dataclass(frozen=True)
class Exported:
    """A share for the owner's export: its scalar (``share``), or — from a store that keeps shares
    out of the guardian's reach — only ``sealed``, the scalar sealed to each approving device."""

    index: int
    share: bytes = field(repr=False)
    sealed: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnerPin:
    """A vault's owner as registered with this guardian: the device keys, how many must approve,
    the digest of this guardian's password verifier (:func:`gridlock.wire.approval.verifier_digest`)
    and the device-recovery time lock in seconds."""

    devices: tuple[bytes, ...]
    required: int
    verifier_digest: bytes = field(repr=False)
    recovery_delay: int


class ShareBackend(Protocol):
    def key_at(self, vault_id: str, share: KeyShare, path: str) -> KeyShare:
        """The share of the vault's key at ``path`` (``share`` itself at ``"m"``); raises
        ``InvalidParameterError`` for a path the key cannot derive."""
        ...

    def frost_signer(self, vault_id: str, key: KeyShare, path: str, session_id: bytes) -> NonceSigner:
        """The secret steps of one FROST signature by ``key`` (the share at ``path``, from :meth:`key_at`)."""
        ...

    def refresher(self, vault_id: str, share: KeyShare) -> RefreshCombiner | None:
        """Where a refresh of ``share`` combines its sub-shares with it (``None``: in this process)."""
        ...

    def custody_key(self) -> bytes | None:
        """The X25519 key values for this guardian's key changes are sealed to, if its store keeps
        its shares and opens them (its identity carries it), else ``None``."""
        ...

    def resharer(self, change: KeyChange) -> CustodyReshare | None:
        """Where this guardian's dealing and combining of a reshare run (``None``: in this process)."""
        ...

    def repairer(self, change: KeyChange) -> CustodyRepair | None:
        """Where this guardian's split, sum or rebuilding of a repair run (``None``: in this process)."""
        ...

    def export(self, vault_id: str, share: KeyShare, approved: Approved | None) -> Exported:
        """``share`` for the owner's approved export (``approved``)."""
        ...

    def store_new(self, vault_id: str, share: KeyShare, metadata: Mapping[str, Any], owner: OwnerPin) -> None:
        """Store the pending share of a vault new to this store, with its owner."""
        ...

    def owner_recovery_start(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> int:
        """Follow the start of a device recovery the guardian accepted; the earliest time it may end
        (0: no constraint of the store's own)."""
        ...

    def owner_recovery_finish(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> None:
        """Follow the end of a device recovery: the lost device's key is replaced by the new one's."""
        ...

    def owner_recovery_cancel(self, vault_id: str, approved: Approved | None) -> bool:
        """Cancel the device recovery the store follows; whether one was open there."""
        ...

    def owner_password(self, vault_id: str, approved: Approved | None, verifier: bytes, new_verifier: bytes) -> None:
        """Follow an owner-approved password change (``verifier`` the old password's)."""
        ...


class LocalShares:
    """The share is in this process: derive, sign and compute with it here; the guardian's own
    checks are the owner's authority, so there is nothing to follow."""

    def __init__(self, store: ShareStore | None = None) -> None:
        self.store = store

    def key_at(self, vault_id: str, share: KeyShare, path: str) -> KeyShare:
        return share if path == "m" else hd.derive(share, path)

    def frost_signer(self, vault_id: str, key: KeyShare, path: str, session_id: bytes) -> NonceSigner:
        return LocalSigner(key)

    def refresher(self, vault_id: str, share: KeyShare) -> RefreshCombiner | None:
        return None

    def custody_key(self) -> bytes | None:
        return None

    def resharer(self, change: KeyChange) -> CustodyReshare | None:
        return None

    def repairer(self, change: KeyChange) -> CustodyRepair | None:
        return None

    def export(self, vault_id: str, share: KeyShare, approved: Approved | None) -> Exported:
        return Exported(share.index, share.scheme_obj.group.scalar_to_bytes(share.secret))

    def store_new(self, vault_id: str, share: KeyShare, metadata: Mapping[str, Any], owner: OwnerPin) -> None:
        assert self.store is not None, "a backend without a store stores nothing"
        self.store.store_pending(vault_id, share, metadata=metadata)

    def owner_recovery_start(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> int:
        return 0

    def owner_recovery_finish(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> None:
        return None

    def owner_recovery_cancel(self, vault_id: str, approved: Approved | None) -> bool:
        return False

    def owner_password(self, vault_id: str, approved: Approved | None, verifier: bytes, new_verifier: bytes) -> None:
        return None


@runtime_checkable
class HasShareBackend(Protocol):
    """A store that decides where its shares are used."""

    def share_backend(self) -> ShareBackend: ...


def backend_of(store: ShareStore) -> ShareBackend:
    """The backend of a guardian's store: its own if it provides one, else :class:`LocalShares`."""
    return store.share_backend() if isinstance(store, HasShareBackend) else LocalShares(store)
