"""Typed errors shared by every layer.

Every failure a caller can provoke with bad input maps to a subclass of
:class:`GridlockError`, so callers catch one family and never see a bare
``ValueError`` from deep inside a library.  Messages never contain secret
material: they name what was wrong, not the value that was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class GridlockError(Exception):
    """Base class of every error Gridlock raises on purpose."""


class DecodeError(GridlockError):
    """Bytes that do not decode to a valid value of the expected type."""


class InvalidPointError(DecodeError):
    """A group element that is malformed, off-curve, non-canonical, small-order or the identity."""


class InvalidScalarError(DecodeError):
    """A scalar that is out of range, non-canonical, or zero where zero is not allowed."""


class InvalidParameterError(GridlockError):
    """Bad arguments: unknown scheme, bad threshold, bad participant indices, too few shares."""


class NonceReuseError(GridlockError):
    """A single-use nonce or presignature was asked for a second time (SECURITY #9)."""


class SignatureError(GridlockError):
    """A produced signature failed its final verification (never released)."""


class MessageRejected(GridlockError):
    """A message that does not belong to this session or round (wrong session id, unknown
    sender, wrong recipient or round kind).  It is dropped; the session's state is unchanged."""


class ProtocolStalled(GridlockError):
    """A run could not complete because some participants never answered."""

    def __init__(self, missing: Iterable[int | str], reason: str = "no answer") -> None:
        self.missing: frozenset[int | str] = frozenset(missing)
        who = ", ".join(str(c) for c in sorted(self.missing)) or "nobody"
        super().__init__(f"protocol stalled ({reason}); waiting for: {who}")


class ProtocolAbort(GridlockError):
    """A protocol run stopped because somebody misbehaved.

    ``culprits`` names the participants this party holds evidence against: a message that
    participant sent over an authenticated channel (or a complaint it proved) failed a check on
    public data.  ``suspects`` names participants of whom only one or some misbehaved, when the
    failed check cannot tell which (e.g. two parties that disagree about what a third broadcast):
    nobody is blamed on a suspicion.  Both may be empty (a dropped message, a coordinator that gave
    the parties different inputs).  ``check`` is a short stable identifier of the check that
    failed, for tests and audit logs; ``reason`` is a human sentence.
    """

    def __init__(self, culprits: Iterable[int], check: str, reason: str, *, suspects: Iterable[int] = ()) -> None:
        self.culprits: frozenset[int] = frozenset(culprits)
        self.suspects: frozenset[int] = frozenset(suspects) - self.culprits
        self.check = check
        self.reason = reason
        self.notice: Any = None  # the abort notice a party sends the others (a protocol Message)
        self.reported_by: int | None = None  # set when this abort was relayed from a peer
        self.claimed_culprits: frozenset[int] = frozenset()  # what that peer's notice claimed
        self.members: Mapping[int, str] = {}  # index -> guardian id, filled in by the guardian that ran it
        super().__init__(f"protocol aborted ({check}): {reason} [{self.blame_text()}]")

    def blame_text(self, names: Mapping[int, str] | None = None) -> str:
        """``culprits: …`` when there is evidence, else ``suspects: …``, else ``nobody blamed``."""

        def show(ids: frozenset[int]) -> str:
            return ", ".join((names or {}).get(i, str(i)) for i in sorted(ids))

        if self.culprits:
            return f"culprits: {show(self.culprits)}"
        if self.suspects:
            return f"suspects: {show(self.suspects)}"
        return "nobody blamed"


@contextmanager
def blame_malformed(sender: int, what: str, *, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Decode what ``sender`` sent inside this block: a :class:`DecodeError` (or one of ``also``)
    is the sender's fault, ``ProtocolAbort([sender], "decode", "malformed <what>: …")``."""
    caught: tuple[type[Exception], ...] = (DecodeError, *also)
    try:
        yield
    except caught as exc:
        raise ProtocolAbort([sender], "decode", f"malformed {what}: {exc}") from None
