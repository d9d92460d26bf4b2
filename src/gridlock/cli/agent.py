"""The owner's unlocked session: a small agent process, like ``ssh-agent``, so the password's
Argon2id (~0.2 s, :mod:`gridlock.cli.keyring`) is paid once per session and not by every command.

``gridlock unlock [--for 15m]`` asks for the password, opens the keyring (checking the password),
and starts the agent (:mod:`gridlock.cli.agent_server`) for that devnet directory; the key derived
from the password goes to it through a pipe (never a file, an argument or the environment).  Until
the session ends, commands ask the agent instead of the password:

* ``key``: the derived key, with which the command opens ``keyring.json`` itself (AES-GCM, ~1 ms);
* ``sign``: ``gridlock sign`` is signed by the agent itself, on the SDK connection it keeps open to
  the devnet, so the command imports no SDK, no transport and no crypto (the fast path);
* ``status`` (the session's end), ``lock`` (the agent wipes the key and exits).

The session ends at its deadline (the agent exits), by ``gridlock lock``, or when the agent is
killed; a command that finds no agent answering uses the password as before.

Who can talk to it
==================
The socket ``agent.sock`` is in a directory of its own, ``gridlock-agent-<uid>-<hash of the
devnet directory>`` under ``$XDG_RUNTIME_DIR`` (when it is the user's, mode 0700) or the system
temporary directory; the directory must be this user's, a real directory, mode 0700, and the socket
mode 0600.  Since another user can guess that name in ``/tmp`` and create it first, the agent
refuses a directory it did not find private, and a command ignores it.  Each side also checks the
other's uid with ``SO_PEERCRED`` (Linux ``unix(7)``): the agent answers only its own user, and a
command talks only to an agent of its own user, so a socket another user put there (or a
misconfigured directory) is never used.  A stale socket (the agent was killed) refuses connections:
the command falls back to the password, and the next ``unlock`` replaces it.

Anyone running as the same user can use the session while it lasts (as with ``ssh-agent``) and can
ask for the key; the agent marks itself non-dumpable so that such a process cannot read its memory
with ``ptrace`` either way.  ``GRIDLOCK_NO_AGENT=1`` makes commands ignore the agent.

This module is what commands import: only the standard library (it is on the fast path).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlock.cli.errors import FAILED, CliError, usage
from gridlock.devnet.layout import Paths, runtime_dir

NO_AGENT_ENV = "GRIDLOCK_NO_AGENT"
MAX_FRAME = 1 << 20
DEFAULT_SECONDS = 15 * 60
MAX_SECONDS = 24 * 3600
MIN_SECONDS = 5
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``2h`` as seconds (between 5 s and 24 h)."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:], 0)
    number = t[:-1] if unit else t
    if not number.isdigit():
        raise usage(f"--for {text!r} is not a duration", hint="e.g. 90s, 15m, 2h")
    seconds = int(number) * (unit or 1)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise usage(f"--for must be between {MIN_SECONDS} s and {MAX_SECONDS // 3600} h")
    return seconds


def agent_dir(paths: Paths) -> Path:
    """The session's private directory for the devnet at ``paths`` (short, for a socket address)."""
    tag = hashlib.sha256(os.fsencode(paths.root.resolve())).hexdigest()[:16]
    return runtime_dir() / f"gridlock-agent-{os.getuid()}-{tag}"


def socket_path(paths: Paths) -> Path:
    return agent_dir(paths) / "agent.sock"


def unsafe(message: str) -> CliError:
    return CliError(
        message,
        hint="another user may have made it to intercept the session: check who did, remove it, unlock again",
        exit_code=FAILED,
        code="unsafe-socket",
    )


def check_private_dir(directory: Path) -> None:
    """``directory`` is a real directory of this user's, mode 0700 (else :func:`unsafe`)."""
    try:
        st = os.lstat(directory)
    except OSError as exc:
        raise unsafe(f"cannot inspect the session directory {directory} ({type(exc).__name__})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise unsafe(f"the session directory {directory} is not a directory (a symbolic link?)")
    if st.st_uid != os.getuid():
        raise unsafe(f"the session directory {directory} belongs to another user (uid {st.st_uid})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise unsafe(f"the session directory {directory} has mode {stat.S_IMODE(st.st_mode):04o} (must be 0700)")


def check_socket_file(path: Path) -> None:
    """The socket exists, is a socket, is this user's, and sits in a private directory."""
    check_private_dir(path.parent)
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise unsafe(f"{path} is not a socket")
    if st.st_uid != os.getuid():
        raise unsafe(f"the socket {path} belongs to another user (uid {st.st_uid})")


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


# --- frames: a 4-byte big-endian length, then a JSON object -----------------------------------------
def send(sock: socket.socket, doc: dict[str, Any]) -> None:
    body = json.dumps(doc).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> dict[str, Any]:
    (length,) = struct.unpack(">I", _exactly(sock, 4))
    if length > MAX_FRAME:
        raise ConnectionError(f"a frame of {length} bytes is too long")
    doc = json.loads(_exactly(sock, length))
    if not isinstance(doc, dict):
        raise ConnectionError("a frame is not a JSON object")
    return doc


def error_doc(err: CliError) -> dict[str, Any]:
    return {"ok": False, "error": err.as_dict()}


@dataclass(frozen=True)
class AgentClient:
    """A command's handle on the unlocked session of one devnet directory."""

    path: Path

    @classmethod
    def find(cls, paths: Paths) -> AgentClient | None:
        """The session's agent if there is a safe socket for it, else None (the command then uses
        the password; an unsafe socket is never connected to).  ``$GRIDLOCK_NO_AGENT`` disables it."""
        if os.environ.get(NO_AGENT_ENV):
            return None
        path = socket_path(paths)
        try:
            check_socket_file(path)
        except (CliError, OSError):
            return None
        return cls(path)

    def call(self, op: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any] | None:
        """One request; the answer, or None when no agent of this user answers (stale socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.EACCES):
                    return None  # nobody listens (the agent was killed or has ended)
                raise
            if peer_uid(sock) != os.getuid():
                return None  # not our agent: say nothing to it
            try:
                send(sock, {"op": op, **fields})
                answer = receive(sock)
            except (OSError, ValueError, ConnectionError):
                return None
        if answer.get("ok") is False:
            error = _error(answer.get("error"))
            if error.code == "locked":
                return None  # the session has just ended: as if there were none
            raise error
        return answer

    def key(self) -> bytes | None:
        """The derived keyring key, or None when the session cannot give it."""
        with contextlib.suppress(CliError):
            answer = self.call("key")
            if answer is not None:
                with contextlib.suppress(TypeError, ValueError):
                    key = bytes.fromhex(str(answer["key"]))
                    return key if len(key) == 32 else None
        return None


def _error(doc: Any) -> CliError:
    if not isinstance(doc, dict):
        return CliError("the session's agent answered an error without a description", code="agent-error")
    code = doc.get("exit_code")
    return CliError(
        str(doc.get("message", "the session's agent failed")),
        hint=str(doc["hint"]) if doc.get("hint") else None,
        exit_code=code if isinstance(code, int) and 0 < code < 256 else FAILED,
        code=str(doc.get("code", "agent-error")),
    )
