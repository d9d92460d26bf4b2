"""Driving one sans-IO protocol party over the network: the only place a round engine meets I/O.

A :class:`Session` maps the vault's participant indices to guardian identities, seals every
outgoing :class:`~gridlock.protocol.message.Message` into an envelope (signed; point-to-point
bodies HPKE-encrypted to the recipient), hands envelopes to the transport, and feeds opened
envelopes of its session back to the party.  It ends with the party's result, with the party's
:class:`~gridlock.errors.ProtocolAbort` (after telling the others), or — when the clock runs out —
with :class:`~gridlock.errors.ProtocolStalled` naming the guardians that never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from gridlock.errors import DecodeError, MessageRejected, ProtocolAbort, ProtocolStalled
from gridlock.guardian.bans import VaultBans
from gridlock.protocol.message import Message
from gridlock.protocol.party import RoundProtocol
from gridlock.transport.base import Transport
from gridlock.wire import Envelope, Identity, PublicIdentity, WireError, envelope_to_message, message_to_envelope
from gridlock.wire.messages import EvidenceVerifier

T = TypeVar("T")
log = logging.getLogger("gridlock.guardian.session")

MAX_BUFFERED = 4096  # envelopes a session holds before its party has consumed them


class Session(Generic[T]):
    """One protocol run at one guardian."""

    def __init__(
        self,
        *,
        session_id: bytes,
        protocol: str,
        identity: Identity,
        participants: Mapping[int, PublicIdentity],
        transport: Transport,
        clock: Callable[[], float] = time.time,
        bans: VaultBans | None = None,
    ) -> None:
        self.session_id = session_id
        self.protocol = protocol
        self.identity = identity
        self.by_index: dict[int, PublicIdentity] = dict(participants)
        self.index_of: dict[str, int] = {p.guardian_id: i for i, p in self.by_index.items()}
        self.directory: dict[str, PublicIdentity] = {p.guardian_id: p for p in self.by_index.values()}
        if identity.guardian_id not in self.index_of:
            raise ValueError("this guardian is not a participant of the session")
        self.me = self.index_of[identity.guardian_id]
        self.transport = transport
        self.clock = clock
        self.inbox: asyncio.Queue[Envelope | None] = asyncio.Queue(MAX_BUFFERED)  # None: see stop()
        self._seq = 0
        self.expires = 0
        self.bans = bans  # the ban list of the vault epoch whose OT state the run uses, if any
        self._stop: ProtocolAbort | None = None

    def stop(self, exc: ProtocolAbort) -> None:
        """End the run with ``exc`` at its next step (e.g. a participant was banned meanwhile)."""
        if self._stop is None:
            self._stop = exc
            with contextlib.suppress(asyncio.QueueFull):  # a full inbox wakes the loop anyway
                self.inbox.put_nowait(None)

    def deliver(self, env: Envelope) -> None:
        """Called by the node for every opened envelope of this session (drops on overflow)."""
        try:
            self.inbox.put_nowait(env)
        except asyncio.QueueFull:
            log.warning("session %s: inbox full, dropping an envelope from %s", self.session_id.hex()[:12], env.sender)

    async def _send(self, messages: Sequence[Message], members: Sequence[int]) -> None:
        for msg in messages:
            envelopes = message_to_envelope(msg, self.identity, self.by_index, self.protocol, self._seq, self.expires)
            self._seq += 1
            if msg.recipient is None:
                targets = [self.by_index[i].guardian_id for i in members if i != self.me]
            else:
                targets = [self.by_index[msg.recipient].guardian_id]
            for data in envelopes:
                for to in targets:
                    await self.transport.send(to, data)

    def guardians(self, indices: frozenset[int] | set[int]) -> list[str]:
        return sorted(self.by_index[i].guardian_id for i in indices if i in self.by_index)

    async def run(self, party: RoundProtocol[T], timeout: float) -> T:
        deadline = self.clock() + timeout
        self.expires = int(deadline) + 5
        members = party.participants
        # complaints carry signed messages; the party checks them with this (SECURITY #28)
        party.set_evidence_verifier(EvidenceVerifier(self.session_id, self.protocol, self.by_index))
        try:
            await self._send(party.start(), members)
            while not party.done:
                if self._stop is not None:
                    party.abort(self._stop)
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise TimeoutError
                env = await asyncio.wait_for(self.inbox.get(), remaining)
                if env is None:
                    continue  # stop() woke us
                try:
                    msg = envelope_to_message(env, self.index_of, self.directory)
                    replies = party.receive(msg)
                except (MessageRejected, WireError, DecodeError) as exc:
                    log.info("session %s: dropped a message from %s: %s", self.session_id.hex()[:12], env.sender, exc)
                    continue
                await self._send(replies, members)
            return party.result
        except ProtocolAbort as exc:
            if exc.notice is not None:
                await self._send([exc.notice], members)
            raise
        except TimeoutError:
            missing = self.guardians(set(party.waiting_for()))
            raise ProtocolStalled(missing, f"{self.protocol} timed out after {timeout:.0f} s") from None


def participants_of(directory: Mapping[str, PublicIdentity], ids: Mapping[int, str]) -> dict[int, PublicIdentity]:
    """Public identities of the guardians at the given indices; unknown guardians are refused."""
    unknown = sorted(g for g in ids.values() if g not in directory)
    if unknown:
        raise DecodeError(f"unknown guardian(s): {', '.join(unknown)}")
    return {i: directory[g] for i, g in ids.items()}
