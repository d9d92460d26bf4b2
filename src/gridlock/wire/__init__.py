"""The wire layer: identities, signed and HPKE-encrypted envelopes, replay protection (DESIGN §2).

Pure code: no I/O and no clocks (callers pass ``now``).  See :mod:`gridlock.wire.envelope`
for the format and the order of checks, :mod:`gridlock.wire.replay` for the memory bounds.
"""

from gridlock.wire.envelope import (
    MAX_ENVELOPE,
    MAX_TTL,
    Envelope,
    decode_envelope,
    is_equivocation,
    make_directory,
    open_envelope,
    seal,
    verify_envelope,
)
from gridlock.wire.errors import (
    DecryptionFailed,
    EnvelopeTooLarge,
    ExpiredEnvelope,
    ExpiryTooFar,
    ForgedEnvelope,
    MisdirectedEnvelope,
    ReorderedEnvelope,
    ReplayedEnvelope,
    ReplayGuardFull,
    SessionClosed,
    UnknownSender,
    WireError,
    WrongSession,
)
from gridlock.wire.identity import DEFAULT_KEM, KEM_HYBRID, KEM_X25519, Identity, PublicIdentity, is_guardian_id
from gridlock.wire.messages import envelope_to_message, message_to_envelope
from gridlock.wire.replay import ReplayGuard

__all__ = [
    "DEFAULT_KEM",
    "KEM_HYBRID",
    "KEM_X25519",
    "MAX_ENVELOPE",
    "MAX_TTL",
    "DecryptionFailed",
    "Envelope",
    "EnvelopeTooLarge",
    "ExpiredEnvelope",
    "ExpiryTooFar",
    "ForgedEnvelope",
    "Identity",
    "MisdirectedEnvelope",
    "PublicIdentity",
    "ReorderedEnvelope",
    "ReplayGuard",
    "ReplayGuardFull",
    "ReplayedEnvelope",
    "SessionClosed",
    "UnknownSender",
    "WireError",
    "WrongSession",
    "decode_envelope",
    "envelope_to_message",
    "is_equivocation",
    "is_guardian_id",
    "make_directory",
    "message_to_envelope",
    "open_envelope",
    "seal",
    "verify_envelope",
]
