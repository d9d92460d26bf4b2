"""The unit every protocol exchanges: one round's payload from one sender."""

from __future__ import annotations

from dataclasses import dataclass

ABORT_ROUND = 0  # round number of abort notices; protocol rounds count from 1


@dataclass(frozen=True)
class Message:
    """A protocol message as the round engine sees it.

    ``recipient`` is ``None`` for a broadcast.  ``echo`` carries, on the round
    after a broadcast round, the sender's digest of every broadcast it received
    (echo-broadcast consistency); it is empty otherwise.  Authentication and
    confidentiality are the wire layer's job (signed, HPKE-encrypted envelopes).
    """

    session_id: bytes
    sender: int
    recipient: int | None
    round: int
    payload: bytes
    echo: bytes = b""

    @property
    def is_broadcast(self) -> bool:
        return self.recipient is None

    def __repr__(self) -> str:
        to = "all" if self.recipient is None else str(self.recipient)
        return f"Message(round={self.round}, {self.sender}->{to}, {len(self.payload)} bytes)"
