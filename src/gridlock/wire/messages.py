"""Mapping between the round engine's :class:`Message` and envelopes.

The engine names participants by their vault indices ``1..n``; the wire names
them by guardian id.  The body of an envelope carrying a Message is the
deterministic CBOR map ``{0: payload, 1: echo}``; session id and round travel in
the envelope header (signed, and bound into the HPKE context).

A broadcast Message becomes *one* signed broadcast envelope; the transport copies
those same bytes to every participant, so all recipients hold an identical signed
statement and can compare them (:func:`gridlock.wire.envelope.is_equivocation`).
A point-to-point Message becomes one envelope encrypted to its recipient.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridlock.crypto import codec
from gridlock.errors import InvalidParameterError
from gridlock.protocol.message import Message
from gridlock.wire.envelope import MAX_ENVELOPE, Envelope, seal
from gridlock.wire.errors import MisdirectedEnvelope, UnknownSender
from gridlock.wire.identity import Identity, PublicIdentity

_B_PAYLOAD, _B_ECHO = 0, 1
_BODY_KEYS = frozenset({_B_PAYLOAD, _B_ECHO})


def encode_body(msg: Message) -> bytes:
    return codec.dumps({_B_PAYLOAD: msg.payload, _B_ECHO: msg.echo})


def message_to_envelope(
    msg: Message,
    identity: Identity,
    index_to_identity: Mapping[int, PublicIdentity],
    protocol: str,
    seq: int,
    expires: int,
    *,
    max_size: int = MAX_ENVELOPE,
) -> list[bytes]:
    """Seal ``msg`` from ``identity``; returns the envelopes to hand to the transport.

    ``index_to_identity`` maps the vault's participant indices to public identities;
    the sender's entry must be ``identity`` itself.  The list holds one envelope: the
    broadcast (which the transport copies to every participant) or the encrypted
    point-to-point envelope.  ``seq`` is the sender's next sequence number in the session.
    """
    if not isinstance(msg, Message):
        raise InvalidParameterError("msg must be a protocol Message")
    if not isinstance(msg.payload, bytes) or not isinstance(msg.echo, bytes):
        raise InvalidParameterError("message payload and echo must be bytes")
    me = index_to_identity.get(msg.sender)
    if me is None or me.guardian_id != identity.guardian_id:
        raise InvalidParameterError(f"participant {msg.sender} is not this identity ({identity.guardian_id})")
    recipient: PublicIdentity | None = None
    if msg.recipient is not None:
        recipient = index_to_identity.get(msg.recipient)
        if recipient is None:
            raise InvalidParameterError(f"no identity known for participant {msg.recipient}")
    envelope = seal(
        identity,
        session_id=msg.session_id,
        protocol=protocol,
        round=msg.round,
        seq=seq,
        recipient=recipient,
        expires=expires,
        body=encode_body(msg),
        max_size=max_size,
    )
    return [envelope]


def envelope_to_message(env: Envelope, id_to_index: Mapping[str, int]) -> Message:
    """The engine's view of an opened envelope (from :func:`open_envelope`).

    Raises :class:`UnknownSender` / :class:`MisdirectedEnvelope` when the sender or
    recipient is not a participant of ``id_to_index``, and :class:`DecodeError` for a
    malformed body.
    """
    if not isinstance(env, Envelope):
        raise InvalidParameterError("env must be an Envelope")
    if env.encrypted:
        raise InvalidParameterError("envelope body is still encrypted; open it with open_envelope first")
    sender = id_to_index.get(env.sender)
    if sender is None:
        raise UnknownSender(f"sender {env.sender} is not a participant of this session")
    recipient: int | None = None
    if env.recipient is not None:
        recipient = id_to_index.get(env.recipient)
        if recipient is None:
            raise MisdirectedEnvelope(f"recipient {env.recipient} is not a participant of this session")
    m = codec.load_map(env.body, _BODY_KEYS, max_size=len(env.body))
    return Message(
        session_id=env.session_id,
        sender=sender,
        recipient=recipient,
        round=env.round,
        payload=codec.get_bytes(m, _B_PAYLOAD),
        echo=codec.get_bytes(m, _B_ECHO),
    )
