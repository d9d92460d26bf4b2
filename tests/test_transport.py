"""The routers (gridlock.transport): one suite run over the in-process router and over a real nats-server.

The NATS runs start `nats-server` (Debian's package; `scripts/ensure-nats-server.sh` installs it) on a
loopback port once per session, with max_payload 8 MiB; each test uses its own subject prefix.  They are
skipped, with the reason, only when no nats-server executable can be found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from conftest import need_nats_server
from gridlock.errors import GridlockError
from gridlock.transport import (
    AddressInUse,
    InvalidAddress,
    LocalRouter,
    LocalTransport,
    NatsServer,
    NatsServerNotFound,
    NatsTransport,
    PayloadTooLarge,
    RecvTimeout,
    RouterUnavailable,
    Transport,
    TransportClosed,
    TransportError,
    connect,
    find_nats_server,
)

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
MIB = 1024 * 1024


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def eventually(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------------------
# fixtures: one "net" per backend
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    need_nats_server()
    server = NatsServer.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Net:
    """Makes endpoints on one backend: a fresh LocalRouter, or a fresh subject prefix on the session's server."""

    kind: str
    router: LocalRouter | None = None
    url: str = ""
    prefix: str = ""

    def endpoint(self, name: str, **options: Any) -> Transport:
        if self.router is not None:
            return self.router.connect(name, **options)
        return NatsTransport(self.url, name, prefix=self.prefix, **options)

    async def open(self, stack: contextlib.AsyncExitStack, *names: str, **options: Any) -> list[Transport]:
        return [await stack.enter_async_context(self.endpoint(n, **options)) for n in names]


@pytest.fixture(params=["local", "nats"])
def net(request: pytest.FixtureRequest) -> Net:
    if request.param == "local":
        return Net("local", router=LocalRouter())
    server: NatsServer = request.getfixturevalue("nats_server")
    return Net("nats", url=server.url, prefix=f"t{uuid.uuid4().hex[:12]}")


# --------------------------------------------------------------------------------------
# the shared suite
# --------------------------------------------------------------------------------------


def test_point_to_point_in_order(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a, b = await net.open(stack, "alice", "bob")
            for i in range(100):
                await a.send("bob", b"m%d" % i)
            await a.flush()  # the router has them all
            assert [await b.recv(timeout=5) for _ in range(100)] == [b"m%d" % i for i in range(100)]
            await b.send("alice", b"")  # empty payloads are fine
            assert await a.recv(timeout=5) == b""
            await a.send("alice", bytearray(b"to myself"))  # type: ignore[arg-type]  # bytes-like is accepted; so is oneself
            assert await a.recv(timeout=5) == b"to myself"
            assert a.stats.sent == 101 and b.stats.received == 100
            with pytest.raises(RecvTimeout):
                await b.recv(timeout=0.05)  # nothing else arrived (no duplicates)

    run(body())


def test_many_endpoints(net: Net) -> None:
    names = [f"guardian-{i}" for i in range(20)]

    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            eps = await net.open(stack, *names)
            for i, t in enumerate(eps):  # a ring: everyone writes to the next
                await t.send(names[(i + 1) % len(names)], f"from {names[i]}".encode())
            for i, t in enumerate(eps):
                assert await t.recv(timeout=5) == f"from {names[i - 1]}".encode()
            for name in names[1:]:  # one to all
                await eps[0].send(name, name.encode())
            for name, t in zip(names[1:], eps[1:], strict=True):
                assert await t.recv(timeout=5) == name.encode()

    run(body())


def test_large_payloads_up_to_the_limit(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a, b = await net.open(stack, "big-a", "big-b")
            limit = a.max_message
            assert limit == (4 * MIB if net.kind == "local" else 8 * MIB)  # NATS: the test server's max_payload
            blob = os.urandom(limit)
            await a.send("big-b", blob)
            got = await b.recv(timeout=10)
            assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
            with pytest.raises(PayloadTooLarge) as info:
                await a.send("big-b", blob + b"!")
            assert (info.value.size, info.value.limit) == (limit + 1, limit)
            assert isinstance(info.value, TransportError) and isinstance(info.value, GridlockError)
            await a.send("big-b", os.urandom(MIB + 17))  # past NATS's default 1 MiB
            assert len(await b.recv(timeout=10)) == MIB + 17
            await a.send("big-b", b"still fine")  # the refusal broke nothing
            assert await b.recv(timeout=5) == b"still fine"
            with pytest.raises(TypeError):
                await a.send("big-b", "text")  # type: ignore[arg-type]

    run(body())


def test_recv_timeout(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            (a,) = await net.open(stack, "waiter")
            start = time.monotonic()
            with pytest.raises(RecvTimeout) as info:
                await a.recv(timeout=0.2)
            elapsed = time.monotonic() - start
            assert 0.19 <= elapsed < 2.0
            assert isinstance(info.value, TimeoutError) and isinstance(info.value, TransportError)
            with pytest.raises(TimeoutError):
                await a.recv(timeout=0)
            await a.send("waiter", b"x")
            await eventually(lambda: a.stats.received == 1)
            assert await a.recv(timeout=0) == b"x"
            # a message arriving while recv waits wakes it
            waiting = asyncio.ensure_future(a.recv(timeout=5))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await a.send("waiter", b"late")
            assert await waiting == b"late"

    run(body())


def test_close_semantics(net: Net) -> None:
    async def body() -> None:
        a = net.endpoint("closer")
        with pytest.raises(TransportClosed, match="not started"):
            await a.send("closer", b"x")
        with pytest.raises(TransportClosed, match="not started"):
            await a.recv(timeout=0)
        async with contextlib.AsyncExitStack() as stack:
            (b,) = await net.open(stack, "other")
            async with a:
                await a.start()  # starting twice is harmless
                waiting = asyncio.ensure_future(a.recv())
                await asyncio.sleep(0.05)
                await a.close()  # wakes the waiting recv
                with pytest.raises(TransportClosed, match="closed"):
                    await waiting
            await a.close()  # idempotent (also after __aexit__)
            with pytest.raises(TransportClosed):
                await a.send("other", b"x")
            with pytest.raises(TransportClosed):
                await a.recv(timeout=1)
            with pytest.raises(TransportClosed):
                await a.flush()
            with pytest.raises(TransportClosed):
                await a.start()  # not restartable
            await b.send("closer", b"to a closed endpoint")  # dropped; the sender is fine
            await b.send("other", b"ok")
            assert await b.recv(timeout=5) == b"ok"
            await b.close()
            with pytest.raises(TransportClosed):
                await b.send("other", b"x")
        # messages left in an inbox are discarded by close
        c = net.endpoint("leftover")
        async with c:
            await c.send("leftover", b"unread")
            await eventually(lambda: c.stats.received == 1)
        with pytest.raises(TransportClosed):
            await c.recv(timeout=0)

    run(body())


def test_unknown_destination_and_bad_names(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a, b = await net.open(stack, "sender", "receiver")
            for _ in range(10):
                await a.send("nobody-here", b"lost")
            await a.send("receiver", b"arrives")
            assert await b.recv(timeout=5) == b"arrives"
            for bad in ["", "A", "a.b", "*", ">", "a b", "a\n", "x" * 65, "ü", "inbox.>", None, 7]:
                with pytest.raises(InvalidAddress):
                    await a.send(bad, b"x")  # type: ignore[arg-type]
                with pytest.raises(InvalidAddress):
                    net.endpoint(bad)  # type: ignore[arg-type]
            assert net.endpoint("x" * 64).name == "x" * 64
            await a.send("receiver", b"after")
            assert await b.recv(timeout=5) == b"after"
        if net.router is not None:
            assert net.router.stats.unknown_destination == 10

    run(body())


def test_concurrent_senders_all_arrive_in_order(net: Net) -> None:
    names = [f"node-{i}" for i in range(5)]
    per_peer = 200

    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            eps = dict(zip(names, await net.open(stack, *names), strict=True))

            async def sender(me: str) -> None:
                for i in range(per_peer):
                    for to in names:
                        if to != me:
                            await eps[me].send(to, f"{me}|{i}".encode())

            async def receiver(me: str) -> dict[str, list[int]]:
                got: dict[str, list[int]] = {n: [] for n in names if n != me}
                for _ in range(per_peer * (len(names) - 1)):
                    who, i = (await eps[me].recv(timeout=10)).decode().split("|")
                    got[who].append(int(i))
                return got

            receivers = [asyncio.ensure_future(receiver(n)) for n in names]
            await asyncio.gather(*(sender(n) for n in names))
            results = await asyncio.gather(*receivers)
            for got in results:
                for seq in got.values():
                    assert seq == list(range(per_peer))  # all arrived, in order per sender
            assert all(t.stats.dropped_overflow == 0 for t in eps.values())

    run(body())


def test_concurrent_receivers_share_one_inbox(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a, b = await net.open(stack, "fan-a", "fan-b")
            got: list[bytes] = []

            async def worker() -> None:
                with contextlib.suppress(RecvTimeout):
                    while True:
                        got.append(await b.recv(timeout=0.5))

            workers = [asyncio.ensure_future(worker()) for _ in range(3)]
            for i in range(300):
                await a.send("fan-b", b"%d" % i)
            await asyncio.gather(*workers)
            assert sorted(got) == sorted(b"%d" % i for i in range(300))  # each message exactly once

    run(body())


def test_inbox_overflow_drops_oldest(net: Net) -> None:
    async def body() -> None:
        async with contextlib.AsyncExitStack() as stack:
            (a,) = await net.open(stack, "sender")
            (small,) = await net.open(stack, "small", inbox_messages=5)
            for i in range(8):
                await a.send("small", b"%d" % i)
            await eventually(lambda: small.stats.received == 8, what="all 8 messages")
            assert small.stats.dropped_overflow == 3
            assert [await small.recv(timeout=1) for _ in range(5)] == [b"3", b"4", b"5", b"6", b"7"]
            (tiny,) = await net.open(stack, "tiny", inbox_bytes=1000)
            for chunk in (b"a" * 400, b"b" * 400, b"c" * 400, b"d" * 2000):  # "d" alone exceeds the bound
                await a.send("tiny", chunk)
            await a.send("tiny", b"end")
            await eventually(lambda: tiny.stats.received == 4, what="the messages that fit")
            assert tiny.stats.dropped_overflow == 2  # "a" (oldest, to make room for "c") and "d" (too large)
            assert [await tiny.recv(timeout=1) for _ in range(3)] == [b"b" * 400, b"c" * 400, b"end"]

    run(body())


def test_connect_factory(net: Net) -> None:
    async def body() -> None:
        if net.router is not None:
            t = connect(net.router, "factory")
            assert isinstance(t, LocalTransport)
        else:
            t = connect(net.url, "factory", prefix=net.prefix)
            assert isinstance(t, NatsTransport)
        async with t:
            await t.send("factory", b"hi")
            assert await t.recv(timeout=5) == b"hi"

    run(body())


# --------------------------------------------------------------------------------------
# the local router only: interceptor, injection, names
# --------------------------------------------------------------------------------------


def test_local_interceptor_drops_duplicates_tampers_redirects_and_reorders() -> None:
    held: list[tuple[str, bytes]] = []

    def interceptor(to: str, data: bytes) -> list[tuple[str, bytes]]:
        if data.startswith(b"drop"):
            return []
        if data.startswith(b"dup"):
            return [(to, data), (to, data)]
        if data.startswith(b"tamper"):
            return [(to, data[:-1] + bytes([data[-1] ^ 1]))]
        if data.startswith(b"redirect"):
            return [("eve", data)]
        if data.startswith(b"hold"):
            held.append((to, data))
            return []
        if data.startswith(b"release"):
            out = [(to, data), *reversed(held)]
            held.clear()
            return out
        return [(to, data)]

    router = LocalRouter(interceptor=interceptor)

    async def body() -> None:
        async with router.connect("alice") as a, router.connect("bob") as b, router.connect("eve") as e:
            for m in [b"drop", b"dup", b"tamper0", b"redirect", b"hold1", b"hold2", b"release"]:
                await a.send("bob", m)
            got = []
            with contextlib.suppress(RecvTimeout):
                while True:
                    got.append(await b.recv(timeout=0.05))
            assert got == [b"dup", b"dup", b"tamper1", b"release", b"hold2", b"hold1"]
            assert await e.recv(timeout=1) == b"redirect"
            router.interceptor = None
            await a.send("bob", b"plain")
            assert await b.recv(timeout=1) == b"plain"
            assert router.inject("bob", b"forged by the router") is True
            assert await b.recv(timeout=1) == b"forged by the router"
            assert router.inject("nobody", b"x") is False
        assert router.stats.unknown_destination == 1

    run(body())


def test_local_names_are_unique_and_router_close_closes_all() -> None:
    router = LocalRouter()

    async def body() -> None:
        a = router.connect("same")
        await a.start()
        with pytest.raises(AddressInUse):
            await router.connect("same").start()
        await a.close()
        b = router.connect("same")  # the name is free again
        await b.start()
        c = router.connect("other")
        await c.start()
        assert router.endpoints == ["other", "same"]
        waiting = asyncio.ensure_future(c.recv())
        await asyncio.sleep(0)
        await router.close()
        with pytest.raises(TransportClosed):
            await waiting
        with pytest.raises(TransportClosed):
            await b.send("other", b"x")
        with pytest.raises(TransportClosed):
            router.connect("late")
        assert router.endpoints == []

    run(body())


def test_local_router_limit_is_configurable() -> None:
    router = LocalRouter(max_message=1000)

    async def body() -> None:
        async with router.connect("a") as a:
            assert a.max_message == 1000
            await a.send("a", b"x" * 1000)
            with pytest.raises(PayloadTooLarge):
                await a.send("a", b"x" * 1001)
            assert await a.recv(timeout=1) == b"x" * 1000

    run(body())


# --------------------------------------------------------------------------------------
# NATS only: a separate process, server restarts, limits, the server helper
# --------------------------------------------------------------------------------------

PEER = r"""
import asyncio, hashlib, sys
from gridlock.transport import NatsTransport

async def main(url, prefix, me, them, count):
    async with NatsTransport(url, me, prefix=prefix) as t:
        print("ready", flush=True)
        for i in range(int(count)):
            await t.send(them, b"peer %d" % i)
        while True:
            data = await t.recv(timeout=20)
            if data == b"quit":
                break
            await t.send(them, hashlib.sha256(data).digest() + len(data).to_bytes(8, "big"))

asyncio.run(main(*sys.argv[1:]))
"""


def test_nats_endpoint_in_another_process(nats_server: NatsServer) -> None:
    prefix = f"p{uuid.uuid4().hex[:12]}"

    async def body() -> None:
        async with NatsTransport(nats_server.url, "host", prefix=prefix) as host:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PEER,
                nats_server.url,
                prefix,
                "peer",
                "host",
                "100",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 15)
                assert line.strip() == b"ready", line
                assert [await host.recv(timeout=10) for _ in range(100)] == [b"peer %d" % i for i in range(100)]
                for payload in [b"", b"x", os.urandom(100_000), os.urandom(3 * MIB)]:
                    await host.send("peer", payload)
                    reply = await host.recv(timeout=10)
                    assert reply == hashlib.sha256(payload).digest() + len(payload).to_bytes(8, "big")
                await host.send("peer", b"quit")
                _, err = await asyncio.wait_for(proc.communicate(), 15)
                assert proc.returncode == 0, err.decode(errors="replace")
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    run(body(), timeout=40)


@pytest.fixture
def own_server(nats_server: NatsServer) -> Iterator[NatsServer]:
    """A private server (this test stops and restarts it)."""
    server = NatsServer.start()
    try:
        yield server
    finally:
        server.stop()


def test_nats_reconnects_after_a_server_restart(own_server: NatsServer) -> None:
    def fast(name: str) -> NatsTransport:
        return NatsTransport(own_server.url, name, reconnect_time_wait=0.1, max_reconnect_attempts=-1)

    async def body() -> None:
        async with fast("a") as a, fast("b") as b:
            await a.send("b", b"before")
            assert await b.recv(timeout=5) == b"before"
            waiting = asyncio.ensure_future(b.recv(timeout=15))  # a recv that spans the outage
            own_server.kill()  # a crash
            await eventually(lambda: not a.is_connected and not b.is_connected, what="disconnection")
            await a.send("a", b"buffered while away")  # kept in the reconnect buffer, sent on reconnection
            own_server.restart()  # same port
            await eventually(lambda: a.reconnects >= 1 and b.reconnects >= 1, what="reconnection")
            assert a.is_connected and b.is_connected
            assert await a.recv(timeout=5) == b"buffered while away"
            assert not waiting.done()
            await a.send("b", b"after")
            assert await waiting == b"after"

    run(body(), timeout=30)


def test_nats_gives_up_with_router_unavailable(own_server: NatsServer) -> None:
    async def body() -> None:
        t = NatsTransport(own_server.url, "quitter", reconnect_time_wait=0.05, max_reconnect_attempts=2)
        async with t:
            waiting = asyncio.ensure_future(t.recv())
            own_server.stop()
            with pytest.raises(RouterUnavailable, match="stopped reconnecting"):
                await asyncio.wait_for(waiting, 10)
            with pytest.raises(RouterUnavailable):
                await t.send("quitter", b"x")
            with pytest.raises(RouterUnavailable):
                await t.recv(timeout=0)
        with pytest.raises(TransportClosed):  # after close() it is simply closed
            await t.recv(timeout=0)

    run(body())


def test_nats_send_during_outage_without_buffer(own_server: NatsServer) -> None:
    async def body() -> None:
        t = NatsTransport(own_server.url, "unbuffered", reconnect_time_wait=0.1, reconnect_buffer=0)
        async with t:
            own_server.kill()
            await eventually(lambda: not t.is_connected, what="disconnection")
            with pytest.raises(RouterUnavailable, match="unreachable"):
                await t.send("unbuffered", b"x")
            own_server.restart()
            await eventually(lambda: t.is_connected, what="reconnection")
            await t.send("unbuffered", b"y")
            assert await t.recv(timeout=5) == b"y"

    run(body())


def test_nats_unreachable_at_start_then_retry(own_server: NatsServer) -> None:
    async def body() -> None:
        own_server.stop()  # its port is free now: nothing listens there
        t = NatsTransport(own_server.url, "early", connect_timeout=0.5, reconnect_time_wait=0.1)
        start = time.monotonic()
        with pytest.raises(RouterUnavailable, match="cannot reach the NATS router") as info:
            await t.start()
        assert time.monotonic() - start < 3
        assert own_server.url in str(info.value)
        with pytest.raises(TransportClosed, match="not started"):
            await t.send("early", b"x")
        own_server.restart()
        async with t:  # start() can be tried again
            await t.send("early", b"x")
            assert await t.recv(timeout=5) == b"x"

    run(body())


def test_nats_send_while_connecting(nats_server: NatsServer) -> None:
    async def body() -> None:
        t = NatsTransport(nats_server.url, "eager")
        starting = asyncio.ensure_future(t.start())
        await asyncio.sleep(0)
        assert not t.is_open
        with pytest.raises(TransportClosed, match="still connecting"):
            await t.send("eager", b"x")
        await starting
        assert t.is_open
        await t.close()
        assert not t.is_open
        u = NatsTransport(nats_server.url, "abandoned")
        starting = asyncio.ensure_future(u.start())
        await asyncio.sleep(0)
        await u.close()  # while connecting: start() gives up and leaves no connection behind
        with pytest.raises(TransportClosed):
            await starting
        assert u._nc is None and not u.is_connected

    run(body())


def test_nats_respects_the_server_max_payload(nats_server: NatsServer) -> None:
    small = NatsServer.start(max_payload=MIB)  # NATS's default

    async def body() -> None:
        async with NatsTransport(small.url, "a") as a, NatsTransport(nats_server.url, "b", max_message=5000) as b:
            assert a.max_message == MIB
            await a.send("a", b"x" * MIB)
            assert len(await a.recv(timeout=5)) == MIB
            with pytest.raises(PayloadTooLarge, match="1048577 bytes"):
                await a.send("a", b"x" * (MIB + 1))
            assert b.max_message == 5000  # a lower limit of our own
            with pytest.raises(PayloadTooLarge):
                await b.send("b", b"x" * 5001)

    try:
        run(body())
    finally:
        small.stop()


def test_nats_prefixes_isolate_and_names_are_not_exclusive(nats_server: NatsServer) -> None:
    async def body() -> None:
        url = nats_server.url
        async with (
            NatsTransport(url, "n", prefix="iso-one") as one,
            NatsTransport(url, "n", prefix="iso-two") as two,
            NatsTransport(url, "n", prefix="iso-two") as twin,
        ):
            assert one.subject == "iso-one.inbox.n"
            await one.send("n", b"one")
            assert await one.recv(timeout=5) == b"one"
            with pytest.raises(RecvTimeout):
                await two.recv(timeout=0.1)
            await two.send("n", b"both")  # NATS cannot tell two claimants of a name apart: both receive
            assert await two.recv(timeout=5) == b"both"
            assert await twin.recv(timeout=5) == b"both"
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"]:
            with pytest.raises(InvalidAddress):
                NatsTransport(url, "n", prefix=bad)

    run(body())


def test_nats_credentials_never_appear_in_errors() -> None:
    t = NatsTransport("nats://user:hunter2@127.0.0.1:1", "a", connect_timeout=0.3, reconnect_time_wait=0.1)
    with pytest.raises(RouterUnavailable) as info:
        run(t.start())
    assert "hunter2" not in str(info.value) and "user" not in str(info.value)
    assert "***@127.0.0.1:1" in str(info.value)


def test_nats_server_helper(nats_server: NatsServer) -> None:
    assert nats_server.running and nats_server.host == "127.0.0.1"
    with socket.create_connection((nats_server.host, nats_server.port), timeout=2) as sock:
        info = json.loads(sock.makefile("rb").readline().split(b" ", 1)[1])
    assert info["host"] == "127.0.0.1"  # bound to loopback only
    assert info["max_payload"] == 8 * MIB
    server = NatsServer.start()
    port, data_dir = server.port, server.data_dir
    assert port != nats_server.port and data_dir.exists()
    server.stop()
    server.stop()  # idempotent
    assert not server.running and not data_dir.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(NatsServerNotFound, match="not found"):
        NatsServer.start(binary="/nonexistent/nats-server")


def test_nats_server_not_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDLOCK_NATS_SERVER", raising=False)
    monkeypatch.setattr("gridlock.transport.server._EXTRA_DIRS", ())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NatsServerNotFound, match=r"ensure-nats-server\.sh"):
        find_nats_server()
