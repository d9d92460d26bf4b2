"""The unlocked session's agent process (``python -m gridlock.cli.agent_server --dir DIR --seconds N``),
started by ``gridlock unlock``; see :mod:`gridlock.cli.agent` for what it answers and who may ask.

It reads the keyring key (hex, one line) from its standard input, opens the keyring with it, makes
its private directory and socket, prints ``ready`` (or ``error: …``) on its standard output and
serves until its deadline, a ``lock`` request, SIGTERM, or until its socket is no longer at its
path (removed or replaced: nobody could reach the session any more) or the keyring is gone.
Requests are served one at a time (a signature takes tens of milliseconds); a connection that
sends nothing within a few seconds is dropped.  On the way out it overwrites the buffer holding
the key (other copies Python made go with the process), closes its SDK connection and removes its
socket (if still its own) and directory.  Nothing it holds is written anywhere.
"""

# ruff: noqa: PLC0415 -- the SDK is imported on the first `sign`, not at start

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from gridlock.cli import agent
from gridlock.cli.errors import AUTH, CliError, classify, usage
from gridlock.cli.keyring import Keyring
from gridlock.cli.profile import load_profile
from gridlock.cli.state import load_vaults, paths_for
from gridlock.devnet.layout import Paths

if TYPE_CHECKING:
    from gridlock.cli.sdk import OwnerSession

REQUEST_TIMEOUT = 5.0  # seconds a client has to send its request
CHECK_EVERY = 2.0  # seconds between checks that the socket is still ours
MAX_MESSAGE = 1 << 16
PR_SET_DUMPABLE = 4


def harden() -> None:
    """No core dump, and not dumpable: another process of this user cannot ``ptrace`` it or read
    ``/proc/PID/mem`` (prctl(2) PR_SET_DUMPABLE)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class Agent:
    def __init__(self, paths: Paths, key: bytes, seconds: int, *, uid: int | None = None) -> None:
        self.paths = paths
        self._key = bytearray(key)
        self.deadline = time.time() + seconds
        self.uid = os.getuid() if uid is None else uid  # whom it answers
        self.keyring = Keyring.load_with_key(paths.keyring, bytes(self._key))  # a wrong key fails here
        self._keyring_file = paths.keyring.read_bytes()
        self._session: OwnerSession | None = None
        self._seen: str | None = None
        self.sock: socket.socket | None = None
        self._inode = -1
        self.stopping = False

    # --- the socket ---------------------------------------------------------------------------------
    def listen(self) -> None:
        directory = agent.agent_dir(self.paths)
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        agent.check_private_dir(directory)  # made by us, or refused (another user may have made it)
        path = agent.socket_path(self.paths)
        if os.path.lexists(path):
            if agent.AgentClient(path).call("status", timeout=2.0) is not None:
                raise CliError("a session is already unlocked for this devnet", code="already-unlocked")
            path.unlink()  # a stale socket (its agent was killed)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(16)
        self.sock = sock
        self._inode = os.lstat(path).st_ino

    def still_ours(self) -> bool:
        """Our socket is still at its path and the keyring still exists: else (the socket removed or
        replaced, the devnet deleted) nobody can reach this session any more, and it ends."""
        try:
            return os.lstat(agent.socket_path(self.paths)).st_ino == self._inode and self.paths.keyring.exists()
        except OSError:
            return False

    def serve(self) -> None:
        assert self.sock is not None
        while not self.stopping:
            left = self.deadline - time.time()
            if left <= 0 or not self.still_ours():
                return
            self.sock.settimeout(min(left, CHECK_EVERY))
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        if agent.peer_uid(conn) != self.uid:
            return  # another user: not a word
        conn.settimeout(REQUEST_TIMEOUT)
        try:
            request = agent.receive(conn)
        except (OSError, ValueError, ConnectionError):
            return
        if time.time() >= self.deadline:
            self.stopping = True
            answer = agent.error_doc(CliError("the session has expired", exit_code=AUTH, code="locked"))
        else:
            answer = self.answer(request)
        with contextlib.suppress(OSError):
            conn.settimeout(REQUEST_TIMEOUT)
            agent.send(conn, answer)

    # --- requests -----------------------------------------------------------------------------------
    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        try:
            if op == "status":
                return {"ok": True, "pid": os.getpid(), "dir": str(self.paths.root), "expires": int(self.deadline)}
            if op == "lock":
                self.stopping = True
                return {"ok": True, "locked": True}
            if op == "key":
                self._current_keyring()
                return {"ok": True, "key": bytes(self._key).hex()}
            if op == "sign":
                return {"ok": True, "signature": self.sign(request).hex()}
            raise usage(f"unknown request {op!r}")
        except CliError as exc:
            return agent.error_doc(exc)
        except Exception as exc:  # every failure is an answer; the agent keeps serving
            self._drop_session()
            return agent.error_doc(classify(exc))

    def _current_keyring(self) -> Keyring:
        """The keyring as it is on disk now (a command may have saved new device keys); a keyring
        the key no longer opens (the devnet was made again) ends the session."""
        data = self.paths.keyring.read_bytes()
        if data != self._keyring_file:
            try:
                self.keyring = Keyring.load_with_key(self.paths.keyring, bytes(self._key))
            except CliError:
                self.stopping = True
                raise CliError(
                    "the keyring changed and the session's key does not open it: the session ended",
                    hint="unlock again (`gridlock unlock`)",
                    exit_code=AUTH,
                    code="locked",
                ) from None
            self._keyring_file = data
            self._drop_session()
        return self.keyring

    def _owner_session(self) -> OwnerSession:
        from gridlock.cli.sdk import OwnerSession
        from gridlock.errors import GridlockError

        keyring = self._current_keyring()
        profile = load_profile(self.paths)
        # the profile's document names the running devnet (its processes) or the deployment's router
        # and directory: when it changed, the open connection is to something that is gone
        seen = json.dumps(profile.doc, sort_keys=True, default=str)
        if self._session is not None and seen == self._seen:
            return self._session
        self._drop_session()
        try:
            self._session = OwnerSession(profile, keyring)
        except GridlockError as exc:
            raise classify(exc, {}, f"connecting to the guardians of the {profile.label}") from None
        self._seen = seen
        return self._session

    def warm(self) -> None:
        """Import the SDK and connect now, so that the first ``gridlock sign`` is as quick as the
        next ones (a request arriving meanwhile waits in the socket's backlog).  A devnet that is
        not running is no error here: the first request connects."""
        with contextlib.suppress(Exception):
            self._owner_session()

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session, self._seen = None, None

    def sign(self, request: dict[str, Any]) -> bytes:
        """``gridlock sign``'s signature: the vault by its exact id in the vault book, the message,
        the child key's path; checked here again (the command checked them too)."""
        from gridlock.cli.commands.common import check_path
        from gridlock.errors import GridlockError

        vault_id, path = str(request.get("vault", "")), check_path(str(request.get("path", "m")))
        try:
            message = bytes.fromhex(str(request.get("message", "")))
        except ValueError:
            raise usage("the message is not hex") from None
        if not message or len(message) > MAX_MESSAGE:
            raise usage("the message must have 1 byte to 64 KiB")
        entry = next((v for v in load_vaults(self.paths) if v["id"] == vault_id), None)
        if entry is None:
            raise usage(f"unknown vault {vault_id!r}")
        s = self._owner_session()
        try:
            return s.sign(s.open_vault(entry), message, path)
        except GridlockError as exc:
            error = s.error(exc, "signing")
            if error.exit_code == 3:  # the devnet went away: connect again next time
                self._drop_session()
            raise error from None

    def close(self) -> None:
        """Forget the key, close the SDK connection, remove the socket and its directory."""
        for i in range(len(self._key)):
            self._key[i] = 0
        self.keyring = None  # type: ignore[assignment]
        self._drop_session()
        if self.sock is not None:
            self.sock.close()
            path = agent.socket_path(self.paths)
            with contextlib.suppress(OSError):
                if os.lstat(path).st_ino == self._inode:
                    path.unlink()  # ours: a socket another session put there stays
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridlock-agent")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--seconds", required=True, type=int)
    args = parser.parse_args(argv)
    harden()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.readline().strip()
    sys.stdin.close()
    out = sys.stdout
    try:
        if not agent.MIN_SECONDS <= args.seconds <= agent.MAX_SECONDS:
            raise usage("bad session length")
        key = bytes.fromhex(line) if len(line) == 64 else b""
        if not key:
            raise usage("no key on standard input")
        server = Agent(paths_for(args.dir), key, args.seconds)
        server.listen()
    except CliError as exc:
        out.write(f"error: {exc.message}\n")
        out.flush()
        return 1
    out.write(f"ready {os.getpid()}\n")
    out.flush()
    with open(os.devnull, "w") as null:  # the parent stops reading: nothing more goes to its pipe
        os.dup2(null.fileno(), 1)
    try:
        server.warm()
        server.serve()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
