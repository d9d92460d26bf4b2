"""The enclave guardian's :class:`~gridlock.guardian.shares.ShareBackend`: FROST inside the contract.

The guardian process runs :class:`~gridlock.protocol.frost.FrostSignParty` on a sealed view of its
share (:class:`~gridlock.crypto.sealed.SealedShare`); :class:`ContractSigner` is that party's
:class:`~gridlock.protocol.frost.NonceSigner`, each of whose steps is one custody-contract execute
(:mod:`gridlock.enclave.contract_frost`): ``frost_commit`` in round 1 (the contract makes and keeps
the nonces, answers the commitments), ``frost_sign`` in round 2 (``z_i``, read back by a query; the
nonces used up),
``frost_discard`` when a run stops before signing.  A refresh adds its sub-shares to the share in
the contract too (``refresh_share``, :meth:`ContractShares.refresher`).  The guardian holds neither the share nor the
nonces at any point — only commitments and the signature share, which the protocol broadcasts.

The executes are synchronous calls from inside a protocol step, as every store call of a guardian
is; the protocol core itself stays unaware of where its secrets are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from gridlock.crypto import frost
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.crypto.sealed import SealedShare
from gridlock.enclave.errors import ContractBusy, NoOwner, RateLimited, TimeLocked, Unauthorized, WrongPassword
from gridlock.enclave.keychange import ContractRepair, ContractReshare
from gridlock.errors import InvalidParameterError
from gridlock.guardian.shares import Approved, Exported, KeyChange, LocalShares, OwnerPin
from gridlock.guardian.store.errors import AlreadyExists, BadArgument, KeystoreError
from gridlock.protocol.custody import CUSTODY_SCHEMES, CustodyRepair, CustodyReshare
from gridlock.protocol.frost import NonceSigner
from gridlock.protocol.reshare import RefreshCombiner
from gridlock.wire import control as ctl

if TYPE_CHECKING:
    from gridlock.enclave.keystore import EnclaveKeystore

__all__ = ["ContractShares", "ContractSigner"]


class ContractSigner:
    """One FROST signature's secret steps, done by the custody contract."""

    def __init__(self, store: EnclaveKeystore, vault_id: str, key: KeyShare, path: str, session_id: bytes) -> None:
        self.store, self.vault_id, self.key, self.path, self.session_id = store, vault_id, key, path, session_id
        self.suite = get_frost_suite(key.scheme)
        self._nonce_id: bytes | None = None
        self._commitments: frost.SigningCommitments | None = None
        self._done = False

    def commit(self) -> frost.SigningCommitments:
        if self._commitments is None:
            nonce_id, raw = self.store.frost_commit(self.vault_id, self.key.epoch, self.path, self.session_id)
            self._nonce_id = nonce_id
            self._commitments = frost.SigningCommitments.from_bytes(self.suite, raw)
        return self._commitments

    def sign(self, package: frost.SigningPackage) -> int:
        if self._nonce_id is None or self._done:
            raise InvalidParameterError("sign needs fresh nonces: commit first, sign once")
        self._done = True  # one request: the contract makes z_i once per nonce pair
        try:
            raw = self.store.frost_sign(
                self.vault_id,
                self.key.epoch,
                self._nonce_id,
                self.path,
                package.message,
                [c.to_bytes() for c in package.commitments],
            )
        except KeystoreError:
            # a refused package leaves the nonces unused in the contract (nothing was signed): burn them
            with contextlib.suppress(KeystoreError):
                self.store.frost_discard(self.vault_id, self.key.epoch, self._nonce_id)
            raise
        return frost.decode_share(self.suite, raw)

    def burn(self) -> None:
        """Discard unused nonces in the contract.  A store that cannot be reached now leaves them
        unused there, single-use still, until the epoch's items are erased (refresh) or burned."""
        if self._nonce_id is not None and not self._done:
            self._done = True
            with contextlib.suppress(KeystoreError):
                self.store.frost_discard(self.vault_id, self.key.epoch, self._nonce_id)

    def __repr__(self) -> str:
        return f"ContractSigner(vault={self.vault_id!r}, epoch={self.key.epoch}, path={self.path!r})"


class ContractShares:
    """Sealed (FROST) shares are used in the contract — signing, refresh, reshare, repair — and
    whole ones (threshold ECDSA) here.  The contract uses a sealed share for a reshare or repair,
    and exports it sealed to the owner's devices, only with the owner's approval, checked against
    the owner it pinned when the vault was created, and follows the owner's device recovery and
    password change (:mod:`gridlock.enclave.contract_owner`); its refusals become the guardian's."""

    def __init__(self, store: EnclaveKeystore) -> None:
        self.store = store
        self.local = LocalShares(store)

    def key_at(self, vault_id: str, share: KeyShare, path: str) -> KeyShare:
        if not isinstance(share, SealedShare):
            return self.local.key_at(vault_id, share, path)
        if path == "m":
            return share
        try:
            return self.store.public_share(vault_id, share.epoch, path)
        except BadArgument as exc:  # a path this key cannot derive: refused as the local derivation is
            raise InvalidParameterError(str(exc)) from None

    def frost_signer(self, vault_id: str, key: KeyShare, path: str, session_id: bytes) -> NonceSigner:
        if not isinstance(key, SealedShare):
            return self.local.frost_signer(vault_id, key, path, session_id)
        return ContractSigner(self.store, vault_id, key, path, session_id)

    def refresher(self, vault_id: str, share: KeyShare) -> RefreshCombiner | None:
        if not isinstance(share, SealedShare):
            return None
        group = share.scheme_obj.group

        def combine(commitments: Mapping[int, Sequence[Point]], shares: Mapping[int, int], th: bytes) -> KeyShare:
            dealings = {
                d: ([p.encode() for p in commitments[d][1:]], group.scalar_to_bytes(shares[d])) for d in commitments
            }
            return self.store.refresh_share(vault_id, share.epoch, dealings, th)

        return combine

    def custody_key(self) -> bytes | None:
        return self.store.custody_key()

    def _contract_steps(self, change: KeyChange) -> bool:
        """Whether ``change``'s steps with the share run in the contract: ``False`` for a scheme whose
        shares are used in this process (threshold ECDSA)."""
        if change.scheme not in CUSTODY_SCHEMES:
            return False
        if change.share is not None and not isinstance(change.share, SealedShare):
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "this FROST share is not kept in the contract")
        return True

    def resharer(self, change: KeyChange) -> CustodyReshare | None:
        return _RefusingReshare(self.store, change) if self._contract_steps(change) else None

    def repairer(self, change: KeyChange) -> CustodyRepair | None:
        return _RefusingRepair(self.store, change) if self._contract_steps(change) else None

    def export(self, vault_id: str, share: KeyShare, approved: Approved | None) -> Exported:
        """A sealed share is exported by the contract, sealed to the approving devices."""
        if not isinstance(share, SealedShare):
            return self.local.export(vault_id, share, approved)
        if approved is None:
            raise ctl.RequestRefused(ctl.Refusal.UNAUTHORISED, "an export needs the owner's approval")
        with _refusals():
            index, sealed = self.store.export_share(vault_id, share.epoch, approved)
        return Exported(index, b"", {device.hex(): blob for device, blob in sealed.items()})

    def store_new(self, vault_id: str, share: KeyShare, metadata: Mapping[str, Any], owner: OwnerPin) -> None:
        self.store.store_pending(vault_id, share, metadata=metadata, owner=owner)

    def owner_recovery_start(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> int:
        with _refusals(), _unpinned():
            return self.store.owner_recovery_start(vault_id, new_device, lost_device, verifier)
        return 0

    def owner_recovery_finish(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> None:
        with _refusals(), _unpinned():
            self.store.owner_recovery_finish(vault_id, new_device, lost_device, verifier)

    def owner_recovery_cancel(self, vault_id: str, approved: Approved | None) -> bool:
        if approved is None:
            raise ctl.RequestRefused(ctl.Refusal.UNAUTHORISED, "cancelling a recovery needs the owner's approval")
        with _refusals(), _unpinned():
            return self.store.owner_recovery_cancel(vault_id, approved)
        return False

    def owner_password(self, vault_id: str, approved: Approved | None, verifier: bytes, new_verifier: bytes) -> None:
        if approved is None:
            raise ctl.RequestRefused(ctl.Refusal.UNAUTHORISED, "a password change needs the owner's approval")
        with _refusals(), _unpinned():
            self.store.owner_password(vault_id, approved, verifier, new_verifier)


class _RefusingReshare(ContractReshare):
    """The contract's owner checks on a dealing, as the guardian's refusals."""

    def deal(
        self, dealers: Sequence[int], receivers: Sequence[int], threshold: int
    ) -> tuple[list[Point], dict[int, bytes]]:
        with _refusals():
            return super().deal(dealers, receivers, threshold)


class _RefusingRepair(ContractRepair):
    """The contract's owner checks on a split, as the guardian's refusals."""

    def split(self, helpers: Sequence[int], lost: int) -> tuple[list[Point], dict[int, bytes]]:
        with _refusals():
            return super().split(helpers, lost)


@contextlib.contextmanager
def _unpinned() -> Iterator[None]:
    """A vault without a pinned owner (created before owners were pinned) gives no share out, so
    there is nothing for the contract to follow."""
    with contextlib.suppress(NoOwner):
        yield


_REFUSALS: Final = (  # subclasses before Unauthorized, their base
    (ContractBusy, ctl.Refusal.BUSY),
    (AlreadyExists, ctl.Refusal.RECOVERY_PENDING),
    (TimeLocked, ctl.Refusal.TIME_LOCKED),
    (RateLimited, ctl.Refusal.RATE_LIMITED),
    (WrongPassword, ctl.Refusal.WRONG_PASSWORD),
    (Unauthorized, ctl.Refusal.UNAUTHORISED),
)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The contract's owner checks, as the guardian's refusals (:data:`_REFUSALS`)."""
    try:
        yield
    except KeystoreError as exc:
        code = next((code for cls, code in _REFUSALS if isinstance(exc, cls)), None)
        if code is None:
            raise
        raise ctl.RequestRefused(code, f"the custody contract: {exc}") from None
