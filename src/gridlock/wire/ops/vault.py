"""Operations that read a vault or change its key: info, audit, keygen, the two-phase commit, refresh,
reshare, repair, export."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gridlock.errors import InvalidParameterError
from gridlock.wire.approval import Approval
from gridlock.wire.ops.base import (
    MAX_IDS,
    Op,
    Params,
    check_approvals,
    check_data,
    check_ids,
    check_int,
    check_members,
    check_text,
    check_vault_nonce,
)


# --- open and read-only operations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Ping(Op):
    """Are you there?  With ``vault``, a registered client also learns the guardian's active epoch of
    that vault (signer selection skips a guardian left on another epoch)."""

    NAME: ClassVar[str] = "ping"
    vault: str | None = None

    def __post_init__(self) -> None:
        if self.vault is not None:
            check_text("vault id", self.vault)

    @classmethod
    def read(cls, p: Params) -> Ping:
        return cls(p.text("vault") if p.has("vault") else None)


@dataclass(frozen=True)
class ListVaults(Op):
    NAME: ClassVar[str] = "list"
    vault: None = None

    @classmethod
    def read(cls, p: Params) -> ListVaults:
        return cls()


@dataclass(frozen=True)
class _VaultOnly(Op):
    vault: str

    def __post_init__(self) -> None:
        check_text("vault id", self.vault)

    @classmethod
    def read(cls, p: Params) -> Op:
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
            check_text("vault id", self.vault)
        check_int("since", self.since, 0, 2**62)

    @classmethod
    def read(cls, p: Params) -> Audit:
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
        check_vault_nonce(self)
        check_text("scheme", self.scheme, 32)
        check_members("members", self.members)
        check_int("threshold", self.threshold, 2, len(self.members))
        if self.owner is not None and not isinstance(self.owner, Mapping):
            raise InvalidParameterError("owner is a registration map")

    @classmethod
    def read(cls, p: Params) -> Keygen:
        return cls(
            p.text("vault"),
            p.text("scheme"),
            p.integer("threshold"),
            p.members("members"),
            p.data("nonce"),
            p.optional_mapping("owner"),
        )


@dataclass(frozen=True)
class _EpochOp(Op):
    vault: str
    epoch: int

    def __post_init__(self) -> None:
        check_text("vault id", self.vault)
        check_int("epoch", self.epoch, 0, 2**32)

    @classmethod
    def read(cls, p: Params) -> Op:
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
        check_text("vault id", self.vault)
        check_int("epoch", self.epoch, 0, 2**32)
        if not isinstance(self.acks, Mapping) or not 0 < len(self.acks) <= MAX_IDS:
            raise InvalidParameterError("a commit carries 1 to 64 acknowledgements")
        if not all(isinstance(g, str) and isinstance(s, bytes) and len(s) <= 128 for g, s in self.acks.items()):
            raise InvalidParameterError("acknowledgements map guardian ids to signatures")

    @classmethod
    def read(cls, p: Params) -> Commit:
        return cls(p.text("vault"), p.integer("epoch"), p.mapping("acks"))


# --- operations that use the key (owner-approved) ------------------------------------------------------
@dataclass(frozen=True)
class _NonceOnly(Op):
    APPROVED: ClassVar[bool] = True
    vault: str
    nonce: bytes
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        check_vault_nonce(self)
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> Op:
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
class PolicyCancel(_NonceOnly):
    """Drop the policy loosening that waits on this vault (the owner's devices are told of one)."""

    NAME: ClassVar[str] = "policy-cancel"


def _check_key_change(op: Reshare | Repair) -> None:
    """What a reshare and a repair both carry: the vault's key and epoch, and for new holders the
    owner's registration and the vault's policy, under the owner's approvals."""
    check_vault_nonce(op)
    check_text("scheme", op.scheme, 32)
    check_data("the public key", op.public_key, max_len=64)
    check_int("epoch", op.epoch, 0, 2**32)
    if op.owner is not None and not isinstance(op.owner, Mapping):
        raise InvalidParameterError("owner is a registration map")
    if op.policy is not None and not isinstance(op.policy, Mapping):
        raise InvalidParameterError("policy is a policy document")
    check_approvals(op.approvals)


@dataclass(frozen=True)
class Reshare(Op):
    """Deal the key of epoch ``epoch`` (held by ``old_members``) from ``dealers`` to ``committee``.

    A guardian that stays keeps its index.  ``owner`` registers the owner with a new holder.
    ``policy`` is the owner's policy document: a staying holder refuses the reshare unless it is the
    one it enforces (same fingerprint), and a new holder starts enforcing it.
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
    policy: Mapping[str, Any] | None = None
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _check_key_change(self)
        check_members("old_members", self.old_members)
        check_ids("dealers", self.dealers)
        check_members("committee", self.committee)
        check_int("threshold", self.threshold, 2, len(self.committee))

    @classmethod
    def read(cls, p: Params) -> Reshare:
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
            p.optional_mapping("owner"),
            p.optional_mapping("policy"),
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
    policy: Mapping[str, Any] | None = None  # as in Reshare
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        _check_key_change(self)
        check_members("members", self.members)
        check_ids("helpers", self.helpers)
        check_text("the lost holder", self.lost)

    @classmethod
    def read(cls, p: Params) -> Repair:
        return cls(
            p.text("vault"),
            p.data("nonce"),
            p.text("scheme"),
            p.data("public_key"),
            p.integer("epoch"),
            p.members("members"),
            p.ids("helpers"),
            p.text("lost"),
            p.optional_mapping("owner"),
            p.optional_mapping("policy"),
            p.approvals(),
        )
