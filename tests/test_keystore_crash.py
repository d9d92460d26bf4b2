"""Crash safety of the guardian keystore: "kill -9 at any point loses nothing that was acknowledged".

A child process writes to a keystore in a loop (store_pending / activate / discard_pending /
add_presignatures / take_presignature), printing ``BEGIN <op>`` before and ``ACK <op>`` after each
call returned.  The test SIGKILLs it at a random moment (seeded), reopens the database and checks
that its state is exactly the acknowledged operations applied in order — or those plus the one
operation that was in flight (each call is one transaction: all or nothing) — that the
pending/active/retired invariants hold, and that every taken presignature stays taken.  The next
round continues on the same database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gridlock.crypto.keyshare import KeyShare
from gridlock.guardian.store import AlreadyUsed, Keystore, NotFound

CHILD = textwrap.dedent(
    """
    import dataclasses, hashlib, os, random, sys
    from gridlock.crypto.keyimport import split
    from gridlock.guardian.store import Keystore

    path, secret_hex, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)

    def say(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    def digest(share):
        return hashlib.sha256(share.to_bytes()).hexdigest()[:20]

    def blob(item_id):
        return hashlib.sha256(b"item" + item_id).digest() * 2

    def run(line, fn):
        say("BEGIN " + line)
        result = fn()
        say("ACK " + line)
        return result

    ks = Keystore.open(path, bytes.fromhex(secret_hex))
    base, active, pending, top, unused = {}, {}, {}, {}, {}
    for rec in ks.vaults():
        v = rec.vault_id
        current = rec.active_epoch if rec.active_epoch is not None else rec.pending_epochs[-1]
        base[v] = ks.share(v, current)
        active[v] = rec.active_epoch
        pending[v] = list(rec.pending_epochs)
        top[v] = max([*rec.pending_epochs, *rec.retired_epochs, current])
        unused[v] = ks.unused_ids(v, rec.active_epoch) if rec.active_epoch is not None else []
    say("READY")

    for _ in range(1_000_000):
        v = rng.choice(["v0", "v1", "v2"])
        op = rng.choices(["pend", "act", "disc", "add", "take"], [3, 3, 1, 4, 6])[0]
        if v not in base:
            share = split("frost-ed25519", os.urandom(32), 2, 3)[0]
            run(f"pend {v} 0 {digest(share)}", lambda: ks.store_pending(v, share))
            base[v], active[v], pending[v], top[v], unused[v] = share, None, [0], 0, []
        elif op == "pend":
            e = top[v] + 1
            share = dataclasses.replace(base[v], epoch=e)
            run(f"pend {v} {e} {digest(share)}", lambda: ks.store_pending(v, share))
            pending[v].append(e)
            top[v] = e
        elif op == "act" and pending[v]:
            e = rng.choice(pending[v])
            run(f"act {v} {e}", lambda: ks.activate(v, e))
            active[v] = e
            pending[v] = [p for p in pending[v] if p > e]
            unused[v] = []
        elif op == "disc" and pending[v]:
            e = rng.choice(pending[v])
            run(f"disc {v} {e}", lambda: ks.discard_pending(v, e))
            pending[v].remove(e)
            if active[v] is None and not pending[v]:
                del base[v]
        elif op == "add" and active[v] is not None:
            ids = [rng.randbytes(8) for _ in range(3)]
            items = [(i, blob(i)) for i in ids]
            run(f"add {v} {active[v]} {','.join(i.hex() for i in ids)}",
                lambda: ks.add_presignatures(v, active[v], items))
            unused[v] += ids
        elif op == "take" and unused[v]:
            i = unused[v].pop(rng.randrange(len(unused[v])))
            got = run(f"take {v} {active[v]} {i.hex()}", lambda: ks.take_presignature(v, active[v], i))
            if got != blob(i):
                say("BAD presignature content")
                sys.exit(3)
    """
)


@dataclasses.dataclass
class VaultModel:
    active: int | None = None
    active_digest: str = ""
    pending: dict[int, str] = dataclasses.field(default_factory=dict)
    retired: set[int] = dataclasses.field(default_factory=set)
    unused: set[bytes] = dataclasses.field(default_factory=set)  # of the active epoch


Model = dict[str, VaultModel]
Snapshot = dict[str, tuple[int | None, str, dict[int, str], frozenset[int], frozenset[bytes]]]


def apply(model: Model, op: str) -> Model:
    """The keystore's specified semantics, on the model (a deep copy is returned)."""
    m = {
        v: dataclasses.replace(s, pending=dict(s.pending), retired=set(s.retired), unused=set(s.unused))
        for v, s in model.items()
    }
    kind, v, epoch, *rest = op.split()
    e = int(epoch)
    if kind == "pend":
        m.setdefault(v, VaultModel()).pending[e] = rest[0]
    elif kind == "act":
        s = m[v]
        if s.active is not None:
            s.retired.add(s.active)
        s.active, s.active_digest = e, s.pending[e]
        s.pending = {p: d for p, d in s.pending.items() if p > e}
        s.unused = set()
    elif kind == "disc":
        del m[v].pending[e]
        if m[v].active is None and not m[v].pending:
            del m[v]
    elif kind == "add":
        m[v].unused |= {bytes.fromhex(i) for i in rest[0].split(",")}
    elif kind == "take":
        m[v].unused.remove(bytes.fromhex(rest[0]))
    else:
        raise AssertionError(op)
    return m


def project(model: Model) -> Snapshot:
    return {
        v: (s.active, s.active_digest, dict(s.pending), frozenset(s.retired), frozenset(s.unused))
        for v, s in model.items()
    }


def digest(share: KeyShare) -> str:
    return hashlib.sha256(share.to_bytes()).hexdigest()[:20]


def snapshot(ks: Keystore) -> Snapshot:
    out: Snapshot = {}
    for rec in ks.vaults():
        v = rec.vault_id
        # invariants: one active epoch, pending epochs newer, retired epochs older
        if rec.active_epoch is not None:
            assert all(p > rec.active_epoch for p in rec.pending_epochs)
            assert all(r < rec.active_epoch for r in rec.retired_epochs)
        else:
            assert rec.pending_epochs and not rec.retired_epochs
        pending = {}
        for e in rec.pending_epochs:
            share = ks.share(v, e)
            assert share.epoch == e
            pending[e] = digest(share)
        active_digest = ""
        unused: frozenset[bytes] = frozenset()
        if rec.active_epoch is not None:
            share = ks.active_share(v)
            assert share.epoch == rec.active_epoch and share.public_key == rec.public_key
            active_digest = digest(share)
            unused = frozenset(ks.unused_ids(v, rec.active_epoch))
        out[v] = (rec.active_epoch, active_digest, pending, frozenset(rec.retired_epochs), unused)
    return out


def run_kill_rounds(tmp_path: Path, seed: int, rounds: int) -> dict[str, int]:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    db = tmp_path / "guardian.db"
    secret = os.urandom(32)
    rng = random.Random(seed)
    model: Model = {}
    taken: list[tuple[str, int, bytes]] = []
    stats = {"acks": 0, "in_flight_applied": 0, "in_flight_not_applied": 0, "takes": 0}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for rnd in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, str(child), str(db), secret.hex(), str(seed * 1000 + rnd)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        delay = rng.uniform(0.0, 0.35) if rng.random() < 0.25 else rng.uniform(0.35, 1.0)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"the writer died on its own: {err.decode()[-2000:]}"
        lines = out.decode().split("\n")[:-1]  # a last line without newline was cut by the kill
        assert not any(line.startswith("BAD") for line in lines)
        in_flight = None
        for line in lines:
            if line.startswith("BEGIN "):
                in_flight = line[6:]
            elif line.startswith("ACK "):
                assert in_flight == line[4:]
                model = apply(model, in_flight)
                stats["acks"] += 1
                if in_flight.startswith("take"):
                    _, v, e, i = in_flight.split()
                    taken.append((v, int(e), bytes.fromhex(i)))
                in_flight = None
        with Keystore.open(db, secret) as ks:
            actual = snapshot(ks)
            if actual == project(model):
                stats["in_flight_not_applied"] += in_flight is not None
            else:
                assert in_flight is not None, f"round {rnd}: acknowledged state lost"
                model = apply(model, in_flight)
                assert actual == project(model), f"round {rnd}: half-applied operation {in_flight!r}"
                stats["in_flight_applied"] += 1
                if in_flight.startswith("take"):
                    _, v, e, i = in_flight.split()
                    taken.append((v, int(e), bytes.fromhex(i)))
            for v, e, i in taken:  # a taken presignature is never handed out again
                with pytest.raises((AlreadyUsed, NotFound)):
                    ks.take_presignature(v, e, i)
        stats["takes"] = len(taken)
    return stats


def test_kill9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    stats = run_kill_rounds(tmp_path, seed=20260509, rounds=7)
    assert stats["acks"] > 50, stats
    assert stats["takes"] > 5, stats


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill9_loses_nothing_acknowledged_long(tmp_path: Path, seed: int) -> None:
    stats = run_kill_rounds(tmp_path, seed=seed, rounds=40)
    assert stats["acks"] > 500, stats
