"""Cosmos SDK chains and Secret Network: addresses and SIGN_MODE_DIRECT signing with an ``ecdsa-secp256k1`` key.

* Address: ``bech32(prefix, RIPEMD160(SHA256(compressed public key)))``, any prefix (``secret`` for
  SCRT, ``cosmos`` for the Hub).  Secret Network wallets derive keys at BIP44 coin type **529**
  (``m/44'/529'/0'/0/i``, :data:`SCRT_COIN_TYPE`); the Cosmos Hub uses 118.  Derivation itself is
  done by the vault's HD layer, not here.
* Signing (SIGN_MODE_DIRECT): the signature is 64-byte low-S ``r‖s`` ECDSA over
  ``SHA-256(SignDoc bytes)``, the SignDoc exactly as given (never re-encoded).  :func:`signing_hash`
  returns that digest; :func:`summarize` decodes the SignDoc for policy (SECURITY #19).
* :func:`tx_raw` / :func:`sign_transaction` assemble the broadcastable ``TxRaw``
  (``body_bytes``, ``auth_info_bytes`` verbatim from the SignDoc, then the signatures).

Why a small hand-written protobuf reader instead of a library: none of the candidates fits.
``cosmpy`` pins ``pynacl==1.6.0`` (Gridlock pins 1.6.2) and pulls grpcio, requests and virtualenv;
``secret-sdk`` requires ``protobuf<4`` (3.20.3: no CPython 3.11 wheel, so the pure-Python parser
with its unfixed recursion DoS, CVE-2024-7254) plus aiohttp and a beta ``betterproto``;
``cosmospy-protobuf`` has not been updated since 2023 and registers hundreds of ``.proto`` files in
protobuf's process-global descriptor pool.  More importantly, a guardian must read *exactly* what
the chain will execute, and generic decoders are lenient (last duplicate wins, unknown fields kept
silently).  This reader covers only the messages named below and is strict: duplicated singular
fields, unknown critical fields (ADR-027: field numbers without bit 11 set), wrong wire types,
truncation, over-long varints and invalid UTF-8 are :class:`~gridlock.errors.DecodeError`.  The reader
(and the few-line writer for :func:`bank_send` and :func:`tx_raw`) is :mod:`gridlock.chains.cosmos_proto`.

Messages read: SignDoc, TxBody, AuthInfo, SignerInfo, ModeInfo, Fee, Coin, Any,
cosmos.crypto.secp256k1.PubKey, cosmos.bank.v1beta1.MsgSend / MsgMultiSend,
secret.compute.v1beta1.MsgExecuteContract and cosmwasm.wasm.v1.MsgExecuteContract.  Other
messages are listed by type URL in the summary (``recognised=False``) so policy can refuse them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bech32m.codecs import Encoding, bech32_decode, bech32_encode, convertbits  # type: ignore[import-untyped,unused-ignore]
from coincurve import PublicKey

from gridlock.chains.context import valid_bech32_prefix
from gridlock.chains.cosmos_proto import VARINT, decode, put_bytes, put_varint
from gridlock.chains.signer import Signer, signer_public_key
from gridlock.crypto.ecdsa.online import verify as ecdsa_verify
from gridlock.crypto.hashing import hash160
from gridlock.errors import DecodeError, InvalidParameterError, SignatureError

__all__ = [
    "COSMOS_COIN_TYPE",
    "SCHEME",
    "SCRT_COIN_TYPE",
    "SECP256K1_PUBKEY_TYPE_URL",
    "SIGN_MODE_DIRECT",
    "Coin",
    "CosmosError",
    "MessageSummary",
    "NotASignerError",
    "SignDocSummary",
    "SignerMismatchError",
    "SignerSummary",
    "Transfer",
    "address",
    "address_bytes",
    "encode_sign_doc",
    "sign_direct",
    "sign_transaction",
    "signing_hash",
    "summarize",
    "tx_raw",
]

SCHEME = "ecdsa-secp256k1"
SCRT_COIN_TYPE = 529  # BIP44 coin type of Secret Network (SLIP-44)
COSMOS_COIN_TYPE = 118
SIGN_MODE_DIRECT = 1
SECP256K1_PUBKEY_TYPE_URL = "/cosmos.crypto.secp256k1.PubKey"


class CosmosError(InvalidParameterError):
    """A SignDoc that cannot be signed as given."""


class NotASignerError(CosmosError):
    """The vault's key is not a SIGN_MODE_DIRECT signer of the transaction."""


class SignerMismatchError(CosmosError):
    """The signer is not an ``ecdsa-secp256k1`` key."""


# --- addresses -------------------------------------------------------------------------------


def _compressed(public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != 33:
        raise DecodeError("a Cosmos secp256k1 public key is 33 bytes (SEC1 compressed)")
    try:
        PublicKey(bytes(public_key))
    except (ValueError, TypeError) as exc:
        raise DecodeError("not a valid secp256k1 public key") from exc
    return bytes(public_key)


def address_bytes(public_key: bytes) -> bytes:
    """The 20-byte account address: RIPEMD160(SHA256(compressed public key))."""
    return hash160(_compressed(public_key))


def bech32_address(prefix: str, data: bytes) -> str:
    """``prefix1…``: bech32 (BIP173, not bech32m) of an address's bytes, checked to decode back to
    them (a prefix that makes it longer than 90 characters or ambiguous is refused)."""
    if not valid_bech32_prefix(prefix):
        raise InvalidParameterError("a bech32 prefix is 1-83 lowercase printable ASCII characters")
    words = bytes(convertbits(data, 8, 5))
    encoded = str(bech32_encode(prefix, words, Encoding.BECH32))
    if len(encoded) > 90:
        raise InvalidParameterError("the prefix makes an invalid bech32 address (too long)")
    hrp, decoded, spec = bech32_decode(encoded)
    if (hrp, bytes(decoded), spec) != (prefix, words, Encoding.BECH32):
        raise InvalidParameterError("the prefix makes an invalid bech32 address")
    return encoded


def address(public_key: bytes, prefix: str = "secret") -> str:
    """The bech32 account address of a compressed secp256k1 public key (``secret1…`` by default)."""
    return bech32_address(prefix, address_bytes(public_key))


# --- summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coin:
    denom: str
    amount: int


@dataclass(frozen=True)
class Transfer:
    """Coins moved by a recognised message (bank send, contract funds)."""

    sender: str
    recipient: str
    amount: tuple[Coin, ...]


@dataclass(frozen=True)
class MessageSummary:
    type_url: str
    recognised: bool
    fields: dict[str, Any]  # the decoded message, or {"value": raw bytes} when not recognised


@dataclass(frozen=True)
class SignerSummary:
    public_key: bytes | None  # compressed secp256k1 key, None when absent or of another type
    public_key_type: str
    address: str | None
    mode: int | None  # 1 = SIGN_MODE_DIRECT; None for multisig
    sequence: int


@dataclass(frozen=True)
class SignDocSummary:
    """What a SIGN_MODE_DIRECT SignDoc does, and the digest a guardian is asked to sign."""

    chain_id: str
    account_number: int
    signers: tuple[SignerSummary, ...]
    messages: tuple[MessageSummary, ...]
    transfers: tuple[Transfer, ...]
    memo: str
    timeout_height: int
    fee: tuple[Coin, ...]
    gas_limit: int
    fee_payer: str
    fee_granter: str
    non_critical_extensions: tuple[str, ...]
    signing_hash: bytes  # SHA-256 of the SignDoc bytes

    @property
    def recipients(self) -> tuple[tuple[str, tuple[Coin, ...]], ...]:
        return tuple((t.recipient, t.amount) for t in self.transfers)


def _coins(raw: list[dict[str, Any]]) -> tuple[Coin, ...]:
    coins = []
    for c in raw:
        amount = c["amount"]
        if not amount.isascii() or not amount.isdigit() or len(amount) > 78:
            raise DecodeError("a coin amount is a decimal integer")
        coins.append(Coin(c["denom"], int(amount)))
    return tuple(coins)


def _bech32_or_hex(raw: bytes, prefix: str) -> str:
    try:
        return bech32_address(prefix, raw)
    except InvalidParameterError:
        return raw.hex()


def _msg_send(m: dict[str, Any], prefix: str) -> list[Transfer]:
    return [Transfer(m["from_address"], m["to_address"], _coins(m["amount"]))]


def _msg_multi_send(m: dict[str, Any], prefix: str) -> list[Transfer]:
    senders = ",".join(i["address"] for i in m["inputs"])
    return [Transfer(senders, o["address"], _coins(o["coins"])) for o in m["outputs"]]


def _secret_execute(m: dict[str, Any], prefix: str) -> list[Transfer]:
    funds = _coins(m["sent_funds"])
    if not funds:
        return []
    return [Transfer(_bech32_or_hex(m["sender"], prefix), _bech32_or_hex(m["contract"], prefix), funds)]


def _wasm_execute(m: dict[str, Any], prefix: str) -> list[Transfer]:
    funds = _coins(m["funds"])
    return [Transfer(m["sender"], m["contract"], funds)] if funds else []


_MESSAGES: dict[str, tuple[str, Callable[[dict[str, Any], str], list[Transfer]]]] = {
    "/cosmos.bank.v1beta1.MsgSend": ("MsgSend", _msg_send),
    "/cosmos.bank.v1beta1.MsgMultiSend": ("MsgMultiSend", _msg_multi_send),
    "/secret.compute.v1beta1.MsgExecuteContract": ("SecretMsgExecuteContract", _secret_execute),
    "/cosmwasm.wasm.v1.MsgExecuteContract": ("WasmMsgExecuteContract", _wasm_execute),
}


_Parsed = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # SignDoc, TxBody, AuthInfo


def _parse(sign_doc: bytes) -> _Parsed:
    if not isinstance(sign_doc, bytes | bytearray):
        raise DecodeError("a SignDoc is protobuf bytes")
    doc = decode("SignDoc", bytes(sign_doc))
    body = decode("TxBody", doc["body_bytes"])
    auth = decode("AuthInfo", doc["auth_info_bytes"])
    if not doc["chain_id"]:
        raise CosmosError("the SignDoc has no chain_id; refusing to sign")
    if not body["messages"]:
        raise CosmosError("the transaction has no messages")
    if body["extension_options"]:
        raise CosmosError("critical extension options are not supported")
    if not auth["signer_infos"]:
        raise CosmosError("the transaction has no signers")
    return doc, body, auth


def _signer_summary(info: dict[str, Any], prefix: str) -> SignerSummary:
    any_key = info["public_key"]
    key: bytes | None = None
    key_type = any_key["type_url"] if any_key else ""
    if key_type == SECP256K1_PUBKEY_TYPE_URL:
        key = decode("PubKey", any_key["value"])["key"]
    mode_info = info["mode_info"]
    mode = mode_info["single"]["mode"] if mode_info and mode_info["single"] else None
    addr = None
    if key is not None:
        try:
            addr = address(key, prefix)
        except DecodeError:
            addr = None
    return SignerSummary(key, key_type, addr, mode, info["sequence"])


def signing_hash(sign_doc: bytes) -> bytes:
    """The digest :func:`sign_direct` signs: SHA-256 of the SignDoc bytes (after they decode strictly)."""
    return summarize(sign_doc).signing_hash


def summarize(sign_doc: bytes, prefix: str = "secret") -> SignDocSummary:
    """Messages, transfers, fee, chain id, signers and signing hash of a SIGN_MODE_DIRECT SignDoc.

    ``prefix`` names the bech32 prefix used to show signer addresses and Secret contract addresses.
    """
    return _summarize(sign_doc, _parse(sign_doc), prefix)


def _summarize(sign_doc: bytes, parsed: _Parsed, prefix: str) -> SignDocSummary:
    doc, body, auth = parsed
    messages: list[MessageSummary] = []
    transfers: list[Transfer] = []
    for any_msg in body["messages"]:
        type_url = any_msg["type_url"]
        known = _MESSAGES.get(type_url)
        if known is None:
            messages.append(MessageSummary(type_url, False, {"value": any_msg["value"]}))
            continue
        schema, extract = known
        fields = decode(schema, any_msg["value"])
        transfers.extend(extract(fields, prefix))
        messages.append(MessageSummary(type_url, True, fields))
    fee = auth["fee"] or {"amount": [], "gas_limit": 0, "payer": "", "granter": ""}
    return SignDocSummary(
        chain_id=doc["chain_id"],
        account_number=doc["account_number"],
        signers=tuple(_signer_summary(info, prefix) for info in auth["signer_infos"]),
        messages=tuple(messages),
        transfers=tuple(transfers),
        memo=body["memo"],
        timeout_height=body["timeout_height"],
        fee=_coins(fee["amount"]),
        gas_limit=fee["gas_limit"],
        fee_payer=fee["payer"],
        fee_granter=fee["granter"],
        non_critical_extensions=tuple(e["type_url"] for e in body["non_critical_extension_options"]),
        signing_hash=hashlib.sha256(bytes(sign_doc)).digest(),
    )


# --- signing ---------------------------------------------------------------------------------


def _check_signer(signer: Signer) -> bytes:
    needs = "Cosmos SIGN_MODE_DIRECT needs an ecdsa-secp256k1 signer"
    return _compressed(signer_public_key(signer, SCHEME, SignerMismatchError, needs))


def signer_slot(summary: SignDocSummary, public_key: bytes) -> int:
    """The index of this key's SIGN_MODE_DIRECT signer info; :class:`NotASignerError` if it has none."""
    for i, signer in enumerate(summary.signers):
        if signer.public_key == public_key:
            if signer.mode != SIGN_MODE_DIRECT:
                raise NotASignerError("the vault's signer info is not SIGN_MODE_DIRECT")
            return i
    raise NotASignerError("the vault's public key is not among the transaction's signer infos")


def sign_direct(sign_doc: bytes, signer: Signer) -> bytes:
    """SIGN_MODE_DIRECT: 64-byte low-S ``r‖s`` over SHA-256 of the SignDoc bytes.

    The SignDoc must decode strictly (recognised messages included, as :func:`summarize` does),
    name a chain id, and list the vault's public key as a SIGN_MODE_DIRECT signer
    (:class:`NotASignerError` otherwise).
    """
    public_key = _check_signer(signer)
    return _sign_direct(sign_doc, _parse(sign_doc), signer, public_key)


def _sign_direct(sign_doc: bytes, parsed: _Parsed, signer: Signer, public_key: bytes) -> bytes:
    summary = _summarize(sign_doc, parsed, "secret")
    signer_slot(summary, public_key)
    digest = summary.signing_hash
    sig = signer.sign(digest)
    if not isinstance(sig, bytes) or not ecdsa_verify(public_key, digest, sig):
        raise SignatureError("the signer returned a signature that does not verify (64-byte low-S r‖s expected)")
    return sig


def encode_sign_doc(body_bytes: bytes, auth_info_bytes: bytes, chain_id: str, account_number: int) -> bytes:
    """Encode a SignDoc (proto3: default values omitted, fields in number order, as cosmjs and the SDK do)."""
    if not isinstance(body_bytes, bytes) or not isinstance(auth_info_bytes, bytes):
        raise InvalidParameterError("body_bytes and auth_info_bytes are bytes")
    if not isinstance(chain_id, str) or not chain_id:
        raise InvalidParameterError("chain_id is a non-empty string")
    if isinstance(account_number, bool) or not isinstance(account_number, int) or not 0 <= account_number < 1 << 64:
        raise InvalidParameterError("account_number is a uint64")
    out = b""
    if body_bytes:
        out += put_bytes(1, body_bytes)
    if auth_info_bytes:
        out += put_bytes(2, auth_info_bytes)
    out += put_bytes(3, chain_id.encode("utf-8"))
    if account_number:
        out += put_varint(4 << 3 | VARINT) + put_varint(account_number)
    return out


def bank_send(
    public_key: bytes,
    to: str,
    amount: int,
    *,
    denom: str = "uscrt",
    prefix: str = "secret",
    chain_id: str = "secret-4",
    account_number: int = 0,
    sequence: int = 0,
    fee: int = 2500,
    gas: int = 100_000,
    memo: str = "",
) -> bytes:
    """An unsigned SIGN_MODE_DIRECT SignDoc for one ``MsgSend`` from the key's own account."""
    for name, v in (("amount", amount), ("fee", fee), ("gas", gas), ("sequence", sequence)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidParameterError(f"{name} must be a non-negative integer")
    sender = address(public_key, prefix)

    def coin(n: int) -> bytes:
        return put_bytes(1, denom.encode()) + put_bytes(2, str(n).encode())

    def any_(type_url: str, value: bytes) -> bytes:
        return put_bytes(1, type_url.encode()) + put_bytes(2, value)

    msg = any_(
        "/cosmos.bank.v1beta1.MsgSend",
        put_bytes(1, sender.encode()) + put_bytes(2, to.encode()) + put_bytes(3, coin(amount)),
    )
    body = put_bytes(1, msg) + (put_bytes(2, memo.encode()) if memo else b"")
    pk = any_("/cosmos.crypto.secp256k1.PubKey", put_bytes(1, _compressed(public_key)))
    mode_info = put_bytes(1, put_varint(1 << 3 | VARINT) + put_varint(1))  # single, SIGN_MODE_DIRECT
    signer = put_bytes(1, pk) + put_bytes(2, mode_info)
    if sequence:
        signer += put_varint(3 << 3 | VARINT) + put_varint(sequence)
    fee_bytes = put_bytes(1, coin(fee)) + put_varint(2 << 3 | VARINT) + put_varint(gas)
    auth = put_bytes(1, signer) + put_bytes(2, fee_bytes)
    doc = encode_sign_doc(body, auth, chain_id, account_number)
    summarize(doc, prefix)  # it must read back strictly, as a guardian will read it
    return doc


def tx_raw(body_bytes: bytes, auth_info_bytes: bytes, signatures: list[bytes]) -> bytes:
    """Encode a ``TxRaw`` (what ``BroadcastTx`` takes): one signature per signer info, in order."""
    if not all(isinstance(b, bytes) for b in (body_bytes, auth_info_bytes, *signatures)):
        raise InvalidParameterError("TxRaw parts are bytes")
    auth = decode("AuthInfo", auth_info_bytes)
    if len(signatures) != len(auth["signer_infos"]):
        raise CosmosError(f"{len(signatures)} signatures for {len(auth['signer_infos'])} signer infos")
    return _tx_raw(body_bytes, auth_info_bytes, signatures)


def _tx_raw(body_bytes: bytes, auth_info_bytes: bytes, signatures: list[bytes]) -> bytes:
    out = b""
    if body_bytes:
        out += put_bytes(1, body_bytes)
    if auth_info_bytes:
        out += put_bytes(2, auth_info_bytes)
    for sig in signatures:
        out += put_bytes(3, sig)
    return out


def sign_transaction(sign_doc: bytes, signer: Signer) -> bytes:
    """Sign a single-signer SignDoc and return the broadcastable ``TxRaw`` bytes.

    With several signers each signs its own SignDoc (account numbers differ): collect the
    signatures from :func:`sign_direct` and join them with :func:`tx_raw`.
    """
    parsed = _parse(sign_doc)
    doc, _, auth = parsed
    if len(auth["signer_infos"]) != 1:
        raise CosmosError("several signers: sign each SignDoc with sign_direct and join them with tx_raw")
    sig = _sign_direct(sign_doc, parsed, signer, _check_signer(signer))
    return _tx_raw(doc["body_bytes"], doc["auth_info_bytes"], [sig])  # one signer info, one signature
