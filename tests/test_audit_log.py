"""A guardian's audit log against someone with its disk (issue 18, finding 7).

The attacker edits ``audit.db`` while the guardian is down — deletes a sign entry, turns "done" into
"refused", recomputes the hash chain (the hash needs no key), cuts the log short, restores an older
copy, swaps in another guardian's log, deletes the file — and the guardian comes back and answers as
usual.  Every time, the owner's next ``Vault.audit`` raises :class:`AuditTampered` naming the guardian:
entries carry the guardian's signature, and the owner keeps the head it saw last.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gridlock.cli.errors import classify
from gridlock.client.audit import AuditHeads
from gridlock.devnet import EmbeddedCluster
from gridlock.guardian.audit import AuditLog, audit_reply
from gridlock.wire import Identity
from gridlock.wire.audit import (
    GENESIS,
    HEAD_LABEL,
    AuditError,
    AuditHead,
    AuditProblem,
    AuditTampered,
    entry_hash,
    head_statement,
    verify_chain,
    verify_log,
)

NAMES = ["device", "cloud", "friend"]


def run(fn: Any) -> Any:
    return asyncio.run(fn())


# --- what the attacker does to the file ------------------------------------------------------------------
def sql(path: Path, *statements: str, rechain: str | None = None) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as con:
        for s in statements:
            con.execute(s)
        if rechain is not None:
            _rechain(con, rechain)


def _rechain(con: sqlite3.Connection, vault: str) -> None:
    """Renumber the vault's entries and recompute every link and hash, as anyone can."""
    prev = GENESIS
    rows = con.execute("SELECT seq, body FROM entries WHERE vault = ? ORDER BY seq", (vault,)).fetchall()
    for n, (seq, text) in enumerate(rows, start=1):
        body = {**json.loads(text), "n": n}
        h = entry_hash(prev, body)
        con.execute(
            "UPDATE entries SET n = ?, body = ?, hash = ?, prev = ? WHERE seq = ?",
            (n, json.dumps(body, sort_keys=True), h, prev, seq),
        )
        prev = h


def delete_log(db: Path) -> None:
    for p in db.parent.glob(db.name + "*"):  # with its -wal and -shm
        p.unlink()


def first_sign(vault: str) -> str:
    return f"(SELECT min(seq) FROM entries WHERE vault = '{vault}' AND body LIKE '%\"op\": \"sign\"%')"


def last_sign(vault: str) -> str:
    return f"(SELECT max(seq) FROM entries WHERE vault = '{vault}' AND body LIKE '%\"op\": \"sign\"%')"


async def tamper(c: EmbeddedCluster, i: int, edit: Callable[[Path], None]) -> None:
    """Take guardian ``i`` down, let ``edit`` change its audit.db, bring it back."""
    g = c.guardians[i]
    await c.stop_guardian(i)
    g.audit.close()
    edit(c.data_dir / g.name / "audit.db")
    g.audit = AuditLog(c.data_dir / g.name / "audit.db", g.identity)
    await c.start_guardian(i)


async def signed_vault(c: EmbeddedCluster) -> Any:
    assert c.client is not None
    vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
    for m in (b"a", b"b", b"c"):
        await vault.sign(m * 32, signers=c.ids[:2])
    return vault


# --- the honest path -----------------------------------------------------------------------------------------
def test_the_owner_verifies_the_log_and_keeps_its_head(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await signed_vault(c)
            g = c.ids[0]
            log = await vault.audit(g)
            assert [e["n"] for e in log] == list(range(1, len(log) + 1))
            assert [e["op"] for e in log if e["op"] == "sign"] == ["sign"] * 3
            head = c.client.audit_heads.get(g, vault.vault_id)
            assert head is not None and head.n == len(log)
            await vault.sign(b"d" * 32, signers=c.ids[:2])
            later = await vault.audit(g)
            assert later[: len(log)] == log and later[-1]["op"] == "sign"
            assert c.client.audit_heads.get(g, vault.vault_id).n == len(later)  # type: ignore[union-attr]
            # another vault at the same guardian is another chain
            other = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            assert [e["n"] for e in await other.audit(g)] == [1, 2]  # keygen, commit
        finally:
            await c.close()

    run(main)


def test_a_long_log_comes_in_pages(tmp_path: Path) -> None:
    identity = Identity.generate()
    log = AuditLog(tmp_path / "audit.db", identity)
    try:
        for t in range(2500):
            log.append(time=t, vault="v", op="ping", requester="r", decision="done", reason="", digest="")
        first = audit_reply(log, identity, "v", 0)
        assert len(first.entries) == 1000 and first.head[0] == 2500
        entries = []
        while len(entries) < 2500:
            entries += [json.loads(e) for e in audit_reply(log, identity, "v", len(entries)).entries]
        reply = audit_reply(log, identity, "v", 2500)
        bodies, head = verify_log(
            entries, reply.head, reply.signature, identity.public, guardian="g", vault="v", known=None
        )
        assert [b["time"] for b in bodies] == list(range(2500)) and head.n == 2500
    finally:
        log.close()


# --- attacks on the file --------------------------------------------------------------------------------------
ATTACKS: dict[str, tuple[Callable[[Path, str], None], AuditProblem]] = {
    "a sign entry deleted": (
        lambda db, v: sql(db, f"DELETE FROM entries WHERE seq = {first_sign(v)}"),
        AuditProblem.REWRITTEN,
    ),
    "a sign entry deleted, the chain recomputed": (
        lambda db, v: sql(db, f"DELETE FROM entries WHERE seq = {first_sign(v)}", rechain=v),
        AuditProblem.REWRITTEN,
    ),
    "done changed to refused, the chain recomputed": (
        lambda db, v: sql(
            db,
            f"UPDATE entries SET body = replace(body, '\"done\"', '\"refused\"') WHERE seq = {first_sign(v)}",
            rechain=v,
        ),
        AuditProblem.REWRITTEN,
    ),
    "an entry the owner has not seen yet changed, the chain recomputed": (
        lambda db, v: sql(
            db,
            f"UPDATE entries SET body = replace(body, '\"done\"', '\"refused\"') WHERE seq = {last_sign(v)}",
            rechain=v,
        ),
        AuditProblem.REWRITTEN,
    ),
    "the signatures copied along with a changed entry": (
        lambda db, v: sql(db, "UPDATE entries SET body = replace(body, '\"done\"', '\"failed\"') WHERE n = 3"),
        AuditProblem.REWRITTEN,
    ),
    "the last entries cut off": (
        lambda db, v: sql(db, f"DELETE FROM entries WHERE vault = '{v}' AND n > 3"),
        AuditProblem.TRUNCATED,
    ),
    "the file deleted": (lambda db, v: delete_log(db), AuditProblem.RESET),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_an_edited_audit_log_is_detected_by_the_owner(tmp_path: Path, attack: str) -> None:
    edit, problem = ATTACKS[attack]

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            vault = await signed_vault(c)
            g = c.ids[0]
            seen = await vault.audit(g)  # the owner looks, and keeps the signed head
            await vault.sign(b"d" * 32, signers=c.ids[:2])  # one entry the owner has not seen
            await tamper(c, 0, lambda db: edit(db, vault.vault_id))
            await vault.sign(b"e" * 32, signers=c.ids[:2])  # the guardian serves on, writing new entries
            with pytest.raises(AuditTampered) as err:
                await vault.audit(g)
            assert err.value.guardian == g and err.value.vault == vault.vault_id
            assert err.value.problem is problem, err.value
            assert g in str(err.value) and problem.value in str(err.value)
            cli = classify(err.value, {g: "device"})
            assert cli.code == "audit-tampered" and "device" in cli.message
            # the untouched guardians still verify
            assert len(await vault.audit(c.ids[1])) >= len(seen)
        finally:
            await c.close()

    run(main)


def test_attack_an_older_copy_of_the_log_is_detected(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            backup = tmp_path / "backup.db"
            await tamper(c, 0, lambda db: shutil.copy(db, backup))  # a copy taken before the signatures
            for m in (b"a", b"b"):
                await vault.sign(m * 32, signers=c.ids[:2])
            await vault.audit(c.ids[0])
            await tamper(c, 0, lambda db: shutil.copy(backup, db))
            with pytest.raises(AuditTampered) as err:
                await vault.audit(c.ids[0])
            assert err.value.problem is AuditProblem.TRUNCATED
        finally:
            await c.close()

    run(main)


def test_attack_another_guardian_s_log_swapped_in_is_detected(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            vault = await signed_vault(c)
            await vault.audit(c.ids[0])
            other = c.data_dir / c.guardians[1].name / "audit.db"
            snapshot = tmp_path / "other.db"
            with closing(sqlite3.connect(other)) as src, closing(sqlite3.connect(snapshot)) as dst:
                src.backup(dst)
            await tamper(c, 0, lambda db: shutil.copy(snapshot, db))
            with pytest.raises(AuditTampered) as err:
                await vault.audit(c.ids[0])
            assert err.value.problem is AuditProblem.REWRITTEN  # signed, but not by this guardian
        finally:
            await c.close()

    run(main)


def test_attack_a_deleted_log_is_noticed_by_a_later_process_of_the_owner(tmp_path: Path) -> None:
    """The CLI is a new process each time: the heads persist in a file next to the owner's keys."""
    heads_file = tmp_path / "owner" / "audit-heads.json"

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path / "net", NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            c.client.audit_heads = AuditHeads(heads_file)
            vault = await signed_vault(c)
            await vault.audit(c.ids[0])
            assert heads_file.stat().st_mode & 0o077 == 0
            await tamper(c, 0, delete_log)
            for m in (b"x", b"y", b"z", b"w", b"v"):  # the fresh log grows past the old head
                await vault.sign(m * 32, signers=c.ids[:2])
            c.client.audit_heads = AuditHeads(heads_file)  # what a new process knows: the file
            again = await c.client.open_vault(vault.vault_id, c.ids)
            with pytest.raises(AuditTampered) as err:
                await again.audit(c.ids[0])
            assert err.value.problem is AuditProblem.RESET and err.value.guardian == c.ids[0]
            c.client.audit_heads = AuditHeads()  # without it (a first look), the fresh log verifies
            assert len(await again.audit(c.ids[0])) >= 5
        finally:
            await c.close()

    run(main)


# --- the checks, piece by piece --------------------------------------------------------------------------
def _log(tmp_path: Path, n: int = 3) -> tuple[Identity, AuditLog]:
    identity = Identity.generate()
    log = AuditLog(tmp_path / "audit.db", identity)
    for t in range(n):
        log.append(time=t, vault="v", op="sign", requester="r", decision="done", reason="", digest="d")
    log.append(time=9, vault="w", op="sign", requester="r", decision="done", reason="", digest="d")
    return identity, log


def test_a_head_is_a_checked_value() -> None:
    good = AuditHead("v", 1, "a" * 64, "a" * 64, "00")
    assert AuditHead.from_json(good.to_json()) == good
    for bad in (
        ("v", -1, "a" * 64, "a" * 64, ""),
        ("v", 0, "a" * 64, GENESIS, ""),
        ("v", 1, GENESIS, GENESIS, ""),
        ("v", 1, "A" * 64, "a" * 64, ""),
        ("v", True, "a" * 64, "a" * 64, ""),
        ("v", 1, "a" * 64, "a" * 64, "xyz"),
    ):
        with pytest.raises(AuditError):
            AuditHead(*bad)  # type: ignore[arg-type]
    with pytest.raises(AuditError):
        AuditHead.from_json({"vault": "v"})


def test_replies_that_do_not_add_up_are_refused(tmp_path: Path) -> None:
    identity, log = _log(tmp_path)
    try:
        reply = audit_reply(log, identity, "v", 0)
        entries = [json.loads(e) for e in reply.entries]
        key = identity.public
        kw: dict[str, Any] = {"guardian": "g", "vault": "v", "known": None}
        bodies, head = verify_log(entries, reply.head, reply.signature, key, **kw)
        assert [b["n"] for b in bodies] == [1, 2, 3] and all(b["vault"] == "v" for b in bodies)
        with pytest.raises(AuditError, match="not the end"):
            verify_log(entries[:2], reply.head, reply.signature, key, **kw)
        with pytest.raises(AuditError, match="did not sign"):
            verify_log(entries, reply.head, b"\x00" * 64, key, **kw)
        with pytest.raises(AuditTampered, match="not as the guardian signed it"):  # another guardian's key
            verify_log(entries, reply.head, reply.signature, Identity.generate().public, **kw)
        with pytest.raises(AuditTampered, match="malformed"):  # entries of another vault passed off as this one's
            verify_chain(
                [json.loads(e) for e in audit_reply(log, identity, "w", 0).entries], key, guardian="g", vault="v"
            )
        broken = [dict(e) for e in entries]
        broken[1] = {**broken[1], "signature": "00" * 64}
        with pytest.raises(AuditTampered):
            verify_chain(broken, key, guardian="g", vault="v")
        assert verify_log(entries, reply.head, reply.signature, key, guardian="g", vault="v", known=head)[1] == head
        # a head the owner kept, checked against a log it is no longer in
        empty = identity.sign(HEAD_LABEL, head_statement("v", 0, GENESIS))
        with pytest.raises(AuditTampered) as err:
            verify_log([], [0, GENESIS], empty, key, guardian="g", vault="v", known=head)
        assert err.value.problem is AuditProblem.RESET
    finally:
        log.close()


def test_storage_failures_are_typed(tmp_path: Path) -> None:
    bad = tmp_path / "audit.db"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(AuditError):
        AuditLog(bad, Identity.generate())
    good = tmp_path / "good"
    good.mkdir()
    identity, log = _log(good)
    log.close()
    sql(good / "audit.db", "UPDATE entries SET body = 'not json' WHERE n = 2")
    log = AuditLog(good / "audit.db", identity)
    try:
        with pytest.raises(AuditError, match="damaged"):
            log.entries("v")
        assert log.head("v")[0] == 3
    finally:
        log.close()


# --- a log from before signed entries --------------------------------------------------------------------
def _legacy(path: Path, bodies: list[dict[str, Any]], *, break_at: int | None = None) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("CREATE TABLE audit (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL)")
        prev = GENESIS
        for b in bodies:
            data = json.dumps(b, sort_keys=True, separators=(",", ":")).encode()
            h = hashlib.sha256(b"gridlock/audit/v1" + bytes.fromhex(prev) + data).hexdigest()
            stored = {**b, "decision": "refused"} if b["seq"] == break_at else b
            con.execute("INSERT INTO audit VALUES (?, ?, ?)", (b["seq"], json.dumps(stored), h))
            prev = h


def _old(seq: int, vault: str, op: str = "sign") -> dict[str, Any]:
    return {"seq": seq, "time": seq, "vault": vault, "op": op, "requester": "r", "decision": "done", "reason": "",
            "digest": "ab" * 32}  # fmt: skip


def test_a_log_from_before_signed_entries_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _legacy(path, [_old(1, "v", "keygen"), _old(2, "w"), _old(3, "v", "recovery-start"), _old(4, "v")])
    identity = Identity.generate()
    log = AuditLog(path, identity)
    try:
        reply = audit_reply(log, identity, "v", 0)
        entries = [json.loads(e) for e in reply.entries]
        bodies, _ = verify_log(
            entries, reply.head, reply.signature, identity.public, guardian="g", vault="v", known=None
        )
        assert [(b["seq"], b["n"], b["op"]) for b in bodies] == [
            (1, 1, "keygen"),
            (3, 2, "recovery-start"),
            (4, 3, "sign"),
        ]
        assert bodies[1]["digest"] == "" and bodies[2]["digest"] == "ab" * 32  # a recovery digest covered the verifier
        assert log.head("w")[0] == 1
    finally:
        log.close()
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'audit%'").fetchall() == []


def test_a_legacy_log_that_does_not_verify_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _legacy(path, [_old(1, "v"), _old(2, "v"), _old(3, "v")], break_at=2)
    log = AuditLog(path, Identity.generate())
    try:
        assert log.entries() == [] and log.head("v") == (0, GENESIS)  # nothing unverified gets signed
    finally:
        log.close()
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("SELECT count(*) FROM audit_unverified").fetchone() == (3,)
