"""The chain registry and the typed transaction contexts (issue 13 item 3).

* ``TxContext``: every chain's context round-trips through its wire form (and through the strict
  CBOR codec a sign request uses); every malformed field is a ``TxContextError`` naming the field.
* ``chains.get``: one adapter per chain; addresses, hashes and signatures agree with the chain
  modules; a guardian's reading (``guardian.policy_gate.read_spend``) equals what the signer signs.
* Layering: ``gridlock.chains`` imports no client, guardian or CLI code and no chain library until
  a chain is used; no ``chain == ...`` branch is left above it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from solders.hash import Hash
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from gridlock import chains, local
from gridlock.chains import (
    BitcoinTx,
    CosmosTx,
    EthereumTx,
    SolanaTx,
    TxContext,
    TxContextError,
    UnknownChainError,
    UnsupportedSchemeError,
    bitcoin,
    cosmos,
    ethereum,
    solana,
)
from gridlock.chains.bitcoin import OutPoint, Spend, TxOut
from gridlock.crypto import codec
from gridlock.errors import DecodeError, InvalidParameterError, SignatureError
from gridlock.guardian.policy_gate import read_spend
from gridlock.wire import ops

SRC = Path(__file__).resolve().parents[1] / "src" / "gridlock"
ETH_TX = {
    "type": 2,
    "chainId": 1337,
    "nonce": 0,
    "maxFeePerGas": 2_000_000_000,
    "maxPriorityFeePerGas": 1_000_000_000,
    "gas": 21_000,
    "to": "0x000000000000000000000000000000000000dEaD",
    "value": 10**15,
    "data": b"",
    "accessList": [],
}


@pytest.fixture(scope="module")
def ecdsa() -> local.LocalSigner:
    return local.signer(local.keygen("ecdsa-secp256k1", 2, 3)[:2])


@pytest.fixture(scope="module")
def taproot() -> local.LocalSigner:
    return local.signer(local.keygen("frost-taproot", 2, 3)[:2])


@pytest.fixture(scope="module")
def ed25519() -> local.LocalSigner:
    return local.signer(local.keygen("frost-ed25519", 2, 3)[:2])


def psbt_for(public_key: bytes, scheme: str, inputs: int = 1) -> str:
    script = bitcoin.p2tr_script(public_key) if scheme == "frost-taproot" else bitcoin.p2wpkh_script(public_key)
    spends = [
        Spend(OutPoint(hashlib.sha256(public_key + bytes([i])).digest(), i), TxOut(100_000, script))
        for i in range(inputs)
    ]
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    change = TxOut(5_000, script)
    return bitcoin.create_psbt(spends, [TxOut(90_000 * inputs, dest), change])


def solana_tx(public_key: bytes) -> bytes:
    me = Pubkey.from_bytes(public_key)
    to = Pubkey.from_bytes(bytes(range(1, 33)))
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=me, to_pubkey=to, lamports=5000))], me, Hash.default()
    )
    return bytes(VersionedTransaction.populate(msg, [Signature.default()]))


def contexts(ecdsa: local.LocalSigner, ed25519: local.LocalSigner) -> list[TxContext]:
    return [
        BitcoinTx(psbt_for(ecdsa.public_key, "ecdsa-secp256k1"), "regtest"),
        EthereumTx.of(ETH_TX),
        SolanaTx(solana_tx(ed25519.public_key)),
        CosmosTx(cosmos.bank_send(ecdsa.public_key, "secret1" + "q" * 38, 1000), "secret"),
    ]


# --- TxContext -------------------------------------------------------------------------------------
def test_contexts_round_trip_through_the_wire(ecdsa: local.LocalSigner, ed25519: local.LocalSigner) -> None:
    for ctx in contexts(ecdsa, ed25519):
        wire = ctx.to_wire()
        assert wire["chain"] == ctx.chain and set(wire) >= {"chain"}
        assert TxContext.from_wire(wire) == ctx
        assert TxContext.from_wire(codec.loads(codec.dumps(wire))) == ctx  # as a sign request carries it
        assert TxContext.from_wire(wire).digest() == ctx.digest()


def test_the_wire_format_is_the_one_guardians_accepted_before(ecdsa: local.LocalSigner) -> None:
    psbt = psbt_for(ecdsa.public_key, "ecdsa-secp256k1")
    assert BitcoinTx(psbt, "regtest").to_wire() == {"chain": "bitcoin", "psbt": psbt, "network": "regtest"}
    assert EthereumTx('{"a": 1}').to_wire() == {"chain": "ethereum", "json": '{"a": 1}'}
    assert SolanaTx(b"\x01").to_wire() == {"chain": "solana", "tx": b"\x01"}
    assert CosmosTx(b"\x0a", "cosmos").to_wire() == {"chain": "cosmos", "sign_doc": b"\x0a", "prefix": "cosmos"}
    # the hold key of a transaction is unchanged: SHA-256 of the sorted JSON with bytes as hex
    wire = CosmosTx(b"\x0a", "cosmos").to_wire()
    expected = hashlib.sha256(json.dumps({**wire, "sign_doc": "0a"}, sort_keys=True).encode()).hexdigest()
    assert CosmosTx(b"\x0a", "cosmos").digest() == expected


def test_contexts_are_frozen_and_the_base_is_abstract() -> None:
    ctx = SolanaTx(b"\x01")
    with pytest.raises(AttributeError):
        ctx.tx = b"\x02"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TxContext()


def test_ethereum_context_of_a_dict_with_bytes_keeps_the_transaction() -> None:
    ctx = EthereumTx.of(ETH_TX)
    assert ctx.tx["data"] == "0x"
    assert ethereum.signing_hash(ctx.tx) == ethereum.signing_hash(ETH_TX)
    with pytest.raises(TxContextError):
        EthereumTx.of({"value": object()})
    with pytest.raises(TxContextError):
        EthereumTx.of([1, 2])  # type: ignore[arg-type]


GOOD_PSBT = base64.b64encode(b"psbt\xff" + b"\x00").decode()
MALFORMED: list[tuple[Any, str | None]] = [
    (None, None),
    ([], None),
    ("bitcoin", None),
    ({}, "chain"),
    ({"chain": 7}, "chain"),
    ({"chain": b"bitcoin"}, "chain"),
    ({"chain": "dogecoin"}, "chain"),
    # bitcoin
    ({"chain": "bitcoin", "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": GOOD_PSBT}, "network"),
    ({"chain": "bitcoin", "psbt": GOOD_PSBT, "network": "regtest", "extra": 1}, "extra"),
    ({"chain": "bitcoin", "psbt": b"psbt\xff\x00", "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": "", "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": "not base64!", "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": base64.b64encode(b"nope").decode(), "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": "A" * (2 * chains.context.MAX_TX_BYTES + 4), "network": "regtest"}, "psbt"),
    ({"chain": "bitcoin", "psbt": GOOD_PSBT, "network": "moon"}, "network"),
    ({"chain": "bitcoin", "psbt": GOOD_PSBT, "network": None}, "network"),
    # ethereum
    ({"chain": "ethereum"}, "json"),
    ({"chain": "ethereum", "json": {"chainId": 1}}, "json"),
    ({"chain": "ethereum", "json": "{not json"}, "json"),
    ({"chain": "ethereum", "json": "[1, 2]"}, "json"),
    ({"chain": "ethereum", "json": ""}, "json"),
    ({"chain": "ethereum", "json": "{}", "tx": b""}, "tx"),
    # solana
    ({"chain": "solana"}, "tx"),
    ({"chain": "solana", "tx": "AQ=="}, "tx"),
    ({"chain": "solana", "tx": b""}, "tx"),
    ({"chain": "solana", "tx": b"\x00" * (chains.context.MAX_TX_BYTES + 1)}, "tx"),
    # cosmos
    ({"chain": "cosmos", "prefix": "secret"}, "sign_doc"),
    ({"chain": "cosmos", "sign_doc": b"\x0a"}, "prefix"),
    ({"chain": "cosmos", "sign_doc": "0a", "prefix": "secret"}, "sign_doc"),
    ({"chain": "cosmos", "sign_doc": b"\x0a", "prefix": "Secret"}, "prefix"),
    ({"chain": "cosmos", "sign_doc": b"\x0a", "prefix": ""}, "prefix"),
    ({"chain": "cosmos", "sign_doc": b"\x0a", "prefix": "a b"}, "prefix"),
    ({"chain": "cosmos", "sign_doc": b"\x0a", "prefix": 5}, "prefix"),
]


@pytest.mark.parametrize(("wire", "field"), MALFORMED)
def test_every_malformed_field_is_a_typed_error(wire: Any, field: str | None) -> None:
    with pytest.raises(TxContextError) as err:
        TxContext.from_wire(wire)
    assert err.value.field == field
    assert isinstance(err.value, DecodeError)  # what a guardian turns into a typed refusal
    with pytest.raises(DecodeError):  # the guardian's entry point: the sign request's decoder
        ops.decode("sign", {"vault": "v", "message": b"m", "signers": ["g"], "nonce": bytes(32), "tx": wire})


def test_a_context_is_checked_when_built_not_only_when_decoded() -> None:
    with pytest.raises(TxContextError):
        BitcoinTx("", "regtest")
    with pytest.raises(TxContextError):
        CosmosTx(b"\x0a", "UPPER")
    with pytest.raises(TxContextError):
        SolanaTx("AQ==")  # type: ignore[arg-type]


# --- the registry ------------------------------------------------------------------------------------
def test_one_adapter_per_chain() -> None:
    assert chains.CHAINS == ("bitcoin", "ethereum", "solana", "cosmos")
    for name in chains.CHAINS:
        adapter = chains.get(name)
        assert adapter.name == name and chains.get(name) is adapter
        assert adapter.context_type.chain == name
    for bad in ("dogecoin", "", "Bitcoin", None, 5):
        with pytest.raises(UnknownChainError, match="unknown chain"):
            chains.get(bad)  # type: ignore[arg-type]
    assert issubclass(UnknownChainError, InvalidParameterError)


def test_addresses_agree_with_the_chain_modules(
    ecdsa: local.LocalSigner, taproot: local.LocalSigner, ed25519: local.LocalSigner
) -> None:
    e, t, d = ecdsa.public_key, taproot.public_key, ed25519.public_key
    btc = chains.get("bitcoin")
    assert btc.address(e, ecdsa.scheme, "regtest") == chains.Address(
        bitcoin.address(e, kind="p2wpkh", network="regtest"), "p2wpkh", "regtest"
    )
    assert btc.address(t, taproot.scheme).address == bitcoin.address(t, kind="p2tr", network="mainnet")
    assert chains.get("ethereum").address(e, ecdsa.scheme).address == ethereum.address(e)
    assert chains.get("solana").address(d, ed25519.scheme).address == solana.address(d)
    assert chains.get("cosmos").address(e, ecdsa.scheme).address == cosmos.address(e, "secret")
    assert chains.get("cosmos").address(e, ecdsa.scheme, "cosmos").address == cosmos.address(e, "cosmos")
    with pytest.raises(UnsupportedSchemeError, match="cannot hold solana"):
        chains.get("solana").address(e, ecdsa.scheme)
    with pytest.raises(UnsupportedSchemeError, match="frost-ed25519"):
        chains.get("solana").check_scheme("ecdsa-secp256k1")
    with pytest.raises(InvalidParameterError, match="unknown bitcoin network"):
        btc.address(e, ecdsa.scheme, "moon")
    with pytest.raises(InvalidParameterError, match="bad cosmos prefix"):
        chains.get("cosmos").address(e, ecdsa.scheme, "UPPER")


def test_an_adapter_refuses_another_chains_context(ecdsa: local.LocalSigner, ed25519: local.LocalSigner) -> None:
    sol = SolanaTx(solana_tx(ed25519.public_key))
    with pytest.raises(TxContextError):
        chains.get("bitcoin").hashes(sol, ecdsa.scheme, ecdsa.public_key)
    with pytest.raises(TxContextError):
        chains.get("cosmos").context(sol)


def _signed_by_adapter(ctx: TxContext, signer: local.LocalSigner) -> chains.SignedTx:
    adapter = chains.get(ctx.chain)
    hashes = adapter.hashes(ctx, signer.scheme, signer.public_key)
    derived = adapter.derive(ctx, signer.scheme, signer.public_key)
    assert set(hashes) == derived.hashes  # the guardian re-derives exactly what the signer signs
    allowed, spend = read_spend(TxContext.from_wire(ctx.to_wire()), signer.scheme, signer.public_key)
    assert allowed == set(hashes) and spend.chain == ctx.chain and spend.tx_hash == ctx.digest()
    signatures = {h: signer.sign(h) for h in hashes}
    signed = adapter.attach(ctx, signer.scheme, signer.public_key, signatures)
    assert signed.chain == ctx.chain and signed.signatures == len(hashes)
    return signed


def test_attach_gives_what_the_chain_modules_give(
    ecdsa: local.LocalSigner, taproot: local.LocalSigner, ed25519: local.LocalSigner
) -> None:
    eth = _signed_by_adapter(EthereumTx.of(ETH_TX), ecdsa)
    assert eth.raw is not None and Account.recover_transaction(eth.raw) == ethereum.address(ecdsa.public_key)
    assert eth.txid == "0x" + keccak(eth.raw).hex()

    sol = _signed_by_adapter(SolanaTx(solana_tx(ed25519.public_key)), ed25519)
    assert sol.raw is not None and VersionedTransaction.from_bytes(sol.raw).verify_with_results() == [True]
    assert sol.txid == str(VersionedTransaction.from_bytes(sol.raw).signatures[0])

    doc = cosmos.bank_send(ecdsa.public_key, "secret1" + "q" * 38, 1000)
    cos = _signed_by_adapter(CosmosTx(doc, "secret"), ecdsa)
    assert cos.raw is not None and cos.txid == hashlib.sha256(cos.raw).hexdigest().upper()
    assert local.verify(ecdsa.scheme, ecdsa.public_key, hashlib.sha256(doc).digest(), cos.raw[-64:])

    psbt = psbt_for(ecdsa.public_key, "ecdsa-secp256k1", inputs=2)
    btc = _signed_by_adapter(BitcoinTx(psbt, "regtest"), ecdsa)
    assert btc.signatures == 2 and btc.raw is not None and btc.finalize_error is None
    assert btc.txid == bitcoin.Transaction.parse(btc.raw).txid_hex
    # the guardian counts the payment, not the vault's own change
    _, spend = read_spend(BitcoinTx(psbt, "regtest"), ecdsa.scheme, ecdsa.public_key)
    paid = [(m.destination, m.amount) for m in spend.movements if m.kind == "transfer"]
    assert paid == [("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", 180_000)]


def test_a_psbt_of_two_keys_is_signed_key_by_key(ecdsa: local.LocalSigner, taproot: local.LocalSigner) -> None:
    wpkh, tr = bitcoin.p2wpkh_script(ecdsa.public_key), bitcoin.p2tr_script(taproot.public_key)
    spends = [
        Spend(OutPoint(b"\x01" * 32, 0), TxOut(100_000, wpkh)),
        Spend(OutPoint(b"\x02" * 32, 1), TxOut(100_000, tr)),
    ]
    psbt = bitcoin.create_psbt(spends, [TxOut(190_000, wpkh)])
    btc = chains.get("bitcoin")
    first = btc.sign(BitcoinTx(psbt, "regtest"), ecdsa)
    assert first.raw is None and first.finalize_error and first.psbt and first.signatures == 1
    assert btc.file_text(first) == first.psbt and btc.result_fields(first)["finalize_error"]
    second = btc.sign(BitcoinTx(first.psbt, "regtest"), taproot)
    assert second.raw is not None and second.signatures == 1
    with pytest.raises(bitcoin.ForeignInputError):  # a key that controls no input signs nothing
        btc.hashes(BitcoinTx(psbt_for(ecdsa.public_key, ecdsa.scheme), "regtest"), taproot.scheme, taproot.public_key)


def test_attach_refuses_missing_and_surplus_signatures(ecdsa: local.LocalSigner) -> None:
    adapter = chains.get("ethereum")
    ctx = EthereumTx.of(ETH_TX)
    (h,) = adapter.hashes(ctx, ecdsa.scheme, ecdsa.public_key)
    with pytest.raises(SignatureError):
        adapter.attach(ctx, ecdsa.scheme, ecdsa.public_key, {})
    with pytest.raises(SignatureError):
        adapter.attach(ctx, ecdsa.scheme, ecdsa.public_key, {h: ecdsa.sign(h), b"\x00" * 32: ecdsa.sign(b"\x00" * 32)})
    with pytest.raises(SignatureError):  # a signature of another hash does not verify
        adapter.attach(ctx, ecdsa.scheme, ecdsa.public_key, {h: ecdsa.sign(b"\x01" * 32)})


def test_loading_transaction_files(ecdsa: local.LocalSigner, ed25519: local.LocalSigner) -> None:
    raw_sol = solana_tx(ed25519.public_key)
    sol = chains.get("solana")
    assert sol.load(raw_sol) == sol.load(base64.b64encode(raw_sol)) == SolanaTx(raw_sol)
    doc = cosmos.bank_send(ecdsa.public_key, "secret1" + "q" * 38, 1000)
    cos = chains.get("cosmos")
    assert cos.load(doc.hex().encode()) == cos.load(doc) == CosmosTx(doc, "secret")
    assert cos.load(doc, "cosmos").network_name == "cosmos"
    psbt = psbt_for(ecdsa.public_key, ecdsa.scheme)
    btc = chains.get("bitcoin")
    assert btc.load(psbt.encode() + b"\n", "regtest") == btc.load(base64.b64decode(psbt), "regtest")
    assert btc.load(psbt.encode()).network_name == "mainnet"
    eth = chains.get("ethereum")
    assert eth.load(json.dumps({"chainId": 1}).encode()) == EthereumTx('{"chainId": 1}')
    for adapter, bad in ((eth, b"{nope"), (eth, b"[1]"), (sol, b"!!!!"), (btc, b"\xff\xfe")):
        with pytest.raises(DecodeError):
            adapter.load(bad)


# --- layering ----------------------------------------------------------------------------------------
def test_chains_import_nothing_above_them_and_no_chain_library_up_front() -> None:
    code = (
        "import sys, gridlock.chains as c; "
        "bad = [m for m in sys.modules if m.startswith(('gridlock.client', 'gridlock.guardian', 'gridlock.cli',"
        " 'eth_account', 'solders', 'gridlock.chains.adapters'))]; "
        "c.get('bitcoin'); "
        "bad += [m for m in sys.modules if m.startswith(('gridlock.client', 'gridlock.guardian', 'gridlock.cli'))]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_chain_name_branches_above_the_chains_package() -> None:
    pattern = re.compile(r"""chain\s*==\s*["']""")
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for package in ("cli", "client", "guardian")
        for path in sorted((SRC / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
