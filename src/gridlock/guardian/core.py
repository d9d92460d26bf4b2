"""What every part of a guardian node shares: its state, running a protocol session, and the vault
records every operation reads (members per epoch, pending epochs, durable session claims).

:class:`~gridlock.guardian.node.GuardianNode` is assembled from the parts, one concern per module:
admission and dispatch (:mod:`.node`), the owner gate (:mod:`.owner_gate`), the policy gate
(:mod:`.policy_gate`), key operations (:mod:`.key_ops`) and signing operations (:mod:`.sign_ops`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from gridlock.crypto import codec, transcript
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import ProtocolAbort
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.audit import AuditLog
from gridlock.guardian.bans import VaultBans
from gridlock.guardian.policy import VaultPolicy
from gridlock.guardian.session import Session, participants_of
from gridlock.guardian.shares import Approved, backend_of
from gridlock.guardian.store import AlreadyUsed, KeystoreError, ShareStore
from gridlock.guardian.vault_state import VaultState
from gridlock.policy.ledger import Entry
from gridlock.protocol.party import RoundProtocol
from gridlock.transport.base import Transport
from gridlock.transport.errors import TransportClosed
from gridlock.wire import Envelope, Identity, PublicIdentity, ReplayGuard, ops, seal
from gridlock.wire import control as ctl

log = logging.getLogger("gridlock.guardian")
T = TypeVar("T")
ECDSA = "ecdsa-secp256k1"
SESSION_LABEL = b"gridlock/session/v1"
# the public identity an unknown device introduced itself with (device recovery), for the request being served
INTRO: contextvars.ContextVar[PublicIdentity | None] = contextvars.ContextVar("gridlock_intro", default=None)
# who sent the request being served (its client id)
REQUESTER: contextvars.ContextVar[str] = contextvars.ContextVar("gridlock_requester", default="")
# the owner's approval of the request being served, as checked (OwnerGate._approve): a store that
# checks approvals itself is shown it before a share leaves it (gridlock.guardian.shares)
APPROVED: contextvars.ContextVar[Approved | None] = contextvars.ContextVar("gridlock_approved", default=None)


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


class RequestState:
    """The vaults one request works on (:class:`VaultState`): each read from the store at most once
    and written at most once — with the session claim, before the protocol runs, or when the
    request ends — so a signature costs each guardian one state load and one write transaction
    (plus its audit entry).  The policy-ledger entries the request adds go into that same write."""

    def __init__(self, store: ShareStore) -> None:
        self._store = store
        self._vaults: dict[str, VaultState] = {}
        self._dirty: set[str] = set()
        self._ledger: dict[str, list[Entry]] = {}

    def get(self, vault_id: str) -> VaultState:
        if vault_id not in self._vaults:
            self._vaults[vault_id] = VaultState.from_meta(self._store.metadata(vault_id))
        return self._vaults[vault_id]

    def changed(self, vault_id: str) -> None:
        self.get(vault_id)
        self._dirty.add(vault_id)

    def record(self, vault_id: str, entries: Sequence[Entry]) -> None:
        """Policy-ledger entries to append with the request's write."""
        if entries:
            self._ledger.setdefault(vault_id, []).extend(entries)

    def stored(self, vault_id: str, state: VaultState) -> None:
        """The store holds ``state`` now (written with a new share)."""
        self._vaults[vault_id] = state
        self._dirty.discard(vault_id)

    def _changes(self, vault_id: str) -> dict[str, Any] | None:
        return self._vaults[vault_id].to_meta() if vault_id in self._dirty else None

    def claim(self, vault_id: str, epoch: int, sid: bytes) -> None:
        """Claim session ``sid`` and write what this request changed, in one transaction."""
        meta = self._changes(vault_id)
        self._store.claim_session(vault_id, epoch, sid, metadata=meta, ledger=self._ledger.get(vault_id, ()))
        self._dirty.discard(vault_id)
        self._ledger.pop(vault_id, None)

    def flush(self) -> None:
        for vault_id in sorted(self._dirty | set(self._ledger)):
            self._store.set_metadata(vault_id, self._changes(vault_id), ledger=self._ledger.get(vault_id, ()))
        self._dirty.clear()
        self._ledger.clear()


REQUEST: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar("gridlock_request", default=None)


class NodeCore:
    """The state of a guardian node (set by :class:`~gridlock.guardian.node.GuardianNode`) and the
    helpers its operations share."""

    identity: Identity
    id: str
    keystore: ShareStore
    transport: Transport
    directory: dict[str, PublicIdentity]
    session_timeout: float
    clock: Callable[[], float]
    guard: ReplayGuard
    sessions: dict[bytes, Session[Any]]
    audit: AuditLog | None
    kind: str
    known_clients: set[str]
    recovery_delay: float
    password_attempts: int
    _bans: dict[str, VaultBans]
    _early: OrderedDict[bytes, list[Envelope]]

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
            raise ctl.RequestRefused(ctl.Refusal.BUSY, "this session is already running")
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

    async def _notify(self, state: owner_mod.OwnerState, body: dict[str, Any]) -> None:
        """Tell the owner's devices (recovery opened, a spend held, a policy loosening waiting)."""
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

    def _my_index(self, members: Mapping[int, str]) -> int:
        for i, g in members.items():
            if g == self.id:
                return i
        raise ctl.RequestRefused(ctl.Refusal.NOT_A_MEMBER, "this guardian is not among the request's participants")

    def _state(self) -> RequestState:
        """The state of the request being served (a fresh one outside a request)."""
        state = REQUEST.get()
        return state if state is not None else RequestState(self.keystore)

    def _vault(self, vault_id: str) -> VaultState:
        """The vault's state for the request being served (loaded once per request)."""
        return self._state().get(vault_id)

    def _vault_members(self, vault_id: str, epoch: int) -> dict[int, str]:
        return self._vault(vault_id).members_of(vault_id, epoch)

    def _knows(self, vault_id: str) -> bool:
        try:
            self.keystore.vault(vault_id)
        except KeystoreError:
            return False
        return True

    def _store_pending(
        self,
        vault_id: str,
        share: KeyShare,
        members: Mapping[int, str],
        owner: owner_mod.OwnerState | None = None,
        policy: VaultPolicy | None = None,
    ) -> ops.StoredReply:
        # the share and its membership in one transaction: a crash leaves both or neither
        known = self._knows(vault_id)
        vault = self._vault(vault_id) if known else VaultState()
        if owner is not None and vault.owner is None:
            vault.owner = owner
        if policy is not None and not known:
            vault.policy = policy
        vault.add_epoch(share.epoch, members, self.keystore.vault(vault_id).active_epoch if known else None)
        pin = None if known or vault.owner is None else vault.owner.pin(int(self.recovery_delay))
        if pin is None:
            self.keystore.store_pending(vault_id, share, metadata=vault.to_meta())
        else:  # a vault new here: a store that checks the owner's approvals itself pins the owner now
            backend_of(self.keystore).store_new(vault_id, share, vault.to_meta(), pin)
        self._state().stored(vault_id, vault)
        statement = ctl.ack_statement(vault_id, share.epoch, share.public_key, share.transcript_hash)
        return ops.StoredReply(
            share.public_key,
            share.epoch,
            share.transcript_hash,
            share.threshold,
            self.identity.sign(ctl.ACK_LABEL, statement),
            share.untweaked_key_bytes,
            share.chain_code,
        )

    def _owner(self, vault_id: str) -> owner_mod.OwnerState:
        owner = self._vault(vault_id).owner
        if owner is None:
            raise ctl.RequestRefused(ctl.Refusal.NO_OWNER, "this vault has no registered owner")
        return owner

    def _save(self, vault_id: str) -> None:
        """The request changed the vault's state (written with the session claim or when it ends)."""
        self._state().changed(vault_id)

    async def _claim(self, vault_id: str, epoch: int, sid: bytes) -> None:
        """Record, durably and before the first message, that this guardian runs session ``sid`` with
        its share of ``epoch``.  A repeated request (an owner re-approving a nonce after a restart or
        a flooded replay guard) is refused: a second run under one id would repeat per-session values,
        and its signed messages could be passed off as equivocation in the first (SECURITY #26, #28).

        The claim writes on the event loop, not in a worker thread: from loading the vault's state
        to this write nothing else runs, so the policy's ledger read, the spend it records and the
        owner's approval counters are checked and written as one step.  Another request on the same
        vault judged in between would not see this one's spend (a limit passed by concurrent
        requests) and would write back older counters (``tests/test_policy_attacks.py``)."""
        state = self._state()
        try:
            state.claim(vault_id, epoch, sid)
        except AlreadyUsed:
            raise ctl.RequestRefused(
                ctl.Refusal.REPLAY, "this session already ran; a session id is never reused"
            ) from None
