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
* echo-broadcast consistency (Goldwasser–Lindell; :mod:`gridlock.protocol.echo`):
  the round after a broadcast round carries each sender's digest of all broadcasts
  it saw; a mismatch aborts before anything derived from the broadcast is used or
  output (SECURITY #5);
* any :class:`ProtocolAbort` stops the party for good and produces an abort
  notice for the others, who stop too.

**Blame only with evidence** (SECURITY #28).  An abort notice is a *complaint*: it names the
accused and carries the evidence of their messages (:attr:`Message.evidence`, which the wire layer
attaches: the signed broadcast envelope, or the sender's inner signature over a point-to-point
plaintext).  A party that receives a complaint verifies the evidence with the callback its session
gave it (:meth:`RoundProtocol.set_evidence_verifier`) and re-runs the public check itself
(:meth:`RoundProtocol._audit`: e.g. the Feldman check of a share against the dealer's own signed
commitment) — the complaint step of Pedersen's DKG (EUROCRYPT 1991) as hardened by Gennaro,
Jarecki, Krawczyk and Rabin (J. Cryptology 2007), made non-interactive because every message is
signed.  The accused is a culprit for every honest party when the check fails on the proven
data; a complaint whose evidence does not hold makes the *accuser* the culprit.  Where no
evidence can exist — a notice on an unsigned in-memory run, a check this party cannot re-run, an
echo that disagrees about a third party's broadcast — the parties involved are only *suspects*.
The party that finds a fault on its own authenticated channel names the culprit itself.  So, as
long as channels are authenticated (signed envelopes), no honest party is ever named a culprit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, NoReturn, TypeVar

from gridlock.crypto import codec
from gridlock.errors import (
    DecodeError,
    GridlockError,
    InvalidParameterError,
    MessageRejected,
    ProtocolAbort,
    SignatureError,
    blame_malformed,
)
from gridlock.protocol import echo
from gridlock.protocol.message import ABORT_ROUND, Message

T = TypeVar("T")
U = TypeVar("U")

_MAX_INDEX = 1 << 64  # exclusive bound on participant indices (8-byte echo fields)
_MAX_EVIDENCE = codec.MAX_PAYLOAD // 2  # evidence beyond this is left out of a notice (it must still fit)

EvidenceVerifier = Callable[[bytes], Message]
"""Turns :attr:`Message.evidence` into the Message it proves its sender sent, or raises
(:class:`gridlock.wire.messages.EvidenceVerifier` is the wire layer's)."""


class CannotJudge(Exception):
    """Raised by :meth:`RoundProtocol._audit` when this party lacks what the check needs
    (e.g. it has not seen that round yet): the parties involved stay suspects."""


def inputs_mismatch(differ: Iterable[int], what: str = "parameters") -> ProtocolAbort:
    """Participants whose round-1 message shows they were given other inputs than this party.

    The coordinator may have handed out different inputs, or they lie about theirs: nobody can
    tell, so nobody is blamed (SECURITY #28).  Protocols compare inputs before any check that can
    blame, so such a run never names an honest participant.
    """
    return ProtocolAbort(
        [],
        "inputs-mismatch",
        f"participants {sorted(differ)} were given other {what} for this session (by the coordinator, or they lie)",
    )


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
    """Base class: subclasses declare ``rounds`` and implement :meth:`_step`.

    A subclass that can re-run its checks on proven messages lists their names in ``AUDITED``
    and implements :meth:`_audit`; complaints about other checks leave suspects only.
    """

    AUDITED: ClassVar[frozenset[str]] = frozenset()

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
        self._verify: EvidenceVerifier | None = None

    def set_evidence_verifier(self, verify: EvidenceVerifier | None) -> None:
        """Give this party the means to check evidence in complaints (the session that runs it
        over signed envelopes does).  Without one, a complaint only makes suspects."""
        self._verify = verify

    # --- subclass interface -------------------------------------------------------------------
    @abstractmethod
    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        """Consume the payloads of round ``round_no - 1`` (empty for round 1) and return the
        payloads to send in round ``round_no``, keyed by recipient (``None`` = broadcast).
        After the last round, ``round_no == len(rounds) + 1``: call :meth:`_finish`."""

    def _finish(self, result: T) -> None:
        self._result = result
        self._done = True

    def _audit(self, accused: int, proofs: Mapping[int, Message]) -> None:
        """Re-run every public check this party makes on ``accused``'s messages, on the proven
        ``proofs`` (by round; point-to-point ones addressed to whoever complained).  Raise the
        :class:`ProtocolAbort` naming ``accused`` when one fails, :class:`CannotJudge` when this
        party lacks the data; return normally when every check passes (the complaint is false).
        Must not change the party's state."""
        raise CannotJudge

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
            self._abort(
                ProtocolAbort([msg.sender], "equivocation", f"two different round-{msg.round} messages"),
                evidence=[prior.evidence, msg.evidence],
            )
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
        return echo.digest(seen)

    def _check_echoes(self, broadcast_round: int, msgs: Mapping[int, Message]) -> None:
        mine = self._echo_of(broadcast_round)
        culprits: set[int] = set()
        pairs: set[tuple[int, int]] = set()
        evidence: list[bytes] = []
        for sender, m in sorted(msgs.items()):
            if m.echo == mine:
                continue
            proven, suspected, disputed = echo.compare(
                mine, m.echo, echoer=sender, me=self.index, signed=bool(m.evidence)
            )
            culprits |= proven
            pairs |= suspected
            evidence.append(m.evidence)
            for k in disputed:
                if k != self.index and k in self._inbox.get(broadcast_round, {}):
                    evidence.append(self._inbox[broadcast_round][k].evidence)
        suspects = echo.unexplained(pairs, culprits) - {self.index}  # it knows its own broadcast
        if culprits or suspects:
            self._abort(
                ProtocolAbort(
                    culprits,
                    "echo-mismatch",
                    f"participants saw different round-{broadcast_round} broadcasts than participant {self.index}",
                    suspects=suspects,
                ),
                evidence=evidence,
            )

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
        my_echo = self._echo_of(next_round - 1) if next_round >= 2 and self._rounds[next_round - 2].broadcast else b""
        out = []
        for recipient, payload in outgoing.items():
            if recipient is None:
                self._sent[next_round] = payload
            out.append(Message(self.session_id, self.index, recipient, next_round, payload, my_echo))
        return out

    def abort(self, exc: ProtocolAbort) -> NoReturn:
        """Stop from outside, e.g. when a participant was banned by another session; the raised
        exception carries the notice for the others, as for an abort found inside."""
        if self._aborted is not None:
            raise self._aborted
        self._abort(exc)

    def _abort(self, exc: ProtocolAbort, evidence: Iterable[bytes] | None = None) -> NoReturn:
        """Stop for good, and attach a notice telling the others why: the complaint, with the
        evidence of the accused's messages (by default every message of theirs this party holds,
        for the checks it can have re-run)."""
        self._aborted = exc
        if evidence is None:
            evidence = []
            if exc.check in self.AUDITED:
                for box in self._inbox.values():
                    evidence.extend(m.evidence for s, m in sorted(box.items()) if s in exc.culprits)
        blobs = [e for e in evidence if e]
        if sum(len(e) for e in blobs) > _MAX_EVIDENCE:
            blobs = []  # too large to send: the others will only suspect
        notice = codec.dumps(
            {
                0: sorted(exc.culprits),
                1: exc.check,
                2: exc.reason[:512],
                3: sorted(exc.suspects),
                4: blobs,
            }
        )
        exc.notice = Message(self.session_id, self.index, None, ABORT_ROUND, notice)
        raise exc

    def _on_abort_notice(self, msg: Message) -> NoReturn:
        blobs: list[bytes] = []
        try:
            m = codec.load_map(msg.payload, frozenset({0, 1, 2}), frozenset({3, 4}))
            culprits = {c for c in codec.get_list(m, 0) if isinstance(c, int) and c in self.participants}
            check = codec.get_str(m, 1)
            claimed_suspects = {
                c for c in (codec.get_list(m, 3) if 3 in m else []) if isinstance(c, int) and c in self.participants
            }
            if 4 in m:
                blobs = [b for b in codec.get_list(m, 4) if isinstance(b, bytes)]
        except DecodeError:
            culprits, check, claimed_suspects = set(), "unknown", set()
        # A notice is a claim: it makes culprits only through evidence this party checked itself.
        proven, suspects, note = self._judge(msg.sender, check, culprits, claimed_suspects, blobs)
        exc = ProtocolAbort(
            proven,
            "peer-abort",
            f"participant {msg.sender} aborted ({check}), blaming {sorted(culprits) or 'nobody'}; {note}",
            suspects=suspects - {self.index},
        )
        exc.reported_by = msg.sender
        exc.claimed_culprits = frozenset(culprits)
        self._aborted = exc
        raise exc

    # --- judging complaints -----------------------------------------------------------------------
    def _judge(
        self, accuser: int, check: str, claimed: set[int], claimed_suspects: set[int], blobs: Sequence[bytes]
    ) -> tuple[set[int], set[int], str]:
        """(culprits, suspects, note) for a complaint from ``accuser``."""
        involved = claimed | claimed_suspects
        if not involved:
            return set(), set(), "no participant is accused"
        if self._verify is None or not blobs:
            return set(), {accuser} | involved, "no evidence: the accuser and the accused are suspects"
        try:
            proofs = [self._verify(b) for b in blobs]
        except (GridlockError, ValueError, TypeError):
            return {accuser}, set(), "its evidence does not verify"
        if not all(self._plausible(p) for p in proofs):
            return {accuser}, set(), "its evidence is not of this session"
        culprits = self._proven_equivocators(proofs)
        suspects: set[int] = set()
        if check == "echo-mismatch":
            found, suspects, judged = self._judge_echoes(proofs)
            culprits |= found
            if judged and not culprits and not suspects:
                culprits.add(accuser)  # the echo agrees with what this party saw: a false complaint
            elif not judged and not culprits:
                suspects |= {accuser} | involved
        elif check == "equivocation":
            if not claimed <= culprits:
                culprits.add(accuser)
        elif check in self.AUDITED:
            for c in sorted(claimed - culprits):
                rounds = {p.round: p for p in proofs if p.sender == c}
                try:
                    self._audit(c, rounds)
                except ProtocolAbort as fault:
                    if c in fault.culprits:
                        culprits.add(c)
                    else:
                        suspects |= {accuser, c}
                except DecodeError:
                    culprits.add(c)
                except CannotJudge:
                    suspects |= {accuser, c}
                else:
                    culprits.add(accuser)  # every check passes on the proven messages
            if not claimed:  # the accuser itself only suspected: so does this party, the accuser too
                suspects |= {accuser} | claimed_suspects
        else:
            suspects |= {accuser} | involved
        note = "the evidence was checked" if culprits else "the evidence could not settle it"
        return culprits, suspects, note

    def _plausible(self, p: Message) -> bool:
        if p.session_id != self.session_id or p.sender not in self.participants:
            return False
        if not 1 <= p.round <= len(self._rounds):
            return False
        return p.recipient is None or p.recipient in self.participants

    def _proven_equivocators(self, proofs: Sequence[Message]) -> set[int]:
        """Senders with two different signed messages for one round and recipient among the proofs,
        or a signed broadcast that differs from the one this party received (it holds both)."""
        found: set[int] = set()
        first: dict[tuple[int, int, int | None], Message] = {}
        for p in proofs:
            if first.setdefault((p.sender, p.round, p.recipient), p) != p:
                found.add(p.sender)
            if p.recipient is None:
                own = self._inbox.get(p.round, {}).get(p.sender)
                if own is not None and own != p:
                    found.add(p.sender)
        return found

    def _judge_echoes(self, proofs: Sequence[Message]) -> tuple[set[int], set[int], bool]:
        """Compare every proven echo with this party's own view; (culprits, suspects, judged)."""
        culprits: set[int] = set()
        pairs: set[tuple[int, int]] = set()
        judged = False
        for p in proofs:
            r = p.round - 1
            if not p.echo or r < 1 or not self._rounds[r - 1].broadcast:
                continue
            if self._current <= r and not self._done:
                continue  # this party has not seen all of that round yet
            judged = True
            if p.echo == self._echo_of(r):
                continue
            found, suspected, _ = echo.compare(
                self._echo_of(r), p.echo, echoer=p.sender, me=self.index, signed=bool(p.evidence)
            )
            culprits |= found
            pairs |= suspected
        return culprits, echo.unexplained(pairs, culprits), judged

    @staticmethod
    def decode(sender: int, fn: Callable[[], U]) -> U:
        """Run a payload decoder; a failure is the sender's fault (:func:`~gridlock.errors.blame_malformed`)."""
        with blame_malformed(sender, f"message from {sender}"):
            return fn()
