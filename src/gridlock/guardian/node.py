"""The guardian node: one share per vault, kept encrypted; protocol rounds run on request.

The node reads its inbox (any :class:`~gridlock.transport.base.Transport`), opens every envelope
with :func:`gridlock.wire.open_envelope` (signature, recipient, expiry, replay), hands protocol
envelopes to their :class:`~gridlock.guardian.session.Session` and runs control requests from the
registered clients as concurrent tasks — each with its own timeout, under a cap on concurrent
sessions, so a stuck or malicious peer never blocks other vaults.

Every change of a vault's key material is two-phase (SECURITY #16): the new epoch is stored as
*pending*, the guardian answers with a signed acknowledgement of (vault, epoch, public key,
transcript hash), and only a ``commit`` carrying the acknowledgements of **every** new holder makes
it active and retires the old epoch.  Until then the old epoch keeps signing.

Which clients may ask at all is the :class:`Authorizer`'s decision; requests that use or change the key
then need the owner's approvals and pass the owner's policy (``_approve``, ``_policy_gate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from gridlock.chains.context import TxContext
from gridlock.crypto import codec, transcript
from gridlock.crypto.ecdsa.online import Presignature
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import (
    DecodeError,
    GridlockError,
    InvalidParameterError,
    ProtocolAbort,
    ProtocolStalled,
)
from gridlock.guardian import audit as audit_mod
from gridlock.guardian import owner as owner_mod
from gridlock.guardian import policy as policy_mod
from gridlock.guardian import txcheck
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.bans import VaultBans
from gridlock.guardian.config import DEFAULT_RECOVERY_DELAY
from gridlock.guardian.keystore import AlreadyUsed, KeystoreError, ShareStore
from gridlock.guardian.session import Session, participants_of
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.ecdsa import EcdsaKeygenParty, OnlineSignParty, PresignParty
from gridlock.protocol.frost import FrostSignParty
from gridlock.protocol.party import RoundProtocol
from gridlock.protocol.repair import RepairParty
from gridlock.protocol.reshare import ReshareParty
from gridlock.transport.base import Transport
from gridlock.transport.errors import RecvTimeout, TransportClosed
from gridlock.wire import Envelope, Identity, PublicIdentity, ReplayGuard, WireError, open_envelope, ops, seal
from gridlock.wire import control as ctl
from gridlock.wire.audit import HEAD_LABEL

log = logging.getLogger("gridlock.guardian")
T = TypeVar("T")
ECDSA = "ecdsa-secp256k1"
SESSION_LABEL = b"gridlock/session/v1"
MAX_EARLY = 2048  # envelopes held for sessions this guardian has not started yet
INTRO_OPS = frozenset({"ping", "recovery-start", "recovery-status", "recovery-finish"})  # from unknown devices
OPEN_OPS = frozenset({"ping"})
QUIET_OPS = frozenset({"ping", "audit"})
_INTRO: contextvars.ContextVar[PublicIdentity | None] = contextvars.ContextVar("gridlock_intro", default=None)


class Authorizer(Protocol):
    """Which clients may send requests at all: raise RequestRefused to refuse."""

    def authorize(self, client: str, op: str, params: Mapping[str, Any]) -> None: ...


class RegisteredClients:
    """Default authoriser: only requests signed by a registered client identity are served."""

    def __init__(self, clients: Iterable[str]) -> None:
        self.clients = frozenset(clients)

    def authorize(self, client: str, op: str, params: Mapping[str, Any]) -> None:
        if client not in self.clients:
            raise ctl.RequestRefused("unauthorised", "requests are served only for registered clients")


def session_id(op: str, vault_id: str, epoch: int, members: Mapping[int, str], nonce: bytes) -> bytes:
    """DESIGN §3: ``ssid = H(label, vault id, epoch, sorted participants, fresh nonce)``."""
    return transcript.digest(
        SESSION_LABEL,
        op.encode(),
        vault_id.encode(),
        transcript.int_field(epoch),
        transcript.seq(transcript.int_field(i) + g.encode() for i, g in sorted(members.items())),
        nonce,
    )


def _failure(exc: Exception) -> tuple[str, str, str]:
    """``(code, message, audit decision)`` for a request that did not complete: refusals are the
    guardian's decision, everything else a failure; messages never carry secrets."""
    if isinstance(exc, ctl.RequestRefused):
        return exc.code, exc.reason, "refused"
    if isinstance(exc, ProtocolAbort):
        return "protocol-abort", f"{exc.check}: {exc.reason}; {exc.blame_text(exc.members)}", "failed"
    if isinstance(exc, ProtocolStalled):
        missing = ", ".join(str(m) for m in sorted(exc.missing, key=str)) or "unknown"
        return "timeout", f"{exc}; no answer from: {missing}", "failed"
    if isinstance(exc, DecodeError | InvalidParameterError):
        return "bad-request", str(exc), "refused"
    if isinstance(exc, KeystoreError):
        return "keystore", str(exc), "failed"
    if isinstance(exc, GridlockError):
        return "error", str(exc), "failed"
    return "error", f"internal error ({type(exc).__name__})", "failed"


class _StoredPresignatures:
    """One vault epoch's presignatures in the store, as a :class:`~gridlock.crypto.ecdsa.online.PresignatureStore`."""

    def __init__(self, store: ShareStore, vault_id: str, epoch: int) -> None:
        self.store, self.vault_id, self.epoch = store, vault_id, epoch

    def take(self, presig_id: bytes, /) -> bytes:
        return self.store.take_presignature(self.vault_id, self.epoch, presig_id)


class GuardianNode:
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
        self.sessions: dict[bytes, Session[Any]] = {}
        self._bans: dict[str, VaultBans] = {}  # vault id -> the ban list of its active epoch
        self._handlers: dict[type[ops.Op], Callable[[Any], Awaitable[dict[str, Any]]]] = {
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
            ops.Sign: self._op_sign,
            ops.Presign: self._op_presign,
            ops.SignPresigned: self._op_sign_presigned,
            ops.Reshare: self._op_reshare,
            ops.Repair: self._op_repair,
            ops.PolicySet: self._op_policy_set,
            ops.RecoveryStart: self._op_recovery_start,
            ops.RecoveryFinish: self._op_recovery_finish,
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
        self._load_recovered_clients()
        self.recovery_delay = recovery_delay
        self.password_attempts = password_attempts

    def _load_recovered_clients(self) -> None:
        """Owner devices that joined through a finished recovery (kept with their vaults)."""
        for rec in self.keystore.vaults():
            for cid, pub in self.keystore.metadata(rec.vault_id).get("clients", {}).items():
                with contextlib.suppress(DecodeError, ValueError):
                    self.directory[cid] = PublicIdentity.from_bytes(bytes.fromhex(pub))
                    self.known_clients.add(cid)

    # --- main loop ---------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve until :meth:`stop` (or the transport closes)."""
        while not self._stopping.is_set():
            try:
                data = await self.transport.recv(timeout=0.5)
            except RecvTimeout:
                continue
            except TransportClosed:
                break
            self.handle(data)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    def handle(self, data: bytes) -> None:
        try:
            env = open_envelope(
                data, me=self.identity, directory=self.directory, now=int(self.clock()), guard=self.guard
            )
        except (WireError, DecodeError, InvalidParameterError) as exc:
            intro = self._open_intro(data)
            if intro is None:
                log.info("guardian %s: rejected an envelope: %s", self.id, exc)
            elif self._admit(intro[0].sender):
                self._spawn(self._serve_request(intro[0], intro=intro[1]))
            return
        if env.protocol == ctl.CONTROL:
            if self._admit(env.sender):
                self._spawn(self._serve_request(env))
        elif env.protocol == ctl.REPLY:
            return
        elif env.session_id in self.sessions:
            self.sessions[env.session_id].deliver(env)
        else:  # a peer started before us: hold it (bounded) until our session starts
            self._early.setdefault(env.session_id, []).append(env)
            while sum(len(v) for v in self._early.values()) > MAX_EARLY:
                self._early.popitem(last=False)

    def _admit(self, sender: str) -> bool:
        """Per-client quota of requests in flight, counted before the request's task starts."""
        if self._in_flight.get(sender, 0) >= self.per_client_requests:
            log.warning("guardian %s: client %s over its request quota; dropped", self.id, sender)
            return False
        self._in_flight[sender] = self._in_flight.get(sender, 0) + 1
        return True

    def _open_intro(self, data: bytes) -> tuple[Envelope, PublicIdentity] | None:
        """A control request from a device the directory does not know yet (device recovery):
        ``{"intro": public identity, "envelope": envelope}``; the id is the hash of the keys."""
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
                guard=self.guard,
                expect_protocol=ctl.CONTROL,
            )
        except (WireError, DecodeError, InvalidParameterError, TypeError):
            return None
        return env, pub

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- requests ---------------------------------------------------------------------------------
    async def _serve_request(self, env: Envelope, intro: PublicIdentity | None = None) -> None:
        try:
            await self._serve(env, intro)
        finally:
            self._in_flight[env.sender] -= 1
            if not self._in_flight[env.sender]:
                del self._in_flight[env.sender]

    async def _serve(self, env: Envelope, intro: PublicIdentity | None) -> None:
        op, vault, decision, reason, digest = "?", "", "refused", "", ""
        try:
            req = ctl.Request.from_bytes(env.body)
            op = req.op
            vault = req.params.get("vault", "") if isinstance(req.params.get("vault"), str) else ""  # for the audit
            digest = hashlib.sha256(owner_mod.subject_bytes(req.params)).hexdigest()
            if intro is not None:
                if op not in INTRO_OPS:
                    raise ctl.RequestRefused("unauthorised", "unknown devices may only start or finish a recovery")
            elif op not in OPEN_OPS and env.sender not in self.known_clients:
                self.authorizer.authorize(env.sender, req.op, req.params)
            typed = ops.decode(req.op, req.params)  # only for authorised senders
            _INTRO.set(intro)
            async with self._slots:
                if typed.APPROVED:
                    self._approve(typed, owner_mod.subject_bytes(req.params))
                result = await self._handlers[type(typed)](typed)
            body = ctl.encode_reply(result)
            decision = "done"
        except Exception as exc:  # every failure still ends in a reply and an audit entry
            if not isinstance(exc, GridlockError):
                log.exception("guardian %s: %s request failed unexpectedly", self.id, op)
            code, text, decision = _failure(exc)
            body, reason = ctl.encode_error(code, text), f"{code}: {text}"
        if self.audit is not None and op not in QUIET_OPS:
            self.audit.append(
                time=int(self.clock()),
                vault=vault,
                op=op,
                requester=env.sender,
                decision=decision,
                reason=reason,
                digest=digest,
            )
        client = intro if intro is not None else self.directory.get(env.sender)
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

    # --- owner authorisation, policy, recovery ---------------------------------------------------------
    def _owner(self, vault_id: str) -> owner_mod.OwnerState:
        return owner_mod.OwnerState.from_meta(self.keystore.metadata(vault_id))

    def _save(self, vault_id: str, **parts: Any) -> None:
        meta = dict(self.keystore.metadata(vault_id))
        meta.update(parts)
        self.keystore.set_metadata(vault_id, meta)

    def _approve(self, op: Any, subject: bytes) -> None:
        """Owner approvals for a key-using request, bound to every parameter of it (SECURITY #19).

        ``subject`` is the request's wire form without the approvals (what the devices signed).  A
        guardian that holds nothing of the vault yet (a new holder in a reshare, the lost holder in
        a repair) checks them against the registration that comes with the request.
        """
        vault_id, nonce = op.vault, op.nonce
        if self._knows(vault_id) and "owner" in self.keystore.metadata(vault_id):
            state = self._owner(vault_id)
            scheme = self.keystore.vault(vault_id).scheme
            registered = True
        elif isinstance(op, ops.Reshare | ops.Repair):
            state = owner_mod.registration(op.owner)
            scheme = op.scheme
            registered = False
        else:
            raise ctl.RequestRefused("no-owner", "this vault has no registered owner")
        recovery = self.keystore.metadata(vault_id).get("recovery", {}) if self._knows(vault_id) else {}
        if recovery.get("state") == "open" and not isinstance(op, ops.RecoveryCancel):
            raise ctl.RequestRefused("recovery-pending", "a device recovery is open on this vault; cancel it first")
        if not op.approvals:
            raise ctl.RequestRefused("unauthorised", "the request carries no owner approval")
        good = state.authorize(
            op.approvals,
            vault_id=vault_id,
            scheme=scheme,
            op=op.NAME,
            subject=subject,
            nonce=nonce,
            now=int(self.clock()),
        )
        if registered:
            state.consume(good)
            self._save(vault_id, owner=state.to_meta())

    def _check_password(self, vault_id: str, state: owner_mod.OwnerState, verifier: bytes) -> None:
        """Argon2id verifier check, rate-limited per vault at this guardian (SECURITY #21)."""
        meta = self.keystore.metadata(vault_id)
        now = int(self.clock())
        failures = [t for t in meta.get("password_failures", []) if t > now - 3600]
        if len(failures) >= self.password_attempts:
            raise ctl.RequestRefused("rate-limited", "too many wrong passwords for this vault; try again later")
        if not state.check_password(verifier):
            self._save(vault_id, password_failures=[*failures, now])
            raise ctl.RequestRefused("wrong-password", "the password does not match")

    async def _notify(self, state: owner_mod.OwnerState, body: dict[str, Any]) -> None:
        for client_id in state.notify:
            pub = self.directory.get(client_id)
            if pub is None:
                continue
            data = seal(
                self.identity,
                session_id=secrets.token_bytes(16),
                protocol="notify",
                round=0,
                seq=0,
                recipient=pub,
                expires=int(self.clock()) + 3600,
                body=codec.dumps(body),
            )
            with contextlib.suppress(TransportClosed):
                await self.transport.send(client_id, data)

    async def _op_recovery_start(self, op: ops.RecoveryStart) -> dict[str, Any]:
        vault_id, new_device, lost_device, verifier = op.vault, op.new_device, op.lost_device, op.verifier
        state = self._owner(vault_id)
        self._check_password(vault_id, state, verifier)
        if lost_device not in state.devices:
            raise ctl.RequestRefused("bad-request", "the lost device is not a registered owner device")
        meta = self.keystore.metadata(vault_id)
        if meta.get("recovery", {}).get("state") == "open":
            raise ctl.RequestRefused("recovery-pending", "a recovery is already open on this vault")
        now = int(self.clock())
        unlock = now + int(self.recovery_delay)
        self._save(
            vault_id,
            recovery={
                "state": "open",
                "new_device": new_device.hex(),
                "lost_device": lost_device.hex(),
                "opened": now,
                "unlock_at": unlock,
            },
        )
        await self._notify(
            state, {"vault": vault_id, "event": "recovery-started", "unlock_at": unlock, "guardian": self.id}
        )
        return {"state": "open", "unlock_at": unlock}

    async def _op_recovery_status(self, op: ops.RecoveryStatus) -> dict[str, Any]:
        rec = self.keystore.metadata(op.vault).get("recovery", {})
        return {"state": rec.get("state", "none"), "unlock_at": rec.get("unlock_at", 0)}

    async def _op_recovery_cancel(self, op: ops.RecoveryCancel) -> dict[str, Any]:
        vault_id = op.vault
        rec = dict(self.keystore.metadata(vault_id).get("recovery", {}))
        if rec.get("state") != "open":
            raise ctl.RequestRefused("no-recovery", "no recovery is open on this vault")
        rec["state"] = "cancelled"
        self._save(vault_id, recovery=rec)
        return {"state": "cancelled"}

    async def _op_recovery_finish(self, op: ops.RecoveryFinish) -> dict[str, Any]:
        vault_id, verifier, notify = op.vault, op.verifier, op.notify
        state = self._owner(vault_id)
        self._check_password(vault_id, state, verifier)
        rec = dict(self.keystore.metadata(vault_id).get("recovery", {}))
        if rec.get("state") != "open":
            raise ctl.RequestRefused("no-recovery", f"no open recovery (state: {rec.get('state', 'none')})")
        now = int(self.clock())
        if now < rec["unlock_at"]:
            raise ctl.RequestRefused("time-locked", f"the recovery time lock ends at {rec['unlock_at']}")
        lost, new = bytes.fromhex(rec["lost_device"]), bytes.fromhex(rec["new_device"])
        state.devices = [new if d == lost else d for d in state.devices]
        state.counters.pop(lost.hex(), None)
        state.notify = [notify]
        rec["state"] = "finished"
        clients = dict(self.keystore.metadata(vault_id).get("clients", {}))
        pub = _INTRO.get()
        if pub is not None and pub.guardian_id == notify:  # the new device may now talk to us directly
            clients[notify] = pub.to_bytes().hex()
            self.directory[notify] = pub
            self.known_clients.add(notify)
        self._save(vault_id, owner=state.to_meta(), recovery=rec, clients=clients)
        return {"state": "finished"}

    async def _op_policy_set(self, op: ops.PolicySet) -> dict[str, Any]:
        vault_id = op.vault
        rules = policy_mod.validate_rules(dict(op.rules))
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(vault_id))
        pol.rules = rules
        self._save(vault_id, policy=pol.to_meta(int(self.clock())))
        return {"rules": rules}

    async def _op_policy_show(self, op: ops.PolicyShow) -> dict[str, Any]:
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(op.vault))
        return {"rules": pol.rules, "kind": self.kind}

    async def _op_audit(self, op: ops.Audit) -> dict[str, Any]:
        vault_id, since = op.vault, op.since
        if self.audit is None:
            return {"entries": [], "head": [0, audit_mod.GENESIS], "signature": b""}
        entries = self.audit.entries(vault_id, since)
        seq, head = self.audit.head()
        statement = transcript.encode(HEAD_LABEL, transcript.int_field(seq), bytes.fromhex(head))
        return {
            "entries": [json.dumps(e, sort_keys=True) for e in entries],
            "head": [seq, head],
            "signature": self.identity.sign(HEAD_LABEL, statement),
        }

    def _policy_gate(
        self, vault_id: str, share: KeyShare, message: bytes, tx: TxContext | None
    ) -> policy_mod.Spend | None:
        """Re-derive what a chain transaction asks to sign and judge it by this guardian's policy."""
        spend = None
        if tx is not None:
            allowed, spend = txcheck.derive(tx, share.scheme, share.public_key)
            if message not in allowed:
                raise ctl.RequestRefused(
                    "hash-mismatch", "the message to sign is not a hash of the transaction shown (refused, logged)"
                )
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(vault_id))
        try:
            pol.check(spend, now=int(self.clock()), watch=self.kind == "watch")
        finally:
            self._save(vault_id, policy=pol.to_meta(int(self.clock())))  # keeps new holds
        return spend

    def _policy_record(self, vault_id: str, spend: policy_mod.Spend | None) -> None:
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(vault_id))
        pol.record(spend, int(self.clock()))
        self._save(vault_id, policy=pol.to_meta(int(self.clock())))

    async def _run(
        self,
        sid: bytes,
        protocol: str,
        members: Mapping[int, str],
        party: RoundProtocol[T],
        timeout: float | None = None,
        *,
        uses_ot_of: VaultBans | None = None,
    ) -> T:
        session: Session[T] = Session(
            session_id=sid,
            protocol=protocol,
            identity=self.identity,
            participants=participants_of(self.directory, members),
            transport=self.transport,
            clock=self.clock,
            bans=uses_ot_of,
        )
        if sid in self.sessions:
            raise ctl.RequestRefused("busy", "this session is already running")
        self.sessions[sid] = session
        for env in self._early.pop(sid, []):
            session.deliver(env)
        try:
            return await session.run(party, timeout or self.session_timeout)
        except ProtocolAbort as exc:
            exc.members = dict(members)
            raise
        finally:
            del self.sessions[sid]
            # late envelopes for it are refused, and under load the replay guard evicts it first
            self.guard.finish(sid)

    def _my_index(self, members: Mapping[int, str]) -> int:
        for i, g in members.items():
            if g == self.id:
                return i
        raise ctl.RequestRefused("not-a-member", "this guardian is not among the request's participants")

    def _vault_members(self, vault_id: str, epoch: int) -> dict[int, str]:
        meta = self.keystore.metadata(vault_id)
        raw = meta.get("members", {}).get(str(epoch))
        if not isinstance(raw, dict):
            raise ctl.RequestRefused("unknown-vault", f"no membership recorded for vault {vault_id} epoch {epoch}")
        return {int(i): g for i, g in raw.items()}

    def _knows(self, vault_id: str) -> bool:
        try:
            self.keystore.vault(vault_id)
        except KeystoreError:
            return False
        return True

    def _store_pending(
        self, vault_id: str, share: KeyShare, members: Mapping[int, str], owner: owner_mod.OwnerState | None = None
    ) -> dict[str, Any]:
        # the share and its membership in one transaction: a crash leaves both or neither
        meta = dict(self.keystore.metadata(vault_id)) if self._knows(vault_id) else {}
        if owner is not None and "owner" not in meta:
            meta["owner"] = owner.to_meta()
        table = dict(meta.get("members", {}))
        table[str(share.epoch)] = {str(i): g for i, g in members.items()}
        meta["members"] = table
        self.keystore.store_pending(vault_id, share, metadata=meta)
        statement = ctl.ack_statement(vault_id, share.epoch, share.public_key, share.transcript_hash)
        return {
            "public_key": share.public_key,
            "epoch": share.epoch,
            "transcript_hash": share.transcript_hash,
            "threshold": share.threshold,
            "ack": self.identity.sign(ctl.ACK_LABEL, statement),
        }

    # --- operations ---------------------------------------------------------------------------------
    async def _op_ping(self, op: ops.Ping) -> dict[str, Any]:
        return {"guardian": self.id, "time": int(self.clock())}

    async def _op_list(self, op: ops.ListVaults) -> dict[str, Any]:
        """The vaults this guardian holds an active share of (public data only)."""
        out = []
        for rec in self.keystore.vaults():
            if rec.active_epoch is None:
                continue
            out.append(
                {
                    "vault": rec.vault_id,
                    "scheme": rec.scheme,
                    "public_key": rec.public_key,
                    "threshold": rec.threshold,
                    "epoch": rec.active_epoch,
                }
            )
        return {"vaults": out}

    async def _op_info(self, op: ops.Info) -> dict[str, Any]:
        vault_id = op.vault
        share = self.keystore.active_share(vault_id)
        return {
            "scheme": share.scheme,
            "public_key": share.public_key,
            "threshold": share.threshold,
            "epoch": share.epoch,
            "members": [[i, g] for i, g in sorted(self._vault_members(vault_id, share.epoch).items())],
            "group_key": share.group_key.encode(),
            "chain_code": share.chain_code,
        }

    async def _op_keygen(self, op: ops.Keygen) -> dict[str, Any]:
        vault_id, scheme, threshold = op.vault, get_scheme(op.scheme), op.threshold
        members, nonce = dict(op.members), op.nonce
        me = self._my_index(members)
        sid = session_id("keygen", vault_id, 0, members, nonce)
        ids = sorted(members)
        party: RoundProtocol[KeyShare]
        if scheme.name == ECDSA:
            party = EcdsaKeygenParty(sid, me, ids, threshold)
        else:
            party = DkgParty(scheme, sid, me, ids, threshold)
        owner = owner_mod.registration(op.owner)
        share = await self._run(sid, "keygen", members, party)
        return self._store_pending(vault_id, share, members, owner=owner)

    async def _op_commit(self, op: ops.Commit) -> dict[str, Any]:
        vault_id, epoch, acks = op.vault, op.epoch, op.acks
        share = self.keystore.share(vault_id, epoch)
        members = self._vault_members(vault_id, epoch)
        statement = ctl.ack_statement(vault_id, epoch, share.public_key, share.transcript_hash)
        missing = [g for g in members.values() if not isinstance(acks.get(g), bytes)]
        bad = [
            g
            for g in members.values()
            if g not in missing and not self.directory[g].verify(ctl.ACK_LABEL, statement, acks[g])
        ]
        if missing or bad:
            raise ctl.RequestRefused(
                "ack-missing", f"epoch {epoch} lacks valid acknowledgements from: {', '.join(missing + bad)}"
            )
        self.keystore.activate(vault_id, epoch)
        return {"epoch": epoch}

    async def _op_ack(self, op: ops.Ack) -> dict[str, Any]:
        """Acknowledge an epoch this guardian already holds (repair: the holders that did not change)."""
        vault_id, epoch = op.vault, op.epoch
        share = self.keystore.share(vault_id, epoch)
        statement = ctl.ack_statement(vault_id, epoch, share.public_key, share.transcript_hash)
        return {"ack": self.identity.sign(ctl.ACK_LABEL, statement), "epoch": epoch}

    async def _op_abort(self, op: ops.AbortEpoch) -> dict[str, Any]:
        vault_id, epoch = op.vault, op.epoch
        self.keystore.discard_pending(vault_id, epoch)
        return {"epoch": epoch}

    def _signers(self, vault_id: str, share: KeyShare, signer_ids: tuple[str, ...]) -> tuple[dict[int, str], list[int]]:
        members = self._vault_members(vault_id, share.epoch)
        index = {g: i for i, g in members.items()}
        unknown = [g for g in signer_ids if g not in index]
        if unknown:
            raise ctl.RequestRefused("not-a-member", f"not holders of this vault: {', '.join(unknown)}")
        if self.id not in signer_ids:
            raise ctl.RequestRefused("not-a-member", "this guardian is not among the signers")
        signers = sorted(index[g] for g in signer_ids)
        return {i: members[i] for i in signers}, signers

    async def _op_sign(self, op: ops.Sign) -> dict[str, Any]:
        vault_id, message, nonce = op.vault, op.message, op.nonce
        share = self.keystore.active_share(vault_id)
        members, signers = self._signers(vault_id, share, op.signers)
        spend = self._policy_gate(vault_id, share, message, op.tx)
        sid = session_id("sign", vault_id, share.epoch, members, nonce)
        if share.scheme == ECDSA:
            pre = await self._presign(vault_id, share, sid + b"p", members, signers)
            sig = await self._run(sid + b"o", "online", members, OnlineSignParty(pre, sid + b"o", message))
        else:
            self._claim(vault_id, share.epoch, sid)
            sig = await self._run(sid, "frost-sign", members, FrostSignParty(share, sid, signers, message))
        self._policy_record(vault_id, spend)
        return {"signature": sig}

    def _vault_bans(self, vault_id: str, share: KeyShare) -> VaultBans:
        """The one ban list of the vault's active epoch (loaded from the share once)."""
        bans = self._bans.get(vault_id)
        if bans is None or bans.epoch != share.epoch:
            bans = VaultBans(self.keystore, vault_id, share.epoch, share.banned, self._stop_sessions_with)
            self._bans[vault_id] = bans
        return bans

    def _stop_sessions_with(self, bans: VaultBans, j: int) -> None:
        """Abort every running session that uses the banned party's OT state with this vault epoch."""
        for session in list(self.sessions.values()):
            if session.bans is bans and j in session.by_index:
                session.stop(ProtocolAbort([j], "banned", f"participant {j} was banned by another session"))

    def _claim(self, vault_id: str, epoch: int, sid: bytes) -> None:
        """Record, durably and before the first message, that this guardian runs session ``sid`` with
        its share of ``epoch``.  A repeated request (an owner re-approving a nonce after a restart or
        a flooded replay guard) is refused: a second run under one id would repeat per-session values,
        and its signed messages could be passed off as equivocation in the first (SECURITY #26, #28)."""
        try:
            self.keystore.claim_session(vault_id, epoch, sid)
        except AlreadyUsed:
            raise ctl.RequestRefused("replay", "this session already ran; a session id is never reused") from None

    async def _presign(
        self, vault_id: str, share: KeyShare, sid: bytes, members: Mapping[int, str], signers: list[int]
    ) -> Presignature:
        """One presigning run.  Its id is claimed in the store first: an owner (or anyone) repeating a
        request nonce is refused for good, whatever the in-memory replay guard forgot (the signing
        session id itself is jointly random, so no repeat could make two runs share it anyway)."""
        bans = self._vault_bans(vault_id, share)
        bans.persist()  # a ban that could not be stored yet: no OT-based session until it is
        self._claim(vault_id, share.epoch, sid)
        party = PresignParty(share, sid, signers, bans=bans)
        return await self._run(sid, "presign", members, party, uses_ot_of=bans)

    async def _op_presign(self, op: ops.Presign) -> dict[str, Any]:
        vault_id, count, nonce = op.vault, op.count, op.nonce
        share = self.keystore.active_share(vault_id)
        if share.scheme != ECDSA:
            raise ctl.RequestRefused("bad-request", "presignatures exist for ecdsa-secp256k1 vaults only")
        members, signers = self._signers(vault_id, share, op.signers)
        ids = []
        for k in range(count):
            sid = session_id("presign", vault_id, share.epoch, members, nonce + k.to_bytes(4, "big"))
            pre = await self._presign(vault_id, share, sid, members, signers)
            ids.append(pre.presig_id)
            self.keystore.add_presignatures(vault_id, share.epoch, [(pre.presig_id, pre.to_bytes())])
        return {"presignatures": ids}

    async def _op_sign_presigned(self, op: ops.SignPresigned) -> dict[str, Any]:
        vault_id, presig_id, digest, nonce = op.vault, op.presignature, op.message, op.nonce
        share = self.keystore.active_share(vault_id)
        members, signers = self._signers(vault_id, share, op.signers)
        spend = self._policy_gate(vault_id, share, digest, op.tx)
        sid = session_id("online", vault_id, share.epoch, members, nonce)
        self._claim(vault_id, share.epoch, sid)
        pre = Presignature.take_from(_StoredPresignatures(self.keystore, vault_id, share.epoch), presig_id)
        if list(pre.signers) != signers:
            raise ctl.RequestRefused("bad-request", "the request names other signers than the presignature's")
        sig = await self._run(sid, "online", members, OnlineSignParty(pre, sid, digest))
        self._policy_record(vault_id, spend)
        return {"signature": sig}

    async def _op_export(self, op: ops.Export) -> dict[str, Any]:
        """The emergency exit: hand this guardian's share to the owner (approved, encrypted to it)."""
        share = self.keystore.active_share(op.vault)
        if share.depth:
            raise ctl.RequestRefused("bad-request", "only master keys are exported")
        return {"index": share.index, "share": share.scheme_obj.group.scalar_to_bytes(share.secret)}

    async def _op_refresh(self, op: ops.Refresh) -> dict[str, Any]:
        vault_id, nonce = op.vault, op.nonce
        share = self.keystore.active_share(vault_id)
        members = self._vault_members(vault_id, share.epoch)
        sid = session_id("refresh", vault_id, share.epoch, members, nonce)
        self._claim(vault_id, share.epoch, sid)
        party = ReshareParty.for_refresh(sid, share)
        new = await self._run(sid, "refresh", members, party)
        assert new is not None
        return self._store_pending(vault_id, new, members)

    async def _op_reshare(self, op: ops.Reshare) -> dict[str, Any]:
        """Deal to a new committee: replace, add or remove guardians, change the threshold.

        ``dealers`` are current holders by guardian id; ``committee`` gives the new indices.  A
        guardian that stays keeps its index, so one node index never names two guardians.
        """
        vault_id, nonce, new_threshold, committee = op.vault, op.nonce, op.threshold, dict(op.committee)
        scheme, expected_key, epoch = get_scheme(op.scheme), op.public_key, op.epoch
        old_members, dealer_ids = dict(op.old_members), op.dealers
        old_index = {g: i for i, g in old_members.items()}
        if any(g not in old_index for g in dealer_ids):
            raise DecodeError("every dealer must be a current holder")
        dealers = sorted(old_index[g] for g in dealer_ids)
        nodes: dict[int, str] = {}
        for i in dealers:
            nodes[i] = old_members[i]
        for i, g in committee.items():
            if nodes.get(i, g) != g or (g in old_index and old_index[g] != i and old_index[g] in nodes):
                raise DecodeError(f"index {i} would name two guardians; a staying guardian keeps its index")
            nodes[i] = g
        old_share: KeyShare | None = None
        if self.id in dealer_ids:
            old_share = self.keystore.active_share(vault_id)
            if self._vault_members(vault_id, old_share.epoch) != old_members or old_share.epoch != epoch:
                raise ctl.RequestRefused("stale", "the request describes another epoch of this vault")
        me = self._my_index(nodes)
        sid = session_id("reshare", vault_id, epoch, nodes, nonce)
        if old_share is not None:
            self._claim(vault_id, epoch, sid)
        party = ReshareParty(
            sid,
            me,
            scheme=scheme.name,
            old_share=old_share,
            dealers=dealers,
            new_participants=sorted(committee),
            new_threshold=new_threshold,
            refresh=False,
            expected_group_key=_decode_public_key(scheme.name, expected_key),
        )
        new = await self._run(sid, "reshare", nodes, party)
        if new is None:
            return {"dealt": True}
        if new.public_key != expected_key:
            raise ctl.RequestRefused("wrong-key", "the reshared key is not the vault's key")
        owner = None if self._knows(vault_id) else owner_mod.registration(op.owner)
        return self._store_pending(vault_id, new, committee, owner=owner)

    async def _op_repair(self, op: ops.Repair) -> dict[str, Any]:
        vault_id, nonce, members, epoch = op.vault, op.nonce, dict(op.members), op.epoch
        scheme, expected_key, helper_ids, lost_id = get_scheme(op.scheme), op.public_key, op.helpers, op.lost
        index = {g: i for i, g in members.items()}
        if lost_id not in index or any(g not in index for g in helper_ids):
            raise DecodeError("helpers and the lost holder must be holders of the vault")
        helpers = sorted(index[g] for g in helper_ids)
        nodes = {i: members[i] for i in [*helpers, index[lost_id]]}
        sid = session_id("repair", vault_id, epoch, nodes, nonce)
        helper_share: KeyShare | None = None
        if self.id in helper_ids:
            helper_share = self.keystore.active_share(vault_id)
            if self._vault_members(vault_id, helper_share.epoch) != members or helper_share.epoch != epoch:
                raise ctl.RequestRefused("stale", "the request describes another epoch of this vault")
        elif self.id != lost_id:
            raise ctl.RequestRefused("not-a-member", "this guardian is neither a helper nor the lost holder")
        if helper_share is not None:
            self._claim(vault_id, epoch, sid)
        party = RepairParty(
            sid,
            index[self.id],
            scheme=scheme.name,
            helper_share=helper_share,
            helpers=helpers,
            lost=index[lost_id],
            expected_group_key=None if helper_share else _decode_public_key(scheme.name, expected_key),
        )
        one = await self._run(sid, "repair", nodes, party)
        if one is None:
            return {"helped": True}
        if one.public_key != expected_key:
            raise ctl.RequestRefused("wrong-key", "the repaired share is not of the vault's key")
        owner = None if self._knows(vault_id) else owner_mod.registration(op.owner)
        return self._store_pending(vault_id, one, members, owner=owner)


def _decode_public_key(scheme: str, public_key: bytes) -> Any:
    """The group element for a vault's public key as the client knows it (x-only for Taproot)."""
    group = get_scheme(scheme).group
    if scheme == "frost-taproot":
        return None  # x-only: parity unknown to the client; the result is checked against it instead
    return group.decode(public_key)
