"""What an EIP-712 typed-data signature lets others take, for the guardian's reading (SECURITY #19, #31).

A typed-data signature is checked by its domain's ``verifyingContract``, which then acts on it: the
reading is always a ``CALL`` of amount 0 to that contract (to ``""`` when the domain names none, so
no allow-list admits it) — allowing a contract allows every signature it verifies.  Beside it, the
permits whose type definitions are *exactly* the standard ones (names, types and order of every
field, also of the structs they use: anything else hashes differently and is not that permit) add
what they let a spender take:

* EIP-2612 ``Permit(owner, spender, value, nonce, deadline)``: an ``APPROVAL`` of ``value`` of the
  verifying contract's token to ``spender``;
* DAI's ``Permit(holder, spender, nonce, expiry, allowed)``: with ``allowed`` an ``APPROVAL`` of
  :data:`~gridlock.chains.movement.UNBOUNDED` (DAI sets the allowance to ``2**256 - 1``); without it,
  only the ``CALL``;
* Permit2 ``PermitSingle`` / ``PermitBatch`` (``AllowanceTransfer``): an ``APPROVAL`` per
  ``details`` entry of ``amount`` of ``details.token`` to ``spender`` (``2**160 - 1``, an allowance
  Permit2 never decreases, is UNBOUNDED);
* Permit2 ``PermitTransferFrom`` / ``PermitBatchTransferFrom`` and their ``…WitnessTransferFrom``
  forms (``SignatureTransfer``; the witness is one extra field of any type): the spender may send the
  permitted tokens anywhere, so an ``APPROVAL`` of each ``permitted.amount`` of ``permitted.token``
  to ``spender``.

The two token permits name no token in the message, so they are read only when the domain names
its ``verifyingContract``.  Every value is read as eth-account hashes it (its own field encoder,
then an ``eth-abi`` round trip), so the amount counted is the amount signed, whatever the JSON form
(decimal or hex text, bool-like strings).  The typed data has already been hashed when it is read
(:func:`gridlock.chains.ethereum.typed_data_hash`), so it is well formed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account._utils.encode_typed_data.encoding_and_hashing import encode_field
from eth_utils.address import to_checksum_address

from gridlock.chains.movement import UNBOUNDED, Movement

__all__ = ["read"]

PERMIT2_UNLIMITED = 2**160 - 1

Fields = tuple[tuple[str, str], ...]
PERMIT_2612: Fields = (
    ("owner", "address"),
    ("spender", "address"),
    ("value", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
)
PERMIT_DAI: Fields = (
    ("holder", "address"),
    ("spender", "address"),
    ("nonce", "uint256"),
    ("expiry", "uint256"),
    ("allowed", "bool"),
)
PERMIT_DETAILS: Fields = (("token", "address"), ("amount", "uint160"), ("expiration", "uint48"), ("nonce", "uint48"))
TOKEN_PERMISSIONS: Fields = (("token", "address"), ("amount", "uint256"))
PERMIT_SINGLE: Fields = (("details", "PermitDetails"), ("spender", "address"), ("sigDeadline", "uint256"))
PERMIT_BATCH: Fields = (("details", "PermitDetails[]"), ("spender", "address"), ("sigDeadline", "uint256"))
PERMIT_TRANSFER_FROM: Fields = (
    ("permitted", "TokenPermissions"),
    ("spender", "address"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
)
PERMIT_BATCH_TRANSFER_FROM: Fields = (("permitted", "TokenPermissions[]"), *PERMIT_TRANSFER_FROM[1:])
STRUCTS: dict[str, Fields] = {"PermitDetails": PERMIT_DETAILS, "TokenPermissions": TOKEN_PERMISSIONS}


class _Values:
    """Field values as eth-account hashes them (see the module doc)."""

    def __init__(self, types: Mapping[str, Any]) -> None:
        self.types = dict(types)

    def atom(self, abi_type: str, value: Any) -> Any:
        enc_type, enc_value = encode_field(self.types, "", abi_type, value)
        return abi_decode([enc_type], abi_encode([enc_type], [enc_value]))[0]

    def address(self, value: Any) -> str:
        return str(to_checksum_address(self.atom("address", value)))

    def uint(self, abi_type: str, value: Any) -> int:
        return int(self.atom(abi_type, value))


def _fields(types: Mapping[str, Any], name: str) -> Fields | None:
    definition = types.get(name)
    if not isinstance(definition, list | tuple):
        return None
    try:
        return tuple((str(f["name"]), str(f["type"])) for f in definition)
    except (TypeError, KeyError):
        return None


def _permit2_amount(amount: int) -> int:
    return UNBOUNDED if amount == PERMIT2_UNLIMITED else amount


Reader = Callable[[_Values, str, Mapping[str, Any]], list[Movement]]


def _permit_2612(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    return [Movement.approval(v.address(m["spender"]), v.uint("uint256", m["value"]), contract)]


def _permit_dai(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    return [Movement.approval(v.address(m["spender"]), UNBOUNDED, contract)] if v.atom("bool", m["allowed"]) else []


def _details(v: _Values, spender: str, d: Mapping[str, Any]) -> Movement:
    return Movement.approval(spender, _permit2_amount(v.uint("uint160", d["amount"])), v.address(d["token"]))


def _permit_single(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    return [_details(v, v.address(m["spender"]), m["details"])]


def _permit_batch(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    spender = v.address(m["spender"])
    return [_details(v, spender, d) for d in m["details"]]


def _permitted(v: _Values, spender: str, p: Mapping[str, Any]) -> Movement:
    return Movement.approval(spender, v.uint("uint256", p["amount"]), v.address(p["token"]))


def _permit_transfer(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    return [_permitted(v, v.address(m["spender"]), m["permitted"])]


def _permit_batch_transfer(v: _Values, contract: str, m: Mapping[str, Any]) -> list[Movement]:
    spender = v.address(m["spender"])
    return [_permitted(v, spender, p) for p in m["permitted"]]


# primary type -> (its exact fields, whether one witness field may follow, the structs it uses, reader)
KNOWN: dict[str, tuple[Fields, bool, tuple[str, ...], Reader]] = {
    "PermitSingle": (PERMIT_SINGLE, False, ("PermitDetails",), _permit_single),
    "PermitBatch": (PERMIT_BATCH, False, ("PermitDetails",), _permit_batch),
    "PermitTransferFrom": (PERMIT_TRANSFER_FROM, False, ("TokenPermissions",), _permit_transfer),
    "PermitBatchTransferFrom": (PERMIT_BATCH_TRANSFER_FROM, False, ("TokenPermissions",), _permit_batch_transfer),
    "PermitWitnessTransferFrom": (PERMIT_TRANSFER_FROM, True, ("TokenPermissions",), _permit_transfer),
    "PermitBatchWitnessTransferFrom": (PERMIT_BATCH_TRANSFER_FROM, True, ("TokenPermissions",), _permit_batch_transfer),
}


def _reader(types: Mapping[str, Any], primary: str, contract: str) -> Reader | None:
    """The reader of ``primary`` if its definition (and its structs') is exactly a known permit's."""
    fields = _fields(types, primary)
    if fields is None:
        return None
    if primary == "Permit":
        if not contract:
            return None
        return {PERMIT_2612: _permit_2612, PERMIT_DAI: _permit_dai}.get(fields)
    known = KNOWN.get(primary)
    if known is None:
        return None
    expected, witness, structs, reader = known
    if fields != expected and not (witness and len(fields) == len(expected) + 1 and fields[:-1] == expected):
        return None
    if any(_fields(types, s) != STRUCTS[s] for s in structs):
        return None
    return reader


def read(typed_data: Mapping[str, Any]) -> tuple[Movement, ...]:
    """The movements of an EIP-712 message (``types``, ``primaryType``, ``domain``, ``message``) that
    :func:`gridlock.chains.ethereum.typed_data_hash` accepted."""
    types = {k: v for k, v in typed_data["types"].items() if k != "EIP712Domain"}
    values = _Values(types)
    domain = typed_data["domain"]
    contract = values.address(domain["verifyingContract"]) if "verifyingContract" in domain else ""
    reader = _reader(types, str(typed_data["primaryType"]), contract)
    decoded = [] if reader is None else reader(values, contract, typed_data["message"])
    return (Movement.call(contract, 0), *decoded)
