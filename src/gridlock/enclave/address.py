"""Bech32 addresses of the emulated chain (prefix ``secret``), derived as Secret Network derives them."""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Final

from bech32m.codecs import (  # type: ignore[import-untyped,unused-ignore]
    Encoding,
    bech32_decode,
    bech32_encode,
    convertbits,
)

from gridlock.crypto.hashing import hash160
from gridlock.enclave.errors import InvalidAddress

__all__ = ["PREFIX", "canonical", "contract_address", "human", "module_address"]

PREFIX: Final = "secret"


def human(canonical_bytes: bytes, prefix: str = PREFIX) -> str:
    """``secret1…``: bech32 (BIP173, not bech32m) of the canonical address bytes."""
    words: Any = convertbits(list(canonical_bytes), 8, 5)
    if words is None:
        raise InvalidAddress("cannot encode this address")
    return str(bech32_encode(prefix, words, Encoding.BECH32))


def canonical(address: object, prefix: str = PREFIX) -> bytes:
    """The canonical bytes of a bech32 address (20-byte accounts and contracts, 32-byte module
    accounts); :class:`InvalidAddress` for anything else."""
    if not isinstance(address, str) or not 0 < len(address) <= 90:
        raise InvalidAddress(f"an address is a bech32 string with prefix {prefix!r}")
    hrp, data, spec = bech32_decode(address)
    if hrp != prefix or data is None or spec != Encoding.BECH32:
        raise InvalidAddress(f"not a bech32 address with prefix {prefix!r}")
    raw = convertbits(data, 5, 8, False)
    if raw is None or len(raw) not in (20, 32):
        raise InvalidAddress("an address holds 20 or 32 bytes")
    return bytes(raw)


def contract_address(code_id: int, instance_id: int, creator: bytes) -> bytes:
    """``x/compute`` ``contractAddress``: ``RIPEMD160(SHA256(u64_be(code_id << 32 + instance_id) ‖ creator))``."""
    contract_id = ((code_id << 32) + instance_id) & 0xFFFF_FFFF_FFFF_FFFF
    return hash160(struct.pack(">Q", contract_id) + bytes(creator))


def module_address(name: str) -> bytes:
    """A module account, as the SDK's ``authtypes.NewModuleAddress``: ``sha256(name)[:20]``."""
    return hashlib.sha256(name.encode()).digest()[:20]
