"""An in-memory network for running parties in one process — and for attacking them.

The network expands broadcasts into one delivery per recipient, so a test
playing a malicious router can fork a broadcast (send different copies to
different parties), and it passes every delivery through an optional
``interceptor`` that may drop it (return ``[]``), duplicate it, rewrite it or
redirect it.  ``reorder`` shuffles the delivery order with a seeded RNG.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gridlock.errors import MessageRejected, ProtocolAbort, ProtocolStalled
from gridlock.protocol.message import Message
from gridlock.protocol.party import Party

T = TypeVar("T")

Delivery = tuple[int, Message]  # (to, message)
Interceptor = Callable[[int, Message], Iterable[Delivery]]


@dataclass
class RunOutcome(Generic[T]):
    """What every party ended with."""

    results: dict[int, T] = field(default_factory=dict)
    aborts: dict[int, ProtocolAbort] = field(default_factory=dict)
    rejected: list[tuple[int, Message, MessageRejected]] = field(default_factory=list)
    stalled: dict[int, frozenset[int]] = field(default_factory=dict)

    def unwrap(self) -> dict[int, T]:
        """The results if every party finished; otherwise the most informative error."""
        if self.aborts:
            # Prefer a party's own finding over a relayed "peer aborted" notice.
            first = sorted(self.aborts.values(), key=lambda e: (e.reported_by is not None, sorted(e.culprits)))
            raise first[0]
        if self.stalled:
            missing = frozenset().union(*self.stalled.values())
            raise ProtocolStalled(missing)
        return self.results


class InMemoryNetwork:
    """Delivers messages among parties until no message is left."""

    def __init__(
        self,
        *,
        interceptor: Interceptor | None = None,
        reorder: bool = False,
        seed: int | None = None,
        max_deliveries: int = 1_000_000,
    ) -> None:
        self.interceptor = interceptor
        self.reorder = reorder
        self.rng = random.Random(seed)  # noqa: S311 -- delivery order for tests, not secrets
        self.max_deliveries = max_deliveries
        self.log: list[Delivery] = []

    def _route(self, msg: Message, parties: Mapping[int, Party[T]]) -> list[Delivery]:
        targets = [i for i in parties if i != msg.sender] if msg.recipient is None else [msg.recipient]
        out: list[Delivery] = []
        for to in targets:
            if self.interceptor is None:
                out.append((to, msg))
            else:
                out.extend(self.interceptor(to, msg))
        return out

    def run(self, parties: Mapping[int, Party[T]]) -> RunOutcome[T]:
        outcome: RunOutcome[T] = RunOutcome()
        queue: deque[Delivery] = deque()
        for party in parties.values():
            for m in party.start():
                queue.extend(self._route(m, parties))
        count = 0
        while queue and count < self.max_deliveries:
            count += 1
            if self.reorder and len(queue) > 1:
                queue.rotate(-self.rng.randrange(len(queue)))
            to, msg = queue.popleft()
            self.log.append((to, msg))
            target = parties.get(to)
            if target is None or to in outcome.aborts:
                continue
            try:
                replies = target.receive(msg)
            except MessageRejected as exc:
                outcome.rejected.append((to, msg, exc))
                continue
            except ProtocolAbort as exc:
                outcome.aborts[to] = exc
                if exc.notice is not None:
                    queue.extend(self._route(exc.notice, parties))
                continue
            for m in replies:
                queue.extend(self._route(m, parties))
        for i, party in parties.items():
            if party.done:
                outcome.results[i] = party.result
            elif i not in outcome.aborts:
                outcome.stalled[i] = party.waiting_for()
        return outcome


def run(parties: Mapping[int, Party[T]], **kwargs: object) -> dict[int, T]:
    """Run honest parties on a faithful network; raise if anyone fails."""
    return InMemoryNetwork(**kwargs).run(parties).unwrap()  # type: ignore[arg-type]
