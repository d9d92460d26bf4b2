"""A guardian's durable keystore: encrypted, epoch-versioned key shares and single-use items in SQLite.

The API is synchronous and sans-IO friendly: every call is short, and every mutating call is one
SQLite transaction that is durable before the call returns — "kill -9 at any point loses nothing
that was acknowledged".  What it may write is decided by the shared rules
(:mod:`~gridlock.guardian.store.rules`: epochs, single-use items), the same ones the enclave's
custody contract applies.  The file is :mod:`~gridlock.guardian.store.schema`'s, its rows are
:mod:`~gridlock.guardian.store.rows`', encryption at rest is :mod:`~gridlock.guardian.store.sealing`'s,
rollback detection :mod:`~gridlock.guardian.store.generation`'s and the single-use items
:mod:`~gridlock.guardian.store.items`'.  Opening checks the MAC of every vault and share row, so a
damaged share is found at start-up, not when it is next used.

A retired share is erased at once: its ciphertext is overwritten (``secure_delete``), its unused
single-use items are deleted, and the WAL is checkpointed and truncated so no copy survives in the
journal.  A used item's old ciphertext may remain in the WAL file until the next checkpoint (SQLite
checkpoints automatically; :meth:`Keystore.checkpoint` forces it, and activating a new epoch always
does); it is still encrypted under the data key.  Vault metadata is public (plaintext,
authenticated): never put secrets there.

Limits of erasure: Python cannot wipe the plaintext copies that it hands out; file-system and SSD
remanence are outside the keystore's control.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gridlock.crypto.keyshare import KeyShare
from gridlock.guardian.store import rules, schema
from gridlock.guardian.store.errors import (
    AlreadyExists,
    BadArgument,
    Corrupted,
    NotFound,
    RollbackDetected,
    StorageError,
    UnsupportedVersion,
)
from gridlock.guardian.store.generation import GenerationFile
from gridlock.guardian.store.items import SingleUseItems
from gridlock.guardian.store.ledger_rows import LedgerRows
from gridlock.guardian.store.protocol import VaultRecord
from gridlock.guardian.store.rows import ShareRow, Tables, VaultRow, epochs
from gridlock.guardian.store.sealing import SALT_BYTES, Sealer, check_secret
from gridlock.policy.ledger import Entry

__all__ = ["Keystore"]


class Keystore(SingleUseItems):
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
        ``create``), :class:`RollbackDetected` (see :mod:`~gridlock.guardian.store.generation`;
        ``accept_rollback`` burns every unused single-use item and goes on), :class:`KeystoreLocked`,
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
        key_secret = check_secret(secret)
        try:
            self._path = Path(os.fspath(path))
        except TypeError:
            raise BadArgument("the keystore path must be a path") from None
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._generation = 0
        self._gen_file: GenerationFile | None = None
        self.recovered_from_rollback = False
        """True when this open accepted a rollback (and burnt the single-use items)."""
        if not self._path.exists():
            if not create:
                raise NotFound("no keystore at this path")
            salt = os.urandom(SALT_BYTES)
            kcv = Sealer(key_secret, salt).key_check_value()
            meta = [("format", schema.FORMAT), ("schema_version", schema.SCHEMA_VERSION), ("salt", salt)]
            schema.create(self._path, [*meta, ("kcv", kcv), ("generation", 0)])
        elif not self._path.is_file():
            raise BadArgument("the keystore path is not a regular file")
        elif self._path.stat().st_size == 0:
            raise Corrupted("the keystore file is empty (truncated?)")
        try:
            self._connect(key_secret, accept_rollback)
        except BaseException:
            self.close()
            raise

    def _keep(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _connect(self, secret: bytes, accept_rollback: bool) -> None:
        meta = schema.open_connection(self._path, self._keep)
        version = meta.schema_version
        sealer = Sealer(secret, meta.salt)
        self._tables = Tables(sealer)
        self._ledger = LedgerRows(sealer)
        self._gen_file = GenerationFile(self._path, meta.salt, sealer.mac_key)
        self._generation = meta.generation
        sealer.check_key(meta.kcv)
        if version > schema.SCHEMA_VERSION:
            raise UnsupportedVersion(
                f"keystore schema version {version} is newer than this code ({schema.SCHEMA_VERSION})"
            )
        recorded, problem = self._gen_file.check(self._generation)
        if problem is not None:
            if not accept_rollback:
                raise RollbackDetected(problem + "; single-use items may have been used since")
            self._generation = max(self._generation, recorded or 0)  # never write a lower generation
        schema.upgrade(version, self._tables, self._write)
        with self._read() as db:
            self._tables.check_all(db)  # a flipped byte in any share row, found now
        if problem is not None:
            with self._write(erase=True) as db:
                db.execute("UPDATE items SET used = 1, blob = NULL WHERE used = 0")
            self.recovered_from_rollback = True
        elif recorded != self._generation:
            self._gen_file.write(self._generation)

    @property
    def _sealer(self) -> Sealer:
        return self._tables.sealer

    # -- plumbing ---------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError("the keystore is closed")
        return self._db

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            with schema.sqlite_errors():
                yield db

    @contextlib.contextmanager
    def _write(self, *, erase: bool = False) -> Iterator[sqlite3.Connection]:
        """One durable transaction.  ``erase``: the call overwrote secrets, so checkpoint and truncate
        the WAL afterwards (no old page image with the erased ciphertext stays in the journal)."""
        with self._lock:
            db = self._conn()
            with schema.sqlite_errors():
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                generation = self._generation + 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (generation,))
                db.execute("COMMIT")
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if isinstance(exc, UnicodeDecodeError):
                    raise Corrupted("the keystore database is damaged (text that is not UTF-8)") from None
                raise schema.translate(exc) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            self._generation = generation
            if self._gen_file is not None:
                self._gen_file.write(generation)
            if erase:
                with contextlib.suppress(sqlite3.Error):  # the data is committed either way
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _usable(self, db: sqlite3.Connection, vault_id: str, epoch: int) -> tuple[VaultRow, ShareRow]:
        vault = self._tables.need_vault(db, vault_id)
        rows = self._tables.shares(db, vault_id, epoch=epoch)
        rules.require_usable(vault_id, epoch, rows[0].state if rows else None)
        return vault, rows[0]

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (SQLite checkpoints and removes the WAL).  Idempotent."""
        with self._lock:
            db, self._db = self._db, None
            if self._gen_file is not None:
                self._gen_file.close()
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
        if not isinstance(blob, bytes) or not 0 < len(blob) <= rules.MAX_IDENTITY_BYTES:
            raise BadArgument(f"an identity is 1 to {rules.MAX_IDENTITY_BYTES} bytes")
        with self._write(erase=replace) as db:
            exists = db.execute("SELECT 1 FROM identity WHERE id = 1").fetchone() is not None
            if exists and not replace:
                raise AlreadyExists("this keystore already holds an identity")
            sealed = self._sealer.seal(blob, self._sealer.aad("identity"))
            db.execute("INSERT OR REPLACE INTO identity (id, blob) VALUES (1, ?)", (sealed,))

    def get_identity(self) -> bytes | None:
        with self._read() as db:
            row = db.execute("SELECT CAST(blob AS BLOB) FROM identity WHERE id = 1").fetchone()
            if row is None:
                return None
            return self._sealer.open(row[0], self._sealer.aad("identity"), "identity")

    # -- vault shares ---------------------------------------------------------------------------------------
    def store_pending(self, vault_id: str, share: KeyShare, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Store ``share`` as a pending epoch (its own ``epoch``) of ``vault_id``; creates the vault.

        Refuses (:class:`EpochConflict`) an epoch not newer than the active one, a retired epoch,
        or a different share already pending for that epoch (storing the identical share again is
        a no-op, so a retried call is safe).  :class:`ShareMismatch` if the share is of another key
        or scheme than the vault.  ``metadata`` optionally sets the vault metadata in the same
        transaction.
        """
        vault_id = rules.check_vault_id(vault_id)
        if not isinstance(share, KeyShare):
            raise BadArgument("store_pending needs a KeyShare")
        meta_text = None if metadata is None else rules.encode_metadata(metadata)
        epoch = rules.check_epoch(share.epoch)
        with self._write() as db:
            t = self._tables
            vault = t.vault(db, vault_id)
            if vault is None:
                vault = VaultRow(vault_id, share.scheme, share.public_key, meta_text or "{}")
                t.insert_vault(db, vault)
            rules.check_share_fits(vault_id, vault.scheme, vault.public_key, share)
            rows = t.shares(db, vault_id)
            if rules.store_pending(vault_id, epochs(rows), epoch):
                existing = next(r for r in rows if r.epoch == epoch)
                rules.check_same_share(vault_id, epoch, t.decrypt_share(vault, existing).to_bytes(), share.to_bytes())
            else:
                t.put_share(db, t.new_share(vault_id, share), insert=True)
            if meta_text is not None and meta_text != vault.metadata:
                t.write_metadata(db, vault, meta_text)

    def activate(self, vault_id: str, epoch: int) -> None:
        """Make pending ``epoch`` the active one; the previously active epoch is retired and its share
        and single-use items are erased in the same transaction, as are pending epochs older than
        ``epoch``.  Activating the already active epoch is a no-op (a retried call is safe).

        :class:`NotFound` if no such pending epoch, :class:`EpochConflict` if it is older than the
        active one, :class:`Corrupted` (and nothing changes) if the pending share does not decrypt.
        """
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        with self._write(erase=True) as db:
            t = self._tables
            vault = t.need_vault(db, vault_id)
            rows = {r.epoch: r for r in t.shares(db, vault_id)}
            plan = rules.activate(vault_id, epochs(rows.values()), epoch)
            if plan is None:
                return
            t.decrypt_share(vault, rows[epoch])  # never activate a share we could not use
            if plan.retire is not None:
                t.erase_items(db, vault_id, plan.retire)
                t.put_share(db, replace(rows[plan.retire], state="retired", blob=None), insert=False)
            for e in plan.drop:
                t.delete_epoch(db, vault_id, e)
            t.put_share(db, replace(rows[epoch], state="active"), insert=False)

    def discard_pending(self, vault_id: str, epoch: int) -> None:
        """Erase pending ``epoch`` (an aborted refresh/reshare/keygen).  A vault left with neither an
        active nor a pending epoch is removed with its metadata.  :class:`NotFound` if there is no
        such pending epoch, :class:`EpochConflict` for the active epoch."""
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        with self._write(erase=True) as db:
            self._tables.need_vault(db, vault_id)
            plan = rules.discard_pending(vault_id, epochs(self._tables.shares(db, vault_id)), epoch)
            self._tables.delete_epoch(db, vault_id, epoch)
            if plan.remove_vault:
                self._tables.delete_vault(db, vault_id)

    def purge_retired(self, vault_id: str) -> int:
        """Drop the public tombstones of retired epochs (their secrets were erased at activation).
        Returns how many were dropped.  Their epochs stay unusable: they are older than the active one."""
        vault_id = rules.check_vault_id(vault_id)
        with self._write() as db:
            self._tables.need_vault(db, vault_id)
            retired = rules.retired_epochs(epochs(self._tables.shares(db, vault_id)))
            for e in retired:
                self._tables.delete_epoch(db, vault_id, e)
            return len(retired)

    def delete_vault(self, vault_id: str) -> None:
        """Erase everything stored for ``vault_id`` (e.g. this guardian left the vault's committee)."""
        vault_id = rules.check_vault_id(vault_id)
        with self._write(erase=True) as db:
            self._tables.need_vault(db, vault_id)
            self._ledger.delete_vault(db, vault_id)
            self._tables.delete_vault(db, vault_id)

    def active_share(self, vault_id: str) -> KeyShare:
        """The active epoch's share (:class:`NotFound` if the vault has none yet)."""
        vault_id = rules.check_vault_id(vault_id)
        with self._read() as db:
            vault = self._tables.need_vault(db, vault_id)
            rows = {r.epoch: r for r in self._tables.shares(db, vault_id, live_only=True)}
            active = rules.active_epoch(vault_id, epochs(rows.values()))
            if active is None:
                raise NotFound(f"vault {vault_id!r} has no active epoch")
            return self._tables.decrypt_share(vault, rows[active])

    def share(self, vault_id: str, epoch: int) -> KeyShare:
        """The share of a pending or active ``epoch`` (:class:`Retired` / :class:`NotFound` otherwise)."""
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        with self._read() as db:
            return self._tables.decrypt_share(*self._usable(db, vault_id, epoch))

    def update_share(self, vault_id: str, epoch: int, share: KeyShare) -> None:
        """Persist a changed ban list (``KeyShare.banned``) of a pending or active epoch.

        Everything else must be unchanged and the ban list may only grow (bans last until the next
        refresh replaces the share): :class:`ShareMismatch` otherwise.
        """
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        if not isinstance(share, KeyShare):
            raise BadArgument("update_share needs a KeyShare")
        with self._write() as db:
            vault, r = self._usable(db, vault_id, epoch)
            plaintext = rules.update_bans(vault_id, epoch, self._tables.decrypt_share(vault, r), share)
            self._tables.put_share(db, self._tables.reseal(r, plaintext), insert=False)

    # -- public records and metadata ------------------------------------------------------------------------
    def vaults(self) -> list[VaultRecord]:
        """Every vault's public record, sorted by vault id.  Decrypts nothing; two table scans."""
        with self._read() as db:
            shares = self._tables.all_shares(db)
            return [self._record(v, shares.get(v.vault_id, [])) for v in self._tables.all_vaults(db)]

    def vault(self, vault_id: str) -> VaultRecord:
        vault_id = rules.check_vault_id(vault_id)
        with self._read() as db:
            vault = self._tables.need_vault(db, vault_id)
            return self._record(vault, self._tables.shares(db, vault_id))

    @staticmethod
    def _record(vault: VaultRow, shares: Sequence[ShareRow]) -> VaultRecord:
        rows = {r.epoch: r for r in shares}
        states = epochs(rows.values())
        current = rows[rules.current_epoch(vault.vault_id, states)]
        return VaultRecord(
            vault_id=vault.vault_id,
            scheme=vault.scheme,
            public_key=vault.public_key,
            index=current.index,
            threshold=current.threshold,
            participants=current.participants,
            active_epoch=rules.active_epoch(vault.vault_id, states),
            pending_epochs=tuple(sorted(e for e, s in states.items() if s == "pending")),
            retired_epochs=tuple(rules.retired_epochs(states)),
        )

    def metadata(self, vault_id: str) -> dict[str, Any]:
        """The vault's metadata (public, JSON-able; e.g. the guardian ids of the participants)."""
        vault_id = rules.check_vault_id(vault_id)
        with self._read() as db:
            return _parse_metadata(self._tables.need_vault(db, vault_id))

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """Every vault's metadata, by vault id: one scan of the vault table (what a guardian reads of
        all its vaults when it starts), without the share rows."""
        with self._read() as db:
            return {v.vault_id: _parse_metadata(v) for v in self._tables.all_vaults(db)}

    def set_metadata(self, vault_id: str, metadata: Mapping[str, Any] | None, *, ledger: Sequence[Entry] = ()) -> None:
        """Replace the vault's metadata (public: never put secrets here) and append ``ledger``
        entries, in one transaction."""
        vault_id = rules.check_vault_id(vault_id)
        text = None if metadata is None else rules.encode_metadata(metadata)
        with self._write() as db:
            vault = self._tables.need_vault(db, vault_id)
            if text is not None:
                self._tables.write_metadata(db, vault, text)
            self._ledger.add(db, vault_id, ledger)

    def ledger(self, vault_id: str, since: int) -> list[Entry]:
        """The vault's policy-ledger entries from time ``since`` on, oldest first."""
        vault_id = rules.check_vault_id(vault_id)
        with self._read() as db:
            return self._ledger.since(db, vault_id, since)

    def paid_before(self, vault_id: str, chain: str, destinations: Sequence[str], before: int) -> frozenset[str]:
        """Which of ``destinations`` the vault paid on ``chain`` at time ``before`` or earlier (the
        watch guardian's question: a payment made just now does not make a destination known)."""
        vault_id = rules.check_vault_id(vault_id)
        with self._read() as db:
            return self._ledger.paid(db, vault_id, chain, destinations, before)

    # -- session claims (the single-use items are SingleUseItems') ---------------------------------------------
    def claim_session(
        self,
        vault_id: str,
        epoch: int,
        session_id: bytes,
        *,
        metadata: Mapping[str, Any] | None = None,
        ledger: Sequence[Entry] = (),
    ) -> None:
        """Record, durably, that protocol session ``session_id`` runs with this epoch's share —
        with ``metadata``, in the same transaction as the vault's new metadata (a guardian writes a
        request's state once, before its protocol run).

        A session id that was claimed before raises :class:`AlreadyUsed` — across restarts, and
        whatever happened to in-memory replay guards — until the epoch is retired (its OT setup and
        zero-sharing seeds, which per-session values are derived from, are then gone); nothing is
        written then.
        """
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        session_id = rules.check_item_id(session_id)
        text = None if metadata is None else rules.encode_metadata(metadata)
        with self._write() as db:
            self._usable(db, vault_id, epoch)
            claimed = self._tables.claimed(db, vault_id, epoch, session_id)
            rules.claim_session(vault_id, epoch, session_id, claimed=claimed)
            self._tables.add_claim(db, vault_id, epoch, session_id)
            if text is not None:
                self._tables.write_metadata(db, self._tables.need_vault(db, vault_id), text)
            self._ledger.add(db, vault_id, ledger)


def _parse_metadata(vault: VaultRow) -> dict[str, Any]:
    try:
        value = json.loads(vault.metadata)
    except ValueError:
        raise Corrupted(f"the metadata of vault {vault.vault_id!r} is damaged") from None
    if not isinstance(value, dict):
        raise Corrupted(f"the metadata of vault {vault.vault_id!r} is damaged")
    return value
