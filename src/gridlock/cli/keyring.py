"""The owner's keyring: the CLI's client identity and device key, encrypted with the owner's password.

File ``keyring.json`` in the devnet directory (mode 0600)::

    {"format": "gridlock-keyring/1", "client_id": "<id>",
     "kdf": {"name": "argon2id", "salt": "<hex>", "time_cost": 3, "memory_kib": 65536, "parallelism": 4},
     "cipher": "aes-256-gcm", "nonce": "<hex>", "ciphertext": "<hex>"}

* The key is Argon2id(password, salt) (RFC 9106's second recommended setting: 3 passes, 64 MiB,
  4 lanes; ~0.2 s here); its parameters are stored (and checked against a floor) with the keyring.
* AES-256-GCM; the associated data binds the header (format, client id, KDF and its parameters),
  so a header edited to weaken the KDF fails to decrypt.  A wrong password is an
  authentication error (exit code 4), never garbage.
* The plaintext (JSON) holds the client's transport identity (``gridlock.wire.Identity``: Ed25519
  and HPKE keys), the owner's device keys (Ed25519, what approves requests; a
  ``gridlock.client.devices.DeviceKeys``: ``device``, the current key, plus during a device
  recovery ``held`` — vault → the old key a vault still answers to until its recovery finished —
  and ``recovering`` — vault → the recovery's new key), and — devnet only — the guardians'
  key-encryption secrets, so that ``devnet up`` can restart guardians on the same keystores.  In a
  real deployment each guardian's secret stays on its own host (``secret_file``/environment).
  A keyring written before ``held``/``recovering`` existed loads with its ``device`` for every
  vault; its ``pending_device`` (an unfinished recovery's key, meant for whichever vault) is not
  carried over: cancel that recovery from this keyring and start it again.

The password comes from ``--password-file FILE``, else ``$GRIDLOCK_PASSWORD``, else a prompt
(only on a terminal; a script without either gets a clear error, exit code 4).
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridlock.cli.errors import AUTH, CliError, usage
from gridlock.client.devices import DeviceKeys
from gridlock.errors import DecodeError
from gridlock.files import write_private
from gridlock.wire import Identity

FORMAT = "gridlock-keyring/1"
PASSWORD_ENV = "GRIDLOCK_PASSWORD"  # noqa: S105 -- the variable's name
MIN_PASSWORD = 8
AAD_LABEL = b"gridlock/cli/keyring/v1"


def default_kdf() -> dict[str, Any]:
    salt = secrets.token_bytes(16).hex()
    return {"name": "argon2id", "salt": salt, "time_cost": 3, "memory_kib": 65536, "parallelism": 4}


def derive_key(password: str, kdf: dict[str, Any]) -> bytes:
    salt = bytes.fromhex(kdf["salt"])
    if len(salt) < 16:
        raise CliError("keyring: salt too short", exit_code=AUTH, code="keyring-corrupt")
    if kdf.get("name") == "argon2id":
        t, m, p = int(kdf["time_cost"]), int(kdf["memory_kib"]), int(kdf["parallelism"])
        if t < 2 or m < 19 * 1024 or p < 1:
            raise CliError("keyring: KDF parameters below the minimum", exit_code=AUTH, code="keyring-corrupt")
        return bytes(
            hash_secret_raw(
                password.encode(), salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID
            )
        )
    raise CliError(f"keyring: unknown KDF {kdf.get('name')!r}", exit_code=AUTH, code="keyring-corrupt")


def _aad(client_id: str, kdf: dict[str, Any]) -> bytes:
    header = {"format": FORMAT, "client_id": client_id, "kdf": kdf, "cipher": "aes-256-gcm"}
    return AAD_LABEL + json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Keyring:
    """The decrypted contents (keep in memory only as long as a command runs)."""

    identity: Identity
    keys: DeviceKeys  # the owner's device keys: which one approves for which vault
    guardian_secrets: dict[str, str] = field(default_factory=dict)
    _kdf: dict[str, Any] = field(default_factory=dict, repr=False)
    _key: bytes = field(default=b"", repr=False)

    @property
    def client_id(self) -> str:
        return self.identity.guardian_id

    @property
    def device(self) -> bytes:
        """The current device key (Ed25519, 32 bytes): new vaults register it."""
        return self.keys.device

    @classmethod
    def create(cls, password: str) -> Keyring:
        check_new_password(password)
        kdf = default_kdf()
        return cls(Identity.generate(name="owner"), DeviceKeys.generate(), {}, kdf, derive_key(password, kdf))

    def save(self, path: Path) -> None:
        body = {
            "identity": self.identity.to_bytes().hex(),
            **self.keys.to_json(),
            "guardian_secrets": self.guardian_secrets,
        }
        nonce = secrets.token_bytes(12)
        ct = AESGCM(self._key).encrypt(nonce, json.dumps(body).encode(), _aad(self.client_id, self._kdf))
        doc = {
            "format": FORMAT,
            "client_id": self.client_id,
            "kdf": self._kdf,
            "cipher": "aes-256-gcm",
            "nonce": nonce.hex(),
            "ciphertext": ct.hex(),
        }
        write_private(path, (json.dumps(doc, indent=2) + "\n").encode())

    def rekey(self, password: str) -> None:
        """Encrypt under ``password`` from now on (fresh salt); :meth:`save` then writes it so."""
        check_new_password(password)
        kdf = default_kdf()
        self._kdf, self._key = kdf, derive_key(password, kdf)

    @classmethod
    def load(cls, path: Path, password: str) -> Keyring:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise CliError(
                f"no keyring at {path}",
                hint="create the devnet first (`gridlock devnet up`) or a profile (`gridlock init`)",
                exit_code=3,
                code="no-devnet",
            ) from None
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the keyring {path}: {exc}", exit_code=AUTH, code="keyring-corrupt") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CliError(f"{path} is not a gridlock keyring", exit_code=AUTH, code="keyring-corrupt")
        try:
            kdf, client_id = dict(doc["kdf"]), str(doc["client_id"])
            key = derive_key(password, kdf)
            plain = AESGCM(key).decrypt(
                bytes.fromhex(doc["nonce"]), bytes.fromhex(doc["ciphertext"]), _aad(client_id, kdf)
            )
        except InvalidTag:
            raise CliError(
                "wrong password: the owner's keyring does not open with it",
                hint=(
                    "use the password given to `gridlock devnet up` or `gridlock init` "
                    f"(prompt, --password-file or ${PASSWORD_ENV})"
                ),
                exit_code=AUTH,
                code="wrong-password",
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(f"the keyring {path} is damaged ({exc})", exit_code=AUTH, code="keyring-corrupt") from None
        body = json.loads(plain)
        identity = Identity.from_bytes(bytes.fromhex(body["identity"]))
        if identity.guardian_id != client_id:
            raise CliError(f"the keyring {path} is inconsistent", exit_code=AUTH, code="keyring-corrupt")
        try:
            keys = DeviceKeys.from_json(body)
        except DecodeError as exc:
            raise CliError(f"the keyring {path} is damaged ({exc})", exit_code=AUTH, code="keyring-corrupt") from None
        return cls(identity, keys, dict(body.get("guardian_secrets") or {}), kdf, key)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise usage(f"the password must have at least {MIN_PASSWORD} characters")


def get_password(
    password_file: Path | None, *, confirm: bool = False, purpose: str = "unlock the owner's keyring"
) -> str:
    """From ``--password-file``, ``$GRIDLOCK_PASSWORD`` or a prompt on the terminal."""
    if password_file is not None:
        try:
            text = password_file.read_text()
        except OSError as exc:
            raise usage(f"cannot read the password file {password_file}: {exc.strerror}") from None
        password = text.rstrip("\r\n")
        if not password:
            raise usage(f"the password file {password_file} is empty")
        return password
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise CliError(
            "a password is needed and there is no terminal to ask for it",
            hint=f"set ${PASSWORD_ENV} or pass --password-file FILE",
            exit_code=AUTH,
            code="no-password",
        )
    password = getpass.getpass(f"Owner password (to {purpose}): ")
    if confirm:
        check_new_password(password)
        if getpass.getpass("Repeat the password: ") != password:
            raise usage("the passwords do not match")
    return password


PROMPT_TRIES = 3


def will_prompt(password_file: Path | None) -> bool:
    """Whether :func:`get_password` asks on the terminal (no file, no environment variable)."""
    return password_file is None and not os.environ.get(PASSWORD_ENV) and sys.stdin.isatty()


def unlock(
    path: Path, password_file: Path | None, *, purpose: str = "unlock the owner's keyring", first: str | None = None
) -> tuple[Keyring, str]:
    """The keyring at ``path`` and the password that opened it (``first`` tried first, when given).

    A password typed at the terminal may be mistyped: it is asked again, :data:`PROMPT_TRIES` times
    in all.  One from a file or ``$GRIDLOCK_PASSWORD`` is tried once (exit 4 when wrong), as a
    script would only repeat the same mistake."""
    tries = PROMPT_TRIES if will_prompt(password_file) else 1
    for attempt in range(1, tries + 1):
        password = first if attempt == 1 and first is not None else get_password(password_file, purpose=purpose)
        try:
            return Keyring.load(path, password), password
        except CliError as exc:
            if exc.code != "wrong-password" or attempt == tries:
                raise
            sys.stderr.write(f"wrong password, try again ({tries - attempt} more)\n")
    raise AssertionError("unreachable: the last try returns or raises")
