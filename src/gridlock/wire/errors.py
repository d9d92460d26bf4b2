"""Typed errors of the wire layer (SECURITY #20, #25).

Every way an envelope can be refused has its own subclass of :class:`WireError`,
so a transport can count and log refusals by kind without parsing messages.
Malformed bytes reuse :class:`gridlock.errors.DecodeError`.  Messages name what
was wrong (a field, a sequence number, a guardian id) and never contain body
bytes, plaintext or key material.
"""

from __future__ import annotations

from gridlock.errors import GridlockError


class WireError(GridlockError):
    """An envelope that was refused, or a wire operation that could not be done."""


class EnvelopeTooLarge(WireError):
    """The envelope exceeds the size limit; it was refused before any parsing (SECURITY #25)."""


class UnknownSender(WireError):
    """The claimed sender is not in the directory of known identities (or its entry is inconsistent)."""


class ForgedEnvelope(WireError):
    """The signature does not verify under the claimed sender's key: forged or tampered."""


class MisdirectedEnvelope(WireError):
    """A point-to-point envelope addressed to somebody else."""


class ExpiredEnvelope(WireError):
    """The envelope's expiry time has passed."""


class ExpiryTooFar(WireError):
    """The envelope claims to stay valid implausibly far into the future."""


class WrongSession(WireError):
    """The envelope belongs to another session (or protocol) than the one expected."""


class ReplayedEnvelope(WireError):
    """A sequence number that was already accepted from this sender in this session."""


class ReorderedEnvelope(ReplayedEnvelope):
    """A sequence number older than one already accepted from this sender in this session
    (an old envelope replayed late, or envelopes reordered by the router)."""


class SessionClosed(ReplayedEnvelope):
    """An envelope for a session that was marked finished in the replay guard."""


class ReplayGuardFull(WireError):
    """The replay guard tracks its maximum number of live sessions; a new session is refused
    rather than forgetting the replay state of a live one (fail closed)."""


class DecryptionFailed(WireError):
    """An HPKE body that does not open with this identity's key under this envelope's header
    (tampered ciphertext, or a ciphertext moved under another header)."""
