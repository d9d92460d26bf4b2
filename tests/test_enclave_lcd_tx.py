"""Signed transactions through the emulated network's LCD, checked against independent encodings.

The client side here is secret-sdk's own protobuf classes (betterproto, generated from the
cosmos-sdk and Secret Network ``.proto`` files) and libsecp256k1 through coincurve — not
:mod:`gridlock.enclave.cosmos_tx` — so a wrong field number, sign doc or data layout on either
side fails.  The attack tests send what a thief of the guardian's LCD connection could send: a
message claiming another sender, a bad signature, a replayed transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gridlock.chains.cosmos import address
from gridlock.enclave import LocalSecretNetwork, cosmos_tx, crypto, gas
from gridlock.enclave import lcd as lcd_mod
from gridlock.enclave.address import canonical, human
from gridlock.enclave.guardian import ENDPOINT_FILE, account, account_key, open_store_at
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.enclave.lcd import LcdServer
from gridlock.enclave.lcd_client import LcdClient, SecretNetworkEndpoint, UntrustedNetwork
from gridlock.errors import InvalidParameterError

pytest.importorskip("secret_sdk")

with warnings.catch_warnings():  # betterproto imports pkg_resources
    warnings.simplefilter("ignore")
    from betterproto.lib.google.protobuf import Any as AnyProto
    from secret_sdk.protobuf.cosmos.base.abci.v1beta1 import TxMsgData
    from secret_sdk.protobuf.cosmos.base.v1beta1 import Coin
    from secret_sdk.protobuf.cosmos.crypto.secp256k1 import PubKey
    from secret_sdk.protobuf.cosmos.tx.signing.v1beta1 import SignMode
    from secret_sdk.protobuf.cosmos.tx.v1beta1 import (
        AuthInfo,
        Fee,
        ModeInfo,
        ModeInfoSingle,
        SignDoc,
        SignerInfo,
        TxBody,
        TxRaw,
    )
    from secret_sdk.protobuf.secret.compute.v1beta1 import MsgExecuteContract, MsgExecuteContractResponse
    from secret_sdk.util.encrypt_utils import EncryptionUtils

SECRET = "test sealing secret of the owner"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSecretNetwork]:
    n = LocalSecretNetwork.start(nodes=2, data_dir=tmp_path_factory.mktemp("net") / "net", secret=SECRET)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def lcd(net: LocalSecretNetwork) -> Iterator[str]:
    server = LcdServer(net)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def http(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Account:
    """A funded account and an independent signer (secret-sdk's protobuf classes, coincurve)."""

    def __init__(self, net: LocalSecretNetwork, key: bytes | None = None) -> None:
        self.key = PrivateKey(key or os.urandom(32))  # a new account each time (the network is shared)
        self.public = self.key.public_key.format(compressed=True)
        self.address = address(self.public)
        self.number = net.create_account(self.address)

    def tx(
        self,
        net: LocalSecretNetwork,
        msg: bytes,
        *,
        sequence: int,
        sender: str | None = None,
        account_number: int | None = None,
        gas_limit: int = 2_000_000,
    ) -> bytes:
        execute = MsgExecuteContract(
            sender=canonical(sender or self.address), contract=canonical(net.custody_address), msg=msg
        )
        body = TxBody(messages=[AnyProto(type_url="/secret.compute.v1beta1.MsgExecuteContract", value=bytes(execute))])
        signer = SignerInfo(
            public_key=AnyProto(type_url="/cosmos.crypto.secp256k1.PubKey", value=bytes(PubKey(key=self.public))),
            mode_info=ModeInfo(single=ModeInfoSingle(mode=SignMode.SIGN_MODE_DIRECT)),
            sequence=sequence,
        )
        auth = AuthInfo(
            signer_infos=[signer], fee=Fee(amount=[Coin(denom="uscrt", amount="50000")], gas_limit=gas_limit)
        )
        doc = SignDoc(
            body_bytes=bytes(body),
            auth_info_bytes=bytes(auth),
            chain_id=net.chain_id,
            account_number=self.number if account_number is None else account_number,
        )
        sig = self.key.sign_recoverable(hashlib.sha256(bytes(doc)).digest(), hasher=None)[:64]
        return bytes(TxRaw(body_bytes=bytes(body), auth_info_bytes=bytes(auth), signatures=[sig]))


def encrypt(net: LocalSecretNetwork, eu: EncryptionUtils, msg: dict[str, Any]) -> bytes:
    return bytes(eu.encrypt(net.custody_code_hash, json.dumps(msg)))


def broadcast(lcd: str, tx: bytes, mode: str = "BROADCAST_MODE_SYNC") -> dict[str, Any]:
    status, answer = http(f"{lcd}/cosmos/tx/v1beta1/txs", {"tx_bytes": base64.b64encode(tx).decode(), "mode": mode})
    assert status == 200, answer
    response: dict[str, Any] = answer["tx_response"]
    return response


def account_json(lcd: str, addr: str) -> dict[str, Any]:
    status, answer = http(f"{lcd}/cosmos/auth/v1beta1/accounts/{addr}")
    assert status == 200, answer
    result: dict[str, Any] = answer["account"]
    return result


# --- the client path, with independent encodings ---------------------------------------------------------
def test_execute_through_the_lcd_with_secret_sdk_protobufs(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    before = account_json(lcd, acc.address)
    assert before["@type"] == "/cosmos.auth.v1beta1.BaseAccount"
    assert (before["account_number"], before["sequence"], before["pub_key"]) == (str(acc.number), "0", None)

    msg = encrypt(net, eu, {"set_viewing_key": {"key": "a viewing key of twenty"}})
    tx = acc.tx(net, msg, sequence=0)
    checked = broadcast(lcd, tx)
    txhash = hashlib.sha256(tx).hexdigest().upper()
    assert checked["code"] == 0 and checked["txhash"] == txhash and checked["height"] == "0"

    status, found = http(f"{lcd}/cosmos/tx/v1beta1/txs/{txhash}")
    assert status == 200
    resp = found["tx_response"]
    assert resp["code"] == 0 and int(resp["height"]) == net.height and int(resp["gas_used"]) > 0
    # data: TxMsgData → MsgExecuteContractResponse → the encrypted base64 of the contract's answer
    (any_msg,) = TxMsgData().parse(bytes.fromhex(resp["data"])).msg_responses
    assert any_msg.type_url == "/secret.compute.v1beta1.MsgExecuteContractResponse"
    encrypted = MsgExecuteContractResponse().parse(any_msg.value).data
    assert json.loads(base64.b64decode(eu.decrypt(encrypted, list(msg[:32])))) == {"viewing_key": "set"}
    # the wasm event's attributes are encrypted for the sender
    wasm = next(e for e in resp["events"] if e["type"] == "wasm")
    attrs = {a["key"]: a["value"] for a in wasm["attributes"]}
    assert attrs.pop("msg_index") == "0" and attrs.pop("contract_address") == net.custody_address
    decrypted = {
        eu.decrypt(base64.b64decode(k), list(msg[:32])): eu.decrypt(base64.b64decode(v), list(msg[:32]))
        for k, v in attrs.items()
    }
    assert decrypted == {b"action": b"set_viewing_key"} and len(attrs) == 1
    # the tx as the gateway renders it: the sender authenticated, the message as broadcast
    (m,) = found["tx"]["body"]["messages"]
    assert m["@type"] == "/secret.compute.v1beta1.MsgExecuteContract" and m["sender"] == acc.address
    assert base64.b64decode(m["msg"]) == msg
    after = account_json(lcd, acc.address)
    assert after["sequence"] == "1" and base64.b64decode(after["pub_key"]["key"]) == acc.public


def test_gridlock_encoding_reads_back_with_secret_sdk(net: LocalSecretNetwork) -> None:
    key = hashlib.sha256(b"gridlock encoder").digest()
    tx = cosmos_tx.make_execute_tx(
        key,
        contract=net.custody_address,
        msg=b"\x01" * 90,
        chain_id=net.chain_id,
        account_number=7,
        sequence=3,
        gas_limit=123456,
        fee_amount=12346,
    )
    raw = TxRaw().parse(tx)
    body, auth = TxBody().parse(raw.body_bytes), AuthInfo().parse(raw.auth_info_bytes)
    execute = MsgExecuteContract().parse(body.messages[0].value)
    public = PrivateKey(key).public_key.format(compressed=True)
    assert execute.sender == cosmos_tx.address_bytes(public) and execute.msg == b"\x01" * 90
    assert human_contract(execute.contract) == net.custody_address
    (signer,) = auth.signer_infos
    assert signer.sequence == 3 and signer.mode_info.single.mode == SignMode.SIGN_MODE_DIRECT
    assert PubKey().parse(signer.public_key.value).key == public
    assert auth.fee.gas_limit == 123456 and auth.fee.amount[0].amount == "12346"
    doc = SignDoc(
        body_bytes=raw.body_bytes, auth_info_bytes=raw.auth_info_bytes, chain_id=net.chain_id, account_number=7
    )
    digest = hashlib.sha256(bytes(doc)).digest()
    sig = raw.signatures[0]
    assert PrivateKey(key).public_key.verify(_der(sig), digest, hasher=None)
    assert bytes(raw) == tx  # the same canonical encoding


def human_contract(raw: bytes) -> str:
    return human(raw)


def _der(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def test_broadcast_mode_block_and_lookups(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    msg = encrypt(net, eu, {"activate": {"vault_id": "no-such-vault", "epoch": 0}})
    resp = broadcast(lcd, acc.tx(net, msg, sequence=0), "BROADCAST_MODE_BLOCK")
    # a contract error: in a block (the sequence is spent), encrypted for the sender in the raw log
    assert resp["code"] == 3 and resp["codespace"] == "compute" and int(resp["height"]) == net.height
    assert resp["raw_log"].startswith("failed to execute message; message index: 0: encrypted: ")
    enc = base64.b64decode(resp["raw_log"].split("encrypted: ")[1].split(":")[0])
    assert json.loads(eu.decrypt(enc, list(msg[:32])))["generic_err"]["msg"].startswith("not-found:")
    assert account_json(lcd, acc.address)["sequence"] == "1"
    missing = "AB" * 32
    status, answer = http(f"{lcd}/cosmos/tx/v1beta1/txs/{missing}")
    assert status == 404 and answer["message"] == f"tx not found: {missing}"  # what secretjs's getTx matches
    status, answer = http(f"{lcd}/cosmos/auth/v1beta1/accounts/{account('x' * 16, 'nobody')}")
    assert status == 404


def test_plaintext_enclave_errors_through_the_lcd(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    wrong = bytes(eu.encrypt(hashlib.sha256(b"other code").hexdigest(), json.dumps({"info": {}})))
    resp = broadcast(lcd, acc.tx(net, wrong, sequence=0), "BROADCAST_MODE_BLOCK")
    assert resp["code"] == 3 and "Enclave: failed to validate transaction" in resp["raw_log"]
    assert "encrypted:" not in resp["raw_log"]
    tampered = bytearray(encrypt(net, eu, {"info": {}}))
    tampered[-1] ^= 1
    resp = broadcast(lcd, acc.tx(net, bytes(tampered), sequence=1), "BROADCAST_MODE_BLOCK")
    assert resp["code"] == 3 and "Enclave: failed to decrypt data" in resp["raw_log"]


# --- sender authentication (attacks) -------------------------------------------------------------------------
def _refused(net: LocalSecretNetwork, lcd: str, tx: bytes, code: int, text: str, *, new: bool = True) -> None:
    height = net.height
    resp = broadcast(lcd, tx)
    assert resp["code"] == code and resp["codespace"] == "sdk" and text in resp["raw_log"], resp
    assert net.height == height  # CheckTx refused it: no block, nothing ran
    if new:  # a refused transaction is in no block
        status, _ = http(f"{lcd}/cosmos/tx/v1beta1/txs/{resp['txhash']}")
        assert status == 404


def test_forged_sender_is_refused(net: LocalSecretNetwork, lcd: str) -> None:
    """The thief signs with their own key a message that claims the guardian as sender."""
    guardian, thief = Account(net), Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    msg = encrypt(net, eu, {"put_identity": {"blob": "AAAA", "replace": True}})
    _refused(net, lcd, thief.tx(net, msg, sequence=0, sender=guardian.address, account_number=guardian.number), 8, "")
    # signed for the guardian's account number and sequence but with the thief's key: still refused
    forged = thief.tx(net, msg, sequence=0, sender=guardian.address, account_number=guardian.number)
    _refused(net, lcd, forged, 8, "pubKey does not match signer address")
    assert account_json(lcd, guardian.address)["sequence"] == "0"


def test_bad_signature_is_refused(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    tx = bytearray(acc.tx(net, encrypt(net, eu, {"set_viewing_key": {"key": "k" * 20}}), sequence=0))
    tx[-5] ^= 0x01  # inside the signature, the last field of the TxRaw
    _refused(net, lcd, bytes(tx), 4, "signature verification failed")
    wrong_number = acc.tx(net, encrypt(net, eu, {"set_viewing_key": {"key": "k" * 20}}), sequence=0, account_number=999)
    _refused(net, lcd, wrong_number, 4, "please verify account number (")
    assert account_json(lcd, acc.address)["sequence"] == "0"


def test_replayed_transaction_is_refused(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    tx = acc.tx(net, encrypt(net, eu, {"set_viewing_key": {"key": "k" * 20}}), sequence=0)
    assert broadcast(lcd, tx)["code"] == 0
    _refused(net, lcd, tx, 32, "account sequence mismatch, expected 1, got 0", new=False)
    assert account_json(lcd, acc.address)["sequence"] == "1"
    # and a transaction from the future is refused as well
    _refused(net, lcd, acc.tx(net, encrypt(net, eu, {"info": {}}), sequence=5), 32, "expected 1, got 5")


def test_unknown_account_is_refused(net: LocalSecretNetwork, lcd: str) -> None:
    key = PrivateKey(hashlib.sha256(b"never funded").digest())
    tx = cosmos_tx.make_execute_tx(
        key.secret,
        contract=net.custody_address,
        msg=b"\x00" * 80,
        chain_id=net.chain_id,
        account_number=0,
        sequence=0,
        gas_limit=500_000,
        fee_amount=50_000,
    )
    _refused(net, lcd, tx, 9, "not found")


def test_out_of_gas_reverts_the_message_but_spends_the_sequence(net: LocalSecretNetwork, lcd: str) -> None:
    acc = Account(net)
    eu = EncryptionUtils(net.consensus_io_pubkey)
    msg = encrypt(net, eu, {"put_identity": {"blob": base64.b64encode(b"i" * 3000).decode()}})
    ante = gas.ante_gas(len(acc.tx(net, msg, sequence=0)))
    resp = broadcast(lcd, acc.tx(net, msg, sequence=0, gas_limit=ante + 10), "BROADCAST_MODE_BLOCK")
    assert resp["code"] == 11 and resp["codespace"] == "sdk" and "out of gas" in resp["raw_log"]
    assert account_json(lcd, acc.address)["sequence"] == "1"
    resp = broadcast(lcd, acc.tx(net, msg, sequence=1), "BROADCAST_MODE_BLOCK")  # the same message again
    assert resp["code"] == 0, resp["raw_log"]
    assert int(resp["gas_used"]) > gas.INSTANCE_COST + ante


def test_the_client_signs_only_as_its_own_account(net: LocalSecretNetwork, lcd: str) -> None:
    endpoint = SecretNetworkEndpoint(
        url=lcd,
        chain_id=net.chain_id,
        contract=net.custody_address,
        code_hash=net.custody_code_hash,
        io_key=net.consensus_io_pubkey,
    )
    client = LcdClient.connect(endpoint, hashlib.sha256(b"client key").digest())
    assert "redacted" in repr(client) and hashlib.sha256(b"client key").hexdigest() not in repr(client)
    with pytest.raises(Exception, match="signs as"):
        client.execute(account("x" * 16, "other"), net.custody_address, b"\x00" * 80)


# --- configuration: the pins, another network ---------------------------------------------------------------
def test_a_network_with_another_io_key_is_refused(net: LocalSecretNetwork, lcd: str) -> None:
    endpoint = SecretNetworkEndpoint(
        url=lcd,
        chain_id=net.chain_id,
        contract=net.custody_address,
        code_hash=net.custody_code_hash,
        io_key=bytes(32),
    )
    with pytest.raises(UntrustedNetwork):
        LcdClient.connect(endpoint, hashlib.sha256(b"k").digest())
    with pytest.raises(InvalidParameterError):
        SecretNetworkEndpoint(
            url="ftp://x", chain_id="c", contract=net.custody_address, code_hash="0" * 64, io_key=bytes(32)
        )


def test_pointing_the_guardian_at_another_network_is_configuration(
    net: LocalSecretNetwork, lcd: str, tmp_path: Path
) -> None:
    """A guardian data directory with ``secret-network.toml`` uses that network (here the module's
    network, standing in for a remote one): its account is derived from the guardian's secret and
    must be funded there first."""
    secret = "the guardian's own key-encryption secret"
    (tmp_path / ENDPOINT_FILE).write_text(
        f'url = "{lcd}"\nchain_id = "{net.chain_id}"\ncontract = "{net.custody_address}"\n'
        f'code_hash = "{net.custody_code_hash}"\nio_key = "{net.consensus_io_pubkey.hex()}"\n'
    )
    net.create_account(account(secret, "remote"))
    store = open_store_at(tmp_path, "remote", secret)
    try:
        assert isinstance(store, EnclaveKeystore) and store.sender == account(secret, "remote")
        store.put_identity(b"remote identity")
        assert store.get_identity() == b"remote identity"
    finally:
        store.close()
    assert not (tmp_path / "secret-network").exists()  # no local network was started
    assert account_key(secret, "remote") != account_key(secret, "other")
    # a pinned code hash the network does not have: refused before any message is sent
    (tmp_path / ENDPOINT_FILE).write_text(
        (tmp_path / ENDPOINT_FILE).read_text().replace(net.custody_code_hash, "ab" * 32)
    )
    with pytest.raises(Exception, match="code hash"):
        open_store_at(tmp_path, "remote", secret)


# --- queries of any size ---------------------------------------------------------------------------------------
def test_large_queries_by_get_and_post(net: LocalSecretNetwork, lcd: str) -> None:
    eu = EncryptionUtils(net.consensus_io_pubkey)
    q = encrypt(net, eu, {"vault": {"vault_id": "v" * 60_000}})  # well over the standard library's 64 KiB line
    text = base64.b64encode(q).decode()
    status, answer = http(
        f"{lcd}/compute/v1beta1/query/{net.custody_address}?query={urllib.parse.quote(text, safe='')}"
    )
    assert status in (400, 500) and "message" in answer  # the contract's answer, not an HTTP 414
    status, answer = http(f"{lcd}/compute/v1beta1/query/{net.custody_address}", {"query": text})
    assert status in (400, 500) and "message" in answer
    small = encrypt(net, eu, {"info": {}})
    status, answer = http(
        f"{lcd}/compute/v1beta1/query/{net.custody_address}", {"query": base64.b64encode(small).decode()}
    )
    assert status == 200
    assert json.loads(base64.b64decode(eu.decrypt(base64.b64decode(answer["data"]), list(small[:32]))))["name"]


def test_gas_per_operation_is_reported(net: LocalSecretNetwork) -> None:
    """The gas table of docs/ENCLAVE.md comes from here: every operation's gas is the size-based
    model's, reported by the chain."""
    acc = Account(net)
    enc = crypto.ClientEncryption(net.consensus_io_pubkey)
    blob = enc.encrypt(net.custody_code_hash, json.dumps({"set_viewing_key": {"key": "v" * 32}}))
    tx = acc.tx(net, blob, sequence=0)
    r = net.broadcast_tx(tx)
    assert r.ok and r.gas_wanted == 2_000_000
    assert gas.ante_gas(len(tx)) + gas.INSTANCE_COST < r.gas_used < 200_000


def test_held_open_half_sent_requests_do_not_take_the_lcd(
    net: LocalSecretNetwork, lcd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone who can reach the LCD opens connections and sends half a request: at most
    MAX_CONNECTIONS are served at once, one more is closed at once, and a silent one is dropped
    after READ_TIMEOUT — the guardian's own requests get through again."""
    host, port = urllib.parse.urlsplit(lcd).hostname, urllib.parse.urlsplit(lcd).port
    assert host is not None and port is not None
    held = []
    for _ in range(lcd_mod.MAX_CONNECTIONS + 20):
        s = socket.create_connection((host, port))
        s.sendall(b"POST /cosmos/tx/v1beta1/txs HTTP/1.1\r\nContent-Length: 100\r\n")  # never finished
        held.append(s)
    try:
        extra = socket.create_connection((host, port))
        extra.settimeout(5)
        assert extra.recv(1) == b""  # over capacity: closed, not queued behind the held ones
        extra.close()
        deadline = time.monotonic() + lcd_mod.READ_TIMEOUT + 10
        while time.monotonic() < deadline:  # the held ones time out; the LCD answers again
            try:
                status, _ = http(f"{lcd}/cosmos/base/tendermint/v1beta1/node_info")
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
                continue
            assert status == 200
            break
        else:
            raise AssertionError("the LCD never answered again")
    finally:
        for s in held:
            s.close()
