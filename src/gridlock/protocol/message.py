"""The unit every protocol exchanges: one round's payload from one sender."""

from __future__ import annotations

from dataclasses import dataclass, field

ABORT_ROUND = 0  # round number of abort notices; protocol rounds count from 1


@dataclass(frozen=True)
class Message:
    """A protocol message as the round engine sees it.

    ``recipient`` is ``None`` for a broadcast.  ``echo`` carries, on the round
    after a broadcast round, the sender's digest of every broadcast it received
    (echo-broadcast consistency); it is empty otherwise.  Authentication and
    confidentiality are the wire layer's job (signed, HPKE-encrypted envelopes).

    ``evidence`` is what the wire layer attaches on receipt: a transferable proof that
    ``sender`` sent exactly this message (the signed broadcast envelope, or the sender's
    signature over the plaintext of a point-to-point message), which a party puts into its
    complaint so that every other party can re-run the failed check itself
    (:meth:`gridlock.protocol.party.RoundProtocol.set_evidence_verifier`).  It is empty on
    unsigned in-memory runs and is not part of a message's identity (``==`` ignores it).
    """

    session_id: bytes
    sender: int
    recipient: int | None
    round: int
    payload: bytes
    echo: bytes = b""
    evidence: bytes = field(default=b"", compare=False)

    @property
    def is_broadcast(self) -> bool:
        return self.recipient is None

    def __repr__(self) -> str:
        to = "all" if self.recipient is None else str(self.recipient)
        return f"Message(round={self.round}, {self.sender}->{to}, {len(self.payload)} bytes)"
