"""Solana off-chain messages: what a wallet signs to prove control of an account without a transaction.

The serialisation is the one of the Solana SDK's ``offchain_message`` (version 0), which wallets and
the Ledger Solana app sign: the signing domain ``b"\\xffsolana offchain"`` (16 bytes; ``0xff`` can
never begin a serialised transaction message, so the signature is never a valid transaction
signature), the header version ``0``, the message format, the message length (u16 little endian)
and the message.  Formats: ``0`` restricted ASCII (printable 0x20-0x7e, at most 1212 bytes so a
Ledger can show it), ``1`` limited UTF-8 (at most 1212 bytes), ``2`` extended UTF-8 (longer, up to
65515 bytes).  Non-text bytes are not a message a person can read and are refused.  The Ed25519
signature (RFC 8032) is over the whole serialisation.
"""

from __future__ import annotations

from gridlock.errors import InvalidParameterError

__all__ = ["MAX_LEDGER", "MAX_LEN", "SIGNING_DOMAIN", "message_format", "serialize"]

SIGNING_DOMAIN = b"\xffsolana offchain"
VERSION = 0
HEADER = len(SIGNING_DOMAIN) + 1  # domain and version
V0_HEADER = 3  # format (1) and length (2)
MAX_LEN = 0xFFFF - HEADER - V0_HEADER  # 65515
MAX_LEDGER = 1232 - HEADER - V0_HEADER  # a packet's data size less the headers: 1212
RESTRICTED_ASCII, LIMITED_UTF8, EXTENDED_UTF8 = 0, 1, 2


def message_format(message: bytes) -> int:
    """The format version 0 assigns to ``message`` (an error if it is none of them)."""
    if not message:
        raise InvalidParameterError("an off-chain message is not empty")
    try:
        message.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterError("an off-chain message is UTF-8 text") from None
    if len(message) <= MAX_LEDGER:
        return RESTRICTED_ASCII if all(0x20 <= b <= 0x7E for b in message) else LIMITED_UTF8
    if len(message) <= MAX_LEN:
        return EXTENDED_UTF8
    raise InvalidParameterError(f"an off-chain message is at most {MAX_LEN} bytes")


def serialize(message: bytes) -> bytes:
    """The bytes an account's key signs for ``message``."""
    fmt = message_format(message)
    return SIGNING_DOMAIN + bytes([VERSION, fmt]) + len(message).to_bytes(2, "little") + message
