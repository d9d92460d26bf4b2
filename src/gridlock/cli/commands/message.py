"""``gridlock sign-message``: the message signatures a wallet user expects, made by the guardians
(:mod:`gridlock.chains.messages`): Ethereum EIP-191 and EIP-712 (65-byte ``r‖s‖v``), a Solana
off-chain message (base58), a Bitcoin BIP-322 simple signature (base64).  Like ``sign-tx``, the
message is shown and confirmed first (``--yes`` for scripts).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gridlock.cli.commands.common import (
    ChainOpt,
    Cmd,
    DirOpt,
    JsonOpt,
    NetworkOpt,
    PathOpt,
    PwOpt,
    VaultArg,
    book_root,
    check_path,
    command,
)
from gridlock.cli.errors import usage
from gridlock.cli.state import resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer()  # merged into the root command (no group name)


@app.command("sign-message")
def sign_message_cmd(
    vault: VaultArg,
    chain: ChainOpt,
    text: Annotated[
        str | None, typer.Option("--text", "--personal", help="The message (EIP-191 personal_sign on Ethereum).")
    ] = None,
    typed_data: Annotated[Path | None, typer.Option("--typed-data", help="Ethereum: EIP-712 JSON file.")] = None,
    network: NetworkOpt = None,
    path: PathOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Sign without asking (scripts).")] = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a message as wallets do: Ethereum EIP-191 / EIP-712, a Solana off-chain message, a Bitcoin
    BIP-322 simple signature (P2WPKH, P2TR)."""

    def body(c: Cmd) -> None:
        c.profile()
        entry = resolve_vault(c.paths, vault)
        from gridlock.chains import messages
        from gridlock.cli import chains as chainmod
        from gridlock.cli import summary

        if chain not in messages.CHAINS:
            raise usage(f"sign-message signs on {', '.join(messages.CHAINS)}, not {chain!r}")
        adapter = chainmod.adapter_for(chain, entry["scheme"])
        key_path = "m" if path is None else check_path(path)
        key = bytes.fromhex(entry["public_key"]) if key_path == "m" else book_root(entry).public_key(key_path)
        try:
            net = adapter.network(network)
            address = adapter.address(key, entry["scheme"], net).address
            req = messages.prepare(chain, text, _typed(typed_data), entry["scheme"], key, net)
        except GridlockError as exc:
            raise usage(str(exc)) from None
        c.out.err.print(f"[bold]vault {entry.get('name') or entry['id']} signs a {req.kind}[/] as {address}")
        for line in req.lines:
            c.out.err.print(f"  {line}", highlight=False, markup=False)
        if req.review is not None:
            summary.render(c.out.err, "what it lets others do", req.review)
        summary.confirm(c.out.err, yes, f"sign this {req.kind}?")
        doc: dict[str, Any] = {"vault": entry["id"], "chain": chain, "path": key_path, "address": address}
        session, _ = c.session()
        with session as s, c.out.status("signing with the guardians…"):
            try:
                v = s.open_vault(entry)
                if req.context is not None:
                    doc.update(messages.result(req, signed=s.sign_transaction(v, chain, req.context, None, key_path)))
                else:
                    assert req.raw is not None
                    doc.update(messages.result(req, signature=s.sign(v, req.raw, key_path)))
            except GridlockError as exc:
                raise s.error(exc, f"signing the {chain} message") from None
        doc["format"] = req.format

        def render(con: Console) -> None:
            con.print(doc["signature"], highlight=False)

        c.out.emit(doc, render)

    command(json, dir_, password_file, body)


def _typed(path: Path | None) -> Any:
    if path is None:
        return None
    from gridlock.chains.context import load_json

    try:
        data = load_json(path.read_bytes())
    except OSError as exc:
        raise usage(f"cannot read {path}: {exc.strerror}") from None
    except GridlockError as exc:
        raise usage(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise usage(f"{path} must hold an EIP-712 JSON object (types, primaryType, domain, message)")
    return data
