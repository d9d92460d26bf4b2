"""Injective, domain-separated encoding of every hash input (DESIGN §3, SECURITY #8).

Every field is prefixed with its length as a fixed 8-byte big-endian integer and
the whole is prefixed with a domain label, so two different tuples of byte
strings can never encode to the same bytes (the TSSHOCK "α-shuffle" class of
ambiguity, where ``a‖bc`` and ``ab‖c`` collide, cannot arise).  Integers are
fields of their own (:func:`int_field`, minimal big-endian), never bare digits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from gridlock.errors import InvalidParameterError

_LEN = 8


def encode(label: bytes, *fields: bytes) -> bytes:
    """``len(label)‖label‖len(f1)‖f1‖…`` with 8-byte big-endian lengths; injective in (label, fields)."""
    parts = [len(label).to_bytes(_LEN, "big"), label, len(fields).to_bytes(_LEN, "big")]
    for f in fields:
        parts.append(len(f).to_bytes(_LEN, "big"))
        parts.append(f)
    return b"".join(parts)


def int_field(n: int) -> bytes:
    """A non-negative integer of any size as a minimal big-endian byte string (0 → b"")."""
    if n < 0:
        raise InvalidParameterError("a transcript integer is not negative")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def seq(items: Iterable[bytes]) -> bytes:
    """A list of byte strings as one field (itself injectively encoded)."""
    return encode(b"seq", *items)


def digest(label: bytes, *fields: bytes) -> bytes:
    """SHA-256 of :func:`encode` — the project's generic 32-byte transcript hash."""
    return hashlib.sha256(encode(label, *fields)).digest()
