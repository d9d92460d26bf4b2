"""What a transaction does, for the person about to sign it: ``gridlock sign-tx`` and ``tx build``
show it before anything is signed (``--json`` carries the same under ``"review"``).

It is the guardians' own reading (:meth:`gridlock.chains.ChainAdapter.derive_with_roots`, the
movements of :mod:`gridlock.chains.movement`), so the owner sees exactly what the guardians'
policies will judge: every transfer, approval, grant and contract call, and the most the fee can
be, with amounts in the chain's units where the decimals are known (ETH 18, BTC 8, SOL 9, a Cosmos
``u``-denom 6; an ERC-20 or SPL token's decimals are not known offline, so its amount stays in base
units).  A transaction the reading refuses (a Bitcoin input nobody of the owner's controls, say)
is shown by the chain's summary alone, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gridlock.chains import ChainAdapter, TxContext
from gridlock.chains.movement import NATIVE, UNBOUNDED, Kind, Movement
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.crypto.hd import HdRoot

NATIVE_UNITS = {"ethereum": ("ETH", 18), "bitcoin": ("BTC", 8), "solana": ("SOL", 9)}


def decimal_text(amount: int, decimals: int) -> str:
    """``amount`` base units as an exact decimal (``1500000000000000000``, 18 → ``"1.5"``)."""
    whole, frac = divmod(amount, 10**decimals)
    digits = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole}.{digits}" if digits else str(whole)


def amount_text(chain: str, amount: int, asset: str) -> str:
    """An amount as a person reads it: with its unit, in whole coins where the decimals are known."""
    if amount == UNBOUNDED:
        return f"an unlimited amount of {asset or 'the native coin'}"
    if asset == NATIVE and chain in NATIVE_UNITS:
        unit, decimals = NATIVE_UNITS[chain]
        return f"{decimal_text(amount, decimals)} {unit}"
    if chain == "cosmos" and len(asset) > 1 and asset.startswith("u") and asset[1:].isalpha():
        return f"{decimal_text(amount, 6)} {asset[1:].upper()} ({amount} {asset})"
    if chain == "cosmos":
        return f"{amount} {asset}"
    return f"{amount} base units of token {asset} (decimals not known offline)"


def _line(chain: str, m: Movement) -> str:
    amount = amount_text(chain, m.amount, m.asset)
    to = m.destination or "an address the transaction does not name"
    if m.kind is Kind.TRANSFER:
        return f"send {amount} to {to}"
    if m.kind is Kind.APPROVAL:
        return f"APPROVE {to} to take {amount}"
    if m.kind is Kind.GRANT:
        return f"GRANT standing rights to {to}"
    if m.kind is Kind.CALL:
        return f"call contract/program {to}" + (f" with {amount}" if m.amount else "")
    return f"fee at most {amount}"


def review(
    adapter: ChainAdapter, ctx: TxContext, scheme: str, public_key: bytes, roots: Sequence[HdRoot] = ()
) -> dict[str, Any]:
    """The review of ``ctx`` for the vault key ``public_key`` (``roots``: the vault's HD root, then
    the owner's other vaults', for a PSBT that spends theirs too)."""
    chain = adapter.name
    doc: dict[str, Any] = {"chain": chain, "network": ctx.network_name}
    try:
        derived = adapter.derive_with_roots(ctx, scheme, public_key, roots)
    except (GridlockError, ValueError, KeyError, TypeError) as exc:
        doc["movements"] = None
        doc["unreadable"] = str(exc)
        return doc
    doc["movements"] = [
        {
            "kind": m.kind.value,
            "destination": m.destination,
            "amount": str(m.amount),
            "asset": m.asset,
            "text": _line(chain, m),
        }
        for m in derived.movements
    ]
    doc["blind"] = derived.blind
    call = _ethereum_call(ctx) if chain == "ethereum" else None
    if call is not None:
        doc["call"] = call
    return doc


def review_with_details(
    adapter: ChainAdapter, ctx: TxContext, scheme: str, public_key: bytes, roots: Sequence[HdRoot] = ()
) -> dict[str, Any]:
    """:func:`review`, with ``details``: the lines the chain's summary adds (:func:`extra_lines`)."""
    doc = review(adapter, ctx, scheme, public_key, roots)
    doc["details"] = extra_lines(adapter.name, adapter.summary(ctx))
    return doc


def _ethereum_call(ctx: TxContext) -> dict[str, Any] | None:
    """The contract function an Ethereum transaction's calldata calls, decoded by its ABI when it is
    one of the functions the guardians read (:data:`gridlock.chains.ethereum_calldata.FUNCTIONS`)."""
    from eth_abi.abi import decode  # noqa: PLC0415

    from gridlock.chains.context import EthereumTx  # noqa: PLC0415
    from gridlock.chains.ethereum_calldata import FUNCTIONS  # noqa: PLC0415

    if not isinstance(ctx, EthereumTx):
        return None
    data = str(ctx.tx.get("data") or ctx.tx.get("input") or "0x").removeprefix("0x")
    if len(data) < 8:
        return None
    try:
        raw = bytes.fromhex(data)
    except ValueError:
        return None
    known = {f.selector: f for f in FUNCTIONS}.get(raw[:4])
    if known is None:
        return {"selector": "0x" + raw[:4].hex(), "function": None, "arguments": None}
    try:
        values = decode(list(known.types), raw[4:])
    except Exception:  # calldata that does not decode is shown as such (the guardians read it as unknown)
        return {"selector": "0x" + raw[:4].hex(), "function": known.signature, "arguments": None}
    args = [_argument(t, v) for t, v in zip(known.types, values, strict=True)]
    return {"selector": "0x" + raw[:4].hex(), "function": known.signature, "arguments": args}


def extra_lines(chain: str, summary: dict[str, Any]) -> list[str]:
    """What the chain's summary adds beside the movements: Ethereum's chain id, nonce and decoded
    call, Bitcoin's inputs, Solana's blockhash, Cosmos's chain id and memo."""
    lines: list[str] = []
    if chain == "ethereum" and "chain_id" in summary:
        lines.append(f"chain id {summary['chain_id']}, nonce {summary.get('nonce')}, gas limit {summary.get('gas')}")
        data = summary.get("data") or b""
        data_hex = data.hex() if isinstance(data, bytes) else str(data).removeprefix("0x")
        if data_hex:
            lines.append(f"calldata: selector 0x{data_hex[:8]}, {len(data_hex) // 2} bytes")
    elif chain == "bitcoin":
        for i in summary.get("inputs", []):
            lines.append(f"input {i['index']}: {decimal_text(i['amount'], 8)} BTC from {i.get('address') or i['kind']}")
        lines.append(f"fee {decimal_text(summary.get('fee', 0), 8)} BTC ({summary.get('fee')} sat)")
    elif chain == "solana":
        lines.append(f"fee payer {summary.get('fee_payer')}, recent blockhash {summary.get('recent_blockhash')}")
    elif chain == "cosmos":
        lines.append(f"chain id {summary.get('chain_id')}, account {summary.get('account_number')}")
        if summary.get("memo"):
            lines.append(f"memo {summary['memo']!r}")
    return lines


def _argument(abi_type: str, value: Any) -> str:
    from eth_utils.address import to_checksum_address  # noqa: PLC0415

    if abi_type == "address":
        return str(to_checksum_address(value))
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
