"""Mapping between the round engine's :class:`Message` and envelopes.

The engine names participants by their vault indices ``1..n``; the wire names
them by guardian id.  The body of an envelope carrying a Message is the
deterministic CBOR map ``{0: payload, 1: echo}``; session id and round travel in
the envelope header (signed, and bound into the HPKE context).

A broadcast Message becomes *one* signed broadcast envelope; the transport copies
those same bytes to every participant, so all recipients hold an identical signed
statement and can compare them (:func:`gridlock.wire.envelope.is_equivocation`).
A point-to-point Message becomes one envelope encrypted to its recipient.

**Evidence.**  A broadcast envelope is signed over its plaintext, so the raw envelope proves to
anyone what its sender broadcast.  A point-to-point envelope is signed over its HPKE ciphertext,
which only the recipient can open: to let the recipient prove to a third party what plaintext it
got (a bad share, say), the body also carries the sender's **inner signature** over
``(session, protocol, round, sender, recipient, payload, echo)`` — body ``{0: payload, 1: echo,
2: signature}``.  :func:`envelope_to_message` verifies it and attaches to the :class:`Message` its
``evidence``: a blob that :class:`EvidenceVerifier` turns back into the proven Message for any
party of the session.  A complaint (an abort notice) carries the evidence of the accused's
messages, and every party re-runs the public check on them (Pedersen/Gennaro et al.'s "complaint"
step, made non-interactive by signatures): see :mod:`gridlock.protocol.party`.  The inner
signature reveals nothing the recipient did not already have; the recipient alone decides to
publish the plaintext, and does so only in a complaint about that very message.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridlock.crypto import codec, transcript
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.protocol.message import ABORT_ROUND, Message
from gridlock.wire.envelope import MAX_ENVELOPE, Envelope, seal, verify_envelope
from gridlock.wire.errors import ForgedEnvelope, MisdirectedEnvelope, UnknownSender, WrongSession
from gridlock.wire.identity import SIGNATURE_LEN, Identity, PublicIdentity

_B_PAYLOAD, _B_ECHO, _B_SIG = 0, 1, 2
_BODY_KEYS = frozenset({_B_PAYLOAD, _B_ECHO})
_P2P_BODY_KEYS = frozenset({_B_PAYLOAD, _B_ECHO, _B_SIG})
MESSAGE_LABEL = b"gridlock/protocol-message/v1"  # label of the inner signature (Identity.sign)
_EV_BROADCAST, _EV_P2P = 0, 1


def message_statement(
    session_id: bytes, protocol: str, round: int, sender: str, recipient: str, payload: bytes, echo: bytes
) -> bytes:
    """What the inner signature of a point-to-point message covers (injective encoding)."""
    return transcript.encode(
        MESSAGE_LABEL,
        session_id,
        protocol.encode(),
        transcript.int_field(round),
        sender.encode(),
        recipient.encode(),
        payload,
        echo,
    )


def encode_body(msg: Message, inner_signature: bytes | None = None) -> bytes:
    body: dict[int, bytes] = {_B_PAYLOAD: msg.payload, _B_ECHO: msg.echo}
    if inner_signature is not None:
        body[_B_SIG] = inner_signature
    return codec.dumps(body)


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
    inner: bytes | None = None
    if msg.recipient is not None:
        recipient = index_to_identity.get(msg.recipient)
        if recipient is None:
            raise InvalidParameterError(f"no identity known for participant {msg.recipient}")
        statement = message_statement(
            msg.session_id, protocol, msg.round, identity.guardian_id, recipient.guardian_id, msg.payload, msg.echo
        )
        inner = identity.sign(MESSAGE_LABEL, statement)
    envelope = seal(
        identity,
        session_id=msg.session_id,
        protocol=protocol,
        round=msg.round,
        seq=seq,
        recipient=recipient,
        expires=expires,
        body=encode_body(msg, inner),
        max_size=max_size,
    )
    return [envelope]


def envelope_to_message(
    env: Envelope, id_to_index: Mapping[str, int], directory: Mapping[str, PublicIdentity] | None = None
) -> Message:
    """The engine's view of an opened envelope (from :func:`open_envelope`).

    With ``directory`` (guardian id → public identity), the inner signature of a point-to-point
    body is verified (:class:`ForgedEnvelope` if it does not hold) and the Message carries
    ``evidence`` (for a broadcast: the raw signed envelope).  Without it the Message is
    authenticated by the envelope alone and carries no evidence.

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
    keys = _BODY_KEYS if env.recipient is None else _P2P_BODY_KEYS
    m = codec.load_map(env.body, keys, max_size=len(env.body))
    payload, echo = codec.get_bytes(m, _B_PAYLOAD), codec.get_bytes(m, _B_ECHO)
    evidence = b""
    if directory is not None:
        if env.recipient is None:
            evidence = codec.dumps({0: _EV_BROADCAST, 1: env.raw})
        else:
            sig = codec.get_bytes(m, _B_SIG, SIGNATURE_LEN)
            statement = message_statement(
                env.session_id, env.protocol, env.round, env.sender, env.recipient, payload, echo
            )
            pub = directory.get(env.sender)
            if pub is None or not pub.verify(MESSAGE_LABEL, statement, sig):
                raise ForgedEnvelope(f"inner signature of a message from {env.sender} does not verify")
            evidence = codec.dumps(
                {
                    0: _EV_P2P,
                    1: env.session_id,
                    2: env.protocol,
                    3: env.round,
                    4: env.sender,
                    5: env.recipient,
                    6: payload,
                    7: echo,
                    8: sig,
                }
            )
    return Message(
        session_id=env.session_id,
        sender=sender,
        recipient=recipient,
        round=env.round,
        payload=payload,
        echo=echo,
        evidence=evidence,
    )


class EvidenceVerifier:
    """Turns an evidence blob (from :func:`envelope_to_message`) back into the Message it proves.

    Any participant of the session can run it: a broadcast's raw envelope is checked with
    :func:`verify_envelope` (signature only — expiry and replay do not matter for a proof), a
    point-to-point message's inner signature under its sender's key.  The proven message must
    belong to this session and protocol, and name participants of it.  Raises a
    :class:`~gridlock.wire.errors.WireError` or :class:`DecodeError` when the blob proves nothing;
    this is the callback a session hands its party
    (:meth:`gridlock.protocol.party.RoundProtocol.set_evidence_verifier`).
    """

    def __init__(self, session_id: bytes, protocol: str, participants: Mapping[int, PublicIdentity]) -> None:
        self.session_id = session_id
        self.protocol = protocol
        self.directory = {p.guardian_id: p for p in participants.values()}
        self.index_of = {p.guardian_id: i for i, p in participants.items()}

    def __call__(self, blob: bytes) -> Message:
        m = codec.load_map(blob, frozenset({0, 1}), frozenset(range(2, 9)), max_size=MAX_ENVELOPE)
        kind = codec.get_int(m, 0, 0, 1)
        if kind == _EV_BROADCAST:
            if set(m) != {0, 1}:
                raise DecodeError("malformed broadcast evidence")
            env = verify_envelope(codec.get_bytes(m, 1), self.directory)
            if not env.is_broadcast:
                raise DecodeError("broadcast evidence holds a point-to-point envelope")
            self._check(env.session_id, env.protocol, env.round)
            msg = envelope_to_message(env, self.index_of)
            return Message(msg.session_id, msg.sender, None, msg.round, msg.payload, msg.echo, blob)
        if set(m) != set(range(9)):
            raise DecodeError("malformed message evidence")
        session_id, protocol = codec.get_bytes(m, 1), codec.get_str(m, 2, 32)
        round_no = codec.get_int(m, 3, 0, 2**32 - 1)
        sender, recipient = codec.get_str(m, 4), codec.get_str(m, 5)
        payload, echo, sig = codec.get_bytes(m, 6), codec.get_bytes(m, 7), codec.get_bytes(m, 8, SIGNATURE_LEN)
        self._check(session_id, protocol, round_no)
        pub = self.directory.get(sender)
        if pub is None or recipient not in self.index_of:
            raise UnknownSender("evidence names a guardian that is not a participant of this session")
        statement = message_statement(session_id, protocol, round_no, sender, recipient, payload, echo)
        if not pub.verify(MESSAGE_LABEL, statement, sig):
            raise ForgedEnvelope(f"evidence: the signature of {sender} does not verify")
        return Message(session_id, self.index_of[sender], self.index_of[recipient], round_no, payload, echo, blob)

    def _check(self, session_id: bytes, protocol: str, round_no: int) -> None:
        if session_id != self.session_id or protocol != self.protocol:
            raise WrongSession("evidence from another session or protocol")
        if round_no == ABORT_ROUND:
            raise DecodeError("an abort notice is a claim, not evidence")
