"""What a transaction moves, as a guardian reads it: one :class:`Movement` per thing of value it
gives away or lets someone else take.

A guardian's policy (allow-lists, limits, the watch guardian's hold) is judged on these and nothing
else, so a chain reading must be *complete*: anything it cannot read precisely is a ``CALL`` to the
contract or program that will interpret it (SECURITY #19), and an amount it cannot know is
:data:`UNBOUNDED`, which no finite limit admits.

Kinds:

* ``TRANSFER`` — ``amount`` of ``asset`` paid to ``destination`` (a recipient address);
* ``APPROVAL`` — ``destination`` (a spender, operator, new authority or grantee) may take up to
  ``amount`` of ``asset`` later (ERC-20 ``approve``, EIP-2612/Permit2 permits, SPL ``approve`` and
  ``setAuthority``, ``setApprovalForAll``);
* ``GRANT`` — ``destination`` is given standing rights (Cosmos authz / feegrant): refused unless the
  owner allowed that grantee;
* ``CALL`` — a contract or program is invoked with ``amount`` of native coin; what it does beyond
  that is its own code's business, so the destination must be trusted (allow-listed) by itself;
* ``FEE`` — the most the transaction can pay in fees (counted toward limits, never allow-listed).

``asset`` is ``""`` for the chain's native coin (wei, satoshi, lamport, the fee denomination's base
unit) and otherwise the token's identity on its chain (an ERC-20/721/1155 contract address, an SPL
mint or token account, a Cosmos denom).  One ERC-721/1155 token is ``"<contract>#<token id>"``
(:mod:`gridlock.chains.ethereum_calldata`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridlock.errors import InvalidParameterError

__all__ = ["NATIVE", "UNBOUNDED", "Kind", "Movement"]

NATIVE = ""
UNBOUNDED = 2**256 - 1  # an amount the reading cannot bound (an unlimited approval, an unknown balance)


class Kind(StrEnum):
    TRANSFER = "transfer"
    APPROVAL = "approval"
    GRANT = "grant"
    CALL = "call"
    FEE = "fee"


@dataclass(frozen=True)
class Movement:
    kind: Kind
    destination: str
    amount: int
    asset: str = NATIVE

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Kind):
            if self.kind not in {k.value for k in Kind}:
                raise InvalidParameterError(f"unknown movement kind {str(self.kind)[:20]!r}")
            object.__setattr__(self, "kind", Kind(self.kind))
        if not isinstance(self.destination, str) or len(self.destination) > 256:
            raise InvalidParameterError("a movement's destination is a short string")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 <= self.amount <= UNBOUNDED:
            raise InvalidParameterError("a movement's amount is an integer in [0, 2^256)")
        if not isinstance(self.asset, str) or len(self.asset) > 256:
            raise InvalidParameterError("a movement's asset is a short string")

    @classmethod
    def transfer(cls, destination: str, amount: int, asset: str = NATIVE) -> Movement:
        return cls(Kind.TRANSFER, destination, amount, asset)

    @classmethod
    def approval(cls, spender: str, amount: int, asset: str) -> Movement:
        return cls(Kind.APPROVAL, spender, amount, asset)

    @classmethod
    def call(cls, contract: str, value: int = 0) -> Movement:
        return cls(Kind.CALL, contract, value, NATIVE)

    @classmethod
    def fee(cls, amount: int, asset: str = NATIVE) -> Movement:
        return cls(Kind.FEE, "", amount, asset)
