"""A NATS call that swallows its cancellation still ends the caller's wait.

nats-py catches ``CancelledError`` in places (closing, flushing); ``asyncio.timeout`` works by
cancelling, so around such a call it never fires and a transport's ``start`` or ``close`` could wait
forever (the soak's stranger stopped knocking once).  ``_within`` runs the call as its own task."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from gridlock.transport.nats import _within


async def stubborn() -> None:
    """As nats-py's close: a cancellation is caught and the wait goes on."""
    for _ in range(2):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3)


def test_asyncio_timeout_cannot_end_a_call_that_swallows_its_cancellation() -> None:
    async def main() -> float:
        t = time.monotonic()
        async with asyncio.timeout(0.2):
            await stubborn()
        return time.monotonic() - t

    assert asyncio.run(main()) > 2.5  # the timeout fired, was swallowed, and the call went on


def test_within_ends_the_wait_on_time() -> None:
    async def main() -> float:
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await _within(0.2, stubborn())
        return time.monotonic() - t

    assert asyncio.run(main()) < 1.5


def test_within_returns_and_raises_as_the_call_does() -> None:
    async def fails() -> None:
        raise OSError("refused")

    async def main() -> None:
        await _within(1, asyncio.sleep(0))
        with pytest.raises(OSError, match="refused"):
            await _within(1, fails())

    asyncio.run(main())
