"""Cross-checks of ``gridlock.chains.cosmos`` against the Secret Network Python SDK (``secret-sdk``).

secret-sdk derives the account address its own way (its ``Key``/``RawKey`` classes) and encodes
SignDoc / TxBody / AuthInfo / TxRaw with its generated (betterproto) protobuf classes; our signed
``TxRaw`` must parse back with them.  Skipped when secret-sdk is not installed.
"""

from __future__ import annotations

import hashlib
import warnings

import pytest
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact

from gridlock import local
from gridlock.chains import cosmos

pytest.importorskip("secret_sdk")

with warnings.catch_warnings():  # betterproto imports pkg_resources
    warnings.simplefilter("ignore")
    from betterproto.lib.google.protobuf import Any as AnyPb
    from secret_sdk.core.public_key import SimplePublicKey
    from secret_sdk.key.key import Key
    from secret_sdk.key.raw import RawKey
    from secret_sdk.protobuf.cosmos.bank.v1beta1 import MsgSend
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

RECIPIENT = "secret1" + "q" * 38


@pytest.fixture(scope="module")
def vault() -> local.LocalSigner:
    shares = local.keygen("ecdsa-secp256k1", threshold=3, n=5)
    return local.signer(shares[2:])


def test_secret_sdk_address_agrees(vault: local.LocalSigner) -> None:
    assert cosmos.address(vault.public_key) == Key(SimplePublicKey(key=vault.public_key)).acc_address
    for seed in (b"\x01" * 32, b"\x42" * 32):
        assert cosmos.address(PrivateKey(seed).public_key.format()) == RawKey(seed).acc_address


def test_secret_sdk_sign_doc_and_tx_raw(vault: local.LocalSigner) -> None:
    me = cosmos.address(vault.public_key)
    send = MsgSend(from_address=me, to_address=RECIPIENT, amount=[Coin(denom="uscrt", amount="1000")])
    tx_body = TxBody(messages=[AnyPb(type_url="/cosmos.bank.v1beta1.MsgSend", value=bytes(send))], memo="rent")
    info = SignerInfo(
        public_key=AnyPb(type_url="/cosmos.crypto.secp256k1.PubKey", value=bytes(PubKey(key=vault.public_key))),
        mode_info=ModeInfo(single=ModeInfoSingle(mode=SignMode.SIGN_MODE_DIRECT)),
        sequence=7,
    )
    auth = AuthInfo(signer_infos=[info], fee=Fee(amount=[Coin(denom="uscrt", amount="2500")], gas_limit=100_000))
    doc = bytes(SignDoc(body_bytes=bytes(tx_body), auth_info_bytes=bytes(auth), chain_id="secret-4", account_number=42))
    assert cosmos.encode_sign_doc(bytes(tx_body), bytes(auth), "secret-4", 42) == doc

    summary = cosmos.summarize(doc)
    assert summary.transfers == (cosmos.Transfer(me, RECIPIENT, (cosmos.Coin("uscrt", 1000),)),)
    assert (summary.chain_id, summary.account_number, summary.fee) == ("secret-4", 42, (cosmos.Coin("uscrt", 2500),))

    raw = cosmos.sign_transaction(doc, vault)
    parsed = TxRaw().parse(raw)
    assert parsed.body_bytes == bytes(tx_body) and parsed.auth_info_bytes == bytes(auth)
    assert len(parsed.signatures) == 1
    digest = hashlib.sha256(doc).digest()
    sig = parsed.signatures[0]
    assert PublicKey(vault.public_key).verify(cdata_to_der(deserialize_compact(sig)), digest, hasher=None)
    assert bytes(parsed) == raw
