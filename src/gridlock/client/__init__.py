"""The client SDK: create vaults on guardians and use them (async :class:`Client`, sync :class:`SyncClient`)."""

from gridlock.client.client import Client
from gridlock.client.devices import DeviceKeys
from gridlock.client.errors import GuardianTimeout, OperationFailed
from gridlock.client.owner_controls import PasswordChangeReport
from gridlock.client.recovery import recovery_finish, recovery_start, recovery_status
from gridlock.client.sync import SyncClient, SyncVault
from gridlock.client.vault import Vault

__all__ = [
    "Client",
    "DeviceKeys",
    "GuardianTimeout",
    "OperationFailed",
    "PasswordChangeReport",
    "SyncClient",
    "SyncVault",
    "Vault",
    "recovery_finish",
    "recovery_start",
    "recovery_status",
]
