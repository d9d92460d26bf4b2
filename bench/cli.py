"""`make bench-cli`: how long a person waits for the `gridlock` command (issue 19, point 2).

In a temporary directory: an embedded devnet (`gridlock devnet up --detach`), one frost-ed25519 and
one ecdsa-secp256k1 vault, then the wall time of whole `gridlock` processes (start-up, imports,
work, exit), each run RUNS times, medians printed:

* `gridlock --help`                                  goal ≤ 0.2 s
* `gridlock address VAULT --chain solana|ethereum`
* `gridlock sign VAULT -m …` after `gridlock unlock`  goal ≤ 0.3 s (the agent signs)
* `gridlock sign VAULT -m …` with no session          (for comparison: Argon2id + SDK in the command)

Commands run as `python -m gridlock.cli` with this interpreter (what the `gridlock` script runs).
The CPU time of the command's own process is printed too (the agent's work is not in it): on a
loaded machine it shows what start-up costs when the wall time cannot.

Usage: python bench/cli.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSWORD = "bench-cli password"
GOALS = {"help": 0.2, "sign ed25519 (unlocked)": 0.3, "sign ecdsa (unlocked)": 0.3}


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    env.update({"GRIDLOCK_HOME": str(home), "COLUMNS": "120", **extra})
    return env


def gl(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "gridlock.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )
    if check and p.returncode != 0:
        raise SystemExit(f"gridlock {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def timed(env: dict[str, str], args: list[str], runs: int) -> tuple[float, float]:
    """Medians of ``gridlock ARGS``'s wall time and of the CPU time of its own process (user +
    system: what a loaded machine inflates least), after one warm-up run (the page cache)."""
    gl(env, *args)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        gl(env, *args)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def run(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gl-bench-cli-") as tmp:
        home = Path(tmp) / "devnet"
        with_pw = environment(home, GRIDLOCK_PASSWORD=PASSWORD)
        no_pw = environment(home)
        gl(with_pw, "devnet", "up", "--detach", "--json")
        try:
            ed = json.loads(gl(with_pw, "vault", "create", "--scheme", "frost-ed25519", "--json").stdout)["id"]
            ec = json.loads(gl(with_pw, "vault", "create", "--scheme", "ecdsa-secp256k1", "--json").stdout)["id"]
            digest = "11" * 32
            medians: dict[str, tuple[float, float]] = {}
            medians["help"] = timed(no_pw, ["--help"], runs)
            medians["address solana"] = timed(no_pw, ["address", ed, "--chain", "solana"], runs)
            medians["address ethereum"] = timed(no_pw, ["address", ec, "--chain", "ethereum"], runs)
            locked = environment(home, GRIDLOCK_PASSWORD=PASSWORD, GRIDLOCK_NO_AGENT="1")
            medians["sign ed25519 (password)"] = timed(locked, ["sign", ed, "-m", "00ff"], runs)
            medians["sign ecdsa (password)"] = timed(locked, ["sign", ec, "-m", digest], runs)
            gl(with_pw, "unlock", "--for", "30m")
            try:
                medians["sign ed25519 (unlocked)"] = timed(no_pw, ["sign", ed, "-m", "00ff"], runs)
                medians["sign ecdsa (unlocked)"] = timed(no_pw, ["sign", ec, "-m", digest], runs)
            finally:
                gl(no_pw, "lock", check=False)
        finally:
            gl(no_pw, "devnet", "down", check=False)
    return {
        "runs": runs,
        "median_s": {k: round(wall, 4) for k, (wall, _) in medians.items()},
        "median_cpu_s": {k: round(cpu, 4) for k, (_, cpu) in medians.items()},
        "goal_s": GOALS,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(max(1, args.runs))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"gridlock command, median of {result['runs']} runs (embedded devnet, 3-of-5): wall, CPU of the command")
    for name, seconds in result["median_s"].items():
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"  goal ≤ {goal:.1f} s: {'met' if seconds <= goal else 'MISSED'}"
        print(f"  {name:<26} {seconds:6.3f} s  cpu {result['median_cpu_s'][name]:6.3f} s{verdict}")


if __name__ == "__main__":
    main()
