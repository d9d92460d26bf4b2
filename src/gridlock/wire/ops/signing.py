"""Signing operations: a signature, presignatures, the online round with a presignature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gridlock.chains.context import TxContext
from gridlock.wire.approval import Approval
from gridlock.wire.ops.base import (
    MAX_MESSAGE,
    Op,
    Params,
    check_approvals,
    check_data,
    check_ids,
    check_int,
    check_tx,
    check_vault_nonce,
)


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
        check_vault_nonce(self)
        check_data("the message", self.message, max_len=MAX_MESSAGE)
        check_ids("signers", self.signers)
        check_tx(self.tx)
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> Sign:
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
        check_vault_nonce(self)
        check_int("count", self.count, 1, 100)
        check_ids("signers", self.signers)
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> Presign:
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
        check_vault_nonce(self)
        check_data("the presignature id", self.presignature, length=32)
        check_data("the digest", self.message, length=32)
        check_ids("signers", self.signers)
        check_tx(self.tx)
        check_approvals(self.approvals)

    @classmethod
    def read(cls, p: Params) -> SignPresigned:
        return cls(
            p.text("vault"),
            p.data("presignature"),
            p.data("message"),
            p.ids("signers"),
            p.data("nonce"),
            p.tx(),
            p.approvals(),
        )
