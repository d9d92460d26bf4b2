"""Device recovery from the new device: prove the password, wait out the time lock, take over the
lost device's seat (SECURITY #21).

A recovery moves one vault: the guardians keep device keys per vault, and each vault has its own
time lock.  A lost device is an owner device of every vault it approved for, so recover each of
them onto the same new key (``gridlock.client.devices.DeviceKeys`` records which key each vault
answers to meanwhile: a vault whose recovery has not finished still answers to the old key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gridlock.client.client import Client
from gridlock.client.errors import OperationFailed
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.client.vault import Vault
from gridlock.errors import GridlockError, InvalidParameterError
from gridlock.wire import ops


async def recovery_start(
    client: Client,
    vault_id: str,
    guardians: Sequence[str],
    *,
    lost_device: bytes,
    password: str,
    new_device: OwnerDevice | None = None,
) -> dict[str, int]:
    """From a new device: prove the password and open a recovery of ``vault_id`` onto ``new_device``
    (default ``client.owner``).

    Every guardian starts the same time lock and tells the old device; returns each guardian's unlock time.
    """
    owner = new_device or client.owner
    if owner is None:
        raise InvalidParameterError("the new device needs its own owner key (Client(owner=...) or new_device=)")
    verifiers = await asyncio.to_thread(lambda: {g: password_verifier(password, g, vault_id) for g in guardians})

    async def one(g: str) -> ops.RecoveryReply:
        op = ops.RecoveryStart(vault_id, owner.public, lost_device, verifiers[g])
        return ops.expect(await client.call(g, op, introduce=True), ops.RecoveryReply)

    results = await asyncio.gather(*(one(g) for g in guardians), return_exceptions=True)
    errors = {g: r for g, r in zip(guardians, results, strict=True) if isinstance(r, BaseException)}
    if errors:
        raise OperationFailed("recovery start", errors)
    return {g: r.unlock_at for g, r in zip(guardians, results, strict=True) if isinstance(r, ops.RecoveryReply)}


async def recovery_status(client: Client, vault_id: str, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for g in guardians:
        try:
            reply = await client.call(g, ops.RecoveryStatus(vault_id), introduce=True)
            out[g] = ops.expect(reply, ops.RecoveryReply).to_result()
        except GridlockError as exc:
            out[g] = {"error": str(exc)}
    return out


async def recovery_finish(
    client: Client,
    vault_id: str,
    guardians: Sequence[str],
    *,
    password: str,
    new_device: OwnerDevice | None = None,
) -> Vault:
    """After the time lock: the guardians accept the new device's key; returns the vault, approved by
    ``new_device`` (default ``client.owner``): the key the recovery was started with.

    Then replace the lost device's guardian seat (``Vault.replace_guardian``), which reshares and so
    refreshes every share: the lost device's old share becomes useless.
    """
    verifiers = await asyncio.to_thread(lambda: {g: password_verifier(password, g, vault_id) for g in guardians})
    errors: dict[str, BaseException] = {}
    for g in guardians:
        try:
            await client.call(
                g, ops.RecoveryFinish(vault_id, verifiers[g], client.identity.guardian_id), introduce=True
            )
        except GridlockError as exc:
            errors[g] = exc
    if errors:
        raise OperationFailed("recovery finish", errors)
    vault = await client.open_vault(vault_id, guardians)
    if new_device is not None:
        vault.approvers = [new_device]
    return vault
