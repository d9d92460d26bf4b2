"""The guardian node: one share per vault, kept encrypted; protocol rounds run on request.

The node reads its inbox (any :class:`~gridlock.transport.base.Transport`), opens every envelope
with :func:`gridlock.wire.open_envelope` (signature, recipient, expiry, replay), hands protocol
envelopes to their :class:`~gridlock.guardian.session.Session` and runs control requests from the
registered clients as concurrent tasks — each with its own timeout, under a cap on concurrent
sessions, so a stuck or malicious peer never blocks other vaults.

Which clients may ask at all is the :class:`Authorizer`'s decision; requests that use or change the key
then need the owner's approvals and pass the owner's policy (``_approve``, ``_policy_gate``).

Admission keeps the node serving under floods (issue 18):

* Envelopes from known identities go through one replay guard, in which each sender has its own
  budget of live sessions; a request's session is finished as soon as it is answered, so an honest
  owner never fills it, and a known identity that floods fills only its own.  A control request may
  claim validity at most :data:`~gridlock.wire.control.MAX_REQUEST_TTL` seconds ahead.
* Requests from devices the directory does not know (``intro``, device recovery) go through a small
  guard of their own and a small shared budget of requests in flight (:data:`INTRO_IN_FLIGHT`);
  what is over it is dropped.  Their refusals are not written to the audit log one by one (an outsider
  would fill the disk): they are counted, and the count is written as one entry per
  :data:`DOOR_AUDIT_INTERVAL` seconds (op ``"door"``), as are ``busy`` answers.
* A registered client over its quota of requests in flight is answered ``busy`` with a retry hint
  (:data:`BUSY_RETRY_AFTER`); the request did not run, and the SDK sends it again after the pause.
  A ping is answered all the same (its answer costs what ``busy`` would): a client choosing signers
  under load learns who is alive instead of timing out.
* Envelopes of protocol sessions this guardian has not started yet are held, at most
  :data:`EARLY_BYTES_PER_SENDER` bytes per sender and :data:`EARLY_BYTES` in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from gridlock.crypto import codec
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, ProtocolAbort, ProtocolStalled
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.bans import VaultBans
from gridlock.guardian.config import DEFAULT_RECOVERY_DELAY
from gridlock.guardian.core import APPROVED, INTRO, REQUEST, REQUESTER, RequestState, log
from gridlock.guardian.key_ops import KeyOperations
from gridlock.guardian.owner_gate import OwnerGate
from gridlock.guardian.session import Session
from gridlock.guardian.sign_ops import SigningOperations
from gridlock.guardian.store import KeystoreError, ShareStore
from gridlock.transport.base import Transport
from gridlock.transport.errors import RecvTimeout, TransportClosed
from gridlock.wire import (
    Envelope,
    Identity,
    PublicIdentity,
    ReplayGuard,
    UnknownSender,
    WireError,
    open_envelope,
    ops,
    seal,
)
from gridlock.wire import control as ctl

MAX_EARLY = 2048  # envelopes held for sessions this guardian has not started yet
EARLY_BYTES = 64 << 20  # … and their bytes (an envelope counts twice: as received and opened)
EARLY_BYTES_PER_SENDER = 16 << 20
INTRO_IN_FLIGHT = 8  # requests from unknown devices served at once, all of them together
INTRO_LIVE_SESSIONS = 64  # their replay guard: live sessions, tombstones
INTRO_CLOSED_SESSIONS = 4096
BUSY_RETRY_AFTER = 0.25  # seconds a client over its quota is asked to wait
DOOR_AUDIT_INTERVAL = 60.0  # seconds between the audit entries that count refusals at the door
INTRO_OPS = frozenset({"ping", "recovery-start", "recovery-status", "recovery-finish"})  # from unknown devices
OPEN_OPS = frozenset({"ping"})
QUIET_OPS = frozenset({"ping", "audit"})
CONTROL_TTL = {ctl.CONTROL: ctl.MAX_REQUEST_TTL}
# refusals of requests from unknown devices that are counted instead of audited one by one: nothing
# about a vault of this guardian (a recovery attempt on one, a wrong password, is audited)
DOOR_CODES = frozenset({ctl.Refusal.UNAUTHORISED, ctl.Refusal.BAD_REQUEST, ctl.Refusal.UNKNOWN_VAULT, ctl.Refusal.BUSY})


def _is_ping(body: bytes) -> bool:
    """Whether a control request is a ping (a body that does not decode is not; it is refused later)."""
    try:
        return ctl.Request.from_bytes(body).op == ops.Ping.NAME
    except (DecodeError, InvalidParameterError, ValueError, TypeError):
        return False


class Authorizer(Protocol):
    """Which clients may send requests at all: raise RequestRefused to refuse."""

    def authorize(self, client: str, op: str, params: Mapping[str, Any]) -> None: ...


class RegisteredClients:
    """Default authoriser: only requests signed by a registered client identity are served."""

    def __init__(self, clients: Iterable[str]) -> None:
        self.clients = frozenset(clients)

    def authorize(self, client: str, op: str, params: Mapping[str, Any]) -> None:
        if client not in self.clients:
            raise ctl.RequestRefused(ctl.Refusal.UNAUTHORISED, "requests are served only for registered clients")


def _failure(exc: Exception) -> tuple[ctl.Refusal, str, str]:
    """``(code, message, audit decision)`` for a request that did not complete: refusals are the
    guardian's decision, everything else a failure; messages never carry secrets."""
    if isinstance(exc, ctl.RequestRefused):
        return exc.code, exc.reason, "refused"
    if isinstance(exc, ProtocolAbort):
        return ctl.Refusal.PROTOCOL_ABORT, f"{exc.check}: {exc.reason}; {exc.blame_text(exc.members)}", "failed"
    if isinstance(exc, ProtocolStalled):
        missing = ", ".join(str(m) for m in sorted(exc.missing, key=str)) or "unknown"
        return ctl.Refusal.TIMEOUT, f"{exc}; no answer from: {missing}", "failed"
    if isinstance(exc, DecodeError | InvalidParameterError):
        return ctl.Refusal.BAD_REQUEST, str(exc), "refused"
    if isinstance(exc, KeystoreError):
        return ctl.Refusal.KEYSTORE, str(exc), "failed"
    if isinstance(exc, GridlockError):
        return ctl.Refusal.ERROR, str(exc), "failed"
    return ctl.Refusal.ERROR, f"internal error ({type(exc).__name__})", "failed"


class GuardianNode(OwnerGate, KeyOperations, SigningOperations):
    """One guardian: admission of envelopes, dispatch of typed operations to their handlers, audit."""

    def __init__(
        self,
        identity: Identity,
        keystore: ShareStore,
        transport: Transport,
        directory: Mapping[str, PublicIdentity],
        *,
        authorizer: Authorizer,
        session_timeout: float = 60.0,
        max_sessions: int = 64,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
        kind: str = "guardian",
        recovery_delay: float = DEFAULT_RECOVERY_DELAY,
        password_attempts: int = 5,
        per_client_requests: int = 32,
    ) -> None:
        self.identity = identity
        self.id = identity.guardian_id
        self.keystore = keystore
        self.transport = transport
        self.directory = dict(directory)
        self.authorizer = authorizer
        self.session_timeout = session_timeout
        self.clock = clock
        self.guard = ReplayGuard()
        self.intro_guard = ReplayGuard(max_sessions=INTRO_LIVE_SESSIONS, per_sender=2, max_closed=INTRO_CLOSED_SESSIONS)
        self.sessions: dict[bytes, Session[Any]] = {}
        self._bans: dict[str, VaultBans] = {}  # vault id -> the ban list of its active epoch
        self._handlers: dict[type[ops.Op], Callable[[Any], Awaitable[ops.Reply]]] = {
            ops.Ping: self._op_ping,
            ops.ListVaults: self._op_list,
            ops.Info: self._op_info,
            ops.PolicyShow: self._op_policy_show,
            ops.RecoveryStatus: self._op_recovery_status,
            ops.Audit: self._op_audit,
            ops.Keygen: self._op_keygen,
            ops.Ack: self._op_ack,
            ops.AbortEpoch: self._op_abort,
            ops.Commit: self._op_commit,
            ops.Refresh: self._op_refresh,
            ops.Export: self._op_export,
            ops.RecoveryCancel: self._op_recovery_cancel,
            ops.PolicyCancel: self._op_policy_cancel,
            ops.Sign: self._op_sign,
            ops.Presign: self._op_presign,
            ops.SignPresigned: self._op_sign_presigned,
            ops.Reshare: self._op_reshare,
            ops.Repair: self._op_repair,
            ops.PolicySet: self._op_policy_set,
            ops.RecoveryStart: self._op_recovery_start,
            ops.RecoveryFinish: self._op_recovery_finish,
            ops.PasswordChange: self._op_password_change,
        }
        self._early: OrderedDict[bytes, list[Envelope]] = OrderedDict()
        self._slots = asyncio.Semaphore(max_sessions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.audit = audit
        self.kind = kind
        self.known_clients: set[str] = set()
        self.per_client_requests = per_client_requests
        self._in_flight: dict[str, int] = {}
        self._intro_in_flight = 0
        self.door: dict[str, int] = {}  # refusals at the door not yet in the audit log, by kind
        self._door_since = clock()
        self._load_recovered_clients()
        self.recovery_delay = recovery_delay
        self.password_attempts = password_attempts

    def _load_recovered_clients(self) -> None:
        """Owner devices that joined through a finished recovery (kept with their vaults)."""
        for meta in self.keystore.all_metadata().values():  # one read, not one per vault
            for cid, pub in meta.get("clients", {}).items():
                with contextlib.suppress(DecodeError, ValueError):
                    self.directory[cid] = PublicIdentity.from_bytes(bytes.fromhex(pub))
                    self.known_clients.add(cid)

    async def serve(self) -> None:
        """Serve until :meth:`stop` (or the transport closes)."""
        while not self._stopping.is_set():
            try:
                data = await self.transport.recv(timeout=0.5)
            except RecvTimeout:
                self._flush_door()
                continue
            except TransportClosed:
                break
            try:
                self.handle(data)
            except Exception:  # a bug on one envelope must not stop the node
                log.exception("guardian %s: an envelope could not be handled", self.id)
            self._flush_door()
        self._flush_door(force=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    def handle(self, data: bytes) -> None:
        now = int(self.clock())
        try:
            env = open_envelope(
                data,
                me=self.identity,
                directory=self.directory,
                now=now,
                guard=self.guard,
                ttl_by_protocol=CONTROL_TTL,
            )
        except (WireError, DecodeError, InvalidParameterError) as exc:
            if isinstance(exc, UnknownSender | DecodeError):  # perhaps a device introducing itself
                self._handle_intro(data)
            else:
                log.info("guardian %s: rejected an envelope: %s", self.id, exc)
            return
        if env.protocol == ctl.CONTROL:
            if self._admit(env.sender, always=_is_ping(env.body)):
                self._spawn(self._serve_request(env))
            else:
                self._spawn(self._busy(env))
        elif env.protocol == ctl.REPLY:
            self.guard.finish(env.session_id)
        elif env.session_id in self.sessions:
            self.sessions[env.session_id].deliver(env)
        else:  # a peer started before us: hold it (bounded) until our session starts
            self._hold_early(env)

    def _handle_intro(self, data: bytes) -> None:
        """A request from a device the directory does not know: a small shared budget, then dropped."""
        if self._intro_in_flight >= INTRO_IN_FLIGHT:
            self._count("unknown identities: dropped over the shared budget")
            return
        intro = self._open_intro(data)
        if intro is None:
            self._count("unknown identities: envelopes rejected")
            return
        self._intro_in_flight += 1
        self._spawn(self._serve_request(intro[0], intro=intro[1]))

    def _hold_early(self, env: Envelope) -> None:
        """Hold ``env`` for a session not started yet, within the count and byte bounds (oldest first out)."""
        size = len(env.raw) + len(env.body)
        mine = sum(len(e.raw) + len(e.body) for held in self._early.values() for e in held if e.sender == env.sender)
        if size > EARLY_BYTES_PER_SENDER - mine:
            log.info("guardian %s: early envelopes of %s over %d bytes; dropped", self.id, env.sender, mine)
            return
        self._early.setdefault(env.session_id, []).append(env)
        total = sum(len(e.raw) + len(e.body) for held in self._early.values() for e in held)
        count = sum(len(v) for v in self._early.values())
        while self._early and (count > MAX_EARLY or total > EARLY_BYTES):
            _, dropped = self._early.popitem(last=False)
            count -= len(dropped)
            total -= sum(len(e.raw) + len(e.body) for e in dropped)

    def _admit(self, sender: str, *, always: bool = False) -> bool:
        """Per-client quota of requests in flight, counted before the request's task starts.  A ping
        is ``always`` admitted (and counted): it runs nothing and its answer costs what a ``busy``
        answer would, and a client choosing signers under load must learn who is alive."""
        if not always and self._in_flight.get(sender, 0) >= self.per_client_requests:
            return False
        self._in_flight[sender] = self._in_flight.get(sender, 0) + 1
        return True

    async def _busy(self, env: Envelope) -> None:
        """Answer a request over its client's quota: ``busy``, with a retry hint; nothing ran."""
        self.guard.finish(env.session_id)
        self._count(f"busy: requests over the in-flight quota of {self.per_client_requests} per client")
        log.info("guardian %s: client %s over its request quota; answered busy", self.id, env.sender)
        body = ctl.encode_error(
            ctl.Refusal.BUSY,
            f"more than {self.per_client_requests} requests in flight from this client; retry later",
            retry_after=BUSY_RETRY_AFTER,
        )
        await self._reply(env, self.directory.get(env.sender), body)

    def _count(self, kind: str) -> None:
        self.door[kind] = self.door.get(kind, 0) + 1

    def _flush_door(self, *, force: bool = False) -> None:
        """Write the counted refusals as one audit entry, at most once per :data:`DOOR_AUDIT_INTERVAL`."""
        now = self.clock()
        if not self.door or (not force and now - self._door_since < DOOR_AUDIT_INTERVAL):
            return
        counts, self.door = self.door, {}
        since, self._door_since = self._door_since, now
        reason = "; ".join(f"{kind}: {n}" for kind, n in sorted(counts.items())) + f" (since {int(since)})"
        if self.audit is not None:
            try:
                self.audit.append(
                    time=int(now), vault="", op="door", requester="*", decision="refused", reason=reason, digest=""
                )
            except Exception:  # the count is lost, the node keeps serving
                log.exception("guardian %s: cannot write to the audit log", self.id)
        log.info("guardian %s: refused at the door: %s", self.id, reason)

    def _open_intro(self, data: bytes) -> tuple[Envelope, PublicIdentity] | None:
        """A control request from a device the directory does not know yet (device recovery):
        ``{"intro": public identity, "envelope": envelope}``; the id is the hash of the keys.  Its replay
        state goes to the small guard of unknown devices, and it may claim only minutes of validity."""
        try:
            m = codec.loads(data, max_size=64 * 1024, max_items=5)  # {"intro": bytes, "envelope": bytes}
            if not isinstance(m, dict) or set(m) != {"intro", "envelope"}:
                return None
            pub = PublicIdentity.from_bytes(m["intro"])
            env = open_envelope(
                m["envelope"],
                me=self.identity,
                directory={pub.guardian_id: pub},
                now=int(self.clock()),
                guard=self.intro_guard,
                expect_protocol=ctl.CONTROL,
                max_ttl=ctl.MAX_REQUEST_TTL,
            )
        except (WireError, DecodeError, InvalidParameterError, TypeError):
            return None
        return env, pub

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_request(self, env: Envelope, intro: PublicIdentity | None = None) -> None:
        try:
            await self._serve(env, intro)
        finally:  # answered: the request's replay state is a tombstone now, its place is free
            if intro is not None:
                self._intro_in_flight -= 1
                self.intro_guard.finish(env.session_id)
            else:
                self.guard.finish(env.session_id)
                self._in_flight[env.sender] -= 1
                if not self._in_flight[env.sender]:
                    del self._in_flight[env.sender]

    async def _serve(self, env: Envelope, intro: PublicIdentity | None) -> None:
        op, vault, decision, reason, digest = "?", "", "refused", "", ""
        refusal: ctl.Refusal | None = None
        state = RequestState(self.keystore)
        REQUEST.set(state)  # this task's: every part of the node reads and writes the vault through it
        try:
            req = ctl.Request.from_bytes(env.body)
            op = req.op
            vault = req.params.get("vault", "") if isinstance(req.params.get("vault"), str) else ""  # for the audit
            subject = owner_mod.subject_bytes(req.params)  # what owner approvals sign
            digest = hashlib.sha256(subject).hexdigest()
            if intro is not None:
                if op not in INTRO_OPS:
                    raise ctl.RequestRefused(
                        ctl.Refusal.UNAUTHORISED, "unknown devices may only start or finish a recovery"
                    )
            elif op not in OPEN_OPS and env.sender not in self.known_clients:
                self.authorizer.authorize(env.sender, req.op, req.params)
            typed = ops.decode(req.op, req.params)  # only for authorised senders
            INTRO.set(intro)
            REQUESTER.set(env.sender)
            APPROVED.set(None)
            async with self._slots:
                if typed.APPROVED:
                    self._approve(typed, subject)
                result = await self._handlers[type(typed)](typed)
                state.flush()
            body = ctl.encode_reply(result.to_result())
            decision = "done"
        except Exception as exc:  # every failure still ends in a reply and an audit entry
            if not isinstance(exc, GridlockError):
                log.exception("guardian %s: %s request failed unexpectedly", self.id, op)
            try:
                state.flush()  # what a refused request changed stays: password failures, holds, used approvals
            except Exception as failed:
                if not isinstance(failed, GridlockError):
                    log.exception("guardian %s: the state of a refused %s request was not saved", self.id, op)
            refusal, text, decision = _failure(exc)
            until = exc.until if isinstance(exc, ctl.RequestRefused) else None
            body, reason = ctl.encode_error(refusal, text, until), f"{refusal}: {text}"
        if intro is not None and refusal in DOOR_CODES:
            self._count(f"unknown identities: {refusal}")  # counted, not one audit entry each
        elif self.audit is not None and op not in QUIET_OPS:
            try:
                self.audit.append(
                    time=int(self.clock()),
                    vault=vault,
                    op=op,
                    requester=env.sender,
                    decision=decision,
                    reason=reason,
                    digest=digest,
                )
            except Exception:  # the reply still goes out: the client must not wait for nothing
                log.exception("guardian %s: cannot write the audit entry of a %s request", self.id, op)
        await self._reply(env, intro if intro is not None else self.directory.get(env.sender), body)

    async def _reply(self, env: Envelope, client: PublicIdentity | None, body: bytes) -> None:
        if client is None:
            return
        reply = seal(
            self.identity,
            session_id=env.session_id,
            protocol=ctl.REPLY,
            round=0,
            seq=0,
            recipient=client,
            expires=int(self.clock()) + 120,
            body=body,
        )
        with contextlib.suppress(TransportClosed):
            await self.transport.send(env.sender, reply)
