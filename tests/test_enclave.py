"""The enclave emulation against the official Secret Network Python client (``secret-sdk``).

The client side of every round trip is secret-sdk's own ``EncryptionUtils`` / ``MsgExecuteContract``
/ ``LCDClient``; the enclave side is ``gridlock.enclave``.  Known-answer vectors come from
``research/secret-network.md`` §10 (confirmed there against secret-sdk and secretjs).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridlock import local
from gridlock.crypto import codec
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.sealed import SealedShare
from gridlock.enclave import (
    CUSTODY_CODE,
    ENCLAVE_MEASUREMENT,
    AttestationAuthority,
    ConsensusFailure,
    ContractError,
    LocalSecretNetwork,
    RegistrationRefused,
    crypto,
)
from gridlock.enclave.address import canonical, contract_address, human
from gridlock.enclave.errors import DecryptionFailed, InvalidKey, NotRegistered
from gridlock.enclave.lcd import LcdServer

pytest.importorskip("secret_sdk")

with warnings.catch_warnings():  # betterproto imports pkg_resources
    warnings.simplefilter("ignore")
    from miscreant.aes.siv import SIV
    from secret_sdk.core.wasm.msgs import MsgExecuteContract
    from secret_sdk.key.mnemonic import MnemonicKey
    from secret_sdk.util.encrypt_utils import EncryptionUtils

SECRET = "test sealing secret of the owner"
OWNER = human(hashlib.sha256(b"owner account").digest()[:20])
OTHER = human(hashlib.sha256(b"another account").digest()[:20])
SDK_TX_ERROR = re.compile(
    r"; message index: (\d+):(?: dispatch: submessages:)* encrypted: (.+?): "
    r"(?:instantiate|execute|query|reply to) contract failed"
)


# --- helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalSecretNetwork]:
    n = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def lcd_url(net: LocalSecretNetwork) -> Iterator[str]:
    """The network's LCD endpoint (stopped before the network)."""
    server = LcdServer(net)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return local.keygen("frost-ed25519", threshold=3, n=5)


@pytest.fixture(scope="module")
def ecdsa_shares() -> list[KeyShare]:
    return local.keygen("ecdsa-secp256k1", threshold=3, n=5)


def sdk(net: LocalSecretNetwork) -> EncryptionUtils:
    return EncryptionUtils(net.consensus_io_pubkey)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def store_msg(vault_id: str, share: KeyShare, op: str = "store_share") -> dict[str, Any]:
    return {op: {"vault_id": vault_id, "share": b64(share.to_bytes())}}


def sdk_execute(net: LocalSecretNetwork, eu: EncryptionUtils, msg: dict[str, Any], sender: str = OWNER) -> Any:
    enc = eu.encrypt(net.custody_code_hash, json.dumps(msg))
    out = net.execute(sender, net.custody_address, enc)
    # secret-sdk's own data-field decoding: hex → SIV open → base64 decode
    return json.loads(eu.decrypt_data_field(out.hex(), [enc[:32]]))


def sdk_query(net: LocalSecretNetwork, eu: EncryptionUtils, msg: dict[str, Any], node: int | None = None) -> Any:
    enc = eu.encrypt(net.custody_code_hash, json.dumps(msg))
    out = net.query(net.custody_address, enc, node=node)
    return json.loads(base64.b64decode(eu.decrypt(out, enc[:32])))


def sdk_error(eu: EncryptionUtils, exc: ContractError) -> Any:
    assert exc.encrypted is not None and exc.nonce is not None
    return json.loads(eu.decrypt(exc.encrypted, list(exc.nonce)))


def node_files(node_dir: Path) -> bytes:
    """Every file of a node, raw (SQLite splits large values over overflow pages, see below)."""
    return b"".join(p.read_bytes() for p in sorted(node_dir.rglob("*")) if p.is_file())


def node_database_values(node_dir: Path) -> bytes:
    """Every value of every table of the node's database, each contiguous (what the raw scan can
    miss when a value spans overflow pages)."""
    db = sqlite3.connect(node_dir / "chain.db")
    try:
        out = []
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in db.execute(f"SELECT * FROM {table}").fetchall():
                out += [v if isinstance(v, bytes) else str(v).encode() for v in row]
        return b"\x00".join(out)
    finally:
        db.close()


def state_rows(net: LocalSecretNetwork, i: int) -> list[tuple[Any, ...]]:
    return net.nodes[i].db.execute("SELECT contract, key, value FROM state ORDER BY contract, key").fetchall()


# --- the protocol: known answers and secret-sdk agreement ----------------------------------------------------
V = {
    "genesis": "2086e64d2272f8c83db31343f44df955487e11f5900767faa8b9b777344bf85e",
    "current": "6534c91f7cbcc904033428d60458311d728d98d3a23aa2af958cded33a7076c9",
    "io_priv": "bc62b42f5b301e8b2c63ade892995790f111dc865066a31f1daaba57e3fc6b53",
    "io_pub": "a1a9bae89b0a871e11b1df3e9a6430156368e939248e1645c0462f74c6398835",
    "seed_exchange_pub": "e18e4c5dfacbce47a0817fe2d9fb837f4422df2f7863b1ff363838402115712c",
    "state_ikm0": "4b0781030ba6344692ebcea5e0c050e7f1b2deccfa511161e4d57dab181589b3",
    "state_ikm1": "d1d8decca8400c03e7d42c832bea07c7013c422b46a8d27711715a736f81d0be",
    "callback": "85c2484f47ca83160c714bd09b3516960ead8a5b4c45104c27b966fea08bbe6b",
    "client_seed": "12052767d3477a0a8690af3f0d86252b9db9d72254e7179dfcbc3d1595b8473c",
    "client_pub": "6ee2a1aec532053a62a29721dafb817598eb0e2ec9da71720cfc180974e5ad4f",
    "nonce": "1cf52b1e1bed8a21dab464b91400c2bc0938a132170ec0bb5bde0ca395294bce",
    "code_hash": "96fa8310111995fc2bedd2f3f9258416b93cb7db5acabdea8a0ddb7d96adf02e",
    "tx_key": "2cf1323b02ac01430c467bdc26d7a3da55f26e31c170031a24cd0d5a7282498f",
    "siv": "119db8d4f8b517c979cd5daf1c186c1c568e068d194233f02c3015d86423facf88dc765a993cf7db6dabd351b0c06b9ef4dcea"
    "081d19a217ae6c7e2c4852c6e55a5f267befab23ae2e6727630f6b85efa3255b7cfecb2f",
    "siv_no_ad": "776752db47bab0e1cfc9877a004fc7ea44a639f5a06163336f3581c95d4eb075ab8857950c22952de0b3d8c3b49d666ac2f6"
    "fd36b5b223a41865e3cdaae4a206954075c1f7b17879ea01bad42544bd6e7c584079a5f005",
}


def test_known_answer_vectors_and_secret_sdk_agree() -> None:
    h = bytes.fromhex
    keys = crypto.KeyChain.from_seeds([h(V["genesis"]), h(V["current"])])
    assert keys.io_private.hex() == V["io_priv"] and keys.io_public.hex() == V["io_pub"]
    assert keys.seed_exchange_public.hex() == V["seed_exchange_pub"]
    assert [k.hex() for k in keys.state_ikm] == [V["state_ikm0"], V["state_ikm1"]]
    assert keys.callback_secret.hex() == V["callback"]
    assert "redacted" in repr(keys) and V["io_priv"] not in repr(keys)

    seed, nonce = h(V["client_seed"]), h(V["nonce"])
    assert crypto.x25519_public_key(seed).hex() == V["client_pub"]
    assert crypto.tx_encryption_key(seed, keys.io_public, nonce).hex() == V["tx_key"]
    assert crypto.tx_encryption_key(keys.io_private, h(V["client_pub"]), nonce).hex() == V["tx_key"]
    ours = crypto.encrypt_message(keys.io_public, seed, V["code_hash"], '{"a":1}', nonce)
    assert ours == nonce + h(V["client_pub"]) + h(V["siv"])
    # AD = [b""] is not "no AD": the spec-less variant gives the other vector and does not open
    assert crypto.siv_encrypt(h(V["tx_key"]), (V["code_hash"] + '{"a":1}').encode(), None).hex() == V["siv_no_ad"]

    eu = EncryptionUtils(keys.io_public, list(seed))
    eu.generate_new_seed = lambda: list(nonce)  # pin the nonce (known-answer test)
    assert bytes(eu.encrypt(V["code_hash"], '{"a":1}')) == ours
    assert eu.get_tx_encryption_key(list(nonce)).hex() == V["tx_key"]
    dec = crypto.decrypt_message(keys.io_private, ours)
    assert (dec.code_hash, dec.msg, dec.nonce) == (V["code_hash"], b'{"a":1}', nonce)
    # and the other direction: what the enclave encrypts, secret-sdk decrypts
    assert eu.decrypt(crypto.encrypt_output(dec.key, b"hello"), list(nonce)) == b"hello"
    assert eu.decrypt_data_field(crypto.encrypt_binary(dec.key, b"\x00data").hex(), [list(nonce)]) == b"\x00data"


def test_state_records_carry_the_seed_id_after_a_third_seed() -> None:
    """contract-engine's state layout: ``bincode(salt) ‖ bincode(data)``, then ``u16_le(seed id)``
    once the network holds more than two seeds; a record without it was written under seed 2."""
    two = crypto.KeyChain.from_seeds([bytes([1]) * 32, bytes([2]) * 32])
    three = crypto.KeyChain.from_seeds([bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32])
    ckey, salt = bytes(range(64)), bytes(24)
    enc_key, _ = crypto.encrypt_state_key(three.state_ikm, ckey, b"k")
    assert enc_key == crypto.encrypt_state_key(two.state_ikm, ckey, b"k")[0]  # keys: always seed 2
    old = crypto.encrypt_state_value(two.state_ikm, ckey, enc_key, b"v", salt)
    new = crypto.encrypt_state_value(three.state_ikm, ckey, enc_key, b"v", salt)
    n = len(old)
    assert len(new) == n + 2 and new[n:] == b"\x03\x00" and new[:16] == old[:16]  # same salt header
    # the value is AES-SIV under seed 3's state key (opened here with miscreant, not our cipher)
    data = new[8 + 24 + 8 : n]
    assert SIV(crypto.derive_from_key(three.state_ikm[2], ckey)).open(data, [enc_key, salt]) == b"v"
    # both read back under three seeds; a record naming a seed the enclave lacks does not
    assert crypto.decrypt_state_value(three.state_ikm, ckey, enc_key, old) == b"v"
    assert crypto.decrypt_state_value(three.state_ikm, ckey, enc_key, new) == b"v"
    for bad in (new[:n] + b"\x00\x00", new[:n] + b"\x04\x00", new + b"\x00"):
        with pytest.raises(DecryptionFailed):
            crypto.decrypt_state_value(three.state_ikm, ckey, enc_key, bad)
    with pytest.raises(DecryptionFailed):  # written under seed 3, read by an enclave with two seeds
        crypto.decrypt_state_value(two.state_ikm, ckey, enc_key, new)


def test_seed_sharing_format() -> None:
    keys = crypto.KeyChain.generate()
    reg_priv = bytes(range(32))
    reg_pub = crypto.x25519_public_key(reg_priv)
    blob = crypto.encrypt_seeds(keys.seed_exchange_private, reg_pub, keys.seeds)
    assert len(blob) == 96  # 48 bytes per seed, genesis then current
    # AES-SIV under the raw X25519 secret, AD = [registration_pub], no KDF and no nonce
    raw = crypto.x25519_shared_secret(keys.seed_exchange_private, reg_pub)
    assert SIV(raw).open(blob[:48], [reg_pub]) == keys.seeds[0]
    assert crypto.decrypt_seeds(reg_priv, keys.seed_exchange_public, blob) == keys.seeds
    with pytest.raises(DecryptionFailed):
        crypto.decrypt_seeds(bytes(range(1, 33)), keys.seed_exchange_public, blob)
    with pytest.raises(InvalidKey):  # a small-order registration key gives no seed
        crypto.encrypt_seeds(keys.seed_exchange_private, bytes(32), keys.seeds)


def test_contract_address_is_derived_like_x_compute(net: LocalSecretNetwork) -> None:
    info = net.contract_info(net.custody_address)
    assert net.custody_address.startswith("secret1") and len(canonical(net.custody_address)) == 20
    expected = contract_address(info["code_id"], info["instance_id"], canonical(info["creator"]))
    assert canonical(net.custody_address) == expected
    assert net.custody_code_hash == hashlib.sha256(CUSTODY_CODE).hexdigest()
    assert net.code_hash(net.custody_address) == net.custody_code_hash
    assert len(net.consensus_io_pubkey) == 32


# --- round trips with secret-sdk ------------------------------------------------------------------------------
def test_secret_sdk_round_trip_execute_and_query(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    share = shares[1]
    eu = sdk(net)
    msg = MsgExecuteContract(
        OWNER,
        net.custody_address,
        msg=store_msg("vault-a", share),
        code_hash=net.custody_code_hash,
        encryption_utils=eu,
    )
    wire = msg.to_proto().msg  # exactly the bytes a real MsgExecuteContract carries
    out = net.execute(OWNER, net.custody_address, wire)
    data = json.loads(eu.decrypt_data_field(out.hex(), [list(wire[:32])]))
    assert data["public_key"] == share.public_key.hex() and data["epoch"] == 0

    answer = sdk_query(net, eu, {"vault": {"vault_id": "vault-a"}})
    assert answer["public_key"] == share.public_key.hex()
    assert answer["verifying_share"] == share.verifying_shares[share.index].encode().hex()
    assert answer["index"] == share.index and answer["threshold"] == 3 and answer["active_epoch"] == 0

    # every node answers, and with the same key and nonce the ciphertexts are byte-identical
    enc = eu.encrypt(net.custody_code_hash, json.dumps({"vault": {"vault_id": "vault-a"}}))
    outs = {net.query(net.custody_address, enc, node=i) for i in range(3)}
    assert len(outs) == 1
    # the sdk's list-of-ints form and bytes are both accepted; the query never reveals the secret
    text = eu.decrypt(outs.pop(), enc[:32])
    assert share.scheme_obj.group.scalar_to_bytes(share.secret).hex() not in base64.b64decode(text).decode()


def test_execute_attributes_are_encrypted_for_the_sender(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    enc = eu.encrypt(net.custody_code_hash, json.dumps(store_msg("vault-b", shares[0])))
    r = net.execute_tx(OWNER, net.custody_address, enc)
    assert r.ok and r.attributes
    (k, v), *_ = r.attributes
    assert (eu.decrypt(k, enc[:32]), eu.decrypt(v, enc[:32])) == (b"action", b"store_share")


# --- errors: the contract's encrypted, the enclave's in plaintext (as on the chain) ----------------------------
def test_contract_error_is_encrypted_with_the_chains_raw_log(net: LocalSecretNetwork) -> None:
    eu = sdk(net)
    enc = eu.encrypt(net.custody_code_hash, json.dumps({"activate": {"vault_id": "nope", "epoch": 0}}))
    with pytest.raises(ContractError) as ei:
        net.execute(OWNER, net.custody_address, enc)
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("not-found:")
    # the raw log has the chain's form: secret-sdk's (and secretjs's) regular expression finds it
    m = SDK_TX_ERROR.search(ei.value.raw_log)
    assert m is not None and base64.b64decode(m.group(2)) == ei.value.encrypted and m.group(1) == "0"
    assert str(ei.value) == ei.value.raw_log and ei.value.code == 3


def test_wrong_code_hash(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    """An enclave error (``ValidationFailure``), not a contract error: plaintext, on the chain too."""
    eu = sdk(net)
    wrong = hashlib.sha256(b"another contract").hexdigest()
    enc = eu.encrypt(wrong, json.dumps(store_msg("v", shares[0])))
    with pytest.raises(ContractError) as ei:
        net.execute(OWNER, net.custody_address, enc)
    assert ei.value.encrypted is None and ei.value.code == 3
    assert ei.value.raw_log == (
        "failed to execute message; message index: 0: "
        "Execution error: Enclave: failed to validate transaction: execute contract failed"
    )
    assert SDK_TX_ERROR.search(ei.value.raw_log) is None  # nothing for a client to decrypt
    # queries too
    q = eu.encrypt(wrong, json.dumps({"vault": {"vault_id": "v"}}))
    with pytest.raises(ContractError) as qi:
        net.query(net.custody_address, q)
    assert qi.value.encrypted is None
    assert qi.value.raw_log == "Execution error: Enclave: failed to validate transaction: query contract failed"
    with pytest.raises(ContractError):  # nothing was stored
        sdk_query(net, eu, {"vault": {"vault_id": "v"}})


DECRYPT_FAILED = "Execution error: Enclave: failed to decrypt data"


@pytest.mark.parametrize("ad", [None, "nonce-and-pubkey"], ids=["no-ad", "spec-ad"])
def test_wrong_associated_data(net: LocalSecretNetwork, shares: list[KeyShare], ad: str | None) -> None:
    eu = sdk(net)
    nonce = eu.generate_new_seed()
    key = eu.get_tx_encryption_key(nonce)
    plaintext = (net.custody_code_hash + json.dumps(store_msg("v", shares[0]))).encode()
    pub = eu.get_pub_key()
    associated = [] if ad is None else [bytes(nonce) + pub]  # no AD, or the old spec's AD
    blob = bytes(nonce) + pub + SIV(key).seal(plaintext, associated)
    with pytest.raises(ContractError) as ei:
        net.execute(OWNER, net.custody_address, blob)
    assert ei.value.encrypted is None and ei.value.plaintext == DECRYPT_FAILED
    with pytest.raises(ContractError) as qi:
        net.query(net.custody_address, blob)
    assert qi.value.encrypted is None and qi.value.raw_log == f"{DECRYPT_FAILED}: query contract failed"


def test_tampered_ciphertext(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    enc = bytearray(eu.encrypt(net.custody_code_hash, json.dumps(store_msg("v", shares[0]))))
    for pos in (64, 80, len(enc) - 1):  # the SIV tag, the body, the last byte
        bad = bytearray(enc)
        bad[pos] ^= 0x01
        with pytest.raises(ContractError) as ei:
            net.execute(OWNER, net.custody_address, bytes(bad))
        assert ei.value.encrypted is None and ei.value.plaintext == DECRYPT_FAILED
    # shorter than nonce ‖ pubkey: no key can be derived, so the error is plaintext (as on the chain)
    with pytest.raises(ContractError) as ei:
        net.execute(OWNER, net.custody_address, bytes(enc[:40]))
    assert ei.value.encrypted is None and "failed to decrypt data" in ei.value.raw_log
    # the untampered message still works (the failures above stored nothing)
    out = net.execute(OWNER, net.custody_address, bytes(enc))
    assert json.loads(base64.b64decode(eu.decrypt(out, list(enc[:32]))))["vault_id"] == "v"


def test_replayed_nonce(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    first = eu.encrypt(net.custody_code_hash, json.dumps(store_msg("v", shares[0], "store_pending")))
    net.execute(OWNER, net.custody_address, first)
    activate = eu.encrypt(net.custody_code_hash, json.dumps({"activate": {"vault_id": "v", "epoch": 0}}))
    net.execute(OWNER, net.custody_address, activate)
    height = net.height
    with pytest.raises(ContractError) as ei:
        net.execute(OWNER, net.custody_address, activate)  # the exact same message again
    assert "replayed" in sdk_error(eu, ei.value)["generic_err"]["msg"]
    with pytest.raises(ContractError) as ei2:  # even from another sender, even with another body
        net.execute(OTHER, net.custody_address, first)
    assert "replayed" in sdk_error(eu, ei2.value)["generic_err"]["msg"]
    assert net.height == height + 2  # failed transactions are in blocks, and changed nothing
    # queries are reads: the same encrypted query may be sent again
    q = eu.encrypt(net.custody_code_hash, json.dumps({"vault": {"vault_id": "v"}}))
    assert net.query(net.custody_address, q) == net.query(net.custody_address, q)


def test_contract_errors_and_authorisation(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[0]))
    with pytest.raises(ContractError) as ei:  # another sender may not touch the vault
        sdk_execute(net, eu, store_msg("v", shares[1]), sender=OTHER)
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("unauthorized:")
    with pytest.raises(ContractError) as ei:
        sdk_execute(net, eu, {"no_such_op": {}})
    assert "parse_err" in sdk_error(eu, ei.value)
    with pytest.raises(ContractError) as ei:  # a share that is not a KeyShare
        sdk_execute(net, eu, {"store_share": {"vault_id": "w", "share": b64(b"junk")}})
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("bad-argument:")
    # private reads need the owner's viewing key
    share_q = {"share": {"vault_id": "v", "address": OWNER, "key": "k" * 20}}
    with pytest.raises(ContractError) as ei:
        sdk_query(net, eu, share_q)
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("unauthorized:")
    sdk_execute(net, eu, {"set_viewing_key": {"key": "k" * 20}})
    got = sdk_query(net, eu, share_q)
    # a FROST share never leaves the contract: the query answers its public data only (issue 17 #4)
    assert got["sealed"] is True
    assert SealedShare.from_sealed(base64.b64decode(got["share"])).same_public_data(shares[0])
    assert shares[0].scheme_obj.group.scalar_to_bytes(shares[0].secret) not in base64.b64decode(got["share"])
    sdk_execute(net, eu, {"set_viewing_key": {"key": "o" * 20}}, sender=OTHER)
    with pytest.raises(ContractError) as ei:  # OTHER's own key does not open OWNER's share
        sdk_query(net, eu, {"share": {"vault_id": "v", "address": OTHER, "key": "o" * 20}})
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("unauthorized:")


def test_epochs_pending_active_retired(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    new = local.refresh(shares)[0]
    sdk_execute(net, eu, store_msg("v", shares[0], "store_pending"))
    assert sdk_query(net, eu, {"vault": {"vault_id": "v"}})["pending_epochs"] == [0]
    sdk_execute(net, eu, {"activate": {"vault_id": "v", "epoch": 0}})
    sdk_execute(net, eu, store_msg("v", new, "store_pending"))
    rec = sdk_query(net, eu, {"vault": {"vault_id": "v"}})
    assert (rec["active_epoch"], rec["pending_epochs"], rec["epoch"]) == (0, [1], 0)
    sdk_execute(net, eu, {"activate": {"vault_id": "v", "epoch": 1}})
    rec = sdk_query(net, eu, {"vault": {"vault_id": "v"}})
    assert (rec["active_epoch"], rec["retired_epochs"]) == (1, [0])
    assert rec["verifying_share"] == new.verifying_shares[new.index].encode().hex()
    with pytest.raises(ContractError) as ei:  # a retired epoch never comes back
        sdk_execute(net, eu, store_msg("v", shares[0], "store_pending"))
    assert sdk_error(eu, ei.value)["generic_err"]["msg"].startswith("epoch-conflict:")


# --- registration and attestation ------------------------------------------------------------------------------
def test_forged_attestation_is_refused_the_seed(net: LocalSecretNetwork) -> None:
    node = net.create_node()
    forged = AttestationAuthority.generate().attest(net.chain_id, node.enclave.registration_key, ENCLAVE_MEASUREMENT)
    with pytest.raises(RegistrationRefused, match="not signed by the attestation authority"):
        net.register_node(node, forged)
    assert not node.enclave.has_seeds and node not in net.nodes
    assert net.encrypted_seed(node.enclave.registration_key) is None
    with pytest.raises(NotRegistered):
        node.enclave.io_public_key  # noqa: B018 -- the property raises
    assert len(net.live_nodes) == 3


def test_wrong_measurement_is_refused_the_seed(net: LocalSecretNetwork) -> None:
    node = net.create_node(measurement=hashlib.sha256(b"a debug build of the enclave").digest())
    report = net.attest(node)  # the authority honestly reports what it measured
    with pytest.raises(RegistrationRefused, match="measurement"):
        net.register_node(node, report)
    assert not node.enclave.has_seeds and net.encrypted_seed(node.enclave.registration_key) is None


def test_report_for_another_registration_key_is_refused(net: LocalSecretNetwork) -> None:
    honest, thief = net.create_node(), net.create_node()
    with pytest.raises(RegistrationRefused, match="another registration key"):
        net.register_node(thief, net.attest(honest))
    assert not thief.enclave.has_seeds


def test_registered_node_gets_the_network_keys(net: LocalSecretNetwork) -> None:
    node = net.add_node()
    assert node.enclave.io_public_key == net.consensus_io_pubkey
    blob = net.encrypted_seed(node.enclave.registration_key)
    assert blob is not None and len(blob) == 96
    assert node.height == net.nodes[0].height and node.app_hash(node.height) == net.nodes[0].app_hash(node.height)


# --- storage: ciphertext only, replicated, survives the loss of any node ---------------------------------------
def test_no_share_in_the_clear_on_any_node(
    net: LocalSecretNetwork, shares: list[KeyShare], ecdsa_shares: list[KeyShare]
) -> None:
    eu = sdk(net)
    small = bytes(eu.encrypt(net.custody_code_hash, json.dumps(store_msg("frost", shares[2]))))
    assert net.execute_tx(OWNER, net.custody_address, small).ok
    wire = bytes(eu.encrypt(net.custody_code_hash, json.dumps(store_msg("ecdsa", ecdsa_shares[2]))))
    assert net.execute_tx(OWNER, net.custody_address, wire).ok
    presig = b"presignature-secret-" + bytes(range(40))
    items = [[b64(b"p1"), b64(presig)]]
    sdk_execute(net, eu, {"add_items": {"vault_id": "ecdsa", "epoch": 0, "kind": "presignature", "items": items}})
    sdk_execute(net, eu, {"put_identity": {"blob": b64(b"identity-secret-" + bytes(range(48)))}})
    net.add_node()  # a node that caught up by replaying blocks holds the same ciphertext
    secrets: list[bytes] = [presig, b"identity-secret-" + bytes(range(48))]
    for sh in (shares[2], ecdsa_shares[2]):
        scalar = sh.scheme_obj.group.scalar_to_bytes(sh.secret)
        blob = sh.to_bytes()
        secrets += [scalar, scalar.hex().encode(), scalar[::-1], blob[:64], b64(blob)[:64].encode()]
    for node in net.nodes:
        keys = node.enclave._s.keys
        assert keys is not None
        secrets += [*keys.seeds, keys.io_private, keys.seed_exchange_private, *keys.state_ikm]
    for node in net.nodes:
        raw, values = node_files(node.path), node_database_values(node.path)
        assert len(raw) > 10_000
        for data in (raw, values):
            leaked = [i for i, s in enumerate(secrets) if s in data]
            assert not leaked, f"node {node.name} stores secret #{leaked} in the clear"
        # the scans do see what is stored: the (public) encrypted inputs are in the chain database
        assert small in raw and wire in values and net.custody_address.encode() in raw


@pytest.mark.parametrize("lost", [0, 1, 2])
def test_delete_any_node_and_the_share_survives(net: LocalSecretNetwork, shares: list[KeyShare], lost: int) -> None:
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[3]))
    expected = shares[3].verifying_shares[shares[3].index].encode().hex()
    path = net.nodes[lost].path
    net.remove_node(lost)
    assert not path.exists() and len(net.nodes) == 2
    for i in range(2):
        assert sdk_query(net, eu, {"vault": {"vault_id": "v"}}, node=i)["verifying_share"] == expected
    sdk_execute(net, eu, {"set_metadata": {"vault_id": "v", "metadata": {"after": "loss"}}})  # still writable
    new = net.add_node()  # registers, receives the seed, replays every block
    assert sdk_query(net, eu, {"vault": {"vault_id": "v"}}, node=2)["verifying_share"] == expected
    assert new.enclave.io_public_key == net.consensus_io_pubkey
    assert state_rows(net, 0) == state_rows(net, 1) == state_rows(net, 2)  # byte-identical ciphertext


def test_restart_with_a_node_directory_deleted(tmp_path: Path, shares: list[KeyShare]) -> None:
    data = tmp_path / "net"
    net = LocalSecretNetwork.start(nodes=3, data_dir=data, secret=SECRET)
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[4]))
    io, address, names = net.consensus_io_pubkey, net.custody_address, [n.name for n in net.nodes]
    net.stop()
    shutil.rmtree(data / names[0])
    again = LocalSecretNetwork.start(nodes=3, data_dir=data, secret=SECRET)
    try:
        assert again.consensus_io_pubkey == io and again.custody_address == address
        assert len(again.live_nodes) == 3 and names[0] not in [n.name for n in again.nodes]
        for i in range(3):
            rec = sdk_query(again, eu, {"vault": {"vault_id": "v"}}, node=i)
            assert rec["public_key"] == shares[4].public_key.hex()
    finally:
        again.stop()


def test_stopped_node_catches_up_and_a_tampering_host_is_halted(
    net: LocalSecretNetwork, shares: list[KeyShare]
) -> None:
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[0], "store_pending"))
    net.stop_node(2)
    sdk_execute(net, eu, {"activate": {"vault_id": "v", "epoch": 0}})
    net.start_node(2)
    assert sdk_query(net, eu, {"vault": {"vault_id": "v"}}, node=2)["active_epoch"] == 0
    # node 0's host rewrites one encrypted state value: its enclave cannot open it, the node's
    # result differs from the majority's, and it is halted; the others carry on
    db = net.nodes[0].db
    key, value = db.execute("SELECT key, value FROM state ORDER BY length(value) DESC LIMIT 1").fetchone()
    db.execute("UPDATE state SET value = ? WHERE key = ?", (value[:-1] + bytes([value[-1] ^ 1]), key))
    sdk_execute(net, eu, {"set_metadata": {"vault_id": "v", "metadata": {"x": 1}}})
    assert net.nodes[0].halted and len(net.live_nodes) == 2


def test_the_emulations_secrets_on_disk_are_owner_only(net: LocalSecretNetwork) -> None:
    # each enclave's sealed seeds and the monotonic counter beside the data directory; the fuse
    # keys and the attestation authority's key are not files at all (they derive from the secret)
    base = net.data_dir
    assert not (base / "authority").exists() and not (base / "hardware").exists()
    secrets_on_disk = [node.path / "enclave.sealed" for node in net.nodes]
    secrets_on_disk.append(base.with_name(base.name + ".generation"))
    for path in secrets_on_disk:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert not [p for p in base.rglob("*.tmp*")]  # every write was renamed into place


def test_a_block_of_an_unknown_kind_is_refused(net: LocalSecretNetwork) -> None:
    # a block another node's host forged or damaged: refused with a typed error, nothing applied
    node = net.nodes[0]
    height = node.height
    block = codec.dumps({"height": height + 1, "time": node.last_time() + 1, "kind": "writes", "tx": {}})
    with pytest.raises(ConsensusFailure, match="unknown kind"):
        node.apply(block)
    assert node.height == height


# --- the LCD endpoint -----------------------------------------------------------------------------------------
def test_lcd_rest_paths(net: LocalSecretNetwork, lcd_url: str, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[0]))
    url = lcd_url

    def get(path: str) -> Any:
        with urllib.request.urlopen(url + path, timeout=10) as r:
            return json.loads(r.read())

    assert base64.b64decode(get("/registration/v1beta1/tx-key")["key"]) == net.consensus_io_pubkey
    assert get(f"/compute/v1beta1/code_hash/by_contract_address/{net.custody_address}") == {
        "code_hash": net.custody_code_hash
    }
    assert get("/compute/v1beta1/code_hash/by_code_id/1")["code_hash"] == net.custody_code_hash
    assert get(f"/compute/v1beta1/info/{net.custody_address}")["contract_info"]["label"] == "gridlock-custody"
    reg = net.nodes[1].enclave.registration_key
    assert base64.b64decode(get(f"/registration/v1beta1/encrypted-seed/{reg.hex()}")["encrypted_seed"]) == (
        net.encrypted_seed(reg)
    )
    enc = eu.encrypt(net.custody_code_hash, json.dumps({"vault": {"vault_id": "v"}}))
    q = urllib.parse.quote(b64(bytes(enc)), safe="")
    data = base64.b64decode(get(f"/compute/v1beta1/query/{net.custody_address}?query={q}")["data"])
    assert json.loads(base64.b64decode(eu.decrypt(data, enc[:32])))["vault_id"] == "v"
    with pytest.raises(urllib.error.HTTPError) as ei:
        get("/compute/v1beta1/query/" + net.custody_address + "?query=%25%25")
    assert ei.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as ei:
        get("/cosmos/bank/v1beta1/balances/" + OWNER)
    assert ei.value.code == 501


LCD_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from secret_sdk.client.lcd import LCDClient
from secret_sdk.exceptions import LCDResponseError
url, chain_id, address, vault_id = sys.argv[1:5]
client = LCDClient(url, chain_id)   # GET /registration/v1beta1/tx-key in the constructor
out = {"io": client.encrypt_utils.consensus_io_pubkey.hex(), "code_hash": client.wasm.contract_hash(address)}
out["vault"] = client.wasm.contract_query(address, {"vault": {"vault_id": vault_id}})
try:
    client.wasm.contract_query(address, {"vault": {"vault_id": "no-such-vault"}})
except LCDResponseError as exc:
    out["error"] = exc.message    # secret-sdk decrypted the encrypted error itself
print(json.dumps(out))
"""


def test_secret_sdk_lcd_client_queries_the_custody_contract(
    net: LocalSecretNetwork, lcd_url: str, shares: list[KeyShare]
) -> None:
    share = shares[2]
    sdk_execute(net, sdk(net), store_msg("lcd-vault", share))
    # a separate interpreter: LCDClient applies nest_asyncio to the process's event loop
    proc = subprocess.run(
        [sys.executable, "-c", LCD_SCRIPT, lcd_url, net.chain_id, net.custody_address, "lcd-vault"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["io"] == net.consensus_io_pubkey.hex() and out["code_hash"] == net.custody_code_hash
    assert out["vault"]["public_key"] == share.public_key.hex()
    assert out["vault"]["verifying_share"] == share.verifying_shares[share.index].encode().hex()
    assert json.loads(out["error"])["generic_err"]["msg"].startswith("not-found:")


def test_lcd_honours_connection_close(lcd_url: str) -> None:
    """node-fetch (secretjs) asks for ``Connection: close`` but Node's pooled agent reuses sockets
    unless the response says ``Connection: close`` too."""
    host, port = lcd_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/registration/v1beta1/tx-key", headers={"Connection": "close"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Connection") == "close"
        resp.read()
    finally:
        conn.close()


SECRETJS_SCRIPT = r"""
const { SecretNetworkClient } = require("secretjs");
(async () => {
  const [url, chainId, address, vaultId, codeHash] = process.argv.slice(1);
  const client = new SecretNetworkClient({ url, chainId });
  const q = (vault_id) => client.query.compute.queryContract(
    { contract_address: address, code_hash: codeHash, query: { vault: { vault_id } } });
  const out = {};
  out.code_hash = (await client.query.compute.codeHashByContractAddress({ contract_address: address })).code_hash;
  out.vault = await q(vaultId);
  out.error = await q("no-such-vault");  // secretjs returns the decrypted error string
  out.io = Buffer.from(await client.encryptionUtils.getConsensusIoPubKey()).toString("hex");
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_secretjs_queries_through_the_lcd(net: LocalSecretNetwork, lcd_url: str, shares: list[KeyShare]) -> None:
    """Optional: set GRIDLOCK_SECRETJS_DIR to a directory whose node_modules holds secretjs
    (``npm install secretjs@1.22.1``)."""
    where = os.environ.get("GRIDLOCK_SECRETJS_DIR")
    node = shutil.which("node")
    if not where or node is None or not (Path(where) / "node_modules" / "secretjs").is_dir():
        pytest.skip("secretjs not available (set GRIDLOCK_SECRETJS_DIR)")
    share = shares[3]
    sdk_execute(net, sdk(net), store_msg("js-vault", share))
    args = [lcd_url, net.chain_id, net.custody_address, "js-vault", net.custody_code_hash]
    proc = subprocess.run(
        [node, "-e", SECRETJS_SCRIPT, *args], cwd=where, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["io"] == net.consensus_io_pubkey.hex() and out["code_hash"] == net.custody_code_hash
    assert out["vault"]["verifying_share"] == share.verifying_shares[share.index].encode().hex()
    assert json.loads(out["error"])["generic_err"]["msg"].startswith("not-found:")


SECRETJS_EXECUTE_SCRIPT = r"""
const { SecretNetworkClient, Wallet } = require("secretjs");
(async () => {
  const [url, chainId, address, codeHash, mnemonic] = process.argv.slice(1);
  const wallet = new Wallet(mnemonic);
  const client = new SecretNetworkClient({ url, chainId, wallet, walletAddress: wallet.address });
  const opts = { gasLimit: 400000, broadcastCheckIntervalMs: 300 };
  const exec = (msg) => client.tx.compute.executeContract(
    { sender: wallet.address, contract_address: address, code_hash: codeHash, msg }, opts);
  const ok = await exec({ set_viewing_key: { key: "a viewing key from secretjs" } });
  const bad = await exec({ activate: { vault_id: "no-such-vault", epoch: 0 } });
  const hex = (d) => Buffer.from(d).toString("hex");
  console.log(JSON.stringify({
    address: wallet.address,
    ok: { code: ok.code, data: ok.data.map(hex), arrayLog: ok.arrayLog, gasUsed: ok.gasUsed },
    bad: { code: bad.code, rawLog: bad.rawLog, jsonLog: bad.jsonLog },
  }));
})().catch((e) => { console.error(e); process.exit(1); });
"""
SECRETJS_MNEMONIC = "obey first coffee ethics bracket foil waste stool melt stairs fortune slow"


def test_secretjs_executes_through_the_lcd(net: LocalSecretNetwork, lcd_url: str) -> None:
    """secretjs's ``tx.compute.executeContract`` unpatched: it reads the account over the LCD, signs
    a SIGN_MODE_DIRECT ``TxRaw``, broadcasts it (``txBytes``, SYNC), polls ``GET /cosmos/tx/v1beta1/txs/{hash}``
    and decrypts the data, the wasm attributes and the contract's error with its own nonces.
    Optional as above (GRIDLOCK_SECRETJS_DIR)."""
    where = os.environ.get("GRIDLOCK_SECRETJS_DIR")
    node = shutil.which("node")
    if not where or node is None or not (Path(where) / "node_modules" / "secretjs").is_dir():
        pytest.skip("secretjs not available (set GRIDLOCK_SECRETJS_DIR)")
    wallet = MnemonicKey(mnemonic=SECRETJS_MNEMONIC).acc_address  # as secretjs's Wallet derives it (coin 529)
    net.create_account(wallet)
    args = [lcd_url, net.chain_id, net.custody_address, net.custody_code_hash, SECRETJS_MNEMONIC]
    proc = subprocess.run(
        [node, "-e", SECRETJS_EXECUTE_SCRIPT, *args],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["address"] == wallet
    # data[0]: MsgExecuteContractResponse re-encoded by secretjs with the decrypted data (field 1)
    data = bytes.fromhex(out["ok"]["data"][0])
    assert data[0] == 0x0A and json.loads(data[2 : 2 + data[1]]) == {"viewing_key": "set"}
    assert {"msg": 0, "type": "wasm", "key": "action", "value": "set_viewing_key"} in out["ok"]["arrayLog"]
    assert out["ok"]["gasUsed"] > 0 and out["ok"]["code"] == 0
    assert out["bad"]["code"] == 3 and out["bad"]["jsonLog"]["generic_err"]["msg"].startswith("not-found:")
    assert net.account(wallet) is not None and net.account(wallet)[1] == 2  # type: ignore[index]


def test_node_data_deleted_while_running(net: LocalSecretNetwork, shares: list[KeyShare]) -> None:
    eu = sdk(net)
    sdk_execute(net, eu, store_msg("v", shares[0]))
    shutil.rmtree(net.nodes[0].path)  # under the running node
    rec = sdk_query(net, eu, {"vault": {"vault_id": "v"}})  # served by a node that still has its data
    assert rec["public_key"] == shares[0].public_key.hex()
    assert net.nodes[0].halted and len(net.live_nodes) == 2
    sdk_execute(net, eu, {"set_metadata": {"vault_id": "v", "metadata": {}}})
    net.add_node()
    assert sdk_query(net, eu, {"vault": {"vault_id": "v"}}, node=3)["public_key"] == shares[0].public_key.hex()
