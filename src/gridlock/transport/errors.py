"""Typed errors of the routers.

Every failure of a transport is a :class:`TransportError` (a
:class:`~gridlock.errors.GridlockError`).  Messages name what went wrong and
where (an endpoint name, a size, a router URL without credentials); they never
contain payload bytes.
"""

from __future__ import annotations

from gridlock.errors import GridlockError


class TransportError(GridlockError):
    """Base class of every error a transport raises on purpose."""


class TransportClosed(TransportError):
    """The endpoint is not open: it was never started, or it was closed (by the caller or its router)."""


class RouterUnavailable(TransportError):
    """The router cannot be reached: the first connection failed, or the connection was lost and
    reconnecting gave up (or its outbound buffer is full while reconnecting)."""


class RouterRefused(RouterUnavailable):
    """The router refused this endpoint: its credentials (no NATS key, or one the server does not list),
    or the subject it asked to subscribe to or publish on is not among its permissions."""


class PayloadTooLarge(TransportError):
    """A message is larger than the router carries (``size`` and ``limit`` in bytes)."""

    def __init__(self, size: int, limit: int, where: str = "router") -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"message of {size} bytes is larger than the {where}'s limit of {limit} bytes")


class InvalidAddress(TransportError):
    """An endpoint name (or a subject prefix) that is not allowed."""


class UnsafeSocket(TransportError):
    """A Unix socket, or its directory, that another user could have made or could replace:
    refused rather than used (it could intercept the owner's requests)."""


class AddressInUse(TransportError):
    """Another open endpoint of the same in-process router already has this name."""


class RecvTimeout(TransportError, TimeoutError):
    """``recv(timeout=…)`` found nothing in the inbox in time.  Also a builtin :class:`TimeoutError`."""


class NatsServerNotFound(TransportError):
    """No ``nats-server`` executable was found."""


class NatsServerError(TransportError):
    """A ``nats-server`` process could not be started or did not become ready."""
