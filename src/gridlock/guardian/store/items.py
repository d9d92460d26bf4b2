"""The SQLite keystore's single-use items: presignatures and FROST nonces (SECURITY #9).

A mix-in of :class:`~gridlock.guardian.store.sqlite.Keystore` (its transactions, row codec and
epoch checks): each item is sealed to its row, taken at most once, and erased in the same durable
transaction that marks it used — the secret is returned only after that commit.  The rules of
what may be added and taken are :mod:`gridlock.guardian.store.rules`'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

from gridlock.guardian.store import rules
from gridlock.guardian.store.rows import ShareRow, Tables, VaultRow

__all__ = ["SingleUseItems"]


class SingleUseItems:
    """Presignatures and nonces of a keystore (mixed into :class:`Keystore`, which provides these)."""

    _tables: Tables
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _usable: Callable[[sqlite3.Connection, str, int], tuple[VaultRow, ShareRow]]

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

    def count_unused(self, vault_id: str, epoch: int, kind: rules.ItemKind = "presignature") -> int:
        vault_id, epoch, k = rules.check_vault_id(vault_id), rules.check_epoch(epoch), rules.check_kind(kind)
        with self._read() as db:
            return len(self._tables.unused_ids(db, k, vault_id, epoch))

    def unused_ids(self, vault_id: str, epoch: int, kind: rules.ItemKind = "presignature") -> list[bytes]:
        """Ids of the unused items of one epoch, sorted."""
        vault_id, epoch, k = rules.check_vault_id(vault_id), rules.check_epoch(epoch), rules.check_kind(kind)
        with self._read() as db:
            return self._tables.unused_ids(db, k, vault_id, epoch)

    def _add_items(self, kind: str, vault_id: str, epoch: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        batch = rules.check_batch(items)
        with self._write() as db:
            self._usable(db, vault_id, epoch)
            known = self._tables.known(db, kind, vault_id, epoch, (i for i, _ in batch))
            sealer = self._tables.sealer
            for item_id, item in rules.new_items(kind, vault_id, epoch, batch, known):
                assert item.blob is not None
                sealed = sealer.seal(item.blob, sealer.aad(kind, vault_id, epoch, item_id))
                self._tables.put_item(db, kind, vault_id, epoch, item_id, replace(item, blob=sealed), insert=True)

    def _take_item(self, kind: str, vault_id: str, epoch: int, item_id: bytes) -> bytes:
        vault_id, epoch = rules.check_vault_id(vault_id), rules.check_epoch(epoch)
        item_id = rules.check_item_id(item_id)
        with self._write() as db:
            item = self._tables.item(db, kind, vault_id, epoch, item_id)
            state = None
            if item is None:  # only then does the epoch's state matter (a stored item's epoch is live)
                self._tables.need_vault(db, vault_id)
                rows = self._tables.shares(db, vault_id, epoch=epoch)
                state = rows[0].state if rows else None
            used, sealed = rules.take(kind, vault_id, epoch, item_id, item, state)
            sealer = self._tables.sealer
            secret = sealer.open(sealed, sealer.aad(kind, vault_id, epoch, item_id), kind)
            self._tables.put_item(db, kind, vault_id, epoch, item_id, used, insert=False)
        return secret  # only now: the erasure is committed
