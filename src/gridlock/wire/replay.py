"""Replay and reorder protection for envelopes (SECURITY #20), with bounded memory (SECURITY #25).

Every sender numbers its envelopes per session (``seq`` = 0, 1, 2, …; gaps are
allowed, e.g. when an envelope was addressed to somebody else).  The guard keeps,
per (session, sender), the highest sequence number it accepted and accepts only
a strictly larger one: a replayed envelope (same ``seq``) and an older one that
arrives after a newer one (reordered, or replayed late) are both refused.

Memory is bounded, and one sender cannot use up what others need:

* A *live* session is charged to the sender whose envelope opened it.  Each sender may
  have at most ``per_sender`` live sessions, and all senders together ``max_sessions``.
  A new session over either bound first makes the guard forget live sessions whose
  accepted envelopes have *all* expired (safe: a replay of any of them is refused by the
  expiry check before it reaches the guard), then, if that did not make room, is refused
  with :class:`ReplayGuardFull` rather than forgetting the replay state of a live session
  (fail closed).  A sender that floods fills its own budget and is refused; the owner's
  budget is untouched.
* :meth:`ReplayGuard.finish` ends a session (the session layer closed it, or the
  request it carried was answered): its budget is released at once and only a
  *tombstone* stays — the session id and its latest expiry, no per-sender state — so every
  further envelope for it is refused with :class:`SessionClosed` until its envelopes
  have expired.  At most ``max_closed`` tombstones are kept; past that the oldest is
  forgotten first (a replay of its envelopes then meets the layers above the guard: a
  closed session drops it, and a signing or key-change request id is claimed durably
  in the keystore, so it never runs twice).

Because ``open_envelope`` caps ``expires`` (one day by default, minutes for control requests,
see :data:`gridlock.wire.control.MAX_REQUEST_TTL`), a budget filled by a flood drains by itself.

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
DEFAULT_PER_SENDER = 4096
DEFAULT_MAX_CLOSED = 65_536


@dataclass
class _Session:
    opener: str
    last_seq: dict[str, int] = field(default_factory=dict)
    max_expires: int = 0


@dataclass
class _Account:
    """The live sessions one sender opened, and the earliest time one of them can have expired."""

    live: set[bytes] = field(default_factory=set)
    earliest: int = 0


class ReplayGuard:
    """Accept only strictly increasing sequence numbers per (session, sender); see the module docstring."""

    def __init__(
        self,
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_senders: int = DEFAULT_MAX_SENDERS,
        per_sender: int = DEFAULT_PER_SENDER,
        max_closed: int = DEFAULT_MAX_CLOSED,
    ) -> None:
        for v in (max_sessions, max_senders, per_sender, max_closed):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError("replay guard limits must be positive integers")
        self.max_sessions = max_sessions
        self.max_senders = max_senders
        self.per_sender = per_sender
        self.max_closed = max_closed
        self._sessions: dict[bytes, _Session] = {}
        self._accounts: dict[str, _Account] = {}
        self._closed: OrderedDict[bytes, int] = OrderedDict()  # finished session -> its latest expiry, oldest first

    def __len__(self) -> int:
        """Sessions the guard remembers: live ones and tombstones."""
        return len(self._sessions) + len(self._closed)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions or session_id in self._closed

    def __repr__(self) -> str:
        return (
            f"ReplayGuard(live={len(self._sessions)}/{self.max_sessions}, "
            f"closed={len(self._closed)}/{self.max_closed}, senders={len(self._accounts)})"
        )

    @property
    def live(self) -> int:
        """Sessions not finished yet."""
        return len(self._sessions)

    def live_of(self, sender: str) -> int:
        """Live sessions ``sender`` opened (what counts against its budget)."""
        account = self._accounts.get(sender)
        return 0 if account is None else len(account.live)

    def last_seq(self, session_id: bytes, sender: str) -> int | None:
        """The highest sequence number accepted from ``sender`` in the session, if any."""
        s = self._sessions.get(session_id)
        return None if s is None else s.last_seq.get(sender)

    def check(self, session_id: bytes, sender: str, seq: int) -> None:
        """Raise if ``seq`` would be refused now; records nothing."""
        if session_id in self._closed:
            raise SessionClosed("envelope for a session that has finished")
        s = self._sessions.get(session_id)
        if s is None:
            return
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
            self._make_room(sender, now)
            s = self._sessions[session_id] = _Session(sender)
            account = self._accounts.setdefault(sender, _Account(earliest=expires))
            account.live.add(session_id)
            account.earliest = min(account.earliest, expires)
        elif sender not in s.last_seq and len(s.last_seq) >= self.max_senders:
            raise ReplayGuardFull(f"more than {self.max_senders} senders in one session")
        s.last_seq[sender] = seq
        s.max_expires = max(s.max_expires, expires)

    def finish(self, session_id: bytes) -> None:
        """End a session: its sender's budget is released, and until its envelopes expire a tombstone
        refuses every later envelope for it."""
        s = self._sessions.pop(session_id, None)
        if s is None:
            return
        self._unlink(s.opener, session_id)
        self._closed[session_id] = s.max_expires
        while len(self._closed) > self.max_closed:
            self._closed.popitem(last=False)

    def purge(self, now: int) -> int:
        """Forget every session (live or finished) whose accepted envelopes have all expired; returns how many."""
        dead = [sid for sid, s in self._sessions.items() if s.max_expires < now]
        for sid in dead:
            self._unlink(self._sessions.pop(sid).opener, sid)
        gone = [sid for sid, expires in self._closed.items() if expires < now]
        for sid in gone:
            del self._closed[sid]
        for account in self._accounts.values():
            account.earliest = self._earliest(account)
        return len(dead) + len(gone)

    # -- internals ------------------------------------------------------------------------

    def _unlink(self, opener: str, session_id: bytes) -> None:
        account = self._accounts.get(opener)
        if account is None:
            return
        account.live.discard(session_id)
        if not account.live:
            del self._accounts[opener]

    def _earliest(self, account: _Account) -> int:
        return min((self._sessions[sid].max_expires for sid in account.live), default=0)

    def _purge_account(self, sender: str, now: int) -> None:
        """Forget ``sender``'s expired live sessions; a scan only when one of them can have expired."""
        account = self._accounts.get(sender)
        if account is None or account.earliest >= now:
            return
        dead = [sid for sid in account.live if self._sessions[sid].max_expires < now]
        for sid in dead:
            del self._sessions[sid]
            account.live.discard(sid)
        if not account.live:
            del self._accounts[sender]
        else:
            account.earliest = self._earliest(account)

    def _make_room(self, sender: str, now: int) -> None:
        if self.live_of(sender) >= self.per_sender:
            self._purge_account(sender, now)
            if self.live_of(sender) >= self.per_sender:
                raise ReplayGuardFull(
                    f"sender {sender} has {self.per_sender} live sessions in the replay guard; new session refused"
                )
        if len(self._sessions) >= self.max_sessions:
            for opener in list(self._accounts):
                self._purge_account(opener, now)
            if len(self._sessions) >= self.max_sessions:
                raise ReplayGuardFull(
                    f"replay guard is tracking {self.max_sessions} live sessions; new session refused"
                )
