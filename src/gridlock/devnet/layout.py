"""A devnet on disk: its directory, its state file and which guardians (and roles) it has.

::

    DIR/
      devnet.json             the state file (below)
      keyring.json            the owner's keys, encrypted with the password (gridlock.cli.keyring)
      directory.json          public identities of guardians and the owner's client (gridlock.guardian.config)
      vaults.json             the vault book: what the client knows of each vault (gridlock.cli.state)
      audit-heads.json        the last audit head verified per guardian and vault (gridlock.client.audit)
      devnet.log              the devnet host's log
      devnet.sock             the host's control socket (and the router bridge in embedded mode); when DIR
                              is too long for a socket address: RUNTIME/gridlock-UID-HASH/devnet.sock, in a
                              directory of mode 0700 (RUNTIME: $XDG_RUNTIME_DIR, else the temporary directory)
      guardians/NAME/         keystore.db (or secret-network/), guardian.toml, guardian.log (NATS mode), audit.db,
                              nats.nkey (NATS mode: the guardian's NATS user key)
      nats/                   the nats-server the devnet started (config, log), if any;
                              clients/ID.nkey: each client's NATS user key; authorization.conf: the
                              access list for a server the devnet did not start

``devnet.json``::

    {"format": "gridlock-devnet/1", "created": 1700000000, "client_id": "<owner client id>",
     "keyring": "keyring.json", "directory": "directory.json",
     "guardians": [{"name": "device", "id": "<id>", "spare": false, "role": "guardian"}, …],
     "running": null | {"mode": "embedded" | "nats", "router": "unix:…" | "nats://…",
                        "socket": "…/devnet.sock", "host_pid": 123, "pids": {"device": 124, …},
                        "nats_pid": 125 | null, "started": 1700000000, "session_timeout": 30.0}}

Every guardian's role is in the state file.  State files written before roles existed have none:
their core guardians take the role of the same guardian in :data:`~gridlock.devnet.spec.STANDARD`
(what that version gave them), their spares are ordinary guardians.

Everything but ``running`` persists across ``devnet down`` / ``devnet up``: guardians keep their
keystores and identities, so vaults survive a restart.  Writes are atomic (temporary file and
rename) under an advisory lock (``fcntl.flock`` on ``.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.devnet.spec import GuardianSpec

STATE_FORMAT = "gridlock-devnet/1"
SOCKET_MAX = 100  # sun_path is 108 bytes on Linux


class StateError(GridlockError):
    """The devnet state file is unreadable or not a devnet's."""


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "devnet.json"

    @property
    def keyring(self) -> Path:
        return self.root / "keyring.json"

    @property
    def directory(self) -> Path:
        return self.root / "directory.json"

    @property
    def vaults(self) -> Path:
        return self.root / "vaults.json"

    @property
    def audit_heads(self) -> Path:
        return self.root / "audit-heads.json"

    @property
    def log(self) -> Path:
        return self.root / "devnet.log"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    def guardian(self, name: str) -> Path:
        return self.root / "guardians" / name

    def guardian_nkey(self, name: str) -> Path:
        """A guardian's NATS user key (its configuration names it)."""
        return self.guardian(name) / "nats.nkey"

    def client_nkey(self, client_id: str) -> Path:
        """A client's NATS user key."""
        return self.nats / "clients" / f"{client_id}.nkey"

    @property
    def socket(self) -> Path:
        """The control socket; when the devnet path is too long for a socket address, in a short
        directory of its own under :func:`runtime_dir` (see :attr:`socket_private`)."""
        p = self.root / "devnet.sock"
        if not self.socket_private:
            return p
        tag = hashlib.sha256(os.fsencode(self.root.resolve())).hexdigest()[:16]
        return runtime_dir() / f"gridlock-{os.getuid()}-{tag}" / "devnet.sock"

    @property
    def socket_private(self) -> bool:
        """True when the socket is outside the devnet directory, in a directory whose name another
        user can guess (and so could make first): the host then accepts only a directory of its
        user's with mode 0700 (:func:`gridlock.transport.bridge.secure_socket_dir`)."""
        return len(os.fsencode(self.root / "devnet.sock")) > SOCKET_MAX


def runtime_dir() -> Path:
    """Where a socket outside the devnet directory goes: ``$XDG_RUNTIME_DIR`` when it is what the XDG
    Base Directory specification promises (an absolute path to a directory of this user's, mode 0700),
    else the system temporary directory."""
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env and os.path.isabs(env):
        with contextlib.suppress(OSError):
            st = os.lstat(env)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not stat.S_IMODE(st.st_mode) & 0o077:
                return Path(env)
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def locked(paths: Paths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_state(paths: Paths) -> dict[str, Any] | None:
    """The state file, or None when the directory holds no devnet."""
    try:
        state = read_json(paths.state)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {paths.state}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateError(f"{paths.state} is not a gridlock devnet state file")
    return state


def save_state(paths: Paths, state: dict[str, Any]) -> None:
    write_json(paths.state, state)


def update_running(paths: Paths, running: dict[str, Any] | None) -> None:
    with locked(paths):
        state = read_state(paths)
        if state is None:
            return
        state["running"] = running
        save_state(paths, state)


def guardian_spec(entry: dict[str, Any]) -> GuardianSpec:
    """A guardian of the state file (``{"name", "id", "spare", "role"}``) as its description.

    The roles are imported here, not at the top: every CLI command reads this module, and the
    guardian configuration pulls in the store and the wire formats."""
    from gridlock.devnet.spec import STANDARD, GuardianSpec  # noqa: PLC0415 -- kept off start-up
    from gridlock.guardian.config import GUARDIAN  # noqa: PLC0415 -- kept off start-up

    name = str(entry["name"])
    role = entry.get("role")
    if role is None:  # a state file from before roles: what that version gave this guardian
        role = GUARDIAN if entry.get("spare") else {s.name: s.role for s in STANDARD}.get(name, GUARDIAN)
    return GuardianSpec(name, str(role))


def guardian_specs(state: dict[str, Any]) -> list[GuardianSpec]:
    return [guardian_spec(g) for g in state.get("guardians", [])]
