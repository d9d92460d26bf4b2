"""The sans-IO round engine and the round-based protocols built on it."""

from gridlock.errors import ProtocolAbort
from gridlock.protocol.message import Message
from gridlock.protocol.party import Party, RoundProtocol, RoundSpec
from gridlock.protocol.runner import InMemoryNetwork, RunOutcome, run

__all__ = ["InMemoryNetwork", "Message", "Party", "ProtocolAbort", "RoundProtocol", "RoundSpec", "RunOutcome", "run"]
