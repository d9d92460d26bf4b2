"""Replay and reorder protection for envelopes (SECURITY #20), with bounded memory (SECURITY #25).

Every sender numbers its envelopes per session (``seq`` = 0, 1, 2, …; gaps are
allowed, e.g. when an envelope was addressed to somebody else).  The guard keeps,
per (session, sender), the highest sequence number it accepted and accepts only
a strictly larger one: a replayed envelope (same ``seq``) and an older one that
arrives after a newer one (reordered, or replayed late) are both refused.

Memory is bounded: at most ``max_sessions`` sessions, each with at most
``max_senders`` senders (one integer per sender).  When a new session arrives
and the guard is full it makes room, in this order:

1. it forgets every session whose accepted envelopes have *all* expired
   (``now`` is past the largest ``expires`` seen in it).  That is safe: a replay
   of any of them is refused by the expiry check before it reaches the guard;
2. otherwise it forgets the least recently used session that was marked
   finished with :meth:`ReplayGuard.finish` (the session layer has closed it, so
   a late envelope would be dropped there anyway);
3. otherwise it refuses the new session (:class:`ReplayGuardFull`) rather than
   forget the replay state of a live session: fail closed.  Because
   ``open_envelope`` caps ``expires`` at ``now + max_ttl`` (one day by default),
   a guard filled by a flood of sessions drains by itself within ``max_ttl``.

A finished session is kept as a tombstone (until evicted as above) and every
further envelope for it is refused with :class:`SessionClosed`.

The guard is plain in-memory state with no clock: callers pass ``now`` (unix
seconds), and serialise calls (one guard per node, used from one task).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from gridlock.errors import InvalidParameterError
from gridlock.wire.errors import ReorderedEnvelope, ReplayedEnvelope, ReplayGuardFull, SessionClosed

DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_MAX_SENDERS = 1024


@dataclass
class _Session:
    last_seq: dict[str, int] = field(default_factory=dict)
    max_expires: int = 0
    finished: bool = False


class ReplayGuard:
    """Accept only strictly increasing sequence numbers per (session, sender); see the module docstring."""

    def __init__(self, *, max_sessions: int = DEFAULT_MAX_SESSIONS, max_senders: int = DEFAULT_MAX_SENDERS) -> None:
        for v in (max_sessions, max_senders):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError("replay guard limits must be positive integers")
        self.max_sessions = max_sessions
        self.max_senders = max_senders
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def __repr__(self) -> str:
        return f"ReplayGuard(sessions={len(self._sessions)}/{self.max_sessions})"

    def last_seq(self, session_id: bytes, sender: str) -> int | None:
        """The highest sequence number accepted from ``sender`` in the session, if any."""
        s = self._sessions.get(session_id)
        return None if s is None else s.last_seq.get(sender)

    def check(self, session_id: bytes, sender: str, seq: int) -> None:
        """Raise if ``seq`` would be refused now; records nothing."""
        s = self._sessions.get(session_id)
        if s is None:
            return
        if s.finished:
            raise SessionClosed("envelope for a session that has finished")
        last = s.last_seq.get(sender)
        if last is not None:
            if seq == last:
                raise ReplayedEnvelope(f"sequence number {seq} from {sender} was already accepted in this session")
            if seq < last:
                raise ReorderedEnvelope(
                    f"sequence number {seq} from {sender} is older than the last accepted ({last}): "
                    "replayed or reordered"
                )

    def accept(self, session_id: bytes, sender: str, seq: int, *, expires: int, now: int) -> None:
        """Record ``seq`` from ``sender`` in the session, or raise without recording anything.

        Raises :class:`ReplayedEnvelope`, :class:`ReorderedEnvelope`, :class:`SessionClosed`
        or :class:`ReplayGuardFull`.
        """
        self.check(session_id, sender, seq)
        s = self._sessions.get(session_id)
        if s is None:
            if len(self._sessions) >= self.max_sessions:
                self._make_room(now)
            s = self._sessions[session_id] = _Session()
        else:
            self._sessions.move_to_end(session_id)
        if sender not in s.last_seq and len(s.last_seq) >= self.max_senders:
            raise ReplayGuardFull(f"more than {self.max_senders} senders in one session")
        s.last_seq[sender] = seq
        s.max_expires = max(s.max_expires, expires)

    def finish(self, session_id: bytes) -> None:
        """Mark a session finished: later envelopes for it are refused, and it may be evicted first."""
        s = self._sessions.get(session_id)
        if s is not None:
            s.finished = True

    def purge(self, now: int) -> int:
        """Forget every session whose accepted envelopes have all expired; returns how many."""
        dead = [sid for sid, s in self._sessions.items() if s.max_expires < now]
        for sid in dead:
            del self._sessions[sid]
        return len(dead)

    def _make_room(self, now: int) -> None:
        if self.purge(now):
            return
        for sid, s in self._sessions.items():  # least recently used first
            if s.finished:
                del self._sessions[sid]
                return
        raise ReplayGuardFull(f"replay guard is tracking {self.max_sessions} live sessions; new session refused")
