"""The typed errors of a guardian's share store, shared by every store.

Each error that a store can report across a process boundary has a stable ``code``: the custody
contract returns it in its ``generic_err`` message and the enclave keystore maps it back to the
same class (:data:`ERROR_CODES`), so both stores raise the same exception for the same misuse.
Messages never contain secret material.
"""

from __future__ import annotations

from typing import ClassVar, Final

from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, NonceReuseError

__all__ = [
    "ERROR_CODES",
    "AlreadyExists",
    "AlreadyUsed",
    "BadArgument",
    "Corrupted",
    "EpochConflict",
    "KeystoreError",
    "KeystoreLocked",
    "NotFound",
    "Retired",
    "RollbackDetected",
    "ShareMismatch",
    "StorageError",
    "UnsupportedVersion",
    "WrongSecret",
]


class KeystoreError(GridlockError):
    """Base class of every keystore error.  Messages never contain secret material."""

    code: ClassVar[str] = "storage-error"


class BadArgument(KeystoreError, InvalidParameterError):
    """A malformed argument (vault id, item id, secret, metadata, …)."""

    code = "bad-argument"


class WrongSecret(KeystoreError):
    """The key-encryption secret does not open this keystore."""

    code = "wrong-secret"


class Corrupted(KeystoreError, DecodeError):
    """The file or a record failed its integrity checks (truncated, modified, or moved between rows)."""

    code = "corrupted"


class NotFound(KeystoreError):
    """No such keystore, vault, epoch or item."""

    code = "not-found"


class Retired(NotFound):
    """The epoch was retired: its share and items were erased."""

    code = "retired"


class EpochConflict(KeystoreError):
    """An epoch transition that would break the pending/active rules (SECURITY #16)."""

    code = "epoch-conflict"


class ShareMismatch(KeystoreError):
    """A share that does not belong where it is being stored (other key, scheme, epoch or holder)."""

    code = "share-mismatch"


class AlreadyExists(KeystoreError):
    """Something that may be written only once already exists."""

    code = "already-exists"


class AlreadyUsed(KeystoreError, NonceReuseError):
    """A single-use presignature or nonce was asked for a second time (SECURITY #9)."""

    code = "already-used"


class RollbackDetected(KeystoreError):
    """The database is older than the generation file beside it: an old copy was restored."""

    code = "rollback-detected"


class KeystoreLocked(KeystoreError):
    """Another process has the keystore open."""

    code = "locked"


class UnsupportedVersion(KeystoreError):
    """The keystore's schema version is newer than this code, or no migration path exists."""

    code = "unsupported-version"


class StorageError(KeystoreError):
    """The storage failed (I/O error, disk full, read-only, closed keystore)."""


ERROR_CODES: Final[dict[str, type[KeystoreError]]] = {
    cls.code: cls
    for cls in (NotFound, Retired, EpochConflict, ShareMismatch, AlreadyExists, AlreadyUsed, BadArgument, Corrupted)
}
"""The errors the custody contract reports by code (the rules' errors and bad input), by code."""
