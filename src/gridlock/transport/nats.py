"""The NATS router: guardians in separate processes or on separate hosts, joined by a NATS server or cluster.

::

    async with NatsTransport("nats://127.0.0.1:4222", "guardian-1") as t:
        await t.send("guardian-2", envelope)
        reply = await t.recv(timeout=5)

Each endpoint subscribes to the subject ``"{prefix}.inbox.{name}"``; ``send(to, …)``
publishes to ``"{prefix}.inbox.{to}"``.  The server sees subjects and sizes, never
anything inside the (signed, encrypted) payloads.  Delivery is core NATS: at most
once, in order per sender; a message to a name nobody subscribes to is dropped by the
server and the sender is not told.  Without access control (below) names are not
authenticated by the router — two processes that claim one name both receive its messages;
authenticity and secrecy always come from :mod:`gridlock.wire`.  ``start()`` returns once
the server routes the endpoint's subject to it (it sends itself a probe and waits for it), so
anything sent after that arrives; on a NATS *cluster*, interest reaches the other servers a
moment later.

Sizes: a NATS server refuses messages above its ``max_payload`` (1 MiB unless
configured).  The limit is read from the server when connecting (``max_message``) and
``send`` raises :class:`~gridlock.transport.errors.PayloadTooLarge` above it, before
anything is sent.  Gridlock's envelopes can exceed 1 MiB, so run the server with
``max_payload: 8MB`` in its configuration (what :class:`gridlock.transport.server.NatsServer`
does); ``max_message=`` can lower the limit further.

Access: with ``nkey=`` (an :class:`~gridlock.transport.nats_auth.NkeySeed`) the endpoint
authenticates with its own NATS key; a server configured with
:class:`~gridlock.transport.nats_auth.NatsAccess` lets it subscribe only to its own subject and
publish only to the endpoints it must reach.  A refusal by the server (unknown or missing key,
a subject outside the permissions) is :class:`~gridlock.transport.errors.RouterRefused`
from ``start()``, and a logged, counted warning (``stats.refused``) on a later publish.

Connection loss:

* The first connection is tried for ``connect_timeout`` seconds in total; when the
  server cannot be reached by then, ``start()`` raises
  :class:`~gridlock.transport.errors.RouterUnavailable` (and may be called again).
* When an open connection drops, the client reconnects every ``reconnect_time_wait``
  seconds, up to ``max_reconnect_attempts`` times (``-1``: forever); subscriptions are
  restored on reconnection.  Meanwhile ``recv`` keeps waiting and ``send`` buffers up to
  ``reconnect_buffer`` bytes, sent in order once reconnected (``send`` raises
  ``RouterUnavailable`` when the buffer is full; ``reconnect_buffer=0`` makes every send
  during an outage fail at once).  Messages other endpoints sent while we were away
  are lost (at most once).
* When reconnecting gives up, the endpoint fails: ``send``, ``recv`` and a waiting
  ``recv`` raise ``RouterUnavailable``; ``close()`` still works.  Make a new endpoint to
  try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import ssl
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

from nats import errors as nats_errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from gridlock.transport.base import (
    DEFAULT_INBOX_BYTES,
    DEFAULT_INBOX_MESSAGES,
    MIB,
    Endpoint,
    as_payload,
)
from gridlock.transport.errors import (
    InvalidAddress,
    PayloadTooLarge,
    RouterRefused,
    RouterUnavailable,
    TransportClosed,
    TransportError,
)
from gridlock.transport.nats_auth import NkeySeed, inbox_subject

__all__ = ["DEFAULT_PREFIX", "NatsTransport", "redact_url"]

log = logging.getLogger("gridlock.transport.nats")

DEFAULT_PREFIX = "gridlock"
NATS_DEFAULT_MAX_PAYLOAD = 1 * MIB
PROBE_HEADER = "Gridlock-Probe"  # on the messages start()/flush() send themselves (never delivered to the inbox)
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def redact_url(url: str) -> str:
    """``url`` with any user name, password or token replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    netloc = f"***@{host}" + (f":{port}" if port is not None else "")
    return parts._replace(netloc=netloc).geturl()


class NatsTransport(Endpoint):
    """An endpoint on a NATS router (see the module documentation for the behaviour)."""

    def __init__(
        self,
        url: str | Sequence[str],
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_message: int | None = None,
        connect_timeout: float = 5.0,
        reconnect_time_wait: float = 0.5,
        max_reconnect_attempts: int = 120,
        reconnect_buffer: int = 8 * MIB,
        ping_interval: float = 20.0,
        max_outstanding_pings: int = 3,
        tls: ssl.SSLContext | None = None,
        inbox_messages: int = DEFAULT_INBOX_MESSAGES,
        inbox_bytes: int = DEFAULT_INBOX_BYTES,
        nkey: NkeySeed | None = None,
    ) -> None:
        super().__init__(name, inbox_messages=inbox_messages, inbox_bytes=inbox_bytes)
        if nkey is not None and not isinstance(nkey, NkeySeed):
            raise TypeError("nkey must be a gridlock.transport.nats_auth.NkeySeed")
        self._nkey = nkey
        self._refusal: str | None = None  # the server's last permission or authorization refusal
        self.servers = [url] if isinstance(url, str) else list(url)
        if not self.servers or not all(isinstance(u, str) and u for u in self.servers):
            raise InvalidAddress("a NATS router URL is required")
        if not isinstance(prefix, str) or len(prefix) > 128 or _PREFIX.fullmatch(prefix) is None:
            raise InvalidAddress(f"invalid subject prefix {prefix!r}: dot-separated tokens of [A-Za-z0-9_-]")
        if max_message is not None and max_message < 1:
            raise ValueError("max_message must be positive")
        if connect_timeout <= 0 or reconnect_time_wait < 0 or reconnect_buffer < 0:
            raise ValueError("timeouts and buffer sizes must not be negative")
        self.prefix = prefix
        self.subject = self.subject_for(name)
        self.connect_timeout = connect_timeout
        self.reconnect_time_wait = reconnect_time_wait
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_buffer = reconnect_buffer
        self.ping_interval = ping_interval
        self.max_outstanding_pings = max_outstanding_pings
        self._tls = tls
        self._max_message = max_message
        self._nc: NatsClient | None = None
        self._closing = False
        self._probes: dict[str, asyncio.Event] = {}
        self.reconnects = 0  # successful reconnections so far
        self.url = ", ".join(redact_url(u) for u in self.servers)  # safe to show

    def subject_for(self, name: str) -> str:
        """The NATS subject of endpoint ``name``'s inbox."""
        return inbox_subject(self.prefix, name)

    @property
    def max_message(self) -> int:
        server = self._nc.max_payload if self._nc is not None else NATS_DEFAULT_MAX_PAYLOAD
        return server if self._max_message is None else min(server, self._max_message)

    @property
    def is_open(self) -> bool:
        return super().is_open and self._nc is not None

    def _connection(self) -> NatsClient:
        self._check_open()
        if self._nc is None:
            raise TransportClosed(f"endpoint {self.name!r} is still connecting (start() has not returned)")
        return self._nc

    @property
    def is_connected(self) -> bool:
        """True while the connection to the router is up (False while reconnecting)."""
        return self._nc is not None and self._nc.is_connected

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        if not self._check_startable():
            return
        nc = NatsClient()
        options: dict[str, Any] = {
            # nats-py annotates these as int but takes float seconds.
            "connect_timeout": min(2.0, self.connect_timeout),
            "reconnect_time_wait": self.reconnect_time_wait,
            "ping_interval": self.ping_interval,
        }
        if self._tls is not None:
            options["tls"] = self._tls
        if self._nkey is not None:
            options["nkeys_seed_str"] = self._nkey.seed
        self._open()  # the inbox must exist before the subscription can deliver

        async def connect() -> None:
            await nc.connect(
                servers=self.servers,
                name=f"gridlock:{self.name}",
                allow_reconnect=True,
                max_reconnect_attempts=self.max_reconnect_attempts,
                max_outstanding_pings=self.max_outstanding_pings,
                pending_size=self.reconnect_buffer,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                closed_cb=self._on_closed,
                **options,
            )
            await nc.subscribe(self.subject, cb=self._on_msg)
            await self._roundtrip(nc, None)  # the server routes our subject to us now

        try:
            await _within(self.connect_timeout, connect())
        except (TimeoutError, OSError, nats_errors.Error) as exc:
            self._reset()
            await _quiet_close(nc)
            last = nc.last_error
            why = type(last).__name__ if last is not None else type(exc).__name__
            if self._refusal is not None:
                raise RouterRefused(
                    f"the NATS router at {self.url} refused endpoint {self.name!r}: {self._refusal}"
                ) from None
            raise RouterUnavailable(
                f"cannot reach the NATS router at {self.url} within {self.connect_timeout:g} s ({why})"
            ) from exc
        except BaseException:
            self._reset()
            await _quiet_close(nc)
            raise
        if self._was_closed:  # close() was called while we were connecting
            await _quiet_close(nc)
            raise self._closed_error()
        self._nc = nc
        log.debug("endpoint %r connected to %s", self.name, self.url)

    async def close(self) -> None:
        if not self._mark_closed():
            return
        nc, self._closing = self._nc, True
        if nc is None:
            return
        if nc.is_connected:
            with contextlib.suppress(TimeoutError, nats_errors.Error):
                await self._roundtrip(nc, 2.0)  # what we sent reaches the router before we go
        await _quiet_close(nc)

    # -- traffic ----------------------------------------------------------------------

    async def send(self, to: str, data: bytes) -> None:
        nc = self._connection()
        subject = self.subject_for(to)
        payload = as_payload(data)
        limit = self.max_message
        if len(payload) > limit:
            raise PayloadTooLarge(len(payload), limit, "NATS router")
        try:
            await nc.publish(subject, payload)
        except nats_errors.MaxPayloadError:
            raise PayloadTooLarge(len(payload), nc.max_payload, "NATS router") from None
        except nats_errors.OutboundBufferLimitError:
            raise RouterUnavailable(
                f"the NATS router at {self.url} is unreachable (reconnecting) and the outbound buffer "
                f"of {self.reconnect_buffer} bytes is full"
            ) from None
        except nats_errors.ConnectionClosedError:
            raise self._closed_error() from None
        self.stats.sent += 1

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the router has taken (and routed) every message this endpoint sent so far."""
        nc = self._connection()
        try:
            await self._roundtrip(nc, timeout)
        except TimeoutError:
            raise RouterUnavailable(f"the NATS router at {self.url} did not answer within {timeout:g} s") from None
        except nats_errors.OutboundBufferLimitError:
            raise RouterUnavailable(f"the NATS router at {self.url} is unreachable (reconnecting)") from None
        except nats_errors.ConnectionClosedError:
            raise self._closed_error() from None

    async def _roundtrip(self, nc: NatsClient, timeout: float | None) -> None:
        """Return once the server has routed everything this connection sent so far.

        ``nc.flush()`` (PING/PONG) is not enough: nats-py writes its PING straight to the socket,
        possibly ahead of the SUB and PUB commands still in its pending buffer, so the PONG can come
        back before the server has seen them.  A probe published to our own subject queues behind
        them; when it comes back, the server has our subscription and every earlier message.
        """
        token = secrets.token_hex(16)
        seen = asyncio.Event()
        self._probes[token] = seen
        try:
            await nc.publish(self.subject, b"", headers={PROBE_HEADER: token})
            async with asyncio.timeout(timeout):
                await seen.wait()
        finally:
            self._probes.pop(token, None)

    # -- nats-py callbacks ------------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        if msg.headers and PROBE_HEADER in msg.headers:  # a probe: ours, or another claimant's of our name
            seen = self._probes.get(msg.headers[PROBE_HEADER])
            if seen is not None:
                seen.set()
            return
        self._deliver(msg.data)

    async def _on_error(self, exc: Exception) -> None:
        text = str(exc).lower()
        if "authorization violation" in text or "permissions violation" in text:
            self._refusal = "no NATS key it accepts" if "authorization" in text else "not permitted by its NATS key"
            self.stats.refused += 1
            log.warning("endpoint %r: the NATS router refused it (%s)", self.name, self._refusal)
        elif isinstance(exc, nats_errors.SlowConsumerError):
            self.stats.dropped_router += 1
            log.warning("endpoint %r is a slow consumer: the NATS client dropped a message", self.name)
        else:
            log.debug("endpoint %r: NATS client error: %s", self.name, type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._nc is not None and not self._closing:
            log.info("endpoint %r lost the NATS router at %s; reconnecting", self.name, self.url)

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        log.info("endpoint %r reconnected to the NATS router at %s", self.name, self.url)

    async def _on_closed(self) -> None:
        if self._nc is None or self._closing:
            return  # a failed start, or our own close()
        last = self._nc.last_error
        why = f" ({type(last).__name__})" if last is not None else ""
        url = self.url

        def error() -> TransportError:
            return RouterUnavailable(f"lost the NATS router at {url} and stopped reconnecting{why}")

        log.warning("endpoint %r: %s", self.name, error())
        self._fail(error)


async def _within(seconds: float, coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` for at most ``seconds`` (else :class:`TimeoutError`).

    Not ``asyncio.timeout``: nats-py swallows ``CancelledError`` in places (closing, flushing), and
    a timeout that works by cancelling the caller then never ends the wait.  Here the work runs as
    its own task; when the time is up it is cancelled and left behind, and the caller goes on."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise TimeoutError(f"not done within {seconds:g} s")
    task.result()


def _consume(task: asyncio.Future[None]) -> None:
    """A task left behind: its outcome is retrieved so that asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


async def _quiet_close(nc: NatsClient) -> None:
    with contextlib.suppress(TimeoutError, OSError, nats_errors.Error, AssertionError):
        await _within(5, nc.close())
