"""The CLI against guardians of one's own (issue 16, "The CLI beyond the devnet"): no devnet anywhere.

A deployment as an operator sets it up: an access-controlled ``nats-server`` (every endpoint its own
NKEY), three guardians made with ``gridlock guardian init`` and run with ``gridlock guardian run``
(separate processes, each with its own secret), and the owner's profile made with ``gridlock init``.
Every owner command then runs through the profile, exactly as against a devnet.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey
from eth_account import Account

from conftest import need_nats_server
from gridlock.cli.errors import CliError
from gridlock.cli.keyring import Keyring
from gridlock.cli.profile import DeploymentProfile, DevnetProfile, Route, load_profile
from gridlock.crypto.ecdsa.online import verify as ecdsa_verify
from gridlock.devnet.layout import Paths
from gridlock.devnet.stores import open_configured
from gridlock.errors import InvalidParameterError
from gridlock.guardian.config import SECRET_ENV, GuardianConfig, config_text
from gridlock.local import verify
from gridlock.transport import NatsAccess, NatsServer, NkeySeed
from gridlock.wire import Identity
from test_cli import ETH_TX, Run, fails, ok

PASSWORD = "a profile password for tests"
NAMES = ("alice", "bob", "carol", "dave")  # dave: known to the directory, outside the first vault


def gl(profile: Path, *args: str, password: str | None = PASSWORD, timeout: float = 180, **env: str) -> Run:
    """``gridlock ARGS`` with the profile as ``--dir``'s default (``$GRIDLOCK_HOME``), nothing of a devnet."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    environ.update({"GRIDLOCK_HOME": str(profile), "COLUMNS": "200", **env})
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


@dataclass
class Deployment:
    """An operator's guardians on an access-controlled NATS server, and the owner's profile."""

    root: Path
    server: NatsServer
    profile: Path
    ids: dict[str, str] = field(default_factory=dict)  # name -> guardian id
    nkeys: dict[str, NkeySeed] = field(default_factory=dict)  # endpoint id -> NATS key
    secrets: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)  # `gridlock init --json`

    @property
    def directory(self) -> Path:
        return self.root / "directory.json"

    def config(self, name: str) -> Path:
        return self.root / name / "guardian.toml"

    def make_guardian(self, name: str) -> dict[str, Any]:
        """What an operator does on a guardian's host: its configuration, NATS key and ``guardian init``."""
        gdir = self.root / name
        gdir.mkdir(parents=True)
        key = NkeySeed.generate()
        key.save(gdir / "nats.nkey")
        url, directory = self.server.url, "../directory.json"
        text = config_text(name, url, directory, session_timeout=15.0, recovery_delay=3600.0, nats_key="nats.nkey")
        self.config(name).write_text(text)
        self.secrets[name] = os.urandom(32).hex()
        info = ok(gl(self.profile, "guardian", "init", "--config", str(self.config(name)), "--json", **self.env(name)))
        assert info["name"] == name
        self.ids[name] = info["id"]
        self.nkeys[info["id"]] = key
        return dict(info)

    def env(self, name: str) -> dict[str, str]:
        return {SECRET_ENV: self.secrets[name]}

    def admit(self) -> None:
        """The server admits every guardian and the owner's client (each on its own subject)."""
        guardians = {gid: self.nkeys[gid].public for gid in self.ids.values()}
        clients = {self.client["client_id"]: self.client["nats_public"]}
        self.server.authorize(NatsAccess.for_network(guardians, clients))

    def run(self, name: str) -> None:
        """``gridlock guardian run`` as its own process; returns once it prints ``{"ready": ID}``."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")} | self.env(name)
        log = open(self.root / name / "guardian.log", "ab")  # noqa: SIM115 -- the child's stderr
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridlock.cli", "guardian", "run", "--config", str(self.config(name))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=environ,
        )
        log.close()
        self.procs[name] = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else b""
        assert json.loads(line or b"{}").get("ready") == self.ids[name], (self.root / name / "guardian.log").read_text()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.server.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    need_nats_server()
    root = tmp_path_factory.mktemp("deployment")
    nobody = NatsAccess.for_network({}, {"nobody": NkeySeed.generate().public})  # access-controlled from the start
    d = Deployment(root / "operator", NatsServer.start(access=nobody), root / "owner")
    try:
        for name in NAMES:
            d.make_guardian(name)
        publics = {n: bytes.fromhex((d.root / n / "public-identity.hex").read_text().strip()).hex() for n in NAMES}
        d.directory.write_text(json.dumps({"guardians": {d.ids[n]: publics[n] for n in NAMES}, "clients": {}}))
        # the owner: a profile from the operator's router URL and directory
        d.client = ok(gl(d.profile, "init", "--router", d.server.url, "--directory", str(d.directory), "--json"))
        # the operator admits the owner: its identity in every guardian's directory, its key on the server
        doc = json.loads(d.directory.read_text())
        doc["clients"].update(d.client["directory_entry"]["clients"])
        d.directory.write_text(json.dumps(doc))
        d.admit()
        for name in NAMES:
            d.run(name)
        yield d
    finally:
        d.stop()


def test_init_makes_an_owner_profile_without_guardian_secrets(deployment: Deployment) -> None:
    d, p = deployment, deployment.profile
    assert d.client["created"] and d.client["router"] == d.server.url
    assert sorted(g["name"] for g in d.client["guardians"]) == sorted(NAMES)
    assert (p / "profile.json").exists() and not (p / "devnet.json").exists()
    assert (p.stat().st_mode & 0o777) == 0o700 and (p / "keyring.json").stat().st_mode & 0o077 == 0
    assert (p / "nats.nkey").stat().st_mode & 0o077 == 0
    keyring = json.loads((p / "keyring.json").read_text())
    for secret in d.secrets.values():  # no guardian secret in the owner's keyring (ciphertext or not)
        assert secret not in json.dumps(keyring)
    unlocked = Keyring.load(p / "keyring.json", PASSWORD)
    assert unlocked.guardian_secrets == {} and unlocked.client_id == d.client["client_id"]
    # a second init keeps the keyring and takes a new directory
    again = ok(gl(p, "init", "--directory", str(d.directory), "--json", password=None))
    assert not again["created"] and again["client_id"] == d.client["client_id"]
    fails(gl(p, "init", "--nats-key", str(p / "nats.nkey")), 2, "NATS key already")


def test_vault_create_address_sign_sign_tx_refresh_through_the_profile(deployment: Deployment, tmp_path: Path) -> None:
    """The "done when" of issue 16: every everyday command, against real guardian processes."""
    p = deployment.profile
    listed = ok(gl(p, "guardian", "list", "--json"))
    assert {g["name"]: g["answers"] for g in listed["guardians"]} == dict.fromkeys(NAMES, True)
    create = ("vault", "create", "--scheme", "ecdsa", "-t", "2", "-g", "alice,bob,carol", "--name", "main", "--json")
    created = gl(p, *create)
    v = ok(created)
    assert "not for real funds" not in created.err  # a profile of one's own guardians is not a devnet
    assert v["guardians"] == ["alice", "bob", "carol"] and v["threshold"] == 2
    pk = bytes.fromhex(v["public_key"])
    eth = ok(gl(p, "address", "main", "--chain", "ethereum", "--json", password=None))["address"]
    assert [x["id"] for x in ok(gl(p, "vault", "list", "--json", password=None))["vaults"]] == [v["id"]]

    digest = hashlib.sha256(b"a real deployment").digest()
    s = ok(gl(p, "sign", "main", "--message", digest.hex(), "--json"))
    assert ecdsa_verify(pk, digest, bytes.fromhex(s["signature"]))
    f = tmp_path / "eth.json"
    f.write_text(json.dumps(ETH_TX))
    signed = ok(gl(p, "sign-tx", "main", "--chain", "ethereum", "--tx", str(f), "--yes", "--json"))
    assert Account.recover_transaction(signed["tx_hex"]) == eth  # eth-account, not ours, checks it

    assert ok(gl(p, "refresh", "main", "--json"))["epoch"] == 1
    s = ok(gl(p, "sign", "main", "--message", digest.hex(), "--json"))  # the new shares sign for the same key
    assert ecdsa_verify(pk, digest, bytes.fromhex(s["signature"]))

    # a guardian the directory does not know: the hint says how a profile learns of one
    fails(gl(p, "guardian", "replace", "main", "carol", "mallory"), 2, "unknown guardian", "directory.json")


def test_a_profile_without_its_nats_key_is_refused_by_the_server(deployment: Deployment, tmp_path: Path) -> None:
    """The owner's NATS key is what the server admits: a copy of the profile without it gets nowhere."""
    p = deployment.profile
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("keyring.json", "directory.json", "vaults.json"):
        if (p / name).exists():
            (copy / name).write_bytes((p / name).read_bytes())
    doc = json.loads((p / "profile.json").read_text()) | {"nats_key": None}
    (copy / "profile.json").write_text(json.dumps(doc))
    err = fails(gl(copy, "guardian", "list", "--json"), 3, "NATS key", "operator")
    assert err["code"] == "router-unavailable"


def test_profile_selection_and_a_missing_profile(tmp_path: Path) -> None:
    home = tmp_path / "home"
    err = fails(gl(tmp_path / "none", "vault", "list", "--json"), 3, "no devnet or profile", "gridlock init")
    assert err["code"] == "no-devnet"
    fails(gl(tmp_path / "none", "--profile", "../etc", "vault", "list"), 2, "bad profile name")
    # --profile NAME is ~/.gridlock/NAME
    r = gl(tmp_path / "none", "--profile", "work", "vault", "list", "--json", HOME=str(home))
    assert r.rc == 3 and str(home / ".gridlock" / "work") in r.err
    r = gl(tmp_path / "none", "vault", "list", "--json", HOME=str(home), GRIDLOCK_PROFILE="other")
    assert r.rc == 3 and str(home / ".gridlock" / "other") in r.err


def test_init_checks_its_inputs(tmp_path: Path) -> None:
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps({"guardians": {}, "clients": {}}))
    p = tmp_path / "p"
    fails(gl(p, "init", "--directory", str(directory)), 2, "--router")
    fails(gl(p, "init", "--router", "http://x:4222", "--directory", str(directory)), 2, "nats://")
    fails(gl(p, "init", "--router", "nats://x:4222", "--directory", str(directory)), 2, "at least two")
    fails(gl(p, "init", "--router", "nats://x:4222", "--directory", str(tmp_path / "missing.json")), 2, "not exist")
    assert not p.exists()  # nothing made by a failing init
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"guardians": {}, "clients": {}}))
    _two_guardian_directory(two)
    busy = tmp_path / "busy"
    busy.mkdir(mode=0o755)
    (busy / "notes.txt").write_text("mine")
    fails(gl(busy, "init", "--router", "nats://x:4222", "--directory", str(two)), 5, "not empty")
    assert busy.stat().st_mode & 0o777 == 0o755 and sorted(x.name for x in busy.iterdir()) == ["notes.txt"]


def test_add_remove_threshold_repair_through_the_profile(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's committee changes from the CLI: the key stays, the committee and threshold change."""
    p = deployment.profile
    v = ok(gl(p, "vault", "create", "--scheme", "ed25519", "-t", "2", "-g", "alice,bob,carol", "--json"))
    pk, vid = bytes.fromhex(v["public_key"]), v["id"]

    def signs(message: bytes) -> None:
        s = ok(gl(p, "sign", vid, "--message", message.hex(), "--json"))
        assert verify("frost-ed25519", pk, message, bytes.fromhex(s["signature"]))

    added = ok(gl(p, "vault", "add-guardian", vid, "dave", "--json"))
    assert added["guardians"] == ["alice", "bob", "carol", "dave"] and added["epoch"] == 1
    assert added["public_key"] == v["public_key"] and added["threshold"] == 2
    fails(gl(p, "vault", "add-guardian", vid, "dave"), 2, "already holds")
    assert ok(gl(p, "vault", "threshold", vid, "3", "--json"))["threshold"] == 3
    fails(gl(p, "vault", "threshold", vid, "5"), 2, "between 2 and")
    removed = ok(gl(p, "vault", "remove-guardian", vid, "alice", "--threshold", "2", "--json"))
    assert removed["guardians"] == ["bob", "carol", "dave"] and removed["threshold"] == 2
    book = ok(gl(p, "vault", "show", vid, "--json", password=None))
    assert book["guardians"] == ["bob", "carol", "dave"] and book["epoch"] == removed["epoch"]
    signs(b"after the committee changed")

    # carol's disk is gone: her keystore no longer has the vault (her identity stays with her operator)
    deployment.procs.pop("carol").terminate()
    monkeypatch.setenv(SECRET_ENV, deployment.secrets["carol"])
    store = open_configured(GuardianConfig.load(deployment.config("carol")))
    try:
        store.delete_vault(vid)
    finally:
        store.close()
    deployment.run("carol")
    fails(gl(p, "vault", "repair", vid, "alice"), 2, "not a guardian")
    repaired = ok(gl(p, "vault", "repair", vid, "carol", "--json"))
    assert repaired["repaired"] == "carol" and repaired["epoch"] > removed["epoch"]
    signs(b"after the repair")


def test_export_is_owner_approved_and_bound_by_the_policy(deployment: Deployment, tmp_path: Path) -> None:
    p = deployment.profile
    v = ok(gl(p, "vault", "create", "--scheme", "ecdsa", "-t", "2", "-g", "bob,carol,dave", "--json"))
    out = tmp_path / "key.hex"
    fails(gl(p, "vault", "export", v["id"], "--out", str(out)), 2, "--yes")  # no terminal to confirm on
    assert not out.exists()
    doc = ok(gl(p, "vault", "export", v["id"], "--out", str(out), "--yes", "--json"))
    assert doc["out"] == str(out) and out.read_text().strip() not in json.dumps(doc)  # the key only in the file
    assert out.stat().st_mode & 0o077 == 0
    secret = bytes.fromhex(out.read_text().strip())
    assert PrivateKey(secret).public_key.format().hex() == v["public_key"]  # coincurve rebuilds the same key
    fails(gl(p, "vault", "export", v["id"], "--out", str(out), "--yes"), 2, "exists")
    # a policy with a chain rule and no `export: true`: every guardian refuses
    ok(gl(p, "policy", "set", v["id"], "--limit", "ethereum:1000000000000000000/86400"))
    err = fails(gl(p, "vault", "export", v["id"], "--out", str(tmp_path / "again"), "--yes", "--json"), 1, "export")
    assert "policy" in err["message"] and not (tmp_path / "again").exists()


def test_keyring_backup_restore_and_password_change(deployment: Deployment, tmp_path: Path) -> None:
    """A fresh machine made from the backup is the owner: it signs for the profile's vaults."""
    p = deployment.profile
    v = ok(gl(p, "vault", "create", "--scheme", "ed25519", "-t", "2", "-g", "alice,bob,dave", "--json"))
    backup = tmp_path / "owner.backup"
    ok(gl(p, "keyring", "backup", "--out", str(backup), "--json"))
    text = backup.read_text()
    assert "SU" not in text and PASSWORD not in text and deployment.client["client_id"] not in text  # all sealed
    fresh = tmp_path / "new-machine"
    fails(gl(fresh, "keyring", "restore", str(backup), password="not the password"), 4, "wrong password")
    assert not (fresh / "keyring.json").exists()
    restored = ok(gl(fresh, "keyring", "restore", str(backup), "--json"))
    assert restored["client_id"] == deployment.client["client_id"]
    fails(gl(fresh, "keyring", "restore", str(backup)), 5, "not empty")
    s = ok(gl(fresh, "sign", v["id"], "--message", "cafe", "--json"))
    assert verify("frost-ed25519", bytes.fromhex(v["public_key"]), b"\xca\xfe", bytes.fromhex(s["signature"]))

    new = "another long password"
    fails(gl(fresh, "keyring", "password", GRIDLOCK_NEW_PASSWORD="short"), 2, "at least")
    changed = ok(gl(fresh, "keyring", "password", "--json", GRIDLOCK_NEW_PASSWORD=new))
    assert changed["changed"] and changed["guardians_password_unchanged"]
    fails(gl(fresh, "sign", v["id"], "--message", "cafe"), 4, "wrong password")
    ok(gl(fresh, "sign", v["id"], "--message", "cafe", password=new))
    # tampering: a backup whose header asks for a weaker KDF does not open
    doc = json.loads(text)
    doc["kdf"]["time_cost"] = 2
    weak = tmp_path / "weak.backup"
    weak.write_text(json.dumps(doc))
    fails(gl(tmp_path / "other", "keyring", "restore", str(weak)), 4, "wrong password")


def test_devnet_keyring_is_not_backed_up_as_an_owner_profile(tmp_path: Path) -> None:
    h = tmp_path / "devnet"
    h.mkdir()
    (h / "devnet.json").write_text(json.dumps({"format": "gridlock-devnet/1", "guardians": [], "running": None}))
    fails(gl(h, "keyring", "backup", "--out", str(tmp_path / "b")), 2, "not for real funds")
    fails(gl(h, "init", "--router", "nats://x:1", "--directory", str(tmp_path / "d.json")), 5, "holds a devnet")


def test_policy_audit_recover_and_remote_show_through_the_profile(deployment: Deployment) -> None:
    """Owner security through a profile: the guardians keep the policy, log it, and hold the recovery."""
    p = deployment.profile
    v = ok(gl(p, "vault", "create", "--scheme", "ed25519", "-t", "2", "-g", "alice,bob,carol", "--json"))
    ok(gl(p, "policy", "set", v["id"], "--limit", "solana:1000000/86400", "--json"))
    shown = ok(gl(p, "policy", "show", v["id"], "--json"))
    assert {g: r["rules"]["limits"]["solana"]["amount"] for g, r in shown["guardians"].items()} == dict.fromkeys(
        ["alice", "bob", "carol"], 1_000_000
    )
    audit = ok(gl(p, "audit", v["id"], "-g", "bob", "--json"))["guardians"]["bob"]
    assert audit["ok"] and {"keygen", "policy-set"} <= {e["op"] for e in audit["entries"]}
    assert (p / "audit-heads.json").exists()  # kept in the profile for the next audit
    assert ok(gl(p, "vault", "show", v["id"], "--remote", "--json"))["public_key"] == v["public_key"]
    started = ok(gl(p, "recover", "start", v["id"], "--json"))
    assert len(started["unlock_at"]) == 3
    status = ok(gl(p, "recover", "status", v["id"], "--json"))
    assert all(g["state"] == "open" for g in status["guardians"].values())
    fails(gl(p, "recover", "finish", v["id"]), 1, "time")  # the guardians' hour-long time lock
    ok(gl(p, "recover", "cancel", v["id"], "--json"))


# --- the Profile abstraction, without a network ----------------------------------------------------
def _two_guardian_directory(path: Path) -> dict[str, str]:
    ids = {}
    doc: dict[str, Any] = {"guardians": {}, "clients": {}}
    for name in ("alice", "bob"):
        ident = Identity.generate(name=name)
        ids[name] = ident.guardian_id
        doc["guardians"][ident.guardian_id] = ident.public.to_bytes().hex()
    path.write_text(json.dumps(doc))
    return ids


def test_a_deployment_profile_names_its_guardians_and_routes_to_its_router(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    ids = _two_guardian_directory(paths.directory)
    doc = {"format": "gridlock-profile/1", "client_id": "c" * 32, "router": "nats://h:4222", "nats_key": "k.nkey"}
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    profile = load_profile(paths)
    assert isinstance(profile, DeploymentProfile) and profile.for_real_funds
    assert profile.names() == {ids["alice"]: "alice", ids["bob"]: "bob", "c" * 32: "owner"}
    assert profile.resolve_guardian("bob")["id"] == ids["bob"]
    assert profile.resolve_guardian(ids["alice"][:6])["name"] == "alice"
    with pytest.raises(CliError, match="unknown guardian") as err:
        profile.resolve_guardian("carol")
    assert err.value.hint is not None and "alice, bob" in err.value.hint
    route = profile.route()
    assert route == Route("nats://h:4222", nkey=tmp_path / "k.nkey", session_timeout=30.0) and not route.bridge
    twin = Identity.generate(name="bob")  # another guardian calling itself bob: names no longer tell
    directory = json.loads(paths.directory.read_text())
    directory["guardians"][twin.guardian_id] = twin.public.to_bytes().hex()
    paths.directory.write_text(json.dumps(directory))
    with pytest.raises(CliError, match="ambiguous"):
        load_profile(paths).resolve_guardian("bob")
    assert load_profile(paths).resolve_guardian(twin.guardian_id)["id"] == twin.guardian_id
    (tmp_path / "profile.json").write_text(json.dumps(doc | {"router": "http://h"}))
    with pytest.raises(CliError, match="nats://") as err:
        load_profile(paths).route()
    assert err.value.exit_code == 2


def test_a_devnet_profile_is_not_for_real_funds_and_needs_its_host(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    state = {"format": "gridlock-devnet/1", "client_id": "c" * 32, "guardians": [], "running": None}
    (tmp_path / "devnet.json").write_text(json.dumps(state))
    (tmp_path / "profile.json").write_text("{}")  # a devnet's state file decides
    profile = load_profile(paths)
    assert isinstance(profile, DevnetProfile) and not profile.for_real_funds
    with pytest.raises(CliError, match="not running") as err:
        profile.route()
    assert err.value.exit_code == 3


def test_routes_and_profile_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError):
        Route("ws://h:1")
    with pytest.raises(InvalidParameterError):
        Route("nats://h:1", session_timeout=0.0)
    assert Route("/tmp/x.sock", bridge=True).bridge
    (tmp_path / "profile.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CliError, match="not a gridlock profile"):
        load_profile(Paths(tmp_path))
    with pytest.raises(CliError, match="no devnet or profile") as err:
        load_profile(Paths(tmp_path / "empty"))
    assert err.value.code == "no-devnet" and err.value.hint is not None and "gridlock init" in err.value.hint
