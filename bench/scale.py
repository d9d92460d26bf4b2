"""`make bench-scale`: one guardian process holding 10,000 vaults of mixed schemes, over NATS.

Four guardian processes share a NATS router: ``scaled`` (the one measured), ``partner`` and ``third``
hold the vaults (2-of-3), ``empty`` holds none and is the baseline of start-up time and memory.

Provisioning.  A real keygen (the SDK's ``create_vault``: DKG or DKLs23 keygen, owner registration,
the two-phase commit) makes one template vault per scheme.  ``scaled``'s keystore then receives the
templates' rows again under new vault ids until it holds ``--vaults`` vaults, written through the
store's own API the way a keygen writes them: :meth:`Keystore.store_pending` (the share, sealed, with
the vault's metadata: members, owner registration) then :meth:`Keystore.activate`, one durable
transaction each.  So every row is what a keygen would have written — the same sizes, the same MACs
checked at start-up — only the multi-party protocol run is skipped (it is measured by ``make bench``
and ``make bench-network``).  ``partner`` receives the few clones that are signed with.  Clones share
their template's key; that is harmless for a benchmark and keeps provisioning to minutes.

Measured (medians; final figures are taken on a quiet machine):

* start-up: from spawning ``python -m gridlock.guardian run`` to its ``ready`` line, ``scaled``
  (10,000 vaults) next to ``empty``; goal ≤ 2 s;
* resident memory (VmRSS) of ``scaled`` over ``empty``, after start-up and after signing; goal ≤ 200 MB;
* sign latency: ``scaled`` + ``partner`` on clones spread over the 10,000, alternating with ``third``
  (which holds the 4 templates only) + ``partner`` on the templates, so the machine's load weighs on
  both alike; goal: within 10 % (also shown: ``scaled`` + ``partner`` before provisioning);
* keystore bytes per vault;
* what grows per signature: ``--flat`` signatures on one vault, then each table's rows and bytes and
  the vault's metadata compared (its size stays; only the owner device's approval counter advances),
  and the audit log.  Two tables grow by design, one row per signature each: the durable session
  claims (a session id is never reused while its epoch lives, SECURITY #26/#28; a refresh clears
  them) and the policy ledger (spend limits look back over it); the audit log by one signed entry.

Usage: python bench/scale.py [--vaults N] [--runs N] [--flat N] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gridlock.client import Client, Vault
from gridlock.devnet import ProcessCluster
from gridlock.devnet.processes import GuardianProcess
from gridlock.guardian.store import Keystore
from gridlock.transport.server import NatsServer

SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")
NAMES = ["scaled", "partner", "third", "empty"]
HOLDERS = NAMES[:3]
SIGNED_PER_SCHEME = 5  # clones per scheme that are signed with (spread over the id range)
GOALS = {"startup_s": 2.0, "rss_growth_mb": 200.0, "sign_ratio": 1.10}


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_timed(proc: GuardianProcess, timeout: float = 120.0) -> float:
    """Seconds from spawning the guardian process to its ``ready`` line."""
    t0 = time.perf_counter()
    proc.spawn()
    if not proc.wait_ready(timeout):
        raise RuntimeError(f"guardian {proc.name} did not start; see {proc.log}")
    return time.perf_counter() - t0


def store_of(pc: ProcessCluster, name: str) -> Keystore:
    proc = pc.processes[name]
    return Keystore.open(proc.config.parent / "keystore.db", proc.secret.encode(), create=False)


def store_bytes(pc: ProcessCluster, name: str, file: str = "keystore.db") -> int:
    base = pc.processes[name].config.parent / file
    return sum(p.stat().st_size for p in (base, Path(f"{base}-wal")) if p.exists())


def clone_ids(template: str, count: int) -> list[str]:
    return [f"{template}-{k:05d}" for k in range(count)]


def provision(pc: ProcessCluster, name: str, templates: list[str], ids: dict[str, list[str]]) -> int:
    """Write each template's rows again under the new ids ``ids[template]`` into ``name``'s keystore
    (the guardian is stopped): the share and metadata as keygen stores them, then activation."""
    written = 0
    with store_of(pc, name) as store:
        for template in templates:
            share, meta = store.active_share(template), store.metadata(template)
            for vid in ids[template]:
                store.store_pending(vid, share, metadata=meta)
                store.activate(vid, share.epoch)
                written += 1
    return written


def signed_clones(ids: list[str]) -> list[str]:
    step = max(1, len(ids) // SIGNED_PER_SCHEME)
    return ids[::step][:SIGNED_PER_SCHEME]


async def sign_ms(vault: Vault, signers: list[str]) -> float:
    """One signature's latency in milliseconds."""
    t0 = time.perf_counter()
    await vault.sign(os.urandom(32), signers=signers)
    return (time.perf_counter() - t0) * 1e3


async def sign_latencies(client: Client, vaults: list[Vault], signers: list[str], runs: int) -> list[float]:
    """``runs`` sequential signatures, round-robin over ``vaults``; each in milliseconds."""
    for v in vaults:  # warm-up: each vault's first request loads its state
        await v.sign(os.urandom(32), signers=signers)
    return [await sign_ms(vaults[k % len(vaults)], signers) for k in range(runs)]


def table_sizes(path: Path) -> dict[str, dict[str, int]]:
    """Rows and payload bytes of each keystore table (read-only, the guardian stopped)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]  # our own table names
            length = " + ".join(f"coalesce(length({c}), 0)" for c in cols)
            rows, size = db.execute(f"SELECT count(*), coalesce(sum({length}), 0) FROM {table}").fetchone()
            out[table] = {"rows": rows, "bytes": size}
        return out
    finally:
        db.close()


def flat_json(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": leaf}`` of a JSON document (to name what changed between two)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flat_json(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def metadata_change(before: str, after: str) -> dict[str, Any]:
    """Which metadata fields changed, and the metadata's size before and after."""
    a, b = flat_json(json.loads(before)), flat_json(json.loads(after))
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return {"bytes_before": len(before), "bytes_after": len(after), "fields_changed": changed}


def vault_metadata(path: Path, vault_id: str) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(db.execute("SELECT metadata FROM vaults WHERE vault_id = ?", (vault_id,)).fetchone()[0])
    finally:
        db.close()


async def run(pc: ProcessCluster, total: int, runs: int, flat: int) -> dict[str, Any]:
    res: dict[str, Any] = {"vaults": total}
    scaled, partner, empty = (pc.processes[n] for n in ("scaled", "partner", "empty"))
    holders = [pc.id_of(n) for n in HOLDERS]
    signers = holders[:2]

    # 1. keygen of the templates; the baseline (scaled holds one vault per scheme)
    empty_bytes = store_bytes(pc, "empty")
    client = await pc.client(timeout=120)
    try:
        templates = [await client.create_vault(s, holders, threshold=2, password=pc.password) for s in SCHEMES]
        base = {v.scheme: await sign_latencies(client, [v], signers, runs) for v in templates}
    finally:
        await client.close()
        await client.transport.close()
    template_ids = [v.vault_id for v in templates]

    # 2. provisioning (guardians stopped)
    pc.stop()
    few_bytes = store_bytes(pc, "scaled")
    t0 = time.perf_counter()
    extra = total - len(templates)
    every = {
        t: clone_ids(t, extra // len(templates) + (k < extra % len(templates))) for k, t in enumerate(template_ids)
    }
    written = provision(pc, "scaled", template_ids, every)
    res["provision_s"] = time.perf_counter() - t0
    chosen = {t: signed_clones(ids) for t, ids in every.items()}
    provision(pc, "partner", template_ids, chosen)
    with store_of(pc, "scaled") as store:
        held = len(store.vaults())
    full_bytes = store_bytes(pc, "scaled")
    res["keystore"] = {
        "vaults_held": held,
        "written": written,
        "bytes_empty": empty_bytes,
        "bytes_4_vaults": few_bytes,
        "bytes_full": full_bytes,
        "bytes_per_vault": (full_bytes - few_bytes) / max(1, held - len(templates)),
    }

    # 3. start-up and memory: scaled (10,000) next to empty, restarted a few times
    startup: dict[str, list[float]] = {"scaled": [], "empty": []}
    for _ in range(3):
        for p in (scaled, empty):
            p.stop()
            startup[p.name].append(start_timed(p))
    for p in (partner, pc.processes["third"]):
        p.spawn()
        p.wait_ready(60)
    assert scaled.pid is not None and empty.pid is not None
    rss_start = {"scaled": rss_mb(scaled.pid), "empty": rss_mb(empty.pid)}
    res["startup_s"] = {k: statistics.median(v) for k, v in startup.items()}

    # 4. sign latency against the full guardian; then what grows per signature
    client = await pc.client(timeout=120)
    try:
        clones: dict[str, list[Vault]] = {}
        for t in templates:
            clones[t.scheme] = [await client.open_vault(c, signers) for c in chosen[t.vault_id]]
        small_pair = [pc.id_of("third"), pc.id_of("partner")]  # third holds the 4 templates only
        reopened = [await client.open_vault(t, small_pair) for t in template_ids]  # the first client is closed
        full: dict[str, list[float]] = {}
        small: dict[str, list[float]] = {}
        for t in reopened:  # alternately, so that the machine's load weighs on both alike
            ours = clones[t.scheme]
            await sign_latencies(client, [*ours, t], signers, 0)  # warm-up
            await sign_latencies(client, [t], small_pair, 0)
            full[t.scheme], small[t.scheme] = [], []
            for k in range(runs):
                full[t.scheme].append(await sign_ms(ours[k % len(ours)], signers))
                small[t.scheme].append(await sign_ms(t, small_pair))
        assert scaled.pid is not None and empty.pid is not None
        rss_signed = {"scaled": rss_mb(scaled.pid), "empty": rss_mb(empty.pid)}
        db_path = scaled.config.parent / "keystore.db"
        target = clones["frost-ed25519"][0]
        scaled.stop()  # the guardian holds its keystore exclusively: read it while stopped
        before = (
            table_sizes(db_path),
            vault_metadata(db_path, target.vault_id),
            store_bytes(pc, "scaled"),
            store_bytes(pc, "scaled", "audit.db"),
        )
        start_timed(scaled)
        await sign_latencies(client, [target], signers, flat)
        scaled.stop()
        after = (
            table_sizes(db_path),
            vault_metadata(db_path, target.vault_id),
            store_bytes(pc, "scaled"),
            store_bytes(pc, "scaled", "audit.db"),
        )
    finally:
        await client.close()
        await client.transport.close()
    res["rss_mb"] = {
        "empty_start": rss_start["empty"],
        "scaled_start": rss_start["scaled"],
        "growth_start": rss_start["scaled"] - rss_start["empty"],
        "empty_after_signing": rss_signed["empty"],
        "scaled_after_signing": rss_signed["scaled"],
        "growth_after_signing": rss_signed["scaled"] - rss_signed["empty"],
    }
    res["sign_ms"] = {
        s: {
            "p50_4_vaults": statistics.median(base[s]),
            "p50_full_clones": statistics.median(full[s]),
            "p50_small_pair": statistics.median(small[s]),
            "ratio": statistics.median(full[s]) / statistics.median(small[s]),
        }
        for s in SCHEMES
    }
    growth = {
        t: {k: after[0][t][k] - before[0].get(t, {"rows": 0, "bytes": 0})[k] for k in ("rows", "bytes")}
        for t in after[0]
    }
    res["per_signature"] = {
        "signatures": flat + 1,  # the warm-up one included
        "metadata": metadata_change(before[1], after[1]),
        "table_growth": growth,
        "file_bytes_growth": after[2] - before[2],
        "audit_log_bytes_growth": after[3] - before[3],
    }
    return res


def report(res: dict[str, Any]) -> None:
    ks, st, rss = res["keystore"], res["startup_s"], res["rss_mb"]
    print(f"one guardian holding {ks['vaults_held']} vaults ({', '.join(SCHEMES)}); 2-of-3 signing over NATS\n")
    print(f"provisioning: {ks['written']} vaults written through the keystore API in {res['provision_s']:.1f} s")
    print(f"keystore: {ks['bytes_full'] / 1e6:.1f} MB, {ks['bytes_per_vault']:.0f} bytes per vault")
    print(f"start-up: {st['scaled']:.2f} s with {ks['vaults_held']} vaults, {st['empty']:.2f} s empty (goal ≤ 2 s)")
    print(
        f"memory (VmRSS): {rss['scaled_start']:.0f} MB vs {rss['empty_start']:.0f} MB empty at start "
        f"(+{rss['growth_start']:.0f} MB); after signing {rss['scaled_after_signing']:.0f} vs "
        f"{rss['empty_after_signing']:.0f} MB (+{rss['growth_after_signing']:.0f} MB; goal ≤ +200 MB)"
    )
    print(
        f"\n{'2-of-3 sign, p50':<18}{'scaled+partner':>16}{'third+partner':>15}{'ratio':>7}"
        f"{'(scaled before, 4 vaults)':>28}"
    )
    for s, r in res["sign_ms"].items():
        print(
            f"{s:<18}{r['p50_full_clones']:>13.1f} ms{r['p50_small_pair']:>12.1f} ms{r['ratio']:>7.2f}"
            f"{r['p50_4_vaults']:>25.1f} ms"
        )
    ps = res["per_signature"]
    meta = ps["metadata"]
    changed = ", ".join(meta["fields_changed"]) or "nothing"
    print(
        f"\nafter {ps['signatures']} signatures on one vault: its metadata {meta['bytes_before']} -> "
        f"{meta['bytes_after']} bytes (changed: {changed})"
    )
    for table, g in ps["table_growth"].items():
        if g["rows"] or g["bytes"]:
            print(
                f"  {table:<10} +{g['rows']} rows, +{g['bytes']} bytes"
                f" ({g['bytes'] / ps['signatures']:.0f} per signature)"
            )
    print(f"  keystore files +{ps['file_bytes_growth']} bytes (pages and WAL)")
    print(f"  audit log +{ps['audit_log_bytes_growth']} bytes (one signed entry per request, by design)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vaults", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30, help="signatures per scheme and configuration")
    ap.add_argument("--flat", type=int, default=1000, help="signatures on one vault for the per-signature growth")
    ap.add_argument("--keep", metavar="DIR", help="build the guardians in DIR and keep it (for profiling)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = NatsServer.start()
    with tempfile.TemporaryDirectory() as tmp:
        pc = ProcessCluster.create(args.keep or tmp, NAMES, server.url, session_timeout=60)
        server.authorize(pc.access)
        pc.start()
        try:
            res = asyncio.run(run(pc, args.vaults, args.runs, args.flat))
        finally:
            pc.stop()
            server.stop()
    if args.json:
        json.dump(res, sys.stdout)
        print()
    else:
        report(res)


if __name__ == "__main__":
    main()
