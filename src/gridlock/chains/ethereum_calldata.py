"""What an Ethereum transaction moves, read from its ``to``, ``value`` and calldata (SECURITY #19, #31).

A guardian's policy sees only these :class:`~gridlock.chains.movement.Movement` values, so the
reading is complete by construction rather than by enumeration:

* **Contract creation** (no ``to``): a ``CALL`` to ``""`` with the value (there is no address to
  trust; no allow-list holds ``""``).
* **No calldata**: a ``TRANSFER`` of the value to ``to`` — also when the value is 0, so the
  destination is always judged.
* **Calldata**: always a ``CALL`` to ``to`` with the value — the contract runs, and whatever its
  code does beyond what is listed here is trusted only if ``to`` itself is allowed.  Beside it, the
  functions of :data:`FUNCTIONS` (ERC-20, ERC-721, ERC-1155, EIP-2612 / DAI ``permit``, ERC-677
  ``transferAndCall``, Permit2) add what they move, decoded by ``eth-abi`` *only if the calldata is
  exactly the canonical ABI encoding of the arguments* (decoded, re-encoded and compared byte for
  byte: no trailing bytes, no dirty padding, no unusual offsets).

The rules that decide what an owner's allow-list entry means:

1. **Unread calldata is a call to the contract, nothing more.**  A selector not in
   :data:`FUNCTIONS` is only the ``CALL``: allowing a contract allows *every* call to it, including
   functions this module does not decode.  For a token contract that includes its non-standard ways
   of moving tokens (ERC-777 ``send``, ERC-3009 ``transferWithAuthorization``, a token's own
   ``multicall``, mint/burn hooks …), so a token contract should be allow-listed only if its code is
   trusted with arbitrary calls; a per-token limit binds only the functions read here.
2. **A known selector with non-canonical arguments is a movement to nobody known.**  The contract
   may still execute it as the function its selector names (Solidity's decoder ignores trailing
   bytes, older contracts mask dirty address bits) with arguments this reading cannot pin down; such
   calldata has no honest use, so beside the ``CALL`` it is read as that function's kind
   (``TRANSFER`` or ``APPROVAL``) of :data:`~gridlock.chains.movement.UNBOUNDED` of the contract's
   token to the destination ``""`` — refused by any allow-list and by any limit on that token.
3. **Selectors shared between standards are read both ways.**  ``transferFrom(address,address,uint256)``
   and ``approve(address,uint256)`` are the same bytes for ERC-20 (an amount) and ERC-721 (a token
   id), and the calldata does not say which the contract is; both readings are listed, with the same
   destination, so whichever it is is counted.

Assets: ``""`` is wei; an ERC-20 token is its checksummed contract address; one ERC-721 or ERC-1155
token is ``"<checksummed contract>#<decimal token id>"`` (amount 1 for ERC-721, the value for
ERC-1155); an operator approval (``setApprovalForAll``) covers the whole contract, so its asset is the
contract address with amount UNBOUNDED.  Permit2 (Uniswap's ``AllowanceTransfer`` and
``SignatureTransfer``) names the token in its arguments; its ``uint160`` maximum allowance, which
Permit2 never decreases, is UNBOUNDED.  A transfer or approval whose holder is not the vault
(``transferFrom``, a relayed ``permit``) is counted all the same: the vault's signature is what
makes it happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from gridlock.chains.movement import UNBOUNDED, Kind, Movement

__all__ = ["FUNCTIONS", "UNKNOWN", "Function", "nft", "read"]

UNKNOWN = ""  # the destination of what goes to nobody the reading can name
ZERO_ADDRESS = "0x" + "00" * 20
PERMIT2_UNLIMITED = 2**160 - 1  # Permit2 AllowanceTransfer: an allowance it never decreases

Reader = Callable[[str, tuple[Any, ...]], list[Movement]]


class _Unread(Exception):
    """Arguments that decode canonically but that the contract would refuse (mismatched batch lengths)."""


@dataclass(frozen=True)
class Function:
    """A contract function this reading decodes: its ABI argument types, what a non-canonical call of
    it is read as, and how its arguments become movements (``read(contract, args)``)."""

    name: str
    types: tuple[str, ...]
    kind: Kind
    read: Reader

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"

    @property
    def selector(self) -> bytes:
        return bytes(keccak(text=self.signature))[:4]


def _a(value: str) -> str:
    return str(to_checksum_address(value))


def nft(contract: str, token_id: int) -> str:
    """The asset name of one ERC-721 / ERC-1155 token."""
    return f"{contract}#{token_id}"


def _permit2_amount(amount: int) -> int:
    return UNBOUNDED if amount == PERMIT2_UNLIMITED else amount


# --- ERC-20 / ERC-721 / ERC-1155 -------------------------------------------------------------------------
def _transfer(c: str, a: tuple[Any, ...]) -> list[Movement]:  # ERC-20 transfer, ERC-677 transferAndCall
    return [Movement.transfer(_a(a[0]), a[1], c)]


def _transfer_from(c: str, a: tuple[Any, ...]) -> list[Movement]:  # ERC-20 amount or ERC-721 token id
    to, n = _a(a[1]), a[2]
    return [Movement.transfer(to, n, c), Movement.transfer(to, 1, nft(c, n))]


def _approve(c: str, a: tuple[Any, ...]) -> list[Movement]:  # ERC-20 amount or ERC-721 token id
    spender, n = _a(a[0]), a[1]
    if spender == ZERO_ADDRESS:  # ERC-721 clears the token's approval; nobody can spend as address 0
        return []
    erc20 = [Movement.approval(spender, n, c)] if n else []  # an ERC-20 allowance of 0 revokes
    return [*erc20, Movement.approval(spender, 1, nft(c, n))]


def _increase_allowance(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.approval(_a(a[0]), a[1], c)]


def _nft_transfer(c: str, a: tuple[Any, ...]) -> list[Movement]:  # ERC-721 safeTransferFrom (both)
    return [Movement.transfer(_a(a[1]), 1, nft(c, a[2]))]


def _erc1155_transfer(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.transfer(_a(a[1]), a[3], nft(c, a[2]))]


def _erc1155_batch(c: str, a: tuple[Any, ...]) -> list[Movement]:
    to, ids, values = _a(a[1]), a[2], a[3]
    if len(ids) != len(values):
        raise _Unread
    return [Movement.transfer(to, v, nft(c, i)) for i, v in zip(ids, values, strict=True)]


def _approval_for_all(c: str, a: tuple[Any, ...]) -> list[Movement]:  # ERC-721 and ERC-1155
    return [Movement.approval(_a(a[0]), UNBOUNDED, c)] if a[1] else []


def _permit_2612(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.approval(_a(a[1]), a[2], c)]


def _permit_dai(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.approval(_a(a[1]), UNBOUNDED, c)] if a[4] else []


# --- Permit2 -----------------------------------------------------------------------------------------------
def _p2_approve(c: str, a: tuple[Any, ...]) -> list[Movement]:
    token, spender, amount = _a(a[0]), _a(a[1]), a[2]
    return [Movement.approval(spender, _permit2_amount(amount), token)]


def _p2_permit(c: str, a: tuple[Any, ...]) -> list[Movement]:  # owner, (details, spender, sigDeadline), signature
    (token, amount, _, _), spender = a[1][0], _a(a[1][1])
    return [Movement.approval(spender, _permit2_amount(amount), _a(token))]


def _p2_permit_batch(c: str, a: tuple[Any, ...]) -> list[Movement]:
    details, spender = a[1][0], _a(a[1][1])
    return [Movement.approval(spender, _permit2_amount(amount), _a(token)) for token, amount, _, _ in details]


def _p2_transfer_from(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.transfer(_a(a[1]), a[2], _a(a[3]))]


def _p2_transfer_from_batch(c: str, a: tuple[Any, ...]) -> list[Movement]:
    return [Movement.transfer(_a(to), amount, _a(token)) for _, to, amount, token in a[0]]


def _p2_permit_transfer(c: str, a: tuple[Any, ...]) -> list[Movement]:
    (token, _), (to, requested) = a[0][0], a[1]
    return [Movement.transfer(_a(to), requested, _a(token))]


def _p2_permit_transfer_batch(c: str, a: tuple[Any, ...]) -> list[Movement]:
    permitted, details = a[0][0], a[1]
    if len(permitted) != len(details):
        raise _Unread
    return [
        Movement.transfer(_a(to), requested, _a(token))
        for (token, _), (to, requested) in zip(permitted, details, strict=True)
    ]


_T, _A = Kind.TRANSFER, Kind.APPROVAL
_DETAILS = "(address,uint160,uint48,uint48)"  # Permit2 PermitDetails
_PERMITTED = "(address,uint256)"  # Permit2 TokenPermissions; also SignatureTransferDetails (to, amount)

FUNCTIONS: tuple[Function, ...] = (
    Function("transfer", ("address", "uint256"), _T, _transfer),
    Function("transferFrom", ("address", "address", "uint256"), _T, _transfer_from),
    Function("approve", ("address", "uint256"), _A, _approve),
    Function("increaseAllowance", ("address", "uint256"), _A, _increase_allowance),
    Function("transferAndCall", ("address", "uint256", "bytes"), _T, _transfer),  # ERC-677
    Function("permit", ("address", "address", "uint256", "uint256", "uint8", "bytes32", "bytes32"), _A, _permit_2612),
    Function(
        "permit", ("address", "address", "uint256", "uint256", "bool", "uint8", "bytes32", "bytes32"), _A, _permit_dai
    ),
    Function("safeTransferFrom", ("address", "address", "uint256"), _T, _nft_transfer),
    Function("safeTransferFrom", ("address", "address", "uint256", "bytes"), _T, _nft_transfer),
    Function("safeTransferFrom", ("address", "address", "uint256", "uint256", "bytes"), _T, _erc1155_transfer),
    Function("safeBatchTransferFrom", ("address", "address", "uint256[]", "uint256[]", "bytes"), _T, _erc1155_batch),
    Function("setApprovalForAll", ("address", "bool"), _A, _approval_for_all),
    # Permit2 AllowanceTransfer
    Function("approve", ("address", "address", "uint160", "uint48"), _A, _p2_approve),
    Function("permit", ("address", f"({_DETAILS},address,uint256)", "bytes"), _A, _p2_permit),
    Function("permit", ("address", f"({_DETAILS}[],address,uint256)", "bytes"), _A, _p2_permit_batch),
    Function("transferFrom", ("address", "address", "uint160", "address"), _T, _p2_transfer_from),
    Function("transferFrom", ("(address,address,uint160,address)[]",), _T, _p2_transfer_from_batch),
    # Permit2 SignatureTransfer
    Function(
        "permitTransferFrom",
        (f"({_PERMITTED},uint256,uint256)", _PERMITTED, "address", "bytes"),
        _T,
        _p2_permit_transfer,
    ),
    Function(
        "permitTransferFrom",
        (f"({_PERMITTED}[],uint256,uint256)", f"{_PERMITTED}[]", "address", "bytes"),
        _T,
        _p2_permit_transfer_batch,
    ),
    Function(
        "permitWitnessTransferFrom",
        (f"({_PERMITTED},uint256,uint256)", _PERMITTED, "address", "bytes32", "string", "bytes"),
        _T,
        _p2_permit_transfer,
    ),
    Function(
        "permitWitnessTransferFrom",
        (f"({_PERMITTED}[],uint256,uint256)", f"{_PERMITTED}[]", "address", "bytes32", "string", "bytes"),
        _T,
        _p2_permit_transfer_batch,
    ),
)
_BY_SELECTOR = {f.selector: f for f in FUNCTIONS}
assert len(_BY_SELECTOR) == len(FUNCTIONS), "two decoded functions share a selector"


def _canonical(types: tuple[str, ...], body: bytes) -> tuple[Any, ...] | None:
    """The arguments if ``body`` is exactly their canonical ABI encoding, else ``None``."""
    try:
        args = tuple(abi_decode(list(types), body, strict=True))
        same = bytes(abi_encode(list(types), args)) == body
    except Exception:  # eth-abi raises its own decoding errors, ValueError, OverflowError …: not canonical
        return None
    return args if same else None


def read(to: str | None, value: int, data: bytes) -> tuple[Movement, ...]:
    """Everything a call of ``to`` (checksummed; ``None`` creates a contract) with ``value`` wei and
    ``data`` moves, fees aside (see the module doc for the rules)."""
    if to is None:
        return (Movement.call(UNKNOWN, value),)
    if not data:
        return (Movement.transfer(to, value),)
    moves = [Movement.call(to, value)]
    fn = _BY_SELECTOR.get(bytes(data[:4])) if len(data) >= 4 else None
    if fn is None:
        return tuple(moves)
    args = _canonical(fn.types, bytes(data[4:]))
    try:
        decoded = None if args is None else fn.read(to, args)
    except _Unread:
        decoded = None
    if decoded is None:
        decoded = [Movement(fn.kind, UNKNOWN, UNBOUNDED, to)]
    return (*moves, *decoded)
