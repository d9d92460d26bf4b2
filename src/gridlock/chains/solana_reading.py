"""A guardian's reading of a Solana message (SECURITY #19): every instruction as the
:mod:`gridlock.chains.movement` s it makes, and the fee.

A Solana program invoked with the vault's signature may do with the vault's accounts whatever its
code does (signer privileges carry into its cross-program calls), so only the programs whose
instructions are read here are read; every other instruction is a ``CALL`` to its program, which an
allow-list must name for the transaction to pass.  An instruction of the System Program or a token
program that this reading cannot read exactly (a tag not read here, data of the wrong length, too
few accounts, an account the reading needs that comes from an address lookup table and is unknown
offline) is a ``CALL`` to its program too, of :data:`UNBOUNDED` value: those programs move value,
and their runtime accepts some encodings a strict reader does not (trailing bytes after a System
Program instruction, for one), so such an instruction may move any amount — never a smaller reading.

System Program (instruction data: bincode, decoded and re-encoded byte for byte by ``solders``):

* ``Transfer``, ``TransferWithSeed``, ``CreateAccount``, ``CreateAccountWithSeed``,
  ``CreateAccountAllowPrefund``, ``WithdrawNonceAccount``: a ``TRANSFER`` of the lamports to the
  receiving account (none when that is the vault itself); a receiver from a lookup table reads as a
  ``CALL`` to the System Program of those lamports;
* ``Assign``, ``AssignWithSeed``, ``AllocateWithSeed``: the account's new owner program controls its
  lamports: an ``APPROVAL`` of :data:`UNBOUNDED` lamports to that program (none when the owner stays
  the System Program);
* ``InitializeNonceAccount``, ``AuthorizeNonceAccount``: the nonce authority may withdraw the nonce
  account: an ``APPROVAL`` of :data:`UNBOUNDED` lamports to it (none when it is the vault);
* ``AdvanceNonceAccount``, ``Allocate``, ``UpgradeNonceAccount`` move nothing.

SPL Token and Token-2022 (instruction data: a one-byte tag and little-endian fields, exact lengths;
``solders`` has no SPL instruction types, so these few layouts are read here):

* ``Transfer`` (3): a ``TRANSFER`` of ``amount`` to the destination *token account*.  The mint is not
  in the instruction, so the asset is ``token-account:<source token account>``; ``TransferChecked``
  (12) names the mint, and its asset is the mint address;
* ``Approve`` (4) / ``ApproveChecked`` (13): an ``APPROVAL`` of ``amount`` to the delegate (asset as
  above);
* ``SetAuthority`` (6): an ``APPROVAL`` of :data:`UNBOUNDED` to the new authority, ``""`` when the
  authority is removed (none when it is the vault); the asset is the mint for the mint's authorities
  and ``token-account:<account>`` for an account's owner or close authority;
* ``CloseAccount`` (9): the account's lamports (their amount is not in the transaction) go to the
  destination: a ``TRANSFER`` of :data:`UNBOUNDED` lamports (none when it is the vault);
* ``Revoke`` (5) and ``SyncNative`` (17) move nothing; every other tag (``MintTo``, ``Burn``,
  Token-2022's extensions, the batch instruction of newer token programs, ...) is a ``CALL`` of
  :data:`UNBOUNDED` value, as above.

Compute Budget instructions move nothing; with the signature count they make the fee bound
(:func:`fee_bound`), a ``FEE`` when the vault pays the fee (it is the fee payer, the first account).
The signature-verification precompiles (Ed25519, secp256k1, secp256r1) move nothing either, and each
signature they verify costs a signature's fee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM
from solders.instruction import AccountMeta, Instruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import (
    advance_nonce_account,
    allocate,
    allocate_with_seed,
    assign,
    assign_with_seed,
    authorize_nonce_account,
    create_account,
    create_account_allow_prefund,
    create_account_with_seed,
    decode_advance_nonce_account,
    decode_allocate,
    decode_allocate_with_seed,
    decode_assign,
    decode_assign_with_seed,
    decode_authorize_nonce_account,
    decode_create_account,
    decode_create_account_allow_prefund,
    decode_create_account_with_seed,
    decode_initialize_nonce_account,
    decode_transfer,
    decode_transfer_with_seed,
    decode_upgrade_nonce_account,
    decode_withdraw_nonce_account,
    initialize_nonce_account,
    transfer,
    transfer_with_seed,
    upgrade_nonce_account,
    withdraw_nonce_account,
)
from solders.token import ID as TOKEN_PROGRAM

from gridlock.chains.movement import UNBOUNDED, Movement
from gridlock.errors import DecodeError

__all__ = [
    "LAMPORTS_PER_SIGNATURE",
    "TOKEN_2022_PROGRAM",
    "TOKEN_ACCOUNT_ASSET",
    "TOKEN_PROGRAM",
    "FeeBound",
    "fee_bound",
    "read",
]

LAMPORTS_PER_SIGNATURE = 5_000
DEFAULT_COMPUTE_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000

TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
# + a token account's address: the asset of an instruction that does not name the token's mint
TOKEN_ACCOUNT_ASSET = "token-account:"  # noqa: S105 -- not a secret
SIGNATURE_PRECOMPILES = frozenset(
    Pubkey.from_string(p)
    for p in (
        "Ed25519SigVerify111111111111111111111111111",
        "KeccakSecp256k11111111111111111111111111111",
        "Secp256r1SigVerify1111111111111111111111111",
    )
)

_REQUEST_HEAP_FRAME, _SET_COMPUTE_UNIT_LIMIT, _SET_COMPUTE_UNIT_PRICE, _SET_LOADED_ACCOUNTS_DATA_SIZE = 1, 2, 3, 4
_COMPUTE_BUDGET_SIZES = {  # tag -> the exact data length (borsh: the tag, then a u32 or u64)
    _REQUEST_HEAP_FRAME: 5,
    _SET_COMPUTE_UNIT_LIMIT: 5,
    _SET_COMPUTE_UNIT_PRICE: 9,
    _SET_LOADED_ACCOUNTS_DATA_SIZE: 5,
}


class _Unreadable(Exception):
    """An instruction of a known program that this reading cannot read exactly: a ``CALL`` to the
    program of ``value`` lamports (what it is known to move, else :data:`UNBOUNDED`)."""

    def __init__(self, value: int = UNBOUNDED) -> None:
        super().__init__()
        self.value = value


Accounts = Sequence[Pubkey | None]  # an instruction's accounts; None: loaded from a lookup table


def _account(accounts: Accounts, position: int, value: int = UNBOUNDED) -> Pubkey:
    if position >= len(accounts):
        raise _Unreadable(value)  # the program would fail the transaction (not enough accounts)
    key = accounts[position]
    if key is None:
        raise _Unreadable(value)  # from an address lookup table: unknown offline
    return key


# --- System Program --------------------------------------------------------------------------------

_Decoder = Callable[[Instruction], Any]
_Builder = Callable[[Any], Instruction]
_PADDING = [AccountMeta(Pubkey.default(), False, False)] * 8  # the decoders read data, not these


def _pays(lamports_field: str, position: int) -> Callable[[dict[str, Any], Accounts, Pubkey], list[Movement]]:
    def read(params: dict[str, Any], accounts: Accounts, me: Pubkey) -> list[Movement]:
        lamports = int(params[lamports_field])
        to = _account(accounts, position, lamports)
        return [] if to == me else [Movement.transfer(str(to), lamports)]

    return read


def _new_owner(field: str) -> Callable[[dict[str, Any], Accounts, Pubkey], list[Movement]]:
    def read(params: dict[str, Any], accounts: Accounts, me: Pubkey) -> list[Movement]:
        owner = params[field]
        return [] if owner == SYSTEM_PROGRAM else [Movement.approval(str(owner), UNBOUNDED, "")]

    return read


def _authority(field: str) -> Callable[[dict[str, Any], Accounts, Pubkey], list[Movement]]:
    def read(params: dict[str, Any], accounts: Accounts, me: Pubkey) -> list[Movement]:
        authority = params[field]
        return [] if authority == me else [Movement.approval(str(authority), UNBOUNDED, "")]

    return read


def _nothing(params: dict[str, Any], accounts: Accounts, me: Pubkey) -> list[Movement]:
    return []


# tag (bincode u32 LE enum index) -> (solders decoder, solders builder, reading)
_SYSTEM: dict[int, tuple[_Decoder, _Builder, Callable[[dict[str, Any], Accounts, Pubkey], list[Movement]]]] = {
    0: (decode_create_account, create_account, _pays("lamports", 1)),
    1: (decode_assign, assign, _new_owner("owner")),
    2: (decode_transfer, transfer, _pays("lamports", 1)),
    3: (decode_create_account_with_seed, create_account_with_seed, _pays("lamports", 1)),
    4: (decode_advance_nonce_account, advance_nonce_account, _nothing),
    5: (decode_withdraw_nonce_account, withdraw_nonce_account, _pays("lamports", 1)),
    6: (decode_initialize_nonce_account, initialize_nonce_account, _authority("authority")),
    7: (decode_authorize_nonce_account, authorize_nonce_account, _authority("new_authority")),
    8: (decode_allocate, allocate, _nothing),
    9: (decode_allocate_with_seed, allocate_with_seed, _new_owner("owner")),
    10: (decode_assign_with_seed, assign_with_seed, _new_owner("owner")),
    11: (decode_transfer_with_seed, transfer_with_seed, _pays("lamports", 2)),
    12: (decode_upgrade_nonce_account, upgrade_nonce_account, _nothing),
    13: (decode_create_account_allow_prefund, create_account_allow_prefund, _pays("lamports", 0)),
}


def _system(accounts: Accounts, data: bytes, me: Pubkey) -> list[Movement]:
    spec = _SYSTEM.get(int.from_bytes(data[:4], "little")) if len(data) >= 4 else None
    if spec is None:
        raise _Unreadable()
    decode, build, read = spec
    try:
        params = decode(Instruction(SYSTEM_PROGRAM, data, _PADDING))
        canonical = bytes(build(params).data) == data  # no trailing bytes, no other encoding
    except Exception:  # solders' ValueError / BincodeError for data that does not decode
        raise _Unreadable() from None
    if not canonical:
        raise _Unreadable()
    return read(dict(params), accounts, me)


# --- SPL Token and Token-2022 ------------------------------------------------------------------------

_TRANSFER, _APPROVE, _REVOKE, _SET_AUTHORITY, _CLOSE_ACCOUNT = 3, 4, 5, 6, 9
_TRANSFER_CHECKED, _APPROVE_CHECKED, _SYNC_NATIVE = 12, 13, 17
_ACCOUNT_AUTHORITIES = frozenset({2, 3})  # AuthorityType AccountOwner, CloseAccount; the others are a mint's


def _token_account(key: Pubkey) -> str:
    return TOKEN_ACCOUNT_ASSET + str(key)


def _token(accounts: Accounts, data: bytes, me: Pubkey) -> list[Movement]:
    tag, size = (data[0], len(data)) if data else (-1, 0)
    amount = int.from_bytes(data[1:9], "little")
    if tag == _TRANSFER and size == 9:
        source, to = _account(accounts, 0), _account(accounts, 1)
        _account(accounts, 2)  # the authority
        return [Movement.transfer(str(to), amount, _token_account(source))]
    if tag == _TRANSFER_CHECKED and size == 10:
        mint, to = _account(accounts, 1), _account(accounts, 2)
        _account(accounts, 3)
        return [Movement.transfer(str(to), amount, str(mint))]
    if tag == _APPROVE and size == 9:
        source, delegate = _account(accounts, 0), _account(accounts, 1)
        _account(accounts, 2)
        return [Movement.approval(str(delegate), amount, _token_account(source))]
    if tag == _APPROVE_CHECKED and size == 10:
        mint, delegate = _account(accounts, 1), _account(accounts, 2)
        _account(accounts, 3)
        return [Movement.approval(str(delegate), amount, str(mint))]
    if tag == _SET_AUTHORITY and ((size == 3 and data[2] == 0) or (size == 35 and data[2] == 1)):
        target = _account(accounts, 0)
        _account(accounts, 1)
        new = Pubkey.from_bytes(data[3:35]) if size == 35 else None
        if new == me:
            return []
        asset = _token_account(target) if data[1] in _ACCOUNT_AUTHORITIES else str(target)
        return [Movement.approval("" if new is None else str(new), UNBOUNDED, asset)]
    if tag == _CLOSE_ACCOUNT and size == 1:
        to = _account(accounts, 1)
        _account(accounts, 2)
        return [] if to == me else [Movement.transfer(str(to), UNBOUNDED)]
    if tag in (_REVOKE, _SYNC_NATIVE) and size == 1:
        return []
    raise _Unreadable()


# --- fees ----------------------------------------------------------------------------------------------


def _compute_budget(accounts: Accounts, data: bytes, me: Pubkey) -> list[Movement]:
    if not data or _COMPUTE_BUDGET_SIZES.get(data[0]) != len(data):
        raise _Unreadable(0)  # the runtime refuses it too (it moves nothing): read it as what it is, a call
    return []


def _precompile(accounts: Accounts, data: bytes, me: Pubkey) -> list[Movement]:
    if not data:
        raise _Unreadable(0)  # a precompile verifies signatures and moves nothing
    return []


@dataclass(frozen=True)
class FeeBound:
    """The most a message can pay in fees, in lamports, and what the bound is made of."""

    signatures: int  # the transaction's own signatures and those its precompile instructions verify
    base_fee: int  # LAMPORTS_PER_SIGNATURE per signature
    compute_unit_limit: int  # SetComputeUnitLimit, or the runtime's default upper bound
    compute_unit_price: int  # micro-lamports per compute unit (SetComputeUnitPrice)
    max_fee: int  # base fee plus the priority fee, price × limit rounded up to a lamport


def fee_bound(message: Message | MessageV0) -> FeeBound:
    """The fee bound of a message.  Without a ``SetComputeUnitLimit`` the limit is the runtime's
    default of at most 200k units per instruction (capped at 1.4M); a repeated Compute Budget
    instruction (which the runtime refuses) counts at its highest value."""
    keys = list(message.account_keys)
    signatures = message.header.num_required_signatures
    limit: int | None = None
    price = 0
    for ix in message.instructions:
        program, data = keys[ix.program_id_index], bytes(ix.data)
        if program in SIGNATURE_PRECOMPILES and data:
            signatures += data[0]
        elif program == COMPUTE_BUDGET_PROGRAM and data and _COMPUTE_BUDGET_SIZES.get(data[0]) == len(data):
            value = int.from_bytes(data[1:], "little")
            if data[0] == _SET_COMPUTE_UNIT_LIMIT:
                limit = max(limit or 0, min(value, MAX_COMPUTE_UNITS))
            elif data[0] == _SET_COMPUTE_UNIT_PRICE:
                price = max(price, value)
    if limit is None:
        limit = min(DEFAULT_COMPUTE_UNITS_PER_INSTRUCTION * len(message.instructions), MAX_COMPUTE_UNITS)
    base_fee = LAMPORTS_PER_SIGNATURE * signatures
    priority_fee = -(-price * limit // MICRO_LAMPORTS_PER_LAMPORT)
    return FeeBound(signatures, base_fee, limit, price, base_fee + priority_fee)


# --- the reading ---------------------------------------------------------------------------------------

_READERS: dict[Pubkey, Callable[[Accounts, bytes, Pubkey], list[Movement]]] = {
    SYSTEM_PROGRAM: _system,
    TOKEN_PROGRAM: _token,
    TOKEN_2022_PROGRAM: _token,
    COMPUTE_BUDGET_PROGRAM: _compute_budget,
    **dict.fromkeys(SIGNATURE_PRECOMPILES, _precompile),
}


def read(message: Message | MessageV0, me: Pubkey) -> tuple[Movement, ...]:
    """Every movement of ``message`` for the vault ``me``, in instruction order, then the fee when
    the vault pays it (module doc).  The message must have passed ``sanitize``."""
    keys = list(message.account_keys)
    movements: list[Movement] = []
    for ix in message.instructions:
        if ix.program_id_index >= len(keys):
            raise DecodeError("an instruction's program is not among the message's own accounts")
        program = keys[ix.program_id_index]
        accounts = [keys[i] if i < len(keys) else None for i in ix.accounts]
        reader = _READERS.get(program)
        if reader is None:
            movements.append(Movement.call(str(program)))
            continue
        try:
            movements.extend(reader(accounts, bytes(ix.data), me))
        except _Unreadable as unread:
            movements.append(Movement.call(str(program), unread.value))
    if keys and keys[0] == me:
        movements.append(Movement.fee(fee_bound(message).max_fee))
    return tuple(movements)
