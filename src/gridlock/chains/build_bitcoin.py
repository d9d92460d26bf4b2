"""A Bitcoin payment from a ``tx build`` spec: UTXOs and outputs named by address or by a key of one
of the owner's vaults, and the PSBT's derivation fields for every vault key it spends or pays.

A vault key is a reference the caller resolves (:data:`gridlock.chains.build.Resolver`): a path of
the sending vault (``"m/0/7"``) or ``{"vault": NAME, "path": …}``.  The PSBT then carries each such
key's BIP32 / Taproot derivation fields (BIP174, BIP371): that is how each vault's signer finds the
inputs it owns, so one PSBT spending several vaults' coins is signed vault by vault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gridlock.chains import bitcoin
from gridlock.chains.bitcoin import TxOut, keys
from gridlock.chains.build import BitcoinPayment, Resolver, Utxo, VaultKey, fee_rate, field, integer
from gridlock.chains.context import BitcoinTx
from gridlock.errors import InvalidParameterError

__all__ = ["payment_psbt"]


def _is_path(value: object) -> bool:
    return isinstance(value, str) and (value == "m" or value.startswith("m/"))


class _Scripts:
    """Addresses and vault keys as output scripts, remembering the vault keys for the derivation fields."""

    def __init__(self, network: str, resolve: Resolver | None) -> None:
        self.network = network
        self.resolve = resolve
        self.used: list[VaultKey] = []

    def key(self, ref: object, what: str) -> bytes:
        if self.resolve is None:
            raise InvalidParameterError(f"{what} names a vault key, and no vault book is at hand")
        key = self.resolve(ref, what)
        if key.scheme not in ("ecdsa-secp256k1", "frost-taproot"):
            raise InvalidParameterError(f"{what}: a {key.scheme} vault holds no bitcoin")
        self.used.append(key)
        return keys.script_of(key.scheme, key.public_key)

    def of(self, value: object, what: str) -> bytes:
        """An address, or a vault key (a path, or an object naming the vault)."""
        if isinstance(value, str) and not _is_path(value):
            try:
                return bitcoin.address_to_script(value.strip(), self.network)
            except bitcoin.AddressError as exc:
                raise InvalidParameterError(f"{what}: {exc}") from None
        return self.key(value, what)


def _inputs(scripts: _Scripts, items: Sequence[Any]) -> tuple[Utxo, ...]:
    out = []
    for i, item in enumerate(items):
        what = f"input {i}"
        if not isinstance(item, Mapping):
            raise InvalidParameterError(f"{what}: an object with txid, vout, amount and an address or a vault key")
        if item.get("address") is not None:
            script = scripts.of(str(item["address"]), what)
        else:
            ref = item.get("key")
            script = scripts.key(
                ref if ref is not None else {"vault": item.get("vault"), "path": item.get("path")}, what
            )
        out.append(
            Utxo(
                txid=str(field(item, "txid")).lower(),
                vout=integer(field(item, "vout"), f"{what} vout", maximum=0xFFFFFFFF),
                amount=integer(field(item, "amount"), f"{what} amount"),
                script_pubkey=script,
            )
        )
    return tuple(out)


def _describe(psbt: str, network: str, used: Sequence[VaultKey]) -> str:
    """The PSBT with the derivation fields of every vault key it spends or pays (vaults with an HD root)."""
    from gridlock.chains import get  # noqa: PLC0415

    adapter = get("bitcoin")
    ctx = adapter.context(psbt, network)
    by_vault: dict[str, list[VaultKey]] = {}
    for k in used:
        if k.root is not None:
            by_vault.setdefault(k.vault, []).append(k)
    for group in by_vault.values():
        root = group[0].root
        assert root is not None
        ctx = adapter.describe_keys(ctx, root, list(dict.fromkeys(k.path for k in group)))
    assert isinstance(ctx, BitcoinTx)
    return ctx.psbt


def payment_psbt(spec: Mapping[str, Any], network: str, sender: VaultKey | None, resolve: Resolver | None) -> str:
    """The base64 PSBT of ``spec`` (``examples/bitcoin-payment.json``)."""
    scripts = _Scripts(network, resolve)
    inputs = _inputs(scripts, list(spec.get("inputs") or []))
    wanted = list(spec.get("outputs") or [])
    if spec.get("to") is not None:
        wanted.append({"address": spec["to"], "amount": field(spec, "amount")})
    outputs = []
    for i, o in enumerate(wanted):
        if not isinstance(o, Mapping):
            raise InvalidParameterError(f"output {i}: an object with address and amount")
        script = scripts.of(str(field(o, "address")), f"output {i}")
        outputs.append(TxOut(integer(field(o, "amount"), f"output {i} amount"), script))
    change = spec.get("change")
    if change is None and sender is None:
        raise InvalidParameterError("where does the change go? give change (an address, or a path of the vault)")
    rate = spec.get("fee_rate")
    payment = BitcoinPayment(
        utxos=inputs,
        outputs=tuple(outputs),
        change_script=scripts.of(change if change is not None else "m", "change"),
        fee_rate=None if rate is None else fee_rate(rate),
        fee=None if spec.get("fee") is None else integer(spec["fee"], "fee"),
        locktime=integer(spec.get("locktime", 0), "locktime", maximum=0xFFFFFFFF),
    )
    return _describe(payment.psbt(), network, scripts.used)
