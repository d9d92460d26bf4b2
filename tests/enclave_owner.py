"""The owner of vaults that tests store in the custody contract directly: its pin, its approval of
a request that uses the share in the contract (:mod:`gridlock.enclave.contract_owner`): a
reshare's, unless another ``op`` is named — and the test's look at a share through the owner's
export."""

from __future__ import annotations

import dataclasses
import os

from gridlock.client.owner import OwnerDevice
from gridlock.crypto import device_seal
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.guardian.shares import Approved, OwnerPin
from gridlock.wire import ops
from gridlock.wire.approval import subject_bytes, verifier_digest

OWNER = OwnerDevice()
VERIFIER = b"the owner's verifier, 32 bytes!!"


def pin_of(device: OwnerDevice = OWNER, recovery_delay: int = 0, verifier: bytes = VERIFIER) -> OwnerPin:
    return OwnerPin((device.public,), 1, bytes.fromhex(verifier_digest(verifier)), recovery_delay)


def approved(device: OwnerDevice, vault_id: str, scheme: str, op: str = "reshare") -> Approved:
    """The owner's approval of an ``op`` request on the vault, as a guardian passes it to its store."""
    params = {"vault": vault_id, "nonce": os.urandom(32)}
    approval = device.approve(vault_id, scheme, op, params)
    return Approved(op, subject_bytes(params), params["nonce"], (approval,))


def approved_request(device: OwnerDevice, request: ops.Reshare | ops.Repair) -> Approved:
    """The owner's approval of a whole reshare or repair request, as a guardian passes it to its store."""
    params = request.to_params()
    approval = device.approve(request.vault, request.scheme, request.NAME, params)
    return Approved(request.NAME, subject_bytes(params), request.nonce, (approval,))


def reveal(ks: EnclaveKeystore, vault_id: str, epoch: int, device: OwnerDevice = OWNER) -> bytes:
    """The test's look at a share the contract keeps (its secret scalar, encoded): the owner's
    export, sealed to ``device`` and opened with its key — the one way the contract lets it out."""
    scheme = ks.vault(vault_id).scheme
    index, sealed = ks.export_share(vault_id, epoch, approved(device, vault_id, scheme, op="export"))
    return device.open_sealed(sealed[device.public], device_seal.export_context(vault_id, index, device.public))


def secret_of(ks: EnclaveKeystore, vault_id: str, epoch: int, device: OwnerDevice = OWNER) -> int:
    """:func:`reveal` as the scalar."""
    return get_scheme(ks.vault(vault_id).scheme).group.decode_scalar(reveal(ks, vault_id, epoch, device))


def held(ks: EnclaveKeystore, vault_id: str, epoch: int, device: OwnerDevice = OWNER) -> KeyShare:
    """The whole share the contract keeps: its public view with the secret :func:`reveal` reads."""
    view = ks.share(vault_id, epoch)
    public = {f.name: getattr(view, f.name) for f in dataclasses.fields(KeyShare) if f.init and f.name != "secret"}
    return KeyShare(**public, secret=view.scheme_obj.group.decode_scalar(reveal(ks, vault_id, epoch, device)))
