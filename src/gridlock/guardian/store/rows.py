"""The SQLite keystore's rows: typed, integrity-checked reads and writes of its tables.

Every read checks a row's MAC before anything is trusted, and every secret column is sealed to its
row (:mod:`gridlock.guardian.store.sealing`), so damaged or moved data is a :class:`Corrupted`
error, never garbage.  A share row's MAC covers its sealed share too (schema version 4 on), so
:meth:`Tables.check_all` — run when the keystore opens — finds a flipped byte anywhere in a share
row without decrypting a share.  These helpers run inside the keystore's transactions; the
decisions about what to write are :mod:`gridlock.guardian.store.rules`'.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import GridlockError
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import Corrupted, NotFound
from gridlock.guardian.store.sealing import Sealer

__all__ = ["ShareRow", "Tables", "VaultRow"]

_SELECT_VAULT: Final = "SELECT vault_id, scheme, CAST(public_key AS BLOB), metadata, CAST(mac AS BLOB) FROM vaults"
_SELECT_SHARES: Final = (
    "SELECT vault_id, epoch, state, idx, threshold, participants, CAST(transcript_hash AS BLOB),"
    " CAST(blob AS BLOB), CAST(mac AS BLOB) FROM shares"
)
_SELECT_SHARE: Final = _SELECT_SHARES + " WHERE vault_id = ?"


@dataclass(frozen=True)
class VaultRow:
    vault_id: str
    scheme: str
    public_key: bytes
    metadata: str


@dataclass(frozen=True)
class ShareRow:
    vault_id: str
    epoch: int
    state: str
    index: int
    threshold: int
    participants: tuple[int, ...]
    transcript_hash: bytes
    blob: bytes | None

    def __repr__(self) -> str:
        return f"ShareRow(vault_id={self.vault_id!r}, epoch={self.epoch}, state={self.state!r})"


def _participants_text(participants: Sequence[int]) -> str:
    return json.dumps(list(participants), separators=(",", ":"))


def epochs(rows: Iterable[ShareRow]) -> dict[int, str]:
    """The rules' view of a vault's share rows."""
    return {r.epoch: r.state for r in rows}


class Tables:
    """Row access for one open keystore (its :class:`Sealer` checks and seals)."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    # -- vaults --------------------------------------------------------------------------------------
    def _vault_mac(self, v: VaultRow) -> bytes:
        return self.sealer.mac("vaults", v.vault_id, v.scheme, v.public_key, v.metadata)

    def _parse_vault(self, row: Sequence[Any]) -> VaultRow:
        vault_id, scheme, public_key, metadata, mac = row
        if not (
            isinstance(vault_id, str)
            and isinstance(scheme, str)
            and isinstance(public_key, bytes)
            and isinstance(metadata, str)
            and isinstance(mac, bytes)
        ):
            raise Corrupted(f"the stored record of vault {str(vault_id)[: rules.MAX_VAULT_ID_CHARS]!r} is damaged")
        v = VaultRow(vault_id, scheme, public_key, metadata)
        if not hmac.compare_digest(mac, self._vault_mac(v)):
            raise Corrupted(f"the stored record of vault {vault_id[: rules.MAX_VAULT_ID_CHARS]!r} is damaged")
        return v

    def vault(self, db: sqlite3.Connection, vault_id: str) -> VaultRow | None:
        row = db.execute(_SELECT_VAULT + " WHERE vault_id = ?", (vault_id,)).fetchone()
        return None if row is None else self._parse_vault(row)

    def need_vault(self, db: sqlite3.Connection, vault_id: str) -> VaultRow:
        v = self.vault(db, vault_id)
        if v is None:
            raise NotFound(f"no vault {vault_id!r} in this keystore")
        return v

    def all_vaults(self, db: sqlite3.Connection) -> list[VaultRow]:
        return [self._parse_vault(row) for row in db.execute(_SELECT_VAULT + " ORDER BY vault_id").fetchall()]

    def insert_vault(self, db: sqlite3.Connection, v: VaultRow) -> None:
        db.execute(
            "INSERT INTO vaults (vault_id, scheme, public_key, metadata, mac) VALUES (?, ?, ?, ?, ?)",
            (v.vault_id, v.scheme, v.public_key, v.metadata, self._vault_mac(v)),
        )

    def write_metadata(self, db: sqlite3.Connection, v: VaultRow, text: str) -> None:
        mac = self._vault_mac(VaultRow(v.vault_id, v.scheme, v.public_key, text))
        db.execute("UPDATE vaults SET metadata = ?, mac = ? WHERE vault_id = ?", (text, mac, v.vault_id))

    @staticmethod
    def delete_vault(db: sqlite3.Connection, vault_id: str) -> None:
        db.execute("DELETE FROM items WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM sessions WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM shares WHERE vault_id = ?", (vault_id,))
        db.execute("DELETE FROM vaults WHERE vault_id = ?", (vault_id,))

    # -- shares -------------------------------------------------------------------------------------
    def _share_mac(self, r: ShareRow, *, legacy: bool = False) -> bytes:
        """The row's MAC: every column, the sealed share included (``legacy``: the public columns
        only, as schema versions before 4 wrote it)."""
        public = (r.vault_id, r.epoch, r.state, r.index, r.threshold, _participants_text(r.participants))
        if legacy:
            return self.sealer.mac("shares", *public, r.transcript_hash)
        return self.sealer.mac("shares/v2", *public, r.transcript_hash, r.blob)

    def check_all(self, db: sqlite3.Connection) -> None:
        """Check every vault row and every share row (:class:`Corrupted` at the first bad one): two
        table scans, whatever the number of vaults (a guardian serving thousands opens in well under
        a second)."""
        self.all_vaults(db)
        for row in db.execute(_SELECT_SHARES):
            self._parse_share(row)
        orphans = db.execute("SELECT count(*) FROM shares WHERE vault_id NOT IN (SELECT vault_id FROM vaults)")
        if orphans.fetchone() != (0,):
            raise Corrupted("the keystore holds share records of no vault")

    def mac_whole_share_rows(self, db: sqlite3.Connection) -> None:
        """Migration to schema version 4: each share row checked as before (its public columns' MAC,
        and its sealed share by decrypting it), then given the MAC that covers the sealed share.
        A row that already has it is left as it is (checked all the same)."""
        for (vault_id,) in db.execute("SELECT vault_id FROM vaults").fetchall():
            rows = db.execute(_SELECT_SHARE + " ORDER BY epoch", (vault_id,)).fetchall()
            for row in rows:
                try:
                    r = self._parse_share(row, legacy=True)
                except Corrupted:
                    self._parse_share(row)
                    continue
                if r.blob is not None:
                    self.sealer.open(r.blob, self.sealer.aad("shares", r.vault_id, r.epoch), "share")
                self.put_share(db, r, insert=False)

    def shares(
        self, db: sqlite3.Connection, vault_id: str, *, live_only: bool = False, epoch: int | None = None
    ) -> list[ShareRow]:
        """Share rows of a vault, integrity-checked, by epoch.  ``live_only``: pending and active only
        (retired tombstones accumulate, one per refresh, and most calls need not read them)."""
        sql = _SELECT_SHARE
        params: list[object] = [vault_id]
        if live_only:
            sql += " AND state != 'retired'"
        if epoch is not None:
            sql += " AND epoch = ?"
            params.append(epoch)
        return [self._parse_share(r) for r in db.execute(sql + " ORDER BY epoch", params).fetchall()]

    def all_shares(self, db: sqlite3.Connection) -> dict[str, list[ShareRow]]:
        """Every share row, integrity-checked, grouped by vault id (each vault's by epoch), without
        its sealed share (``blob`` is None; the MAC that covers it was checked): one scan, not one
        query per vault, and never every vault's sealed share in memory at once."""
        out: dict[str, list[ShareRow]] = {}
        for row in db.execute(_SELECT_SHARES + " ORDER BY vault_id, epoch"):
            r = self._parse_share(row)
            out.setdefault(r.vault_id, []).append(replace(r, blob=None))
        return out

    def _parse_share(self, row: Sequence[Any], *, legacy: bool = False) -> ShareRow:
        vault_id, epoch, state, index, threshold, participants, th, blob, mac = row
        bad = Corrupted(f"the stored share record of vault {str(vault_id)[: rules.MAX_VAULT_ID_CHARS]!r} is damaged")
        if not (
            isinstance(vault_id, str)
            and isinstance(epoch, int)
            and state in rules.STATES
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
        r = ShareRow(vault_id, epoch, state, index, threshold, tuple(parts), th, blob)
        if _participants_text(r.participants) != participants or not hmac.compare_digest(
            mac, self._share_mac(r, legacy=legacy)
        ):
            raise bad
        if (state == "retired") != (blob is None):
            raise bad
        return r

    def new_share(self, vault_id: str, share: KeyShare) -> ShareRow:
        """A pending row holding ``share`` sealed to it."""
        sealed = self.sealer.seal(share.to_bytes(), self.sealer.aad("shares", vault_id, share.epoch))
        return ShareRow(
            vault_id,
            share.epoch,
            "pending",
            share.index,
            share.threshold,
            tuple(share.participants),
            share.transcript_hash,
            sealed,
        )

    def reseal(self, r: ShareRow, plaintext: bytes) -> ShareRow:
        sealed = self.sealer.seal(plaintext, self.sealer.aad("shares", r.vault_id, r.epoch))
        return ShareRow(r.vault_id, r.epoch, r.state, r.index, r.threshold, r.participants, r.transcript_hash, sealed)

    def decrypt_share(self, vault: VaultRow, r: ShareRow) -> KeyShare:
        where = f"share of vault {r.vault_id!r} epoch {r.epoch}"
        plaintext = self.sealer.open(r.blob, self.sealer.aad("shares", r.vault_id, r.epoch), where)
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

    def put_share(self, db: sqlite3.Connection, r: ShareRow, *, insert: bool) -> None:
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

    @staticmethod
    def erase_items(db: sqlite3.Connection, vault_id: str, epoch: int) -> None:
        """Erase one epoch's single-use items and session claims (the epoch is retired or gone)."""
        db.execute("DELETE FROM items WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))
        db.execute("DELETE FROM sessions WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))

    def delete_epoch(self, db: sqlite3.Connection, vault_id: str, epoch: int) -> None:
        self.erase_items(db, vault_id, epoch)
        db.execute("DELETE FROM shares WHERE vault_id = ? AND epoch = ?", (vault_id, epoch))

    # -- single-use items and session claims --------------------------------------------------------
    @staticmethod
    def item(db: sqlite3.Connection, kind: str, vault_id: str, epoch: int, item_id: bytes) -> rules.Item | None:
        """The stored item (its blob still sealed), or ``None``."""
        row = db.execute(
            "SELECT used, CAST(blob AS BLOB) FROM items WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
            (kind, vault_id, epoch, item_id),
        ).fetchone()
        if row is None:
            return None
        used, blob = row
        if used not in (0, 1) or (blob is not None and not isinstance(blob, bytes)):
            raise Corrupted(f"the stored {kind} {rules.item_label(item_id)} is damaged")
        return rules.Item(bool(used), blob)

    def known(
        self, db: sqlite3.Connection, kind: str, vault_id: str, epoch: int, ids: Iterable[bytes]
    ) -> dict[bytes, bool]:
        """Which of ``ids`` are stored, and whether each was used."""
        out: dict[bytes, bool] = {}
        for item_id in ids:
            row = db.execute(
                "SELECT used FROM items WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
                (kind, vault_id, epoch, item_id),
            ).fetchone()
            if row is not None:
                out[item_id] = row[0] != 0
        return out

    @staticmethod
    def unused_ids(db: sqlite3.Connection, kind: str, vault_id: str, epoch: int) -> list[bytes]:
        rows = db.execute(
            "SELECT CAST(item_id AS BLOB) FROM items"
            " WHERE kind = ? AND vault_id = ? AND epoch = ? AND used = 0 ORDER BY item_id",
            (kind, vault_id, epoch),
        ).fetchall()
        ids = [r[0] for r in rows]
        if not all(isinstance(i, bytes) for i in ids):
            raise Corrupted("a stored item id is damaged")
        return ids

    @staticmethod
    def put_item(
        db: sqlite3.Connection, kind: str, vault_id: str, epoch: int, item_id: bytes, item: rules.Item, *, insert: bool
    ) -> None:
        if insert:
            db.execute(
                "INSERT INTO items (kind, vault_id, epoch, item_id, used, blob) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, vault_id, epoch, item_id, int(item.used), item.blob),
            )
        else:
            db.execute(
                "UPDATE items SET used = ?, blob = ? WHERE kind = ? AND vault_id = ? AND epoch = ? AND item_id = ?",
                (int(item.used), item.blob, kind, vault_id, epoch, item_id),
            )

    @staticmethod
    def claimed(db: sqlite3.Connection, vault_id: str, epoch: int, session_id: bytes) -> bool:
        row = db.execute(
            "SELECT 1 FROM sessions WHERE vault_id = ? AND epoch = ? AND session_id = ?", (vault_id, epoch, session_id)
        ).fetchone()
        return row is not None

    @staticmethod
    def add_claim(db: sqlite3.Connection, vault_id: str, epoch: int, session_id: bytes) -> None:
        db.execute("INSERT INTO sessions (vault_id, epoch, session_id) VALUES (?, ?, ?)", (vault_id, epoch, session_id))
