"""The `gridlock` command end to end (issue 9): real commands in subprocesses against a devnet.

One embedded devnet (router and guardians in a background host process) serves most tests of this
module; a NATS devnet (guardians as separate processes on a real nats-server) runs when nats-server
is installed.  Every fixture tears its devnet down and checks that no process is left behind.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from coincurve import PublicKey
from embit import bip32 as embit_bip32
from eth_account import Account
from solders.hash import Hash
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from conftest import need_nats_server
from gridlock.chains import bitcoin, cosmos
from gridlock.chains.bitcoin import OutPoint, Spend, TxOut
from gridlock.cli.main import app
from gridlock.crypto.ecdsa.online import verify as ecdsa_verify
from gridlock.local import verify
from gridlock.transport import NatsTransport, RouterRefused

PASSWORD = "correct horse battery staple"
CORE = ["device", "enclave", "cloud", "watch", "friend"]


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def doc(self) -> Any:
        return json.loads(self.out)


def gl(home: Path, *args: str, password: str | None = PASSWORD, timeout: float = 180, **env: str) -> Run:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    environ.update({"GRIDLOCK_HOME": str(home), "COLUMNS": "200", **env})
    if password is not None:
        environ["GRIDLOCK_PASSWORD"] = password
    p = subprocess.run(
        [sys.executable, "-m", "gridlock.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    return Run(p.returncode, p.stdout, p.stderr)


def ok(r: Run) -> Any:
    assert r.rc == 0, f"exit {r.rc}\nstdout: {r.out}\nstderr: {r.err}"
    return r.doc if r.out.lstrip().startswith("{") else r.out


def fails(r: Run, code: int, *words: str) -> dict[str, Any]:
    assert r.rc == code, f"expected exit {code}, got {r.rc}\nstdout: {r.out}\nstderr: {r.err}"
    assert "error:" in r.err
    for w in words:
        assert w.lower() in r.err.lower(), f"{w!r} not in: {r.err}"
    if r.out.strip():
        err = json.loads(r.out)["error"]  # with --json: one error document on stdout
        assert err["exit_code"] == code and err["message"]
        return dict(err)
    return {}


def pids_of(home: Path) -> list[int]:
    state = json.loads((home / "devnet.json").read_text())
    running = state.get("running") or {}
    pids = [running.get("host_pid"), running.get("nats_pid"), *(running.get("pids") or {}).values()]
    return sorted({p for p in pids if p})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def teardown(home: Path) -> None:
    pids = pids_of(home) if (home / "devnet.json").exists() else []
    gl(home, "devnet", "down", password=None, timeout=60)
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if alive(p)]
    for p in left:  # never leave a process behind, even when the test failed
        os.kill(p, signal.SIGKILL)
    assert not left, f"devnet down left processes behind: {left}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    h = tmp_path_factory.mktemp("cli") / "devnet"
    try:
        doc = ok(gl(h, "devnet", "up", "--detach", "--spare", "backup", "--json"))
        assert doc["running"] and doc["mode"] == "embedded" and doc["created"]
        yield h
    finally:
        teardown(h)


# --- transactions to sign ---------------------------------------------------------------------------
def solana_tx(public_key: bytes) -> bytes:
    me = Pubkey.from_bytes(public_key)
    to = Pubkey.from_bytes(bytes(range(1, 33)))
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=me, to_pubkey=to, lamports=5000))], me, Hash.default()
    )
    return bytes(VersionedTransaction.populate(msg, [Signature.default()]))


def bitcoin_psbt(public_key: bytes, scheme: str) -> str:
    script = bitcoin.p2tr_script(public_key) if scheme == "frost-taproot" else bitcoin.p2wpkh_script(public_key)
    spend = Spend(OutPoint(hashlib.sha256(public_key).digest(), 1), TxOut(100_000, script))
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    return bitcoin.create_psbt([spend], [TxOut(90_000, dest)])


ETH_TX = {
    "type": 2,
    "chainId": 1337,
    "nonce": 0,
    "maxFeePerGas": 2_000_000_000,
    "maxPriorityFeePerGas": 1_000_000_000,
    "gas": 21_000,
    "to": "0x000000000000000000000000000000000000dEaD",
    "value": 10**15,
    "data": "0x",
}


# --- the devnet -------------------------------------------------------------------------------------
def test_every_contract_command_exists(tmp_path: Path) -> None:
    root = typer.main.get_command(app)
    groups = {
        "devnet": {"up", "status", "down"},
        "vault": {"create", "list", "show"},
        "guardian": {"replace", "list", "run"},
        "recover": {"start", "status", "cancel", "finish"},
        "policy": {"set", "replace", "cancel", "show"},
        "tx": {"build"},
    }
    commands = root.commands  # type: ignore[attr-defined]
    assert {"address", "sign", "sign-tx", "sign-message", "refresh", "audit", *groups} <= set(commands)
    for group, names in groups.items():
        assert names <= set(commands[group].commands), group
    top = ok(gl(tmp_path, "--help", password=None))
    assert "Exit codes" in top and "sign-tx" in top
    up = ok(gl(tmp_path, "devnet", "up", "--help", password=None))
    assert "--nats" in up and "--detach" in up and "--dir" in up


def test_status_json_schema_and_no_password_needed(home: Path) -> None:
    doc = ok(gl(home, "devnet", "status", "--json", password=None))
    assert set(doc) >= {"dir", "running", "mode", "router", "host_pid", "guardians", "vaults", "client_id"}
    assert doc["running"] is True and doc["mode"] == "embedded" and doc["router"].startswith("unix:")
    assert [g["name"] for g in doc["guardians"]] == [*CORE, "backup"]
    assert all(g["running"] and len(g["id"]) == 32 for g in doc["guardians"])
    assert [g["spare"] for g in doc["guardians"]] == [False] * 5 + [True]
    human = ok(gl(home, "devnet", "status", password=None))
    assert "running" in human and "friend" in human
    state = json.loads((home / "devnet.json").read_text())
    assert state["running"]["host_pid"] == doc["host_pid"]
    assert (home / "keyring.json").stat().st_mode & 0o077 == 0
    keyring = (home / "keyring.json").read_text()
    assert "argon2id" in keyring and "identity" not in keyring  # encrypted, never plaintext


def test_devnet_already_running_is_refused(home: Path) -> None:
    before = (home / "devnet.json").read_text()
    err = fails(gl(home, "devnet", "up", "--detach", "--json"), 5, "already running", "devnet down")
    assert err["code"] == "already-running"
    assert (home / "devnet.json").read_text() == before


def test_wrong_password_is_refused_and_changes_nothing(home: Path) -> None:
    keyring = (home / "keyring.json").read_bytes()
    fails(gl(home, "vault", "create", "--scheme", "frost-ed25519", password="not the password"), 4, "wrong password")
    err = fails(gl(home, "devnet", "up", "--detach", "--json", password="not the password"), 5)
    assert err["code"] == "already-running"
    assert (home / "keyring.json").read_bytes() == keyring
    r = gl(home, "vault", "list", "--json", password=None)
    assert all(v["scheme"] for v in ok(r)["vaults"])


def test_no_password_and_no_terminal(home: Path, tmp_path: Path) -> None:
    fails(gl(home, "sign", "nope", "--message", "00", password=None), 2, "unknown vault")
    r = gl(home, "vault", "create", "--scheme", "frost-ed25519", "--json", password=None)
    err = fails(r, 4, "GRIDLOCK_PASSWORD", "--password-file")
    assert err["code"] == "no-password"
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    assert ok(gl(home, "guardian", "list", "--json", "--password-file", str(pw), password=None))["running"]


# --- vaults, addresses, signing -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ed_vault(home: Path) -> dict[str, Any]:
    doc = ok(gl(home, "vault", "create", "--scheme", "frost-ed25519", "--name", "sol", "--json"))
    return dict(doc)


def test_vault_create_json_schema(ed_vault: dict[str, Any], home: Path) -> None:
    d = ed_vault
    assert set(d) >= {
        "id",
        "name",
        "scheme",
        "threshold",
        "n",
        "members",
        "guardians",
        "public_key",
        "epoch",
        "addresses",
    }
    assert d["scheme"] == "frost-ed25519" and d["threshold"] == 3 and d["n"] == 5 and d["epoch"] == 0
    assert d["guardians"] == CORE and d["name"] == "sol"
    assert set(d["addresses"]) == {"solana"}
    listed = ok(gl(home, "vault", "list", "--json", password=None))["vaults"]
    assert d["id"] in [v["id"] for v in listed]
    shown = ok(gl(home, "vault", "show", "sol", "--json", password=None))
    assert shown["public_key"] == d["public_key"]
    remote = ok(gl(home, "vault", "show", d["id"][:6], "--remote", "--json"))
    assert set(remote["guardian_reports"]) == set(CORE)
    assert all(r["ok"] and r["epoch"] == remote["epoch"] for r in remote["guardian_reports"].values())


def test_sign_message_and_solana_tx(ed_vault: dict[str, Any], home: Path, tmp_path: Path) -> None:
    pk = bytes.fromhex(ed_vault["public_key"])
    d = ok(gl(home, "sign", "sol", "--message", b"hello gridlock".hex(), "--json"))
    assert set(d) >= {"vault", "scheme", "public_key", "message", "signature"}
    assert verify("frost-ed25519", pk, b"hello gridlock", bytes.fromhex(d["signature"]))
    plain = ok(gl(home, "sign", "sol", "--message", "0x00ff"))
    assert verify("frost-ed25519", pk, b"\x00\xff", bytes.fromhex(plain.strip()))  # one line, pipeable

    addr = ok(gl(home, "address", "sol", "--chain", "solana", "--json", password=None))
    assert addr["address"] == ed_vault["addresses"]["solana"]
    txf = tmp_path / "sol.tx"
    txf.write_bytes(solana_tx(pk))
    s = ok(gl(home, "sign-tx", "--yes", "sol", "--chain", "solana", "--tx", str(txf), "--json"))
    signed = VersionedTransaction.from_bytes(base64.b64decode(s["tx_base64"]))
    assert signed.verify_with_results() == [True]
    txf.write_text(base64.b64encode(solana_tx(pk)).decode())  # base64 text works too
    ok(gl(home, "sign-tx", "--yes", "sol", "--chain", "solana", "--tx", str(txf), "--json"))


def test_refresh_and_replace_keep_the_key(ed_vault: dict[str, Any], home: Path) -> None:
    pk = bytes.fromhex(ed_vault["public_key"])
    r = ok(gl(home, "refresh", "sol", "--json"))
    assert r["epoch"] == r["previous_epoch"] + 1 and r["public_key"] == ed_vault["public_key"]
    d = ok(gl(home, "guardian", "replace", "sol", "friend", "backup", "--json"))
    assert d["guardians"] == ["device", "enclave", "cloud", "watch", "backup"] and d["epoch"] > r["epoch"]
    assert d["public_key"] == ed_vault["public_key"]
    s = ok(gl(home, "sign", "sol", "--message", "abcd", "--json"))
    assert verify("frost-ed25519", pk, bytes.fromhex("abcd"), bytes.fromhex(s["signature"]))
    fails(gl(home, "guardian", "replace", "sol", "friend", "device"), 2, "not a guardian of vault")
    fails(gl(home, "guardian", "replace", "sol", "device", "cloud"), 2, "already holds")
    fails(gl(home, "guardian", "replace", "sol", "device", "nobody"), 2, "unknown guardian")
    listed = ok(gl(home, "guardian", "list", "--json"))["guardians"]
    by_name = {g["name"]: g for g in listed}
    assert all(g["answers"] for g in listed)
    assert ed_vault["id"] in by_name["backup"]["vaults"] and ed_vault["id"] not in by_name["friend"]["vaults"]


def test_ecdsa_vault_on_bitcoin_ethereum_and_cosmos(home: Path, tmp_path: Path) -> None:
    v = ok(gl(home, "vault", "create", "--scheme", "ecdsa", "--threshold", "2", "-g", "device,cloud,watch", "--json"))
    assert v["scheme"] == "ecdsa-secp256k1" and v["threshold"] == 2 and v["guardians"] == ["device", "cloud", "watch"]
    pk = bytes.fromhex(v["public_key"])
    vid = v["id"]
    btc = ok(gl(home, "address", vid, "--chain", "bitcoin", "--network", "regtest", "--json", password=None))
    assert btc["address"].startswith("bcrt1q") and btc["kind"] == "p2wpkh"
    eth = ok(gl(home, "address", vid, "--chain", "ethereum", "--json", password=None))["address"]
    sec = ok(gl(home, "address", vid, "--chain", "cosmos", password=None)).strip()
    assert sec == cosmos.address(pk) and sec.startswith("secret1")
    assert ok(gl(home, "address", vid, "--chain", "cosmos", "--network", "cosmos", password=None)).startswith("cosmos1")
    child = ok(gl(home, "address", vid, "--chain", "ethereum", "--path", "m/0/1", "--json", password=None))
    assert child["path"] == "m/0/1" and child["public_key"] != pk.hex() and child["address"] != eth
    assert PublicKey(bytes.fromhex(child["public_key"]))  # a valid point
    assert ok(gl(home, "address", vid, "--chain", "ethereum", "--path", "m/0/01", "--json", password=None)) == child
    fails(gl(home, "address", vid, "--chain", "ethereum", "--path", "m/44'/0", password=None), 2, "hardened")
    # the watch-only export: the child address above is the xpub's m/0/1 (BIP32 CKDpub, checked with embit)
    desc = ok(gl(home, "vault", "descriptors", vid, "--network", "regtest", "--json", password=None))
    assert desc["receive"].startswith(f"wpkh({desc['xpub']}/0/*)#") and desc["change"].startswith("wpkh(")
    xpub = embit_bip32.HDKey.from_string(desc["xpub"])
    assert xpub.derive([0, 1]).key.sec().hex() == child["public_key"]

    digest = hashlib.sha256(b"pay the rent").digest()
    s = ok(gl(home, "sign", vid, "--message", digest.hex(), "--json"))
    assert ecdsa_verify(pk, digest, bytes.fromhex(s["signature"]))

    f = tmp_path / "eth.json"
    f.write_text(json.dumps(ETH_TX))
    e = ok(gl(home, "sign-tx", "--yes", vid, "--chain", "ethereum", "--tx", str(f), "--json"))
    assert Account.recover_transaction(e["tx_hex"]) == eth
    assert e["summary"]["chain_id"] == 1337 and e["signatures"] == 1
    e = ok(gl(home, "sign-tx", "--yes", vid, "--chain", "ethereum", "--tx", str(f), "--path", "m/0/1", "--json"))
    assert Account.recover_transaction(e["tx_hex"]) == child["address"] and e["path"] == "m/0/1"
    s = ok(gl(home, "sign", vid, "--message", digest.hex(), "--path", "m/0/1", "--json"))
    assert ecdsa_verify(bytes.fromhex(child["public_key"]), digest, bytes.fromhex(s["signature"]))
    assert s["public_key"] == child["public_key"]

    p = tmp_path / "tx.psbt"
    p.write_text(bitcoin_psbt(pk, "ecdsa-secp256k1") + "\n")
    b = ok(gl(home, "sign-tx", "--yes", vid, "--chain", "bitcoin", "--network", "regtest", "--tx", str(p), "--json"))
    assert b["tx_hex"] and len(b["txid"]) == 64 and b["psbt"]
    assert b["summary"]["fee"] == 10_000

    doc = tmp_path / "signdoc.bin"
    raw = cosmos.bank_send(pk, "secret1" + "q" * 38, 1000, memo="rent", sequence=7, account_number=42)
    doc.write_bytes(raw)
    c = ok(gl(home, "sign-tx", "--yes", vid, "--chain", "cosmos", "--tx", str(doc), "--json"))
    txraw = base64.b64decode(c["tx_base64"])
    sig = txraw[-64:]
    assert ecdsa_verify(pk, hashlib.sha256(raw).digest(), sig)
    assert PublicKey(pk)  # the key is a valid point

    # ECDSA signs digests only; the wrong chain for the scheme is a usage error
    fails(gl(home, "sign", vid, "--message", "00"), 2, "32-byte digest")
    fails(gl(home, "address", vid, "--chain", "solana"), 2, "cannot hold solana", "frost-ed25519")
    fails(gl(home, "address", vid, "--chain", "dogecoin"), 2, "unknown chain")
    fails(gl(home, "address", vid, "--chain", "bitcoin", "--network", "moon"), 2, "unknown bitcoin network")


@pytest.mark.slow
def test_taproot_vault_signs_a_psbt(home: Path, tmp_path: Path) -> None:
    v = ok(gl(home, "vault", "create", "--scheme", "taproot", "--json"))
    pk = bytes.fromhex(v["public_key"])
    assert v["addresses"]["bitcoin"] == bitcoin.address(pk, kind="p2tr", network="mainnet")
    p = tmp_path / "tx.psbt"
    p.write_bytes(base64.b64decode(bitcoin_psbt(pk, "frost-taproot")))  # binary PSBT
    b = ok(
        gl(home, "sign-tx", "--yes", v["id"], "--chain", "bitcoin", "--network", "regtest", "--tx", str(p), "--json")
    )
    assert b["tx_hex"] and b["signatures"] == 1


def test_malformed_transaction_files(ed_vault: dict[str, Any], home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x01garbage")
    err = fails(
        gl(home, "sign-tx", "--yes", "sol", "--chain", "solana", "--tx", str(bad), "--json"), 2, "malformed solana"
    )
    assert err["code"] == "malformed-tx"
    bad.write_text("{not json")
    v = ok(gl(home, "vault", "list", "--json", password=None))["vaults"]
    ecdsa_id = next(x["id"] for x in v if x["scheme"] == "ecdsa-secp256k1")
    fails(
        gl(home, "sign-tx", "--yes", ecdsa_id, "--chain", "ethereum", "--tx", str(bad)), 2, "malformed ethereum", "JSON"
    )
    bad.write_text(json.dumps({k: v for k, v in ETH_TX.items() if k != "chainId"}))
    fails(gl(home, "sign-tx", "--yes", ecdsa_id, "--chain", "ethereum", "--tx", str(bad)), 2, "chainId")
    bad.write_text("cHNidP8BAHECAAAAAf//")  # a PSBT cut short
    fails(gl(home, "sign-tx", "--yes", ecdsa_id, "--chain", "bitcoin", "--tx", str(bad)), 2, "malformed bitcoin")
    fails(
        gl(home, "sign-tx", "--yes", ecdsa_id, "--chain", "bitcoin", "--tx", str(tmp_path / "missing")),
        2,
        "does not exist",
    )
    empty = tmp_path / "empty"
    empty.write_text("")
    fails(gl(home, "sign-tx", "--yes", ecdsa_id, "--chain", "cosmos", "--tx", str(empty)), 2, "empty")
    # a transaction this vault is not a signer of
    other = tmp_path / "other.tx"
    other.write_bytes(solana_tx(bytes(range(32, 64))))
    r = gl(home, "sign-tx", "--yes", "sol", "--chain", "solana", "--tx", str(other))
    assert r.rc == 2 and "error:" in r.err


def test_unknown_vault_and_bad_input(home: Path) -> None:
    err = fails(gl(home, "vault", "show", "does-not-exist", "--json", password=None), 2, "unknown vault", "vault list")
    assert err["code"] == "unknown-vault"
    fails(gl(home, "sign", "nope", "--message", "00"), 2, "unknown vault")
    fails(gl(home, "sign", "sol", "--message", "xyz"), 2, "not hex")
    fails(gl(home, "vault", "create", "--scheme", "rsa"), 2, "unknown scheme", "frost-ed25519")
    fails(gl(home, "vault", "create", "--scheme", "ed25519", "--threshold", "9"), 2, "threshold")
    fails(gl(home, "vault", "create", "--scheme", "ed25519", "-g", "device,device,cloud"), 2, "twice")
    fails(gl(home, "vault", "create", "--scheme", "ed25519", "--name", "sol"), 2, "exists already")
    r = gl(home, "vault", "create")  # Typer's own usage error
    assert r.rc == 2 and "--scheme" in r.err


def test_too_few_guardians_online(ed_vault: dict[str, Any], home: Path) -> None:
    pk = bytes.fromhex(ed_vault["public_key"])
    holders = ok(gl(home, "vault", "show", "sol", "--json", password=None))["guardians"]  # after earlier reshares
    first, *more = stopped = [g for g in holders if g != "device"][:3]
    try:
        d = ok(gl(home, "guardian", "stop", first, "--json"))
        assert d == {"guardian": first, "id": d["id"], "running": False, "pid": None}
        s = ok(gl(home, "sign", "sol", "--message", "01", "--json"))  # 4 of 5 online: still signs
        assert verify("frost-ed25519", pk, b"\x01", bytes.fromhex(s["signature"]))
        ok(gl(home, "guardian", "stop", *more))
        err = fails(gl(home, "sign", "sol", "--message", "02", "--json"), 3, *stopped)
        assert err["code"] == "guardians-unreachable"
        status = ok(gl(home, "devnet", "status", "--json", password=None))
        assert {g["name"] for g in status["guardians"] if not g["running"]} == set(stopped)
    finally:
        gl(home, "guardian", "start", *stopped)
    s = ok(gl(home, "sign", "sol", "--message", "03", "--json"))
    assert verify("frost-ed25519", pk, b"\x03", bytes.fromhex(s["signature"]))


@pytest.mark.slow
def test_owner_security_commands(ed_vault: dict[str, Any], home: Path) -> None:
    """policy / audit / recover through gridlock.cli.owner: every holder keeps the policy, the audit log
    records it, and bad options are usage errors."""
    doc = ok(gl(home, "policy", "set", "sol", "--limit", "solana:1000000/86400", "--rate", "100/3600", "--json"))
    assert doc["rules"]["limits"]["solana"] == {"amount": 1_000_000, "period": 86400}
    shown = ok(gl(home, "policy", "show", "sol", "--json"))
    holders = ok(gl(home, "vault", "show", "sol", "--json", password=None))["guardians"]
    assert set(shown["guardians"]) == set(holders)
    assert all(g["ok"] and g["rules"]["limits"]["solana"]["amount"] == 1_000_000 for g in shown["guardians"].values())
    a = ok(gl(home, "audit", "sol", "-g", "device", "--json"))
    entries = a["guardians"]["device"]["entries"]
    assert a["guardians"]["device"]["ok"] and {"keygen", "policy-set"} <= {e["op"] for e in entries}
    heads = json.loads((home / "audit-heads.json").read_text())["heads"]  # kept for the next `gridlock audit`
    assert [h["n"] for per_vault in heads.values() for h in per_vault.values()] == [len(entries)]
    fails(gl(home, "policy", "set", "sol", "--limit", "moon:5"), 2, "unknown chain")
    fails(gl(home, "policy", "set", "sol", "--rate", "many"), 2, "not a whole number")
    fails(gl(home, "policy", "set", "sol"), 2, "nothing to change")  # used to clear every rule at once
    fails(gl(home, "policy", "set", "sol", "--allow", "solana:not-an-address"), 2, "solana")
    fails(gl(home, "recover", "finish", "sol"), 2, "no recovery was started")


def test_recover_start_cancel_finish(tmp_path: Path) -> None:
    """Device recovery through the CLI: time-locked, cancellable, then the new device key signs."""
    h = tmp_path / "recovery"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--recovery-delay", "10", "--json"))
        vault = ok(gl(h, "vault", "create", "--scheme", "frost-ed25519", "--json"))["id"]
        started = ok(gl(h, "recover", "start", vault, "--json"))
        assert len(started["unlock_at"]) == 5
        status = ok(gl(h, "recover", "status", vault, "--json"))
        assert all(g["state"] == "open" for g in status["guardians"].values())
        fails(gl(h, "recover", "finish", vault), 1, "time")  # still time-locked
        ok(gl(h, "recover", "cancel", vault, "--json"))
        restarted = time.monotonic()
        ok(gl(h, "recover", "start", vault, "--json"))
        time.sleep(max(0.0, restarted + 11 - time.monotonic()))
        assert ok(gl(h, "recover", "finish", vault, "--json"))["finished"]
        signed = ok(gl(h, "sign", vault, "--message", "ab" * 32, "--json"))  # the new device key approves
        assert len(bytes.fromhex(signed["signature"])) == 64
    finally:
        teardown(h)


# --- a devnet's whole life: foreground, Ctrl-C, down, up again with the same vaults ------------------------
@pytest.mark.slow
def test_devnet_life_foreground_then_detached_keeps_vaults(tmp_path: Path) -> None:
    h = tmp_path / "net"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    env.update(GRIDLOCK_HOME=str(h), GRIDLOCK_PASSWORD=PASSWORD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridlock.cli", "devnet", "up", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while True:  # the JSON document, once the devnet is ready
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
            if line.startswith("}"):
                break
        doc = json.loads("".join(lines))
        assert doc["running"] and doc["host_pid"] == proc.pid  # the foreground process is the host
        v = ok(gl(h, "vault", "create", "--scheme", "frost-secp256k1", "--json"))
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(30) == 0
        assert json.loads((h / "devnet.json").read_text())["running"] is None

        r = gl(h, "devnet", "status", "--json", password=None)
        assert r.rc == 3 and r.doc["running"] is False and r.doc["vaults"] == 1
        fails(gl(h, "sign", v["id"], "--message", "00"), 3, "not running", "devnet up")
        assert ok(gl(h, "devnet", "down", "--json", password=None))["stopped"] is False  # idempotent
        fails(gl(h, "devnet", "up", "--detach", password="wrong password!"), 4, "wrong password")
        ok(gl(h, "devnet", "up", "--detach"))
        s = ok(gl(h, "sign", v["id"], "--message", "beef", "--json"))
        assert verify("frost-secp256k1", bytes.fromhex(v["public_key"]), b"\xbe\xef", bytes.fromhex(s["signature"]))
        pids = pids_of(h)
        assert ok(gl(h, "devnet", "down", "--json", password=None)) == {
            "dir": str(h),
            "stopped": True,
            "running": False,
        }
        assert not any(alive(p) for p in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        teardown(h)


def test_guardian_run_with_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "g.toml"
    cfg.write_text('name = "x"\ndata_dir = "."\nrouter = "http://nope"\ndirectory = "d.json"\n')
    fails(gl(tmp_path, "guardian", "run", "--config", str(cfg)), 2, "router must be a nats:// URL")
    fails(gl(tmp_path, "guardian", "run", "--config", str(tmp_path / "missing.toml")), 2, "does not exist")


def test_commands_without_a_devnet(tmp_path: Path) -> None:
    h = tmp_path / "none"
    err = fails(gl(h, "devnet", "status", "--json"), 3, "no devnet", "devnet up")
    assert err["code"] == "no-devnet"
    fails(gl(h, "vault", "create", "--scheme", "ed25519"), 3, "no devnet")
    assert not h.exists()  # nothing was created by a failing command


# --- NATS: guardians as separate processes on a real nats-server -----------------------------------------
def test_nats_devnet_with_guardian_processes(tmp_path: Path) -> None:
    need_nats_server()
    h = tmp_path / "nats"
    try:
        up = ok(gl(h, "devnet", "up", "--nats", "--detach", "--json"))
        assert up["mode"] == "nats" and up["router"].startswith("nats://127.0.0.1:")
        pids = {g["name"]: g["pid"] for g in up["guardians"]}
        assert len(set(pids.values())) == 5 and up["host_pid"] not in pids.values()  # five processes
        # the devnet's NATS admits only its guardians' and client's keys (issue 18): an outsider is refused
        assert "authorization" in (h / "nats" / "nats-server.conf").read_text()
        with pytest.raises(RouterRefused):
            asyncio.run(NatsTransport(up["router"], "outsider", connect_timeout=2.0).start())
        v = ok(gl(h, "vault", "create", "--scheme", "ed25519", "--json"))
        ok(gl(h, "guardian", "stop", "enclave"))
        assert not alive(pids["enclave"])
        s = ok(gl(h, "sign", v["id"], "--message", "cafe", "--json"))
        assert verify("frost-ed25519", bytes.fromhex(v["public_key"]), b"\xca\xfe", bytes.fromhex(s["signature"]))
    finally:
        teardown(h)


@pytest.mark.slow
def test_nats_devnet_every_command(tmp_path: Path) -> None:
    """The embedded module's paths over NATS: taproot and ECDSA vaults, too few guardians, refresh,
    replace, a down/up cycle in the other mode."""
    need_nats_server()
    h = tmp_path / "nats-all"
    try:
        ok(gl(h, "devnet", "up", "--nats", "--detach", "--spare", "backup"))
        v = ok(gl(h, "vault", "create", "--scheme", "taproot", "--json"))
        pk = bytes.fromhex(v["public_key"])
        fails(gl(h, "devnet", "up", "--nats", "--detach"), 5, "already running")
        ok(gl(h, "guardian", "stop", "enclave", "cloud", "device"))
        fails(gl(h, "sign", v["id"], "--message", "cafe"), 3, "enclave", "cloud", "device")
        ok(gl(h, "guardian", "start", "enclave", "cloud", "device"))
        assert ok(gl(h, "refresh", v["id"], "--json"))["epoch"] == 1
        assert "backup" in ok(gl(h, "guardian", "replace", v["id"], "watch", "backup", "--json"))["guardians"]
        p = tmp_path / "tx.psbt"
        p.write_text(bitcoin_psbt(pk, "frost-taproot"))
        assert ok(
            gl(h, "sign-tx", "--yes", v["id"], "--chain", "bitcoin", "--network", "regtest", "--tx", str(p), "--json")
        )["tx_hex"]
        e = ok(gl(h, "vault", "create", "--scheme", "ecdsa", "--json"))
        f = tmp_path / "eth.json"
        f.write_text(json.dumps(ETH_TX))
        signed = ok(gl(h, "sign-tx", "--yes", e["id"], "--chain", "ethereum", "--tx", str(f), "--json"))
        assert Account.recover_transaction(signed["tx_hex"]) == e["addresses"]["ethereum"]
        ok(gl(h, "devnet", "down"))
        ok(gl(h, "devnet", "up", "--detach"))  # the same guardians and vaults, now embedded
        s = ok(gl(h, "sign", v["id"], "--message", "beef", "--json"))
        assert verify("frost-taproot", pk, b"\xbe\xef", bytes.fromhex(s["signature"]))
    finally:
        teardown(h)
