"""The sans-IO round engine every protocol is built on.

A :class:`Party` takes messages and returns messages; it never touches a
socket, a clock or a disk (like h11, or the ZF ``frost`` crates).  The
:class:`RoundProtocol` base class does the bookkeeping every round-based
protocol needs and gets wrong when each does it alone:

* messages for other sessions, from non-participants, from itself, to someone
  else, or of the wrong kind (broadcast vs point-to-point) are rejected with
  :class:`MessageRejected` and change nothing;
* exact duplicates are ignored; a *different* message from the same sender for
  the same round is equivocation and aborts naming the sender;
* early messages are buffered until their round;
* echo-broadcast consistency (Goldwasser–Lindell): the round after a broadcast
  round carries each sender's digest of all broadcasts it saw; a mismatch aborts
  before anything derived from the broadcast is used or output (SECURITY #5);
* any :class:`ProtocolAbort` stops the party for good and produces an abort
  notice for the others, who stop too.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

from gridlock.crypto import codec
from gridlock.errors import (
    DecodeError,
    GridlockError,
    InvalidParameterError,
    MessageRejected,
    ProtocolAbort,
    SignatureError,
)
from gridlock.protocol.message import ABORT_ROUND, Message

T = TypeVar("T")
U = TypeVar("U")

_MAX_INDEX = 1 << 64  # exclusive bound on participant indices (8-byte echo fields)


class Party(ABC, Generic[T]):
    """A protocol participant as a pure state machine."""

    index: int

    @abstractmethod
    def start(self) -> list[Message]: ...

    @abstractmethod
    def receive(self, msg: Message) -> list[Message]:
        """Process one message; may raise :class:`ProtocolAbort` (with ``notice``) or
        :class:`MessageRejected`."""

    @property
    @abstractmethod
    def done(self) -> bool: ...

    @property
    @abstractmethod
    def result(self) -> T: ...

    @abstractmethod
    def waiting_for(self) -> frozenset[int]:
        """The participants whose messages the current round still lacks."""


@dataclass(frozen=True)
class RoundSpec:
    """Who sends in a round and how: ``broadcast`` to all, or point-to-point."""

    broadcast: bool
    senders: frozenset[int] | None = None  # None = every participant


class RoundProtocol(Party[T]):
    """Base class: subclasses declare ``rounds`` and implement :meth:`_step`."""

    def __init__(self, session_id: bytes, index: int, participants: Sequence[int], rounds: Sequence[RoundSpec]) -> None:
        if len(session_id) < 16:
            raise InvalidParameterError("session id must be at least 16 bytes")
        if index not in participants:
            raise InvalidParameterError("this party is not among the participants")
        if any(isinstance(p, bool) or not isinstance(p, int) or not 0 < p < _MAX_INDEX for p in participants):
            # echoes carry indices as 8-byte fields (_echo_of); larger ones used to crash with OverflowError
            raise InvalidParameterError("participant indices must be integers in 1..2^64-1")
        self.session_id = bytes(session_id)
        self.index = index
        self.participants = tuple(participants)
        self._rounds = tuple(rounds)
        self._current = 0  # the round whose messages we are collecting; 0 = not started
        self._inbox: dict[int, dict[int, Message]] = {}
        self._sent: dict[int, bytes] = {}  # our own broadcast payloads, for echoes
        self._done = False
        self._result: T | None = None
        self._aborted: ProtocolAbort | None = None

    # --- subclass interface -------------------------------------------------------------------
    @abstractmethod
    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        """Consume the payloads of round ``round_no - 1`` (empty for round 1) and return the
        payloads to send in round ``round_no``, keyed by recipient (``None`` = broadcast).
        After the last round, ``round_no == len(rounds) + 1``: call :meth:`_finish`."""

    def _finish(self, result: T) -> None:
        self._result = result
        self._done = True

    # --- Party -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done

    @property
    def aborted(self) -> ProtocolAbort | None:
        return self._aborted

    @property
    def result(self) -> T:
        if not self._done:
            raise GridlockError("the protocol has not finished")
        return self._result  # type: ignore[return-value]

    def waiting_for(self) -> frozenset[int]:
        if self._done or self._aborted or self._current == 0:
            return frozenset()
        return self._expected(self._current) - set(self._inbox.get(self._current, {}))

    def start(self) -> list[Message]:
        if self._current != 0:
            raise GridlockError("start() may be called only once")
        return self._advance({})

    def receive(self, msg: Message) -> list[Message]:
        if self._aborted is not None:
            raise self._aborted
        self._validate(msg)
        if self._done:
            return []
        if msg.round == ABORT_ROUND:
            self._on_abort_notice(msg)
        box = self._inbox.setdefault(msg.round, {})
        prior = box.get(msg.sender)
        if prior is not None:
            if prior == msg:
                return []  # a duplicate delivery
            self._abort(ProtocolAbort([msg.sender], "equivocation", f"two different round-{msg.round} messages"))
        box[msg.sender] = msg
        out: list[Message] = []
        while self._current and not self._done and self._round_complete(self._current):
            out.extend(self._advance(self._collect(self._current)))
        return out

    # --- internals ---------------------------------------------------------------------------
    def _expected(self, round_no: int) -> frozenset[int]:
        spec = self._rounds[round_no - 1]
        senders = frozenset(self.participants) if spec.senders is None else spec.senders
        if spec.broadcast:
            return senders - {self.index}
        return frozenset(s for s in senders - {self.index} if self._receives_p2p(round_no, s))

    def _receives_p2p(self, round_no: int, sender: int) -> bool:
        """Whether ``sender`` sends this party a point-to-point message in ``round_no``."""
        return True

    def _validate(self, msg: Message) -> None:
        if msg.session_id != self.session_id:
            raise MessageRejected("message belongs to another session")
        if msg.sender not in self.participants or msg.sender == self.index:
            raise MessageRejected("message sender is not another participant of this session")
        if msg.round == ABORT_ROUND:
            return
        if not 1 <= msg.round <= len(self._rounds):
            raise MessageRejected(f"round {msg.round} does not exist in this protocol")
        spec = self._rounds[msg.round - 1]
        if spec.broadcast != msg.is_broadcast:
            raise MessageRejected(f"round {msg.round} is {'broadcast' if spec.broadcast else 'point-to-point'}")
        if not spec.broadcast and msg.recipient != self.index:
            raise MessageRejected("message is addressed to another participant")
        if msg.sender not in self._expected(msg.round):
            raise MessageRejected(f"participant {msg.sender} does not send in round {msg.round}")
        if len(msg.payload) > codec.MAX_PAYLOAD:
            raise MessageRejected("message payload too large")

    def _round_complete(self, round_no: int) -> bool:
        return set(self._inbox.get(round_no, {})) >= self._expected(round_no)

    def _collect(self, round_no: int) -> dict[int, bytes]:
        msgs = self._inbox.get(round_no, {})
        if round_no >= 2 and self._rounds[round_no - 2].broadcast:
            self._check_echoes(round_no - 1, msgs)
        return {s: m.payload for s, m in msgs.items()}

    def _echo_of(self, round_no: int) -> bytes:
        """Digest of every round-``round_no`` broadcast this party saw (its own included)."""
        seen = {s: m.payload for s, m in self._inbox.get(round_no, {}).items()}
        if round_no in self._sent:
            seen[self.index] = self._sent[round_no]
        return b"".join(s.to_bytes(8, "big") + hashlib.sha256(seen[s]).digest() for s in sorted(seen))

    def _check_echoes(self, broadcast_round: int, msgs: Mapping[int, Message]) -> None:
        mine = self._echo_of(broadcast_round)
        for sender, m in msgs.items():
            if m.echo == mine:
                continue
            # Either the named broadcaster equivocated or `sender` misreports what it saw: blame both,
            # so a participant cannot frame an honest broadcaster with a fabricated echo.
            culprits = self._echo_culprits(mine, m.echo) | {sender}
            self._abort(
                ProtocolAbort(
                    culprits,
                    "echo-mismatch",
                    f"participant {sender} saw different round-{broadcast_round} broadcasts than participant "
                    f"{self.index} (the named broadcaster equivocated, or {sender} misreports)",
                )
            )

    @staticmethod
    def _echo_culprits(mine: bytes, theirs: bytes) -> set[int]:
        def parse(e: bytes) -> dict[int, bytes] | None:
            if len(e) % 40:
                return None
            return {int.from_bytes(e[i : i + 8], "big"): e[i + 8 : i + 40] for i in range(0, len(e), 40)}

        a, b = parse(mine), parse(theirs)
        if a is None or b is None or set(a) != set(b):
            return set()
        return {s for s in a if a[s] != b[s]}

    def _advance(self, inbox: Mapping[int, bytes]) -> list[Message]:
        next_round = self._current + 1
        try:
            outgoing = self._step(next_round, inbox)
        except ProtocolAbort as exc:
            self._abort(exc)
        except DecodeError as exc:  # a subclass forgot to attribute a decoding failure
            self._abort(ProtocolAbort([], "decode", str(exc)))
        except SignatureError as exc:  # our own final check failed: stop, and tell the others
            self._abort(ProtocolAbort([], "final-verification", str(exc)))
        if next_round > len(self._rounds):
            if not self._done:
                raise GridlockError("protocol ended without a result")
            return []
        self._current = next_round
        echo = self._echo_of(next_round - 1) if next_round >= 2 and self._rounds[next_round - 2].broadcast else b""
        out = []
        for recipient, payload in outgoing.items():
            if recipient is None:
                self._sent[next_round] = payload
            out.append(Message(self.session_id, self.index, recipient, next_round, payload, echo))
        return out

    def abort(self, exc: ProtocolAbort) -> NoReturn:
        """Stop from outside, e.g. when a participant was banned by another session; the raised
        exception carries the notice for the others, as for an abort found inside."""
        if self._aborted is not None:
            raise self._aborted
        self._abort(exc)

    def _abort(self, exc: ProtocolAbort) -> NoReturn:
        """Stop for good, and attach a notice telling the others why."""
        self._aborted = exc
        notice = codec.dumps({0: sorted(exc.culprits), 1: exc.check, 2: exc.reason[:512]})
        exc.notice = Message(self.session_id, self.index, None, ABORT_ROUND, notice)
        raise exc

    def _on_abort_notice(self, msg: Message) -> NoReturn:
        try:
            m = codec.load_map(msg.payload, frozenset({0, 1, 2}))
            culprits = [c for c in codec.get_list(m, 0) if isinstance(c, int) and c in self.participants]
            check = codec.get_str(m, 1)
        except DecodeError:
            culprits, check = [], "unknown"
        # A notice is a claim, not evidence: blame nobody on its word (a malicious party could
        # otherwise make everyone name an honest one).  The claim is kept for the audit trail.
        exc = ProtocolAbort(
            [], "peer-abort", f"participant {msg.sender} aborted ({check}), blaming {sorted(culprits) or 'nobody'}"
        )
        exc.reported_by = msg.sender
        exc.claimed_culprits = frozenset(culprits)
        self._aborted = exc
        raise exc

    @staticmethod
    def decode(sender: int, fn: Callable[[], U]) -> U:
        """Run a payload decoder; a failure is the sender's fault."""
        try:
            return fn()
        except DecodeError as exc:
            raise ProtocolAbort([sender], "decode", f"malformed message from {sender}: {exc}") from None
