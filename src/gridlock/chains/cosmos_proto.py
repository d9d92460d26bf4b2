"""The strict protobuf reader (and the little writer) behind :mod:`gridlock.chains.cosmos`.

Why hand-written, and why strict, is explained in :mod:`gridlock.chains.cosmos`: a guardian must read
exactly what the chain will execute, so duplicated singular fields, unknown critical fields
(cosmos-sdk ADR-027: field numbers without bit 11 set), wrong wire types, truncation, over-long
varints and invalid UTF-8 are :class:`~gridlock.errors.DecodeError`.  Only the messages in
``_SCHEMAS`` are read.
"""

from __future__ import annotations

from typing import Any

from gridlock.errors import DecodeError

__all__ = ["LEN", "MAX_DEPTH", "VARINT", "decode", "put_bytes", "put_varint"]

MAX_DEPTH = 8  # the messages read here nest at most 5 deep (an authz MsgExec's messages are decoded anew)

VARINT, I64, LEN, I32 = 0, 1, 2, 5  # protobuf wire types
_NON_CRITICAL = 1 << 10  # ADR-027: field numbers with bit 11 set may be ignored


# --- a strict protobuf reader for the few messages signing needs --------------------------------

_Field = tuple[str, str, bool]  # (name, kind, repeated); kind: uint64 bool bytes string or a message name


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos + i >= len(data):
            raise DecodeError("truncated varint")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if value >= 1 << 64:
                raise DecodeError("varint overflows 64 bits")
            return value, pos + i + 1
    raise DecodeError("varint longer than 10 bytes")


def _skip(data: bytes, pos: int, wire: int) -> int:
    if wire == VARINT:
        return _varint(data, pos)[1]
    if wire == I64:
        end = pos + 8
    elif wire == I32:
        end = pos + 4
    elif wire == LEN:
        length, pos = _varint(data, pos)
        end = pos + length
    else:
        raise DecodeError(f"unsupported protobuf wire type {wire}")
    if end > len(data):
        raise DecodeError("truncated field")
    return end


def _read_value(where: str, kind: str, wire: int, data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if kind in ("uint64", "bool"):
        if wire != VARINT:
            raise DecodeError(f"{where}: wrong wire type")
        number, pos = _varint(data, pos)
        if kind == "uint64":
            return number, pos
        if number > 1:
            raise DecodeError(f"{where}: not a bool")
        return bool(number), pos
    if wire != LEN:
        raise DecodeError(f"{where}: wrong wire type")
    length, pos = _varint(data, pos)
    if pos + length > len(data):
        raise DecodeError(f"{where}: truncated")
    chunk = data[pos : pos + length]
    pos += length
    if kind == "bytes":
        return chunk, pos
    if kind == "string":
        try:
            return chunk.decode("utf-8"), pos
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{where}: invalid UTF-8") from exc
    return decode(kind, chunk, depth + 1), pos


def decode(name: str, data: bytes, depth: int = 0) -> dict[str, Any]:
    """Decode ``data`` as message ``name`` from :data:`_SCHEMAS`; proto3 defaults for absent fields."""
    if depth > MAX_DEPTH:
        raise DecodeError("protobuf nesting too deep")
    schema = _SCHEMAS[name]
    out: dict[str, Any] = {}
    seen: set[int] = set()
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("protobuf field number 0")
        field = schema.get(number)
        if field is None:
            if not number & _NON_CRITICAL:
                raise DecodeError(f"{name}: unknown critical field {number} (ADR-027)")
            pos = _skip(data, pos, wire)
            continue
        fname, kind, repeated = field
        if not repeated and number in seen:
            raise DecodeError(f"{name}.{fname} appears twice")
        seen.add(number)
        value, pos = _read_value(f"{name}.{fname}", kind, wire, data, pos, depth)
        if repeated:
            out.setdefault(fname, []).append(value)
        else:
            out[fname] = value
    for fname, kind, repeated in schema.values():
        if fname not in out:
            out[fname] = [] if repeated else _DEFAULTS.get(kind)
    return out


_DEFAULTS: dict[str, Any] = {"uint64": 0, "bool": False, "bytes": b"", "string": ""}

_SCHEMAS: dict[str, dict[int, _Field]] = {
    "SignDoc": {
        1: ("body_bytes", "bytes", False),
        2: ("auth_info_bytes", "bytes", False),
        3: ("chain_id", "string", False),
        4: ("account_number", "uint64", False),
    },
    "TxBody": {
        1: ("messages", "Any", True),
        2: ("memo", "string", False),
        3: ("timeout_height", "uint64", False),
        4: ("unordered", "bool", False),
        5: ("timeout_timestamp", "Timestamp", False),
        1023: ("extension_options", "Any", True),
        2047: ("non_critical_extension_options", "Any", True),
    },
    "Timestamp": {1: ("seconds", "uint64", False), 2: ("nanos", "uint64", False)},
    "AuthInfo": {
        1: ("signer_infos", "SignerInfo", True),
        2: ("fee", "Fee", False),
        3: ("tip", "Tip", False),
    },
    "SignerInfo": {
        1: ("public_key", "Any", False),
        2: ("mode_info", "ModeInfo", False),
        3: ("sequence", "uint64", False),
    },
    "ModeInfo": {1: ("single", "ModeInfoSingle", False), 2: ("multi", "bytes", False)},
    "ModeInfoSingle": {1: ("mode", "uint64", False)},
    "Fee": {
        1: ("amount", "Coin", True),
        2: ("gas_limit", "uint64", False),
        3: ("payer", "string", False),
        4: ("granter", "string", False),
    },
    "Tip": {1: ("amount", "Coin", True), 2: ("tipper", "string", False)},
    "Coin": {1: ("denom", "string", False), 2: ("amount", "string", False)},
    "Any": {1: ("type_url", "string", False), 2: ("value", "bytes", False)},
    "TxMsgData": {1: ("data", "bytes", True), 2: ("msg_responses", "Any", True)},
    "MsgExecuteContractResponse": {1: ("data", "bytes", False)},
    "TxRaw": {
        1: ("body_bytes", "bytes", False),
        2: ("auth_info_bytes", "bytes", False),
        3: ("signatures", "bytes", True),
    },
    "PubKey": {1: ("key", "bytes", False)},
    "MsgSend": {
        1: ("from_address", "string", False),
        2: ("to_address", "string", False),
        3: ("amount", "Coin", True),
    },
    "MsgMultiSend": {1: ("inputs", "BankIO", True), 2: ("outputs", "BankIO", True)},
    "BankIO": {1: ("address", "string", False), 2: ("coins", "Coin", True)},
    "SecretMsgExecuteContract": {
        1: ("sender", "bytes", False),
        2: ("contract", "bytes", False),
        3: ("msg", "bytes", False),
        4: ("callback_code_hash", "string", False),
        5: ("sent_funds", "Coin", True),
        6: ("callback_sig", "bytes", False),
    },
    "WasmMsgExecuteContract": {
        1: ("sender", "string", False),
        2: ("contract", "string", False),
        3: ("msg", "bytes", False),
        5: ("funds", "Coin", True),
    },
    # ibc.applications.transfer.v1.MsgTransfer (ICS-20) and ibc.core.client.v1.Height
    "MsgTransfer": {
        1: ("source_port", "string", False),
        2: ("source_channel", "string", False),
        3: ("token", "Coin", False),
        4: ("sender", "string", False),
        5: ("receiver", "string", False),
        6: ("timeout_height", "Height", False),
        7: ("timeout_timestamp", "uint64", False),
        8: ("memo", "string", False),
    },
    "Height": {1: ("revision_number", "uint64", False), 2: ("revision_height", "uint64", False)},
    # cosmos.authz.v1beta1
    "MsgGrant": {1: ("granter", "string", False), 2: ("grantee", "string", False), 3: ("grant", "Grant", False)},
    "Grant": {1: ("authorization", "Any", False), 2: ("expiration", "Timestamp", False)},
    "MsgExec": {1: ("grantee", "string", False), 2: ("msgs", "Any", True)},
    "MsgRevoke": {
        1: ("granter", "string", False),
        2: ("grantee", "string", False),
        3: ("msg_type_url", "string", False),
    },
    # cosmos.feegrant.v1beta1
    "MsgGrantAllowance": {
        1: ("granter", "string", False),
        2: ("grantee", "string", False),
        3: ("allowance", "Any", False),
    },
    "MsgRevokeAllowance": {1: ("granter", "string", False), 2: ("grantee", "string", False)},
}


def put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put_bytes(number: int, value: bytes) -> bytes:
    return put_varint(number << 3 | LEN) + put_varint(len(value)) + value
