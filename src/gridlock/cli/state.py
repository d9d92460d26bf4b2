"""The devnet directory: what is in it, the state file, and the client-side vault book.

::

    DIR/                      (--dir, else $GRIDLOCK_HOME, else ~/.gridlock/devnet)
      devnet.json             the state file (below)
      keyring.json            the owner's keys, encrypted with the password (gridlock.cli.keyring)
      directory.json          public identities of guardians and the owner's client (gridlock.guardian.config)
      vaults.json             the vault book: what the client knows of each vault
      devnet.log              the devnet host's log
      devnet.sock             the host's control socket (and the router bridge in embedded mode)
      guardians/NAME/         keystore.db, guardian.toml, guardian.log (NATS mode), audit.db
      nats/                   the nats-server the devnet started (config, log), if any

``devnet.json``::

    {"format": "gridlock-devnet/1", "created": 1700000000, "client_id": "<owner client id>",
     "keyring": "keyring.json", "directory": "directory.json",
     "guardians": [{"name": "device", "id": "<id>", "spare": false}, …],
     "running": null | {"mode": "embedded" | "nats", "router": "unix:…" | "nats://…",
                        "socket": "…/devnet.sock", "host_pid": 123, "pids": {"device": 124, …},
                        "nats_pid": 125 | null, "started": 1700000000, "session_timeout": 30.0}}

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
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlock.cli.errors import CONFLICT, UNAVAILABLE, CliError, usage

HOME_ENV = "GRIDLOCK_HOME"
STATE_FORMAT = "gridlock-devnet/1"
CORE_GUARDIANS = ("device", "enclave", "cloud", "watch", "friend")
SOCKET_MAX = 100  # sun_path is 108 bytes on Linux


def default_dir() -> Path:
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".gridlock" / "devnet"


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

    @property
    def socket(self) -> Path:
        """The control socket; in a short temporary directory when the devnet path is too long."""
        p = self.root / "devnet.sock"
        if len(os.fsencode(p)) <= SOCKET_MAX:
            return p
        tag = hashlib.sha256(os.fsencode(self.root.resolve())).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gridlock-{os.getuid()}-{tag}" / "devnet.sock"


def paths_for(directory: Path | None) -> Paths:
    root = (directory or default_dir()).expanduser()
    return Paths(root.absolute())


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


# --- the state file ---------------------------------------------------------------------------------
def load_state(paths: Paths) -> dict[str, Any] | None:
    """The state file, or None when the directory holds no devnet."""
    try:
        state = read_json(paths.state)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {paths.state}: {exc}", exit_code=CONFLICT, code="state-corrupt") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CliError(f"{paths.state} is not a gridlock devnet state file", exit_code=CONFLICT, code="state-corrupt")
    return state


def save_state(paths: Paths, state: dict[str, Any]) -> None:
    write_json(paths.state, state)


def update_running(paths: Paths, running: dict[str, Any] | None) -> None:
    with locked(paths):
        state = load_state(paths)
        if state is None:
            return
        state["running"] = running
        save_state(paths, state)


def require_state(paths: Paths) -> dict[str, Any]:
    state = load_state(paths)
    if state is None:
        raise CliError(
            f"no devnet in {paths.root}",
            hint="start one with `gridlock devnet up` (or point --dir / $GRIDLOCK_HOME at yours)",
            exit_code=UNAVAILABLE,
            code="no-devnet",
        )
    return state


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def pid_is_ours(pid: int | None, marker: str) -> bool:
    """Alive and its command line mentions ``marker`` (guards against a recycled pid)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return True


def running_info(paths: Paths, state: dict[str, Any]) -> dict[str, Any] | None:
    """The ``running`` section if the devnet host is really alive, else None."""
    running = state.get("running")
    if not isinstance(running, dict):
        return None
    return running if pid_alive(running.get("host_pid")) else None


def require_running(paths: Paths) -> tuple[dict[str, Any], dict[str, Any]]:
    state = require_state(paths)
    running = running_info(paths, state)
    if running is None:
        raise CliError(
            f"the devnet in {paths.root} is not running",
            hint="start it with `gridlock devnet up --detach`",
            exit_code=UNAVAILABLE,
            code="devnet-down",
        )
    return state, running


def guardian_names(state: dict[str, Any]) -> dict[str, str]:
    """guardian id → name (and the owner's client)."""
    names = {g["id"]: g["name"] for g in state.get("guardians", [])}
    if state.get("client_id"):
        names[state["client_id"]] = "owner"
    return names


def resolve_guardian(state: dict[str, Any], ref: str) -> dict[str, Any]:
    """A guardian by name, id or unique id prefix."""
    guardians = state.get("guardians", [])
    for g in guardians:
        if ref in (g["name"], g["id"]):
            return dict(g)
    hits = [g for g in guardians if len(ref) >= 4 and g["id"].startswith(ref)]
    if len(hits) == 1:
        return dict(hits[0])
    known = ", ".join(g["name"] for g in guardians)
    raise usage(f"unknown guardian {ref!r}", hint=f"the devnet's guardians: {known}")


# --- the vault book ---------------------------------------------------------------------------------
def load_vaults(paths: Paths) -> list[dict[str, Any]]:
    try:
        doc = read_json(paths.vaults)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the vault book {paths.vaults}: {exc}", code="vaults-corrupt") from None
    vaults = doc.get("vaults", []) if isinstance(doc, dict) else []
    return [v for v in vaults if isinstance(v, dict) and "id" in v]


def save_vault(paths: Paths, entry: dict[str, Any]) -> None:
    with locked(paths):
        vaults = [v for v in load_vaults(paths) if v["id"] != entry["id"]]
        entry = {**entry, "updated": int(time.time())}
        vaults.append(entry)
        vaults.sort(key=lambda v: (v.get("created", 0), v["id"]))
        write_json(paths.vaults, {"format": "gridlock-vaults/1", "vaults": vaults})


def resolve_vault(paths: Paths, ref: str) -> dict[str, Any]:
    """A vault by id, name, or unique id prefix (at least 4 characters)."""
    vaults = load_vaults(paths)
    for v in vaults:
        if ref == v["id"] or (v.get("name") and ref == v["name"]):
            return v
    hits = [v for v in vaults if len(ref) >= 4 and v["id"].startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise usage(f"vault prefix {ref!r} is ambiguous: {', '.join(v['id'] for v in hits)}")
    raise CliError(
        f"unknown vault {ref!r}",
        hint="`gridlock vault list` shows the vaults of this devnet",
        exit_code=2,
        code="unknown-vault",
    )
