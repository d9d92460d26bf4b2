"""`make bench-network`: end-to-end signing over NATS on loopback, 5 guardian processes, 3-of-5.

Latency: one signature at a time (client request → guardians run the protocol over the router →
verified signature back), median and p95.  Throughput: signatures per second with N sessions in
flight at once (every guardian process serves them concurrently).

Usage: python bench/network.py [--runs N] [--concurrency N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

from gridlock.client import Vault
from gridlock.devnet import GuardianSpec, ProcessCluster
from gridlock.transport.server import NatsServer

SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")
NAMES = ["device", "enclave", "cloud", GuardianSpec("watch", "watch"), "friend"]  # SQLite stores, as measured before


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))]


async def measure(pc: ProcessCluster, runs: int, concurrency: int) -> dict[str, dict[str, float]]:
    client = await pc.client(timeout=60)
    out: dict[str, dict[str, float]] = {}
    try:
        for scheme in SCHEMES:
            vault = await client.create_vault(scheme, pc.ids, threshold=3, password=pc.password)
            signers = vault.guardians[:3]
            await vault.sign(os.urandom(32), signers=signers)  # warm-up
            lat = []
            for _ in range(runs):
                t0 = time.perf_counter()
                await vault.sign(os.urandom(32), signers=signers)
                lat.append((time.perf_counter() - t0) * 1e3)
            total = max(concurrency * 3, 12)
            sem = asyncio.Semaphore(concurrency)

            async def one(v: Vault = vault, s: asyncio.Semaphore = sem, who: list[str] = signers) -> None:
                async with s:
                    await v.sign(os.urandom(32), signers=who)

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(total)))
            elapsed = time.perf_counter() - t0
            out[scheme] = {
                "latency_median_ms": statistics.median(lat),
                "latency_p95_ms": pct(lat, 0.95),
                "throughput_sig_per_s": total / elapsed,
            }
    finally:
        await client.close()
        await client.transport.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = NatsServer.start()
    with tempfile.TemporaryDirectory() as tmp:
        pc = ProcessCluster.create(tmp, NAMES, server.url, session_timeout=60)
        pc.start()
        try:
            results = asyncio.run(measure(pc, args.runs, args.concurrency))
        finally:
            pc.stop()
            server.stop()
    if args.json:
        json.dump({"runs": args.runs, "concurrency": args.concurrency, "results": results}, sys.stdout)
        print()
        return
    print(f"3-of-5 signing over NATS (loopback), 5 guardian processes; {args.runs} sequential runs,")
    print(f"then {args.concurrency} sessions in flight at once\n")
    head = f"{'scheme':<18}{'median ms':>11}{'p95 ms':>9}{'sig/s':>9}"
    print(head)
    print("-" * len(head))
    for scheme, r in results.items():
        print(
            f"{scheme:<18}{r['latency_median_ms']:>11.1f}{r['latency_p95_ms']:>9.1f}{r['throughput_sig_per_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
