"""Run a real ``nats-server`` for tests and the devnet.

::

    server = NatsServer.start()            # a free loopback port, max_payload 8 MiB
    try:
        async with NatsTransport(server.url, "guardian-1") as t: ...
    finally:
        server.stop()

The server binds 127.0.0.1 only, uses a configuration file written into
``data_dir`` (a temporary directory removed on ``stop()`` when none is given) and is
ready — accepting connections and greeting with ``INFO`` — when ``start`` returns.
It is stopped on ``stop()``, on interpreter exit, and (on Linux, when started from the
main thread) when this process dies.

With ``access`` (a :class:`~gridlock.transport.nats_auth.NatsAccess`) the server admits only the
listed NATS keys, each to its own subject (:mod:`gridlock.transport.nats_auth`);
:meth:`NatsServer.authorize` changes the list of a running server (a configuration reload).

``max_payload`` defaults to 8 MiB rather than NATS's 1 MiB because Gridlock's
envelopes can be larger than 1 MiB; a production server needs the same setting
(``max_payload: 8MB`` in its configuration file).

The executable is ``$GRIDLOCK_NATS_SERVER`` if set, else ``nats-server`` on ``PATH``
(or in the sbin directories, where Debian's package puts it).  Install it with
``scripts/ensure-nats-server.sh`` (Debian's ``nats-server`` package).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from gridlock.transport.base import MIB
from gridlock.transport.errors import NatsServerError, NatsServerNotFound
from gridlock.transport.nats_auth import NatsAccess

__all__ = ["DEFAULT_SERVER_MAX_PAYLOAD", "NatsServer", "find_nats_server"]

DEFAULT_SERVER_MAX_PAYLOAD = 8 * MIB
NATS_HARD_MAX_PAYLOAD = 64 * MIB
HOST = "127.0.0.1"
ENV_BINARY = "GRIDLOCK_NATS_SERVER"
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin", "/usr/bin")

_live: dict[int, NatsServer] = {}
_live_lock = threading.Lock()


def find_nats_server(binary: str | os.PathLike[str] | None = None) -> str:
    """The path of the ``nats-server`` executable, or :class:`NatsServerNotFound` saying how to install it."""
    candidate = binary if binary is not None else os.environ.get(ENV_BINARY)
    if candidate:
        path = shutil.which(os.fspath(candidate))
        if path is None:
            raise NatsServerNotFound(f"nats-server executable {os.fspath(candidate)!r} not found or not executable")
        return path
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_EXTRA_DIRS])
    path = shutil.which("nats-server", path=search)
    if path is None:
        raise NatsServerNotFound(
            "nats-server not found on PATH (nor in /usr/sbin or /usr/local/sbin): install it with "
            "`bash scripts/ensure-nats-server.sh` (on Debian: `apt-get install nats-server`), "
            f"or set {ENV_BINARY}=/path/to/nats-server"
        )
    return path


def _die_with_parent() -> None:  # pragma: no cover -- runs in the child between fork and exec
    """Linux: deliver SIGTERM to the server when the thread that started it (the main thread) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class NatsServer:
    """A ``nats-server`` child process on a loopback port (use :meth:`start`)."""

    def __init__(
        self, binary: str, data_dir: Path, max_payload: int, *, owns_dir: bool, access: NatsAccess | None = None
    ) -> None:
        self.binary = binary
        self.access = access
        self.data_dir = data_dir
        self.max_payload = max_payload
        self.host = HOST
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._owns_dir = owns_dir
        self._log: IO[bytes] | None = None

    @classmethod
    def start(
        cls,
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        max_payload: int = DEFAULT_SERVER_MAX_PAYLOAD,
        *,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
        access: NatsAccess | None = None,
    ) -> NatsServer:
        """Start a server on ``127.0.0.1:port`` (``0``: a free port) and wait until it accepts connections;
        with ``access``, only the NATS keys it lists may connect."""
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} out of range")
        if not 1 <= max_payload <= NATS_HARD_MAX_PAYLOAD:
            raise ValueError(f"max_payload must be between 1 byte and {NATS_HARD_MAX_PAYLOAD} bytes")
        path = find_nats_server(binary)
        if data_dir is None:
            directory, owns = Path(tempfile.mkdtemp(prefix="gridlock-nats-")), True
        else:
            directory, owns = Path(data_dir), False
            directory.mkdir(parents=True, exist_ok=True)
        server = cls(path, directory, max_payload, owns_dir=owns, access=access)
        try:
            server._launch(port, startup_timeout)
        except BaseException:
            server.stop()
            raise
        return server

    # -- properties -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- life cycle -------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temporary directory.  Idempotent."""
        self._terminate(timeout)
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; :meth:`restart` brings it back."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._terminate(5.0)

    def authorize(self, access: NatsAccess | None, timeout: float = 10.0) -> None:
        """Replace the list of admitted NATS keys (``None``: anyone) and reload the running server;
        returns once it has applied the new configuration."""
        self.access = access
        if self.process is None or self.process.poll() is not None:
            raise NatsServerError("the nats-server is not running")
        reloads = self._log_count("Reloaded server configuration")
        self._write_config(self.port, self.data_dir / "ports")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self._log_count("Reloaded server configuration") <= reloads:
            if time.monotonic() > deadline:
                raise NatsServerError(f"nats-server did not reload its configuration; log:\n{self.log_tail()}")
            time.sleep(0.02)

    def _log_count(self, text: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(text)
        except OSError:
            return 0

    def restart(self, startup_timeout: float = 10.0) -> None:
        """Stop the server if it runs, then start it again on the same port."""
        port = self.port
        self._terminate(5.0)
        self._launch(port, startup_timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<NatsServer {self.url} pid={self.pid} {state}>"

    # -- internals --------------------------------------------------------------------

    def _write_config(self, port: int, ports_dir: Path) -> None:
        lines = [
            "# written by gridlock.transport.server",
            f"host: {json.dumps(HOST)}",
            f"port: {port if port else -1}",  # -1: the server picks a free port (reported in the ports file)
            f"max_payload: {self.max_payload}",
            f"max_pending: {max(64 * MIB, 2 * self.max_payload)}",
            'write_deadline: "10s"',
            f"ports_file_dir: {json.dumps(str(ports_dir))}",
        ]
        if self.access is not None:
            lines.append(self.access.config())
        self.config_path.write_text("\n".join(lines) + "\n")

    def _launch(self, port: int, startup_timeout: float) -> None:
        ports_dir = self.data_dir / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        self._write_config(port, ports_dir)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 -- kept open for the child's lifetime
        on_linux_main = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
        self.process = subprocess.Popen(  # noqa: S603 -- a fixed executable and arguments
            [self.binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            preexec_fn=_die_with_parent if on_linux_main else None,  # noqa: PLW1509 -- only prctl, no locks
        )
        with _live_lock:
            _live[id(self)] = self
        self.port = port
        deadline = time.monotonic() + startup_timeout
        ports_file = ports_dir / f"{Path(self.binary).name}_{self.process.pid}.ports"
        while True:
            if self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with status {self.process.returncode} while starting; "
                    f"log ({self.log_path}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self._terminate(2.0)
                raise NatsServerError(
                    f"nats-server did not become ready within {startup_timeout:g} s; log:\n{self.log_tail()}"
                )
            if not self.port:
                self.port = self._read_port(ports_file) or 0
            if self.port and self._greets():
                return
            time.sleep(0.02)

    def _read_port(self, ports_file: Path) -> int | None:
        try:
            urls = json.loads(ports_file.read_text())["nats"]
            return int(str(urls[0]).rsplit(":", 1)[1])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(4) == b"INFO"
        except OSError:
            return False

    def _terminate(self, timeout: float) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        with _live_lock:
            _live.pop(id(self), None)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        servers = list(_live.values())
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout=2.0)
