"""An encrypted backup of a deployment profile: what a fresh machine needs to be the owner again.

File format (JSON)::

    {"format": "gridlock-backup/1",
     "kdf": {"name": "argon2id", "salt": "<hex>", "time_cost": 3, "memory_kib": 65536, "parallelism": 4},
     "cipher": "aes-256-gcm", "nonce": "<hex>", "ciphertext": "<hex>"}

The plaintext is ``{"files": {NAME: TEXT, …}}``: the profile's ``profile.json``, ``keyring.json``
(itself encrypted, :mod:`gridlock.cli.keyring`), ``directory.json``, the vault book, the audit
heads and the owner's NATS user key.  The key is Argon2id(owner password, fresh salt) with the
keyring's parameters (RFC 9106's second recommended setting); the associated data binds the header,
so an edited header fails to decrypt, and a wrong password is an authentication error (exit code 4).

A devnet is not backed up this way: its keyring holds every guardian's secret, and its guardians'
keystores live in its directory — copy the directory instead.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path, PurePath
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridlock.cli.errors import AUTH, CliError, usage
from gridlock.cli.keyring import default_kdf, derive_key

FORMAT = "gridlock-backup/1"
AAD_LABEL = b"gridlock/cli/backup/v1"
FILES = ("profile.json", "keyring.json", "directory.json", "vaults.json", "audit-heads.json", "nats.nkey")
MAX_BYTES = 16 * 1024 * 1024


def _aad(kdf: dict[str, Any]) -> bytes:
    header = {"format": FORMAT, "kdf": kdf, "cipher": "aes-256-gcm"}
    return AAD_LABEL + json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal(root: Path, password: str) -> bytes:
    """The backup of the profile in ``root`` (the files of :data:`FILES` that exist)."""
    files = {name: (root / name).read_text() for name in FILES if (root / name).exists()}
    kdf = default_kdf()
    nonce = secrets.token_bytes(12)
    plain = json.dumps({"files": files}).encode()
    ct = AESGCM(derive_key(password, kdf)).encrypt(nonce, plain, _aad(kdf))
    doc = {"format": FORMAT, "kdf": kdf, "cipher": "aes-256-gcm", "nonce": nonce.hex(), "ciphertext": ct.hex()}
    return (json.dumps(doc, indent=2) + "\n").encode()


def open_backup(data: bytes, password: str) -> dict[str, str]:
    """The files of a backup (name → text); a wrong password or a damaged file is a :class:`CliError`."""
    if len(data) > MAX_BYTES:
        raise usage("the backup file is too large to be a gridlock backup")
    try:
        doc = json.loads(data)
    except ValueError:
        raise usage("not a gridlock backup (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("cipher") != "aes-256-gcm":
        raise usage("not a gridlock backup (format gridlock-backup/1)")
    try:
        kdf = dict(doc["kdf"])
        key = derive_key(password, kdf)
        plain = AESGCM(key).decrypt(bytes.fromhex(doc["nonce"]), bytes.fromhex(doc["ciphertext"]), _aad(kdf))
    except InvalidTag:
        raise CliError(
            "wrong password: the backup does not open with it",
            hint="use the owner's password of the time the backup was made",
            exit_code=AUTH,
            code="wrong-password",
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise usage(f"the backup is damaged ({exc})") from None
    files = json.loads(plain).get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise usage("the backup is damaged (no files)")
    unknown = [n for n in files if n not in FILES or PurePath(n).name != n]
    if unknown:
        raise usage(f"the backup holds unexpected files: {', '.join(map(repr, unknown))}")
    for needed in ("profile.json", "keyring.json", "directory.json"):
        if needed not in files:
            raise usage(f"the backup has no {needed}")
    return {str(k): v for k, v in files.items()}
