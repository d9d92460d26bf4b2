"""Typed control operations: one frozen dataclass per request a client sends a guardian.

A request is built in exactly one way — as one of these types — on both sides.  The client
constructs it (the constructor validates every value), :meth:`Op.to_params` is its wire form (the
``params`` map of a :class:`~gridlock.wire.control.Request`), and :func:`decode` turns a received
map back into the same type: a missing, unknown or ill-typed field is a :class:`DecodeError`
before any handler runs, so a handler only ever sees a well-formed operation.  (Model: h11's
``_events.py``; the Zcash Foundation frost ``round1::Package`` structs.)

Operations that use the key carry the owner devices' approvals (``APPROVED``).  What the devices
sign is every other field of the wire form (:func:`gridlock.wire.approval.subject_bytes`), so the
wire form is the operation's one canonical encoding and :func:`decode` accepts nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.ops.base import Op, Params
from gridlock.wire.ops.owner import PasswordChange, PolicySet, RecoveryFinish, RecoveryStart
from gridlock.wire.ops.replies import (
    AckReply,
    AuditReply,
    DealtReply,
    EpochReply,
    ExportReply,
    HelpedReply,
    InfoReply,
    PasswordReply,
    PingReply,
    PolicyReply,
    PresignaturesReply,
    RecoveryReply,
    RecoveryStateReply,
    Reply,
    SignatureReply,
    StoredReply,
    VaultsReply,
    expect,
)
from gridlock.wire.ops.signing import Presign, Sign, SignPresigned
from gridlock.wire.ops.vault import (
    AbortEpoch,
    Ack,
    Audit,
    Commit,
    Export,
    Info,
    Keygen,
    ListVaults,
    Ping,
    PolicyCancel,
    PolicyShow,
    RecoveryCancel,
    RecoveryStatus,
    Refresh,
    Repair,
    Reshare,
)

__all__ = [
    "OPS",
    "REPLIES",
    "AbortEpoch",
    "Ack",
    "AckReply",
    "Audit",
    "AuditReply",
    "Commit",
    "DealtReply",
    "EpochReply",
    "Export",
    "ExportReply",
    "HelpedReply",
    "Info",
    "InfoReply",
    "Keygen",
    "ListVaults",
    "Op",
    "PasswordChange",
    "PasswordReply",
    "Ping",
    "PingReply",
    "PolicyCancel",
    "PolicyReply",
    "PolicySet",
    "PolicyShow",
    "Presign",
    "PresignaturesReply",
    "RecoveryCancel",
    "RecoveryFinish",
    "RecoveryReply",
    "RecoveryStart",
    "RecoveryStateReply",
    "RecoveryStatus",
    "Refresh",
    "Repair",
    "Reply",
    "Reshare",
    "Sign",
    "SignPresigned",
    "SignatureReply",
    "StoredReply",
    "VaultsReply",
    "decode",
    "expect",
    "read_reply",
]

OPS: dict[str, type[Op]] = {
    cls.NAME: cls
    for cls in (
        Ping,
        ListVaults,
        Info,
        PolicyShow,
        RecoveryStatus,
        Audit,
        Keygen,
        Ack,
        AbortEpoch,
        Commit,
        Refresh,
        Export,
        PolicyCancel,
        RecoveryCancel,
        Sign,
        Presign,
        SignPresigned,
        Reshare,
        Repair,
        PolicySet,
        RecoveryStart,
        RecoveryFinish,
        PasswordChange,
    )
}


def decode(name: str, params: Mapping[str, Any]) -> Op:
    """The typed operation for a received request; :class:`DecodeError` for anything malformed."""
    cls = OPS.get(name)
    if cls is None:
        raise DecodeError(f"unknown operation {name!r}")
    p = Params(params)
    try:
        op = cls.read(p)
    except InvalidParameterError as exc:
        raise DecodeError(str(exc)) from None
    p.finish(name)
    return op


# What each operation may answer (a reshare dealer that is not a new holder only deals; a repair
# helper only helps).
REPLIES: dict[type[Op], tuple[type[Reply], ...]] = {
    Ping: (PingReply,),
    ListVaults: (VaultsReply,),
    Info: (InfoReply,),
    PolicyShow: (PolicyReply,),
    RecoveryStatus: (RecoveryReply,),
    Audit: (AuditReply,),
    Keygen: (StoredReply,),
    Ack: (AckReply,),
    AbortEpoch: (EpochReply,),
    Commit: (EpochReply,),
    Refresh: (StoredReply,),
    Export: (ExportReply,),
    RecoveryCancel: (RecoveryStateReply,),
    PolicyCancel: (PolicyReply,),
    Sign: (SignatureReply,),
    Presign: (PresignaturesReply,),
    SignPresigned: (SignatureReply,),
    Reshare: (StoredReply, DealtReply),
    Repair: (StoredReply, HelpedReply),
    PolicySet: (PolicyReply,),
    RecoveryStart: (RecoveryReply,),
    RecoveryFinish: (RecoveryStateReply,),
    PasswordChange: (PasswordReply,),
}


def read_reply(op: Op, result: Mapping[str, Any]) -> Reply:
    """The typed reply to ``op`` a guardian sent; :class:`DecodeError` for any other shape."""
    for cls in REPLIES[type(op)]:
        if set(result) == set(cls.KINDS):
            return cls.from_result(result)
    raise DecodeError(f"a guardian's answer to {op.NAME!r} has the fields {sorted(result)}")
