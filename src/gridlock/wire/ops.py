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
from dataclasses import dataclass
from typing import Any, ClassVar

from gridlock.chains.context import TxContext
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.approval import Approval

MAX_VAULT_ID = 128
MAX_MESSAGE = 1 << 16  # a raw message to sign; ECDSA signs 32-byte digests
MAX_IDS = 64
MAX_APPROVALS = 16
MAX_INDEX = 1 << 16


# --- value checks (constructors) ---------------------------------------------------------------------
def _text(name: str, v: object, max_len: int = MAX_VAULT_ID) -> None:
    if not isinstance(v, str) or not 0 < len(v) <= max_len:
        raise InvalidParameterError(f"{name} must be a non-empty text of at most {max_len} characters")


def _data(name: str, v: object, *, length: int | None = None, max_len: int = 1 << 20) -> None:
    if not isinstance(v, bytes) or len(v) > max_len or (length is not None and len(v) != length):
        raise InvalidParameterError(f"{name} must be a byte string" + (f" of {length} bytes" if length else ""))


def _int(name: str, v: object, lo: int, hi: int) -> None:
    if type(v) is not int or not lo <= v <= hi:
        raise InvalidParameterError(f"{name} must be an integer in {lo}..{hi}")


def _ids(name: str, v: object) -> None:
    if not isinstance(v, tuple) or not 0 < len(v) <= MAX_IDS or not all(isinstance(g, str) and g for g in v):
        raise InvalidParameterError(f"{name} must be 1 to {MAX_IDS} guardian ids")
    if len(set(v)) != len(v):
        raise InvalidParameterError(f"{name} names a guardian twice")


def _members(name: str, v: object) -> None:
    if not isinstance(v, Mapping) or not 0 < len(v) <= MAX_IDS:
        raise InvalidParameterError(f"{name} must map 1 to {MAX_IDS} indices to guardian ids")
    for i, g in v.items():
        if type(i) is not int or not 0 < i < MAX_INDEX or not isinstance(g, str) or not g:
            raise InvalidParameterError(f"{name} has a bad index or guardian id")
    if len(set(v.values())) != len(v):
        raise InvalidParameterError(f"{name} names a guardian twice")


def _approvals(v: object) -> None:
    if not isinstance(v, tuple) or len(v) > MAX_APPROVALS or not all(isinstance(a, Approval) for a in v):
        raise InvalidParameterError(f"approvals are at most {MAX_APPROVALS} owner approvals")


def _vault_nonce(op: Any) -> None:
    _text("vault id", op.vault)
    _data("the request nonce", op.nonce, length=32)


# --- wire reading (decode) -----------------------------------------------------------------------------
class _Params:
    """Reads the fields of a received params map by type, and refuses the ones nobody read."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params
        self.read: set[str] = set()

    def raw(self, key: str) -> Any:
        self.read.add(key)
        if key not in self.params:
            raise DecodeError(f"parameter {key!r} is missing")
        return self.params[key]

    def has(self, key: str) -> bool:
        return key in self.params

    def typed(self, key: str, kind: type) -> Any:
        v = self.raw(key)
        if type(v) is not kind:
            raise DecodeError(f"parameter {key!r} must be {'an' if kind is int else 'a'} {kind.__name__}")
        return v

    def text(self, key: str) -> str:
        return str(self.typed(key, str))

    def data(self, key: str) -> bytes:
        return bytes(self.typed(key, bytes))

    def integer(self, key: str) -> int:
        return int(self.typed(key, int))

    def ids(self, key: str) -> tuple[str, ...]:
        v = self.typed(key, list)
        if not all(isinstance(g, str) for g in v):
            raise DecodeError(f"parameter {key!r} must be a list of guardian ids")
        return tuple(v)

    def members(self, key: str) -> dict[int, str]:
        """``[[index, guardian id], …]`` in increasing index order → ``{index: guardian id}``."""
        v = self.typed(key, list)
        if not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is int and type(p[1]) is str for p in v):
            raise DecodeError(f"parameter {key!r} must list [index, guardian id] pairs")
        out = {p[0]: p[1] for p in v}
        if [p[0] for p in v] != sorted(out):
            raise DecodeError(f"parameter {key!r} must list distinct indices in increasing order")
        return out

    def mapping(self, key: str) -> dict[str, Any]:
        v = self.typed(key, dict)
        if not all(isinstance(k, str) for k in v):
            raise DecodeError(f"parameter {key!r} must be a map with text keys")
        return dict(v)

    def approvals(self) -> tuple[Approval, ...]:
        """Absent means none (the owner gate then refuses the request as unauthorised)."""
        if not self.has("approvals"):
            return ()
        v = self.typed("approvals", list)
        if not 0 < len(v) <= MAX_APPROVALS:
            raise DecodeError(f"a request carries 1 to {MAX_APPROVALS} owner approvals")
        return tuple(Approval.from_wire(a) for a in v)

    def tx(self) -> TxContext | None:
        return TxContext.from_wire(self.raw("tx")) if self.has("tx") else None

    def finish(self, name: str) -> None:
        extra = sorted(set(self.params) - self.read)
        if extra:
            raise DecodeError(f"operation {name!r} takes no parameter(s) {', '.join(map(repr, extra))}")


def _members_wire(members: Mapping[int, str]) -> list[list[Any]]:
    return [[i, g] for i, g in sorted(members.items())]


def _approved_wire(op: Any, out: dict[str, Any]) -> dict[str, Any]:
    if op.approvals:
        out["approvals"] = [a.to_wire() for a in op.approvals]
    return out


class Op:
    """What every operation provides; subclasses are frozen dataclasses."""

    NAME: ClassVar[str]
    APPROVED: ClassVar[bool] = False  # carries owner approvals bound to every other field
    vault: str | None

    def to_params(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def read(cls, p: _Params) -> Op:
        raise NotImplementedError


# --- open and read-only operations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Ping(Op):
    NAME: ClassVar[str] = "ping"
    vault: None = None

    def to_params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def read(cls, p: _Params) -> Ping:
        return cls()


@dataclass(frozen=True)
class ListVaults(Op):
    NAME: ClassVar[str] = "list"
    vault: None = None

    def to_params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def read(cls, p: _Params) -> ListVaults:
        return cls()


@dataclass(frozen=True)
class _VaultOnly(Op):
    vault: str

    def __post_init__(self) -> None:
        _text("vault id", self.vault)

    def to_params(self) -> dict[str, Any]:
        return {"vault": self.vault}

    @classmethod
    def read(cls, p: _Params) -> Op:
        return cls(p.text("vault"))


@dataclass(frozen=True)
class Info(_VaultOnly):
    NAME: ClassVar[str] = "info"


@dataclass(frozen=True)
class PolicyShow(_VaultOnly):
    NAME: ClassVar[str] = "policy-show"


@dataclass(frozen=True)
class RecoveryStatus(_VaultOnly):
    NAME: ClassVar[str] = "recovery-status"


@dataclass(frozen=True)
class Audit(Op):
    """A guardian's audit log (of one vault, or all), from entry ``since`` on."""

    NAME: ClassVar[str] = "audit"
    vault: str | None = None
    since: int = 0

    def __post_init__(self) -> None:
        if self.vault is not None:
            _text("vault id", self.vault)
        _int("since", self.since, 0, 2**62)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.vault is None else {"vault": self.vault}
        return out | ({"since": self.since} if self.since else {})

    @classmethod
    def read(cls, p: _Params) -> Audit:
        return cls(p.text("vault") if p.has("vault") else None, p.integer("since") if p.has("since") else 0)


# --- key lifecycle -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keygen(Op):
    """Distributed key generation among ``members``; ``owner`` registers the owner with this guardian."""

    NAME: ClassVar[str] = "keygen"
    vault: str
    scheme: str
    threshold: int
    members: Mapping[int, str]
    nonce: bytes
    owner: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _text("scheme", self.scheme, 32)
        _members("members", self.members)
        _int("threshold", self.threshold, 2, len(self.members))
        if self.owner is not None and not isinstance(self.owner, Mapping):
            raise InvalidParameterError("owner is a registration map")

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vault": self.vault,
            "scheme": self.scheme,
            "threshold": self.threshold,
            "members": _members_wire(self.members),
            "nonce": self.nonce,
        }
        if self.owner is not None:
            out["owner"] = dict(self.owner)
        return out

    @classmethod
    def read(cls, p: _Params) -> Keygen:
        return cls(
            p.text("vault"),
            p.text("scheme"),
            p.integer("threshold"),
            p.members("members"),
            p.data("nonce"),
            p.mapping("owner") if p.has("owner") else None,
        )


@dataclass(frozen=True)
class _EpochOp(Op):
    vault: str
    epoch: int

    def __post_init__(self) -> None:
        _text("vault id", self.vault)
        _int("epoch", self.epoch, 0, 2**32)

    def to_params(self) -> dict[str, Any]:
        return {"vault": self.vault, "epoch": self.epoch}

    @classmethod
    def read(cls, p: _Params) -> Op:
        return cls(p.text("vault"), p.integer("epoch"))


@dataclass(frozen=True)
class Ack(_EpochOp):
    """Acknowledge an epoch this guardian already holds (the holders a repair did not change)."""

    NAME: ClassVar[str] = "ack"


@dataclass(frozen=True)
class AbortEpoch(_EpochOp):
    """Drop a pending epoch that will never be committed."""

    NAME: ClassVar[str] = "abort"


@dataclass(frozen=True)
class Commit(Op):
    """Activate ``epoch`` once every new holder acknowledged it (two-phase commit, SECURITY #16)."""

    NAME: ClassVar[str] = "commit"
    vault: str
    epoch: int
    acks: Mapping[str, bytes]

    def __post_init__(self) -> None:
        _text("vault id", self.vault)
        _int("epoch", self.epoch, 0, 2**32)
        if not isinstance(self.acks, Mapping) or not 0 < len(self.acks) <= MAX_IDS:
            raise InvalidParameterError("a commit carries 1 to 64 acknowledgements")
        if not all(isinstance(g, str) and isinstance(s, bytes) and len(s) <= 128 for g, s in self.acks.items()):
            raise InvalidParameterError("acknowledgements map guardian ids to signatures")

    def to_params(self) -> dict[str, Any]:
        return {"vault": self.vault, "epoch": self.epoch, "acks": dict(self.acks)}

    @classmethod
    def read(cls, p: _Params) -> Commit:
        return cls(p.text("vault"), p.integer("epoch"), p.mapping("acks"))


# --- operations that use the key (owner-approved) ------------------------------------------------------
@dataclass(frozen=True)
class _NonceOnly(Op):
    APPROVED: ClassVar[bool] = True
    vault: str
    nonce: bytes
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        return _approved_wire(self, {"vault": self.vault, "nonce": self.nonce})

    @classmethod
    def read(cls, p: _Params) -> Op:
        return cls(p.text("vault"), p.data("nonce"), p.approvals())


@dataclass(frozen=True)
class Refresh(_NonceOnly):
    NAME: ClassVar[str] = "refresh"


@dataclass(frozen=True)
class Export(_NonceOnly):
    """The emergency exit: this guardian's share, to the owner (SECURITY #22: master keys only)."""

    NAME: ClassVar[str] = "export"


@dataclass(frozen=True)
class RecoveryCancel(_NonceOnly):
    NAME: ClassVar[str] = "recovery-cancel"


@dataclass(frozen=True)
class Sign(Op):
    """A signature by ``signers``; ``tx`` is the chain transaction ``message`` is a hash of."""

    NAME: ClassVar[str] = "sign"
    APPROVED: ClassVar[bool] = True
    vault: str
    message: bytes
    signers: tuple[str, ...]
    nonce: bytes
    tx: TxContext | None = None
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _data("the message", self.message, max_len=MAX_MESSAGE)
        _ids("signers", self.signers)
        if self.tx is not None and not isinstance(self.tx, TxContext):
            raise InvalidParameterError("tx must be a TxContext")
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vault": self.vault,
            "message": self.message,
            "signers": list(self.signers),
            "nonce": self.nonce,
        }
        if self.tx is not None:
            out["tx"] = self.tx.to_wire()
        return _approved_wire(self, out)

    @classmethod
    def read(cls, p: _Params) -> Sign:
        return cls(p.text("vault"), p.data("message"), p.ids("signers"), p.data("nonce"), p.tx(), p.approvals())


@dataclass(frozen=True)
class Presign(Op):
    """``count`` threshold-ECDSA presignatures, stored at ``signers`` for online-only signing."""

    NAME: ClassVar[str] = "presign"
    APPROVED: ClassVar[bool] = True
    vault: str
    count: int
    signers: tuple[str, ...]
    nonce: bytes
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _int("count", self.count, 1, 100)
        _ids("signers", self.signers)
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        out = {"vault": self.vault, "count": self.count, "signers": list(self.signers), "nonce": self.nonce}
        return _approved_wire(self, out)

    @classmethod
    def read(cls, p: _Params) -> Presign:
        return cls(p.text("vault"), p.integer("count"), p.ids("signers"), p.data("nonce"), p.approvals())


@dataclass(frozen=True)
class SignPresigned(Op):
    """The online round with stored presignature ``presignature`` over a 32-byte digest."""

    NAME: ClassVar[str] = "sign-presigned"
    APPROVED: ClassVar[bool] = True
    vault: str
    presignature: bytes
    message: bytes
    signers: tuple[str, ...]
    nonce: bytes
    tx: TxContext | None = None
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _data("the presignature id", self.presignature, length=32)
        _data("the digest", self.message, length=32)
        _ids("signers", self.signers)
        if self.tx is not None and not isinstance(self.tx, TxContext):
            raise InvalidParameterError("tx must be a TxContext")
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vault": self.vault,
            "presignature": self.presignature,
            "message": self.message,
            "signers": list(self.signers),
            "nonce": self.nonce,
        }
        if self.tx is not None:
            out["tx"] = self.tx.to_wire()
        return _approved_wire(self, out)

    @classmethod
    def read(cls, p: _Params) -> SignPresigned:
        return cls(
            p.text("vault"),
            p.data("presignature"),
            p.data("message"),
            p.ids("signers"),
            p.data("nonce"),
            p.tx(),
            p.approvals(),
        )


@dataclass(frozen=True)
class Reshare(Op):
    """Deal the key of epoch ``epoch`` (held by ``old_members``) from ``dealers`` to ``committee``.

    A guardian that stays keeps its index.  ``owner`` registers the owner with a new holder.
    """

    NAME: ClassVar[str] = "reshare"
    APPROVED: ClassVar[bool] = True
    vault: str
    nonce: bytes
    scheme: str
    public_key: bytes
    epoch: int
    old_members: Mapping[int, str]
    dealers: tuple[str, ...]
    committee: Mapping[int, str]
    threshold: int
    owner: Mapping[str, Any] | None = None
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _text("scheme", self.scheme, 32)
        _data("the public key", self.public_key, max_len=64)
        _int("epoch", self.epoch, 0, 2**32)
        _members("old_members", self.old_members)
        _ids("dealers", self.dealers)
        _members("committee", self.committee)
        _int("threshold", self.threshold, 2, len(self.committee))
        if self.owner is not None and not isinstance(self.owner, Mapping):
            raise InvalidParameterError("owner is a registration map")
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vault": self.vault,
            "nonce": self.nonce,
            "scheme": self.scheme,
            "public_key": self.public_key,
            "epoch": self.epoch,
            "old_members": _members_wire(self.old_members),
            "dealers": list(self.dealers),
            "committee": _members_wire(self.committee),
            "threshold": self.threshold,
        }
        if self.owner is not None:
            out["owner"] = dict(self.owner)
        return _approved_wire(self, out)

    @classmethod
    def read(cls, p: _Params) -> Reshare:
        return cls(
            p.text("vault"),
            p.data("nonce"),
            p.text("scheme"),
            p.data("public_key"),
            p.integer("epoch"),
            p.members("old_members"),
            p.ids("dealers"),
            p.members("committee"),
            p.integer("threshold"),
            p.mapping("owner") if p.has("owner") else None,
            p.approvals(),
        )


@dataclass(frozen=True)
class Repair(Op):
    """Rebuild holder ``lost``'s share of epoch ``epoch`` from ``helpers`` (all of ``members``)."""

    NAME: ClassVar[str] = "repair"
    APPROVED: ClassVar[bool] = True
    vault: str
    nonce: bytes
    scheme: str
    public_key: bytes
    epoch: int
    members: Mapping[int, str]
    helpers: tuple[str, ...]
    lost: str
    owner: Mapping[str, Any] | None = None
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        _text("scheme", self.scheme, 32)
        _data("the public key", self.public_key, max_len=64)
        _int("epoch", self.epoch, 0, 2**32)
        _members("members", self.members)
        _ids("helpers", self.helpers)
        _text("the lost holder", self.lost)
        if self.owner is not None and not isinstance(self.owner, Mapping):
            raise InvalidParameterError("owner is a registration map")
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vault": self.vault,
            "nonce": self.nonce,
            "scheme": self.scheme,
            "public_key": self.public_key,
            "epoch": self.epoch,
            "members": _members_wire(self.members),
            "helpers": list(self.helpers),
            "lost": self.lost,
        }
        if self.owner is not None:
            out["owner"] = dict(self.owner)
        return _approved_wire(self, out)

    @classmethod
    def read(cls, p: _Params) -> Repair:
        return cls(
            p.text("vault"),
            p.data("nonce"),
            p.text("scheme"),
            p.data("public_key"),
            p.integer("epoch"),
            p.members("members"),
            p.ids("helpers"),
            p.text("lost"),
            p.mapping("owner") if p.has("owner") else None,
            p.approvals(),
        )


@dataclass(frozen=True)
class PolicySet(Op):
    """Replace this guardian's policy rules for the vault (validated by ``guardian.policy``)."""

    NAME: ClassVar[str] = "policy-set"
    APPROVED: ClassVar[bool] = True
    vault: str
    rules: Mapping[str, Any]
    nonce: bytes
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _vault_nonce(self)
        if not isinstance(self.rules, Mapping) or not all(isinstance(k, str) for k in self.rules):
            raise InvalidParameterError("policy rules are a map with text keys")
        _approvals(self.approvals)

    def to_params(self) -> dict[str, Any]:
        return _approved_wire(self, {"vault": self.vault, "rules": dict(self.rules), "nonce": self.nonce})

    @classmethod
    def read(cls, p: _Params) -> PolicySet:
        return cls(p.text("vault"), p.mapping("rules"), p.data("nonce"), p.approvals())


# --- device recovery (password-proved; the new device may be unknown to the guardian) -------------------
@dataclass(frozen=True)
class RecoveryStart(Op):
    NAME: ClassVar[str] = "recovery-start"
    vault: str
    new_device: bytes
    lost_device: bytes
    verifier: bytes

    def __post_init__(self) -> None:
        _text("vault id", self.vault)
        _data("the new device key", self.new_device, length=32)
        _data("the lost device key", self.lost_device, length=32)
        _data("the password verifier", self.verifier, max_len=64)

    def to_params(self) -> dict[str, Any]:
        return {
            "vault": self.vault,
            "new_device": self.new_device,
            "lost_device": self.lost_device,
            "verifier": self.verifier,
        }

    @classmethod
    def read(cls, p: _Params) -> RecoveryStart:
        return cls(p.text("vault"), p.data("new_device"), p.data("lost_device"), p.data("verifier"))


@dataclass(frozen=True)
class RecoveryFinish(Op):
    NAME: ClassVar[str] = "recovery-finish"
    vault: str
    verifier: bytes
    notify: str

    def __post_init__(self) -> None:
        _text("vault id", self.vault)
        _data("the password verifier", self.verifier, max_len=64)
        _text("the new device's client id", self.notify, 64)

    def to_params(self) -> dict[str, Any]:
        return {"vault": self.vault, "verifier": self.verifier, "notify": self.notify}

    @classmethod
    def read(cls, p: _Params) -> RecoveryFinish:
        return cls(p.text("vault"), p.data("verifier"), p.text("notify"))


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
        RecoveryCancel,
        Sign,
        Presign,
        SignPresigned,
        Reshare,
        Repair,
        PolicySet,
        RecoveryStart,
        RecoveryFinish,
    )
}


def decode(name: str, params: Mapping[str, Any]) -> Op:
    """The typed operation for a received request; :class:`DecodeError` for anything malformed."""
    cls = OPS.get(name)
    if cls is None:
        raise DecodeError(f"unknown operation {name!r}")
    p = _Params(params)
    try:
        op = cls.read(p)
    except InvalidParameterError as exc:
        raise DecodeError(str(exc)) from None
    p.finish(name)
    return op
