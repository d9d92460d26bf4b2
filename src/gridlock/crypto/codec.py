"""Strict deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for protocol payloads and key shares.

Decoding is strict in four ways, and every untrusted input of the project (wire envelopes,
control messages, protocol payloads, key shares, presignatures, enclave contract messages and
state) goes through :func:`loads`:

1. **Structure first** (:func:`check_structure`).  Before cbor2 builds any value, a small
   non-recursive scan walks the item structure (RFC 8949 §3) and refuses what the project never
   encodes: every semantic tag (major type 6, RFC 8949 §3.4), indefinite lengths (§3.2), floats
   and simple values other than ``false``/``true``/``null`` (§3.3), non-minimal heads (§4.2.1),
   map keys that are not integers or strings, lengths that run past the input, and nesting deeper
   than :data:`MAX_DEPTH`.  Tags must go *before* decoding: cbor2 decodes its built-in semantic
   tags natively (bignums, fractions, decimals, regular expressions, sets, dates…) and calls a
   ``tag_hook`` only after the tagged content was built, and some of those constructions are
   super-linear — one 1 MiB fraction of two random bignums took 15 s, long before any signature
   check, so anyone on the router could freeze a guardian or the owner's client.  With the scan
   the refusal costs one byte of reading.
2. **One byte form per value**: the input must be the canonical encoding of what it decodes to
   (re-encoded and compared, RFC 8949 §4.2.1: preferred serialisation, shortest heads, map keys
   sorted bytewise, no duplicates).
3. **Exact schemas**: :func:`load_map` requires exactly the expected keys.
4. **Typed fields**: the readers below check type (``bool`` is not an integer), length and range
   before any arithmetic sees a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import cbor2

from gridlock.crypto.group import Group, Point
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError

MAX_PAYLOAD = 1 << 20  # 1 MiB: far above any honest message of these protocols (SECURITY #25)
MAX_DEPTH: Final = 16  # nested arrays/maps; the deepest value the project encodes has depth 5
MAX_ITEMS: Final = 1 << 16  # data items in one value; the largest honest one (a 1024-holder ECDSA share) has ~15 000

# Initial bytes of the only simple values the project encodes (RFC 8949 §3.3): false, true, null.
_FALSE_TRUE_NULL: Final = frozenset({0xF4, 0xF5, 0xF6})
# Smallest argument that needs each head width (RFC 8949 §4.2.1: shortest form).
_ARG_WIDTH: Final = {24: (1, 24), 25: (2, 1 << 8), 26: (4, 1 << 16), 27: (8, 1 << 32)}


def dumps(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def dumps_checked(obj: Any) -> bytes:
    """:func:`dumps` for values built from outside input (request parameters, replies): refuse at
    once, with :class:`InvalidParameterError`, what every receiver's :func:`loads` would refuse (a
    float in a policy rule, say), instead of sending what can only be dropped."""
    data = dumps(obj)
    try:
        check_structure(data)
    except DecodeError as exc:
        raise InvalidParameterError(f"value cannot be sent: {exc}") from None
    return data


def check_structure(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Refuse, without building any value, CBOR the project never produces.

    A linear, non-recursive walk over the item heads (RFC 8949 §3): it reads each head, skips the
    content of byte and text strings, and keeps a stack of the items still expected in each open
    array or map.  It raises :class:`DecodeError` for

    * any semantic tag, major type 6 (RFC 8949 §3.4) — refused on its head byte, before the
      tagged content is even looked at (see the module docstring for why this cannot be left to
      cbor2's ``tag_hook``);
    * indefinite-length items and the "break" code (§3.2), which deterministic encoding forbids
      (§4.2.1);
    * floats and simple values other than ``false``, ``true`` and ``null`` (§3.3);
    * reserved additional-information values 28–30 (§3) and heads that are not the shortest form
      (§4.2.1);
    * map keys that are not integers, byte strings or text strings (no arrays or maps as keys);
    * a string, array or map whose declared length runs past the end of the input (so a claimed
      length of 2^64 costs nothing), and trailing bytes after the one top-level item;
    * nesting deeper than ``max_depth`` arrays/maps, so a deeply nested input is refused quickly
      instead of reaching a recursion limit;
    * more than ``max_items`` data items (map keys count), which bounds the work of this scan and of
      cbor2 on an input of many tiny items (one mebibyte of them would otherwise cost ~0.3 s).

    What it lets through is then decoded by cbor2 and must still be canonical (:func:`loads`).
    """
    n = len(data)
    pos = 0
    remaining: list[int] = []  # items still expected in each open container (a map counts 2 per entry)
    is_map: list[bool] = []
    items = 0
    while True:
        items += 1
        if items > max_items:
            raise DecodeError(f"CBOR value has more than {max_items} data items")
        major, arg, pos = _head(data, pos)
        if remaining and is_map[-1] and not remaining[-1] & 1 and major >= 4:  # a map key: 0..3 only
            raise DecodeError("CBOR map keys must be integers or strings")
        if major in {2, 3}:  # byte / text string: skip the content
            if arg > n - pos:
                raise DecodeError("truncated CBOR")
            pos += arg
        elif major in {4, 5}:  # array / map
            if len(remaining) >= max_depth:
                raise DecodeError(f"CBOR nested deeper than {max_depth} levels")
            count = arg if major == 4 else 2 * arg
            if count > n - pos:  # every item takes at least one byte
                raise DecodeError("truncated CBOR")
            if count:
                remaining.append(count)
                is_map.append(major == 5)
                continue
        # one item is complete: close every container it completes
        while remaining:
            remaining[-1] -= 1
            if remaining[-1]:
                break
            remaining.pop()
            is_map.pop()
        if not remaining:
            break
    if pos != n:
        raise DecodeError("trailing bytes after the CBOR value")


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """One item head at ``pos``: ``(major type, argument, position after the head)``.

    Refuses tags (major 6) on their first byte, every major-7 value but false/true/null (returned
    as major 8 so that it is never taken for a map key), indefinite lengths, reserved values and
    non-shortest heads (RFC 8949 §3, §3.4, §4.2.1).
    """
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    ib = data[pos]
    pos += 1
    major, ai = ib >> 5, ib & 0x1F
    if major == 6:
        raise DecodeError("CBOR semantic tags are not accepted (RFC 8949 §3.4)")
    if major == 7:
        if ib not in _FALSE_TRUE_NULL:
            raise DecodeError("CBOR floats, break codes and simple values other than false/true/null are refused")
        return 8, 0, pos
    if ai < 24:
        return major, ai, pos
    if ai < 28:
        width, smallest = _ARG_WIDTH[ai]
        if pos + width > len(data):
            raise DecodeError("truncated CBOR")
        arg = int.from_bytes(data[pos : pos + width], "big")
        if arg < smallest:
            raise DecodeError("CBOR head is not in its shortest form (RFC 8949 §4.2.1)")
        return major, arg, pos + width
    if ai == 31:
        raise DecodeError("indefinite-length CBOR is not accepted (RFC 8949 §4.2.1)")
    raise DecodeError("malformed CBOR (reserved additional information)")


def loads(data: bytes, *, max_size: int = MAX_PAYLOAD, max_items: int = MAX_ITEMS) -> Any:
    """Decode one untrusted CBOR value: size bound, :func:`check_structure`, cbor2, canonical check.

    Raises :class:`DecodeError` for anything but the deterministic encoding (RFC 8949 §4.2.1) of a
    tag-free value made of integers, byte/text strings, arrays, maps, ``false``, ``true`` and
    ``null``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("expected bytes")
    if len(data) > max_size:
        raise DecodeError(f"encoded value larger than {max_size} bytes")
    data = bytes(data)
    check_structure(data, max_items=max_items)
    try:
        obj = cbor2.loads(data, allow_indefinite=False)
    except Exception:  # cbor2 raises many types for malformed input (e.g. invalid UTF-8)
        raise DecodeError("malformed CBOR") from None
    try:
        canonical = cbor2.dumps(obj, canonical=True)
    except Exception:
        raise DecodeError("CBOR value cannot be re-encoded") from None
    if canonical != data:
        raise DecodeError("CBOR is not in deterministic encoding")
    return obj


def load_map(
    data: bytes,
    keys: set[int] | frozenset[int],
    optional: frozenset[int] = frozenset(),
    *,
    max_size: int = MAX_PAYLOAD,
    max_items: int = MAX_ITEMS,
) -> dict[int, Any]:
    obj = loads(data, max_size=max_size, max_items=max_items)
    if not isinstance(obj, dict):
        raise DecodeError("expected a CBOR map")
    present = set(obj)
    if not keys <= present or not present <= (keys | optional):
        raise DecodeError("CBOR map has missing or unexpected fields")
    return obj


def load_format(
    data: bytes,
    magic: str,
    version: int,
    what: str,
    keys: set[int] | frozenset[int],
    optional: frozenset[int] = frozenset(),
    *,
    max_size: int = MAX_PAYLOAD,
) -> dict[int, Any]:
    """A versioned stored format (key share, identity): :func:`load_map` whose field 0 is the format's
    magic text and field 1 its version; :class:`DecodeError` "not a Gridlock <what>" or
    "unsupported <what> format version N" otherwise."""
    m = load_map(data, keys, optional, max_size=max_size)
    if m[0] != magic:
        raise DecodeError(f"not a Gridlock {what}")
    found = get_int(m, 1)
    if found != version:
        raise DecodeError(f"unsupported {what} format version {found}")
    return m


def is_int(v: object) -> bool:
    """An integer and not a bool: CBOR ``true``/``false`` decode to Python bools, and
    ``isinstance(True, int)`` holds."""
    return type(v) is int


def has_int_keys(m: Mapping[Any, Any], expected: set[int]) -> bool:
    """Exactly ``expected`` as keys, all true integers (``{True: x}`` equals ``{1: x}`` in Python)."""
    return all(is_int(k) for k in m) and set(m) == expected


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
