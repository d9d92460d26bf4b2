"""Signed, end-to-end encrypted envelopes: the unit a router carries (SECURITY #20, #25).

Wire format (version 1): one deterministic CBOR map with integer keys ::

    0 version      uint, = 1
    1 session_id   bstr, 1..64 bytes
    2 protocol     tstr, [a-z0-9][a-z0-9._-]{0,31}   ("dkg", "frost-sign", "control", …)
    3 round        uint < 2^32
    4 seq          uint < 2^63, per session and sender, strictly increasing
    5 sender       tstr, guardian id (32 lowercase hex)
    6 recipient    tstr, guardian id; the key is absent for a broadcast
    7 expires      uint, unix seconds
    8 body         bstr: HPKE ciphertext (point to point) or plaintext (broadcast)
    9 signature    bstr, 64 bytes, Ed25519

The *header* is the same map restricted to keys 0..7; its canonical encoding is
``header_bytes``.  Point-to-point bodies are HPKE-sealed to the recipient with
``info = encode("gridlock/wire/hpke-info/v1", header_bytes)``, so a ciphertext
moved under any other header (session, protocol, round, seq, sender, recipient,
expiry) no longer opens.  The sender signs
``encode("gridlock/wire/envelope/v1", header_bytes, body)`` (the injective
transcript encoding), i.e. header and ciphertext.  Broadcasts are signed once, so
every recipient gets the very same bytes and can later prove what the sender
broadcast (:attr:`Envelope.raw`, :func:`is_equivocation`).

:func:`open_envelope` checks, in order: size (before parsing), strict decoding,
known sender, signature, recipient, expiry, session, replay/reorder, and only
then decrypts.  Every refusal is a typed error (:mod:`gridlock.wire.errors`, or
:class:`DecodeError` for malformed bytes) whose message never contains the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from gridlock.crypto import codec, transcript
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.errors import (
    EnvelopeTooLarge,
    ExpiredEnvelope,
    ExpiryTooFar,
    ForgedEnvelope,
    MisdirectedEnvelope,
    UnknownSender,
    WrongSession,
)
from gridlock.wire.identity import SIGNATURE_LEN, Identity, PublicIdentity, is_guardian_id
from gridlock.wire.replay import ReplayGuard

VERSION: Final = 1
MAX_ENVELOPE: Final = 4 << 20  # 4 MiB, the default bound on a whole envelope
MAX_SESSION_ID: Final = 64
MAX_ROUND: Final = 2**32 - 1
MAX_SEQ: Final = 2**63 - 1
MAX_EXPIRES: Final = 2**63 - 1
ENVELOPE_ITEMS: Final = 21  # the map, its 10 keys and their values
MAX_TTL: Final = 86_400  # an envelope may not claim validity more than a day ahead
SIGN_LABEL: Final = b"gridlock/wire/envelope/v1"
HPKE_INFO_LABEL: Final = b"gridlock/wire/hpke-info/v1"
_PROTOCOL_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")

_K_VERSION, _K_SESSION, _K_PROTOCOL, _K_ROUND, _K_SEQ = 0, 1, 2, 3, 4
_K_SENDER, _K_RECIPIENT, _K_EXPIRES, _K_BODY, _K_SIG = 5, 6, 7, 8, 9
_REQUIRED = frozenset(range(10)) - {_K_RECIPIENT}
_OPTIONAL = frozenset({_K_RECIPIENT})


@dataclass(frozen=True, repr=False)
class Envelope:
    """A decoded envelope.

    ``body`` is the plaintext after :func:`open_envelope`; after :func:`decode_envelope`
    or :func:`verify_envelope` it is the body as carried (HPKE ciphertext for point to
    point), and ``encrypted`` says which.  ``raw`` is the exact signed bytes received,
    kept so that a recipient can later prove what the sender sent.  The repr shows the
    header and the body's length, never the body.
    """

    version: int
    session_id: bytes
    protocol: str
    round: int
    seq: int
    sender: str
    recipient: str | None
    expires: int
    body: bytes
    signature: bytes
    raw: bytes
    encrypted: bool

    @property
    def is_broadcast(self) -> bool:
        return self.recipient is None

    def header_bytes(self) -> bytes:
        return _header_bytes(
            self.session_id, self.protocol, self.round, self.seq, self.sender, self.recipient, self.expires
        )

    def __repr__(self) -> str:
        to = "all" if self.recipient is None else self.recipient
        kind = "encrypted" if self.encrypted else "plaintext"
        return (
            f"Envelope({self.protocol} round={self.round} seq={self.seq}, {self.sender}->{to}, "
            f"session={self.session_id.hex()[:16]}…, expires={self.expires}, {len(self.body)} bytes {kind})"
        )

    __str__ = __repr__


# --- encoding helpers ------------------------------------------------------------------


def _header_map(
    session_id: bytes, protocol: str, round: int, seq: int, sender: str, recipient: str | None, expires: int
) -> dict[int, Any]:
    m: dict[int, Any] = {
        _K_VERSION: VERSION,
        _K_SESSION: session_id,
        _K_PROTOCOL: protocol,
        _K_ROUND: round,
        _K_SEQ: seq,
        _K_SENDER: sender,
        _K_EXPIRES: expires,
    }
    if recipient is not None:
        m[_K_RECIPIENT] = recipient
    return m


def _header_bytes(
    session_id: bytes, protocol: str, round: int, seq: int, sender: str, recipient: str | None, expires: int
) -> bytes:
    return codec.dumps(_header_map(session_id, protocol, round, seq, sender, recipient, expires))


def signing_input(header_bytes: bytes, body: bytes) -> bytes:
    """What the sender signs: header and (encrypted) body, domain-separated and injectively encoded."""
    return transcript.encode(SIGN_LABEL, header_bytes, body)


def hpke_info(header_bytes: bytes) -> bytes:
    """The HPKE ``info`` of a point-to-point body: binds the ciphertext to its whole header."""
    return transcript.encode(HPKE_INFO_LABEL, header_bytes)


def _is_int(v: object, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _check_header_args(session_id: object, protocol: object, round: object, seq: object, expires: object) -> None:
    if not isinstance(session_id, bytes) or not 1 <= len(session_id) <= MAX_SESSION_ID:
        raise InvalidParameterError(f"session id must be 1..{MAX_SESSION_ID} bytes")
    if not isinstance(protocol, str) or _PROTOCOL_RE.fullmatch(protocol) is None:
        raise InvalidParameterError("protocol must be a short lowercase name ([a-z0-9._-], at most 32 characters)")
    if not _is_int(round, 0, MAX_ROUND):
        raise InvalidParameterError(f"round must be an integer in 0..{MAX_ROUND}")
    if not _is_int(seq, 0, MAX_SEQ):
        raise InvalidParameterError(f"seq must be an integer in 0..{MAX_SEQ}")
    if not _is_int(expires, 0, MAX_EXPIRES):
        raise InvalidParameterError("expires must be a non-negative integer (unix seconds)")


# --- sealing -----------------------------------------------------------------------------


def seal(
    identity: Identity,
    *,
    session_id: bytes,
    protocol: str,
    round: int,
    seq: int,
    recipient: PublicIdentity | None,
    expires: int,
    body: bytes,
    max_size: int = MAX_ENVELOPE,
) -> bytes:
    """Build, encrypt (point to point) and sign an envelope from ``identity``; returns its wire bytes.

    ``recipient=None`` makes a broadcast with a plaintext body.  Raises
    :class:`InvalidParameterError` for bad arguments and :class:`EnvelopeTooLarge` when
    the result would exceed ``max_size``.
    """
    if not isinstance(identity, Identity):
        raise InvalidParameterError("identity must be a gridlock.wire.Identity")
    if recipient is not None and not isinstance(recipient, PublicIdentity):
        raise InvalidParameterError("recipient must be a PublicIdentity or None")
    if not isinstance(body, bytes):
        raise InvalidParameterError("body must be bytes")
    _check_header_args(session_id, protocol, round, seq, expires)
    if len(body) > max_size:
        raise EnvelopeTooLarge(f"body of {len(body)} bytes exceeds the envelope limit of {max_size} bytes")
    to = None if recipient is None else recipient.guardian_id
    hdr = _header_map(session_id, protocol, round, seq, identity.guardian_id, to, expires)
    header_bytes = codec.dumps(hdr)
    wire_body = body if recipient is None else recipient.encrypt(body, info=hpke_info(header_bytes))
    signature = identity._sign_raw(signing_input(header_bytes, wire_body))
    data = codec.dumps({**hdr, _K_BODY: wire_body, _K_SIG: signature})
    if len(data) > max_size:
        raise EnvelopeTooLarge(f"envelope of {len(data)} bytes exceeds the limit of {max_size} bytes")
    return data


# --- decoding and checking --------------------------------------------------------------


def decode_envelope(data: bytes, *, max_size: int = MAX_ENVELOPE) -> Envelope:
    """Strict structural decoding only (size, canonical CBOR, schema, field bounds); no signature check.

    Raises :class:`EnvelopeTooLarge` (checked before any parsing) or :class:`DecodeError`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("envelope must be bytes")
    if len(data) > max_size:
        raise EnvelopeTooLarge(f"envelope of {len(data)} bytes exceeds the limit of {max_size} bytes")
    data = bytes(data)
    # an envelope is one flat map of 10 scalars: refusing more items first keeps junk from an
    # outsider (say 64 KiB of empty maps) to a few microseconds before the signature is checked
    m = codec.load_map(data, _REQUIRED, _OPTIONAL, max_size=max_size, max_items=ENVELOPE_ITEMS)
    version = codec.get_int(m, _K_VERSION)
    if version != VERSION:
        raise DecodeError(f"unsupported envelope version {version}")
    session_id = codec.get_bytes(m, _K_SESSION)
    if not 1 <= len(session_id) <= MAX_SESSION_ID:
        raise DecodeError(f"envelope session id must be 1..{MAX_SESSION_ID} bytes")
    protocol = codec.get_str(m, _K_PROTOCOL, max_len=32)
    if _PROTOCOL_RE.fullmatch(protocol) is None:
        raise DecodeError("envelope protocol name is malformed")
    sender = m[_K_SENDER]
    if not is_guardian_id(sender):
        raise DecodeError("envelope sender is not a guardian id")
    recipient = m.get(_K_RECIPIENT)
    if _K_RECIPIENT in m and not is_guardian_id(recipient):  # a broadcast omits the key; null is not allowed
        raise DecodeError("envelope recipient is not a guardian id")
    return Envelope(
        version=version,
        session_id=session_id,
        protocol=protocol,
        round=codec.get_int(m, _K_ROUND, 0, MAX_ROUND),
        seq=codec.get_int(m, _K_SEQ, 0, MAX_SEQ),
        sender=sender,
        recipient=recipient,
        expires=codec.get_int(m, _K_EXPIRES, 0, MAX_EXPIRES),
        body=codec.get_bytes(m, _K_BODY),
        signature=codec.get_bytes(m, _K_SIG, SIGNATURE_LEN),
        raw=data,
        encrypted=recipient is not None,
    )


def _sender_key(env: Envelope, directory: Mapping[str, PublicIdentity]) -> PublicIdentity:
    pub = directory.get(env.sender)
    if pub is None:
        raise UnknownSender(f"sender {env.sender} is not a known identity")
    if not isinstance(pub, PublicIdentity) or pub.guardian_id != env.sender:
        raise UnknownSender(f"directory entry for {env.sender} does not match that guardian id")
    return pub


def verify_envelope(data: bytes, directory: Mapping[str, PublicIdentity], *, max_size: int = MAX_ENVELOPE) -> Envelope:
    """Size, strict decoding, known sender and signature — nothing stateful, no decryption.

    This is what a third party runs on :attr:`Envelope.raw` to check what a sender sent.
    """
    env = decode_envelope(data, max_size=max_size)
    pub = _sender_key(env, directory)
    if not pub._verify_raw(signing_input(env.header_bytes(), env.body), env.signature):
        raise ForgedEnvelope(f"signature does not verify under the key of claimed sender {env.sender}")
    return env


def open_envelope(
    data: bytes,
    *,
    me: Identity,
    directory: Mapping[str, PublicIdentity],
    now: int,
    guard: ReplayGuard,
    expect_session: bytes | None = None,
    expect_protocol: str | None = None,
    max_size: int = MAX_ENVELOPE,
    max_ttl: int = MAX_TTL,
    ttl_by_protocol: Mapping[str, int] | None = None,
) -> Envelope:
    """Check an incoming envelope and return it with its body decrypted.

    Checks in this order: size (before parsing), strict decoding, known sender,
    signature, recipient is ``me`` (or broadcast), not expired (``now > expires``) and
    not valid beyond ``now + max_ttl`` (``ttl_by_protocol[protocol]`` instead, for the
    protocols it names: a control request lives minutes, not a day), session (and protocol) as expected, replay and
    reorder via ``guard`` (which records the sequence number), then HPKE decryption.
    The sequence number is recorded before decryption: a validly signed envelope whose
    body does not open (only its signer can make one) still consumes its ``seq``.
    Envelopes refused by any earlier check leave the guard untouched.
    """
    if not isinstance(me, Identity) or not isinstance(guard, ReplayGuard):
        raise InvalidParameterError("me must be an Identity and guard a ReplayGuard")
    if not _is_int(now, 0, MAX_EXPIRES) or not _is_int(max_ttl, 0, MAX_EXPIRES):
        raise InvalidParameterError("now and max_ttl must be non-negative integers")
    env = verify_envelope(data, directory, max_size=max_size)
    if env.recipient is not None and env.recipient != me.guardian_id:
        raise MisdirectedEnvelope(f"envelope for {env.recipient} delivered to {me.guardian_id}")
    if now > env.expires:
        raise ExpiredEnvelope(f"envelope expired at {env.expires} (now {now})")
    ttl = max_ttl if ttl_by_protocol is None else ttl_by_protocol.get(env.protocol, max_ttl)
    if env.expires - now > ttl:
        raise ExpiryTooFar(f"envelope claims validity until {env.expires}, more than {ttl} s ahead of {now}")
    if expect_session is not None and env.session_id != expect_session:
        raise WrongSession("envelope belongs to another session")
    if expect_protocol is not None and env.protocol != expect_protocol:
        raise WrongSession(f"envelope is for protocol {env.protocol!r}, expected {expect_protocol!r}")
    guard.accept(env.session_id, env.sender, env.seq, expires=env.expires, now=now)
    if env.recipient is None:
        return env
    plaintext = me.decrypt(env.body, info=hpke_info(env.header_bytes()))
    return replace(env, body=plaintext, encrypted=False)


# --- equivocation and directories --------------------------------------------------------


def is_equivocation(
    a: bytes, b: bytes, directory: Mapping[str, PublicIdentity], *, max_size: int = MAX_ENVELOPE
) -> bool:
    """Whether two raw envelopes prove that their sender equivocated.

    True iff both verify (same known sender), both are broadcasts of the same
    session, protocol and round, and their bodies differ.  Raises the usual typed
    errors if either does not verify.  (Whether one round may carry several
    broadcasts is the protocol layer's rule; the engine sends one per round.)
    """
    ea = verify_envelope(a, directory, max_size=max_size)
    eb = verify_envelope(b, directory, max_size=max_size)
    return (
        ea.sender == eb.sender
        and ea.is_broadcast
        and eb.is_broadcast
        and (ea.session_id, ea.protocol, ea.round) == (eb.session_id, eb.protocol, eb.round)
        and ea.body != eb.body
    )


def make_directory(publics: Iterable[PublicIdentity]) -> dict[str, PublicIdentity]:
    """A guardian-id → public identity map; refuses two different identities with one id."""
    out: dict[str, PublicIdentity] = {}
    for pub in publics:
        if not isinstance(pub, PublicIdentity):
            raise InvalidParameterError("directory entries must be PublicIdentity values")
        gid = pub.guardian_id
        if gid in out and out[gid].key_bytes() != pub.key_bytes():
            raise InvalidParameterError(f"two different identities share the guardian id {gid}")
        out[gid] = pub
    return out


__all__ = [
    "HPKE_INFO_LABEL",
    "MAX_ENVELOPE",
    "MAX_SESSION_ID",
    "MAX_TTL",
    "SIGN_LABEL",
    "VERSION",
    "Envelope",
    "ReplayGuard",
    "decode_envelope",
    "hpke_info",
    "is_equivocation",
    "make_directory",
    "open_envelope",
    "seal",
    "signing_input",
    "verify_envelope",
]
