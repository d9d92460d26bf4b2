"""Solana: addresses and signing of serialised legacy and v0 transactions with a ``frost-ed25519`` key.

Parsing, serialisation, the bytes to sign and the System Program decoders are ``solders``' (the
Rust ``solana-sdk`` types).  A FROST(Ed25519, SHA-512) signature is a standard RFC 8032 signature,
so it goes straight into the signature slot of the vault's key.

What this module adds:

* the unsigned transaction must decode canonically (no trailing bytes), sanitize, be legacy or v0,
  and carry either no signatures or exactly one (default or present) per required signer;
* the vault key must be one of the required signers (:class:`NotASignerError` otherwise); only its
  slot is written, every other signer's slot is kept as given;
* :func:`signing_payload` returns exactly the message bytes the signer signs (for v0 the
  ``0x80``-prefixed versioned message), and :func:`summarize` lists, for a person, lamport movements
  by the System Program, the fee bound (:func:`gridlock.chains.solana_reading.fee_bound`: base fee
  plus Compute Budget priority fee) and that payload.  A Solana transaction carries no chain id: the
  recent blockhash ties it to one cluster, so the summary reports the blockhash instead of a network
  name.

A guardian's reading of a transaction, every instruction as what it moves (SECURITY #19), is
:mod:`gridlock.chains.solana_reading`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM
from solders.instruction import AccountMeta, CompiledInstruction, Instruction
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import (
    decode_create_account,
    decode_create_account_with_seed,
    decode_transfer,
    decode_transfer_with_seed,
    decode_withdraw_nonce_account,
)
from solders.transaction import VersionedTransaction

from gridlock.chains.signer import Signer, signer_public_key
from gridlock.chains.solana_reading import fee_bound
from gridlock.errors import DecodeError, InvalidParameterError, SignatureError

__all__ = [
    "SCHEME",
    "InstructionSummary",
    "NotASignerError",
    "SignerMismatchError",
    "SolanaError",
    "TransactionSummary",
    "Transfer",
    "address",
    "message_of",
    "sign_transaction",
    "signing_payload",
    "summarize",
]

SCHEME = "frost-ed25519"

# System Program instructions that move lamports, by tag (bincode u32 LE enum index):
# (kind, solders decoder, position of the destination among the accounts; the source is the first)
_LAMPORT_MOVES: dict[int, tuple[str, Callable[[Instruction], Any], int]] = {
    0: ("create_account", decode_create_account, 1),
    2: ("transfer", decode_transfer, 1),
    3: ("create_account_with_seed", decode_create_account_with_seed, 1),
    5: ("withdraw_nonce_account", decode_withdraw_nonce_account, 1),
    11: ("transfer_with_seed", decode_transfer_with_seed, 2),
}


class SolanaError(InvalidParameterError):
    """A transaction that cannot be signed as given."""


class NotASignerError(SolanaError):
    """The vault's key is not one of the transaction's required signers."""


class SignerMismatchError(SolanaError):
    """The signer is not a ``frost-ed25519`` key."""


@dataclass(frozen=True)
class Transfer:
    """Lamports moved by a System Program instruction (``None``: an account from a lookup table)."""

    kind: str  # transfer, transfer_with_seed, create_account, create_account_with_seed, withdraw_nonce_account
    source: str | None
    destination: str | None
    lamports: int


@dataclass(frozen=True)
class InstructionSummary:
    program_id: str
    accounts: tuple[str | None, ...]  # None: loaded from an address lookup table, unknown offline
    data: bytes


@dataclass(frozen=True)
class TransactionSummary:
    """What a transaction does, and the exact bytes a guardian is asked to sign."""

    version: str  # "legacy" or "v0"
    fee_payer: str
    required_signers: tuple[str, ...]
    recent_blockhash: str  # binds the transaction to one cluster; Solana has no chain id
    instructions: tuple[InstructionSummary, ...]
    transfers: tuple[Transfer, ...]
    address_table_lookups: tuple[str, ...]
    base_fee: int  # lamports: 5000 per signature
    compute_unit_limit: int
    compute_unit_price: int  # micro-lamports per compute unit
    max_fee: int  # lamports: base fee plus priority fee (exact when SetComputeUnitLimit is given)
    unknown_programs: tuple[str, ...]
    signing_payload: bytes

    @property
    def recipients(self) -> tuple[tuple[str | None, int], ...]:
        return tuple((t.destination, t.lamports) for t in self.transfers)


def _public_key(public_key: bytes) -> Pubkey:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != 32:
        raise DecodeError("an Ed25519 public key is 32 bytes")
    pk = Pubkey.from_bytes(bytes(public_key))
    if not pk.is_on_curve():
        raise DecodeError("not an Ed25519 curve point (an off-curve address cannot sign)")
    return pk


def address(public_key: bytes) -> str:
    """The base58 Solana address of a 32-byte Ed25519 public key."""
    return str(_public_key(public_key))


def _parse(tx_bytes: bytes) -> VersionedTransaction:
    if not isinstance(tx_bytes, bytes | bytearray):
        raise DecodeError("a serialised Solana transaction is bytes")
    raw = bytes(tx_bytes)
    try:
        vtx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises ValueError and its own error types
        raise DecodeError("not a serialised Solana transaction") from exc
    if bytes(vtx) != raw:
        raise DecodeError("the transaction is not canonically encoded (trailing or extra bytes)")
    message = vtx.message
    if not isinstance(message, Message | MessageV0):
        raise DecodeError("only legacy and v0 transactions are supported")
    required = message.header.num_required_signatures
    signatures = list(vtx.signatures)
    if not signatures:
        vtx = VersionedTransaction.populate(message, [Signature.default()] * required)
    elif len(signatures) != required:
        raise DecodeError(f"the transaction has {len(signatures)} signature slots but {required} required signers")
    try:
        vtx.sanitize()
    except Exception as exc:
        raise DecodeError("the transaction message is malformed (fails sanitize)") from exc
    return vtx


def message_of(tx_bytes: bytes) -> Message | MessageV0:
    """The message of a serialised transaction, checked as :func:`summarize` checks it."""
    message = _parse(tx_bytes).message
    assert isinstance(message, Message | MessageV0)
    return message


def signing_payload(tx_bytes: bytes) -> bytes:
    """The exact bytes each signer signs: the serialised message (``0x80``-prefixed for v0)."""
    return bytes(to_bytes_versioned(_parse(tx_bytes).message))


def _check_signer(signer: Signer) -> Pubkey:
    return _public_key(signer_public_key(signer, SCHEME, SignerMismatchError, "Solana needs a frost-ed25519 signer"))


def sign_transaction(tx_bytes: bytes, signer: Signer) -> bytes:
    """Sign a serialised legacy or v0 transaction; return it serialised with the vault's signature.

    Signature slots may be absent (all filled with defaults) or given one per required signer; the
    vault's slot is (over)written and every other slot is kept.
    """
    vtx = _parse(tx_bytes)
    pk = _check_signer(signer)
    message = vtx.message
    required = list(message.account_keys[: message.header.num_required_signatures])
    if pk not in required:
        raise NotASignerError(f"{pk} is not a required signer of this transaction")
    slot = required.index(pk)
    payload = bytes(to_bytes_versioned(message))
    raw_sig = signer.sign(payload)
    if not isinstance(raw_sig, bytes) or len(raw_sig) != 64:
        raise SignatureError("the signer must return a 64-byte Ed25519 signature")
    sig = Signature.from_bytes(raw_sig)
    if not sig.verify(pk, payload):
        raise SignatureError("the signer's signature does not verify under the vault key")
    signatures = list(vtx.signatures)
    signatures[slot] = sig
    return bytes(VersionedTransaction.populate(message, signatures))


def _u32(data: bytes) -> int:
    return int.from_bytes(data[:4], "little")


def _system_transfer(ix: CompiledInstruction, keys: list[Pubkey]) -> Transfer | None:
    data = bytes(ix.data)
    if len(data) < 4:
        return None
    tag = _u32(data)
    if tag not in _LAMPORT_MOVES:
        return None
    kind, decode, destination = _LAMPORT_MOVES[tag]
    resolved = [keys[i] if i < len(keys) else None for i in ix.accounts]
    metas = [AccountMeta(k if k is not None else Pubkey.default(), False, False) for k in resolved]
    metas += [AccountMeta(Pubkey.default(), False, False)] * 8  # a decoder indexes accounts unchecked
    instruction = Instruction(SYSTEM_PROGRAM, data, metas)

    def name(i: int) -> str | None:
        k = resolved[i] if i < len(resolved) else None
        return None if k is None else str(k)

    try:
        lamports = decode(instruction)["lamports"]
    except Exception as exc:  # malformed instruction data for its tag
        raise DecodeError(f"malformed System Program instruction (tag {tag})") from exc
    return Transfer(kind, name(0), name(destination), lamports)


def summarize(tx_bytes: bytes) -> TransactionSummary:
    """Transfers, fee bound, signers, blockhash and signing payload of a serialised transaction."""
    vtx = _parse(tx_bytes)
    message = vtx.message
    keys = list(message.account_keys)
    header = message.header
    required = tuple(str(k) for k in keys[: header.num_required_signatures])
    lookups: tuple[str, ...] = ()
    if isinstance(message, MessageV0):
        lookups = tuple(str(lookup.account_key) for lookup in message.address_table_lookups)
    instructions: list[InstructionSummary] = []
    transfers: list[Transfer] = []
    unknown: list[str] = []
    for ix in message.instructions:
        program = keys[ix.program_id_index]
        accounts = tuple(str(keys[i]) if i < len(keys) else None for i in ix.accounts)
        data = bytes(ix.data)
        instructions.append(InstructionSummary(str(program), accounts, data))
        if program == COMPUTE_BUDGET_PROGRAM:
            continue
        if program == SYSTEM_PROGRAM:
            transfer = _system_transfer(ix, keys)
            if transfer is not None:
                transfers.append(transfer)
        elif str(program) not in unknown:
            unknown.append(str(program))
    assert isinstance(message, Message | MessageV0)  # _parse admits no other version
    fee = fee_bound(message)
    return TransactionSummary(
        version="v0" if isinstance(message, MessageV0) else "legacy",
        fee_payer=required[0],
        required_signers=required,
        recent_blockhash=str(message.recent_blockhash),
        instructions=tuple(instructions),
        transfers=tuple(transfers),
        address_table_lookups=lookups,
        base_fee=fee.base_fee,
        compute_unit_limit=fee.compute_unit_limit,
        compute_unit_price=fee.compute_unit_price,
        max_fee=fee.max_fee,
        unknown_programs=tuple(unknown),
        signing_payload=bytes(to_bytes_versioned(message)),
    )
