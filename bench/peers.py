"""`make bench-peers`: our timings next to the peer implementations, in one run, with ratios.

Peers (installed by `make bench-peers` into git-ignored node_modules folders; run locally, nothing copied):
  * @noble/curves 2.4.0 FROST (npm, pure JavaScript, audited) — bench/peers/noble/bench.mjs
  * @silencelaboratories/dkls-wasm-ll-node 1.1.2, DKLs23 threshold ECDSA (npm, Rust → WASM)
    — bench/peers/dkls/bench.mjs

The FROST peer's signing figure is the coordinator model (3 signers, one coordinator verifies the
3 shares); ours is the peer-to-peer protocol in which each of the 3 signers verifies the others'
shares and aggregates, i.e. more work.

Usage: python bench/peers.py [--runs N] [--ecdsa-runs M]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import measure, measure_ecdsa

HERE = Path(__file__).resolve().parent


def node_bench(folder: str, *args: str) -> dict[str, dict[str, float]]:
    proc = subprocess.run(
        ["node", "bench.mjs", *args],
        cwd=HERE / "peers" / folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    results: dict[str, dict[str, float]] = json.loads(proc.stdout)["results"]
    return results


def row(label: str, ours: float, theirs: float, unit: str = "ms") -> str:
    ratio = theirs / ours if ours else float("nan")
    return f"{label:<40}{ours:>12.2f}{theirs:>14.2f}{ratio:>9.1f}x  {unit}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--ecdsa-runs", type=int, default=5)
    args = ap.parse_args()

    ours = measure(args.runs)
    noble = node_bench("noble", str(args.runs), "5")
    print(f"FROST 3-of-5, all parties in one process, medians of {args.runs} runs; ratio = peer / ours\n")
    head = f"{'operation':<40}{'Gridlock':>12}{'@noble/curves':>14}{'ratio':>10}"
    print(head)
    print("-" * len(head))
    for scheme in ours:
        for op, key in (("DKG", "dkg_ms"), ("sign", "sign_ms")):
            print(row(f"{scheme} {op}", ours[scheme][key], noble[scheme][key]))

    ecdsa = measure_ecdsa(max(args.ecdsa_runs, 5))
    sl = node_bench("dkls", str(args.ecdsa_runs), "1")["ecdsa-secp256k1"]
    print("\nThreshold ECDSA (DKLs23) 3-of-5, medians; ratio = peer / ours (for size: peer / ours too)\n")
    head = f"{'operation':<40}{'Gridlock':>12}{'SL dkls-wasm':>14}{'ratio':>10}"
    print(head)
    print("-" * len(head))
    print(row("keygen (5 parties)", ecdsa["keygen_ms"], sl["keygen_ms"]))
    print(row("sign (presign + online, 3 signers)", ecdsa["sign_ms"], sl["sign_ms"]))
    print(row("  presign", ecdsa["presign_ms"], sl["presign_ms"]))
    print(row("  online round", ecdsa["online_ms"], sl["online_ms"]))
    print(row("key share size", ecdsa["keyshare_bytes"] / 1000, sl["keyshare_bytes"] / 1000, "KB"))
    print(row("key refresh (5 parties)", ecdsa["refresh_ms"], sl["refresh_ms"]))


if __name__ == "__main__":
    main()
