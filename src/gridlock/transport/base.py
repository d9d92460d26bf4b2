"""The interface every router implements, and the inbox both implementations share.

A *transport* is one endpoint's connection to a router.  It carries opaque byte
strings (signed and encrypted envelopes made by :mod:`gridlock.wire`) to named
endpoints; it never looks inside them.  The protocol code sees only this
interface and cannot tell the in-process router from NATS:

* ``send(to, data)`` is fire-and-forget: it returns once the router has taken
  the message; delivery is at most once (a message to an endpoint that is not
  listening is dropped, and nobody is told).  Messages from one sender to one
  recipient arrive in the order they were sent.
* ``recv(timeout)`` returns the next message of this endpoint's inbox, or
  raises :class:`~gridlock.transport.errors.RecvTimeout` (a ``TimeoutError``).
* An endpoint receives only what was sent after its ``start()`` returned.

Inbox policy (both routers): the inbox is bounded by a number of messages and a
number of bytes; when a new message does not fit, the **oldest** messages are
dropped to make room (a flood never blocks the sender or the router, and the
freshest traffic — the current protocol round — survives).  A single message
larger than the whole byte bound is dropped.  Every drop is counted in
``stats.dropped_overflow``.

Closing: ``close()`` is idempotent.  After it, ``send`` and ``recv`` raise
:class:`~gridlock.transport.errors.TransportClosed`; a ``recv`` waiting at that
moment is woken with the same error; messages still in the inbox are discarded.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from gridlock.transport.errors import InvalidAddress, RecvTimeout, TransportClosed, TransportError

__all__ = [
    "ADDRESS_PATTERN",
    "DEFAULT_INBOX_BYTES",
    "DEFAULT_INBOX_MESSAGES",
    "MIB",
    "Endpoint",
    "Inbox",
    "Transport",
    "TransportStats",
    "as_payload",
    "check_address",
]

log = logging.getLogger("gridlock.transport")

MIB = 1024 * 1024
ADDRESS_PATTERN = r"[a-z0-9-]{1,64}"
DEFAULT_INBOX_MESSAGES = 10_000
DEFAULT_INBOX_BYTES = 64 * MIB

_ADDRESS = re.compile(ADDRESS_PATTERN)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def check_address(name: object, what: str = "endpoint name") -> str:
    """``name`` if it is a valid endpoint address (1-64 characters of ``[a-z0-9-]``)."""
    if not isinstance(name, str) or _ADDRESS.fullmatch(name) is None:
        raise InvalidAddress(f"invalid {what} {_shown(name)}: expected 1-64 characters of [a-z0-9-]")
    return name


def as_payload(data: object) -> bytes:
    """``data`` as ``bytes`` (``bytes``, ``bytearray`` and ``memoryview`` are accepted)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"a message must be bytes, not {type(data).__name__}")


@dataclass
class TransportStats:
    """Counters of one endpoint."""

    sent: int = 0  # messages handed to the router
    received: int = 0  # messages that reached this endpoint's inbox
    dropped_overflow: int = 0  # messages dropped because the inbox was full (the oldest go first)
    dropped_router: int = 0  # messages the NATS client dropped before our inbox (slow consumer)
    refused: int = 0  # connections, subscriptions or publications the NATS router refused (access control)


class Inbox:
    """A bounded FIFO of byte strings with drop-oldest overflow and an awaitable ``get``.

    Belongs to one event loop (it is created by ``start()``).
    """

    def __init__(self, owner: str, stats: TransportStats, *, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("inbox bounds must be positive")
        self.owner = owner
        self.stats = stats
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[bytes] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()  # set while there is something to do: an item, or the inbox is closed
        self._closed: Callable[[], TransportError] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, data: bytes) -> None:
        """Queue ``data``, dropping the oldest messages when it does not fit."""
        if self._closed is not None:
            return
        n = len(data)
        if n > self.max_bytes:
            self._dropped(1)
            return
        dropped = 0
        while self._items and (len(self._items) >= self.max_messages or self._bytes + n > self.max_bytes):
            self._bytes -= len(self._items.popleft())
            dropped += 1
        if dropped:
            self._dropped(dropped)
        self._items.append(data)
        self._bytes += n
        self.stats.received += 1
        self._ready.set()

    def _dropped(self, count: int) -> None:
        before = self.stats.dropped_overflow
        self.stats.dropped_overflow += count
        # Log the first drop and then at powers of two, so a flood cannot flood the log too.
        if (before + count).bit_length() > before.bit_length():
            log.warning("inbox of %r is full: %d message(s) dropped so far", self.owner, self.stats.dropped_overflow)

    def close(self, error: Callable[[], TransportError]) -> None:
        """Discard the queue; every current and later ``get`` raises ``error()`` (the latest one given)."""
        self._closed = error
        self._items.clear()
        self._bytes = 0
        self._ready.set()

    async def get(self, timeout: float | None = None) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(0.0, timeout)
        while True:
            if self._closed is not None:
                raise self._closed()
            if self._items:
                data = self._items.popleft()
                self._bytes -= len(data)
                if not self._items:
                    self._ready.clear()
                return data
            self._ready.clear()
            if deadline is None:
                await self._ready.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RecvTimeout(f"no message for {self.owner!r} within {timeout:g} s")
            try:
                async with asyncio.timeout(remaining):
                    await self._ready.wait()
            except TimeoutError:
                continue  # the loop re-checks the inbox, then raises RecvTimeout


class Transport(abc.ABC):
    """One endpoint's connection to a router (see the module documentation for the semantics)."""

    name: str
    stats: TransportStats

    @property
    @abc.abstractmethod
    def max_message(self) -> int:
        """The largest message (in bytes) ``send`` accepts now."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the endpoint; from now on messages sent to ``name`` reach its inbox."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the endpoint (idempotent)."""

    @abc.abstractmethod
    async def send(self, to: str, data: bytes) -> None:
        """Hand ``data`` to the router for ``to``'s inbox (fire-and-forget, at most once)."""

    @abc.abstractmethod
    async def recv(self, timeout: float | None = None) -> bytes:
        """The next message of our inbox; ``RecvTimeout`` (a ``TimeoutError``) after ``timeout`` seconds."""

    async def flush(self, timeout: float = 10.0) -> None:  # noqa: B027 -- optional hook, a no-op by default
        """Wait until the router has taken every message this endpoint sent so far (a no-op in process)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Endpoint(Transport):
    """What both implementations share: the name, the state machine, the inbox and ``recv``."""

    def __init__(self, name: str, *, inbox_messages: int, inbox_bytes: int) -> None:
        self.name = check_address(name)
        self.stats = TransportStats()
        if inbox_messages < 1 or inbox_bytes < 1:
            raise ValueError("inbox bounds must be positive")
        self._inbox_messages = inbox_messages
        self._inbox_bytes = inbox_bytes
        self._inbox: Inbox | None = None
        self._state = _State.NEW
        self._failure: Callable[[], TransportError] | None = None

    @property
    def is_open(self) -> bool:
        return self._state is _State.OPEN and self._failure is None

    @property
    def _was_closed(self) -> bool:
        return self._state is _State.CLOSED

    def _closed_error(self) -> TransportError:
        if self._state is _State.CLOSED:
            return TransportClosed(f"endpoint {self.name!r} is closed")
        if self._failure is not None:
            return self._failure()
        return TransportClosed(f"endpoint {self.name!r} is not started")

    def _check_open(self) -> Inbox:
        if self._state is not _State.OPEN or self._failure is not None or self._inbox is None:
            raise self._closed_error()
        return self._inbox

    def _check_startable(self) -> bool:
        """True if ``start`` has work to do; raises if the endpoint was closed."""
        if self._state is _State.CLOSED:
            raise TransportClosed(f"endpoint {self.name!r} is closed and cannot be started again")
        return self._state is _State.NEW

    def _open(self) -> None:
        self._inbox = Inbox(self.name, self.stats, max_messages=self._inbox_messages, max_bytes=self._inbox_bytes)
        self._state = _State.OPEN

    def _reset(self) -> None:
        """Undo ``_open`` after a failed start: the endpoint may be started again."""
        if self._state is _State.OPEN:
            self._state = _State.NEW
            if self._inbox is not None:
                self._inbox.close(self._closed_error)
            self._inbox = None

    def _mark_closed(self) -> bool:
        """Move to CLOSED and wake receivers; False if it already was."""
        if self._state is _State.CLOSED:
            return False
        self._state = _State.CLOSED
        if self._inbox is not None:
            self._inbox.close(self._closed_error)
        return True

    def _fail(self, error: Callable[[], TransportError]) -> None:
        """The router is gone for good: every later ``send``/``recv`` (and a waiting ``recv``) raises ``error()``."""
        if self._failure is None and self._state is not _State.CLOSED:
            self._failure = error
            if self._inbox is not None:
                self._inbox.close(error)

    def _deliver(self, data: bytes) -> None:
        if self._state is _State.OPEN and self._inbox is not None:
            self._inbox.put(data)

    async def flush(self, timeout: float = 10.0) -> None:
        self._check_open()

    async def recv(self, timeout: float | None = None) -> bytes:
        inbox = self._check_open()
        return await inbox.get(timeout)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._state.value}>"
