"""Ethereum and EVM chains: addresses, transactions, EIP-191 and EIP-712 signatures.

Every encoding is eth-account's (``eth-account`` / ``eth-utils`` / ``rlp``); this module adds only
what a threshold signer needs on top of it:

* the signer returns 64-byte low-S ``r‖s`` and no recovery id, so ``yParity`` / ``v`` is found by
  public-key recovery (libsecp256k1 via coincurve) against the vault's known key;
* the chain id is **required** and enforced: a transaction without ``chainId`` (eth-account would
  silently use 0 for typed transactions, or sign a replayable pre-EIP-155 legacy transaction) is
  refused with :class:`ChainIdError`;
* integer fields are range-checked (uint256, EIP-2681 nonce), only transaction types 0 (legacy
  EIP-155), 1 (EIP-2930) and 2 (EIP-1559) are accepted, and every failure is a typed
  :class:`~gridlock.errors.GridlockError`.

Guardians re-derive what they sign from the transaction itself (SECURITY #19): :func:`signing_hash`,
:func:`message_hash` and :func:`typed_data_hash` return exactly the 32-byte digest that
:func:`sign_transaction`, :func:`sign_message` and :func:`sign_typed_data` hand to the signer, and
:func:`summarize`, :func:`summarize_message` and :func:`summarize_typed_data` report next to that
digest everything it moves (:mod:`gridlock.chains.ethereum_calldata` for transactions,
:mod:`gridlock.chains.ethereum_typed` for EIP-712 permits; a personal message moves nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey
from eth_account._utils.legacy_transactions import (
    Transaction as LegacyTransaction,
)
from eth_account._utils.legacy_transactions import (
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account._utils.signing import to_eth_v
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_defunct, encode_typed_data
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_keys.datatypes import PublicKey as EthPublicKey
from eth_utils.address import to_checksum_address

from gridlock.chains import ethereum_calldata, ethereum_typed
from gridlock.chains.movement import UNBOUNDED, Movement
from gridlock.chains.signer import Signer, signer_public_key
from gridlock.crypto.ecdsa.online import verify as ecdsa_verify
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, SignatureError

__all__ = [
    "SCHEME",
    "ChainIdError",
    "EthereumError",
    "MessageSummary",
    "SignerMismatchError",
    "TransactionSummary",
    "TypedDataSummary",
    "address",
    "message_hash",
    "sign_message",
    "sign_transaction",
    "sign_typed_data",
    "signing_hash",
    "summarize",
    "summarize_message",
    "summarize_typed_data",
    "typed_data_hash",
]

SCHEME = "ecdsa-secp256k1"
UINT256_LIMIT = 2**256
NONCE_LIMIT = 2**64 - 1  # EIP-2681: nonce < 2**64 - 1
GAS_LIMIT = 2**64
CHAIN_ID_LIMIT = 2**64  # chain ids are uint64 in every client
TRANSACTION_TYPES = (0, 1, 2)

_FIELDS = {
    0: {"chainId", "nonce", "gasPrice", "gas", "to", "value", "data"},
    1: {"chainId", "nonce", "gasPrice", "gas", "to", "value", "data", "accessList"},
    2: {"chainId", "nonce", "maxFeePerGas", "maxPriorityFeePerGas", "gas", "to", "value", "data", "accessList"},
}
_REQUIRED = {
    0: {"chainId", "nonce", "gasPrice", "gas"},
    1: {"chainId", "nonce", "gasPrice", "gas"},
    2: {"chainId", "nonce", "maxFeePerGas", "maxPriorityFeePerGas", "gas"},
}


class EthereumError(InvalidParameterError):
    """A transaction, message or typed-data value that cannot be signed as given."""


class ChainIdError(EthereumError):
    """The chain id is missing, zero, out of range or (legacy) not EIP-155 protected."""


class SignerMismatchError(EthereumError):
    """The signer is not an ``ecdsa-secp256k1`` key, or not the ``from`` account of the transaction."""


@dataclass(frozen=True)
class TransactionSummary:
    """What a transaction does, and the digest a guardian is asked to sign for it."""

    chain_id: int
    tx_type: int
    nonce: int
    to: str | None  # None: contract creation
    value: int  # wei
    data: bytes
    gas: int
    gas_price: int | None  # types 0 and 1
    max_fee_per_gas: int | None  # type 2
    max_priority_fee_per_gas: int | None  # type 2
    max_fee: int  # wei: gas × (gasPrice or maxFeePerGas), the most the sender can pay in fees
    access_list: tuple[tuple[str, tuple[bytes, ...]], ...]
    movements: tuple[Movement, ...]  # everything it moves, the fee bound last (ethereum_calldata)
    signing_hash: bytes

    @property
    def recipients(self) -> tuple[tuple[str, int], ...]:
        """(address, wei) of native value moved; tokens are in :attr:`movements`."""
        return ((self.to, self.value),) if self.to is not None and self.value else ()


@dataclass(frozen=True)
class MessageSummary:
    """An EIP-191 ``personal_sign`` message (version 0x45): it moves nothing, only the digest is signed."""

    message: bytes
    text: str | None  # the message as UTF-8 text, when it is printable text
    movements: tuple[Movement, ...]
    signing_hash: bytes


@dataclass(frozen=True)
class TypedDataSummary:
    """An EIP-712 message: its domain, primary type and the digest to sign."""

    primary_type: str
    domain: dict[str, Any]
    chain_id: int | None
    verifying_contract: str | None
    message: dict[str, Any]
    movements: tuple[Movement, ...]  # what the signature lets others take (ethereum_typed)
    signing_hash: bytes


# --- addresses -------------------------------------------------------------------------------


def _uncompressed(public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) not in (33, 65):
        raise DecodeError("a secp256k1 public key is 33 (compressed) or 65 (uncompressed) bytes")
    try:
        point: bytes = PublicKey(bytes(public_key)).format(compressed=False)
    except (ValueError, TypeError) as exc:
        raise DecodeError("not a valid secp256k1 public key") from exc
    return point


def address(public_key: bytes) -> str:
    """The EIP-55 checksummed address of a secp256k1 public key (33- or 65-byte SEC1)."""
    return str(EthPublicKey(_uncompressed(public_key)[1:]).to_checksum_address())


# --- transactions ----------------------------------------------------------------------------


def _int_field(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise EthereumError(f"field {name!r} must be an integer or a 0x-prefixed hex string")


def _tx_type(tx: Mapping[str, Any]) -> int:
    if "type" in tx:
        raw = tx["type"]
        _int_field("type", raw)
        try:
            tx_type = int(raw, 16) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise EthereumError("field 'type' is not a hex string") from exc
    elif "maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx:
        tx_type = 2
    elif "accessList" in tx:
        tx_type = 1
    else:
        tx_type = 0
    if tx_type not in TRANSACTION_TYPES:
        raise EthereumError(f"transaction type {tx_type} is not supported (0 legacy, 1 EIP-2930, 2 EIP-1559)")
    return tx_type


def _chain_id(tx: Mapping[str, Any]) -> int:
    if "chainId" not in tx or tx["chainId"] is None:
        raise ChainIdError("the transaction has no chainId (replayable on every chain); refusing to sign")
    raw = tx["chainId"]
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ChainIdError("chainId must be an integer")
    try:
        chain_id = int(raw, 16) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ChainIdError("chainId is not a hex string") from exc
    if not 0 < chain_id < CHAIN_ID_LIMIT:
        raise ChainIdError("chainId must be between 1 and 2**64 - 1")
    return chain_id


def _unsigned(tx: Any) -> tuple[int, int, LegacyTransaction | TypedTransaction, str | None]:
    """Validate an eth-account style dict; return (type, chain id, eth-account object, ``from``)."""
    if not isinstance(tx, Mapping):
        raise EthereumError("a transaction is a dict with eth-account field names")
    if not all(isinstance(k, str) for k in tx):
        raise EthereumError("transaction field names must be strings")
    tx_type = _tx_type(tx)
    chain_id = _chain_id(tx)
    fields = dict(tx)
    sender = fields.pop("from", None)
    fields.pop("type", None)
    unknown = set(fields) - _FIELDS[tx_type]
    if unknown:
        raise EthereumError(f"fields not allowed in a type-{tx_type} transaction: {sorted(unknown)}")
    missing = _REQUIRED[tx_type] - set(fields)
    if missing:
        raise EthereumError(f"type-{tx_type} transaction is missing {sorted(missing)}")
    for name in ("nonce", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value"):
        if name in fields:
            _int_field(name, fields[name])
    for name in ("to", "data"):  # eth-account would also turn an int into bytes; refuse the ambiguity
        if name in fields and not isinstance(fields[name], str | bytes | bytearray):
            raise EthereumError(f"field {name!r} must be bytes or a 0x-prefixed hex string")
    if tx_type:
        fields["type"] = tx_type
    try:
        unsigned = serializable_unsigned_transaction_from_dict(fields)
    except GridlockError:
        raise
    except Exception as exc:  # eth-account raises TypeError, ValueError and rlp errors alike
        raise EthereumError(f"invalid transaction: {exc}") from exc
    if tx_type == 0:
        if not isinstance(unsigned, LegacyTransaction) or unsigned.v != chain_id:
            raise ChainIdError("legacy transactions are signed with EIP-155 replay protection only")
    elif not isinstance(unsigned, TypedTransaction) or unsigned.transaction_type != tx_type:
        raise EthereumError("eth-account built a different transaction type than requested")
    _check_ranges(_as_dict(unsigned))
    if sender is not None and not isinstance(sender, str | bytes):
        raise SignerMismatchError("'from' must be an address")
    return tx_type, chain_id, unsigned, (None if sender is None else _checksum(sender))


def _as_dict(unsigned: LegacyTransaction | TypedTransaction) -> dict[str, Any]:
    d: dict[str, Any] = dict(unsigned.as_dict())
    return d


def _check_ranges(d: Mapping[str, Any]) -> None:
    limits = {
        "nonce": NONCE_LIMIT,
        "gas": GAS_LIMIT,
        "gasPrice": UINT256_LIMIT,
        "maxFeePerGas": UINT256_LIMIT,
        "maxPriorityFeePerGas": UINT256_LIMIT,
        "value": UINT256_LIMIT,
    }
    for name, limit in limits.items():
        if name in d and not 0 <= d[name] < limit:
            raise EthereumError(f"field {name!r} is out of range")
    if "maxFeePerGas" in d and d["maxPriorityFeePerGas"] > d["maxFeePerGas"]:
        raise EthereumError("maxPriorityFeePerGas is greater than maxFeePerGas")
    for entry in d.get("accessList", ()):  # EIP-2930: each storage key is one 32-byte word
        for key in entry["storageKeys"]:
            if not 0 <= int(key) < UINT256_LIMIT:
                raise EthereumError("an access-list storage key is out of range (a 32-byte word)")


def _checksum(value: str | bytes) -> str:
    try:
        return str(to_checksum_address(value))
    except (ValueError, TypeError) as exc:
        raise EthereumError("not an Ethereum address") from exc


def signing_hash(tx: Mapping[str, Any]) -> bytes:
    """The 32-byte digest :func:`sign_transaction` signs for ``tx`` (keccak of the unsigned encoding)."""
    _, _, unsigned, _ = _unsigned(tx)
    return bytes(unsigned.hash())


def summarize(tx: Mapping[str, Any]) -> TransactionSummary:
    """Everything an unsigned transaction dict moves (fee bound included), its chain id and signing hash."""
    tx_type, chain_id, unsigned, _ = _unsigned(tx)
    d = _as_dict(unsigned)
    to = _checksum(d["to"]) if d["to"] else None
    data = bytes(d["data"])
    fee_rate = d["gasPrice"] if "gasPrice" in d else d["maxFeePerGas"]
    max_fee = d["gas"] * fee_rate
    access = tuple(
        (_checksum(entry["address"]), tuple(int(k).to_bytes(32, "big") for k in entry["storageKeys"]))
        for entry in d.get("accessList", ())
    )
    return TransactionSummary(
        chain_id=chain_id,
        tx_type=tx_type,
        nonce=d["nonce"],
        to=to,
        value=d["value"],
        data=data,
        gas=d["gas"],
        gas_price=d.get("gasPrice"),
        max_fee_per_gas=d.get("maxFeePerGas"),
        max_priority_fee_per_gas=d.get("maxPriorityFeePerGas"),
        max_fee=max_fee,
        access_list=access,
        movements=(*ethereum_calldata.read(to, d["value"], data), Movement.fee(min(max_fee, UNBOUNDED))),
        signing_hash=bytes(unsigned.hash()),
    )


def _check_signer(signer: Signer) -> bytes:
    public_key = signer_public_key(signer, SCHEME, SignerMismatchError, "Ethereum needs an ecdsa-secp256k1 signer")
    if len(public_key) != 33:
        raise SignerMismatchError("the signer's public key must be 33-byte compressed secp256k1")
    _uncompressed(public_key)
    return public_key


def _sign_digest(signer: Signer, digest: bytes) -> tuple[int, int, int]:
    """Sign ``digest``; return (recovery id, r, s) for a low-S signature that verifies under the key."""
    public_key = _check_signer(signer)
    sig = signer.sign(digest)
    if not isinstance(sig, bytes) or not ecdsa_verify(public_key, digest, sig):
        raise SignatureError("the signer returned a signature that does not verify (64-byte low-S r‖s expected)")
    for recid in (0, 1):
        try:
            recovered = PublicKey.from_signature_and_message(sig + bytes([recid]), digest, hasher=None)
        except (ValueError, TypeError):
            continue
        if recovered.format(compressed=True) == public_key:
            return recid, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    raise SignatureError("no recovery id maps the signature to the signer's key")


def sign_transaction(tx: Mapping[str, Any], signer: Signer) -> bytes:
    """Sign a legacy (EIP-155), EIP-2930 or EIP-1559 transaction; return the raw signed transaction.

    ``tx`` uses eth-account's field names; ``chainId`` is required.  An optional ``from`` must be
    the signer's address.
    """
    tx_type, chain_id, unsigned, sender = _unsigned(tx)
    public_key = _check_signer(signer)
    if sender is not None and sender != address(public_key):
        raise SignerMismatchError("'from' is not the signer's address")
    recid, r, s = _sign_digest(signer, bytes(unsigned.hash()))
    v = to_eth_v(recid, chain_id) if tx_type == 0 else recid
    return bytes(encode_transaction(unsigned, (v, r, s)))


# --- messages --------------------------------------------------------------------------------


def _personal(message: bytes | str) -> SignableMessage:
    if isinstance(message, bytes | bytearray):
        return encode_defunct(primitive=bytes(message))
    if isinstance(message, str):
        return encode_defunct(text=message)
    raise EthereumError("a personal_sign message is bytes or text")


def message_hash(message: bytes | str) -> bytes:
    """The EIP-191 ``personal_sign`` digest of ``message`` (bytes as given, or UTF-8 text)."""
    return bytes(_hash_eip191_message(_personal(message)))


def summarize_message(message: bytes | str) -> MessageSummary:
    """A ``personal_sign`` message, its text if it is text, and its digest; it moves nothing."""
    digest = message_hash(message)
    raw = message.encode() if isinstance(message, str) else bytes(message)
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not text.replace("\n", "").isprintable():
        text = None
    return MessageSummary(message=raw, text=text, movements=(), signing_hash=digest)


def _signature65(recid: int, r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recid])


def sign_message(message: bytes | str, signer: Signer) -> bytes:
    """EIP-191 ``personal_sign``: 65-byte ``r‖s‖v`` (v = 27 or 28), as wallets return it."""
    return _signature65(*_sign_digest(signer, message_hash(message)))


def _check_struct(types: Mapping[str, Any], type_name: str, value: Any, depth: int = 0) -> None:
    """Every struct value has exactly its type's fields, so nothing shown is left out of the hash."""
    if depth > 32:
        raise EthereumError("EIP-712 data nests too deep")
    base = type_name.split("[", 1)[0]
    if "[" in type_name:
        if not isinstance(value, list | tuple):
            raise EthereumError(f"EIP-712 value of type {type_name} must be an array")
        inner = type_name[: type_name.rindex("[")]
        for item in value:
            _check_struct(types, inner, item, depth + 1)
        return
    if base not in types:
        return  # an atomic type; eth-abi checks the value when encoding
    fields = types[base]
    if not isinstance(value, Mapping) or not isinstance(fields, list | tuple):
        raise EthereumError(f"EIP-712 value of type {type_name} must be a struct")
    try:
        names = {f["name"]: f["type"] for f in fields}
    except (TypeError, KeyError) as exc:
        raise EthereumError(f"EIP-712 type {base} is malformed") from exc
    if set(value) != set(names):
        raise EthereumError(f"EIP-712 {base} value has fields {sorted(map(str, value))}, its type {sorted(names)}")
    for name, field_type in names.items():
        _check_struct(types, str(field_type), value[name], depth + 1)


def _typed(typed_data: Any) -> SignableMessage:
    if not isinstance(typed_data, Mapping):
        raise EthereumError("EIP-712 typed data is a dict with types, primaryType, domain and message")
    try:
        types = typed_data["types"]
        _check_struct(types, "EIP712Domain", typed_data["domain"])
        _check_struct(types, typed_data["primaryType"], typed_data["message"])
        return encode_typed_data(full_message=dict(typed_data))
    except GridlockError:
        raise
    except Exception as exc:  # eth-account raises ValidationError, ValueError, TypeError, KeyError …
        raise EthereumError(f"invalid EIP-712 typed data: {exc}") from exc


def typed_data_hash(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest ``keccak(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))``."""
    return bytes(_hash_eip191_message(_typed(typed_data)))


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value[:2].lower() == "0x":
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def _typed_movements(typed_data: Mapping[str, Any]) -> tuple[Movement, ...]:
    try:
        return ethereum_typed.read(typed_data)
    except GridlockError:
        raise
    except Exception as exc:  # hashed already, so not expected; still a typed error, never a crash
        raise EthereumError(f"invalid EIP-712 typed data: {exc}") from exc


def summarize_typed_data(typed_data: Mapping[str, Any]) -> TypedDataSummary:
    """Domain, primary type, digest and movements of an EIP-712 message."""
    digest = typed_data_hash(typed_data)
    domain = dict(typed_data.get("domain") or {})
    chain_id = domain.get("chainId")
    contract = domain.get("verifyingContract")
    return TypedDataSummary(
        primary_type=str(typed_data["primaryType"]),
        domain=domain,
        chain_id=_maybe_int(chain_id),
        verifying_contract=None if contract is None else _checksum(contract),
        message=dict(typed_data["message"]),
        movements=_typed_movements(typed_data),
        signing_hash=digest,
    )


def sign_typed_data(typed_data: Mapping[str, Any], signer: Signer) -> bytes:
    """EIP-712 ``eth_signTypedData_v4``: 65-byte ``r‖s‖v`` (v = 27 or 28)."""
    return _signature65(*_sign_digest(signer, typed_data_hash(typed_data)))
