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
* :meth:`ShareBackend.usable` — the share with its secret, for the operations that still compute
  with it in this process (threshold ECDSA, reshare, repair, export).

:data:`LOCAL` does each with the share the store returned (the SQLite guardian).  A store that
keeps shares out of the guardian's reach (the enclave guardian's custody contract) provides its
own backend (:class:`HasShareBackend`): its shares come back as
:class:`~gridlock.crypto.sealed.SealedShare` views and its signer asks the store to sign.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from gridlock.crypto import hd
from gridlock.crypto.keyshare import KeyShare
from gridlock.protocol.frost import LocalSigner, NonceSigner
from gridlock.protocol.reshare import RefreshCombiner

__all__ = ["LOCAL", "HasShareBackend", "LocalShares", "ShareBackend", "backend_of"]


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

    def usable(self, vault_id: str, share: KeyShare) -> KeyShare:
        """``share`` with its secret (the vault's share of ``share.epoch``), for arithmetic in this process."""
        ...


class LocalShares:
    """The share is in this process: derive, sign and compute with it here."""

    def key_at(self, vault_id: str, share: KeyShare, path: str) -> KeyShare:
        return share if path == "m" else hd.derive(share, path)

    def frost_signer(self, vault_id: str, key: KeyShare, path: str, session_id: bytes) -> NonceSigner:
        return LocalSigner(key)

    def refresher(self, vault_id: str, share: KeyShare) -> RefreshCombiner | None:
        return None

    def usable(self, vault_id: str, share: KeyShare) -> KeyShare:
        return share


LOCAL: Final = LocalShares()


@runtime_checkable
class HasShareBackend(Protocol):
    """A store that decides where its shares are used."""

    def share_backend(self) -> ShareBackend: ...


def backend_of(store: object) -> ShareBackend:
    """The backend of a guardian's store: its own if it provides one, else :data:`LOCAL`."""
    return store.share_backend() if isinstance(store, HasShareBackend) else LOCAL
