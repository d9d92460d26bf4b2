"""NATS access control (issue 18, finding 1): every endpoint its own NKEY, receiving only on its subject.

An outsider on the router — no key, or a fresh key of its own — can neither publish to a guardian's
subject nor subscribe to one; an endpoint with a key cannot subscribe to another's subject nor send
where its permissions do not reach.  Each test uses a real ``nats-server``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats import errors as nats_errors
from nats.aio.client import Client as RawNats

from conftest import need_nats_server
from gridlock.devnet.processes import ProcessCluster
from gridlock.errors import InvalidParameterError
from gridlock.local import verify
from gridlock.transport import NatsAccess, NatsServer, NatsTransport, NkeySeed, RecvTimeout, RouterRefused
from gridlock.transport.nats_auth import NatsUser

KEYS = {name: NkeySeed.generate() for name in ("g1", "g2", "owner", "bob")}
ACCESS = NatsAccess.for_network(
    {"g1": KEYS["g1"].public, "g2": KEYS["g2"].public}, {"owner": KEYS["owner"].public, "bob": KEYS["bob"].public}
)


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    need_nats_server()
    s = NatsServer.start(access=ACCESS)
    try:
        yield s
    finally:
        s.stop()


def endpoint(server: NatsServer, name: str, key: NkeySeed | None) -> NatsTransport:
    return NatsTransport(server.url, name, nkey=key, connect_timeout=2.0, max_reconnect_attempts=0)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_access_list_is_what_each_endpoint_must_reach() -> None:
    text = ACCESS.config()
    assert text.count("nkey:") == 4 and KEYS["g1"].seed not in text  # public keys only
    assert ACCESS.user("owner").sends_to == ("g1", "g2", "owner")  # guardians, and itself (its probe)
    assert set(ACCESS.user("g1").sends_to) == {"g1", "g2", "owner", "bob"}
    assert 'subscribe: { allow: ["gridlock.inbox.g1"] }' in text and ">" not in text and "*" not in text
    assert KEYS["g1"].seed not in repr(KEYS["g1"]) and KEYS["g1"].public in repr(KEYS["g1"])
    with pytest.raises(InvalidParameterError):
        NatsAccess((NatsUser("a", KEYS["g1"].public, ()), NatsUser("b", KEYS["g1"].public, ())))
    with pytest.raises(InvalidParameterError):
        NkeySeed("SU" + "A" * 56)  # the checksum does not match


def test_members_talk_over_the_guarded_router(server: NatsServer) -> None:
    async def main() -> None:
        async with (
            endpoint(server, "g1", KEYS["g1"]) as g1,
            endpoint(server, "g2", KEYS["g2"]) as g2,
            endpoint(server, "owner", KEYS["owner"]) as owner,
        ):
            await owner.send("g1", b"request")
            assert await g1.recv(timeout=5) == b"request"
            await g1.send("owner", b"reply")
            await g1.send("g2", b"round 1")
            assert await owner.recv(timeout=5) == b"reply"
            assert await g2.recv(timeout=5) == b"round 1"

    run(main())


def test_an_outsider_without_a_key_cannot_connect_publish_or_subscribe(server: NatsServer) -> None:
    async def main() -> None:
        with pytest.raises(RouterRefused, match="refused"):
            await endpoint(server, "mallory", None).start()
        with pytest.raises(RouterRefused):  # claiming a guardian's name does not help
            await endpoint(server, "g1", None).start()
        raw = RawNats()
        with pytest.raises(nats_errors.Error, match="Authorization Violation"):
            await raw.connect(server.url, allow_reconnect=False, connect_timeout=2)

    run(main())


def test_an_outsider_with_its_own_fresh_key_cannot_publish_to_or_subscribe_to_a_guardian(server: NatsServer) -> None:
    async def main() -> None:
        async with endpoint(server, "g1", KEYS["g1"]) as g1:
            with pytest.raises(RouterRefused):
                await endpoint(server, "mallory", NkeySeed.generate()).start()
            with pytest.raises(RouterRefused):  # its own key under a guardian's name: still unknown
                await endpoint(server, "g1", NkeySeed.generate()).start()
            raw = RawNats()
            with pytest.raises(nats_errors.Error, match="Authorization Violation"):
                await raw.connect(
                    server.url, allow_reconnect=False, connect_timeout=2, nkeys_seed_str=NkeySeed.generate().seed
                )
            with pytest.raises(RecvTimeout):
                await g1.recv(timeout=0.5)  # nothing reached the guardian
            assert g1.stats.received == 0

    run(main())


def test_a_member_cannot_listen_to_another_subject_or_send_beyond_its_permissions(server: NatsServer) -> None:
    async def main() -> None:
        async with endpoint(server, "g1", KEYS["g1"]) as g1, endpoint(server, "bob", KEYS["bob"]) as bob:
            with pytest.raises(RouterRefused, match="not permitted"):  # the owner's key on a guardian's subject
                await endpoint(server, "g1", KEYS["owner"]).start()
            raw = RawNats()  # the owner's key, subscribing with a wildcard to learn the subjects in use
            seen: list[str] = []

            async def note(msg: object) -> None:
                seen.append(str(getattr(msg, "subject", "")))

            errors: list[Exception] = []

            async def on_error(exc: Exception) -> None:
                errors.append(exc)

            await raw.connect(server.url, nkeys_seed_str=KEYS["owner"].seed, error_cb=on_error)
            await raw.subscribe("gridlock.>", cb=note)
            await raw.flush()
            async with endpoint(server, "owner", KEYS["owner"]) as owner:
                await owner.send("bob", b"clients do not send to clients")
                await g1.send("bob", b"a guardian may")
                assert await bob.recv(timeout=5) == b"a guardian may"
                with pytest.raises(RecvTimeout):
                    await bob.recv(timeout=0.5)
                await owner.flush()
                await asyncio.sleep(0.2)
                assert owner.stats.refused >= 1
            assert seen == [] and any("permissions violation" in str(e).lower() for e in errors)
            await raw.close()

    run(main())


def test_guardian_processes_sign_on_a_guarded_router_and_outsiders_are_refused(tmp_path: Path) -> None:
    """The deployment path: each guardian's configuration names its NATS key file."""
    need_nats_server()
    server = NatsServer.start()
    pc = ProcessCluster.create(tmp_path, ["a", "b", "c"], server.url, session_timeout=10.0)
    try:
        server.authorize(pc.access)
        assert "nats_key" in (tmp_path / "a" / "guardian.toml").read_text()
        assert (tmp_path / "a" / "nats.nkey").stat().st_mode & 0o077 == 0
        pc.start()

        async def main() -> None:
            client = await pc.client()
            try:
                vault = await client.create_vault("frost-ed25519", pc.ids, 2, password=pc.password)
                message = os.urandom(32)
                assert verify(vault.scheme, vault.public_key, message, await vault.sign(message))
                with pytest.raises(RouterRefused):
                    await NatsTransport(server.url, pc.ids[0], connect_timeout=2.0).start()
            finally:
                await client.close()
                await client.transport.close()

        run(main())
    finally:
        pc.stop()
        server.stop()
