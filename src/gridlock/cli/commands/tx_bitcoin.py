"""``gridlock tx build --chain bitcoin``: a PSBT from a UTXO list, the vault book naming the scripts.

A UTXO or the change is an address, or a key of a vault (``{"vault": NAME, "path": "m/0/7"}``; the
vault defaults to ``--vault``, the path to the vault's own key ``m``).  The PSBT then carries the
BIP32 / Taproot derivation fields of every vault key it spends or pays (BIP174, BIP371), which is
how each vault's ``sign-tx`` finds the inputs it signs — several vaults' coins in one PSBT are
signed vault by vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridlock.chains import bitcoin, build
from gridlock.chains.bitcoin import TxOut, keys
from gridlock.cli.commands.common import Cmd, book_root, check_path
from gridlock.cli.errors import usage
from gridlock.cli.state import resolve_vault

VaultKeyRef = tuple[str, str]  # vault id, path


class _Keys:
    """The vault keys a PSBT spends or pays, by vault, for the derivation fields."""

    def __init__(self, c: Cmd, default: dict[str, Any] | None) -> None:
        self.c = c
        self.default = default
        self.entries: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, list[str]] = {}

    def script(self, ref: Any, what: str) -> bytes:
        """The script of a vault key reference: a path text (of the default vault) or an object."""
        if isinstance(ref, str):
            vault_ref, path = None, ref
        elif isinstance(ref, dict):
            vault_ref, path = ref.get("vault"), str(ref.get("path") or "m")
        else:
            raise usage(f'{what}: an address, a path, or {{"vault": …, "path": …}}')
        entry = self.default if vault_ref is None else resolve_vault(self.c.paths, str(vault_ref))
        if entry is None:
            raise usage(f'{what} names a vault key: give --vault (or "vault" beside its path)')
        path = check_path(path)
        if entry["scheme"] not in ("ecdsa-secp256k1", "frost-taproot"):
            raise usage(f"{what}: a {entry['scheme']} vault holds no bitcoin")
        key = bytes.fromhex(entry["public_key"]) if path == "m" else book_root(entry).public_key(path)
        self.entries[entry["id"]] = entry
        self.paths.setdefault(entry["id"], [])
        if path not in self.paths[entry["id"]]:
            self.paths[entry["id"]].append(path)
        return keys.script_of(entry["scheme"], key)

    def describe(self, psbt: str, network: str) -> str:
        from gridlock import chains  # noqa: PLC0415
        from gridlock.client.hdroot import root_or_none  # noqa: PLC0415

        adapter = chains.get("bitcoin")
        ctx = adapter.context(psbt, network)
        for vid, entry in self.entries.items():
            root = root_or_none(
                entry["scheme"], bytes.fromhex(entry.get("group_key", "")), bytes.fromhex(entry.get("chain_code", ""))
            )
            if root is not None:
                ctx = adapter.describe_keys(ctx, root, self.paths[vid])
        return str(getattr(ctx, "psbt"))  # noqa: B009 -- BitcoinTx.psbt


def _script(k: _Keys, value: Any, network: str, what: str) -> bytes:
    """An address, or a vault key (a path text starting with ``m``, or an object)."""
    if isinstance(value, str) and value != "m" and not value.startswith("m/"):
        try:
            return bitcoin.address_to_script(value.strip(), network)
        except bitcoin.AddressError as exc:
            raise usage(f"{what}: {exc}") from None
    return k.script(value, what)


def _utxo_option(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise usage(f"--utxo {text[:80]!r}: expected TXID:VOUT:SATS[:ADDRESS or PATH]")
    item: dict[str, Any] = {"txid": parts[0], "vout": parts[1], "amount": parts[2]}
    if len(parts) == 4:
        item["key" if parts[3] == "m" or parts[3].startswith("m/") else "address"] = parts[3]
    return item


def _inputs(k: _Keys, items: Sequence[Any], network: str) -> tuple[build.Utxo, ...]:
    out = []
    for i, item in enumerate(items):
        what = f"input {i}"
        if not isinstance(item, dict):
            raise usage(f"{what}: an object with txid, vout, amount and an address or a vault key")
        if item.get("address") is not None:
            script = _script(k, str(item["address"]), network, what)
        elif item.get("key") is not None:
            script = k.script(item["key"], what)
        else:
            script = k.script({"vault": item.get("vault"), "path": item.get("path")}, what)
        out.append(
            build.Utxo(
                txid=str(build.field(item, "txid")).lower(),
                vout=build.integer(build.field(item, "vout"), f"{what} vout", maximum=0xFFFFFFFF),
                amount=build.integer(build.field(item, "amount"), f"{what} amount"),
                script_pubkey=script,
            )
        )
    return tuple(out)


def build_psbt(c: Cmd, spec: dict[str, Any], entry: dict[str, Any] | None, network: str, utxos: list[str]) -> str:
    """The PSBT of ``spec`` (examples/bitcoin-payment.json), derivation fields included."""
    k = _Keys(c, entry)
    items = list(spec.get("inputs") or []) + [_utxo_option(u) for u in utxos]
    inputs = _inputs(k, items, network)
    outputs = []
    wanted = list(spec.get("outputs") or [])
    if spec.get("to") is not None:
        wanted.append({"address": spec["to"], "amount": build.field(spec, "amount")})
    for i, o in enumerate(wanted):
        if not isinstance(o, dict):
            raise usage(f"output {i}: an object with address and amount")
        script = _script(k, str(build.field(o, "address")), network, f"output {i}")
        outputs.append(TxOut(build.integer(build.field(o, "amount"), f"output {i} amount"), script))
    change = spec.get("change")
    if change is None and entry is None:
        raise usage("where does the change go? give --change (an address, or a path of --vault) or --vault")
    change_script = _script(k, change if change is not None else "m", network, "change")
    rate = spec.get("fee_rate")
    payment = build.BitcoinPayment(
        utxos=inputs,
        outputs=tuple(outputs),
        change_script=change_script,
        fee_rate=None if rate is None else build.fee_rate(rate),
        fee=None if spec.get("fee") is None else build.integer(spec["fee"], "fee"),
        locktime=build.integer(spec.get("locktime", 0), "locktime", maximum=0xFFFFFFFF),
    )
    return k.describe(payment.psbt(), network)
