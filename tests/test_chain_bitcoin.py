"""Bitcoin chain code: addresses, BIP143/BIP341 sighash vectors, PSBT signing with real threshold
keys, summaries, and every error case (missing UTXO, mismatched amounts, foreign inputs, garbage).

Bitcoin Core's consensus engine checks the signed transactions in ``test_chain_bitcoin_kernel.py``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from coincurve import PrivateKey, PublicKey, PublicKeyXOnly
from coincurve.ecdsa import der_to_cdata, serialize_compact
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_vector
from gridlock import local
from gridlock.chains import Signer, bitcoin
from gridlock.chains.bitcoin import (
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    SIGHASH_SINGLE,
    AddressError,
    ChainError,
    FinalizeError,
    ForeignInputError,
    MalformedError,
    MissingUtxoError,
    OutPoint,
    Psbt,
    SighashTypeError,
    Spend,
    Transaction,
    TxIn,
    TxOut,
    UnsupportedSignerError,
    UtxoMismatchError,
)
from gridlock.chains.bitcoin.address import hash160
from gridlock.chains.bitcoin.sighash import TAPROOT_HASH_TYPES, bip143_sighash, bip341_sigmsg, p2wpkh_script_code
from gridlock.chains.bitcoin.signing import CURVE_ORDER, der_decode, der_encode
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, SignatureError

COIN = 100_000_000
ALL_HASH_TYPES = sorted(TAPROOT_HASH_TYPES)


# --- signers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecdsa_signer() -> local.LocalSigner:
    return local.signer(local.keygen("ecdsa-secp256k1", 3, 5)[:3])


@pytest.fixture(scope="module")
def taproot_signer() -> local.LocalSigner:
    return local.signer(local.keygen("frost-taproot", 3, 5)[2:])


class KeySigner:
    """A single-key signer with a known private key, to reproduce published vectors exactly."""

    def __init__(self, scheme: str, secret: bytes) -> None:
        self.scheme = scheme
        self._key = PrivateKey(secret)
        pub = self._key.public_key.format(compressed=True)
        self.public_key = pub if scheme == "ecdsa-secp256k1" else pub[1:]

    def sign(self, message: bytes) -> bytes:
        if self.scheme == "ecdsa-secp256k1":  # RFC 6979, low S: what BIP143's example used
            return bytes(serialize_compact(der_to_cdata(self._key.sign(message, hasher=None))))
        return bytes(self._key.sign_schnorr(message, bytes(32)))  # aux_rand = 0, as BIP341's vectors


class RecordingSigner:
    """Wraps a signer and records every message it was asked to sign."""

    def __init__(self, inner: Signer, transform: Callable[[bytes], bytes] | None = None) -> None:
        self.scheme = inner.scheme
        self.public_key = inner.public_key
        self.inner = inner
        self.transform = transform
        self.seen: list[bytes] = []

    def sign(self, message: bytes) -> bytes:
        self.seen.append(message)
        sig = self.inner.sign(message)
        return self.transform(sig) if self.transform else sig


# --- PSBT construction helpers ---------------------------------------------------------------------


def prev_tx(outputs: list[TxOut], tag: int = 1) -> Transaction:
    """A made-up earlier transaction paying ``outputs`` (only its txid and outputs matter)."""
    return Transaction(2, (TxIn(OutPoint(bytes([tag]) * 32, 0)),), tuple(outputs), 0)


def spend_of(tx: Transaction, vout: int = 0, *, full: bool = True) -> Spend:
    return Spend(OutPoint(tx.txid(), vout), tx.outputs[vout], prev_tx=tx if full else None)


def psbt_paying(spends: list[Spend], amount: int, *, to: str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080") -> str:
    return bitcoin.create_psbt(spends, [TxOut(amount, bitcoin.address_to_script(to, "regtest"))])


def edit(psbt_b64: str, fn: Callable[[Psbt], None]) -> str:
    psbt = Psbt.from_base64(psbt_b64)
    fn(psbt)
    return psbt.to_base64()


def set_hash_types(psbt: Psbt, hash_types: list[int]) -> None:
    for i, hash_type in enumerate(hash_types):
        psbt.set_sighash_type(i, hash_type)


# --- addresses -------------------------------------------------------------------------------------


def test_bip341_scriptpubkey_vectors_addresses() -> None:
    vectors = load_vector("bitcoin/bip341-wallet-test-vectors.json")["scriptPubKey"]
    assert len(vectors) == 7
    for v in vectors:
        q = bytes.fromhex(v["intermediary"]["tweakedPubkey"])
        assert bitcoin.address(q, kind="p2tr", network="mainnet") == v["expected"]["bip350Address"]
        assert bitcoin.p2tr_script(q).hex() == v["expected"]["scriptPubKey"]
        assert bitcoin.address_to_script(v["expected"]["bip350Address"]).hex() == v["expected"]["scriptPubKey"]


def test_bip173_p2wpkh_reference_addresses() -> None:
    key = bytes.fromhex("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
    expected = {
        "mainnet": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "testnet": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        "signet": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        "regtest": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    }
    for network, addr in expected.items():
        assert bitcoin.address(key, kind="p2wpkh", network=network) == addr
        assert bitcoin.address_to_script(addr, network) == bitcoin.p2wpkh_script(key)
    assert bitcoin.address(key) == expected["mainnet"]  # kind inferred from a 33-byte key


def test_threshold_key_addresses(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    for network, hrp in (("mainnet", "bc1"), ("testnet", "tb1"), ("signet", "tb1"), ("regtest", "bcrt1")):
        wpkh = bitcoin.address(ecdsa_signer.public_key, kind="p2wpkh", network=network)
        tr = bitcoin.address(taproot_signer.public_key, kind="p2tr", network=network)
        assert wpkh.startswith(hrp + "q") and tr.startswith(hrp + "p")
        assert bitcoin.address_to_script(wpkh, network) == b"\x00\x14" + hash160(ecdsa_signer.public_key)
        # the frost-taproot key already is the output key Q: no second tweak
        assert bitcoin.address_to_script(tr, network) == b"\x51\x20" + taproot_signer.public_key
    assert bitcoin.address(taproot_signer.public_key, network="regtest").startswith("bcrt1p")


def test_address_legacy_and_other_scripts() -> None:
    # private key 1: its P2PKH output is input 2 of BIP341's vector transaction
    spk = bytes.fromhex("76a914751e76e8199196d454941c45d1b3a323f1433bd688ac")
    assert bitcoin.script_to_address(spk) == "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
    assert bitcoin.address_to_script("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH") == spk
    with pytest.raises(AddressError):  # a mainnet address on regtest
        bitcoin.address_to_script("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", "regtest")
    h = bytes(range(20))
    p2pkh = bitcoin.script_to_address(b"\x76\xa9\x14" + h + b"\x88\xac")
    p2sh = bitcoin.script_to_address(b"\xa9\x14" + h + b"\x87", "regtest")
    assert p2pkh is not None and p2pkh.startswith("1")
    assert p2sh is not None and p2sh.startswith("2")
    assert bitcoin.address_to_script(p2pkh) == b"\x76\xa9\x14" + h + b"\x88\xac"
    assert bitcoin.address_to_script(p2sh, "regtest") == b"\xa9\x14" + h + b"\x87"
    assert bitcoin.script_to_address(b"\x6a\x04test") is None
    assert bitcoin.script_kind(b"\x6a\x04test") == "op_return"
    assert bitcoin.script_to_address(b"\x00\x20" + bytes(32)) is not None  # P2WSH
    assert bitcoin.script_kind(b"\x52\x02\x00\x00") == "witness_v2"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (bytes(33), "p2wpkh"),  # prefix 00
        (b"\x02" + b"\xff" * 32, "p2wpkh"),  # x beyond the field
        (b"\x04" + bytes(64), "p2wpkh"),  # uncompressed form is not allowed in segwit v0
        (bytes.fromhex("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"), "p2tr"),
        (b"\xff" * 32, "p2tr"),  # not a field element
        (bytes(31), "p2tr"),
        (bytes(32), "p2wpkh"),
        ((5).to_bytes(32, "big"), "p2tr"),  # x = 5: x^3 + 7 is not a square, no point has it
        (b"\x02" + (5).to_bytes(32, "big"), "p2wpkh"),
    ],
)
def test_address_rejects_bad_keys(key: bytes, kind: str) -> None:
    with pytest.raises(AddressError) as err:
        bitcoin.address(key, kind=kind, network="regtest")
    assert isinstance(err.value, InvalidParameterError)


def test_address_rejects_bad_parameters(ecdsa_signer: local.LocalSigner) -> None:
    with pytest.raises(AddressError):
        bitcoin.address(ecdsa_signer.public_key, kind="p2pkh")
    with pytest.raises(AddressError):
        bitcoin.address(ecdsa_signer.public_key, kind="p2wpkh", network="litecoin")
    with pytest.raises(AddressError):
        bitcoin.address("02" * 33)  # type: ignore[arg-type]
    with pytest.raises(AddressError):
        bitcoin.address(bytes(20))
    mainnet = bitcoin.address(ecdsa_signer.public_key, kind="p2wpkh")
    for bad in (
        mainnet,  # mainnet address on regtest
        mainnet[:-1] + ("q" if mainnet[-1] != "q" else "p"),  # checksum
        "bcrt1",
        "",
        "bcrt1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",  # bech32 for v1
        "ünïcode",
    ):
        with pytest.raises(AddressError):
            bitcoin.address_to_script(bad, "regtest")


# --- sighash vectors ---------------------------------------------------------------------------------


def _bip341_case() -> tuple[dict[str, Any], Transaction, list[TxOut]]:
    case = load_vector("bitcoin/bip341-wallet-test-vectors.json")["keyPathSpending"][0]
    tx = Transaction.parse(bytes.fromhex(case["given"]["rawUnsignedTx"]))
    spent = [TxOut(u["amountSats"], bytes.fromhex(u["scriptPubKey"])) for u in case["given"]["utxosSpent"]]
    return case, tx, spent


def test_bip341_keypath_sighash_vectors() -> None:
    case, tx, spent = _bip341_case()
    seen_types = set()
    for inp in case["inputSpending"]:
        i, hash_type = inp["given"]["txinIndex"], inp["given"]["hashType"]
        seen_types.add(hash_type)
        assert (b"\x00" + bip341_sigmsg(tx, i, spent, hash_type)).hex() == inp["intermediary"]["sigMsg"]
        assert bitcoin.bip341_sighash(tx, i, spent, hash_type).hex() == inp["intermediary"]["sigHash"]
        # each digest depends on every spent amount (unless ANYONECANPAY)
        other = (i + 1) % len(spent)
        bumped = [TxOut(o.amount + (j == other), o.script_pubkey) for j, o in enumerate(spent)]
        changed = bitcoin.bip341_sighash(tx, i, bumped, hash_type).hex() != inp["intermediary"]["sigHash"]
        assert changed == (not hash_type & 0x80)
    assert seen_types == {0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83}


def test_bip341_vectors_through_sign_psbt_and_finalize() -> None:
    """Sign the vector transaction's Taproot inputs through the PSBT path; the result is BIP341's tx."""
    case, tx, spent = _bip341_case()
    psbt = Psbt.create(tx.inputs, tx.outputs, version=tx.version, locktime=tx.locktime)
    for i, utxo in enumerate(spent):
        psbt.set_witness_utxo(i, utxo)
    for inp in case["inputSpending"]:
        psbt.set_sighash_type(inp["given"]["txinIndex"], inp["given"]["hashType"])
    text = psbt.to_base64()
    for inp in case["inputSpending"]:
        i = inp["given"]["txinIndex"]
        signer = KeySigner("frost-taproot", bytes.fromhex(inp["intermediary"]["tweakedPrivkey"]))
        text = bitcoin.sign_psbt(text, signer, allow_foreign_inputs=True)
        assert Psbt.from_base64(text).tap_key_sig(i).hex() == inp["expected"]["witness"][0]  # type: ignore[union-attr]
    # the P2PKH and P2WPKH inputs' keys are not in the vectors: take their final data from the signed tx
    signed = Transaction.parse(bytes.fromhex(case["auxiliary"]["fullySignedTx"]))
    psbt = Psbt.from_base64(text)
    for i in (2, 5):
        psbt.set_final(i, signed.inputs[i].script_sig, signed.inputs[i].witness)
    assert bitcoin.finalize_psbt(psbt.to_base64()).hex() == case["auxiliary"]["fullySignedTx"]


# BIP143 "Native P2WPKH" example (values from the BIP text).
BIP143_UNSIGNED = (
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
    "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206"
    "000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42db"
    "ee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
BIP143_P2PK_SCRIPT = "2103c9f4836b9a4f77fc0d81f7bcb01b7f1b35916864b9476c241ce9fc198bd25432ac"
BIP143_P2WPKH_SCRIPT = "00141d0f172a0ecb48aee1be1f2687d2963ae33f71a1"
BIP143_PRIVKEY = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9"
BIP143_PUBKEY = "025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357"
BIP143_SIGHASH = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
BIP143_SIGNATURE = (
    "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c451833"
    "1561406f90300e8f3358f51928d43c212a8caed02de67eebee01"
)
BIP143_SIGNED = (
    "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f000000004948"
    "30450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3"
    "f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d182d279655c3a"
    "a89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df3"
    "78db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f016"
    "7faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a"
    "0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee0121025476c2e83188368d"
    "a1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000"
)


def test_bip143_native_p2wpkh_example() -> None:
    tx = Transaction.parse(bytes.fromhex(BIP143_UNSIGNED))
    program = bytes.fromhex(BIP143_P2WPKH_SCRIPT)[2:]
    digest = bip143_sighash(tx, 1, p2wpkh_script_code(program), 600_000_000, SIGHASH_ALL)
    assert digest.hex() == BIP143_SIGHASH

    psbt = Psbt.create(tx.inputs, tx.outputs, version=tx.version, locktime=tx.locktime)
    psbt.set_witness_utxo(0, TxOut(625_000_000, bytes.fromhex(BIP143_P2PK_SCRIPT)))
    psbt.set_witness_utxo(1, TxOut(600_000_000, bytes.fromhex(BIP143_P2WPKH_SCRIPT)))
    signer = KeySigner("ecdsa-secp256k1", bytes.fromhex(BIP143_PRIVKEY))
    assert signer.public_key.hex() == BIP143_PUBKEY
    text = psbt.to_base64()
    assert bitcoin.sighashes(text, signer.scheme, signer.public_key) == [(1, bytes.fromhex(BIP143_SIGHASH), 1)]
    signed_psbt = Psbt.from_base64(bitcoin.sign_psbt(text, signer, allow_foreign_inputs=True))
    assert signed_psbt.partial_sigs(1) == {signer.public_key: bytes.fromhex(BIP143_SIGNATURE)}
    # the P2PK input's signature comes from the BIP; finalising yields the BIP's transaction
    signed = Transaction.parse(bytes.fromhex(BIP143_SIGNED))
    signed_psbt.set_final(0, signed.inputs[0].script_sig, ())
    assert bitcoin.finalize_psbt(signed_psbt.to_base64()).hex() == BIP143_SIGNED


def test_transaction_codec_is_strict() -> None:
    signed = bytes.fromhex(BIP143_SIGNED)
    tx = Transaction.parse(signed)
    assert tx.serialize() == signed and tx.has_witness
    assert Transaction.parse(tx.serialize(include_witness=False)).txid() == tx.txid()
    unsigned = bytes.fromhex(BIP143_UNSIGNED)
    assert Transaction.parse(unsigned, allow_witness=False).serialize() == unsigned
    bad_cases = [
        signed + b"\x00",  # trailing byte
        signed[:-1],  # truncated
        unsigned[:4] + b"\xfd\x02\x00" + unsigned[5:],  # input count 2 as a non-canonical CompactSize
        unsigned[:4] + b"\xff" + unsigned[5:],  # absurd input count
        signed[:5] + b"\x02" + signed[6:],  # unknown witness flag
    ]
    # a witness flag with every witness empty ("superfluous witness record")
    empty = Transaction(
        tx.version, tuple(TxIn(i.prevout, i.script_sig, i.sequence, (b"",)) for i in tx.inputs), tx.outputs, 0
    )
    bad_cases.append(empty.serialize().replace(b"\x01\x00\x01\x00", b"\x00\x00", 1))
    for bad in bad_cases:
        with pytest.raises(MalformedError):
            Transaction.parse(bad)
    with pytest.raises(MalformedError):  # more than 21 million BTC
        TxOut(21_000_001 * COIN, b"")
    with pytest.raises(MalformedError):
        TxOut.parse((2**63).to_bytes(8, "little") + b"\x00")
    valid = base64.b64decode(bitcoin.create_psbt([], []))
    Psbt.parse(valid)
    for bad in (valid + b"\x00", valid[:-1], valid.replace(b"\x01\x00", b"\xfd\x01\x00\x00", 1)):
        with pytest.raises(MalformedError):
            Psbt.parse(bad)


def test_der_codec() -> None:
    rng = random.Random(7)
    for _ in range(200):
        r, s = rng.randrange(1, CURVE_ORDER), rng.randrange(1, 2 ** rng.randrange(1, 256))
        assert der_decode(der_encode(r, s)) == (r, s)
    assert der_decode(bytes.fromhex(BIP143_SIGNATURE)[:-1])[0] == int(
        "3609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a", 16
    )
    good = der_encode(5, 7)
    for bad in (
        good[:-1],
        b"\x31" + good[1:],
        good[:1] + bytes([good[1] + 1]) + good[2:],
        der_encode(2**255, 1)[:4] + der_encode(2**255, 1)[5:],  # r without its sign-padding byte
        b"",
    ):
        if bad != good:
            with pytest.raises(MalformedError):
                der_decode(bad)


# --- signing with threshold keys ----------------------------------------------------------------------


def test_sign_and_finalize_p2wpkh(ecdsa_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2wpkh_script(ecdsa_signer.public_key)
    prev = prev_tx([TxOut(2 * COIN, spk), TxOut(3 * COIN, spk)])
    text = psbt_paying([spend_of(prev, 0), spend_of(prev, 1, full=False)], 4 * COIN)
    recorder = RecordingSigner(ecdsa_signer)
    wanted = bitcoin.sighashes(text, "ecdsa-secp256k1", ecdsa_signer.public_key)
    signed = bitcoin.sign_psbt(text, recorder, allow_foreign_inputs=True)
    assert [w.sighash for w in wanted] == recorder.seen and [w.input_index for w in wanted] == [0, 1]
    psbt = Psbt.from_base64(signed)
    for req in wanted:
        sig = psbt.partial_sigs(req.input_index)[ecdsa_signer.public_key]
        assert sig[-1] == SIGHASH_ALL
        _, s = der_decode(sig[:-1])
        assert s <= CURVE_ORDER // 2  # low S
        assert PublicKey(ecdsa_signer.public_key).verify(sig[:-1], req.sighash, hasher=None)
    raw = bitcoin.finalize_psbt(signed)
    tx = Transaction.parse(raw)
    assert tx.txid() == psbt.tx.txid()  # segwit: signing does not change the txid
    for txin, req in zip(tx.inputs, wanted, strict=True):
        assert txin.script_sig == b""
        assert txin.witness == (psbt.partial_sigs(req.input_index)[ecdsa_signer.public_key], ecdsa_signer.public_key)


def test_sign_p2tr_every_hash_type(taproot_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2tr_script(taproot_signer.public_key)
    prev = prev_tx([TxOut(COIN + i, spk) for i in range(len(ALL_HASH_TYPES))])
    spends = [spend_of(prev, i) for i in range(len(ALL_HASH_TYPES))]
    text = bitcoin.create_psbt(spends, [TxOut(COIN, spk) for _ in spends])  # SIGHASH_SINGLE needs its output
    text = edit(text, lambda p: set_hash_types(p, ALL_HASH_TYPES))
    wanted = bitcoin.sighashes(text, "frost-taproot", taproot_signer.public_key)
    assert [(w.input_index, w.hash_type) for w in wanted] == list(enumerate(ALL_HASH_TYPES))
    signed = Psbt.from_base64(bitcoin.sign_psbt(text, taproot_signer, allow_foreign_inputs=True))
    for req in wanted:
        sig = signed.tap_key_sig(req.input_index)
        assert sig is not None
        if req.hash_type == SIGHASH_DEFAULT:
            assert len(sig) == 64
        else:
            assert len(sig) == 65 and sig[64] == req.hash_type
        assert PublicKeyXOnly(taproot_signer.public_key).verify(sig[:64], req.sighash)
    tx = Transaction.parse(bitcoin.finalize_psbt(signed.to_base64()))
    assert [txin.witness for txin in tx.inputs] == [(signed.tap_key_sig(i),) for i in range(len(ALL_HASH_TYPES))]


def test_sign_p2wpkh_standard_hash_types(ecdsa_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2wpkh_script(ecdsa_signer.public_key)
    types = [0x01, 0x02, 0x03, 0x81, 0x82, 0x83]
    prev = prev_tx([TxOut(COIN, spk) for _ in types])
    text = bitcoin.create_psbt(
        [spend_of(prev, i) for i in range(len(types))], [TxOut(COIN, spk) for _ in types]
    )  # one output per input, so SIGHASH_SINGLE has its output
    text = edit(text, lambda p: set_hash_types(p, types))
    signed = Psbt.from_base64(bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=True))
    assert [signed.partial_sigs(i)[ecdsa_signer.public_key][-1] for i in range(len(types))] == types
    bitcoin.finalize_psbt(signed.to_base64())  # verifies every signature


def test_mixed_keys_sign_in_turn(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    """One transaction spending the vault's P2WPKH and P2TR coins: each key signs its own inputs."""
    prev = prev_tx(
        [
            TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key)),
            TxOut(COIN, bitcoin.p2tr_script(taproot_signer.public_key)),
        ]
    )
    text = psbt_paying([spend_of(prev, 0), spend_of(prev, 1)], COIN)
    with pytest.raises(FinalizeError) as err:  # nobody signed yet
        bitcoin.finalize_psbt(text)
    assert err.value.index == 0
    half = bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=True)
    with pytest.raises(FinalizeError) as err:  # the Taproot input still lacks its signature
        bitcoin.finalize_psbt(half)
    assert err.value.index == 1 and "not signed" in str(err.value)
    with pytest.raises(ForeignInputError) as ferr:  # strict mode refuses the foreign input up front
        bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=False)
    assert ferr.value.index == 1
    full = bitcoin.sign_psbt(half, taproot_signer, allow_foreign_inputs=True)
    tx = Transaction.parse(bitcoin.finalize_psbt(full))
    assert len(tx.inputs[0].witness) == 2 and len(tx.inputs[1].witness) == 1
    # signing again is harmless: same inputs, fresh signatures
    assert bitcoin.sighashes(full, "frost-taproot", taproot_signer.public_key)[0].input_index == 1


def test_summary(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    wpkh, tr = bitcoin.p2wpkh_script(ecdsa_signer.public_key), bitcoin.p2tr_script(taproot_signer.public_key)
    prev = prev_tx([TxOut(5 * COIN, wpkh), TxOut(COIN, tr)])
    dest = bitcoin.address(taproot_signer.public_key, kind="p2tr", network="testnet")
    text = bitcoin.create_psbt(
        [spend_of(prev, 0), spend_of(prev, 1, full=False)],
        [TxOut(4 * COIN, bitcoin.address_to_script(dest, "testnet")), TxOut(0, b"\x6a\x02hi"), TxOut(COIN // 2, wpkh)],
    )
    s = bitcoin.summarize(text, network="testnet")
    assert s.network == "testnet"
    assert [(r.address, r.amount) for r in s.recipients] == [
        (dest, 4 * COIN),
        (None, 0),
        (bitcoin.address(ecdsa_signer.public_key, kind="p2wpkh", network="testnet"), COIN // 2),
    ]
    assert s.recipients[1].kind == "op_return"
    assert (s.total_in, s.total_out, s.fee) == (6 * COIN, 4 * COIN + COIN // 2, COIN + COIN // 2)
    assert [(i.kind, i.amount, i.amount_verified) for i in s.inputs] == [
        ("p2wpkh", 5 * COIN, True),
        ("p2tr", COIN, False),
    ]
    assert s.inputs[0].txid == prev.txid_hex
    assert s.txid == Psbt.from_base64(text).tx.txid_hex
    mine = bitcoin.sighashes(text, "ecdsa-secp256k1", ecdsa_signer.public_key) + bitcoin.sighashes(
        text, "frost-taproot", taproot_signer.public_key
    )
    assert list(s.sighashes) == mine
    text_desc = s.describe()
    assert dest in text_desc and "fee 1.50000000 BTC" in text_desc and "SIGHASH_DEFAULT" in text_desc
    data = json.loads(json.dumps(s.as_dict()))
    assert data["fee"] == s.fee and data["sighashes"][1]["sighash"] == mine[1].sighash.hex()
    assert bitcoin.summarize(text, network="mainnet").recipients[0].address == bitcoin.address(
        taproot_signer.public_key
    )
    with pytest.raises(AddressError):
        bitcoin.summarize(text, network="dogecoin")


# --- error cases ----------------------------------------------------------------------------------------


def test_missing_utxo(ecdsa_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2wpkh_script(ecdsa_signer.public_key)
    prev = prev_tx([TxOut(COIN, spk), TxOut(COIN, spk)])
    psbt = Psbt.create([TxIn(OutPoint(prev.txid(), 0)), TxIn(OutPoint(prev.txid(), 1))], [TxOut(COIN, spk)])
    psbt.set_witness_utxo(0, prev.outputs[0])  # input 1 carries nothing
    text = psbt.to_base64()
    for call in (
        lambda: bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=True),
        lambda: bitcoin.sighashes(text, ecdsa_signer.scheme, ecdsa_signer.public_key),
        lambda: bitcoin.summarize(text, network="regtest"),
        lambda: bitcoin.finalize_psbt(text),
    ):
        with pytest.raises(MissingUtxoError) as err:
            call()
        assert err.value.index == 1 and "no UTXO data" in str(err.value)


def test_mismatched_amounts(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    for scheme_signer, spk in (
        (ecdsa_signer, bitcoin.p2wpkh_script(ecdsa_signer.public_key)),
        (taproot_signer, bitcoin.p2tr_script(taproot_signer.public_key)),
    ):
        prev = prev_tx([TxOut(COIN, spk)])
        text = psbt_paying([spend_of(prev)], COIN // 2)
        # witness_utxo claims another amount than the full previous transaction
        lying = edit(text, lambda p, spk=spk: p.set_witness_utxo(0, TxOut(COIN - 1, spk)))
        with pytest.raises(UtxoMismatchError, match="amount") as err:
            bitcoin.sign_psbt(lying, scheme_signer, allow_foreign_inputs=True)
        assert err.value.index == 0
        # witness_utxo with another script
        other = edit(text, lambda p: p.set_witness_utxo(0, TxOut(COIN, b"\x00\x14" + bytes(20))))
        with pytest.raises(UtxoMismatchError, match="script"):
            bitcoin.summarize(other, network="regtest")
        # non_witness_utxo that is not the transaction the input spends
        wrong_tx = prev_tx([TxOut(COIN, spk)], tag=9)
        swapped = edit(text, lambda p, t=wrong_tx: p.set_non_witness_utxo(0, t))
        with pytest.raises(UtxoMismatchError, match="txid"):
            bitcoin.sign_psbt(swapped, scheme_signer, allow_foreign_inputs=True)
    # prevout index beyond the previous transaction's outputs
    prev = prev_tx([TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key))])
    psbt = Psbt.create([TxIn(OutPoint(prev.txid(), 3))], [TxOut(1, b"\x51")])
    psbt.set_non_witness_utxo(0, prev)
    with pytest.raises(UtxoMismatchError, match="no output 3"):
        bitcoin.finalize_psbt(psbt.to_base64())
    # outputs exceeding inputs
    with pytest.raises(ChainError, match="exceed"):
        bitcoin.sign_psbt(psbt_paying([spend_of(prev)], COIN + 1), ecdsa_signer, allow_foreign_inputs=True)


def test_foreign_inputs(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    stranger = KeySigner("ecdsa-secp256k1", bytes([7]) * 32)
    foreign = prev_tx([TxOut(COIN, bitcoin.p2wpkh_script(stranger.public_key))], tag=3)
    ours = prev_tx([TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key))], tag=4)
    only_foreign = psbt_paying([spend_of(foreign)], COIN // 2)
    for signer in (ecdsa_signer, taproot_signer):
        with pytest.raises(ForeignInputError, match="controls no input") as err:
            bitcoin.sign_psbt(only_foreign, signer, allow_foreign_inputs=True)
        assert err.value.index == 0
    # the same P2WPKH key hash is not "ours" for the Taproot key, nor the reverse
    tr_coin = prev_tx([TxOut(COIN, bitcoin.p2tr_script(taproot_signer.public_key))], tag=5)
    with pytest.raises(ForeignInputError):
        bitcoin.sign_psbt(psbt_paying([spend_of(tr_coin)], 1), ecdsa_signer, allow_foreign_inputs=True)
    mixed = psbt_paying([spend_of(ours), spend_of(foreign)], COIN)
    with pytest.raises(ForeignInputError) as err:
        bitcoin.sign_psbt(mixed, ecdsa_signer)  # the default refuses inputs of other keys
    assert err.value.index == 1
    with pytest.raises(ForeignInputError):
        bitcoin.sighashes(mixed, "ecdsa-secp256k1", ecdsa_signer.public_key, allow_foreign_inputs=False)
    signed = bitcoin.sign_psbt(mixed, ecdsa_signer, allow_foreign_inputs=True)  # sign ours, leave the other
    assert list(Psbt.from_base64(signed).partial_sigs(1)) == []
    with pytest.raises(FinalizeError) as ferr:
        bitcoin.finalize_psbt(signed)
    assert ferr.value.index == 1
    both = bitcoin.sign_psbt(signed, stranger, allow_foreign_inputs=True)
    assert len(Transaction.parse(bitcoin.finalize_psbt(both)).inputs) == 2


def test_hash_type_refusals(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    for signer, spk in (
        (ecdsa_signer, bitcoin.p2wpkh_script(ecdsa_signer.public_key)),
        (taproot_signer, bitcoin.p2tr_script(taproot_signer.public_key)),
    ):
        prev = prev_tx([TxOut(COIN, spk), TxOut(COIN, spk)])
        text = psbt_paying([spend_of(prev, 0), spend_of(prev, 1)], COIN)  # one output only
        single = edit(text, lambda p: p.set_sighash_type(1, SIGHASH_SINGLE))
        with pytest.raises(SighashTypeError, match="SINGLE") as err:
            bitcoin.sign_psbt(single, signer, allow_foreign_inputs=True)
        assert err.value.index == 1
        for bad in (0x04, 0x41, 0x84, 0xFF, 0x100):
            with pytest.raises(SighashTypeError):
                bitcoin.sign_psbt(
                    edit(text, lambda p, b=bad: p.set_sighash_type(0, b)), signer, allow_foreign_inputs=True
                )
    prev = prev_tx([TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key))])
    with pytest.raises(SighashTypeError):  # SIGHASH_DEFAULT exists for Taproot only
        bitcoin.sign_psbt(
            edit(psbt_paying([spend_of(prev)], 1), lambda p: p.set_sighash_type(0, 0)),
            ecdsa_signer,
            allow_foreign_inputs=True,
        )


def test_bad_signers_and_signatures(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> None:
    ed = local.signer(local.keygen("frost-ed25519", 2, 3)[:2])
    prev = prev_tx([TxOut(COIN, bitcoin.p2tr_script(taproot_signer.public_key))])
    text = psbt_paying([spend_of(prev)], COIN // 2)
    with pytest.raises(UnsupportedSignerError):
        bitcoin.sign_psbt(text, ed, allow_foreign_inputs=True)
    with pytest.raises(UnsupportedSignerError):
        bitcoin.sighashes(text, "frost-secp256k1", taproot_signer.public_key)
    flip: Callable[[bytes], bytes] = lambda sig: sig[:-1] + bytes([sig[-1] ^ 1])  # noqa: E731
    for transform in (flip, lambda sig: sig[:63], lambda sig: "x" * 64):
        with pytest.raises(SignatureError):
            bitcoin.sign_psbt(text, RecordingSigner(taproot_signer, transform), allow_foreign_inputs=True)  # type: ignore[arg-type]
    wpkh_prev = prev_tx([TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key))])
    wpkh_text = psbt_paying([spend_of(wpkh_prev)], COIN // 2)
    for transform in (flip, lambda sig: bytes(64), lambda sig: sig + b"\x00"):
        with pytest.raises(SignatureError):
            bitcoin.sign_psbt(wpkh_text, RecordingSigner(ecdsa_signer, transform), allow_foreign_inputs=True)

    # a high-S signature from the signer is normalised, not rejected
    def high_s(sig: bytes) -> bytes:
        s = int.from_bytes(sig[32:], "big")
        return sig[:32] + (CURVE_ORDER - s).to_bytes(32, "big")

    psbt = Psbt.from_base64(
        bitcoin.sign_psbt(wpkh_text, RecordingSigner(ecdsa_signer, high_s), allow_foreign_inputs=True)
    )
    assert der_decode(psbt.partial_sigs(0)[ecdsa_signer.public_key][:-1])[1] <= CURVE_ORDER // 2

    # tampered signatures inside a PSBT are caught when finalising
    good = bitcoin.sign_psbt(text, taproot_signer, allow_foreign_inputs=True)
    sig = Psbt.from_base64(good).tap_key_sig(0)
    assert sig is not None
    for bad_sig in (flip(sig), sig + b"\x00", sig + b"\x01"):
        with pytest.raises(FinalizeError):
            bitcoin.finalize_psbt(edit(good, lambda p, b=bad_sig: p.set_tap_key_sig(0, b)))
    good_wpkh = bitcoin.sign_psbt(wpkh_text, ecdsa_signer, allow_foreign_inputs=True)
    psig = Psbt.from_base64(good_wpkh).partial_sigs(0)[ecdsa_signer.public_key]
    r, s = der_decode(psig[:-1])
    for bad_sig in (
        der_encode(r, s ^ 1) + b"\x01",
        der_encode(r, CURVE_ORDER - s) + b"\x01",  # high S
        psig[:-1] + b"\x02",  # hash type changed after signing
        b"\x30\x00\x01",
    ):
        with pytest.raises(FinalizeError):
            bitcoin.finalize_psbt(
                edit(good_wpkh, lambda p, b=bad_sig: p.set_partial_sig(0, ecdsa_signer.public_key, b))
            )
    with pytest.raises(FinalizeError, match="hash type"):  # the PSBT asks for another hash type
        bitcoin.finalize_psbt(edit(good_wpkh, lambda p: p.set_sighash_type(0, 0x81)))
    # an input type we do not finalise
    p2sh = prev_tx([TxOut(COIN, b"\xa9\x14" + bytes(20) + b"\x87")])
    with pytest.raises(FinalizeError, match="p2sh"):
        bitcoin.finalize_psbt(psbt_paying([spend_of(p2sh)], 1))


# --- garbage in, typed errors out ------------------------------------------------------------------------


def _entry_points(text: Any, signer: Signer) -> list[Callable[[], object]]:
    return [
        lambda: bitcoin.summarize(text, network="regtest"),
        lambda: bitcoin.finalize_psbt(text),
        lambda: bitcoin.sighashes(text, signer.scheme, signer.public_key),
        lambda: bitcoin.sign_psbt(text, signer, allow_foreign_inputs=True),
    ]


class _NoSign:
    """A Taproot signer that must never be reached on garbage; returns junk if it is."""

    scheme = "frost-taproot"

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key

    def sign(self, message: bytes) -> bytes:
        return bytes(64)


def _only_typed_errors(text: Any, signer: Signer) -> None:
    for call in _entry_points(text, signer):
        with contextlib.suppress(GridlockError):
            call()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "not base64!",
        "cHNidP8=",
        "cHNidP8BAA==",
        "////",
        "cHNidP8BAAoAAAAAAAAAAAAAAA",
        None,
        5,
        b"",
        b"psbt\xff",
    ],
)
def test_garbage_psbt(garbage: Any, taproot_signer: local.LocalSigner) -> None:
    for call in _entry_points(garbage, _NoSign(taproot_signer.public_key)):
        with pytest.raises(GridlockError) as err:
            call()
        assert isinstance(err.value, ChainError)
    with pytest.raises(DecodeError):
        Psbt.from_base64(garbage)


@pytest.fixture(scope="module")
def sample_psbt(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> bytes:
    prev = prev_tx(
        [
            TxOut(COIN, bitcoin.p2wpkh_script(ecdsa_signer.public_key)),
            TxOut(COIN, bitcoin.p2tr_script(taproot_signer.public_key)),
        ]
    )
    text = psbt_paying([spend_of(prev, 0), spend_of(prev, 1)], COIN)
    text = bitcoin.sign_psbt(text, taproot_signer, allow_foreign_inputs=True)
    return base64.b64decode(text)


def test_truncations_and_bit_flips(sample_psbt: bytes, taproot_signer: local.LocalSigner) -> None:
    signer = _NoSign(taproot_signer.public_key)
    for n in range(len(sample_psbt)):
        with pytest.raises(MalformedError):
            Psbt.parse(sample_psbt[:n])
        _only_typed_errors(base64.b64encode(sample_psbt[:n]).decode(), signer)
    rng = random.Random(2024)
    for _ in range(300):
        data = bytearray(sample_psbt)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        _only_typed_errors(base64.b64encode(bytes(data)).decode(), signer)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    signer = _NoSign(bytes.fromhex("53a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343"))
    _only_typed_errors(base64.b64encode(data).decode(), signer)
    _only_typed_errors(base64.b64encode(b"psbt\xff" + data).decode(), signer)
    with contextlib.suppress(MalformedError):
        Transaction.parse(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_splices(sample_psbt: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(sample_psbt)))
    insert = data.draw(st.binary(max_size=40))
    drop = data.draw(st.integers(0, 40))
    mutated = sample_psbt[:cut] + insert + sample_psbt[cut + drop :]
    _only_typed_errors(base64.b64encode(mutated).decode(), _NoSign(bytes(32)))


def test_size_limit() -> None:
    with pytest.raises(MalformedError, match="larger"):
        Psbt.from_base64("A" * (30 * 1024 * 1024))
