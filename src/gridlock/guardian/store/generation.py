"""Rollback detection for the SQLite keystore: the generation counter and its file.

Every committed write increments a *generation* counter stored in the database and, after the
commit, in the authenticated ``<db>.generation`` file beside it.  Opening a database whose
generation is lower than the file's (an old copy of the database put back), or whose file is
missing while the database has been written to, raises :class:`RollbackDetected`.
``open(..., accept_rollback=True)`` continues after burning every unused presignature and nonce
(they might have been used after the copy was taken) — the shares are kept as the copy holds
them, and the guardian should then take part in a refresh.  A damaged generation file gives
:class:`Corrupted`; deleting it turns that into a detected rollback.

**Limitation**: the keystore cannot detect a restore of *both* files together (a whole-disk or VM
snapshot): that needs a monotonic counter outside the machine (a TPM counter, or the peers).  In
that case items taken after the snapshot are back as unused.  What remains are defences outside
the keystore: a presignature id is agreed by all of its signers and each consumes its own part,
so the other signers refuse a reused id; a FROST coordinator must refuse a nonce commitment it has
seen before (SECURITY #11).  Run guardians on storage that is not rolled back, and treat a
restored guardian as one that needs a refresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path
from typing import Final

from gridlock.guardian.store.errors import Corrupted, RollbackDetected, StorageError

__all__ = ["GenerationFile", "fsync_dir"]

_MAGIC: Final = b"GLKSGEN\x01"
_SALT_BYTES: Final = 32
_RECORD_BYTES: Final = len(_MAGIC) + _SALT_BYTES + 8 + 32


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (best effort: not every platform can)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _datasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


class GenerationFile:
    """The ``<db>.generation`` file: two fixed-size slots written alternately, each an HMAC'd
    (magic, database salt, generation) record, so a torn write never loses both."""

    def __init__(self, db_path: Path, salt: bytes, mac_key: bytes) -> None:
        self.path = db_path.with_name(db_path.name + ".generation")
        self._salt = salt
        self._mac_key = mac_key
        self._fd: int | None = None

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._mac_key, b"generation-file\x00" + body, hashlib.sha256).digest()

    def read(self) -> int | None:
        """The highest authentic generation in the file; ``None`` if the file does not exist."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the generation file ({type(exc).__name__})") from None
        found: list[int] = []
        foreign = False
        for slot in (data[:_RECORD_BYTES], data[_RECORD_BYTES : 2 * _RECORD_BYTES]):
            if len(slot) != _RECORD_BYTES or not slot.startswith(_MAGIC):
                continue
            body, mac = slot[:-32], slot[-32:]
            if body[len(_MAGIC) : len(_MAGIC) + _SALT_BYTES] != self._salt:
                foreign = True
            elif hmac.compare_digest(mac, self._mac(body)):
                found.append(int.from_bytes(body[-8:], "big"))
        if found:
            return max(found)
        if foreign:
            raise RollbackDetected("the generation file belongs to another keystore database")
        raise Corrupted("the keystore's generation file is damaged")

    def check(self, generation: int) -> tuple[int | None, str | None]:
        """The generation recorded in the file, and what is wrong given the database's
        ``generation`` (``None``: nothing)."""
        recorded = self.read()
        if recorded is None and generation > 0:
            return recorded, "the generation file beside the keystore is missing"
        if recorded is not None and recorded > generation:
            return recorded, "the keystore database is older than its generation file (restored from an old copy?)"
        return recorded, None

    def write(self, generation: int) -> None:
        """Record ``generation`` in place (slot ``generation % 2``; fixed size, so a data sync
        suffices).  Runs after the database commit, which is what counts: a failure here only
        weakens restore detection, so it is not raised."""
        body = _MAGIC + self._salt + generation.to_bytes(8, "big")
        record = body + self._mac(body)
        try:
            if self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                if os.fstat(fd).st_size < 2 * _RECORD_BYTES:
                    os.pwrite(fd, record * 2, 0)
                    os.fsync(fd)
                    fsync_dir(self.path.parent)
                self._fd = fd
            os.pwrite(self._fd, record, (generation % 2) * _RECORD_BYTES)
            _datasync(self._fd)
        except OSError:
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
