"""`make bench-peers`: our timings next to the peer implementations, in one run, with ratios.

Peers (installed by `make bench-peers` into git-ignored folders):
  * @noble/curves 2.4.0 FROST (npm, pure JavaScript; audited) — `bench/peers/noble/bench.mjs`.

The peer's signing figure is the coordinator model (3 signers, one coordinator
verifies the 3 shares); ours is the peer-to-peer protocol in which each of the
3 signers verifies the others' shares and aggregates, i.e. more work.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import measure

HERE = Path(__file__).resolve().parent


def noble(runs: int) -> dict[str, dict[str, float]]:
    proc = subprocess.run(
        ["node", "bench.mjs", str(runs), "5"],
        cwd=HERE / "peers" / "noble",
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    results: dict[str, dict[str, float]] = json.loads(proc.stdout)["results"]
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    ours = measure(args.runs)
    theirs = noble(args.runs)
    print(f"3-of-5, all parties in one process, medians of {args.runs} runs (ms); ratio = peer / ours\n")
    head = f"{'operation':<28}{'Gridlock':>10}{'@noble/curves':>15}{'ratio':>9}"
    print(head)
    print("-" * len(head))
    for scheme in ours:
        for op, key in (("DKG", "dkg_ms"), ("sign", "sign_ms")):
            a, b = ours[scheme][key], theirs[scheme][key]
            print(f"{scheme + ' ' + op:<28}{a:>10.2f}{b:>15.2f}{b / a:>8.1f}x")


if __name__ == "__main__":
    main()
