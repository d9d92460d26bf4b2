"""Compatibility name for :mod:`gridlock.guardian.store`: the guardian's share store.

``from gridlock.guardian.keystore import Keystore, ShareStore, AlreadyUsed, ...`` keeps working;
new code imports from :mod:`gridlock.guardian.store`, where each part has its own module.
"""

from __future__ import annotations

from gridlock.guardian.store import (
    MAX_BATCH,
    MAX_IDENTITY_BYTES,
    MAX_ITEM_BYTES,
    MAX_ITEM_ID_BYTES,
    MAX_METADATA_BYTES,
    MAX_VAULT_ID_CHARS,
    MIGRATIONS,
    MIN_SECRET_BYTES,
    SCHEMA_VERSION,
    AlreadyExists,
    AlreadyUsed,
    BadArgument,
    Corrupted,
    EpochConflict,
    ItemKind,
    Keystore,
    KeystoreError,
    KeystoreLocked,
    NotFound,
    Retired,
    RollbackDetected,
    ShareMismatch,
    ShareStore,
    StorageError,
    UnsupportedVersion,
    VaultRecord,
    WrongSecret,
)

__all__ = [
    "MAX_BATCH",
    "MAX_IDENTITY_BYTES",
    "MAX_ITEM_BYTES",
    "MAX_ITEM_ID_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_VAULT_ID_CHARS",
    "MIGRATIONS",
    "MIN_SECRET_BYTES",
    "SCHEMA_VERSION",
    "AlreadyExists",
    "AlreadyUsed",
    "BadArgument",
    "Corrupted",
    "EpochConflict",
    "ItemKind",
    "Keystore",
    "KeystoreError",
    "KeystoreLocked",
    "NotFound",
    "Retired",
    "RollbackDetected",
    "ShareMismatch",
    "ShareStore",
    "StorageError",
    "UnsupportedVersion",
    "VaultRecord",
    "WrongSecret",
]
