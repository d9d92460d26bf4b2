"""Cosmos / Secret Network: addresses and SIGN_MODE_DIRECT signatures from a real 3-of-5 threshold ECDSA key.

SignDocs are built here with a few lines of protobuf encoding, independent of the module under
test; ``test_chain_cosmos_secret_sdk.py`` cross-checks against secret-sdk's generated classes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import random
from typing import Any

import pytest
from bech32 import bech32_decode, bech32_encode, convertbits
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from Crypto.Hash import RIPEMD160

from gridlock import local
from gridlock.chains import cosmos
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, SignatureError

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RECIPIENT = "secret1" + "q" * 38


# --- an independent protobuf encoder, just enough for these messages ----------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def ld(number: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def vi(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def coin(denom: str, amount: str) -> bytes:
    return ld(1, denom) + ld(2, amount)


def any_(type_url: str, value: bytes) -> bytes:
    return ld(1, type_url) + ld(2, value)


def msg_send(sender: str, to: str, amount: str = "1000") -> bytes:
    return any_("/cosmos.bank.v1beta1.MsgSend", ld(1, sender) + ld(2, to) + ld(3, coin("uscrt", amount)))


def signer_info(public_key: bytes, sequence: int = 7, mode: int = 1) -> bytes:
    pk = any_("/cosmos.crypto.secp256k1.PubKey", ld(1, public_key))
    return ld(1, pk) + ld(2, ld(1, vi(1, mode))) + vi(3, sequence)


def auth_info(*public_keys: bytes, fee: str = "2500", gas: int = 100_000) -> bytes:
    return b"".join(ld(1, signer_info(k)) for k in public_keys) + ld(2, ld(1, coin("uscrt", fee)) + vi(2, gas))


def body(*messages: bytes, memo: str = "") -> bytes:
    return b"".join(ld(1, m) for m in messages) + (ld(2, memo) if memo else b"")


def sign_doc(body_bytes: bytes, auth_bytes: bytes, chain_id: str = "secret-4", account_number: int = 42) -> bytes:
    return ld(1, body_bytes) + ld(2, auth_bytes) + (ld(3, chain_id) if chain_id else b"") + vi(4, account_number)


def ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL without the legacy provider
        return bytes(RIPEMD160.new(data).digest())


def reference_address(public_key: bytes, prefix: str) -> str:
    words = convertbits(ripemd160(hashlib.sha256(public_key).digest()), 8, 5)
    assert words is not None
    return bech32_encode(prefix, words)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vault() -> local.LocalSigner:
    shares = local.keygen("ecdsa-secp256k1", threshold=3, n=5)
    return local.signer(shares[:3])


@pytest.fixture(scope="module")
def vault_address(vault: local.LocalSigner) -> str:
    return cosmos.address(vault.public_key)


@pytest.fixture(scope="module")
def doc(vault: local.LocalSigner, vault_address: str) -> bytes:
    return sign_doc(body(msg_send(vault_address, RECIPIENT), memo="rent"), auth_info(vault.public_key))


def verify_direct(public_key: bytes, sign_doc_bytes: bytes, sig: bytes) -> bool:
    digest = hashlib.sha256(sign_doc_bytes).digest()
    return bool(PublicKey(public_key).verify(cdata_to_der(deserialize_compact(sig)), digest, hasher=None))


# --- addresses ----------------------------------------------------------------------------------


def test_address_cosmjs_vector() -> None:
    # cosmjs amino "pubkeyToAddress works for Secp256k1 compressed"
    key = base64.b64decode("AtQaCqFnshaZQp6rIkvAPyzThvCvXSDO+9AzbxVErqJP")
    assert cosmos.address(key, prefix="cosmos") == "cosmos1h806c7khnvmjlywdrkdgk2vrayy2mmvf9rxk2r"
    secret = cosmos.address(key)
    assert secret.startswith("secret1")
    assert bech32_decode(secret)[1] == bech32_decode("cosmos1h806c7khnvmjlywdrkdgk2vrayy2mmvf9rxk2r")[1]
    assert secret == reference_address(key, "secret")


def test_vault_address_matches_reference(vault: local.LocalSigner, vault_address: str) -> None:
    assert vault_address.startswith("secret1") and len(vault_address) == 45
    assert vault_address == reference_address(vault.public_key, "secret")
    assert cosmos.address(vault.public_key, prefix="cosmos") == reference_address(vault.public_key, "cosmos")
    assert cosmos.address_bytes(vault.public_key) == ripemd160(hashlib.sha256(vault.public_key).digest())
    assert cosmos.SCRT_COIN_TYPE == 529


@pytest.mark.parametrize("bad", [b"", b"\x02" * 32, b"\x05" * 33, b"\x04" + b"\x01" * 64, "02" * 33, None])
def test_address_rejects_bad_keys(bad: Any) -> None:
    with pytest.raises(DecodeError):
        cosmos.address(bad)


@pytest.mark.parametrize("prefix", ["", "Secret", "sec ret", "x" * 60, 5, None])
def test_address_rejects_bad_prefixes(vault: local.LocalSigner, prefix: Any) -> None:
    with pytest.raises(InvalidParameterError):
        cosmos.address(vault.public_key, prefix=prefix)


# --- SIGN_MODE_DIRECT ---------------------------------------------------------------------------


def test_sign_direct_verifies_over_sha256_of_sign_doc(vault: local.LocalSigner, doc: bytes) -> None:
    sig = cosmos.sign_direct(doc, vault)
    assert len(sig) == 64
    assert 0 < int.from_bytes(sig[32:], "big") <= N // 2  # low S, as the Cosmos SDK requires
    assert verify_direct(vault.public_key, doc, sig)
    assert not verify_direct(vault.public_key, doc + b"\x00", sig)
    assert cosmos.signing_hash(doc) == hashlib.sha256(doc).digest()


def test_summary(vault: local.LocalSigner, vault_address: str, doc: bytes) -> None:
    s = cosmos.summarize(doc)
    assert (s.chain_id, s.account_number, s.memo, s.gas_limit) == ("secret-4", 42, "rent", 100_000)
    assert s.transfers == (cosmos.Transfer(vault_address, RECIPIENT, (cosmos.Coin("uscrt", 1000),)),)
    assert s.recipients == ((RECIPIENT, (cosmos.Coin("uscrt", 1000),)),)
    assert s.fee == (cosmos.Coin("uscrt", 2500),)
    assert s.signers == (cosmos.SignerSummary(vault.public_key, cosmos.SECP256K1_PUBKEY_TYPE_URL, vault_address, 1, 7),)
    assert s.signing_hash == hashlib.sha256(doc).digest()
    assert [m.recognised for m in s.messages] == [True]


def test_sign_transaction_assembles_tx_raw(vault: local.LocalSigner, doc: bytes) -> None:
    raw = cosmos.sign_transaction(doc, vault)
    body_bytes = body(msg_send(cosmos.address(vault.public_key), RECIPIENT), memo="rent")
    auth_bytes = auth_info(vault.public_key)
    prefix = ld(1, body_bytes) + ld(2, auth_bytes)
    assert raw.startswith(prefix)
    sig = raw[len(prefix) :]
    assert sig[:2] == bytes([3 << 3 | 2, 64])
    assert verify_direct(vault.public_key, doc, sig[2:])
    assert cosmos.encode_sign_doc(body_bytes, auth_bytes, "secret-4", 42) == doc


def test_secret_contract_execution_summary(vault: local.LocalSigner) -> None:
    sender = cosmos.address_bytes(vault.public_key)
    contract = bytes(range(20))
    execute = ld(1, sender) + ld(2, contract) + ld(3, b"\x00" * 100) + ld(5, coin("uscrt", "77"))
    msg = any_("/secret.compute.v1beta1.MsgExecuteContract", execute)
    other = any_("/cosmos.staking.v1beta1.MsgDelegate", b"\x0a\x01x")
    s = cosmos.summarize(sign_doc(body(msg, other), auth_info(vault.public_key)))
    assert s.transfers == (
        cosmos.Transfer(cosmos.address(vault.public_key), reference_address_raw(contract), (cosmos.Coin("uscrt", 77),)),
    )
    assert [(m.type_url, m.recognised) for m in s.messages] == [
        ("/secret.compute.v1beta1.MsgExecuteContract", True),
        ("/cosmos.staking.v1beta1.MsgDelegate", False),
    ]


def reference_address_raw(raw: bytes, prefix: str = "secret") -> str:
    words = convertbits(raw, 8, 5)
    assert words is not None
    return bech32_encode(prefix, words)


def test_multi_signer_doc(vault: local.LocalSigner, vault_address: str) -> None:
    other = PrivateKey(b"\x07" * 32)
    doc = sign_doc(body(msg_send(vault_address, RECIPIENT)), auth_info(other.public_key.format(), vault.public_key))
    with pytest.raises(cosmos.CosmosError):
        cosmos.sign_transaction(doc, vault)
    ours = cosmos.sign_direct(doc, vault)
    theirs = other.sign_recoverable(hashlib.sha256(doc).digest(), hasher=None)[:64]
    doc_fields = cosmos_fields(doc)
    raw = cosmos.tx_raw(doc_fields[0], doc_fields[1], [theirs, ours])
    assert raw.endswith(ld(3, theirs) + ld(3, ours))
    with pytest.raises(cosmos.CosmosError):
        cosmos.tx_raw(doc_fields[0], doc_fields[1], [ours])


def cosmos_fields(doc: bytes) -> tuple[bytes, bytes]:
    # body and auth info of a SignDoc made by sign_doc() above
    pos, out = 0, []
    for _ in range(2):
        pos += 1
        length, shift = 0, 0
        while True:
            b = doc[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out.append(doc[pos : pos + length])
        pos += length
    return out[0], out[1]


# --- refusals -----------------------------------------------------------------------------------


def test_foreign_signer_is_refused(vault: local.LocalSigner, vault_address: str) -> None:
    other = PrivateKey(b"\x09" * 32).public_key.format()
    doc = sign_doc(body(msg_send(vault_address, RECIPIENT)), auth_info(other))
    with pytest.raises(cosmos.NotASignerError):
        cosmos.sign_direct(doc, vault)
    amino = sign_doc(
        body(msg_send(vault_address, RECIPIENT)),
        ld(1, signer_info(vault.public_key, mode=127)) + ld(2, vi(2, 1)),
    )
    with pytest.raises(cosmos.NotASignerError):
        cosmos.sign_direct(amino, vault)


class FakeSigner:
    def __init__(self, scheme: str, public_key: bytes, signature: bytes = b"\x01" * 64) -> None:
        self.scheme, self.public_key, self._sig = scheme, public_key, signature

    def sign(self, message: bytes) -> bytes:
        return self._sig


def test_wrong_signers_are_refused(vault: local.LocalSigner, doc: bytes) -> None:
    with pytest.raises(cosmos.SignerMismatchError):
        cosmos.sign_direct(doc, FakeSigner("frost-ed25519", b"\x01" * 32))
    with pytest.raises(SignatureError):
        cosmos.sign_direct(doc, FakeSigner("ecdsa-secp256k1", vault.public_key))
    # a valid but high-S signature is refused too
    priv = PrivateKey(b"\x05" * 32)
    d = sign_doc(body(msg_send("a", "b")), auth_info(priv.public_key.format()))
    low = priv.sign_recoverable(hashlib.sha256(d).digest(), hasher=None)[:64]
    high = low[:32] + (N - int.from_bytes(low[32:], "big")).to_bytes(32, "big")
    assert cosmos.sign_direct(d, FakeSigner("ecdsa-secp256k1", priv.public_key.format(), low)) == low
    with pytest.raises(SignatureError):
        cosmos.sign_direct(d, FakeSigner("ecdsa-secp256k1", priv.public_key.format(), high))


def test_malformed_sign_docs_get_typed_errors(vault: local.LocalSigner, vault_address: str, doc: bytes) -> None:
    good_body = body(msg_send(vault_address, RECIPIENT))
    good_auth = auth_info(vault.public_key)
    cases: list[Any] = [
        None,
        "0a00",
        b"\xff",
        b"\x0a\x05abc",  # truncated
        doc[:-1],
        doc + b"\x00",  # field number 0
        doc + vi(4, 1),  # duplicated account_number
        doc + vi(9, 1),  # unknown critical field
        doc + b"\x0d\x00\x00\x00\x00",  # fixed32 wire type on field 1
        b"\x0a" + b"\xff" * 11,  # over-long varint
        sign_doc(good_body, good_auth, chain_id=""),  # no chain id
        sign_doc(b"", good_auth),  # no messages
        sign_doc(good_body, b""),  # no signers
        sign_doc(good_body + ld(1023, any_("/ext", b"")), good_auth),  # critical extension
        sign_doc(good_body + ld(2, b"\xff\xfe"), good_auth),  # invalid UTF-8 memo
        sign_doc(body(any_("/cosmos.bank.v1beta1.MsgSend", ld(3, coin("u", "-5")))), good_auth),
        sign_doc(body(any_("/cosmos.bank.v1beta1.MsgSend", ld(3, coin("u", "")))), good_auth),
        sign_doc(body(any_("/cosmos.bank.v1beta1.MsgSend", b"\x0a\xff")), good_auth),
        sign_doc(good_body + vi(4, 2), good_auth),  # bool out of range
    ]
    for case in cases:
        with pytest.raises(GridlockError):
            cosmos.sign_direct(case, vault)
        with pytest.raises(GridlockError):
            cosmos.summarize(case)
    # a non-critical unknown field (ADR-027: bit 11 set) is skipped
    assert cosmos.summarize(sign_doc(good_body + vi(1025, 1), good_auth)).chain_id == "secret-4"


def test_random_mutations_never_crash(doc: bytes) -> None:
    rng = random.Random(7)
    for _ in range(500):
        data = bytearray(doc)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(GridlockError):
            cosmos.summarize(bytes(data))


def test_bank_send_builder_matches_an_independent_encoding(vault: local.LocalSigner) -> None:
    to = reference_address(b"\x02" + b"\x07" * 32, "secret")
    built = cosmos.bank_send(vault.public_key, to, 1000, sequence=7, fee=2500, gas=100_000, account_number=42)
    sender = cosmos.address(vault.public_key, "secret")
    expected = sign_doc(body(msg_send(sender, to, "1000")), auth_info(vault.public_key))
    assert built == expected
    sig = cosmos.sign_direct(built, vault)
    assert verify_direct(vault.public_key, built, sig)
