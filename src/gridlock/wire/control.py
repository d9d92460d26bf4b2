"""Control messages between a client (the owner's SDK) and guardians.

A request travels in an envelope of protocol ``"control"`` whose session id is the request id;
the reply in an envelope of protocol ``"control-reply"`` with the same session id, encrypted to
the client.  Bodies are strict deterministic CBOR: ``{0: op, 1: params}`` and
``{0: ok, 1: result}`` / ``{0: false, 1: {0: code, 1: message}}``.  ``params`` and ``result``
are CBOR maps with string keys; every field is validated by the handler that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridlock.crypto import codec, transcript
from gridlock.errors import DecodeError, GridlockError

CONTROL = "control"
REPLY = "control-reply"
OPS = frozenset(
    {
        "ping",
        "info",
        "list",
        "keygen",
        "ack",
        "commit",
        "abort",
        "sign",
        "presign",
        "sign-presigned",
        "refresh",
        "reshare",
        "repair",
        "export",
        "policy-set",
        "policy-show",
        "audit",
        "recovery-start",
        "recovery-status",
        "recovery-cancel",
        "recovery-finish",
    }
)
ACK_LABEL = b"gridlock/epoch-ack/v1"


class RequestRefused(GridlockError):
    """A guardian refused a request; ``code`` is stable for programs, the message for people."""

    def __init__(self, code: str, message: str, guardian: str | None = None) -> None:
        self.code = code
        self.reason = message  # without the "refused (code)" prefix, so no layer wraps it twice
        self.guardian = guardian
        who = f"guardian {guardian} " if guardian else ""
        super().__init__(f"{who}refused ({code}): {message}")


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
        if op not in OPS:
            raise DecodeError(f"unknown operation {op!r}")
        params = m[1]
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise DecodeError("request parameters must be a map with text keys")
        return cls(op, params)


def encode_reply(result: Mapping[str, Any]) -> bytes:
    return codec.dumps_checked({0: True, 1: dict(result)})


def encode_error(code: str, message: str) -> bytes:
    return codec.dumps({0: False, 1: {0: code, 1: message[:1000]}})


def decode_reply(data: bytes, guardian: str) -> dict[str, Any]:
    """The result map of a reply, or :class:`RequestRefused` carrying the guardian's reason."""
    m = codec.load_map(data, frozenset({0, 1}))
    ok, body = m[0], m[1]
    if ok is True and isinstance(body, dict) and all(isinstance(k, str) for k in body):
        return body
    if ok is False and isinstance(body, dict) and isinstance(body.get(0), str) and isinstance(body.get(1), str):
        raise RequestRefused(body[0], body[1], guardian)
    raise DecodeError("malformed reply")


def ack_statement(vault_id: str, epoch: int, public_key: bytes, transcript_hash: bytes) -> bytes:
    """What a new holder signs once it has stored an epoch (two-phase commit, SECURITY #16)."""
    return transcript.encode(ACK_LABEL, vault_id.encode(), transcript.int_field(epoch), public_key, transcript_hash)


# --- typed readers for params -------------------------------------------------------------------
def p_str(params: Mapping[str, Any], key: str, max_len: int = 128) -> str:
    v = params.get(key)
    if not isinstance(v, str) or not 0 < len(v) <= max_len:
        raise DecodeError(f"parameter {key!r} must be a non-empty text string")
    return v


def p_bytes(params: Mapping[str, Any], key: str, *, max_len: int = 1 << 20, length: int | None = None) -> bytes:
    v = params.get(key)
    if not isinstance(v, bytes) or len(v) > max_len or (length is not None and len(v) != length):
        raise DecodeError(f"parameter {key!r} must be a byte string" + (f" of {length} bytes" if length else ""))
    return v


def p_int(params: Mapping[str, Any], key: str, lo: int = 0, hi: int = 2**32) -> int:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise DecodeError(f"parameter {key!r} must be an integer in {lo}..{hi}")
    return v


def p_ids(params: Mapping[str, Any], key: str, max_len: int = 64) -> list[str]:
    v = params.get(key)
    if not isinstance(v, list) or not 0 < len(v) <= max_len or not all(isinstance(x, str) for x in v):
        raise DecodeError(f"parameter {key!r} must be a list of guardian ids")
    if len(set(v)) != len(v):
        raise DecodeError(f"parameter {key!r} names a guardian twice")
    return list(v)
