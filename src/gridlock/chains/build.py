"""Unsigned transactions from a few fields, in exactly the form each chain's adapter loads
(``gridlock sign-tx --tx``): what ``gridlock tx build`` writes.

* Ethereum: an EIP-1559 (type 2) transaction as eth-account JSON — a native transfer, or an ERC-20
  ``transfer(address,uint256)`` call (EIP-20) to the token contract; ``chainId`` always set (EIP-155).
* Bitcoin: a BIP174 PSBT (base64) spending a list of UTXOs to outputs, with a change output sized
  from a fee rate in sat/vB (the signature sizes of P2WPKH, BIP141, and P2TR key-path, BIP341, inputs
  are known in advance, so the virtual size is exact to a byte or two).
* Solana: a legacy transaction with one System Program transfer and a recent blockhash, serialised
  with an empty signature slot, as base64.
* Cosmos: a SIGN_MODE_DIRECT SignDoc (cosmos-sdk ADR-020) with one ``MsgSend``, as base64.

Each builder is a frozen dataclass checked when built; amounts are integers in the chain's base
unit (wei, satoshi, lamport, the denom's unit), never floats.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gridlock.chains import bitcoin
from gridlock.chains.bitcoin import OutPoint, Spend, TxOut
from gridlock.errors import InvalidParameterError

if TYPE_CHECKING:
    from gridlock.crypto.hd import HdRoot

__all__ = [
    "ERC20_TRANSFER",
    "BitcoinPayment",
    "CosmosSend",
    "EthereumTransfer",
    "Resolver",
    "SolanaTransfer",
    "Utxo",
    "VaultKey",
    "integer",
    "transaction",
]

ERC20_TRANSFER = bytes.fromhex("a9059cbb")  # keccak256("transfer(address,uint256)")[:4], EIP-20
MAX_UINT256 = 2**256 - 1
# Witness weight units of one input's signature data (BIP141): the count byte, then per item its
# length byte and bytes.  P2WPKH: a DER signature of at most 72 bytes with its sighash byte and the
# 33-byte key; P2TR key path: a 64-byte Schnorr signature (SIGHASH_DEFAULT adds no byte, BIP341).
WITNESS_WEIGHT = {"p2wpkh": 1 + 1 + 72 + 1 + 33, "p2tr": 1 + 1 + 64}
DUST = {"p2wpkh": 294, "p2tr": 330}  # Bitcoin Core's dust thresholds at its default 3 sat/vB relay rate
DEFAULT_DUST = 546


def integer(value: Any, name: str, *, maximum: int = MAX_UINT256) -> int:
    """A non-negative integer field (an int, or decimal digits as text, or ``0x`` hex)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise InvalidParameterError(f"{name} must be a whole number in base units, not {text[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidParameterError(f"{name} must be a whole number between 0 and {maximum}")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidParameterError(f"{name} must be a non-empty string")
    return value.strip()


# --- Ethereum ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EthereumTransfer:
    """An EIP-1559 transfer of ``amount`` wei to ``to``, or of ``amount`` base units of the ERC-20
    ``token`` (then the transaction calls the token contract with value 0)."""

    chain_id: int
    nonce: int
    to: str
    amount: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas: int
    token: str | None = None

    def __post_init__(self) -> None:
        from gridlock.chains.adapters.ethereum import ADAPTER  # noqa: PLC0415 -- eth-account loads on use

        for name in ("chain_id", "nonce", "amount", "max_fee_per_gas", "max_priority_fee_per_gas", "gas"):
            integer(getattr(self, name), name)
        if self.chain_id == 0:
            raise InvalidParameterError("chain_id must be set (EIP-155 replay protection)")
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise InvalidParameterError("max_priority_fee_per_gas cannot exceed max_fee_per_gas (EIP-1559)")
        object.__setattr__(self, "to", ADAPTER.check_address(self.to))
        if self.token is not None:
            object.__setattr__(self, "token", ADAPTER.check_address(self.token))

    def tx(self) -> dict[str, Any]:
        if self.token is None:
            to, value, data = self.to, self.amount, b""
        else:
            from eth_abi.abi import encode  # noqa: PLC0415

            to, value, data = self.token, 0, ERC20_TRANSFER + encode(["address", "uint256"], [self.to, self.amount])
        return {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "to": to,
            "value": value,
            "data": "0x" + data.hex(),
            "gas": self.gas,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }

    def file_text(self) -> str:
        return json.dumps(self.tx(), indent=2)


# --- Bitcoin -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Utxo:
    """A coin to spend: ``txid`` in display (byte-reversed) hex as explorers and bitcoin-cli show it."""

    txid: str
    vout: int
    amount: int
    script_pubkey: bytes

    def __post_init__(self) -> None:
        try:
            raw = bytes.fromhex(self.txid)
        except (ValueError, TypeError):
            raise InvalidParameterError("a UTXO's txid is 64 hex digits") from None
        if len(raw) != 32:
            raise InvalidParameterError("a UTXO's txid is 64 hex digits")
        integer(self.vout, "vout", maximum=0xFFFFFFFF)
        integer(self.amount, "amount", maximum=21_000_000 * 100_000_000)
        if bitcoin.script_kind(self.script_pubkey) not in WITNESS_WEIGHT:
            raise InvalidParameterError("a vault spends P2WPKH or P2TR coins only")

    @property
    def kind(self) -> str:
        return bitcoin.script_kind(self.script_pubkey)


@dataclass(frozen=True)
class BitcoinPayment:
    """Spend every UTXO to ``outputs``; what is left after the fee goes to ``change_script``
    (dropped when it would be dust, the fee then takes it).  The fee is ``fee`` satoshis, or
    ``fee_rate`` sat/vB times the transaction's virtual size (BIP141) once signed."""

    utxos: tuple[Utxo, ...]
    outputs: tuple[TxOut, ...]
    change_script: bytes | None
    fee_rate: Decimal | None = None
    fee: int | None = None
    locktime: int = 0

    def __post_init__(self) -> None:
        if not self.utxos:
            raise InvalidParameterError("a bitcoin payment spends at least one UTXO")
        if not self.outputs:
            raise InvalidParameterError("a bitcoin payment has at least one output")
        if len({(u.txid, u.vout) for u in self.utxos}) != len(self.utxos):
            raise InvalidParameterError("the same UTXO is listed twice")
        if (self.fee is None) == (self.fee_rate is None):
            raise InvalidParameterError("give a fee rate (sat/vB) or a fee (satoshis), not both")
        if self.fee_rate is not None and not (Decimal(0) < self.fee_rate <= Decimal(10_000)):
            raise InvalidParameterError("the fee rate is between 0 and 10000 sat/vB")
        if self.fee is not None:
            integer(self.fee, "fee", maximum=21_000_000 * 100_000_000)
        integer(self.locktime, "locktime", maximum=0xFFFFFFFF)

    def _vsize(self, outputs: Sequence[TxOut]) -> int:
        spends = [
            Spend(OutPoint(bytes.fromhex(u.txid)[::-1], u.vout), TxOut(u.amount, u.script_pubkey)) for u in self.utxos
        ]
        unsigned = bitcoin.Psbt.from_base64(bitcoin.create_psbt(spends, outputs, locktime=self.locktime)).tx
        weight = (
            4 * len(unsigned.serialize(include_witness=False)) + 2 + sum(WITNESS_WEIGHT[u.kind] for u in self.utxos)
        )
        return math.ceil(weight / 4)

    def plan(self) -> tuple[tuple[TxOut, ...], int]:
        """The outputs (change last, if any) and the fee."""
        total_in = sum(u.amount for u in self.utxos)
        total_out = sum(o.amount for o in self.outputs)
        with_change = (*self.outputs, TxOut(0, self.change_script)) if self.change_script else self.outputs
        fee = self.fee if self.fee is not None else self._fee(with_change)
        left = total_in - total_out - fee
        if left < 0:
            raise InvalidParameterError(
                f"the UTXOs hold {total_in} sat, the outputs and fee need {total_out + fee} sat ({fee} sat fee)"
            )
        if self.change_script is None:
            return self.outputs, total_in - total_out
        dust = DUST.get(bitcoin.script_kind(self.change_script), DEFAULT_DUST)
        if left < dust:
            return self.outputs, total_in - total_out  # no change: the rest goes to the fee
        return (*self.outputs, TxOut(left, self.change_script)), fee

    def _fee(self, outputs: Sequence[TxOut]) -> int:
        assert self.fee_rate is not None
        return math.ceil(self.fee_rate * self._vsize(outputs))

    def psbt(self) -> str:
        outputs, _ = self.plan()
        spends = [
            Spend(OutPoint(bytes.fromhex(u.txid)[::-1], u.vout), TxOut(u.amount, u.script_pubkey)) for u in self.utxos
        ]
        return bitcoin.create_psbt(spends, outputs, locktime=self.locktime)


def fee_rate(value: Any) -> Decimal:
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise InvalidParameterError(f"the fee rate is a number of sat/vB, not {str(value)[:20]!r}") from None
    if not rate.is_finite():
        raise InvalidParameterError("the fee rate is a finite number of sat/vB")
    return rate


# --- Solana --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolanaTransfer:
    """A System Program transfer of ``lamports`` from ``source`` (the fee payer) to ``destination``."""

    source: str
    destination: str
    lamports: int
    recent_blockhash: str

    def __post_init__(self) -> None:
        from gridlock.chains.adapters.solana import ADAPTER  # noqa: PLC0415 -- solders loads on use

        ADAPTER.check_address(self.source)
        ADAPTER.check_address(self.destination)
        ADAPTER.check_address(self.recent_blockhash)  # a blockhash is 32 bytes in base58 too
        integer(self.lamports, "lamports", maximum=2**64 - 1)

    def file_text(self) -> str:
        from solders.hash import Hash  # noqa: PLC0415
        from solders.message import Message  # noqa: PLC0415
        from solders.pubkey import Pubkey  # noqa: PLC0415
        from solders.signature import Signature  # noqa: PLC0415
        from solders.system_program import TransferParams, transfer  # noqa: PLC0415
        from solders.transaction import VersionedTransaction  # noqa: PLC0415

        payer = Pubkey.from_string(self.source)
        ix = transfer(
            TransferParams(from_pubkey=payer, to_pubkey=Pubkey.from_string(self.destination), lamports=self.lamports)
        )
        msg = Message.new_with_blockhash([ix], payer, Hash.from_string(self.recent_blockhash))
        return base64.b64encode(bytes(VersionedTransaction.populate(msg, [Signature.default()]))).decode()


# --- Cosmos --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CosmosSend:
    """A ``MsgSend`` of ``amount`` ``denom`` from the vault's account (its public key signs)."""

    public_key: bytes
    to: str
    amount: int
    denom: str
    prefix: str
    chain_id: str
    account_number: int
    sequence: int
    fee: int
    gas: int
    memo: str = ""

    def __post_init__(self) -> None:
        from gridlock.chains.adapters.cosmos import ADAPTER  # noqa: PLC0415

        ADAPTER.check_address(self.to, self.prefix)
        for name in ("amount", "account_number", "sequence", "fee", "gas"):
            integer(getattr(self, name), name, maximum=2**64 - 1)
        _text(self.denom, "denom")
        _text(self.chain_id, "chain_id")
        if len(self.memo) > 256:
            raise InvalidParameterError("the memo is at most 256 characters")

    def file_text(self) -> str:
        from gridlock.chains import cosmos  # noqa: PLC0415

        doc = cosmos.bank_send(
            self.public_key,
            self.to,
            self.amount,
            denom=self.denom,
            prefix=self.prefix,
            chain_id=self.chain_id,
            account_number=self.account_number,
            sequence=self.sequence,
            fee=self.fee,
            gas=self.gas,
            memo=self.memo,
        )
        return base64.b64encode(doc).decode()


def field(spec: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``spec[name]``, or ``default``; a missing field without a default is an error naming it."""
    if name in spec and spec[name] is not None:
        return spec[name]
    if default is None:
        raise InvalidParameterError(f"missing field {name!r}")
    return default


@dataclass(frozen=True)
class VaultKey:
    """A key of one of the owner's vaults, as the caller's vault book knows it: the sender of a
    transaction, or a Bitcoin UTXO's or change output's key (``root`` is ``None`` for a vault whose HD
    root is not recorded; its PSBT fields are then left out)."""

    vault: str
    scheme: str
    public_key: bytes  # the key at ``path``, as the chain uses it
    path: str
    root: HdRoot | None = None


Resolver = Callable[[Any, str], VaultKey]  # (a vault key reference, what it is for) -> the key


def transaction(
    chain: str,
    spec: Mapping[str, Any],
    network: str | None,
    *,
    sender: VaultKey | None = None,
    resolve: Resolver | None = None,
) -> str:
    """The unsigned transaction of ``spec`` (the fields of ``examples/README.md``) as its file text.

    ``sender`` is the sending vault's own key (it fills in Solana's ``from``, Cosmos's public key,
    Bitcoin's change); ``resolve`` turns a Bitcoin vault key reference into its key."""
    from gridlock.chains import get  # noqa: PLC0415

    adapter = get(chain)
    if sender is not None:
        adapter.check_scheme(sender.scheme)
    if chain == "ethereum":
        token = spec.get("token")
        max_fee = integer(field(spec, "max_fee_per_gas"), "max_fee_per_gas")
        return EthereumTransfer(
            chain_id=integer(field(spec, "chain_id"), "chain_id"),
            nonce=integer(field(spec, "nonce"), "nonce"),
            to=str(field(spec, "to")),
            amount=integer(field(spec, "amount"), "amount"),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=integer(
                field(spec, "max_priority_fee_per_gas", min(10**9, max_fee)), "max_priority_fee_per_gas"
            ),
            gas=integer(field(spec, "gas", 65_000 if token else 21_000), "gas"),
            token=None if token is None else str(token),
        ).file_text()
    if chain == "solana":
        source = spec.get("from")
        if source is None:
            if sender is None:
                raise InvalidParameterError("missing field 'from' (or the sending vault)")
            source = adapter.address(sender.public_key, sender.scheme).address
        return SolanaTransfer(
            source=str(source),
            destination=str(field(spec, "to")),
            lamports=integer(field(spec, "amount"), "amount"),
            recent_blockhash=str(field(spec, "recent_blockhash")),
        ).file_text()
    if chain == "cosmos":
        if sender is None:
            raise InvalidParameterError("a Cosmos SignDoc names the sender's public key: give the sending vault")
        return CosmosSend(
            public_key=sender.public_key,
            to=str(field(spec, "to")),
            amount=integer(field(spec, "amount"), "amount"),
            denom=str(field(spec, "denom", "uscrt")),
            prefix=str(adapter.network(network)),
            chain_id=str(field(spec, "chain_id", "secret-4")),
            account_number=integer(field(spec, "account_number", 0), "account_number"),
            sequence=integer(field(spec, "sequence", 0), "sequence"),
            fee=integer(field(spec, "fee", 2500), "fee"),
            gas=integer(field(spec, "gas", 100_000), "gas"),
            memo=str(spec.get("memo") or ""),
        ).file_text()
    from gridlock.chains.build_bitcoin import payment_psbt  # noqa: PLC0415

    return payment_psbt(spec, str(adapter.network(network)), sender, resolve)
