"""Ethereum: transactions signed by a real 3-of-5 threshold ECDSA key, mined by py-evm (eth-tester).

py-evm does not compare a typed transaction's chain id with its own, so every test also decodes the
raw transaction and checks the chain id and the recovered sender itself.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from coincurve import PrivateKey, PublicKey
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as RlpLegacyTransaction
from eth_account.messages import defunct_hash_message, encode_defunct, encode_typed_data
from eth_account.typed_transactions import TypedTransaction
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys, get_default_account_keys
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from gridlock import local
from gridlock.chains import ethereum
from gridlock.chains.movement import Movement
from gridlock.errors import DecodeError, GridlockError, SignatureError

RECIPIENT = to_checksum_address("0x" + "42" * 20)
FUNDING = 10**21


@pytest.fixture(scope="module")
def vault() -> local.LocalSigner:
    shares = local.keygen("ecdsa-secp256k1", threshold=3, n=5)
    return local.signer([shares[0], shares[2], shares[4]])


@pytest.fixture(scope="module")
def vault_address(vault: local.LocalSigner) -> str:
    return ethereum.address(vault.public_key)


@pytest.fixture
def chain(vault_address: str) -> tuple[EthereumTester, int]:
    state = generate_genesis_state_for_keys(get_default_account_keys(1))
    state[bytes.fromhex(vault_address[2:])] = {"balance": FUNDING, "nonce": 0, "code": b"", "storage": {}}
    backend = PyEVMBackend(genesis_state=state)
    return EthereumTester(backend), int(backend.chain.chain_id)


def _send_and_mine(tester: EthereumTester, raw: bytes) -> dict[str, Any]:
    before = tester.get_balance(RECIPIENT)
    tx_hash = tester.send_raw_transaction("0x" + raw.hex())
    tester.mine_blocks(1)
    receipt = tester.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert HexBytes(tx_hash) == keccak(raw)
    return {"receipt": receipt, "moved": tester.get_balance(RECIPIENT) - before}


def _legacy_chain_id(raw: bytes) -> int:
    v = rlp.decode(raw, RlpLegacyTransaction).v
    assert v >= 35, "legacy transaction without EIP-155 replay protection"
    return int((v - 35) // 2)


# --- addresses ---------------------------------------------------------------------------------


def test_address_known_vector_private_key_one() -> None:
    public = PrivateKey((1).to_bytes(32, "big")).public_key
    assert ethereum.address(public.format()) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    assert ethereum.address(public.format(compressed=False)) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"


def test_vault_address_is_keccak_of_uncompressed_key(vault: local.LocalSigner, vault_address: str) -> None:
    point = PublicKey(vault.public_key).format(compressed=False)[1:]
    assert vault_address == to_checksum_address(keccak(point)[-20:])


@pytest.mark.parametrize("bad", [b"", b"\x02" + b"\x00" * 32, b"\x05" * 33, "02" * 33, None, b"\x04" + b"\x01" * 64])
def test_address_rejects_bad_keys(bad: Any) -> None:
    with pytest.raises(DecodeError):
        ethereum.address(bad)


# --- transactions mined by py-evm ---------------------------------------------------------------


def test_eip1559_transfer_is_mined(vault: local.LocalSigner, vault_address: str, chain: Any) -> None:
    tester, chain_id = chain
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": 0,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerGas": 10**10,
        "gas": 21000,
        "to": RECIPIENT,
        "value": 123_456_789,
        "data": b"",
        "accessList": [],
    }
    summary = ethereum.summarize(tx)
    assert (summary.chain_id, summary.tx_type, summary.to, summary.value) == (chain_id, 2, RECIPIENT, 123_456_789)
    assert summary.recipients == ((RECIPIENT, 123_456_789),)
    assert summary.max_fee == 21000 * 10**10
    assert summary.signing_hash == ethereum.signing_hash(tx)

    raw = ethereum.sign_transaction(tx, vault)
    assert raw[0] == 2
    decoded = TypedTransaction.from_bytes(HexBytes(raw))
    assert decoded.as_dict()["chainId"] == chain_id
    assert decoded.hash() == summary.signing_hash  # guardians re-derive exactly what was signed
    assert Account.recover_transaction(raw) == vault_address

    sender_before = tester.get_balance(vault_address)
    result = _send_and_mine(tester, raw)
    assert result["moved"] == 123_456_789
    receipt = result["receipt"]
    fee = receipt["gas_used"] * receipt["effective_gas_price"]
    assert tester.get_balance(vault_address) == sender_before - 123_456_789 - fee


def test_legacy_eip155_transfer_is_mined(vault: local.LocalSigner, vault_address: str, chain: Any) -> None:
    tester, chain_id = chain
    tx = {"chainId": chain_id, "nonce": 0, "gasPrice": 10**10, "gas": 21000, "to": RECIPIENT, "value": 777}
    raw = ethereum.sign_transaction(tx, vault)
    assert raw[0] >= 0xC0  # an RLP list, not a typed envelope
    assert _legacy_chain_id(raw) == chain_id
    assert Account.recover_transaction(raw) == vault_address
    assert _send_and_mine(tester, raw)["moved"] == 777
    assert ethereum.summarize(tx).tx_type == 0


def test_eip2930_transfer_is_mined(vault: local.LocalSigner, vault_address: str, chain: Any) -> None:
    tester, chain_id = chain
    tx = {
        "type": 1,
        "chainId": chain_id,
        "nonce": 0,
        "gasPrice": 10**10,
        "gas": 30000,
        "to": RECIPIENT,
        "value": 999,
        "accessList": [{"address": RECIPIENT, "storageKeys": ["0x" + "00" * 31 + "01"]}],
    }
    raw = ethereum.sign_transaction(tx, vault)
    assert raw[0] == 1
    decoded = TypedTransaction.from_bytes(HexBytes(raw))
    assert decoded.as_dict()["chainId"] == chain_id
    assert decoded.hash() == ethereum.signing_hash(tx)
    assert Account.recover_transaction(raw) == vault_address
    assert _send_and_mine(tester, raw)["moved"] == 999
    summary = ethereum.summarize(tx)
    assert summary.access_list == ((RECIPIENT, ((1).to_bytes(32, "big"),)),)


def test_erc20_transfer_is_summarised() -> None:
    token = to_checksum_address("0x" + "ab" * 20)
    data = bytes.fromhex("a9059cbb") + bytes(12) + bytes.fromhex("11" * 20) + (5000).to_bytes(32, "big")
    tx = {"chainId": 1, "nonce": 3, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, "gas": 60000, "to": token}
    summary = ethereum.summarize({**tx, "data": data})
    assert summary.movements == (
        Movement.call(token, 0),
        Movement.transfer(to_checksum_address("0x" + "11" * 20), 5000, token),
        Movement.fee(60000 * 2),
    )
    assert summary.recipients == ()  # no native value moves


# --- messages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("message", [b"gridlock \x00\xff", "I\u2665SF"])
def test_personal_sign_recovers_to_vault(vault: local.LocalSigner, vault_address: str, message: Any) -> None:
    sig = ethereum.sign_message(message, vault)
    assert len(sig) == 65 and sig[64] in (27, 28)
    signable = encode_defunct(primitive=message) if isinstance(message, bytes) else encode_defunct(text=message)
    assert Account.recover_message(signable, signature=sig) == vault_address
    assert ethereum.message_hash(message) == bytes(
        defunct_hash_message(primitive=message) if isinstance(message, bytes) else defunct_hash_message(text=message)
    )


TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}


def test_eip712_recovers_to_vault(vault: local.LocalSigner, vault_address: str) -> None:
    # the EIP-712 example's published digest
    digest = bytes.fromhex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
    assert ethereum.typed_data_hash(TYPED_DATA) == digest
    summary = ethereum.summarize_typed_data(TYPED_DATA)
    assert (summary.primary_type, summary.chain_id, summary.signing_hash) == ("Mail", 1, digest)
    sig = ethereum.sign_typed_data(TYPED_DATA, vault)
    assert Account.recover_message(encode_typed_data(full_message=TYPED_DATA), signature=sig) == vault_address


# --- bad input ----------------------------------------------------------------------------------

BASE = {"chainId": 5, "nonce": 0, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1, "gas": 21000, "to": RECIPIENT}


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize(
    "tx",
    [
        _without(BASE, "chainId"),
        {**BASE, "chainId": None},
        {**BASE, "chainId": 0},
        {**BASE, "chainId": -1},
        {**BASE, "chainId": 2**64},
        {**BASE, "chainId": True},
        {**BASE, "chainId": "five"},
        {"nonce": 0, "gasPrice": 1, "gas": 21000, "to": RECIPIENT, "value": 1},  # legacy, no EIP-155
        {"nonce": 0, "gasPrice": 1, "gas": 21000, "to": RECIPIENT, "chainId": None},
    ],
)
def test_missing_or_bad_chain_id_is_refused(tx: dict[str, Any]) -> None:
    with pytest.raises(ethereum.ChainIdError):
        ethereum.signing_hash(tx)


@pytest.mark.parametrize(
    "tx",
    [
        None,
        b"\x02\xf8",
        [("chainId", 1)],
        {**BASE, "foo": 1},
        {**BASE, "gasPrice": 1},
        {**BASE, "type": 3},
        {**BASE, "type": 4},
        {**BASE, "type": "0xzz"},
        {**BASE, "type": 1.5},
        _without(BASE, "gas"),
        {**BASE, "value": -1},
        {**BASE, "value": 2**256},
        {**BASE, "nonce": 2**64 - 1},
        {**BASE, "nonce": True},
        {**BASE, "nonce": 1.0},
        {**BASE, "maxPriorityFeePerGas": 11},
        {**BASE, "to": "0x1234"},
        {**BASE, "to": "0x" + "aB" * 20},  # bad EIP-55 checksum
        {**BASE, "data": 12},
        {**BASE, "accessList": "nope"},
        {**BASE, 1: 2},
        {"chainId": 5, "nonce": 0, "gasPrice": 1, "gas": 1, "accessList": [], "maxFeePerGas": 3},
    ],
)
def test_malformed_transactions_get_typed_errors(tx: Any) -> None:
    with pytest.raises(GridlockError):
        ethereum.summarize(tx)


class FakeSigner:
    def __init__(self, scheme: str, public_key: bytes, signature: bytes = b"\x01" * 64) -> None:
        self.scheme, self.public_key, self._sig = scheme, public_key, signature

    def sign(self, message: bytes) -> bytes:
        return self._sig


def test_foreign_signers_are_refused(vault: local.LocalSigner) -> None:
    tx = {**BASE, "value": 1}
    with pytest.raises(ethereum.SignerMismatchError):
        ethereum.sign_transaction(tx, FakeSigner("frost-ed25519", b"\x01" * 32))
    with pytest.raises(ethereum.SignerMismatchError):
        ethereum.sign_transaction({**tx, "from": to_checksum_address("0x" + "99" * 20)}, vault)
    with pytest.raises(SignatureError):  # a signer whose signature does not verify under its key
        ethereum.sign_transaction(tx, FakeSigner("ecdsa-secp256k1", vault.public_key))
    with pytest.raises(SignatureError):
        ethereum.sign_message(b"x", FakeSigner("ecdsa-secp256k1", vault.public_key, b"short"))


def test_from_field_matching_the_vault_is_accepted(vault: local.LocalSigner, vault_address: str) -> None:
    raw = ethereum.sign_transaction({**BASE, "value": 1, "from": vault_address}, vault)
    assert Account.recover_transaction(raw) == vault_address


@pytest.mark.parametrize(
    "bad",
    [
        None,
        5,
        "text",
        {},
        {"types": {}},
        {**TYPED_DATA, "primaryType": "Nope"},
        {**TYPED_DATA, "primaryType": 7},
        {**TYPED_DATA, "message": {"x": 1}},
        # a field the type does not name would be shown but not signed
        {**TYPED_DATA, "message": {**TYPED_DATA["message"], "amount": 10**18}},
        {**TYPED_DATA, "message": {**TYPED_DATA["message"], "to": {"name": "Bob"}}},
        {**TYPED_DATA, "domain": {**TYPED_DATA["domain"], "salt": "0x00"}},
        {**TYPED_DATA, "message": {**TYPED_DATA["message"], "to": "Bob"}},
    ],
)
def test_malformed_typed_data_gets_typed_errors(bad: Any) -> None:
    with pytest.raises(GridlockError):
        ethereum.typed_data_hash(bad)


@pytest.mark.parametrize("bad", [None, 5, ["a"], 1.5])
def test_malformed_personal_message_gets_typed_errors(bad: Any) -> None:
    with pytest.raises(GridlockError):
        ethereum.message_hash(bad)
