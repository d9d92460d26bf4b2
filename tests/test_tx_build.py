"""The unsigned-transaction builders of ``gridlock tx build`` (:mod:`gridlock.chains.build`) and the
message formats of ``gridlock sign-message`` (:mod:`gridlock.chains.solana_offchain`), without a devnet."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from coincurve import PrivateKey
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address

from gridlock.chains import bitcoin, build, solana_offchain
from gridlock.chains.bitcoin import TxOut
from gridlock.errors import InvalidParameterError

KEY = PrivateKey(b"\x01" * 32).public_key.format()
P2WPKH = bitcoin.p2wpkh_script(KEY)
P2TR = bitcoin.p2tr_script(KEY[1:])
DEST = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
TXID = "ab" * 32


def eth(**kw: object) -> build.EthereumTransfer:
    fields: dict[str, object] = {
        "chain_id": 1,
        "nonce": 0,
        "to": "0x" + "ab" * 20,
        "amount": 10**18,
        "max_fee_per_gas": 100,
        "max_priority_fee_per_gas": 2,
        "gas": 21000,
    }
    fields.update(kw)
    return build.EthereumTransfer(**fields)  # type: ignore[arg-type]


def test_ethereum_transfer_and_erc20_calldata() -> None:
    tx = json.loads(eth().file_text())
    assert tx == {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "to": to_checksum_address("0x" + "ab" * 20),
        "value": 10**18,
        "data": "0x",
        "gas": 21000,
        "maxFeePerGas": 100,
        "maxPriorityFeePerGas": 2,
    }
    token = "0x" + "cd" * 20
    t = json.loads(eth(token=token, amount=5, gas=65000).file_text())
    data = bytes.fromhex(t["data"][2:])
    assert t["to"] == to_checksum_address(token) and t["value"] == 0
    assert data[:4].hex() == "a9059cbb"  # transfer(address,uint256), EIP-20
    assert decode(["address", "uint256"], data[4:]) == ("0x" + "ab" * 20, 5)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"chain_id": 0}, "EIP-155"),
        ({"max_priority_fee_per_gas": 101}, "cannot exceed"),
        ({"to": "0x" + "aB" * 20}, "EIP-55"),
        ({"amount": -1}, "whole number"),
        ({"nonce": True}, "whole number"),
    ],
)
def test_ethereum_bad_fields(change: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        eth(**change)


def payment(amounts: list[int], script: bytes = P2WPKH, **kw: object) -> build.BitcoinPayment:
    utxos = tuple(build.Utxo(TXID, i, a, script) for i, a in enumerate(amounts))
    fields: dict[str, object] = {"outputs": (TxOut(50_000, DEST),), "change_script": P2WPKH, "fee_rate": Decimal(1)}
    fields.update(kw)
    return build.BitcoinPayment(utxos, **fields)  # type: ignore[arg-type]


def test_bitcoin_fee_rate_sets_the_change() -> None:
    outputs, fee = payment([100_000]).plan()
    # one P2WPKH input, two P2WPKH outputs: 10.5 + 68 + 2 × 31 vB = 140.5 → 141 at 1 sat/vB (at most a byte
    # over: the DER signature is assumed 72 bytes)
    assert fee == 141
    assert [o.amount for o in outputs] == [50_000, 100_000 - 50_000 - 141]
    _, fee_tr = payment([100_000], script=P2TR, fee_rate=Decimal(2)).plan()
    assert fee_tr == 2 * 130  # 10.5 + 57.5 + 2 × 31 = 130 vB
    psbt = bitcoin.summarize(payment([100_000]).psbt(), network="regtest")
    assert psbt.fee == 141 and psbt.total_in == 100_000


def test_bitcoin_dust_change_goes_to_the_fee() -> None:
    outputs, fee = payment([50_300]).plan()
    assert [o.amount for o in outputs] == [50_000] and fee == 300


def test_bitcoin_fixed_fee_and_errors() -> None:
    outputs, fee = payment([60_000], fee=1000, fee_rate=None).plan()
    assert fee == 1000 and outputs[1].amount == 9000
    with pytest.raises(InvalidParameterError, match="49999 sat"):
        payment([49_999]).plan()
    with pytest.raises(InvalidParameterError, match="not both"):
        payment([60_000], fee=10)
    with pytest.raises(InvalidParameterError, match="twice"):
        build.BitcoinPayment((build.Utxo(TXID, 0, 1, P2WPKH),) * 2, (TxOut(1, DEST),), None, fee=0)
    with pytest.raises(InvalidParameterError, match="P2WPKH or P2TR"):
        build.Utxo(TXID, 0, 1, DEST[:1] + b"\x20" + b"\x00" * 32)  # P2WSH: not a vault's coin
    with pytest.raises(InvalidParameterError, match="64 hex"):
        build.Utxo("ab", 0, 1, P2WPKH)


def test_solana_offchain_formats() -> None:
    head = b"\xffsolana offchain\x00"
    assert solana_offchain.serialize(b"hi") == head + b"\x00" + b"\x02\x00" + b"hi"
    assert solana_offchain.serialize("héllo".encode()) == head + b"\x01" + b"\x06\x00" + "héllo".encode()
    long = b"a" * 2000
    assert solana_offchain.serialize(long)[17:20] == b"\x02" + (2000).to_bytes(2, "little")
    for bad in (b"", b"\xff\xfe", b"a" * 65516):
        with pytest.raises(InvalidParameterError):
            solana_offchain.serialize(bad)
