"""What the soak test injects, and how it keeps count (issue 18, "Done when").

* :class:`Tally` — every operation's outcome: a result, a :class:`~gridlock.errors.GridlockError`
  subclass (counted by type), anything else (``untyped:…``) or no end within its bound (``hang``).
* :class:`Losses` — lost requests and replies, injected by wrapping the owner's ``Client.call``
  (every request the SDK sends goes through it), as ``tests/test_epoch_healing.py`` does.
* :class:`Outsider` — a flooder in its own thread and event loop: strangers without NATS
  credentials (or with a key of their own) knocking at the router, and a device of the directory
  with its own NATS key sending pings, requests it may not make and requests from fresh unknown
  identities to every guardian (``tests/test_floods.py``, ``tests/test_nats_access.py``).
* :func:`rss_kib` — a process's resident memory, from ``/proc/PID/status``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gridlock.client import Client, GuardianTimeout
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import codec
from gridlock.devnet import ProcessCluster
from gridlock.errors import GridlockError
from gridlock.transport import NatsTransport, NkeySeed
from gridlock.wire import KEM_X25519, Identity, PublicIdentity, ops, seal
from gridlock.wire import control as ctl

T = TypeVar("T")

Rule = Callable[[str, ops.Op], str | None]
"""Given (guardian id, op): ``"request"`` loses the request, ``"reply"`` loses the answer, ``None`` delivers."""


def rss_kib(pid: int | None) -> int:
    """Resident memory of process ``pid`` in KiB (``VmRSS``); 0 when it does not run."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


@dataclass
class Tally:
    """Outcomes of operations by kind: ``ok``, an error type's name, ``untyped:NAME`` or ``hang``."""

    outcomes: Counter[str] = field(default_factory=Counter)
    untyped: list[str] = field(default_factory=list)
    longest: float = 0.0

    async def run(self, kind: str, work: Awaitable[T], bound: float) -> T | None:
        """Await ``work`` for at most ``bound`` seconds and count how it ended; its result, or ``None``."""
        start = time.monotonic()
        try:
            result = await asyncio.wait_for(work, bound)
        except TimeoutError:
            self.outcomes[f"{kind}: hang"] += 1
            self.untyped.append(f"{kind} did not end within {bound:g} s")
            return None
        except GridlockError as exc:
            self.outcomes[f"{kind}: {type(exc).__name__}"] += 1
            return None
        except Exception as exc:
            self.outcomes[f"{kind}: untyped:{type(exc).__name__}"] += 1
            self.untyped.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
            return None
        finally:
            self.longest = max(self.longest, time.monotonic() - start)
        self.outcomes[f"{kind}: ok"] += 1
        return result

    def total(self) -> int:
        return sum(self.outcomes.values())


class Losses:
    """Lose what the armed rule picks on the way between the owner's client and the guardians."""

    def __init__(self, client: Client) -> None:
        self.rule: Rule | None = None
        self.lost: Counter[str] = Counter()
        real = client.call

        async def call(guardian: str, op: ops.Op, timeout: float | None = None, **kw: Any) -> ops.Reply:
            what = self.rule(guardian, op) if self.rule is not None else None
            if what == "request":
                self.lost[f"{op.NAME} request"] += 1
                raise GuardianTimeout([guardian], op.NAME)
            reply = await real(guardian, op, timeout, **kw)
            if what == "reply":
                self.lost[f"{op.NAME} reply"] += 1
                raise GuardianTimeout([guardian], op.NAME)
            return reply

        client.call = call  # type: ignore[method-assign]

    @staticmethod
    def commits_to(victim: str, what: str) -> Rule:
        """Every commit to ``victim`` lost (``"request"``) or its answer lost (``"reply"``)."""
        return lambda g, op: what if (g, op.NAME) == (victim, "commit") else None

    @staticmethod
    def refresh_reply_and_aborts(victim: str) -> Rule:
        """``victim`` stores the new epoch but its answer is lost, and so is every abort sent to it."""
        return lambda g, op: {"refresh": "reply", "abort": "request"}.get(op.NAME) if g == victim else None

    @staticmethod
    def every_commit_answer() -> Rule:
        """Every commit answer lost, from every holder: nobody hears that the epoch is committed."""
        return lambda g, op: "reply" if op.NAME == "commit" else None


def intro(outsider: Identity, to: PublicIdentity, op: str, params: dict[str, Any]) -> bytes:
    """A request from a device no guardian knows (what device recovery sends)."""
    envelope = seal(
        outsider,
        session_id=os.urandom(16),
        protocol=ctl.CONTROL,
        round=0,
        seq=0,
        recipient=to,
        expires=int(time.time()) + 60,
        body=ctl.Request(op, params).to_bytes(),
    )
    return codec.dumps({"intro": outsider.public.to_bytes(), "envelope": envelope})


class Outsider:
    """Floods the guardians from its own thread until :meth:`stop` (class doc of the module)."""

    def __init__(self, pc: ProcessCluster, insider: Identity, vaults: list[str], seed: int) -> None:
        self.pc, self.insider, self.vaults = pc, insider, vaults
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.untyped: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="soak-outsider", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        if self._thread.is_alive():  # say where it is stuck
            frame = sys._current_frames().get(self._thread.ident or 0)
            stack = "".join(traceback.format_stack(frame))[-3000:] if frame is not None else "?"
            self.untyped.append(f"the outsider's thread did not stop:\n{stack}")

    def _count(self, what: str, exc: BaseException | None, ok: str = "answered") -> None:
        if exc is None:
            self.counts[f"{what}: {ok}"] += 1
        elif isinstance(exc, GridlockError):
            self.counts[f"{what}: {type(exc).__name__}"] += 1
        else:
            self.counts[f"{what}: untyped:{type(exc).__name__}"] += 1
            self.untyped.append(f"{what}: {type(exc).__name__}: {exc}"[:300])

    async def _knock(self) -> None:
        """Strangers connect to the router: without a key, or with a fresh key nobody listed."""
        while not self._stop.is_set():
            key = None if self.rng.random() < 0.5 else NkeySeed.generate()
            name = self.rng.choice([*self.pc.ids, "mallory"])  # claiming a guardian's name does not help
            t = NatsTransport(self.pc.nats_url, name, nkey=key, connect_timeout=2.0, max_reconnect_attempts=0)
            try:
                await t.start()
            except Exception as exc:  # RouterRefused (RouterUnavailable while the router restarts)
                self._count("stranger connects", exc)
                await asyncio.sleep(0.1)
                continue
            self.counts["stranger connects: ADMITTED"] += 1
            self.untyped.append(f"a stranger was admitted to the router as {name!r}")
            await t.close()

    async def _strangers(self, client: Client) -> None:
        """Requests from ever new unknown identities, sent over the insider's connection to every guardian."""
        strangers = [Identity.generate(kem=KEM_X25519) for _ in range(32)]
        while not self._stop.is_set():
            for _ in range(50):
                stranger = self.rng.choice(strangers)
                g = self.rng.choice(self.pc.ids)
                op, params = self.rng.choice([("ping", {}), ("info", {"vault": self.rng.choice(self.vaults)})])
                try:
                    await client.transport.send(g, intro(stranger, self.pc.directory.guardians[g], op, params))
                    self._count("unknown identity's request", None, "sent")
                except Exception as exc:  # counted by type (the router may be restarting)
                    self._count("unknown identity's request", exc)
            strangers[self.rng.randrange(len(strangers))] = Identity.generate(kem=KEM_X25519)  # fresh ones keep coming
            await asyncio.sleep(0.01)

    async def _insider(self, client: Client) -> None:
        """The insider's own requests, 16 in flight: pings, and refreshes of vaults that are not its own."""

        async def one(n: int) -> None:
            while not self._stop.is_set():
                g = self.rng.choice(self.pc.ids)
                op: ops.Op = ops.Ping() if n % 2 else ops.Refresh(self.rng.choice(self.vaults), os.urandom(32))
                try:
                    await client.call(g, op, 5.0)
                    self._count(f"insider {op.NAME}", None)
                except Exception as exc:  # counted by type
                    self._count(f"insider {op.NAME}", exc)

        await asyncio.gather(*(one(n) for n in range(16)))

    async def _main(self) -> None:
        client: Client | None = None
        while client is None and not self._stop.is_set():
            try:
                client = await self.pc.client(timeout=5.0, identity=self.insider, owner=OwnerDevice())
            except Exception as exc:  # counted by type
                self._count("insider connects", exc)
                await asyncio.sleep(0.5)
        if client is None:
            return
        workers = asyncio.gather(self._knock(), self._strangers(client), self._insider(client))
        while not self._stop.is_set() and not workers.done():
            await asyncio.sleep(0.1)
        workers.cancel()  # whatever each worker waits for
        try:
            await workers
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a worker that broke: counted (and untyped unless a GridlockError)
            self._count("outsider worker", exc)
        async with asyncio.timeout(10):
            await client.close()
            await client.transport.close()
