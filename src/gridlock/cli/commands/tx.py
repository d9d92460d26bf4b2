"""``gridlock tx build``: an unsigned transaction file in exactly the form ``sign-tx --tx`` reads.

Fields come from a small JSON file (``--spec``, examples under ``examples/``) and/or options (an
option wins over the file).  Amounts are whole numbers in the chain's base unit: wei, satoshi,
lamport, the Cosmos denom's unit.  ``--vault`` fills in what the vault book knows: the sender
(Solana, Cosmos), the Bitcoin UTXOs' scripts and change address from their paths, and the PSBT's
BIP32 / Taproot derivation fields (BIP174, BIP371) so each vault's ``sign-tx`` finds its inputs.
The builders are :mod:`gridlock.chains.build`; nothing here needs the guardians or the password.
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, NetworkOpt, book_root, check_path, command
from gridlock.cli.errors import CliError, usage
from gridlock.cli.state import resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer(help="Build unsigned transactions for `gridlock sign-tx`.", no_args_is_help=True)

MAX_SPEC = 1 << 20


def _spec(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from gridlock.chains.context import load_json

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise usage(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_SPEC:
        raise usage(f"{path} is larger than {MAX_SPEC} bytes")
    try:
        spec = load_json(raw)
    except GridlockError as exc:
        raise usage(f"{path} is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise usage(f"{path} must hold a JSON object (examples/README.md shows one per chain)")
    return spec


@app.command("build")
def build_cmd(
    chain: Annotated[str | None, typer.Option("--chain", help="bitcoin, ethereum, solana or cosmos.")] = None,
    spec_file: Annotated[Path | None, typer.Option("--spec", help="JSON file of the fields (examples/).")] = None,
    vault: Annotated[str | None, typer.Option("--vault", help="The sending vault (id, prefix or name).")] = None,
    network: NetworkOpt = None,
    to: Annotated[str | None, typer.Option("--to", help="Recipient address.")] = None,
    amount: Annotated[str | None, typer.Option("--amount", help="Amount in base units (wei, sat, lamport…).")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Ethereum: ERC-20 contract to transfer.")] = None,
    nonce: Annotated[str | None, typer.Option("--nonce", help="Ethereum: the sender's nonce.")] = None,
    chain_id: Annotated[str | None, typer.Option("--chain-id", help="Ethereum chain id / Cosmos chain id.")] = None,
    max_fee: Annotated[str | None, typer.Option("--max-fee-per-gas", help="Ethereum: wei per gas.")] = None,
    tip: Annotated[str | None, typer.Option("--priority-fee", help="Ethereum: max priority fee, wei/gas.")] = None,
    gas: Annotated[str | None, typer.Option("--gas", help="Gas limit (Ethereum, Cosmos).")] = None,
    utxo: Annotated[
        list[str] | None,
        typer.Option("--utxo", help="Bitcoin: TXID:VOUT:SATS[:ADDRESS or PATH of --vault]; repeatable."),
    ] = None,
    change: Annotated[str | None, typer.Option("--change", help="Bitcoin: change address, or PATH of --vault.")] = None,
    fee_rate: Annotated[str | None, typer.Option("--fee-rate", help="Bitcoin: sat/vB.")] = None,
    fee: Annotated[str | None, typer.Option("--fee", help="Bitcoin: sats; Cosmos: fee in the denom.")] = None,
    blockhash: Annotated[str | None, typer.Option("--blockhash", help="Solana: a recent blockhash.")] = None,
    denom: Annotated[str | None, typer.Option("--denom", help="Cosmos: denom (default uscrt).")] = None,
    memo: Annotated[str | None, typer.Option("--memo", help="Cosmos: memo.")] = None,
    account_number: Annotated[str | None, typer.Option("--account-number", help="Cosmos: account.")] = None,
    sequence: Annotated[str | None, typer.Option("--sequence", help="Cosmos: the account's sequence.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the transaction here (else stdout).")] = None,
    dir_: DirOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build an unsigned transaction: Ethereum (EIP-1559 transfer or ERC-20), Bitcoin (PSBT from
    UTXOs, with change), Solana (transfer), Cosmos (MsgSend SignDoc).  The file is what
    `gridlock sign-tx --tx` reads; examples/README.md documents every field."""
    options = {
        "to": to,
        "amount": amount,
        "token": token,
        "nonce": nonce,
        "chain_id": chain_id,
        "max_fee_per_gas": max_fee,
        "max_priority_fee_per_gas": tip,
        "gas": gas,
        "change": change,
        "fee_rate": fee_rate,
        "fee": fee,
        "recent_blockhash": blockhash,
        "denom": denom,
        "memo": memo,
        "account_number": account_number,
        "sequence": sequence,
    }

    def body(c: Cmd) -> None:
        spec = _spec(spec_file)
        spec.update({k: v for k, v in options.items() if v is not None})
        name = chain or spec.get("chain")
        if not isinstance(name, str):
            raise usage('which chain? give --chain (or "chain" in the --spec file)')
        net = network or spec.get("network") or spec.get("prefix")
        entry = None
        if vault is not None or spec.get("vault") is not None:
            c.profile()
            entry = resolve_vault(c.paths, str(vault or spec.get("vault")))
        from gridlock.cli import chains as chainmod

        adapter = chainmod.adapter_for(name, entry["scheme"] if entry else _any_scheme(name))
        try:
            net = adapter.network(net)
            from gridlock.chains import build

            if utxo:
                spec["inputs"] = [*(spec.get("inputs") or []), *(_utxo_option(u) for u in utxo)]
            resolve = _resolver(c, entry)
            text = build.transaction(
                name, spec, net, sender=None if entry is None else resolve("m", "--vault"), resolve=resolve
            )
            ctx = adapter.load(text.encode(), net)  # it must read back as sign-tx will read it
            chain_summary = adapter.summary(ctx)
        except CliError:
            raise
        except (GridlockError, ValueError, TypeError, KeyError) as exc:
            raise usage(
                f"cannot build the {name} transaction: {exc}", hint="examples/README.md shows every field"
            ) from None
        doc: dict[str, Any] = {"chain": name, "network": net, "tx": text, "summary": chain_summary}
        if entry is not None:
            from gridlock.chains import review

            rev = review.review_with_details(
                adapter, ctx, entry["scheme"], bytes.fromhex(entry["public_key"]), _roots(c, entry)
            )
            doc["review"] = rev
        if out_file is not None:
            try:
                out_file.write_text(text + "\n")
            except OSError as exc:
                raise usage(f"cannot write {out_file}: {exc.strerror}") from None
            doc["out"] = str(out_file)

        def render(con: Console) -> None:
            if out_file is None:
                con.print(text, highlight=False, soft_wrap=True)
                return
            if "review" in doc:
                from gridlock.cli import summary

                summary.render(con, "built", doc["review"])
            con.print(f"[green]wrote[/] unsigned {name} transaction to {out_file}")

        c.out.emit(doc, render)

    command(json, dir_, None, body)


def _utxo_option(text: str) -> dict[str, Any]:
    """``--utxo TXID:VOUT:SATS[:ADDRESS or PATH]`` as a spec input."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise usage(f"--utxo {text[:80]!r}: expected TXID:VOUT:SATS[:ADDRESS or PATH]")
    item: dict[str, Any] = {"txid": parts[0], "vout": parts[1], "amount": parts[2]}
    if len(parts) == 4:
        item["key" if parts[3] == "m" or parts[3].startswith("m/") else "address"] = parts[3]
    return item


def _any_scheme(chain: str) -> str:
    from gridlock import chains

    try:
        return chains.get(chain).schemes[0]
    except GridlockError:
        raise usage(f"unknown chain {chain!r}", hint=f"one of: {', '.join(chains.CHAINS)}") from None


def _roots(c: Cmd, entry: dict[str, Any]) -> list[Any]:
    from gridlock.cli import summary
    from gridlock.cli.state import load_vaults

    return summary.owner_roots(entry, load_vaults(c.paths))


def _resolver(c: Cmd, default: dict[str, Any] | None) -> Any:
    """Vault key references of the spec (a path of ``--vault``, or ``{"vault": …, "path": …}``) as
    keys, from the vault book (the HD root fixed at keygen; no guardian is asked)."""
    from gridlock.chains.build import VaultKey
    from gridlock.client.hdroot import root_or_none

    def resolve(ref: Any, what: str) -> VaultKey:
        if isinstance(ref, str):
            vault_ref, path = None, ref
        elif isinstance(ref, dict):
            vault_ref, path = ref.get("vault"), str(ref.get("path") or "m")
        else:
            raise usage(f'{what}: an address, a path, or {{"vault": …, "path": …}}')
        entry = default if vault_ref is None else resolve_vault(c.paths, str(vault_ref))
        if entry is None:
            raise usage(f'{what} names a vault key: give --vault (or "vault" beside its path)')
        path = check_path(path)
        key = bytes.fromhex(entry["public_key"]) if path == "m" else book_root(entry).public_key(path)
        group, code = bytes.fromhex(entry.get("group_key", "")), bytes.fromhex(entry.get("chain_code", ""))
        return VaultKey(entry["id"], entry["scheme"], key, path, root_or_none(entry["scheme"], group, code))

    return resolve
