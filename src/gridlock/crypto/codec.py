"""Strict deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for protocol payloads and key shares.

Decoding is strict in three ways: the input must be the canonical encoding of
what it decodes to (so every value has exactly one byte representation), maps
must carry exactly the expected keys, and every field is type- and
length-checked by the readers below before any arithmetic sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2

from gridlock.crypto.group import Group, Point
from gridlock.errors import DecodeError, GridlockError

MAX_PAYLOAD = 1 << 20  # 1 MiB: far above any honest message of these protocols (SECURITY #25)


def dumps(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def loads(data: bytes, *, max_size: int = MAX_PAYLOAD) -> Any:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("expected bytes")
    if len(data) > max_size:
        raise DecodeError(f"encoded value larger than {max_size} bytes")
    try:
        obj = cbor2.loads(bytes(data))
    except Exception:  # cbor2 raises many types for malformed input
        raise DecodeError("malformed CBOR") from None
    try:
        canonical = cbor2.dumps(obj, canonical=True)
    except Exception:
        raise DecodeError("CBOR value cannot be re-encoded") from None
    if canonical != bytes(data):
        raise DecodeError("CBOR is not in deterministic encoding")
    return obj


def load_map(
    data: bytes,
    keys: set[int] | frozenset[int],
    optional: frozenset[int] = frozenset(),
    *,
    max_size: int = MAX_PAYLOAD,
) -> dict[int, Any]:
    obj = loads(data, max_size=max_size)
    if not isinstance(obj, dict):
        raise DecodeError("expected a CBOR map")
    present = set(obj)
    if not keys <= present or not present <= (keys | optional):
        raise DecodeError("CBOR map has missing or unexpected fields")
    return obj


def get_bytes(m: Mapping[int, Any], key: int, length: int | None = None) -> bytes:
    v = m[key]
    if not isinstance(v, bytes):
        raise DecodeError(f"field {key} must be a byte string")
    if length is not None and len(v) != length:
        raise DecodeError(f"field {key} must be {length} bytes")
    return v


def get_int(m: Mapping[int, Any], key: int, lo: int = 0, hi: int = 2**64 - 1) -> int:
    v = m[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise DecodeError(f"field {key} must be an integer in {lo}..{hi}")
    return v


def get_str(m: Mapping[int, Any], key: int, max_len: int = 64) -> str:
    v = m[key]
    if not isinstance(v, str) or len(v) > max_len:
        raise DecodeError(f"field {key} must be a short text string")
    return v


def get_list(m: Mapping[int, Any], key: int, length: int | None = None, max_len: int = 4096) -> list[Any]:
    v = m[key]
    if not isinstance(v, list) or len(v) > max_len:
        raise DecodeError(f"field {key} must be an array")
    if length is not None and len(v) != length:
        raise DecodeError(f"field {key} must have {length} entries")
    return v


def point(group: Group, data: Any) -> Point:
    if not isinstance(data, bytes):
        raise DecodeError("group element must be a byte string")
    return group.decode(data)


def scalar(group: Group, data: Any, *, nonzero: bool = False) -> int:
    if not isinstance(data, bytes):
        raise DecodeError("scalar must be a byte string")
    return group.decode_scalar(data, nonzero=nonzero)


def reraise_as_decode(exc: Exception) -> DecodeError:
    """Wrap library errors raised while decoding untrusted data."""
    if isinstance(exc, DecodeError):
        return exc
    if isinstance(exc, GridlockError):
        return DecodeError(str(exc))
    return DecodeError(f"invalid encoding ({type(exc).__name__})")
