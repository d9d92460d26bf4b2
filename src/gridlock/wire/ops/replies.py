"""Typed replies: one frozen dataclass per kind of answer a guardian gives.

A guardian builds its answer as one of these and sends :meth:`Reply.to_result`; the client reads it
back with :meth:`Reply.from_result`, which refuses missing, unknown or ill-typed fields with
:class:`DecodeError` — a guardian that lies about the shape of its answer gets a typed error at the
owner, never a ``KeyError`` deep in the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from gridlock.errors import DecodeError

R = TypeVar("R", bound="Reply")


def _check(name: str, value: Any, kind: type) -> Any:
    ok = type(value) is kind if kind in (int, bool) else isinstance(value, kind)
    if not ok:
        raise DecodeError(f"reply field {name!r} must be {kind.__name__}")
    return value


@dataclass(frozen=True)
class Reply:
    """Base of every reply; a subclass's fields are its wire keys and ``KINDS`` their wire types."""

    KINDS: ClassVar[Mapping[str, type]] = {}

    def to_result(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_result(cls: type[R], result: Mapping[str, Any]) -> R:
        if set(result) != set(cls.KINDS):
            raise DecodeError(f"a {cls.__name__} has the fields {sorted(cls.KINDS)}, not {sorted(result)}")
        reply = cls(**{k: _check(k, result[k], t) for k, t in cls.KINDS.items()})
        reply._check_items()
        return reply

    def _check_items(self) -> None:
        """Checks of a field's items (lists and maps); a subclass adds its own."""


def expect(reply: Reply | BaseException, cls: type[R]) -> R:
    """``reply`` as a ``cls``; raises it if it is an error, :class:`DecodeError` if it is another reply."""
    if isinstance(reply, BaseException):
        raise reply
    if not isinstance(reply, cls):
        raise DecodeError(f"expected a {cls.__name__}, the guardian sent a {type(reply).__name__}")
    return reply


@dataclass(frozen=True)
class PingReply(Reply):
    """``epoch``: the active epoch of the vault the ping named, -1 when it named none, the guardian holds
    no active share of it, or the asker is not a registered client."""

    KINDS: ClassVar[Mapping[str, type]] = {"guardian": str, "time": int, "epoch": int}
    guardian: str
    time: int
    epoch: int = -1


_VAULT_ENTRY: Mapping[str, type] = {"vault": str, "scheme": str, "public_key": bytes, "threshold": int, "epoch": int}


@dataclass(frozen=True)
class VaultsReply(Reply):
    """The vaults a guardian holds an active share of (maps of vault, scheme, public_key, threshold, epoch)."""

    KINDS: ClassVar[Mapping[str, type]] = {"vaults": list}
    vaults: list[dict[str, Any]]

    def _check_items(self) -> None:
        for v in self.vaults:
            if not isinstance(v, dict) or set(v) != set(_VAULT_ENTRY):
                raise DecodeError("a vault listing entry is malformed")
            for k, t in _VAULT_ENTRY.items():
                _check(k, v[k], t)


@dataclass(frozen=True)
class InfoReply(Reply):
    """A vault's public facts at one holder (members as ``[[index, guardian id], …]``); ``group_key``
    is the *untweaked* key BIP32 derives from (for Taproot the internal key ``P``, ``b""`` when the
    share predates keeping it) and ``chain_code`` its chain code (:mod:`gridlock.crypto.hd`)."""

    KINDS: ClassVar[Mapping[str, type]] = {
        "scheme": str,
        "public_key": bytes,
        "threshold": int,
        "epoch": int,
        "members": list,
        "group_key": bytes,
        "chain_code": bytes,
    }
    scheme: str
    public_key: bytes
    threshold: int
    epoch: int
    members: list[list[Any]]
    group_key: bytes
    chain_code: bytes

    def _check_items(self) -> None:
        for m in self.members:
            if not (isinstance(m, list) and len(m) == 2 and type(m[0]) is int and isinstance(m[1], str)):
                raise DecodeError("reply field 'members' must list [index, guardian id] pairs")

    @property
    def member_map(self) -> dict[int, str]:
        return {int(i): str(g) for i, g in self.members}


@dataclass(frozen=True)
class StoredReply(Reply):
    """A new epoch stored as pending, and the holder's signed acknowledgement of it (SECURITY #16);
    with the key's HD root — untweaked key and chain code, as :class:`InfoReply` — which the owner
    records at keygen and every later epoch must repeat."""

    KINDS: ClassVar[Mapping[str, type]] = {
        "public_key": bytes,
        "epoch": int,
        "transcript_hash": bytes,
        "threshold": int,
        "ack": bytes,
        "group_key": bytes,
        "chain_code": bytes,
    }
    public_key: bytes
    epoch: int
    transcript_hash: bytes
    threshold: int
    ack: bytes
    group_key: bytes = b""
    chain_code: bytes = b""


@dataclass(frozen=True)
class DealtReply(Reply):
    """A reshare dealer that is not a new holder: it dealt and stores nothing."""

    KINDS: ClassVar[Mapping[str, type]] = {"dealt": bool}
    dealt: bool = True


@dataclass(frozen=True)
class HelpedReply(Reply):
    """A repair helper: it contributed and stores nothing."""

    KINDS: ClassVar[Mapping[str, type]] = {"helped": bool}
    helped: bool = True


@dataclass(frozen=True)
class EpochReply(Reply):
    KINDS: ClassVar[Mapping[str, type]] = {"epoch": int}
    epoch: int


@dataclass(frozen=True)
class AckReply(Reply):
    KINDS: ClassVar[Mapping[str, type]] = {"ack": bytes, "epoch": int}
    ack: bytes
    epoch: int


@dataclass(frozen=True)
class SignatureReply(Reply):
    KINDS: ClassVar[Mapping[str, type]] = {"signature": bytes}
    signature: bytes


@dataclass(frozen=True)
class PresignaturesReply(Reply):
    KINDS: ClassVar[Mapping[str, type]] = {"presignatures": list}
    presignatures: list[bytes]

    def _check_items(self) -> None:
        if not all(isinstance(p, bytes) and len(p) == 32 for p in self.presignatures):
            raise DecodeError("reply field 'presignatures' must list 32-byte ids")


@dataclass(frozen=True)
class ExportReply(Reply):
    """A guardian's share for the owner's export: its scalar (``share``), or — from a guardian whose
    store keeps it out of the guardian's reach — ``share`` empty and the scalar sealed to each
    approving owner device (``sealed``: device public key hex → :func:`gridlock.crypto.device_seal.seal`
    under :func:`~gridlock.crypto.device_seal.export_context`), which the guardian cannot open."""

    KINDS: ClassVar[Mapping[str, type]] = {"index": int, "share": bytes, "sealed": dict}
    index: int
    share: bytes = field(repr=False)
    sealed: dict[str, bytes] = field(default_factory=dict)

    def _check_items(self) -> None:
        if self.index < 1:
            raise DecodeError("reply field 'index' must be a share index (1 or more)")
        if not all(isinstance(k, str) and len(k) == 64 and isinstance(v, bytes) for k, v in self.sealed.items()):
            raise DecodeError("reply field 'sealed' must map device keys (hex) to sealed shares")
        if bool(self.share) == bool(self.sealed):
            raise DecodeError("an export reply carries the share or its sealed forms, one of the two")


@dataclass(frozen=True)
class PolicyReply(Reply):
    """The policy a guardian enforces for the vault (its document and fingerprint), its role (a watch
    guardian holds and notifies), and a loosening that waits (``pending``, empty when none, until
    ``unlock_at``, with the reasons it loosens)."""

    KINDS: ClassVar[Mapping[str, type]] = {
        "rules": dict,
        "fingerprint": str,
        "kind": str,
        "pending": dict,
        "unlock_at": int,
        "reasons": list,
    }
    rules: dict[str, Any]
    fingerprint: str
    kind: str
    pending: dict[str, Any]
    unlock_at: int
    reasons: list[str]

    def _check_items(self) -> None:
        if not all(isinstance(r, str) for r in self.reasons):
            raise DecodeError("policy reasons must be text")


@dataclass(frozen=True)
class AuditReply(Reply):
    """Audit entries (JSON text, hash-chained) and the signed head ``[sequence number, head hash]``."""

    KINDS: ClassVar[Mapping[str, type]] = {"entries": list, "head": list, "signature": bytes}
    entries: list[str]
    head: list[Any]
    signature: bytes

    def _check_items(self) -> None:
        if not all(isinstance(e, str) for e in self.entries):
            raise DecodeError("reply field 'entries' must list JSON texts")
        h = self.head
        if not (len(h) == 2 and type(h[0]) is int and isinstance(h[1], str)):
            raise DecodeError("reply field 'head' must be [sequence number, hash]")


@dataclass(frozen=True)
class RecoveryReply(Reply):
    """A device recovery's state and, while it is open, when its time lock ends."""

    KINDS: ClassVar[Mapping[str, type]] = {"state": str, "unlock_at": int}
    state: str
    unlock_at: int


@dataclass(frozen=True)
class RecoveryStateReply(Reply):
    KINDS: ClassVar[Mapping[str, type]] = {"state": str}
    state: str


@dataclass(frozen=True)
class PasswordReply(Reply):
    """A password change at one guardian: ``changed`` when it replaced the verifier now, false when it
    already held the new one (the same change, sent again after an interruption)."""

    KINDS: ClassVar[Mapping[str, type]] = {"changed": bool}
    changed: bool
