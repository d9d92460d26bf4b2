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
    check_path,
    check_tx,
    check_vault_nonce,
)


@dataclass(frozen=True)
class Sign(Op):
    """A signature by ``signers``; ``tx`` is the chain transaction ``message`` is a hash of; ``path``
    the non-hardened child key to sign with (``"m"``, left out on the wire: the vault's own key)."""

    NAME: ClassVar[str] = "sign"
    APPROVED: ClassVar[bool] = True
    vault: str
    message: bytes
    signers: tuple[str, ...]
    nonce: bytes
    tx: TxContext | None = None
    approvals: tuple[Approval, ...] = ()
    path: str = "m"

    def __post_init__(self) -> None:
        check_vault_nonce(self)
        check_data("the message", self.message, max_len=MAX_MESSAGE)
        check_ids("signers", self.signers)
        check_tx(self.tx)
        check_approvals(self.approvals)
        check_path(self.path)

    @classmethod
    def read(cls, p: Params) -> Sign:
        return cls(
            p.text("vault"), p.data("message"), p.ids("signers"), p.data("nonce"), p.tx(), p.approvals(), p.path()
        )


@dataclass(frozen=True)
class Presign(Op):
    """``count`` threshold-ECDSA presignatures, stored at ``signers`` for online-only signing, each
    for the key at ``path`` (a DKLs23 presignature is bound to its key, so a child gets its own)."""

    NAME: ClassVar[str] = "presign"
    APPROVED: ClassVar[bool] = True
    vault: str
    count: int
    signers: tuple[str, ...]
    nonce: bytes
    approvals: tuple[Approval, ...] = ()
    path: str = "m"

    def __post_init__(self) -> None:
        check_vault_nonce(self)
        check_int("count", self.count, 1, 100)
        check_ids("signers", self.signers)
        check_approvals(self.approvals)
        check_path(self.path)

    @classmethod
    def read(cls, p: Params) -> Presign:
        return cls(p.text("vault"), p.integer("count"), p.ids("signers"), p.data("nonce"), p.approvals(), p.path())


@dataclass(frozen=True)
class SignPresigned(Op):
    """The online round with stored presignature ``presignature`` over a 32-byte digest, for the key
    at ``path`` (the presignature's own: a guardian refuses one made for another key)."""

    NAME: ClassVar[str] = "sign-presigned"
    APPROVED: ClassVar[bool] = True
    vault: str
    presignature: bytes
    message: bytes
    signers: tuple[str, ...]
    nonce: bytes
    tx: TxContext | None = None
    approvals: tuple[Approval, ...] = ()
    path: str = "m"

    def __post_init__(self) -> None:
        check_vault_nonce(self)
        check_data("the presignature id", self.presignature, length=32)
        check_data("the digest", self.message, length=32)
        check_ids("signers", self.signers)
        check_tx(self.tx)
        check_approvals(self.approvals)
        check_path(self.path)

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
            p.path(),
        )
