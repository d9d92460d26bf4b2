"""``gridlock sign`` (a raw message or digest) and ``gridlock sign-tx`` (a chain transaction file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridlock.cli import chains as chainmod
from gridlock.cli.commands.common import ChainOpt, Cmd, DirOpt, JsonOpt, NetworkOpt, PwOpt, VaultArg, command
from gridlock.cli.errors import CliError, usage
from gridlock.cli.state import require_state, resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer()  # merged into the root command (no group name)


def _hex(text: str, what: str) -> bytes:
    t = text.strip().removeprefix("0x")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise usage(f"{what} is not hex: {text[:40]!r}") from None


@app.command("sign")
def sign_cmd(
    vault: VaultArg,
    message: Annotated[str, typer.Option("--message", "-m", help="The message (or 32-byte digest) as hex.")],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a raw message (FROST schemes) or a 32-byte digest (ECDSA) with t guardians."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        msg = _hex(message, "--message")
        if not msg:
            raise usage("--message is empty")
        if entry["scheme"] == "ecdsa-secp256k1" and len(msg) != 32:
            raise usage(
                f"an ecdsa-secp256k1 vault signs a 32-byte digest, not {len(msg)} bytes",
                hint="hash the message first (e.g. SHA-256), or use `gridlock sign-tx` for a chain transaction",
            )
        if len(msg) > 1 << 16:
            raise usage("--message is longer than 64 KiB")
        session, _ = c.session()
        what = f"signing with {entry['threshold']} of {len(entry['members'])} guardians…"
        with session as s, c.out.status(what):
            try:
                sig = s.sign(s.open_vault(entry), msg)
            except GridlockError as exc:
                raise s.error(exc, "signing") from None
        doc = {
            "vault": entry["id"],
            "scheme": entry["scheme"],
            "public_key": entry["public_key"],
            "message": msg.hex(),
            "signature": sig.hex(),
            "verified": True,
        }
        c.out.emit(doc, lambda con: con.print(sig.hex()))

    command(json, dir_, password_file, body)


@app.command("sign-tx")
def sign_tx_cmd(
    vault: VaultArg,
    chain: ChainOpt,
    tx: Annotated[Path, typer.Option("--tx", help="Transaction file (PSBT, EIP-1559 JSON, Solana tx, SignDoc).")],
    network: NetworkOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the signed transaction here.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a chain transaction; guardians re-derive what they sign from the transaction itself."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        loaded = chainmod.load_tx(chain, entry["scheme"], tx, network)  # a bad file fails before any network
        public_key = bytes.fromhex(entry["public_key"])
        try:
            count = len(loaded.adapter.hashes(loaded.context, entry["scheme"], public_key))
        except GridlockError as exc:
            raise CliError(f"the transaction in {tx} cannot be signed by this vault: {exc}", exit_code=2) from None
        session, _ = c.session()
        with session as s, c.out.progress(f"signing ({chain})", count) as advance:
            try:
                signed = s.sign_transaction(s.open_vault(entry), chain, loaded.context, lambda done, total: advance(1))
            except GridlockError as exc:
                raise s.error(exc, f"signing the {chain} transaction") from None
        result = loaded.adapter.result_fields(signed)
        doc = {
            "vault": entry["id"],
            "chain": chain,
            "network": loaded.context.network_name,
            "signatures": signed.signatures,
            "summary": loaded.summary,
            **result,
        }
        if out_file is not None:
            out_file.write_text(loaded.adapter.file_text(signed) + "\n")

        def render(con: Console) -> None:
            con.print(
                f"[green]signed[/] {chain} transaction with vault {entry['id']} ({signed.signatures} signature(s))"
            )
            for k in ("txid", "tx_hash", "tx_hex", "tx_base64", "psbt"):
                if result.get(k):
                    con.print(f"[dim]{k}[/] {result[k]}")
            if result.get("finalize_error"):
                con.print(f"[yellow]not final:[/] {result['finalize_error']}")

        c.out.emit(doc, render)

    command(json, dir_, password_file, body)
