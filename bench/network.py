"""`make bench-network`: end-to-end signing over NATS on loopback, 5 guardian processes, 3-of-5.

The NATS server admits only the guardians' and the client's keys (as deployed).  Per scheme:
latency of one signature at a time (client request → guardians run the protocol over the router →
verified signature back), then 8 and 32 signatures in flight at once: throughput, p50/p95/p99 of each
signature's latency, and errors (there must be none: a guardian over its quota answers busy and the
client retries).  Signers are chosen as the SDK does (the fastest guardians on the vault's epoch).
The SDK runs at most 32 signatures of a client at once (``client.SIGNING_WINDOW``, the guardians'
quota of requests in flight per client); at 256 in flight the rest wait their turn in the client.
``busy`` counts the typed back-pressure answers (a guardian over its quota answers ``busy`` with a
retry hint; the SDK sends the request again, with fresh owner approvals).  The flood (``--flood 256``,
on the last scheme) opens the client's window to 256 at once to show them: what still fails must be a
``busy`` refusal whose retries ran out of time — never a timeout — and every guardian signs afterwards.

Usage: python bench/network.py [--runs N] [--per-level N] [--levels 8,32,256] [--schemes a,b] [--flood N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

from gridlock.client import Client, Vault
from gridlock.devnet import GuardianSpec, ProcessCluster
from gridlock.transport.server import NatsServer

SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")
LEVELS = (8, 32, 256)  # 256: past the SDK's signing window of 32, the rest waits in the client
NAMES = ["device", "enclave", "cloud", GuardianSpec("watch", "watch"), "friend"]  # SQLite stores, as measured before


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def summary(lat: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(lat, 0.50), "p95_ms": pct(lat, 0.95), "p99_ms": pct(lat, 0.99)}


async def timed_sign(vault: Vault, lat: list[float], errors: list[str]) -> None:
    t0 = time.perf_counter()
    try:
        await vault.sign(os.urandom(32))
    except Exception as exc:  # counted and reported, the run goes on
        errors.append(f"{type(exc).__name__}: {exc}"[:200])
        return
    lat.append((time.perf_counter() - t0) * 1e3)


async def flood_guardians(client: Client, vault: Vault, count: int) -> dict[str, object]:
    """``count`` signatures sent at once with the client's signing window opened to ``count`` (the SDK
    keeps it at the guardians' quota): the guardians answer what is over their quota ``busy`` (typed
    back-pressure), the SDK sends it again after the hint; what still fails must be a ``busy`` refusal
    (retries ran out of time), never a timeout or a crash."""
    window, client.signing = client.signing, asyncio.Semaphore(count)
    lat: list[float] = []
    errs: list[str] = []
    busy = client.busy_answers
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(timed_sign(vault, lat, errs) for _ in range(count)))
    finally:
        client.signing = window
    elapsed = time.perf_counter() - t0
    other = [e for e in errs if "refused (busy)" not in e]
    await vault.sign(os.urandom(32))  # every guardian still serves
    return {
        "signatures": count,
        "throughput_sig_per_s": len(lat) / elapsed,
        **summary(lat),
        "busy": client.busy_answers - busy,
        "busy_failures": len(errs) - len(other),
        "errors": len(other),  # anything but busy: a timeout, a crash
        "first_error": other[0] if other else None,
    }


async def measure(
    pc: ProcessCluster,
    runs: int,
    per_level: int,
    levels: tuple[int, ...],
    schemes: tuple[str, ...] = SCHEMES,
    flood: int = 0,
) -> dict[str, dict[str, object]]:
    client = await pc.client(timeout=60)
    out: dict[str, dict[str, object]] = {}
    try:
        for scheme in schemes:
            vault = await client.create_vault(scheme, pc.ids, threshold=3, password=pc.password)
            await vault.sign(os.urandom(32))  # warm-up
            lat: list[float] = []
            errors: list[str] = []
            for _ in range(runs):
                await timed_sign(vault, lat, errors)
            result: dict[str, object] = {"sequential": {**summary(lat), "errors": len(errors)}}
            for level in levels:
                lat, errs = [], []
                total = max(per_level, 2 * level)
                sem = asyncio.Semaphore(level)

                async def one(
                    v: Vault = vault, s: asyncio.Semaphore = sem, lt: list[float] = lat, er: list[str] = errs
                ) -> None:
                    async with s:
                        await timed_sign(v, lt, er)

                busy = client.busy_answers
                t0 = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(total)))
                elapsed = time.perf_counter() - t0
                result[f"in_flight_{level}"] = {
                    "signatures": total,
                    "throughput_sig_per_s": len(lat) / elapsed,
                    **summary(lat),
                    "errors": len(errs),
                    "busy": client.busy_answers - busy,
                    "first_error": errs[0] if errs else None,
                }
                errors += errs
            out[scheme] = result
        if flood:
            out["flood"] = {"flood": await flood_guardians(client, vault, flood)}
    finally:
        await client.close()
        await client.transport.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--per-level", type=int, default=96, help="signatures per in-flight level (at least 2x it)")
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--flood", type=int, default=256, help="signatures at once past the SDK's window (0: none)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = tuple(int(x) for x in args.levels.split(","))
    schemes = tuple(s for s in args.schemes.split(",") if s)
    server = NatsServer.start()
    with tempfile.TemporaryDirectory() as tmp:
        pc = ProcessCluster.create(tmp, NAMES, server.url, session_timeout=60)
        server.authorize(pc.access)  # each guardian and the client with its own NATS key
        pc.start()
        try:
            results = asyncio.run(measure(pc, args.runs, args.per_level, levels, schemes, args.flood))
        finally:
            pc.stop()
            server.stop()
    failed = sum(int(str(r.get("errors", 0))) for res in results.values() for r in res.values() if isinstance(r, dict))
    if args.json:
        json.dump({"runs": args.runs, "levels": levels, "results": results}, sys.stdout)
        print()
    else:
        print(f"3-of-5 signing over NATS (loopback, access-controlled), 5 guardian processes; {args.runs} sequential")
        print(f"signatures, then {' and '.join(map(str, levels))} in flight at once\n")
        head = f"{'scheme':<18}{'load':>12}{'sig/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'busy':>7}"
        print(head)
        print("-" * len(head))
        for scheme, res in results.items():
            for load, r in res.items():
                assert isinstance(r, dict)
                rate = r.get("throughput_sig_per_s")
                shown = f"{rate:>8.1f}" if isinstance(rate, float) else f"{'':>8}"
                print(
                    f"{scheme:<18}{load.replace('_', ' '):>12}{shown}"
                    f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}{r.get('busy', ''):>7}"
                )
        if "flood" in results:
            f = results["flood"]["flood"]
            print(
                f"\nflood: {f['signatures']} signatures at once past the SDK's window ({schemes[-1]}): "
                f"{f['busy']} busy answers, {f['busy_failures']} signatures refused busy after their retries, "
                f"{f['errors']} other errors"
            )
    if failed:
        print(f"\n{failed} signature(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
