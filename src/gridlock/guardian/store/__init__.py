"""A guardian's share store: one contract, two stores.

* :mod:`~gridlock.guardian.store.protocol` — :class:`ShareStore` (what a guardian needs) and :class:`VaultRecord`;
* :mod:`~gridlock.guardian.store.rules` — the epoch and single-use-item rules as pure functions,
  applied by both stores; the argument limits;
* :mod:`~gridlock.guardian.store.errors` — the typed errors (with the codes the custody contract reports);
* :mod:`~gridlock.guardian.store.sqlite` — :class:`Keystore`, the SQLite store, built from
  :mod:`~gridlock.guardian.store.schema` (the file), :mod:`~gridlock.guardian.store.rows` (its rows),
  :mod:`~gridlock.guardian.store.sealing` (encryption at rest) and
  :mod:`~gridlock.guardian.store.generation` (rollback detection).

The other store is the enclave guardian's custody contract, reached through
:class:`gridlock.enclave.keystore.EnclaveKeystore`.
"""

from __future__ import annotations

from gridlock.guardian.store.errors import (
    AlreadyExists,
    AlreadyUsed,
    BadArgument,
    Corrupted,
    EpochConflict,
    KeystoreError,
    KeystoreLocked,
    NotFound,
    Retired,
    RollbackDetected,
    ShareMismatch,
    StorageError,
    UnsupportedVersion,
    WrongSecret,
)
from gridlock.guardian.store.protocol import ShareStore, VaultRecord
from gridlock.guardian.store.rules import (
    MAX_BATCH,
    MAX_IDENTITY_BYTES,
    MAX_ITEM_BYTES,
    MAX_ITEM_ID_BYTES,
    MAX_METADATA_BYTES,
    MAX_VAULT_ID_CHARS,
    ItemKind,
)
from gridlock.guardian.store.schema import MIGRATIONS, SCHEMA_VERSION
from gridlock.guardian.store.sealing import MIN_SECRET_BYTES
from gridlock.guardian.store.sqlite import Keystore

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
