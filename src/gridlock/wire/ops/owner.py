"""The owner's operations on a vault's guardians: the policy, device recovery and the password change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gridlock.errors import InvalidParameterError
from gridlock.wire.approval import Approval
from gridlock.wire.ops.base import (
    Op,
    Params,
    check_approvals,
    check_data,
    check_text,
    check_vault_nonce,
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
        check_vault_nonce(self)
        if not isinstance(self.rules, Mapping) or not all(isinstance(k, str) for k in self.rules):
            raise InvalidParameterError("policy rules are a map with text keys")
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> PolicySet:
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
        check_text("vault id", self.vault)
        check_data("the new device key", self.new_device, length=32)
        check_data("the lost device key", self.lost_device, length=32)
        check_data("the password verifier", self.verifier, max_len=64)

    @classmethod
    def read(cls, p: Params) -> RecoveryStart:
        return cls(p.text("vault"), p.data("new_device"), p.data("lost_device"), p.data("verifier"))


@dataclass(frozen=True)
class RecoveryFinish(Op):
    NAME: ClassVar[str] = "recovery-finish"
    vault: str
    verifier: bytes
    notify: str

    def __post_init__(self) -> None:
        check_text("vault id", self.vault)
        check_data("the password verifier", self.verifier, max_len=64)
        check_text("the new device's client id", self.notify, 64)

    @classmethod
    def read(cls, p: Params) -> RecoveryFinish:
        return cls(p.text("vault"), p.data("verifier"), p.text("notify"))


# --- password change (device-approved and password-proved) -----------------------------------------
MIN_VERIFIER = 16  # what a registration accepts (gridlock.guardian.owner.registration)
MAX_VERIFIER = 64


@dataclass(frozen=True)
class PasswordChange(Op):
    """Replace this guardian's password verifier of the vault: ``verifier`` proves the old password
    (checked under the same failure budget as a recovery's), ``new_verifier`` is the new password's
    Argon2id verifier salted for this guardian.  Owner-approved too, so the password alone (a thief
    who learnt it, without the device) changes nothing; neither verifier is in what the approvals sign
    (``wire.approval.PER_GUARDIAN``): each guardian gets its own."""

    NAME: ClassVar[str] = "password-change"
    APPROVED: ClassVar[bool] = True
    vault: str
    verifier: bytes
    new_verifier: bytes
    nonce: bytes
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        check_vault_nonce(self)
        for name, v in (("the old password verifier", self.verifier), ("the new password verifier", self.new_verifier)):
            check_data(name, v, max_len=MAX_VERIFIER)
            if len(v) < MIN_VERIFIER:
                raise InvalidParameterError(f"{name} must have {MIN_VERIFIER} to {MAX_VERIFIER} bytes")
        if self.verifier == self.new_verifier:
            raise InvalidParameterError("the new password verifier is the old one")
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> PasswordChange:
        return cls(p.text("vault"), p.data("verifier"), p.data("new_verifier"), p.data("nonce"), p.approvals())
