"""What a PSBT does, for people and for guardian policy: recipients, inputs, fee, network, sighashes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gridlock.chains.bitcoin.address import get_network, script_kind, script_to_address
from gridlock.chains.bitcoin.psbt import Psbt
from gridlock.chains.bitcoin.sighash import HASH_TYPE_NAMES
from gridlock.chains.bitcoin.signing import SighashRequest, requests, resolve_utxos


def btc(sats: int) -> str:
    """Satoshis as an exact BTC decimal string (``150000000`` → ``"1.50000000"``)."""
    sign = "-" if sats < 0 else ""
    return f"{sign}{abs(sats) // 100_000_000}.{abs(sats) % 100_000_000:08d}"


@dataclass(frozen=True)
class InputSummary:
    index: int
    txid: str  # of the transaction that created the spent output, display (byte-reversed) hex
    vout: int
    sequence: int
    amount: int  # satoshis
    address: str | None
    script_pubkey: bytes
    kind: str  # p2wpkh, p2tr, p2pkh, …
    amount_verified: bool  # checked against the whole previous transaction (non_witness_utxo)
    finalized: bool


@dataclass(frozen=True)
class Recipient:
    index: int
    address: str | None  # None for outputs that have no address form (OP_RETURN, bare scripts)
    amount: int  # satoshis
    script_pubkey: bytes
    kind: str


@dataclass(frozen=True)
class PsbtSummary:
    network: str
    txid: str  # of the transaction once signed (segwit inputs do not change it)
    version: int
    locktime: int
    inputs: tuple[InputSummary, ...]
    recipients: tuple[Recipient, ...]
    total_in: int
    total_out: int
    fee: int
    sighashes: tuple[SighashRequest, ...]  # every P2WPKH / P2TR key-path signature still needed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: bytes as hex, sighashes as ``{input_index, sighash, hash_type}``."""

        def plain(value: Any) -> Any:
            if isinstance(value, bytes):
                return value.hex()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = asdict(self)
        data["sighashes"] = [req._asdict() for req in self.sighashes]
        result: dict[str, Any] = plain(data)
        return result

    def describe(self) -> str:
        """A few lines a person can check before approving."""
        lines = [f"Bitcoin {self.network} transaction {self.txid}"]
        for r in self.recipients:
            lines.append(f"  pay {btc(r.amount)} BTC to {r.address or r.kind + ' ' + r.script_pubkey.hex()}")
        spent = ", ".join(f"{btc(i.amount)} from {i.address or i.kind}" for i in self.inputs)
        lines.append(f"  spending {btc(self.total_in)} BTC ({spent})")
        lines.append(f"  fee {btc(self.fee)} BTC ({self.fee} sat)")
        for req in self.sighashes:
            name = HASH_TYPE_NAMES.get(req.hash_type, hex(req.hash_type))
            lines.append(f"  input {req.input_index} signs {req.sighash.hex()} (SIGHASH_{name})")
        return "\n".join(lines)


def summarize(psbt_base64: str, network: str = "mainnet") -> PsbtSummary:
    """Summarise a PSBT; every input must carry its UTXO data (so the fee is known, not guessed)."""
    get_network(network)
    psbt = Psbt.from_base64(psbt_base64)
    resolved = resolve_utxos(psbt)
    spent = [utxo for utxo, _ in resolved]
    inputs = []
    for i, (txin, (utxo, verified)) in enumerate(zip(psbt.tx.inputs, resolved, strict=True)):
        inputs.append(
            InputSummary(
                index=i,
                txid=txin.prevout.txid_hex,
                vout=txin.prevout.vout,
                sequence=txin.sequence,
                amount=utxo.amount,
                address=script_to_address(utxo.script_pubkey, network),
                script_pubkey=utxo.script_pubkey,
                kind=script_kind(utxo.script_pubkey),
                amount_verified=verified,
                finalized=psbt.is_finalized(i),
            )
        )
    recipients = tuple(
        Recipient(
            i, script_to_address(o.script_pubkey, network), o.amount, o.script_pubkey, script_kind(o.script_pubkey)
        )
        for i, o in enumerate(psbt.tx.outputs)
    )
    total_in, total_out = sum(o.amount for o in spent), sum(o.amount for o in psbt.tx.outputs)
    return PsbtSummary(
        network=network,
        txid=psbt.tx.txid_hex,
        version=psbt.tx.version,
        locktime=psbt.tx.locktime,
        inputs=tuple(inputs),
        recipients=recipients,
        total_in=total_in,
        total_out=total_out,
        fee=total_in - total_out,
        sighashes=tuple(requests(psbt, None, spent=spent)),
    )
