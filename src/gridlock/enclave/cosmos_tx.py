"""Signed Cosmos transactions carrying Secret Network's ``MsgExecuteContract``: made, read and checked.

Both sides of the guardian's client path use this module: the guardian
(:mod:`gridlock.enclave.lcd_client`) makes a ``TxRaw`` as ``secretjs``'s ``tx.compute.executeContract``
and ``secret-sdk``'s ``MsgExecuteContract`` do, and the emulated chain
(:mod:`gridlock.enclave.transactions`) reads it strictly and runs the ante checks the Cosmos SDK's
``x/auth`` ante handler runs before any message executes:

* ``TxRaw { body_bytes = 1, auth_info_bytes = 2, repeated signatures = 3 }`` (cosmos-sdk
  ``tx.proto``); the body holds exactly one ``Any`` of type ``/secret.compute.v1beta1.MsgExecuteContract``
  (``sender`` = 20 canonical bytes, ``contract`` = canonical bytes, ``msg`` = the encrypted message,
  Secret Network's ``x/compute`` ``msg.proto``);
* one ``SignerInfo``: a ``/cosmos.crypto.secp256k1.PubKey`` (33-byte compressed), ``SIGN_MODE_DIRECT``,
  the account's ``sequence``;
* the signature: ECDSA secp256k1, 64-byte low-S ``r‖s`` over SHA-256 of the ``SignDoc`` (body bytes,
  auth info bytes, chain id, account number) — ADR-020's SIGN_MODE_DIRECT.

The sender is authenticated by that signature: the public key must hash to the message's sender
(``RIPEMD160(SHA256(pubkey))``), the signature must verify for the account's number and the chain
id, and the sequence must equal the account's (a replayed transaction fails here, in plaintext,
with the SDK's ``incorrect account sequence``).  Errors carry the SDK's codes (``sdkerrors``,
codespace ``sdk``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from coincurve import PrivateKey

from gridlock.chains.cosmos import address_bytes, encode_sign_doc
from gridlock.chains.cosmos_proto import VARINT, decode, put_bytes, put_varint
from gridlock.crypto.ecdsa.online import verify as ecdsa_verify
from gridlock.enclave.address import canonical, human
from gridlock.enclave.errors import EnclaveError
from gridlock.errors import DecodeError, InvalidParameterError

__all__ = [
    "EXECUTE_RESPONSE_TYPE",
    "EXECUTE_TYPE",
    "AnteError",
    "SignedExecute",
    "decode_execute_tx",
    "execute_response_data",
    "make_execute_tx",
    "public_key_of",
    "tx_hash",
]

EXECUTE_TYPE: Final = "/secret.compute.v1beta1.MsgExecuteContract"
EXECUTE_RESPONSE_TYPE: Final = "/secret.compute.v1beta1.MsgExecuteContractResponse"
PUBKEY_TYPE: Final = "/cosmos.crypto.secp256k1.PubKey"
SIGN_MODE_DIRECT: Final = 1
MAX_TX_BYTES: Final = 5 << 20  # above crypto.MAX_MESSAGE_SIZE plus the envelope

# cosmos-sdk types/errors (codespace "sdk")
CODE_TX_DECODE: Final = 2
CODE_UNAUTHORIZED: Final = 4
CODE_INVALID_PUBKEY: Final = 8
CODE_UNKNOWN_ADDRESS: Final = 9
CODE_OUT_OF_GAS: Final = 11
CODE_INVALID_REQUEST: Final = 18
CODE_WRONG_SEQUENCE: Final = 32


class AnteError(EnclaveError):
    """A transaction the chain refuses before running its message (code and codespace ``sdk``);
    its text is the SDK's ``raw_log``."""

    def __init__(self, code: int, log: str) -> None:
        self.code = code
        self.codespace = "sdk"
        super().__init__(log)


@dataclass(frozen=True)
class SignedExecute:
    """A decoded single-message, single-signer ``MsgExecuteContract`` transaction (not yet verified)."""

    tx_bytes: bytes
    body_bytes: bytes
    auth_info_bytes: bytes
    signature: bytes
    sender: str  # bech32 of the message's canonical sender
    contract: str
    msg: bytes
    public_key: bytes  # 33-byte compressed secp256k1
    sequence: int
    gas_limit: int
    fee: tuple[tuple[str, str], ...]  # (denom, amount)
    memo: str

    @property
    def txhash(self) -> str:
        return tx_hash(self.tx_bytes)

    def sign_doc(self, chain_id: str, account_number: int) -> bytes:
        return encode_sign_doc(self.body_bytes, self.auth_info_bytes, chain_id, account_number)

    def check_signer(self) -> None:
        """The public key is the sender's (the SDK's ``SetPubKeyDecorator``, which runs before the
        sequence and signature checks)."""
        if address_bytes(self.public_key) != canonical(self.sender):
            raise AnteError(
                CODE_INVALID_PUBKEY,
                f"pubKey does not match signer address {self.sender} with signer index: 0: invalid pubkey",
            )

    def verify(self, chain_id: str, account_number: int) -> None:
        """The ante handler's checks that need no chain state: the public key is the sender's and
        the signature verifies for this chain id and account number (:class:`AnteError` otherwise)."""
        self.check_signer()
        digest = hashlib.sha256(self.sign_doc(chain_id, account_number)).digest()
        if not ecdsa_verify(self.public_key, digest, self.signature):
            raise AnteError(
                CODE_UNAUTHORIZED,
                f"signature verification failed; please verify account number ({account_number}) and "
                f"chain-id ({chain_id}): unauthorized",
            )


def tx_hash(tx_bytes: bytes) -> str:
    """The transaction hash Tendermint indexes and clients poll: upper-case hex SHA-256 of the ``TxRaw``."""
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def _parse_error(what: str) -> AnteError:
    return AnteError(CODE_TX_DECODE, f"{what}: tx parse error")


def decode_execute_tx(tx_bytes: bytes) -> SignedExecute:
    """Read a ``TxRaw`` strictly (:mod:`gridlock.chains.cosmos_proto`); only one
    ``MsgExecuteContract`` signed by one secp256k1 key in SIGN_MODE_DIRECT is accepted."""
    if not isinstance(tx_bytes, bytes) or not 0 < len(tx_bytes) <= MAX_TX_BYTES:
        raise _parse_error("empty or oversized transaction")
    try:
        raw = decode("TxRaw", tx_bytes)
        body = decode("TxBody", raw["body_bytes"])
        auth = decode("AuthInfo", raw["auth_info_bytes"])
    except DecodeError as exc:
        raise _parse_error(str(exc)) from None
    if body["extension_options"] or body["timeout_height"] or body["unordered"]:
        raise AnteError(CODE_INVALID_REQUEST, "unsupported transaction options: invalid request")
    if len(body["messages"]) != 1 or body["messages"][0]["type_url"] != EXECUTE_TYPE:
        raise AnteError(CODE_INVALID_REQUEST, f"exactly one {EXECUTE_TYPE} per transaction: invalid request")
    if len(auth["signer_infos"]) != 1 or len(raw["signatures"]) != 1:
        raise AnteError(CODE_UNAUTHORIZED, "wrong number of signers; expected 1: unauthorized")
    info = auth["signer_infos"][0]
    pk = info["public_key"]
    mode = (info["mode_info"] or {}).get("single")
    if pk is None or pk["type_url"] != PUBKEY_TYPE or mode is None or mode["mode"] != SIGN_MODE_DIRECT:
        raise AnteError(CODE_INVALID_PUBKEY, "a secp256k1 key signing in SIGN_MODE_DIRECT is needed: invalid pubkey")
    try:
        msg = decode("SecretMsgExecuteContract", body["messages"][0]["value"])
        public_key = decode("PubKey", pk["value"])["key"]
        address_bytes(public_key)  # a valid compressed point
        sender, contract = human(msg["sender"]), human(msg["contract"])
    except (DecodeError, EnclaveError) as exc:
        raise _parse_error(str(exc)) from None
    if msg["sent_funds"] or msg["callback_sig"] or msg["callback_code_hash"]:
        raise AnteError(CODE_INVALID_REQUEST, "funds and callbacks are not accepted here: invalid request")
    fee = auth["fee"] or {"amount": [], "gas_limit": 0}
    return SignedExecute(
        tx_bytes=tx_bytes,
        body_bytes=raw["body_bytes"],
        auth_info_bytes=raw["auth_info_bytes"],
        signature=raw["signatures"][0],
        sender=sender,
        contract=contract,
        msg=msg["msg"],
        public_key=public_key,
        sequence=info["sequence"],
        gas_limit=fee["gas_limit"],
        fee=tuple((c["denom"], c["amount"]) for c in fee["amount"]),
        memo=body["memo"],
    )


def public_key_of(private_key: bytes) -> bytes:
    """The 33-byte compressed secp256k1 public key of a 32-byte account key."""
    try:
        return PrivateKey(private_key).public_key.format(compressed=True)
    except (ValueError, TypeError):
        raise InvalidParameterError("an account key is a 32-byte secp256k1 private key") from None


def _any(type_url: str, value: bytes) -> bytes:
    return put_bytes(1, type_url.encode()) + put_bytes(2, value)


def _uint(number: int, value: int) -> bytes:
    return put_varint(number << 3 | VARINT) + put_varint(value) if value else b""


def make_execute_tx(
    private_key: bytes,
    *,
    contract: str,
    msg: bytes,
    chain_id: str,
    account_number: int,
    sequence: int,
    gas_limit: int,
    fee_amount: int,
    fee_denom: str = "uscrt",
    memo: str = "",
) -> bytes:
    """A signed ``TxRaw`` with one ``MsgExecuteContract`` from the key's own account, encoded as
    secretjs and secret-sdk encode it (proto3: defaults omitted, fields in number order)."""
    public_key = public_key_of(private_key)
    execute = put_bytes(1, address_bytes(public_key)) + put_bytes(2, canonical(contract)) + put_bytes(3, msg)
    body = put_bytes(1, _any(EXECUTE_TYPE, execute)) + (put_bytes(2, memo.encode()) if memo else b"")
    mode_info = put_bytes(1, _uint(1, SIGN_MODE_DIRECT))
    signer = put_bytes(1, _any(PUBKEY_TYPE, put_bytes(1, public_key))) + put_bytes(2, mode_info) + _uint(3, sequence)
    coin = put_bytes(1, fee_denom.encode()) + put_bytes(2, str(fee_amount).encode())
    fee = put_bytes(1, coin) + _uint(2, gas_limit)
    auth = put_bytes(1, signer) + put_bytes(2, fee)
    digest = hashlib.sha256(encode_sign_doc(body, auth, chain_id, account_number)).digest()
    signature = PrivateKey(private_key).sign_recoverable(digest, hasher=None)[:64]  # low-S r‖s
    return put_bytes(1, body) + put_bytes(2, auth) + put_bytes(3, signature)


def execute_response_data(encrypted_data: bytes) -> bytes:
    """The ``data`` of a committed transaction: ``TxMsgData { msg_responses = 2 }`` holding one
    ``MsgExecuteContractResponse { data = 1 }`` (cosmos-sdk 0.46+), which secretjs decodes and
    decrypts with the message's nonce."""
    response = put_bytes(1, encrypted_data) if encrypted_data else b""
    return put_bytes(2, _any(EXECUTE_RESPONSE_TYPE, response))
