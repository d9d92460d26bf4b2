"""Pieces of the CLI in process: public HD derivation, the keyring, the router bridge, policy options,
error classification."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from typer.testing import CliRunner

from gridlock import local
from gridlock.cli.errors import AUTH, FAILED, UNAVAILABLE, USAGE, CliError, classify
from gridlock.cli.keyring import Keyring, _aad
from gridlock.cli.main import app
from gridlock.cli.policy_options import PolicyOptions, apply, describe
from gridlock.client import DeviceKeys, GuardianTimeout, OperationFailed
from gridlock.crypto import hd
from gridlock.errors import DecodeError
from gridlock.transport.bridge import BridgeServer, BridgeTransport, request
from gridlock.transport.errors import RecvTimeout, RouterUnavailable, TransportClosed
from gridlock.transport.local import LocalRouter
from gridlock.wire.control import RequestRefused


@pytest.mark.parametrize("scheme", ["ecdsa-secp256k1", "frost-secp256k1", "frost-taproot", "frost-ed25519"])
def test_public_derivation_matches_the_shares(scheme: str) -> None:
    share = local.keygen(scheme, threshold=2, n=3)[0]
    for path in ("m/0", "m/0/1", "m/7/2/1"):
        child = hd.derive(share, path)
        assert hd.derive_public(scheme, share.untweaked_key_bytes, share.chain_code, path) == child.public_key
    with pytest.raises(Exception, match="hardened"):
        hd.derive_public(scheme, share.untweaked_key_bytes, share.chain_code, "m/0'")


def test_keyring_round_trip_wrong_password_and_tampering(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    k = Keyring.create("a good password")
    k.guardian_secrets["device"] = "ab" * 32
    k.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "ab" * 32 not in text and k.device.hex() not in text
    again = Keyring.load(path, "a good password")
    assert (
        again.client_id == k.client_id and again.device == k.device and again.guardian_secrets == {"device": "ab" * 32}
    )
    with pytest.raises(CliError) as err:
        Keyring.load(path, "another password")
    assert err.value.exit_code == AUTH and err.value.code == "wrong-password"
    doc = json.loads(text)
    doc["kdf"]["time_cost"] = 4  # a header edit (e.g. to another KDF setting) breaks authentication
    path.write_text(json.dumps(doc))
    with pytest.raises(CliError) as err:
        Keyring.load(path, "a good password")
    assert err.value.exit_code == AUTH
    with pytest.raises(CliError) as err:
        Keyring.create("short")
    assert err.value.exit_code == USAGE


def test_keyring_keeps_each_vaults_device_key_through_a_recovery(tmp_path: Path) -> None:
    """Issue 14: the keyring stores the old key a vault still answers to and the recovery's new key
    (encrypted); a keyring from before per-vault keys opens with its device key for every vault."""
    path = tmp_path / "keyring.json"
    k = Keyring.create("a good password")
    old = k.device
    k.keys = k.keys.start("v1").start("v2").finish("v1", ["v1", "v2", "v3"])
    k.save(path)
    assert old.hex() not in path.read_text() and k.device.hex() not in path.read_text()
    again = Keyring.load(path, "a good password")
    assert again.keys == k.keys and again.device != old
    assert again.keys.key_for("v2") == again.keys.key_for("v3") == old and again.keys.key_for("v1") == k.device

    # the same file as an older gridlock wrote it: "device" and "pending_device", nothing per vault
    body = {"identity": k.identity.to_bytes().hex(), "device": old.hex(), "guardian_secrets": {}}
    legacy = Keyring(k.identity, DeviceKeys(old), {}, k._kdf, k._key)
    legacy.save(path)
    doc = json.loads(path.read_text())
    nonce = bytes.fromhex(doc["nonce"])
    plain = {**body, "pending_device": "cd" * 32}
    doc["ciphertext"] = AESGCM(k._key).encrypt(nonce, json.dumps(plain).encode(), _aad(k.client_id, k._kdf)).hex()
    path.write_text(json.dumps(doc))
    loaded = Keyring.load(path, "a good password")
    assert loaded.keys == DeviceKeys(old)  # the unfinished legacy recovery's key is not carried over
    # a damaged device-key table is a damaged keyring (exit code 4), not a crash
    plain = {**body, "held": {"v1": "not hex"}}
    doc["ciphertext"] = AESGCM(k._key).encrypt(nonce, json.dumps(plain).encode(), _aad(k.client_id, k._kdf)).hex()
    path.write_text(json.dumps(doc))
    with pytest.raises(CliError) as err:
        Keyring.load(path, "a good password")
    assert err.value.exit_code == AUTH and err.value.code == "keyring-corrupt"


def test_bridge_carries_messages_both_ways(tmp_path: Path) -> None:
    async def main() -> None:
        router = LocalRouter()
        inside = router.connect("guardian-1")
        await inside.start()

        async def control(req: dict[str, object]) -> dict[str, object]:
            return {"ok": True, "echo": req.get("op")}

        server = BridgeServer(tmp_path / "s.sock", router, control)
        await server.start()
        try:
            assert await request(tmp_path / "s.sock", {"op": "status"}) == {"ok": True, "echo": "status"}
            a = BridgeTransport(tmp_path / "s.sock", "client-a")
            b = BridgeTransport(tmp_path / "s.sock", "client-a")  # a second process of the same owner
            await a.start()
            await b.start()
            await a.send("guardian-1", b"hello")
            assert await inside.recv(timeout=2) == b"hello"
            await inside.send("client-a", b"reply")
            assert await a.recv(timeout=2) == b"reply" and await b.recv(timeout=2) == b"reply"
            with pytest.raises(RecvTimeout):
                await a.recv(timeout=0.05)
            taken = BridgeTransport(tmp_path / "s.sock", "guardian-1")  # a name the router already has
            with pytest.raises(RouterUnavailable):
                await taken.start()
            await a.close()
            with pytest.raises(TransportClosed):
                await a.send("guardian-1", b"x")
            await server.close()
            with pytest.raises(RouterUnavailable):
                await b.recv(timeout=2)  # the host went away
            await b.close()
        finally:
            await server.close()
            await router.close()

    asyncio.run(main())


def test_policy_options_merge_into_the_current_policy() -> None:
    current = {"limits": {"bitcoin": {"amount": 5, "period": 60}}, "allow": {"solana": ["1" * 32]}}
    o = PolicyOptions(
        limits=("ethereum:1000/60", "ethereum:0xToken:7"),
        timelocks=("solana:10:3600",),
        rate="20/3600",
        raw_signing="on",
    )
    rules = apply(current, o)
    assert rules["limits"] == {
        "bitcoin": {"amount": 5, "period": 60},  # kept: set merges, it does not replace
        "ethereum": {"amount": 1000, "period": 60},
        "ethereum:0xToken": {"amount": 7, "period": 86400},
    }
    assert rules["allow"] == {"solana": ["1" * 32]} and rules["raw_signing"] is True
    assert rules["timelock"] == {"solana": {"above": 10, "delay": 3600}}
    assert rules["rate"] == {"max": 20, "period": 3600}
    removed = apply(rules, PolicyOptions(remove=("limit:bitcoin", "rate")))
    assert "bitcoin" not in removed["limits"] and "rate" not in removed
    assert PolicyOptions().empty() and not o.empty()
    for bad in (
        PolicyOptions(limits=("moon:1",)),
        PolicyOptions(limits=("ethereum",)),
        PolicyOptions(limits=("ethereum:-1",)),
        PolicyOptions(rate="many"),
        PolicyOptions(raw_signing="maybe"),
        PolicyOptions(remove=("limit:cosmos",)),
        PolicyOptions(disallow=("bitcoin:bc1qnothere",)),
    ):
        with pytest.raises(CliError):
            apply(current, bad)


def test_classification_names_guardians() -> None:
    names = {"a" * 32: "watch"}
    err = classify(GuardianTimeout(["a" * 32], "signing"), names)
    assert err.exit_code == UNAVAILABLE and "watch" in err.message and "watch" in (err.hint or "")
    assert classify(RouterUnavailable("gone")).exit_code == UNAVAILABLE
    assert classify(DecodeError("bad")).exit_code == USAGE
    assert classify(RuntimeError("boom")).exit_code == FAILED


def test_classification_of_refusals_and_failed_operations() -> None:
    held = classify(RequestRefused("policy", "over the daily limit", "a" * 32), {"a" * 32: "watch"})
    assert (held.code, held.exit_code) == ("refused:policy", FAILED) and "watch" in held.message
    assert classify(RequestRefused("wrong-password", "no")).exit_code == AUTH
    refusals = {"g1": RequestRefused("wrong-password", "no"), "g2": RequestRefused("rate-limited", "")}
    wrong = OperationFailed("replace", refusals)
    assert (classify(wrong).code, classify(wrong).exit_code) == ("wrong-password", AUTH)
    gone = OperationFailed("refresh", {"g1": GuardianTimeout(["g1"], "refresh")})
    assert (classify(gone).code, classify(gone).exit_code) == ("guardians-unreachable", UNAVAILABLE)
    mixed = OperationFailed("refresh", {"g1": GuardianTimeout(["g1"], "refresh"), "g2": RequestRefused("policy", "")})
    assert classify(mixed).code == "operation-failed"


HELP_PAGES = [
    "",
    "devnet up",
    "devnet status",
    "devnet down",
    "vault create",
    "vault list",
    "vault show",
    "address",
    "sign",
    "sign-tx",
    "sign-message",
    "tx build",
    "refresh",
    "guardian replace",
    "guardian list",
    "guardian run",
    "recover start",
    "recover status",
    "recover cancel",
    "recover finish",
    "policy set",
    "policy show",
    "audit",
]


@pytest.mark.parametrize("command", HELP_PAGES)
def test_every_help_page_renders(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_a_policy_is_shown_in_words() -> None:
    doc = apply({}, PolicyOptions(limits=("ethereum:1000/60",), rate="3/9", raw_signing="on"))
    text = describe(doc)
    assert "limit ethereum: 1000 per 1 min" in text and "rate: 3 signatures per 9 s" in text
    assert "raw signing on" in text and "{" not in text
    assert describe({}) == "no rules (everything is signed)"
