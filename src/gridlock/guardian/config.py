"""A guardian's configuration: a TOML file, overridable from the environment.

::

    name = "cloud"                          # a label for people; the id comes from the keys
    data_dir = "/var/lib/gridlock/cloud"    # the keystore lives here (keystore.db)
    router = "nats://10.0.0.5:4222"         # a NATS server or cluster
    nats_key = "nats.nkey"                  # this guardian's NATS user key (seed), see below
    directory = "directory.json"            # public identities of the guardians and clients
    secret_env = "GRIDLOCK_GUARDIAN_SECRET" # where the key-encryption secret comes from …
    # secret_file = "/run/secrets/gridlock" # … or a file (one of the two)
    session_timeout = 60                    # seconds per protocol run
    max_sessions = 64                       # concurrent runs
    role = "guardian"                       # or "watch" (Watchlight: holds new-destination large spends)
                                            # or "enclave" (shares in the custody contract; run it with
                                            # ``python -m gridlock.enclave.guardian``)
    recovery_delay = 21600                  # device-recovery time lock in seconds (6 hours)

A guardian's role comes from this file, never from its name; files written before roles existed say
``kind = "guardian" | "watch"`` (still read, as the role) or nothing (the role ``guardian``).

``nats_key`` names a file holding the guardian's own NATS user key (an NKEY seed, ``SU…``; made with
``gridlock.transport.nats_auth.NkeySeed``, readable by the guardian only).  The NATS server lists its
public key with permission to subscribe to this guardian's subject only
(:class:`gridlock.transport.nats_auth.NatsAccess`); without it a server with access control refuses
the guardian.

Environment overrides: ``GRIDLOCK_DATA_DIR``, ``GRIDLOCK_ROUTER``, ``GRIDLOCK_DIRECTORY``.
The key-encryption secret is never read from the TOML file itself and never a constant
(SECURITY #23): it comes from an environment variable or a separate file, at least 16 bytes.

The directory file (JSON) maps roles to public identities (hex of ``PublicIdentity.to_bytes``)::

    {"guardians": {"<id>": "<hex>", …}, "clients": {"<id>": "<hex>", …}}
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlock.errors import DecodeError, GridlockError, InvalidParameterError
from gridlock.guardian.store import MIN_SECRET_BYTES
from gridlock.transport.nats_auth import NkeySeed
from gridlock.wire import PublicIdentity

SECRET_ENV = "GRIDLOCK_GUARDIAN_SECRET"  # noqa: S105 -- the default variable's name, not a secret
DEFAULT_RECOVERY_DELAY = 6 * 3600  # device-recovery time lock, seconds

GUARDIAN, WATCH, ENCLAVE = "guardian", "watch", "enclave"
ROLES = (GUARDIAN, WATCH, ENCLAVE)
"""A guardian's roles: an ordinary guardian, the watch service (Watchlight: its own hold-and-notify
rule), the enclave guardian (its shares and identity in the custody contract)."""


def config_text(
    name: str,
    router: str,
    directory: str,
    *,
    session_timeout: float,
    recovery_delay: float,
    role: str = GUARDIAN,
    data_dir: str = ".",
    nats_key: str | None = None,
) -> str:
    """A configuration file that :meth:`GuardianConfig.load` reads back (paths relative to the file;
    the secret from :data:`SECRET_ENV`).  JSON strings and numbers are valid TOML values."""
    fields = {
        "name": name,
        "data_dir": data_dir,
        "router": router,
        "directory": directory,
        "secret_env": SECRET_ENV,
        "session_timeout": float(session_timeout),
        "role": role,
        "recovery_delay": float(recovery_delay),
    }
    if nats_key is not None:
        fields["nats_key"] = nats_key
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in fields.items())


class ConfigError(GridlockError):
    """The configuration or directory file is missing, unreadable or invalid; the message says which."""


@dataclass(frozen=True)
class GuardianConfig:
    name: str
    data_dir: Path
    router: str
    directory: Path
    secret_env: str | None = SECRET_ENV
    secret_file: Path | None = None
    session_timeout: float = 60.0
    max_sessions: int = 64
    role: str = GUARDIAN  # one of ROLES
    recovery_delay: float = DEFAULT_RECOVERY_DELAY
    nats_key: Path | None = None  # the guardian's NATS user key (NKEY seed file)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GuardianConfig:
        p = Path(path)
        try:
            raw: dict[str, Any] = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file {p} does not exist") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {p}: {exc}") from None
        known = {f for f in cls.__dataclass_fields__} | {"kind"}  # "kind": the role, in older files
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{p}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "kind" in raw and "role" in raw and raw["kind"] != raw["role"]:
            raise ConfigError(f"{p}: kind (the older name of role) and role disagree")
        role_key = "role" if "role" in raw or "kind" not in raw else "kind"
        base = p.parent

        def path_of(value: object, key: str) -> Path:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{p}: {key} must be a path")
            q = Path(value)
            return q if q.is_absolute() else base / q

        env = os.environ
        try:
            cfg = cls(
                name=str(raw.get("name", "guardian")),
                data_dir=path_of(env.get("GRIDLOCK_DATA_DIR", raw.get("data_dir")), "data_dir"),
                router=str(env.get("GRIDLOCK_ROUTER", raw.get("router", ""))),
                directory=path_of(env.get("GRIDLOCK_DIRECTORY", raw.get("directory")), "directory"),
                secret_env=raw.get("secret_env", SECRET_ENV) if "secret_file" not in raw else None,
                secret_file=path_of(raw["secret_file"], "secret_file") if "secret_file" in raw else None,
                session_timeout=float(raw.get("session_timeout", 60.0)),
                max_sessions=int(raw.get("max_sessions", 64)),
                role=str(raw.get(role_key, GUARDIAN)),
                recovery_delay=float(raw.get("recovery_delay", DEFAULT_RECOVERY_DELAY)),
                nats_key=path_of(raw["nats_key"], "nats_key") if "nats_key" in raw else None,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{p}: {exc}") from None
        if not cfg.router.startswith(("nats://", "tls://")):
            raise ConfigError(f"{p}: router must be a nats:// URL (got {cfg.router!r})")
        if cfg.role not in ROLES:
            raise ConfigError(f"{p}: {role_key} must be one of {', '.join(ROLES)} (got {cfg.role!r})")
        if not 0 <= cfg.recovery_delay <= 30 * 86400:
            raise ConfigError(f"{p}: recovery_delay 0..30 days (in seconds), got {cfg.recovery_delay:g}")
        if not 1 <= cfg.session_timeout <= 3600 or not 1 <= cfg.max_sessions <= 10_000:
            raise ConfigError(f"{p}: session_timeout must be 1..3600 s and max_sessions 1..10000")
        return cfg

    def nats_seed(self) -> NkeySeed | None:
        """The guardian's NATS user key, if the file names one."""
        if self.nats_key is None:
            return None
        try:
            return NkeySeed.load(self.nats_key)
        except InvalidParameterError as exc:
            raise ConfigError(str(exc)) from None

    def secret(self) -> bytes:
        """The key-encryption secret, from the environment variable or the secret file."""
        if self.secret_file is not None:
            try:
                value = self.secret_file.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read the secret file {self.secret_file}: {exc.strerror}") from None
            where = f"file {self.secret_file}"
        else:
            assert self.secret_env is not None
            value = os.environ.get(self.secret_env, "").encode()
            where = f"environment variable {self.secret_env}"
        if len(value) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the key-encryption secret ({where}) is missing or shorter than {MIN_SECRET_BYTES} bytes"
            )
        return value


@dataclass(frozen=True)
class Directory:
    guardians: dict[str, PublicIdentity]
    clients: dict[str, PublicIdentity]

    @property
    def everyone(self) -> dict[str, PublicIdentity]:
        return {**self.guardians, **self.clients}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Directory:
        p = Path(path)
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"directory file {p} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read directory file {p}: {exc}") from None
        if not isinstance(raw, dict) or set(raw) - {"guardians", "clients"}:
            raise ConfigError(f"{p}: expected an object with 'guardians' and 'clients'")
        out: dict[str, dict[str, PublicIdentity]] = {"guardians": {}, "clients": {}}
        for role, entries in out.items():
            table = raw.get(role, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{p}: {role} must map ids to public identities")
            for gid, hexed in table.items():
                try:
                    pub = PublicIdentity.from_bytes(bytes.fromhex(hexed))
                except (TypeError, ValueError, DecodeError) as exc:
                    raise ConfigError(f"{p}: {role} entry {gid!r} is not a public identity ({exc})") from None
                if pub.guardian_id != gid:
                    raise ConfigError(f"{p}: {role} entry {gid!r} holds the keys of {pub.guardian_id}")
                entries[gid] = pub
        return cls(out["guardians"], out["clients"])

    def save(self, path: str | os.PathLike[str]) -> None:
        data = {
            "guardians": {g: p.to_bytes().hex() for g, p in sorted(self.guardians.items())},
            "clients": {g: p.to_bytes().hex() for g, p in sorted(self.clients.items())},
        }
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)
