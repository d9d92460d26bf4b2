"""Encryption at rest for the SQLite keystore (SECURITY #23): keys, AES-GCM sealing, row MACs.

``Keystore.open(path, secret)`` takes the guardian's key-encryption secret (from its config or
environment; at least :data:`MIN_SECRET_BYTES` high-entropy bytes — it is a key, not a password, so
it is not stretched).  The data-encryption key is ``HKDF-SHA256(secret, salt)`` with a random
32-byte salt stored in the database, so two guardians with the same secret still have different
keys.  A key check value (an AES-GCM encryption of a constant) turns a wrong secret into
:class:`WrongSecret` instead of garbage.  Every secret value — the identity blob, key shares,
presignatures, nonce material — is AES-256-GCM encrypted with a fresh random 96-bit nonce per
write, and the associated data binds the row's identity (table, database salt, vault id, epoch,
item id): a ciphertext copied into another row does not decrypt.  The public columns of the rows
carry an HMAC under a second HKDF key, so tampering is detected without decrypting anything.
"""

from __future__ import annotations

import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto import codec
from gridlock.guardian.store.errors import BadArgument, Corrupted, WrongSecret

__all__ = ["LABEL", "MIN_SECRET_BYTES", "SALT_BYTES", "Sealer", "check_secret"]

MIN_SECRET_BYTES: Final = 16
SALT_BYTES: Final = 32
LABEL: Final = "gridlock/keystore/v1"
_KCV_PLAINTEXT: Final = b"gridlock keystore key check value v1"
_BLOB_VERSION: Final = 1
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16


def check_secret(secret: object) -> bytes:
    """The key-encryption secret, refused when it cannot be a key (too short, one repeated byte)."""
    if not isinstance(secret, bytes | bytearray):
        raise BadArgument("the key-encryption secret must be bytes")
    if len(secret) < MIN_SECRET_BYTES:
        raise BadArgument(f"the key-encryption secret must be at least {MIN_SECRET_BYTES} bytes")
    if len(set(secret)) == 1:
        raise BadArgument("the key-encryption secret is one repeated byte, not a secret")
    return bytes(secret)


def _hkdf(secret: bytes, salt: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=LABEL.encode() + b"/" + purpose).derive(secret)


class Sealer:
    """The keys of one keystore database (from its secret and salt) and what is done with them."""

    def __init__(self, secret: bytes, salt: bytes) -> None:
        self.salt = salt
        self._aead = AESGCM(_hkdf(secret, salt, b"data-encryption-key"))
        self.mac_key = _hkdf(secret, salt, b"row-mac")

    def __repr__(self) -> str:
        return "Sealer(<keys redacted>)"

    # -- the key check value -------------------------------------------------------------------------
    def key_check_value(self) -> bytes:
        """Stored at creation; :meth:`check_key` opens it to tell a wrong secret from damage."""
        return self.seal(_KCV_PLAINTEXT, self.aad("kcv"))

    def check_key(self, kcv: bytes) -> None:
        try:
            value = self.open(kcv, self.aad("kcv"), "key check value")
        except Corrupted:
            raise WrongSecret("wrong key-encryption secret for this keystore") from None
        if not hmac.compare_digest(value, _KCV_PLAINTEXT):
            raise WrongSecret("wrong key-encryption secret for this keystore")

    # -- sealing ---------------------------------------------------------------------------------------
    def aad(self, table: str, vault_id: str = "", epoch: int = -1, item_id: bytes = b"") -> bytes:
        """Associated data naming the row a ciphertext belongs to (it opens nowhere else)."""
        return codec.dumps([LABEL, table, self.salt, vault_id, epoch, item_id])

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return bytes([_BLOB_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: object, aad: bytes, what: str) -> bytes:
        if not isinstance(blob, bytes) or len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] != _BLOB_VERSION:
            raise Corrupted(f"the stored {what} is damaged")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
        except InvalidTag:
            raise Corrupted(f"the stored {what} failed authentication (damaged or moved)") from None

    # -- public columns -----------------------------------------------------------------------------
    def mac(self, *fields: object) -> bytes:
        """HMAC of a row's public columns (checked on every read, without decrypting)."""
        return hmac.digest(self.mac_key, codec.dumps([LABEL, self.salt, *fields]), "sha256")
