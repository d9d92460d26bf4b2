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

Owner authorisation and policy are the next issue's; :class:`Authorizer` is the seam they plug into.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from gridlock.crypto import transcript
from gridlock.crypto.ecdsa.signing import Presignature
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import (
    DecodeError,
    GridlockError,
    InvalidParameterError,
    ProtocolAbort,
    ProtocolStalled,
)
from gridlock.guardian import control as ctl
from gridlock.guardian.keystore import Keystore, KeystoreError
from gridlock.guardian.session import Session, participants_of
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.ecdsa import EcdsaKeygenParty, OnlineSignParty, PresignParty
from gridlock.protocol.frost import FrostSignParty
from gridlock.protocol.party import RoundProtocol
from gridlock.protocol.repair import RepairParty
from gridlock.protocol.reshare import ReshareParty
from gridlock.transport.base import Transport
from gridlock.transport.errors import RecvTimeout, TransportClosed
from gridlock.wire import Envelope, Identity, PublicIdentity, ReplayGuard, WireError, open_envelope, seal

log = logging.getLogger("gridlock.guardian")
T = TypeVar("T")
ECDSA = "ecdsa-secp256k1"
SESSION_LABEL = b"gridlock/session/v1"
MAX_EARLY = 2048  # envelopes held for sessions this guardian has not started yet


class Authorizer(Protocol):
    """The seam for owner authorisation and policy (next issue): raise RequestRefused to refuse."""

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


def _members(params: Mapping[str, Any], key: str) -> dict[int, str]:
    """``[[index, guardian id], …]`` → ``{index: guardian id}`` (distinct indices and guardians)."""
    raw = params.get(key)
    if not isinstance(raw, list) or not 0 < len(raw) <= 64:
        raise DecodeError(f"parameter {key!r} must list [index, guardian id] pairs")
    out: dict[int, str] = {}
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], str)):
            raise DecodeError(f"parameter {key!r} must list [index, guardian id] pairs")
        if isinstance(item[0], bool) or not 0 < item[0] < 1 << 16 or item[0] in out or item[1] in out.values():
            raise DecodeError(f"parameter {key!r} has a bad or repeated index or guardian")
        out[item[0]] = item[1]
    return out


class GuardianNode:
    def __init__(
        self,
        identity: Identity,
        keystore: Keystore,
        transport: Transport,
        directory: Mapping[str, PublicIdentity],
        *,
        authorizer: Authorizer,
        session_timeout: float = 60.0,
        max_sessions: int = 64,
        clock: Callable[[], float] = time.time,
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
        self._early: OrderedDict[bytes, list[Envelope]] = OrderedDict()
        self._slots = asyncio.Semaphore(max_sessions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

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
            log.info("guardian %s: rejected an envelope: %s", self.id, exc)
            return
        if env.protocol == ctl.CONTROL:
            self._spawn(self._serve_request(env))
        elif env.protocol == ctl.REPLY:
            return
        elif env.session_id in self.sessions:
            self.sessions[env.session_id].deliver(env)
        else:  # a peer started before us: hold it (bounded) until our session starts
            self._early.setdefault(env.session_id, []).append(env)
            while sum(len(v) for v in self._early.values()) > MAX_EARLY:
                self._early.popitem(last=False)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- requests ---------------------------------------------------------------------------------
    async def _serve_request(self, env: Envelope) -> None:
        try:
            req = ctl.Request.from_bytes(env.body)
            self.authorizer.authorize(env.sender, req.op, req.params)
            handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] = getattr(
                self, "_op_" + req.op.replace("-", "_")
            )
            async with self._slots:
                body = ctl.encode_reply(await handler(req.params))
        except ctl.RequestRefused as exc:
            body = ctl.encode_error(exc.code, str(exc))
        except ProtocolAbort as exc:
            who = self._names(exc.culprits, getattr(exc, "members", {}))
            body = ctl.encode_error("protocol-abort", f"{exc.check}: {exc.reason}; culprits: {who or 'unknown'}")
        except ProtocolStalled as exc:
            missing = ", ".join(str(m) for m in sorted(exc.missing, key=str)) or "unknown"
            body = ctl.encode_error("timeout", f"{exc}; no answer from: {missing}")
        except (DecodeError, InvalidParameterError) as exc:
            body = ctl.encode_error("bad-request", str(exc))
        except KeystoreError as exc:
            body = ctl.encode_error("keystore", str(exc))
        except GridlockError as exc:
            body = ctl.encode_error("error", str(exc))
        client = self.directory.get(env.sender)
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

    @staticmethod
    def _names(culprits: Iterable[int], members: Mapping[int, str]) -> str:
        return ", ".join(members.get(c, str(c)) for c in sorted(culprits))

    async def _run(
        self,
        sid: bytes,
        protocol: str,
        members: Mapping[int, str],
        party: RoundProtocol[T],
        timeout: float | None = None,
    ) -> T:
        session: Session[T] = Session(
            session_id=sid,
            protocol=protocol,
            identity=self.identity,
            participants=participants_of(self.directory, members),
            transport=self.transport,
            clock=self.clock,
        )
        if sid in self.sessions:
            raise ctl.RequestRefused("busy", "this session is already running")
        self.sessions[sid] = session
        for env in self._early.pop(sid, []):
            session.deliver(env)
        try:
            return await session.run(party, timeout or self.session_timeout)
        except ProtocolAbort as exc:
            exc.members = dict(members)  # type: ignore[attr-defined]
            raise
        finally:
            del self.sessions[sid]

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

    def _store_pending(self, vault_id: str, share: KeyShare, members: Mapping[int, str]) -> dict[str, Any]:
        # the share and its membership in one transaction: a crash leaves both or neither
        meta = dict(self.keystore.metadata(vault_id)) if self._knows(vault_id) else {}
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
    async def _op_ping(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"guardian": self.id, "time": int(self.clock())}

    async def _op_info(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        share = self.keystore.active_share(vault_id)
        return {
            "scheme": share.scheme,
            "public_key": share.public_key,
            "threshold": share.threshold,
            "epoch": share.epoch,
            "members": [[i, g] for i, g in sorted(self._vault_members(vault_id, share.epoch).items())],
        }

    async def _op_keygen(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        scheme = get_scheme(ctl.p_str(params, "scheme"))
        threshold = ctl.p_int(params, "threshold", 2, 64)
        members = _members(params, "members")
        nonce = ctl.p_bytes(params, "nonce", length=32)
        me = self._my_index(members)
        sid = session_id("keygen", vault_id, 0, members, nonce)
        ids = sorted(members)
        party: RoundProtocol[KeyShare]
        if scheme.name == ECDSA:
            party = EcdsaKeygenParty(sid, me, ids, threshold)
        else:
            party = DkgParty(scheme, sid, me, ids, threshold)
        share = await self._run(sid, "keygen", members, party)
        return self._store_pending(vault_id, share, members)

    async def _op_commit(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        epoch = ctl.p_int(params, "epoch")
        acks = params.get("acks")
        if not isinstance(acks, dict):
            raise DecodeError("parameter 'acks' must map guardian ids to signatures")
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

    async def _op_ack(self, params: dict[str, Any]) -> dict[str, Any]:
        """Acknowledge an epoch this guardian already holds (repair: the holders that did not change)."""
        vault_id = ctl.p_str(params, "vault")
        epoch = ctl.p_int(params, "epoch")
        share = self.keystore.share(vault_id, epoch)
        statement = ctl.ack_statement(vault_id, epoch, share.public_key, share.transcript_hash)
        return {"ack": self.identity.sign(ctl.ACK_LABEL, statement), "epoch": epoch}

    async def _op_abort(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        epoch = ctl.p_int(params, "epoch")
        self.keystore.discard_pending(vault_id, epoch)
        return {"epoch": epoch}

    def _signers(self, vault_id: str, share: KeyShare, params: Mapping[str, Any]) -> tuple[dict[int, str], list[int]]:
        members = self._vault_members(vault_id, share.epoch)
        signer_ids = ctl.p_ids(params, "signers")
        index = {g: i for i, g in members.items()}
        unknown = [g for g in signer_ids if g not in index]
        if unknown:
            raise ctl.RequestRefused("not-a-member", f"not holders of this vault: {', '.join(unknown)}")
        if self.id not in signer_ids:
            raise ctl.RequestRefused("not-a-member", "this guardian is not among the signers")
        signers = sorted(index[g] for g in signer_ids)
        return {i: members[i] for i in signers}, signers

    async def _op_sign(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        message = ctl.p_bytes(params, "message", max_len=1 << 16)
        nonce = ctl.p_bytes(params, "nonce", length=32)
        share = self.keystore.active_share(vault_id)
        members, signers = self._signers(vault_id, share, params)
        sid = session_id("sign", vault_id, share.epoch, members, nonce)
        try:
            if share.scheme == ECDSA:
                pre = await self._run(sid + b"p", "presign", members, PresignParty(share, sid + b"p", signers))
                sig = await self._run(sid + b"o", "online", members, OnlineSignParty(pre, sid + b"o", message))
            else:
                sig = await self._run(sid, "frost-sign", members, FrostSignParty(share, sid, signers, message))
        finally:
            self._persist_bans(vault_id, share)
        return {"signature": sig}

    def _persist_bans(self, vault_id: str, share: KeyShare) -> None:
        if share.banned:
            self.keystore.update_share(vault_id, share.epoch, share)

    async def _op_presign(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        count = ctl.p_int(params, "count", 1, 100)
        nonce = ctl.p_bytes(params, "nonce", length=32)
        share = self.keystore.active_share(vault_id)
        if share.scheme != ECDSA:
            raise ctl.RequestRefused("bad-request", "presignatures exist for ecdsa-secp256k1 vaults only")
        members, signers = self._signers(vault_id, share, params)
        ids = []
        try:
            for k in range(count):
                sid = session_id("presign", vault_id, share.epoch, members, nonce + k.to_bytes(4, "big"))
                pre = await self._run(sid, "presign", members, PresignParty(share, sid, signers))
                self.keystore.add_presignatures(vault_id, share.epoch, [(pre.presig_id, pre.to_bytes())])
                ids.append(pre.presig_id)
        finally:
            self._persist_bans(vault_id, share)
        return {"presignatures": ids}

    async def _op_sign_presigned(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        presig_id = ctl.p_bytes(params, "presignature", length=32)
        digest = ctl.p_bytes(params, "message", length=32)
        nonce = ctl.p_bytes(params, "nonce", length=32)
        share = self.keystore.active_share(vault_id)
        members, _ = self._signers(vault_id, share, params)
        pre = Presignature.from_bytes(self.keystore.take_presignature(vault_id, share.epoch, presig_id))
        sid = session_id("online", vault_id, share.epoch, members, nonce)
        sig = await self._run(sid, "online", members, OnlineSignParty(pre, sid, digest))
        return {"signature": sig}

    async def _op_refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        nonce = ctl.p_bytes(params, "nonce", length=32)
        share = self.keystore.active_share(vault_id)
        members = self._vault_members(vault_id, share.epoch)
        ids = sorted(members)
        sid = session_id("refresh", vault_id, share.epoch, members, nonce)
        party = ReshareParty(
            sid,
            share.index,
            scheme=share.scheme,
            old_share=share,
            dealers=ids,
            new_participants=ids,
            new_threshold=share.threshold,
            refresh=True,
        )
        new = await self._run(sid, "refresh", members, party)
        assert new is not None
        return self._store_pending(vault_id, new, members)

    async def _op_reshare(self, params: dict[str, Any]) -> dict[str, Any]:
        """Deal to a new committee: replace, add or remove guardians, change the threshold.

        ``dealers`` are current holders by guardian id; ``committee`` gives the new indices.  A
        guardian that stays keeps its index, so one node index never names two guardians.
        """
        vault_id = ctl.p_str(params, "vault")
        nonce = ctl.p_bytes(params, "nonce", length=32)
        new_threshold = ctl.p_int(params, "threshold", 2, 64)
        committee = _members(params, "committee")
        scheme = get_scheme(ctl.p_str(params, "scheme"))
        expected_key = ctl.p_bytes(params, "public_key", max_len=64)
        epoch = ctl.p_int(params, "epoch")
        old_members = _members(params, "old_members")
        dealer_ids = ctl.p_ids(params, "dealers")
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
        return self._store_pending(vault_id, new, committee)

    async def _op_repair(self, params: dict[str, Any]) -> dict[str, Any]:
        vault_id = ctl.p_str(params, "vault")
        nonce = ctl.p_bytes(params, "nonce", length=32)
        members = _members(params, "members")
        epoch = ctl.p_int(params, "epoch")
        scheme = get_scheme(ctl.p_str(params, "scheme"))
        expected_key = ctl.p_bytes(params, "public_key", max_len=64)
        helper_ids = ctl.p_ids(params, "helpers")
        lost_id = ctl.p_str(params, "lost")
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
        return self._store_pending(vault_id, one, members)


def _decode_public_key(scheme: str, public_key: bytes) -> Any:
    """The group element for a vault's public key as the client knows it (x-only for Taproot)."""
    group = get_scheme(scheme).group
    if scheme == "frost-taproot":
        return None  # x-only: parity unknown to the client; the result is checked against it instead
    return group.decode(public_key)


def new_nonce() -> bytes:
    return secrets.token_bytes(32)
