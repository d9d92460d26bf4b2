"""A guardian's durable keystore: encrypted, epoch-versioned key shares and single-use items in SQLite.

One file per guardian (plus SQLite's ``-wal`` file and a small ``.generation`` file beside it).
The API is synchronous and sans-IO friendly: every call is short, and every mutating call is one
SQLite transaction that is durable (WAL journal, ``synchronous=FULL``) before the call returns —
"kill -9 at any point loses nothing that was acknowledged".

Encryption at rest (SECURITY #23)
    ``Keystore.open(path, secret)`` takes the guardian's key-encryption secret (from its config or
    environment; at least 16 high-entropy bytes — it is a key, not a password, so it is not
    stretched).  The data-encryption key is ``HKDF-SHA256(secret, salt)`` with a random 32-byte salt
    stored in the ``meta`` table, so two guardians with the same secret still have different keys.
    A key check value (an AES-GCM encryption of a constant) turns a wrong secret into
    :class:`WrongSecret` instead of garbage.  Every secret value — the identity blob, key shares,
    presignatures, nonce material — is AES-256-GCM encrypted with a fresh random 96-bit nonce per
    write, and the associated data binds the row's identity (table, database salt, vault id, epoch,
    item id): a ciphertext copied into another row does not decrypt.  The public columns of the
    ``vaults`` and ``shares`` rows (scheme, public key, threshold, participants, state …) carry an
    HMAC under a second HKDF key, so tampering is detected without decrypting anything.
    Vault metadata is public (plaintext, authenticated): never put secrets there.

Epochs (SECURITY #16)
    A vault's share goes through ``pending → active → retired``.  :meth:`Keystore.store_pending`
    stores a new epoch (it must be newer than the active one), :meth:`Keystore.activate` makes it
    active and retires the previously active epoch *in the same transaction*.  A retired share is
    erased immediately: its ciphertext is overwritten (``secure_delete``), its unused single-use
    items are deleted, and the WAL is checkpointed and truncated so no copy survives in the
    journal.  Only a public tombstone (epoch, state ``retired``) stays, so the epoch can never be
    stored or used again; :meth:`Keystore.purge_retired` drops those tombstones.  Activation only
    happens after every new holder confirmed the new epoch, so the old share is not needed any more,
    and keeping it would undo the point of a proactive refresh (SECURITY #17).  Pending epochs
    older than the newly active one can never become active and are erased too.

Single-use items (SECURITY #9)
    Presignatures and FROST nonces are stored in batches; ``take_*`` marks the item used and erases
    its ciphertext in one committed transaction *before* the plaintext is returned, so a second
    take raises :class:`AlreadyUsed`, also after a crash.  Used items stay as tombstones so their
    ids can never be added again.  A used item's old ciphertext may remain in the WAL file until
    the next checkpoint (SQLite checkpoints automatically; :meth:`Keystore.checkpoint` forces it,
    and activating a new epoch always does); it is still encrypted under the data key.

Restoring an old copy (rollback)
    Every committed write increments a *generation* counter stored in the database and, after the
    commit, in the authenticated ``<db>.generation`` file beside it.  Opening a database whose
    generation is lower than the file's (an old copy of the database put back), or whose file is
    missing while the database has been written to, raises :class:`RollbackDetected`.
    ``open(..., accept_rollback=True)`` continues after burning every unused presignature and
    nonce (they might have been used after the copy was taken) — the shares are kept as the copy
    holds them, and the guardian should then take part in a refresh.  A damaged generation file
    gives :class:`Corrupted`; deleting it turns that into a detected rollback.

    **Limitation**: the keystore cannot detect a restore of *both* files together (a whole-disk or
    VM snapshot): that needs a monotonic counter outside the machine (a TPM counter, or the peers).
    In that case items taken after the snapshot are back as unused.  What remains are defences
    outside the keystore: a presignature id is agreed by all of its signers and each consumes its
    own part, so the other signers refuse a reused id; a FROST coordinator must refuse a nonce
    commitment it has seen before (SECURITY #11).  Run guardians on storage that is not rolled
    back, and treat a restored guardian as one that needs a refresh.

Limits of erasure: Python cannot wipe the plaintext copies that it hands out; file-system and SSD
remanence are outside the keystore's control.  Only one process may open a keystore at a time
(SQLite exclusive locking); a second one gets :class:`KeystoreLocked`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets as pysecrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto import codec
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, NonceReuseError

__all__ = [
    "MIGRATIONS",
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
    "StorageError",
    "UnsupportedVersion",
    "VaultRecord",
    "WrongSecret",
]


# --- errors ------------------------------------------------------------------------------------------
class KeystoreError(GridlockError):
    """Base class of every keystore error.  Messages never contain secret material."""


class BadArgument(KeystoreError, InvalidParameterError):
    """A malformed argument (vault id, item id, secret, metadata, …)."""


class WrongSecret(KeystoreError):
    """The key-encryption secret does not open this keystore."""


class Corrupted(KeystoreError, DecodeError):
    """The file or a record failed its integrity checks (truncated, modified, or moved between rows)."""


class NotFound(KeystoreError):
    """No such keystore, vault, epoch or item."""


class Retired(NotFound):
    """The epoch was retired: its share and items were erased."""


class EpochConflict(KeystoreError):
    """An epoch transition that would break the pending/active rules (SECURITY #16)."""


class ShareMismatch(KeystoreError):
    """A share that does not belong where it is being stored (other key, scheme, epoch or holder)."""


class AlreadyExists(KeystoreError):
    """Something that may be written only once already exists."""


class AlreadyUsed(KeystoreError, NonceReuseError):
    """A single-use presignature or nonce was asked for a second time (SECURITY #9)."""


class RollbackDetected(KeystoreError):
    """The database is older than the generation file beside it: an old copy was restored."""


class KeystoreLocked(KeystoreError):
    """Another process has the keystore open."""


class UnsupportedVersion(KeystoreError):
    """The keystore's schema version is newer than this code, or no migration path exists."""


class StorageError(KeystoreError):
    """The storage failed (I/O error, disk full, read-only, closed keystore)."""


# --- constants -----------------------------------------------------------------------------------------
SCHEMA_VERSION = 2
"""Current schema version; a database with an older one is upgraded through :data:`MIGRATIONS`."""

Migration = Callable[["Keystore", sqlite3.Connection], None]


def _add_sessions_table(_: Keystore, db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA[_SCHEMA.index("CREATE TABLE sessions") :])


MIGRATIONS: dict[int, Migration] = {1: _add_sessions_table}
"""Migration hook: ``MIGRATIONS[v]`` upgrades a version-``v`` database to ``v + 1``.  It runs inside
a write transaction after the secret was checked (so it may re-encrypt with ``Keystore._seal``)."""

ItemKind = Literal["presignature", "nonce"]

MIN_SECRET_BYTES: Final = 16
MAX_VAULT_ID_CHARS: Final = 128
MAX_ITEM_ID_BYTES: Final = 64
MAX_ITEM_BYTES: Final = 1 << 20
MAX_BATCH: Final = 10_000
MAX_IDENTITY_BYTES: Final = 1 << 20
MAX_METADATA_BYTES: Final = 64 << 10

_FORMAT: Final = b"gridlock/keystore"
_LABEL: Final = "gridlock/keystore/v1"
_KCV_PLAINTEXT: Final = b"gridlock keystore key check value v1"
_BLOB_VERSION: Final = 1
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_SALT_BYTES: Final = 32
_GEN_MAGIC: Final = b"GLKSGEN\x01"
_GEN_RECORD_BYTES: Final = len(_GEN_MAGIC) + _SALT_BYTES + 8 + 32
_STATES: Final = ("pending", "active", "retired")
_KINDS: Final = ("presignature", "nonce")

_SCHEMA: Final = (
    """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE identity (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    blob BLOB NOT NULL
);
CREATE TABLE vaults (
    vault_id   TEXT PRIMARY KEY,
    scheme     TEXT NOT NULL,
    public_key BLOB NOT NULL,
    metadata   TEXT NOT NULL,
    mac        BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE shares (
    vault_id        TEXT NOT NULL REFERENCES vaults (vault_id),
    epoch           INTEGER NOT NULL CHECK (epoch >= 0),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
    idx             INTEGER NOT NULL,
    threshold       INTEGER NOT NULL,
    participants    TEXT NOT NULL,
    transcript_hash BLOB NOT NULL,
    blob            BLOB,
    mac             BLOB NOT NULL,
    PRIMARY KEY (vault_id, epoch),
    CHECK ((state = 'retired') = (blob IS NULL))
) WITHOUT ROWID;
CREATE UNIQUE INDEX shares_one_active ON shares (vault_id) WHERE state = 'active';
CREATE TABLE items (
    kind     TEXT NOT NULL CHECK (kind IN ('presignature', 'nonce')),
    vault_id TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    item_id  BLOB NOT NULL,
    used     INTEGER NOT NULL CHECK (used IN (0, 1)),
    blob     BLOB,
    PRIMARY KEY (kind, vault_id, epoch, item_id),
    FOREIGN KEY (vault_id, epoch) REFERENCES shares (vault_id, epoch),
    CHECK ((used = 0) = (blob IS NOT NULL))
) WITHOUT ROWID;
"""
    + """
CREATE TABLE sessions (
    vault_id   TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    session_id BLOB NOT NULL,
    PRIMARY KEY (vault_id, epoch, session_id),
    FOREIGN KEY (vault_id, epoch) REFERENCES shares (vault_id, epoch)
) WITHOUT ROWID;
"""
)


_SELECT_VAULT: Final = "SELECT vault_id, scheme, CAST(public_key AS BLOB), metadata, CAST(mac AS BLOB) FROM vaults"


# --- public records --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VaultRecord:
    """Public facts about one vault (read without decrypting any share).

    ``index``, ``threshold`` and ``participants`` are those of the active epoch, or of the newest
    pending epoch while none is active yet.
    """

    vault_id: str
    scheme: str
    public_key: bytes
    index: int
    threshold: int
    participants: tuple[int, ...]
    active_epoch: int | None
    pending_epochs: tuple[int, ...]
    retired_epochs: tuple[int, ...]


@dataclass(frozen=True)
class _VaultRow:
    vault_id: str
    scheme: str
    public_key: bytes
    metadata: str


@dataclass(frozen=True)
class _ShareRow:
    vault_id: str
    epoch: int
    state: str
    index: int
    threshold: int
    participants: tuple[int, ...]
    transcript_hash: bytes
    blob: bytes | None


# --- helpers ----------------------------------------------------------------------------------------------
def _check_secret(secret: object) -> bytes:
    if not isinstance(secret, bytes | bytearray):
        raise BadArgument("the key-encryption secret must be bytes")
    if len(secret) < MIN_SECRET_BYTES:
        raise BadArgument(f"the key-encryption secret must be at least {MIN_SECRET_BYTES} bytes")
    if len(set(secret)) == 1:
        raise BadArgument("the key-encryption secret is one repeated byte, not a secret")
    return bytes(secret)


def _check_vault_id(vault_id: object) -> str:
    if not isinstance(vault_id, str) or not 0 < len(vault_id) <= MAX_VAULT_ID_CHARS:
        raise BadArgument(f"a vault id is a non-empty string of at most {MAX_VAULT_ID_CHARS} characters")
    if not vault_id.isprintable():
        raise BadArgument("a vault id must be printable text")
    return vault_id


def _check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < 2**63:
        raise BadArgument("an epoch is a non-negative integer")
    return epoch


def _check_item_id(item_id: object) -> bytes:
    if not isinstance(item_id, bytes) or not 0 < len(item_id) <= MAX_ITEM_ID_BYTES:
        raise BadArgument(f"an item id is 1 to {MAX_ITEM_ID_BYTES} bytes")
    return item_id


def _check_kind(kind: object) -> str:
    if kind not in _KINDS:
        raise BadArgument(f"item kind must be one of {_KINDS}")
    assert isinstance(kind, str)
    return kind


def _encode_metadata(metadata: object) -> str:
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise BadArgument("vault metadata must be a mapping with string keys")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise BadArgument("vault metadata must be JSON-serialisable") from None
    if len(text) > MAX_METADATA_BYTES:
        raise BadArgument(f"vault metadata larger than {MAX_METADATA_BYTES} bytes")
    return text


def _participants_text(participants: Sequence[int]) -> str:
    return json.dumps(list(participants), separators=(",", ":"))


def _item_label(item_id: bytes) -> str:
    return item_id.hex()[:16]


_BUSY_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
# SQLITE_ERROR (schema missing), CORRUPT, CONSTRAINT (invariant broken on disk), MISMATCH, FORMAT, NOTADB
_CORRUPT_CODES: Final = frozenset({1, 11, 19, 20, 24, 26})


def _translate(exc: sqlite3.Error) -> KeystoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _BUSY_CODES:
        return KeystoreLocked("the keystore is in use by another process")
    if primary in _CORRUPT_CODES or (isinstance(exc, sqlite3.DatabaseError) and primary is None):
        return Corrupted(f"the keystore database is damaged or not a keystore ({name})")
    return StorageError(f"keystore storage error ({name})")


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _translate(exc) from None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _datasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


def _hkdf(secret: bytes, salt: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_LABEL.encode() + b"/" + purpose).derive(secret)


# --- the keystore ---------------------------------------------------------------------------------------
class Keystore:
    """A guardian's durable store.  Open it with :meth:`Keystore.open`; use it as a context manager.

    Thread-safe (one lock serialises the calls).  Every method raises only :class:`KeystoreError`
    subclasses for bad input or bad storage.
    """

    # -- opening -------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        secret: bytes,
        *,
        create: bool = True,
        accept_rollback: bool = False,
    ) -> Keystore:
        """Open (or, with ``create``, create) the keystore at ``path`` with the key-encryption ``secret``.

        Raises :class:`WrongSecret`, :class:`Corrupted`, :class:`NotFound` (no file and not
        ``create``), :class:`RollbackDetected` (see the module docstring; ``accept_rollback``
        burns every unused single-use item and goes on), :class:`KeystoreLocked`,
        :class:`UnsupportedVersion`.
        """
        return cls(path, secret, create=create, accept_rollback=accept_rollback)

    def __init__(
        self,
        path: str | os.PathLike[str],
        secret: bytes,
        *,
        create: bool = True,
        accept_rollback: bool = False,
    ) -> None:
        key_secret = _check_secret(secret)
        try:
            self._path = Path(os.fspath(path))
        except TypeError:
            raise BadArgument("the keystore path must be a path") from None
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._generation = 0
        self._gen_fd: int | None = None
        self.recovered_from_rollback = False
        """True when this open accepted a rollback (and burnt the single-use items)."""
        if not self._path.exists():
            if not create:
                raise NotFound("no keystore at this path")
            self._initialise(key_secret)
        elif not self._path.is_file():
            raise BadArgument("the keystore path is not a regular file")
        elif self._path.stat().st_size == 0:
            raise Corrupted("the keystore file is empty (truncated?)")
        try:
            self._connect(key_secret, accept_rollback)
        except BaseException:
            self.close()
            raise

    def _initialise(self, secret: bytes) -> None:
        """Build a complete new database under a temporary name and link it into place atomically,
        so a crash during creation never leaves a half-made keystore at ``path``."""
        tmp = self._path.with_name(f"{self._path.name}.init-{pysecrets.token_hex(6)}")
        salt = os.urandom(_SALT_BYTES)
        dek = AESGCM(_hkdf(secret, salt, b"data-encryption-key"))
        nonce = os.urandom(_NONCE_BYTES)
        kcv = bytes([_BLOB_VERSION]) + nonce + dek.encrypt(nonce, _KCV_PLAINTEXT, self._aad_for(salt, "kcv"))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            with _sqlite_errors():
                conn = sqlite3.connect(tmp, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.executescript(_SCHEMA)
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("format", _FORMAT),
                            ("schema_version", SCHEMA_VERSION),
                            ("salt", salt),
                            ("kcv", kcv),
                            ("generation", 0),
                        ],
                    )
                    conn.execute("COMMIT")
                finally:
                    conn.close()  # the last connection checkpoints and removes the WAL
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self._path)  # fails if somebody else created it meanwhile
            except FileExistsError:
                pass
            except OSError:
                os.replace(tmp, self._path)
            _fsync_dir(self._path.parent)
        except OSError as exc:
            raise StorageError(f"cannot create the keystore ({type(exc).__name__})") from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _open_sqlite(self) -> dict[Any, Any]:
        """Connect, lock, configure and integrity-check the database; return its meta table."""
        with _sqlite_errors():
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0.5)
            self._db = db
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StorageError("the keystore needs a WAL journal")
            for pragma in (
                "synchronous=FULL",
                "secure_delete=ON",
                "foreign_keys=ON",
                "trusted_schema=OFF",
                "cell_size_check=ON",
            ):
                db.execute(f"PRAGMA {pragma}")
            db.execute("BEGIN IMMEDIATE")  # take the exclusive lock now
            db.execute("COMMIT")
            check = db.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise Corrupted("the keystore database failed its integrity check")
            return dict(db.execute("SELECT key, value FROM meta").fetchall())

    def _connect(self, secret: bytes, accept_rollback: bool) -> None:
        meta = self._open_sqlite()
        if meta.get("format") != _FORMAT:
            raise Corrupted("not a Gridlock keystore")
        version, salt, kcv, generation = (meta.get(k) for k in ("schema_version", "salt", "kcv", "generation"))
        if not isinstance(salt, bytes) or len(salt) != _SALT_BYTES or not isinstance(kcv, bytes):
            raise Corrupted("the keystore's key parameters are damaged")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise Corrupted("the keystore's schema version is damaged")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise Corrupted("the keystore's generation counter is damaged")
        self._salt = salt
        self._aead = AESGCM(_hkdf(secret, salt, b"data-encryption-key"))
        self._mac_key = _hkdf(secret, salt, b"row-mac")
        self._generation = generation
        try:
            check_value = self._open_blob(kcv, self._aad_for(salt, "kcv"), "key check value")
        except Corrupted:
            raise WrongSecret("wrong key-encryption secret for this keystore") from None
        if not hmac.compare_digest(check_value, _KCV_PLAINTEXT):
            raise WrongSecret("wrong key-encryption secret for this keystore")
        if version > SCHEMA_VERSION:
            raise UnsupportedVersion(f"keystore schema version {version} is newer than this code ({SCHEMA_VERSION})")
        recorded, problem = self._detect_rollback()
        if problem is not None:
            if not accept_rollback:
                raise RollbackDetected(problem + "; single-use items may have been used since")
            self._generation = max(self._generation, recorded or 0)  # never write a lower generation
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise UnsupportedVersion(f"no migration from keystore schema version {version}")
            with self._write() as db:
                step(self, db)
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version + 1,))
            version += 1
        if problem is not None:
            with self._write(erase=True) as db:
                db.execute("UPDATE items SET used = 1, blob = NULL WHERE used = 0")
            self.recovered_from_rollback = True
        elif recorded != self._generation:
            self._write_generation_file()

    # -- generation file (rollback detection) -----------------------------------------------------------
    @property
    def _gen_path(self) -> Path:
        return self._path.with_name(self._path.name + ".generation")

    def _gen_mac(self, body: bytes) -> bytes:
        return hmac.new(self._mac_key, b"generation-file\x00" + body, hashlib.sha256).digest()

    def _read_generation_file(self) -> int | None:
        """The highest authentic generation in the file (two slots written alternately, so a torn
        write never loses both); ``None`` if the file does not exist."""
        try:
            data = self._gen_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the generation file ({type(exc).__name__})") from None
        found: list[int] = []
        foreign = False
        for slot in (data[:_GEN_RECORD_BYTES], data[_GEN_RECORD_BYTES : 2 * _GEN_RECORD_BYTES]):
            if len(slot) != _GEN_RECORD_BYTES or not slot.startswith(_GEN_MAGIC):
                continue
            body, mac = slot[:-32], slot[-32:]
            if body[len(_GEN_MAGIC) : len(_GEN_MAGIC) + _SALT_BYTES] != self._salt:
                foreign = True
            elif hmac.compare_digest(mac, self._gen_mac(body)):
                found.append(int.from_bytes(body[-8:], "big"))
        if found:
            return max(found)
        if foreign:
            raise RollbackDetected("the generation file belongs to another keystore database")
        raise Corrupted("the keystore's generation file is damaged")

    def _write_generation_file(self) -> None:
        """Record the current generation in place (slot ``generation % 2``; fixed size, so a data
        sync suffices).  Runs after the database commit, which is what counts: a failure here only
        weakens restore detection, so it is not raised."""
        body = _GEN_MAGIC + self._salt + self._generation.to_bytes(8, "big")
        record = body + self._gen_mac(body)
        try:
            if self._gen_fd is None:
                fd = os.open(self._gen_path, os.O_RDWR | os.O_CREAT, 0o600)
                if os.fstat(fd).st_size < 2 * _GEN_RECORD_BYTES:
                    os.pwrite(fd, record * 2, 0)
                    os.fsync(fd)
                    _fsync_dir(self._gen_path.parent)
                self._gen_fd = fd
            os.pwrite(self._gen_fd, record, (self._generation % 2) * _GEN_RECORD_BYTES)
            _datasync(self._gen_fd)
        except OSError:
            self._close_gen_fd()

    def _close_gen_fd(self) -> None:
        fd, self._gen_fd = self._gen_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _detect_rollback(self) -> tuple[int | None, str | None]:
        """The generation recorded in the file, and what is wrong (``None``: nothing)."""
        recorded = self._read_generation_file()
        if recorded is None and self._generation > 0:
            return recorded, "the generation file beside the keystore is missing"
        if recorded is not None and recorded > self._generation:
            return recorded, "the keystore database is older than its generation file (restored from an old copy?)"
        return recorded, None

    # -- encryption and row integrity --------------------------------------------------------------------
    @staticmethod
    def _aad_for(salt: bytes, table: str, vault_id: str = "", epoch: int = -1, item_id: bytes = b"") -> bytes:
        return codec.dumps([_LABEL, table, salt, vault_id, epoch, item_id])

    def _aad(self, table: str, vault_id: str = "", epoch: int = -1, item_id: bytes = b"") -> bytes:
        return self._aad_for(self._salt, table, vault_id, epoch, item_id)

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return bytes([_BLOB_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _open_blob(self, blob: object, aad: bytes, what: str) -> bytes:
        if not isinstance(blob, bytes) or len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] != _BLOB_VERSION:
            raise Corrupted(f"the stored {what} is damaged")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
        except InvalidTag:
            raise Corrupted(f"the stored {what} failed authentication (damaged or moved)") from None

    def _mac(self, *fields: object) -> bytes:
        return hmac.new(self._mac_key, codec.dumps([_LABEL, self._salt, *fields]), hashlib.sha256).digest()

    def _vault_mac(self, vault_id: str, scheme: str, public_key: bytes, metadata: str) -> bytes:
        return self._mac("vaults", vault_id, scheme, public_key, metadata)

    def _share_mac(self, r: _ShareRow) -> bytes:
        return self._mac(
            "shares",
            r.vault_id,
            r.epoch,
            r.state,
            r.index,
            r.threshold,
            _participants_text(r.participants),
            r.transcript_hash,
        )

    # -- plumbing ---------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError("the keystore is closed")
        return self._db

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            with _sqlite_errors():
                yield db

    @contextlib.contextmanager
    def _write(self, *, erase: bool = False) -> Iterator[sqlite3.Connection]:
        """One durable transaction.  ``erase``: the call overwrote secrets, so checkpoint and truncate
        the WAL afterwards (no old page image with the erased ciphertext stays in the journal)."""
        with self._lock:
            db = self._conn()
            with _sqlite_errors():
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                generation = self._generation + 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (generation,))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise _translate(exc) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            self._generation = generation
            self._write_generation_file()
            if erase:
                self._checkpoint(db)

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):  # the data is committed either way
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _vault_row(self, db: sqlite3.Connection, vault_id: str) -> _VaultRow | None:
        row = db.execute(
            _SELECT_VAULT + " WHERE vault_id = ?",
            (vault_id,),
        ).fetchone()
        return None if row is None else self._parse_vault(row)

    def _parse_vault(self, row: Sequence[Any]) -> _VaultRow:
        vault_id, scheme, public_key, metadata, mac = row
        if not (
            isinstance(vault_id, str)
            and isinstance(scheme, str)
            and isinstance(public_key, bytes)
            and isinstance(metadata, str)
            and isinstance(mac, bytes)
        ) or not hmac.compare_digest(mac, self._vault_mac(vault_id, scheme, public_key, metadata)):
            raise Corrupted(f"the stored record of vault {str(vault_id)[:MAX_VAULT_ID_CHARS]!r} is damaged")
        return _VaultRow(vault_id, scheme, public_key, metadata)

    def _need_vault(self, db: sqlite3.Connection, vault_id: str) -> _VaultRow:
        v = self._vault_row(db, vault_id)
        if v is None:
            raise NotFound(f"no vault {vault_id!r} in this keystore")
        return v

    def _share_rows(
        self, db: sqlite3.Connection, vault_id: str, *, live_only: bool = False, epoch: int | None = None
    ) -> list[_ShareRow]:
        """Share rows of a vault, integrity-checked, by epoch.  ``live_only``: pending and active only
        (retired tombstones accumulate, one per refresh, and most calls need not read them)."""
        sql = (
            "SELECT vault_id, epoch, state, idx, threshold, participants, CAST(transcript_hash AS BLOB),"
            " CAST(blob AS BLOB), CAST(mac AS BLOB) FROM shares WHERE vault_id = ?"
        )
        params: tuple[object, ...] = (vault_id,)
        if live_only:
            sql += " AND state != 'retired'"
        if epoch is not None:
            sql += " AND epoch = ?"
            params += (epoch,)
        return [self._parse_share(r) for r in db.execute(sql + " ORDER BY epoch", params).fetchall()]

    def _parse_share(self, row: Sequence[Any]) -> _ShareRow:
        vault_id, epoch, state, index, threshold, participants, th, blob, mac = row
        bad = Corrupted(f"the stored share record of vault {str(vault_id)[:MAX_VAULT_ID_CHARS]!r} is damaged")
        if not (
            isinstance(vault_id, str)
            and isinstance(epoch, int)
            and state in _STATES
            and isinstance(index, int)
            and isinstance(threshold, int)
            and isinstance(participants, str)
            and isinstance(th, bytes)
            and (blob is None or isinstance(blob, bytes))
            and isinstance(mac, bytes)
        ):
            raise bad
        try:
            parts = json.loads(participants)
        except ValueError:
            raise bad from None
        if not isinstance(parts, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            raise bad
        r = _ShareRow(vault_id, epoch, state, index, threshold, tuple(parts), th, blob)
        if _participants_text(r.participants) != participants or not hmac.compare_digest(mac, self._share_mac(r)):
            raise bad
        if (state == "retired") != (blob is None):
            raise bad
        return r

    def _decrypt_share(self, vault: _VaultRow, r: _ShareRow) -> KeyShare:
        where = f"share of vault {r.vault_id!r} epoch {r.epoch}"
        plaintext = self._open_blob(r.blob, self._aad("shares", r.vault_id, r.epoch), where)
        try:
            share = KeyShare.from_bytes(plaintext)
        except GridlockError:
            raise Corrupted(f"the stored {where} does not decode") from None
        if (
            share.epoch != r.epoch
            or share.index != r.index
            or share.threshold != r.threshold
            or share.participants != r.participants
            or share.transcript_hash != r.transcript_hash
            or share.scheme != vault.scheme
            or share.public_key != vault.public_key
        ):
            raise Corrupted(f"the stored {where} does not match its record")
        return share

    def _find(self, rows: Sequence[_ShareRow], epoch: int) -> _ShareRow | None:
        return next((r for r in rows if r.epoch == epoch), None)

    @staticmethod
    def _active(rows: Sequence[_ShareRow]) -> _ShareRow | None:
        active = [r for r in rows if r.state == "active"]
        if len(active) > 1:
            raise Corrupted("more than one active epoch stored for a vault")
        return active[0] if active else None

    def _usable_share_row(self, db: sqlite3.Connection, vault_id: str, epoch: int) -> tuple[_VaultRow, _ShareRow]:
        vault = self._need_vault(db, vault_id)
        rows = self._share_rows(db, vault_id, epoch=epoch)
        if not rows:
            raise NotFound(f"vault {vault_id!r} has no share for epoch {epoch}")
        if rows[0].state == "retired":
            raise Retired(f"epoch {epoch} of vault {vault_id!r} was retired and erased")
        return vault, rows[0]

    @staticmethod
    def _delete_epoch(db: sqlite3.Connection, vault_id: str, epoch: int) -> None:
        db.execute("DELETE FROM items WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))
        db.execute("DELETE FROM sessions WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))
        db.execute("DELETE FROM shares WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))

    def _put_share_row(self, db: sqlite3.Connection, r: _ShareRow, *, insert: bool) -> None:
        values = (
            r.state,
            r.index,
            r.threshold,
            _participants_text(r.participants),
            r.transcript_hash,
            r.blob,
            self._share_mac(r),
            r.vault_id,
            r.epoch,
        )
        if insert:
            db.execute(
                "INSERT INTO shares (state, idx, threshold, participants, transcript_hash, blob, mac, vault_id, epoch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        else:
            db.execute(
                "UPDATE shares SET state = ?, idx = ?, threshold = ?, participants = ?, transcript_hash = ?,"
                " blob = ?, mac = ? WHERE vault_id = ? AND epoch = ?",
                values,
            )

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (SQLite checkpoints and removes the WAL).  Idempotent."""
        with self._lock:
            db, self._db = self._db, None
            self._close_gen_fd()
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()

    def __enter__(self) -> Keystore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._db is not None else "closed"
        return f"Keystore(path={str(self._path)!r}, generation={self._generation}, {state})"

    __str__ = __repr__

    @property
    def path(self) -> Path:
        return self._path

    @property
    def generation(self) -> int:
        """Number of committed writes (monotonic; also recorded in the ``.generation`` file)."""
        return self._generation

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate the WAL (erases old page images)."""
        with self._read() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- identity ---------------------------------------------------------------------------------------------
    def put_identity(self, blob: bytes, *, replace: bool = False) -> None:
        """Store the guardian's identity (its serialised secret keys).  Refuses to overwrite an
        existing identity unless ``replace`` (:class:`AlreadyExists`)."""
        if not isinstance(blob, bytes) or not 0 < len(blob) <= MAX_IDENTITY_BYTES:
            raise BadArgument(f"an identity is 1 to {MAX_IDENTITY_BYTES} bytes")
        with self._write(erase=replace) as db:
            exists = db.execute("SELECT 1 FROM identity WHERE id = 1").fetchone() is not None
            if exists and not replace:
                raise AlreadyExists("this keystore already holds an identity")
            sealed = self._seal(blob, self._aad("identity"))
            db.execute("INSERT OR REPLACE INTO identity (id, blob) VALUES (1, ?)", (sealed,))

    def get_identity(self) -> bytes | None:
        with self._read() as db:
            row = db.execute("SELECT CAST(blob AS BLOB) FROM identity WHERE id = 1").fetchone()
            if row is None:
                return None
            return self._open_blob(row[0], self._aad("identity"), "identity")

    # -- vault shares ---------------------------------------------------------------------------------------
    def store_pending(self, vault_id: str, share: KeyShare, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Store ``share`` as a pending epoch (its own ``epoch``) of ``vault_id``; creates the vault.

        Refuses (:class:`EpochConflict`) an epoch not newer than the active one, a retired epoch,
        or a different share already pending for that epoch (storing the identical share again is
        a no-op, so a retried call is safe).  :class:`ShareMismatch` if the share is of another key
        or scheme than the vault.  ``metadata`` optionally sets the vault metadata in the same
        transaction.
        """
        vault_id = _check_vault_id(vault_id)
        if not isinstance(share, KeyShare):
            raise BadArgument("store_pending needs a KeyShare")
        meta_text = None if metadata is None else _encode_metadata(metadata)
        epoch = _check_epoch(share.epoch)
        plaintext = share.to_bytes()
        public_key = share.public_key
        with self._write() as db:
            vault = self._vault_row(db, vault_id)
            if vault is None:
                vault = _VaultRow(vault_id, share.scheme, public_key, meta_text or "{}")
                db.execute(
                    "INSERT INTO vaults (vault_id, scheme, public_key, metadata, mac) VALUES (?, ?, ?, ?, ?)",
                    (vault_id, vault.scheme, public_key, vault.metadata, self._vault_mac(*_vault_fields(vault))),
                )
            elif vault.scheme != share.scheme or vault.public_key != public_key:
                raise ShareMismatch(f"the share is for another key or scheme than vault {vault_id!r}")
            rows = self._share_rows(db, vault_id, live_only=True)
            active = self._active(rows)
            if active is not None and epoch <= active.epoch:
                raise EpochConflict(
                    f"epoch {epoch} of vault {vault_id!r} is not newer than the active epoch {active.epoch}"
                )
            existing = self._find(rows, epoch)
            if existing is not None:  # pending (an active one is refused above)
                old = self._decrypt_share(vault, existing)
                if not hmac.compare_digest(old.to_bytes(), plaintext):
                    raise EpochConflict(f"a different share is already pending for epoch {epoch} of vault {vault_id!r}")
            else:
                row = _ShareRow(
                    vault_id,
                    epoch,
                    "pending",
                    share.index,
                    share.threshold,
                    tuple(share.participants),
                    share.transcript_hash,
                    self._seal(plaintext, self._aad("shares", vault_id, epoch)),
                )
                self._put_share_row(db, row, insert=True)
            if meta_text is not None and meta_text != vault.metadata:
                self._write_metadata(db, vault, meta_text)

    def activate(self, vault_id: str, epoch: int) -> None:
        """Make pending ``epoch`` the active one; the previously active epoch is retired and its share
        and single-use items are erased in the same transaction, as are pending epochs older than
        ``epoch``.  Activating the already active epoch is a no-op (a retried call is safe).

        :class:`NotFound` if no such pending epoch, :class:`EpochConflict` if it is older than the
        active one, :class:`Corrupted` (and nothing changes) if the pending share does not decrypt.
        """
        vault_id = _check_vault_id(vault_id)
        epoch = _check_epoch(epoch)
        with self._write(erase=True) as db:
            vault = self._need_vault(db, vault_id)
            rows = self._share_rows(db, vault_id, live_only=True)
            active = self._active(rows)
            if active is not None and active.epoch == epoch:
                return
            if active is not None and epoch < active.epoch:
                raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} is older than the active epoch")
            target = self._find(rows, epoch)
            if target is None:
                raise NotFound(f"vault {vault_id!r} has no pending epoch {epoch}")
            self._decrypt_share(vault, target)  # never activate a share we could not use
            if active is not None:
                db.execute("DELETE FROM items WHERE vault_id = ? AND epoch = ?", (vault_id, active.epoch))
                db.execute("DELETE FROM sessions WHERE vault_id = ? AND epoch = ?", (vault_id, active.epoch))
                self._put_share_row(db, replace(active, state="retired", blob=None), insert=False)
            for r in rows:
                if r.state == "pending" and r.epoch < epoch:
                    self._delete_epoch(db, vault_id, r.epoch)
            self._put_share_row(db, replace(target, state="active"), insert=False)

    def discard_pending(self, vault_id: str, epoch: int) -> None:
        """Erase pending ``epoch`` (an aborted refresh/reshare/keygen).  A vault left with neither an
        active nor a pending epoch is removed with its metadata.  :class:`NotFound` if there is no
        such pending epoch, :class:`EpochConflict` for the active epoch."""
        vault_id = _check_vault_id(vault_id)
        epoch = _check_epoch(epoch)
        with self._write(erase=True) as db:
            self._need_vault(db, vault_id)
            rows = self._share_rows(db, vault_id, live_only=True)
            target = self._find(rows, epoch)
            if target is None:
                if self._share_rows(db, vault_id, epoch=epoch):
                    raise Retired(f"epoch {epoch} of vault {vault_id!r} was retired and erased")
                raise NotFound(f"vault {vault_id!r} has no pending epoch {epoch}")
            if target.state == "active":
                raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} is active, not pending")
            self._delete_epoch(db, vault_id, epoch)
            if not any(r.epoch != epoch for r in rows):
                self._delete_vault_rows(db, vault_id)

    def purge_retired(self, vault_id: str) -> int:
        """Drop the public tombstones of retired epochs (their secrets were erased at activation).
        Returns how many were dropped.  Their epochs stay unusable: they are older than the active one."""
        vault_id = _check_vault_id(vault_id)
        with self._write() as db:
            self._need_vault(db, vault_id)
            retired = [r.epoch for r in self._share_rows(db, vault_id) if r.state == "retired"]
            for e in retired:
                self._delete_epoch(db, vault_id, e)
            return len(retired)

    def delete_vault(self, vault_id: str) -> None:
        """Erase everything stored for ``vault_id`` (e.g. this guardian left the vault's committee)."""
        vault_id = _check_vault_id(vault_id)
        with self._write(erase=True) as db:
            self._need_vault(db, vault_id)
            self._delete_vault_rows(db, vault_id)

    @staticmethod
    def _delete_vault_rows(db: sqlite3.Connection, vault_id: str) -> None:
        db.execute("DELETE FROM items WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM sessions WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM shares WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM vaults WHERE vault_id = ?", (vault_id,))

    def active_share(self, vault_id: str) -> KeyShare:
        """The active epoch's share (:class:`NotFound` if the vault has none yet)."""
        vault_id = _check_vault_id(vault_id)
        with self._read() as db:
            vault = self._need_vault(db, vault_id)
            active = self._active(self._share_rows(db, vault_id, live_only=True))
            if active is None:
                raise NotFound(f"vault {vault_id!r} has no active epoch")
            return self._decrypt_share(vault, active)

    def share(self, vault_id: str, epoch: int) -> KeyShare:
        """The share of a pending or active ``epoch`` (:class:`Retired` / :class:`NotFound` otherwise)."""
        vault_id = _check_vault_id(vault_id)
        epoch = _check_epoch(epoch)
        with self._read() as db:
            vault, r = self._usable_share_row(db, vault_id, epoch)
            return self._decrypt_share(vault, r)

    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None:
        """Persist a changed ban list (``KeyShare.banned``) of a pending or active epoch.

        Everything else must be unchanged and the ban list may only grow (bans last until the next
        refresh replaces the share): :class:`ShareMismatch` otherwise.
        """
        vault_id = _check_vault_id(vault_id)
        epoch = _check_epoch(epoch)
        if not isinstance(share, KeyShare):
            raise BadArgument("update_share needs a KeyShare")
        with self._write() as db:
            vault, r = self._usable_share_row(db, vault_id, epoch)
            old = self._decrypt_share(vault, r)
            if share.epoch != epoch or share.index != old.index or share.scheme != old.scheme:
                raise ShareMismatch(f"the share is not vault {vault_id!r}'s share of epoch {epoch}")
            try:
                expected = replace(old, banned=set(share.banned))
            except GridlockError:
                raise ShareMismatch("the ban list names participants that are not counterparties") from None
            plaintext = share.to_bytes()
            if not hmac.compare_digest(expected.to_bytes(), plaintext):
                raise ShareMismatch("update_share may change only the ban list of a share")
            if not old.banned <= share.banned:
                raise ShareMismatch("a ban list only grows until the next refresh")
            sealed = self._seal(plaintext, self._aad("shares", vault_id, epoch))
            self._put_share_row(db, replace(r, blob=sealed), insert=False)

    # -- public records and metadata ------------------------------------------------------------------------
    def vaults(self) -> list[VaultRecord]:
        """Every vault's public record, sorted by vault id.  Decrypts nothing."""
        with self._read() as db:
            rows = db.execute(_SELECT_VAULT + " ORDER BY vault_id")
            return [self._record(db, self._parse_vault(row)) for row in rows.fetchall()]

    def vault(self, vault_id: str) -> VaultRecord:
        vault_id = _check_vault_id(vault_id)
        with self._read() as db:
            return self._record(db, self._need_vault(db, vault_id))

    def _record(self, db: sqlite3.Connection, vault: _VaultRow) -> VaultRecord:
        rows = self._share_rows(db, vault.vault_id)
        active = self._active(rows)
        pending = [r for r in rows if r.state == "pending"]
        current = active if active is not None else (pending[-1] if pending else None)
        if current is None:
            raise Corrupted(f"vault {vault.vault_id!r} has neither an active nor a pending epoch")
        return VaultRecord(
            vault_id=vault.vault_id,
            scheme=vault.scheme,
            public_key=vault.public_key,
            index=current.index,
            threshold=current.threshold,
            participants=current.participants,
            active_epoch=None if active is None else active.epoch,
            pending_epochs=tuple(r.epoch for r in pending),
            retired_epochs=tuple(r.epoch for r in rows if r.state == "retired"),
        )

    def metadata(self, vault_id: str) -> dict[str, Any]:
        """The vault's metadata (public, JSON-able; e.g. the guardian ids of the participants)."""
        vault_id = _check_vault_id(vault_id)
        with self._read() as db:
            vault = self._need_vault(db, vault_id)
        try:
            value = json.loads(vault.metadata)
        except ValueError:
            raise Corrupted(f"the metadata of vault {vault_id!r} is damaged") from None
        if not isinstance(value, dict):
            raise Corrupted(f"the metadata of vault {vault_id!r} is damaged")
        return value

    def set_metadata(self, vault_id: str, metadata: Mapping[str, Any]) -> None:
        """Replace the vault's metadata (public: never put secrets here)."""
        vault_id = _check_vault_id(vault_id)
        text = _encode_metadata(metadata)
        with self._write() as db:
            self._write_metadata(db, self._need_vault(db, vault_id), text)

    def _write_metadata(self, db: sqlite3.Connection, vault: _VaultRow, text: str) -> None:
        mac = self._vault_mac(vault.vault_id, vault.scheme, vault.public_key, text)
        db.execute("UPDATE vaults SET metadata = ?, mac = ? WHERE vault_id = ?", (text, mac, vault.vault_id))

    # -- single-use items --------------------------------------------------------------------------------------
    def claim_session(self, vault_id: str, epoch: int, session_id: bytes) -> None:
        """Record, durably, that protocol session ``session_id`` runs with this epoch's share.

        A session id that was claimed before raises :class:`AlreadyUsed` — across restarts, and
        whatever happened to in-memory replay guards — until the epoch is retired (its OT setup and
        zero-sharing seeds, which per-session values are derived from, are then gone).
        """
        vault_id, epoch, session_id = _check_vault_id(vault_id), _check_epoch(epoch), _check_item_id(session_id)
        with self._write() as db:
            self._usable_share_row(db, vault_id, epoch)
            try:
                db.execute(
                    "INSERT INTO sessions (vault_id, epoch, session_id) VALUES (?, ?, ?)", (vault_id, epoch, session_id)
                )
            except sqlite3.IntegrityError:
                raise AlreadyUsed(
                    f"session {_item_label(session_id)} already ran with epoch {epoch} of vault {vault_id!r}; "
                    "a session id is never run twice"
                ) from None

    def add_presignatures(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store a batch of presignatures ``(item_id, secret_blob)`` for a pending or active epoch
        (all or nothing).  A known id is refused: :class:`AlreadyUsed` if it was used,
        :class:`AlreadyExists` otherwise."""
        self._add_items("presignature", vault_id, epoch, items)

    def take_presignature(self, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        """Mark the presignature used, erase it, commit — then return its secret blob.
        A second take raises :class:`AlreadyUsed` (SECURITY #9)."""
        return self._take_item("presignature", vault_id, epoch, item_id)

    def add_nonces(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store a batch of FROST nonces ``(item_id, secret_blob)``; as :meth:`add_presignatures`."""
        self._add_items("nonce", vault_id, epoch, items)

    def take_nonce(self, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        """As :meth:`take_presignature`, for FROST nonces."""
        return self._take_item("nonce", vault_id, epoch, item_id)

    def count_unused(self, vault_id: str, epoch: int, kind: ItemKind = "presignature") -> int:
        vault_id, epoch, k = _check_vault_id(vault_id), _check_epoch(epoch), _check_kind(kind)
        with self._read() as db:
            row = db.execute(
                "SELECT count(*) FROM items WHERE kind = ? AND vault_id = ? AND epoch = ? AND used = 0",
                (k, vault_id, epoch),
            ).fetchone()
            return int(row[0])

    def unused_ids(self, vault_id: str, epoch: int, kind: ItemKind = "presignature") -> list[bytes]:
        """Ids of the unused items of one epoch, sorted."""
        vault_id, epoch, k = _check_vault_id(vault_id), _check_epoch(epoch), _check_kind(kind)
        with self._read() as db:
            rows = db.execute(
                "SELECT CAST(item_id AS BLOB) FROM items"
                " WHERE kind = ? AND vault_id = ? AND epoch = ? AND used = 0 ORDER BY item_id",
                (k, vault_id, epoch),
            ).fetchall()
        ids = [r[0] for r in rows]
        if not all(isinstance(i, bytes) for i in ids):
            raise Corrupted("a stored item id is damaged")
        return ids

    def _add_items(self, kind: str, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        vault_id, epoch = _check_vault_id(vault_id), _check_epoch(epoch)
        if isinstance(items, str | bytes) or not isinstance(items, Sequence) or not 0 < len(items) <= MAX_BATCH:
            raise BadArgument(f"items must be a list of 1 to {MAX_BATCH} (item_id, secret) pairs")
        batch: list[tuple[bytes, bytes]] = []
        for pair in items:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise BadArgument("each item is an (item_id, secret) pair")
            item_id = _check_item_id(pair[0])
            blob = pair[1]
            if not isinstance(blob, bytes) or not 0 < len(blob) <= MAX_ITEM_BYTES:
                raise BadArgument(f"an item's secret is 1 to {MAX_ITEM_BYTES} bytes")
            batch.append((item_id, blob))
        if len({i for i, _ in batch}) != len(batch):
            raise BadArgument("duplicate item ids in one batch")
        with self._write() as db:
            self._usable_share_row(db, vault_id, epoch)
            for item_id, blob in batch:
                row = db.execute(
                    "SELECT used FROM items WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
                    (kind, vault_id, epoch, item_id),
                ).fetchone()
                if row is not None:
                    if row[0] != 0:
                        raise AlreadyUsed(f"{kind} {_item_label(item_id)} was already used; it is never stored again")
                    raise AlreadyExists(f"{kind} {_item_label(item_id)} is already stored")
                sealed = self._seal(blob, self._aad(kind, vault_id, epoch, item_id))
                db.execute(
                    "INSERT INTO items (kind, vault_id, epoch, item_id, used, blob) VALUES (?, ?, ?, ?, 0, ?)",
                    (kind, vault_id, epoch, item_id, sealed),
                )

    def _take_item(self, kind: str, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        vault_id, epoch, item_id = _check_vault_id(vault_id), _check_epoch(epoch), _check_item_id(item_id)
        with self._write() as db:
            row = db.execute(
                "SELECT used, CAST(blob AS BLOB) FROM items"
                " WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
                (kind, vault_id, epoch, item_id),
            ).fetchone()
            if row is None:
                self._usable_share_row(db, vault_id, epoch)  # Retired / NotFound for the epoch itself
                raise NotFound(f"no {kind} {_item_label(item_id)} for epoch {epoch} of vault {vault_id!r}")
            if row[0] != 0:
                raise AlreadyUsed(f"{kind} {_item_label(item_id)} was already used; it is never used twice")
            secret = self._open_blob(row[1], self._aad(kind, vault_id, epoch, item_id), kind)
            db.execute(
                "UPDATE items SET used = 1, blob = NULL WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
                (kind, vault_id, epoch, item_id),
            )
        return secret  # only now: the erasure is committed


def _vault_fields(v: _VaultRow) -> tuple[str, str, bytes, str]:
    return v.vault_id, v.scheme, v.public_key, v.metadata


class ShareStore(Protocol):
    """What a guardian node needs of its store: the SQLite :class:`Keystore`, or the enclave
    guardian's custody-contract store (``gridlock.enclave.keystore.EnclaveKeystore``)."""

    def put_identity(self, blob: bytes, *, replace: bool = False) -> None: ...
    def get_identity(self) -> bytes | None: ...
    def store_pending(self, vault_id: str, share: KeyShare, *, metadata: Mapping[str, Any] | None = None) -> None: ...
    def activate(self, vault_id: str, epoch: int) -> None: ...
    def discard_pending(self, vault_id: str, epoch: int) -> None: ...
    def active_share(self, vault_id: str) -> KeyShare: ...
    def share(self, vault_id: str, epoch: int) -> KeyShare: ...
    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None: ...
    def claim_session(self, vault_id: str, epoch: int, session_id: bytes) -> None: ...
    def vaults(self) -> list[VaultRecord]: ...
    def vault(self, vault_id: str) -> VaultRecord: ...
    def metadata(self, vault_id: str) -> dict[str, Any]: ...
    def set_metadata(self, vault_id: str, metadata: Mapping[str, Any]) -> None: ...
    def add_presignatures(self, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None: ...
    def take_presignature(self, vault_id: str, epoch: int, item_id: bytes) -> bytes: ...
    def delete_vault(self, vault_id: str) -> None: ...
    def close(self) -> None: ...
