"""The Unix-socket bridge: other processes as endpoints of an in-process :class:`LocalRouter`.

The embedded devnet runs its router and guardians in one process (the devnet host); every CLI
command is another process.  This module lets such a process be an endpoint of that router over a
Unix-domain socket, with exactly the :class:`~gridlock.transport.base.Transport` semantics
(at most once, in order per sender, bounded drop-oldest inbox, typed errors)::

    transport = BridgeTransport("/path/devnet.sock", client_id)     # a Transport like any other
    await transport.start()       # returns once the host has opened the endpoint on its router

Wire format: frames of a 4-byte big-endian length and a body (at most ``MAX_FRAME``).  The first
frame is a JSON hello: ``{"op": "attach", "name": NAME}`` makes the connection an endpoint, which
the host answers with ``{"ok": true}`` or ``{"ok": false, "error": …}``; other ops are one-shot
control requests answered by one JSON frame (see :mod:`gridlock.devnet.host`).  After attaching,
frames from the process are ``len(to) ‖ to ‖ data`` and frames to it are ``data``.

Several connections may attach the same name (two commands of one owner at once): the host keeps
one router endpoint per name and gives every message to each of them; the envelope layer (request
ids, replay guard) sorts out which is whose.  Like every router, the bridge sees only sealed
envelopes.

Who may reach the socket: it is made mode 0600 in a directory that must be this user's.  The host
(:meth:`BridgeServer.start`) creates the directory, or accepts an existing one only when it is a real
directory (not a symbolic link) owned by this user and not writable by others — and, for a
``private`` directory (one in a shared place such as the system temporary directory, whose name
another user can guess and create first), not open to anyone else at all (mode 0700).  A client
(:class:`BridgeTransport`, :func:`request`) connects only to a socket owned by this user in a
directory owned by this user that others cannot write to (:func:`check_socket`); anything else is
:class:`~gridlock.transport.errors.UnsafeSocket`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gridlock.transport.base import (
    DEFAULT_INBOX_BYTES,
    DEFAULT_INBOX_MESSAGES,
    MIB,
    Endpoint,
    as_payload,
    check_address,
)
from gridlock.transport.errors import AddressInUse, PayloadTooLarge, RouterUnavailable, TransportError, UnsafeSocket
from gridlock.transport.local import LocalRouter, LocalTransport

log = logging.getLogger("gridlock.transport.bridge")

MAX_FRAME = 5 * MIB
BRIDGE_MAX_MESSAGE = 4 * MIB
_LEN = struct.Struct(">I")

ControlHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME:
        raise TransportError(f"bridge frame of {n} bytes exceeds {MAX_FRAME}")
    return await reader.readexactly(n)


def frame(body: bytes) -> bytes:
    return _LEN.pack(len(body)) + body


# --- whose socket is it --------------------------------------------------------------------------
def _check_directory(directory: Path, *, private: bool) -> None:
    """``directory`` is a real directory of this user that no other user may write to (``private``:
    nor read or enter)."""
    try:
        st = os.lstat(directory)
    except OSError as exc:
        raise UnsafeSocket(f"cannot inspect the socket directory {directory} ({type(exc).__name__})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeSocket(f"the socket directory {directory} is not a directory (a symbolic link?)")
    if st.st_uid != os.getuid():
        raise UnsafeSocket(f"the socket directory {directory} belongs to another user (uid {st.st_uid})")
    mode = stat.S_IMODE(st.st_mode)
    if mode & (0o077 if private else 0o002):
        want = "0700" if private else "not writable by others"
        raise UnsafeSocket(f"the socket directory {directory} has mode {mode:04o} (must be {want})")


def secure_socket_dir(directory: str | Path, *, private: bool = False) -> None:
    """Create the socket's ``directory`` (mode 0700; its parents as usual), or accept an existing
    one only as :func:`_check_directory` does.  ``private``: the directory sits in a shared place
    (the system temporary directory), where another user can guess its name and make it first."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeSocket(f"cannot create the socket directory {directory} ({type(exc).__name__})") from None
    else:
        os.chmod(directory, 0o700)  # whatever the umask did
    _check_directory(directory, private=private)


def check_socket(socket_path: str | Path) -> None:
    """Before connecting: a socket that exists must be this user's, in a directory of this user's
    that others cannot write to (so nobody else can have put it there or swap it).  A socket that
    does not exist is left to the connection to report."""
    path = Path(socket_path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeSocket(f"cannot inspect the socket {path} ({type(exc).__name__})") from None
    _check_directory(path.parent, private=False)
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocket(f"{path} is not a socket")
    if st.st_uid != os.getuid():
        raise UnsafeSocket(f"the socket {path} belongs to another user (uid {st.st_uid})")


async def request(socket_path: str | Path, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One control request to the devnet host; its JSON answer."""
    check_socket(socket_path)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
            try:
                writer.write(frame(json.dumps(message).encode()))
                await writer.drain()
                answer = json.loads(await read_frame(reader))
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        raise RouterUnavailable(f"the devnet host at {socket_path} does not answer ({type(exc).__name__})") from None
    if not isinstance(answer, dict):
        raise RouterUnavailable("the devnet host sent a malformed answer")
    return answer


def host_status(socket_path: str | Path) -> dict[str, Any] | None:
    """The devnet host's ``status`` answer, or ``None`` when the host does not answer."""
    try:
        answer = asyncio.run(request(socket_path, {"op": "status"}, timeout=5))
    except TransportError:
        return None
    return answer if answer.get("ok") else None


class BridgeTransport(Endpoint):
    """An endpoint of a devnet host's local router, reached over its Unix socket."""

    def __init__(
        self,
        socket_path: str | Path,
        name: str,
        *,
        connect_timeout: float = 5.0,
        inbox_messages: int = DEFAULT_INBOX_MESSAGES,
        inbox_bytes: int = DEFAULT_INBOX_BYTES,
    ) -> None:
        super().__init__(name, inbox_messages=inbox_messages, inbox_bytes=inbox_bytes)
        self.socket_path = str(socket_path)
        self.connect_timeout = connect_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    @property
    def max_message(self) -> int:
        return BRIDGE_MAX_MESSAGE

    async def start(self) -> None:
        if not self._check_startable():
            return
        check_socket(self.socket_path)
        self._open()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_unix_connection(self.socket_path)
                writer.write(frame(json.dumps({"op": "attach", "name": self.name}).encode()))
                await writer.drain()
                answer = json.loads(await read_frame(reader))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            self._reset()
            raise RouterUnavailable(
                f"cannot reach the devnet router at {self.socket_path} ({type(exc).__name__})"
            ) from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            self._reset()
            writer.close()
            raise RouterUnavailable(f"the devnet host refused the endpoint: {answer.get('error', answer)}")
        self._writer = writer
        self._reader_task = asyncio.ensure_future(self._pump(reader))

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._deliver(await read_frame(reader))
        except (asyncio.IncompleteReadError, OSError, TransportError):
            path = self.socket_path
            self._fail(lambda: RouterUnavailable(f"the devnet host at {path} closed the connection"))

    async def close(self) -> None:
        if not self._mark_closed():
            return
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def send(self, to: str, data: bytes) -> None:
        self._check_open()
        to = check_address(to, "destination")
        payload = as_payload(data)
        if len(payload) > BRIDGE_MAX_MESSAGE:
            raise PayloadTooLarge(len(payload), BRIDGE_MAX_MESSAGE, "devnet bridge")
        writer = self._writer
        if writer is None:
            raise self._closed_error()
        name = to.encode()
        try:
            writer.write(frame(bytes([len(name)]) + name + payload))
            await writer.drain()
        except OSError:
            raise RouterUnavailable(f"lost the devnet host at {self.socket_path}") from None
        self.stats.sent += 1


class _Tap:
    """One router endpoint shared by every connection attached under its name."""

    def __init__(self, transport: LocalTransport) -> None:
        self.transport = transport
        self.writers: set[asyncio.StreamWriter] = set()
        self.task: asyncio.Task[None] | None = None


class BridgeServer:
    """The host side: a Unix socket server in front of a :class:`LocalRouter` (or control only).
    ``private_dir``: the socket's directory is in a shared place (see :func:`secure_socket_dir`)."""

    def __init__(
        self,
        socket_path: str | Path,
        router: LocalRouter | None,
        control: ControlHandler,
        *,
        private_dir: bool = False,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.private_dir = private_dir
        self.router = router
        self.control = control
        self._server: asyncio.Server | None = None
        self._taps: dict[str, _Tap] = {}
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        secure_socket_dir(self.socket_path.parent, private=self.private_dir)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        self.socket_path.chmod(0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        for tap in list(self._taps.values()):
            await self._drop(tap)
        self._taps.clear()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            hello = json.loads(await read_frame(reader))
            if not isinstance(hello, dict):
                raise ValueError("hello must be an object")
            if hello.get("op") == "attach":
                await self._attach(str(hello.get("name")), reader, writer)
            else:
                try:
                    answer = await self.control(hello)
                except Exception as exc:  # a control error goes back to the caller, the host lives on
                    log.exception("control request %s failed", hello.get("op"))
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(frame(json.dumps(answer).encode()))
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError, ValueError, TransportError) as exc:
            log.debug("bridge connection ended: %s", exc)
        finally:
            writer.close()
            if task is not None:
                self._conns.discard(task)

    async def _attach(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.router is None:
            writer.write(frame(json.dumps({"ok": False, "error": "this devnet routes over NATS"}).encode()))
            await writer.drain()
            return
        tap = self._taps.get(name)
        if tap is None:
            try:
                transport = self.router.connect(check_address(name))
                await transport.start()
            except (AddressInUse, TransportError) as exc:
                writer.write(frame(json.dumps({"ok": False, "error": str(exc)}).encode()))
                await writer.drain()
                return
            tap = _Tap(transport)
            self._taps[name] = tap
            tap.task = asyncio.ensure_future(self._fan_out(tap))
        tap.writers.add(writer)
        try:
            writer.write(frame(json.dumps({"ok": True}).encode()))
            await writer.drain()
            while True:
                body = await read_frame(reader)
                if not body or len(body) < 1 + body[0]:
                    raise TransportError("malformed bridge frame")
                to = body[1 : 1 + body[0]].decode("ascii", "replace")
                try:
                    await tap.transport.send(to, body[1 + body[0] :])
                except TransportError as exc:  # an invalid name or an oversized message: drop, as a router does
                    log.info("bridge: dropped a message from %s: %s", name, exc)
        finally:
            tap.writers.discard(writer)
            if not tap.writers and self._taps.get(name) is tap:
                del self._taps[name]
                await self._drop(tap)

    async def _fan_out(self, tap: _Tap) -> None:
        while True:
            try:
                data = await tap.transport.recv()
            except TransportError:
                return
            for w in list(tap.writers):
                try:
                    w.write(frame(data))
                    await w.drain()
                except OSError:
                    tap.writers.discard(w)

    async def _drop(self, tap: _Tap) -> None:
        await tap.transport.close()
        if tap.task is not None:
            tap.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tap.task
