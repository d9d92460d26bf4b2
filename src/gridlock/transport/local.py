"""The in-process router: the embedded default for tests and the single-process devnet.

::

    router = LocalRouter()
    async with router.connect("alice") as alice, router.connect("bob") as bob:
        await alice.send("bob", b"hello")
        assert await bob.recv(timeout=1) == b"hello"

Every endpoint has a bounded asyncio inbox (drop-oldest, see :mod:`gridlock.transport.base`).
A message to a name with no open endpoint is dropped and counted in
``router.stats.unknown_destination``; a message larger than ``max_message`` is refused
with :class:`~gridlock.transport.errors.PayloadTooLarge`.  All endpoints of one router
must live on one event loop.

For tests the router can play a malicious or unreliable network: the optional
``interceptor(to, data)`` sees every message and returns the deliveries to make instead
— ``[]`` drops it, two entries duplicate it, changed bytes tamper with it, another
name redirects it, and a stateful interceptor that holds messages back and releases
them later reorders them.  :meth:`LocalRouter.inject` delivers arbitrary bytes as if
the router itself had sent them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gridlock.transport.base import (
    DEFAULT_INBOX_BYTES,
    DEFAULT_INBOX_MESSAGES,
    MIB,
    Endpoint,
    as_payload,
    check_address,
)
from gridlock.transport.errors import AddressInUse, PayloadTooLarge, TransportClosed

__all__ = ["DEFAULT_LOCAL_MAX_MESSAGE", "Interceptor", "LocalRouter", "LocalTransport", "RouterStats"]

DEFAULT_LOCAL_MAX_MESSAGE = 4 * MIB

Interceptor = Callable[[str, bytes], Iterable[tuple[str, bytes]]]


@dataclass
class RouterStats:
    """Counters of a :class:`LocalRouter`."""

    sent: int = 0  # messages endpoints handed to the router
    delivered: int = 0  # deliveries that reached an open endpoint's inbox
    unknown_destination: int = 0  # deliveries to a name with no open endpoint (dropped)


class LocalRouter:
    """Routes messages among the endpoints of this process."""

    def __init__(
        self,
        max_message: int = DEFAULT_LOCAL_MAX_MESSAGE,
        interceptor: Interceptor | None = None,
        *,
        inbox_messages: int = DEFAULT_INBOX_MESSAGES,
        inbox_bytes: int = DEFAULT_INBOX_BYTES,
    ) -> None:
        if max_message < 1:
            raise ValueError("max_message must be positive")
        self.max_message = max_message
        self.interceptor = interceptor
        self.inbox_messages = inbox_messages
        self.inbox_bytes = inbox_bytes
        self.stats = RouterStats()
        self._endpoints: dict[str, LocalTransport] = {}
        self._closed = False

    def connect(
        self, name: str, *, inbox_messages: int | None = None, inbox_bytes: int | None = None
    ) -> LocalTransport:
        """A new (not yet started) endpoint called ``name`` on this router (inbox bounds default to the router's)."""
        if self._closed:
            raise TransportClosed("the local router is closed")
        return LocalTransport(self, name, inbox_messages=inbox_messages, inbox_bytes=inbox_bytes)

    @property
    def endpoints(self) -> list[str]:
        """Names of the open endpoints."""
        return sorted(self._endpoints)

    def inject(self, to: str, data: bytes) -> bool:
        """Deliver ``data`` to ``to`` as the router itself (no interceptor, no size limit).
        True if an open endpoint took it."""
        return self._deliver(check_address(to, "destination"), as_payload(data))

    async def close(self) -> None:
        """Close every endpoint; the router accepts no new ones."""
        self._closed = True
        for endpoint in list(self._endpoints.values()):
            await endpoint.close()

    # -- for LocalTransport -------------------------------------------------------------

    def _register(self, endpoint: LocalTransport) -> None:
        if self._closed:
            raise TransportClosed("the local router is closed")
        if endpoint.name in self._endpoints:
            raise AddressInUse(f"an endpoint called {endpoint.name!r} is already open on this router")
        self._endpoints[endpoint.name] = endpoint

    def _unregister(self, endpoint: LocalTransport) -> None:
        if self._endpoints.get(endpoint.name) is endpoint:
            del self._endpoints[endpoint.name]

    def _route(self, to: str, data: bytes) -> None:
        self.stats.sent += 1
        if self.interceptor is None:
            self._deliver(to, data)
            return
        for to2, data2 in self.interceptor(to, data):
            self._deliver(to2, bytes(data2))

    def _deliver(self, to: str, data: bytes) -> bool:
        endpoint = self._endpoints.get(to)
        if endpoint is None:
            self.stats.unknown_destination += 1
            return False
        self.stats.delivered += 1
        endpoint._deliver(data)
        return True


class LocalTransport(Endpoint):
    """An endpoint of a :class:`LocalRouter` (made by :meth:`LocalRouter.connect`)."""

    def __init__(
        self, router: LocalRouter, name: str, *, inbox_messages: int | None = None, inbox_bytes: int | None = None
    ) -> None:
        super().__init__(
            name,
            inbox_messages=router.inbox_messages if inbox_messages is None else inbox_messages,
            inbox_bytes=router.inbox_bytes if inbox_bytes is None else inbox_bytes,
        )
        self.router = router

    @property
    def max_message(self) -> int:
        return self.router.max_message

    async def start(self) -> None:
        if self._check_startable():
            self.router._register(self)
            self._open()

    async def close(self) -> None:
        if self._mark_closed():
            self.router._unregister(self)

    async def send(self, to: str, data: bytes) -> None:
        self._check_open()
        to = check_address(to, "destination")
        payload = as_payload(data)
        if len(payload) > self.router.max_message:
            raise PayloadTooLarge(len(payload), self.router.max_message, "local router")
        self.router._route(to, payload)
        self.stats.sent += 1
        await asyncio.sleep(0)  # let receivers run: a sending loop never starves the event loop
