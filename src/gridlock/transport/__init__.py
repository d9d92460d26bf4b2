"""Routers: how envelopes travel between clients and guardians.

One interface, :class:`Transport` (bytes in, bytes out, by endpoint name), two routers:

* :class:`LocalRouter` / :class:`LocalTransport` — in process, the embedded default for
  tests and the single-process devnet;
* :class:`NatsTransport` — a NATS server or cluster, for guardians in separate processes
  or on separate hosts (:class:`NatsServer` runs a local ``nats-server`` for tests and the
  devnet).

:mod:`gridlock.transport.bridge` (:class:`BridgeTransport`, :class:`BridgeServer`) makes other
processes endpoints of a :class:`LocalRouter` over a Unix socket (the embedded devnet's CLI commands).

The protocol code cannot tell them apart: both deliver at most once, in order per
sender, into a bounded drop-oldest inbox, and raise the same typed errors
(:mod:`gridlock.transport.errors`).  :func:`connect` picks the router from a
:class:`LocalRouter` or a NATS URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gridlock.lazy import exports

if TYPE_CHECKING:  # the names below are imported on first use (nats and the routers cost ~0.1 s)
    from gridlock.transport.base import ADDRESS_PATTERN, Transport, TransportStats, check_address
    from gridlock.transport.bridge import BridgeServer, BridgeTransport
    from gridlock.transport.errors import (
        AddressInUse,
        InvalidAddress,
        NatsServerError,
        NatsServerNotFound,
        PayloadTooLarge,
        RecvTimeout,
        RouterRefused,
        RouterUnavailable,
        TransportClosed,
        TransportError,
        UnsafeSocket,
    )
    from gridlock.transport.local import Interceptor, LocalRouter, LocalTransport, RouterStats
    from gridlock.transport.nats import NatsTransport
    from gridlock.transport.nats_auth import NatsAccess, NatsUser, NkeySeed
    from gridlock.transport.server import NatsServer, find_nats_server

_LAZY = {
    "ADDRESS_PATTERN": "gridlock.transport.base",
    "Transport": "gridlock.transport.base",
    "TransportStats": "gridlock.transport.base",
    "check_address": "gridlock.transport.base",
    "BridgeServer": "gridlock.transport.bridge",
    "BridgeTransport": "gridlock.transport.bridge",
    "AddressInUse": "gridlock.transport.errors",
    "InvalidAddress": "gridlock.transport.errors",
    "NatsServerError": "gridlock.transport.errors",
    "NatsServerNotFound": "gridlock.transport.errors",
    "PayloadTooLarge": "gridlock.transport.errors",
    "RecvTimeout": "gridlock.transport.errors",
    "RouterRefused": "gridlock.transport.errors",
    "RouterUnavailable": "gridlock.transport.errors",
    "TransportClosed": "gridlock.transport.errors",
    "TransportError": "gridlock.transport.errors",
    "UnsafeSocket": "gridlock.transport.errors",
    "Interceptor": "gridlock.transport.local",
    "LocalRouter": "gridlock.transport.local",
    "LocalTransport": "gridlock.transport.local",
    "RouterStats": "gridlock.transport.local",
    "NatsTransport": "gridlock.transport.nats",
    "NatsAccess": "gridlock.transport.nats_auth",
    "NatsUser": "gridlock.transport.nats_auth",
    "NkeySeed": "gridlock.transport.nats_auth",
    "NatsServer": "gridlock.transport.server",
    "find_nats_server": "gridlock.transport.server",
}


__all__ = [
    "ADDRESS_PATTERN",
    "AddressInUse",
    "BridgeServer",
    "BridgeTransport",
    "Interceptor",
    "InvalidAddress",
    "LocalRouter",
    "LocalTransport",
    "NatsAccess",
    "NatsServer",
    "NatsServerError",
    "NatsServerNotFound",
    "NatsTransport",
    "NatsUser",
    "NkeySeed",
    "PayloadTooLarge",
    "RecvTimeout",
    "RouterRefused",
    "RouterStats",
    "RouterUnavailable",
    "Transport",
    "TransportClosed",
    "TransportError",
    "TransportStats",
    "UnsafeSocket",
    "check_address",
    "connect",
    "find_nats_server",
]


__getattr__ = exports(globals(), _LAZY)


def connect(router: LocalRouter | str | Sequence[str], name: str, **options: Any) -> Transport:
    """A (not yet started) endpoint ``name`` on ``router``: a :class:`LocalRouter`, or NATS URL(s)
    (``options`` go to :class:`NatsTransport`)."""
    from gridlock.transport.local import LocalRouter  # noqa: PLC0415 -- kept off start-up
    from gridlock.transport.nats import NatsTransport  # noqa: PLC0415 -- kept off start-up

    if isinstance(router, LocalRouter):
        if options:
            raise TypeError(f"unexpected options for the local router: {sorted(options)}")
        return router.connect(name)
    return NatsTransport(router, name, **options)
