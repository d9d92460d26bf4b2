"""Control messages between a client (the owner's SDK) and guardians.

A request travels in an envelope of protocol ``"control"`` whose session id is the request id;
the reply in an envelope of protocol ``"control-reply"`` with the same session id, encrypted to
the client.  Bodies are strict deterministic CBOR: ``{0: op, 1: params}`` and
``{0: ok, 1: result}`` / ``{0: false, 1: {0: code, 1: message, 2: until?, 3: retry_after_ms?}}``.

A request envelope may claim validity at most :data:`MAX_REQUEST_TTL` seconds ahead: it only has
to reach the guardian (the reply may take longer), and its replay state is kept until then.
A guardian that is overloaded answers :attr:`Refusal.BUSY` with a retry hint (``retry_after``,
seconds); the request did not run, so the client may send it again after that pause.  ``params`` and ``result``
are CBOR maps with string keys; ``params`` is the wire form of a typed operation
(:mod:`gridlock.wire.ops`), decoded strictly before any handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gridlock.crypto import codec, transcript
from gridlock.errors import DecodeError, GridlockError
from gridlock.wire import ops

CONTROL = "control"
REPLY = "control-reply"
ACK_LABEL = b"gridlock/epoch-ack/v1"
MAX_REQUEST_TTL = 300  # seconds a control request may claim validity ahead (its replay state lives that long)
REQUEST_TTL = 60  # what the SDK's requests claim: time to reach the guardian, with room for clock skew
MAX_RETRY_AFTER_MS = 60_000


class Refusal(StrEnum):
    """Why a guardian did not complete a request: stable codes for programs (the message is for people).

    Refusals are the guardian's decision (the request is malformed, unauthorised, against the policy,
    a replay, …); the last four are failures while running it.
    """

    ACK_MISSING = "ack-missing"
    BAD_REQUEST = "bad-request"
    BUSY = "busy"
    HASH_MISMATCH = "hash-mismatch"
    HELD = "held"
    NO_OWNER = "no-owner"
    NO_RECOVERY = "no-recovery"
    NOT_A_MEMBER = "not-a-member"
    POLICY = "policy"
    POLICY_MISMATCH = "policy-mismatch"
    RAW_SIGNING = "raw-signing"
    RATE_LIMITED = "rate-limited"
    RECOVERY_PENDING = "recovery-pending"
    REPLAY = "replay"
    STALE = "stale"
    TIME_LOCKED = "time-locked"
    UNAUTHORISED = "unauthorised"
    UNKNOWN_VAULT = "unknown-vault"
    WATCH_REQUIRED = "watch-required"
    WRONG_KEY = "wrong-key"
    WRONG_PASSWORD = "wrong-password"  # noqa: S105 -- a refusal code, not a password
    PROTOCOL_ABORT = "protocol-abort"
    TIMEOUT = "timeout"
    KEYSTORE = "keystore"
    ERROR = "error"


class RequestRefused(GridlockError):
    """A guardian refused a request; ``code`` is stable for programs, ``reason`` the message for people,
    ``until`` (a ``held`` refusal) the time the hold ends, ``retry_after`` (a ``busy`` refusal: the
    request did not run) the seconds to wait before sending it again."""

    def __init__(
        self,
        code: Refusal | str,
        message: str,
        guardian: str | None = None,
        *,
        until: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        known = code in Refusal._value2member_map_
        self.code = Refusal(code) if known else Refusal.ERROR
        self.reason = message if known else f"{code}: {message}"  # never wrapped twice by another layer
        self.guardian = guardian
        self.until = until
        self.retry_after = retry_after
        who = f"guardian {guardian} " if guardian else ""
        super().__init__(f"{who}refused ({self.code}): {self.reason}")


@dataclass(frozen=True)
class Request:
    op: str
    params: dict[str, Any]

    def to_bytes(self) -> bytes:
        return codec.dumps_checked({0: self.op, 1: self.params})

    @classmethod
    def from_bytes(cls, data: bytes) -> Request:
        m = codec.load_map(data, frozenset({0, 1}))
        op = codec.get_str(m, 0)
        if op not in ops.OPS:
            raise DecodeError(f"unknown operation {op!r}")
        params = m[1]
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise DecodeError("request parameters must be a map with text keys")
        return cls(op, params)


def encode_reply(result: Mapping[str, Any]) -> bytes:
    return codec.dumps_checked({0: True, 1: dict(result)})


def encode_error(code: Refusal, message: str, until: int | None = None, retry_after: float | None = None) -> bytes:
    body: dict[int, Any] = {0: str(code), 1: message[:1000]}
    if until is not None:
        body[2] = until
    if retry_after is not None:
        body[3] = min(MAX_RETRY_AFTER_MS, max(0, round(retry_after * 1000)))
    return codec.dumps({0: False, 1: body})


def decode_reply(data: bytes, guardian: str) -> dict[str, Any]:
    """The result map of a reply, or :class:`RequestRefused` carrying the guardian's reason."""
    m = codec.load_map(data, frozenset({0, 1}))
    ok, body = m[0], m[1]
    if ok is True and isinstance(body, dict) and all(isinstance(k, str) for k in body):
        return body
    if ok is False and isinstance(body, dict) and isinstance(body.get(0), str) and isinstance(body.get(1), str):
        until, retry_ms = body.get(2), body.get(3)
        if (
            set(body) - {0, 1, 2, 3}
            or not (until is None or (type(until) is int and 0 <= until < 2**63))
            or not (retry_ms is None or (type(retry_ms) is int and 0 <= retry_ms <= MAX_RETRY_AFTER_MS))
        ):
            raise DecodeError("malformed refusal")
        retry_after = None if retry_ms is None else retry_ms / 1000
        raise RequestRefused(body[0], body[1], guardian, until=until, retry_after=retry_after)
    raise DecodeError("malformed reply")


def ack_statement(vault_id: str, epoch: int, public_key: bytes, transcript_hash: bytes) -> bytes:
    """What a new holder signs once it has stored an epoch (two-phase commit, SECURITY #16)."""
    return transcript.encode(ACK_LABEL, vault_id.encode(), transcript.int_field(epoch), public_key, transcript_hash)
