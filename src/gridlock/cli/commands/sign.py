"""``gridlock sign`` (a raw message or digest) and ``gridlock sign-tx`` (a chain transaction file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from gridlock.cli.errors import CliError, usage
from gridlock.cli.state import require_state, resolve_vault
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.cli import chains as chainmod  # imported by sign-tx only: `gridlock sign` needs no chain

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
    path: PathOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a raw message (FROST schemes) or a 32-byte digest (ECDSA) with t guardians (with --path:
    with that child key; each guardian derives its child share, the owner approves the path)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        key_path = check_path(path or "m")
        public_key = entry["public_key"] if key_path == "m" else book_root(entry).public_key(key_path).hex()
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
        what = f"signing with {entry['threshold']} of {len(entry['members'])} guardians…"
        with c.out.status(what):
            sig = c.agent_sign(entry, msg, key_path)  # an unlocked session signs (gridlock unlock)
        if sig is None:
            session, _ = c.session()
            with session as s, c.out.status(what):
                try:
                    sig = s.sign(s.open_vault(entry), msg, key_path)
                except GridlockError as exc:
                    raise s.error(exc, "signing") from None
        doc = {
            "vault": entry["id"],
            "scheme": entry["scheme"],
            "path": key_path,
            "public_key": public_key,
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
    path: PathOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a chain transaction; guardians re-derive what they sign from the transaction itself.

    With --path, the child key at that path signs (its address is `gridlock address --path`).  A PSBT
    whose inputs carry BIP32 / Taproot derivation fields for the vault's fingerprint (a watch-only
    wallet built on `gridlock vault descriptors`) is signed input by input with the child each names.
    """

    def body(c: Cmd) -> None:
        from gridlock.cli import chains as chainmod  # noqa: PLC0415 -- only sign-tx reads chains

        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        loaded = chainmod.load_tx(chain, entry["scheme"], tx, network)  # a bad file fails before any network
        key_path = None if path is None else check_path(path)
        count = _count(loaded, entry, key_path, tx)
        session, _ = c.session()
        with session as s, c.out.progress(f"signing ({chain})", count) as advance:
            try:
                signed = s.sign_transaction(
                    s.open_vault(entry), chain, loaded.context, lambda done, total: advance(1), key_path
                )
            except GridlockError as exc:
                raise s.error(exc, f"signing the {chain} transaction") from None
        result = loaded.adapter.result_fields(signed)
        doc = {
            "vault": entry["id"],
            "chain": chain,
            "path": key_path,
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


def _count(loaded: chainmod.LoadedTx, entry: dict[str, Any], path: str | None, tx: Path) -> int:
    """How many signatures the vault's keys owe the transaction (an error naming the file if none):
    the key at ``path``, or those the transaction names itself (a PSBT's derivation fields)."""
    scheme, adapter, ctx = entry["scheme"], loaded.adapter, loaded.context
    try:
        if path is None and entry.get("chain_code"):
            paths: tuple[str, ...] = adapter.signing_paths(ctx, book_root(entry))
        else:
            paths = (path or "m",)
        keys = [bytes.fromhex(entry["public_key"]) if p == "m" else book_root(entry).public_key(p) for p in paths]
        return sum(len(adapter.hashes(ctx, scheme, k)) for k in keys)
    except GridlockError as exc:
        raise CliError(f"the transaction in {tx} cannot be signed by this vault: {exc}", exit_code=2) from None
