"""The largest message each operation puts on the router, per committee size: what a NATS server's
``max_payload`` must allow (1 MiB by default).

Every envelope the guardians and the owner's client hand to the router is measured (an in-process
:class:`~gridlock.transport.local.LocalRouter` with an interceptor that records sizes and passes
everything on), for a vault's creation, a refresh, a replace (reshare onto a spare), one
signature and, for ECDSA, the largest presigning batch a request may ask (100).  NATS carries
each envelope as one message of the same size.

Usage: python bench/message_sizes.py [--committees 3-of-5,7-of-13] [--schemes ecdsa-secp256k1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from gridlock.devnet import EmbeddedCluster
from gridlock.transport.local import LocalRouter

MIB = 1 << 20


class Sizes:
    """The largest message and the message count of the operation running now."""

    def __init__(self) -> None:
        self.largest = 0
        self.count = 0

    def intercept(self, to: str, data: bytes) -> Iterable[tuple[str, bytes]]:
        self.largest = max(self.largest, len(data))
        self.count += 1
        return [(to, data)]

    async def measure(self, op: Callable[[], Awaitable[Any]]) -> dict[str, int]:
        self.largest = self.count = 0
        await op()
        return {"largest": self.largest, "messages": self.count}


async def committee(scheme: str, t: int, n: int) -> dict[str, dict[str, int]]:
    sizes = Sizes()
    with tempfile.TemporaryDirectory(prefix="gridlock-sizes-") as tmp:
        names = [f"g{i}" for i in range(n)] + ["spare"]
        cluster = await EmbeddedCluster.start(
            tmp, names, router=LocalRouter(max_message=64 * MIB, interceptor=sizes.intercept), session_timeout=600
        )
        try:
            client = cluster.client
            assert client is not None
            members, spare = cluster.ids[:n], cluster.ids[n]
            box: dict[str, Any] = {}

            async def create() -> None:
                box["v"] = await client.create_vault(scheme, members, t, password=cluster.password)

            out = {"create": await sizes.measure(create)}
            vault = box["v"]
            out["refresh"] = await sizes.measure(vault.refresh)
            out["replace"] = await sizes.measure(
                lambda: vault.replace_guardian(members[-1], spare, password=cluster.password)
            )
            out["sign"] = await sizes.measure(lambda: vault.sign(os.urandom(32)))
            if scheme == "ecdsa-secp256k1":  # the largest batch of presignatures one request may ask
                out["presign100"] = await sizes.measure(lambda: vault.presign(100))
            return out
        finally:
            await cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--committees", default="3-of-5,7-of-13")
    ap.add_argument("--schemes", default="ecdsa-secp256k1")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for scheme in args.schemes.split(","):
        for spec in args.committees.split(","):
            t, n = (int(x) for x in spec.split("-of-"))
            got = asyncio.run(committee(scheme, t, n))
            results[f"{scheme} {spec}"] = got
            if not args.json:
                row = "  ".join(f"{op} {r['largest'] / 1024:7.1f} KiB ({r['messages']} msgs)" for op, r in got.items())
                print(f"{scheme:<16} {spec:>8}  {row}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
