"""The CLI's side of a devnet directory: where it is, the state file as CLI errors, the vault book.

The directory's layout and its state file are :mod:`gridlock.devnet.layout`'s; ``DIR`` is
``--dir``, else ``~/.gridlock/NAME`` for ``gridlock --profile NAME`` (or ``$GRIDLOCK_PROFILE``),
else ``$GRIDLOCK_HOME``, else ``~/.gridlock/devnet``.  A deployment profile
(:mod:`gridlock.cli.profile`) uses the same owner files.  The vault book (``vaults.json``) is what
the client knows of each vault.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridlock.cli.errors import CONFLICT, UNAVAILABLE, CliError, usage
from gridlock.devnet.layout import (
    STATE_FORMAT,
    Paths,
    StateError,
    locked,
    read_json,
    read_state,
    save_state,
    update_running,
    write_json,
)

__all__ = [
    "STATE_FORMAT",
    "Paths",
    "locked",
    "save_state",
    "update_running",
]

HOME_ENV = "GRIDLOCK_HOME"
PROFILE_ENV = "GRIDLOCK_PROFILE"
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_chosen: dict[str, str | None] = {"profile": None}  # `gridlock --profile NAME` for this invocation


def choose_profile(name: str | None) -> None:
    """The root option ``--profile NAME``: this invocation's default directory is ``~/.gridlock/NAME``."""
    if name is not None and PROFILE_NAME.fullmatch(name) is None:
        raise usage(f"bad profile name {name!r}: letters, digits, '.', '_' and '-' (at most 64)")
    _chosen["profile"] = name


def default_dir() -> Path:
    name = _chosen["profile"] or os.environ.get(PROFILE_ENV)
    if name:
        if PROFILE_NAME.fullmatch(name) is None:
            raise usage(f"bad profile name {name!r} (${PROFILE_ENV}): letters, digits, '.', '_' and '-'")
        return Path.home() / ".gridlock" / name
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".gridlock" / "devnet"


def paths_for(directory: Path | None) -> Paths:
    root = (directory or default_dir()).expanduser()
    return Paths(root.absolute())


# --- the state file ---------------------------------------------------------------------------------
def load_state(paths: Paths) -> dict[str, Any] | None:
    """The state file, or None when the directory holds no devnet."""
    try:
        return read_state(paths)
    except StateError as exc:
        raise CliError(str(exc), exit_code=CONFLICT, code="state-corrupt") from None


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
    """A devnet guardian by name, id or unique id prefix."""
    from gridlock.cli.profile import find_guardian  # noqa: PLC0415 -- profile imports this module

    return find_guardian(list(state.get("guardians", [])), ref, "the devnet")


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


@contextlib.contextmanager
def name_claimed(paths: Paths, name: str) -> Iterator[None]:
    """Hold the vault name ``name`` while a vault is created under it, so two concurrent
    ``vault create --name X`` cannot both get X: the claim is an exclusive ``flock`` on a file named
    by the name's hash (the kernel drops it when the process dies, so no claim outlives its command);
    inside it the vault book must not yet hold the name, and the vault is saved before it ends."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / f".name-{digest}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise usage(
                f"a vault named {name!r} is being created by another command", hint="choose another --name"
            ) from None
        try:
            if any(v.get("name") == name for v in load_vaults(paths)):
                raise usage(f"a vault named {name!r} exists already")
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
        hint="`gridlock vault list` shows the vaults of this devnet or profile",
        exit_code=2,
        code="unknown-vault",
    )
