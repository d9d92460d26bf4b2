"""Bech32 addresses of the emulated chain (prefix ``secret``), derived as Secret Network derives them."""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from bech32m.codecs import Encoding, bech32_decode, convertbits  # type: ignore[import-untyped,unused-ignore]

from gridlock.chains.cosmos import bech32_address
from gridlock.crypto.hashing import hash160
from gridlock.enclave.errors import InvalidAddress
from gridlock.errors import InvalidParameterError

__all__ = ["PREFIX", "canonical", "check_sender", "contract_address", "human", "module_address"]

PREFIX: Final = "secret"


def human(canonical_bytes: bytes, prefix: str = PREFIX) -> str:
    """``secret1…``: bech32 (BIP173, not bech32m) of the canonical address bytes, as every Cosmos
    account address (:func:`gridlock.chains.cosmos.bech32_address`)."""
    try:
        return bech32_address(prefix, bytes(canonical_bytes))
    except InvalidParameterError as exc:
        raise InvalidAddress(str(exc)) from None


def canonical(address: object, prefix: str = PREFIX) -> bytes:
    """The canonical bytes of a bech32 address (20-byte accounts and contracts, 32-byte module
    accounts); :class:`InvalidAddress` for anything else."""
    if not isinstance(address, str) or not 0 < len(address) <= 90:
        raise InvalidAddress(f"an address is a bech32 string with prefix {prefix!r}")
    try:
        hrp, data, spec = bech32_decode(address)
    except ValueError:  # bech32m.codecs.DecodeError
        raise InvalidAddress(f"not a bech32 address with prefix {prefix!r}") from None
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


MAX_SENDER_CHARS: Final = 128


def check_sender(sender: object) -> str:
    """The sender of an emulated transaction.

    On the chain it is a bech32 account address that signed the transaction.  The emulation has
    no signatures, so it accepts any printable string of 1 to 128 characters as the sender's
    identity (use a real ``secret1…`` address to stay faithful); the contract compares senders
    as strings.
    """
    if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS or not sender.isprintable():
        raise InvalidAddress(f"a sender is a printable string of 1 to {MAX_SENDER_CHARS} characters")
    return sender
