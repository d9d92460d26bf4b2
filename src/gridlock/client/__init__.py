"""The client SDK: create vaults on guardians and use them (async :class:`Client`, sync :class:`SyncClient`)."""

from gridlock.client.client import Client, GuardianTimeout, Vault
from gridlock.client.sync import SyncClient, SyncVault

__all__ = ["Client", "GuardianTimeout", "SyncClient", "SyncVault", "Vault"]
