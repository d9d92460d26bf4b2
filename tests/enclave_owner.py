"""The owner of vaults that tests store in the custody contract directly: its pin, and its approval
of a request that lets a share out of the contract (:mod:`gridlock.enclave.contract_owner`): a
reshare's, unless another ``op`` is named."""

from __future__ import annotations

import os

from gridlock.client.owner import OwnerDevice
from gridlock.crypto.keyshare import KeyShare
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.guardian.shares import Approved, OwnerPin
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


def release(ks: EnclaveKeystore, vault_id: str, epoch: int, scheme: str, device: OwnerDevice = OWNER) -> KeyShare:
    """The test's look at a share the contract keeps: as for a reshare the owner approved."""
    return ks.release_share(vault_id, epoch, approved(device, vault_id, scheme))
