"""``gridlock sign`` (a raw message or digest) and ``gridlock sign-tx`` (a chain transaction file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gridlock.chains import review
from gridlock.cli import chains as chainmod
from gridlock.cli import summary
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
from gridlock.cli.state import load_vaults, resolve_vault
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
    path: PathOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a raw message (FROST schemes) or a 32-byte digest (ECDSA) with t guardians (with --path:
    with that child key; each guardian derives its child share, the owner approves the path)."""

    def body(c: Cmd) -> None:
        c.profile()
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
        session, _ = c.session()
        what = f"signing with {entry['threshold']} of {len(entry['members'])} guardians…"
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
        if entry["scheme"] == "ecdsa-secp256k1":
            recid = _recovery_id(bytes.fromhex(public_key), msg, sig)
            doc["recovery_id"] = recid
            doc["signature_rsv"] = (sig + bytes([recid])).hex()  # r‖s‖v, v the recovery id (0 or 1)
        c.out.emit(doc, lambda con: con.print(sig.hex()))

    command(json, dir_, password_file, body)


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Sign without asking (scripts); the summary is still shown.")]


@app.command("sign-tx")
def sign_tx_cmd(
    vault: VaultArg,
    chain: ChainOpt,
    tx: Annotated[Path, typer.Option("--tx", help="Transaction file (PSBT, EIP-1559 JSON, Solana tx, SignDoc).")],
    network: NetworkOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the signed transaction here.")] = None,
    path: PathOpt = None,
    yes: YesOpt = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show what a chain transaction does, ask, then sign it; guardians re-derive what they sign from
    the transaction itself.  `gridlock tx build` writes the files; examples/README.md shows each.

    With --path, the child key at that path signs (its address is `gridlock address --path`).  A PSBT
    whose inputs carry BIP32 / Taproot derivation fields for the vault's fingerprint (a watch-only
    wallet built on `gridlock vault descriptors`, or `gridlock tx build`) is signed input by input
    with the child each names; inputs of another vault are left for it (sign with each vault in turn:
    --out of one is --tx of the next, and the last one completes the transaction).
    """

    def body(c: Cmd) -> None:
        c.profile()
        entry = resolve_vault(c.paths, vault)
        loaded = chainmod.load_tx(chain, entry["scheme"], tx, network)  # a bad file fails before any network
        key_path = None if path is None else check_path(path)
        paths = _paths(loaded, entry, key_path, tx)
        count = _count(loaded, entry, paths, tx)
        vaults = load_vaults(c.paths)
        rev = review.review_with_details(
            loaded.adapter, loaded.context, entry["scheme"], _key(entry, paths[0]), summary.owner_roots(entry, vaults)
        )
        summary.render(c.out.err, f"vault {entry.get('name') or entry['id']} signs", rev)
        summary.confirm(c.out.err, yes, f"sign this {chain} transaction with {count} signature(s)?")
        session, _ = c.session()
        with session as s, c.out.progress(f"signing ({chain})", count) as advance:
            try:
                signed = s.run(
                    s.open_vault(entry).sign_transaction(
                        chain,
                        loaded.context,
                        signers=_cosigners(loaded, entry, vaults),
                        on_signature=lambda done, total: advance(1),
                        path=key_path,
                    )
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
            "review": rev,
            "summary": loaded.summary,
            **result,
        }
        if out_file is not None:
            try:
                out_file.write_text(loaded.adapter.file_text(signed) + "\n")
            except OSError as exc:
                raise usage(f"cannot write {out_file}: {exc.strerror}") from None
            doc["out"] = str(out_file)

        def render(con: Console) -> None:
            con.print(
                f"[green]signed[/] {chain} transaction with vault {entry['id']} ({signed.signatures} signature(s))"
            )
            for k in ("txid", "tx_hash", "tx_hex", "tx_base64", "psbt"):
                if result.get(k):
                    con.print(f"[dim]{k}[/] {result[k]}")
            if result.get("finalize_error"):
                con.print(f"[yellow]not final:[/] {result['finalize_error']}")
                con.print("[yellow]sign the --out file with the vault that owns the other inputs[/]")
            if out_file is not None:
                con.print(f"[dim]written to[/] {out_file}")

        c.out.emit(doc, render)

    command(json, dir_, password_file, body)


def _recovery_id(public_key: bytes, digest: bytes, sig: bytes) -> int:
    """The recovery id of an ECDSA signature ``r‖s`` of ``digest``: the one of 0 and 1 (the x
    coordinate of R below the group order, practically always) with which libsecp256k1 recovers the key."""
    from coincurve import PublicKey  # noqa: PLC0415

    wanted = PublicKey(public_key).format()
    for recid in range(4):
        try:
            if PublicKey.from_signature_and_message(sig + bytes([recid]), digest, hasher=None).format() == wanted:
                return recid
        except ValueError:
            continue
    raise CliError("the signature recovers to no recovery id of the vault's key", code="internal")


def _key(entry: dict[str, Any], path: str | None) -> bytes:
    """The public key the review reads the transaction for: the vault's own, or its child at ``path``."""
    if path is None or path == "m":
        return bytes.fromhex(entry["public_key"])
    key: bytes = book_root(entry).public_key(path)
    return key


def _paths(loaded: chainmod.LoadedTx, entry: dict[str, Any], path: str | None, tx: Path) -> tuple[str, ...]:
    """The paths of the vault's keys that sign: ``path``, or those the transaction names itself (a
    PSBT's derivation fields), else the vault's own key."""
    if path is not None:
        return (path,)
    if not entry.get("chain_code"):
        return ("m",)
    try:
        found: tuple[str, ...] = loaded.adapter.signing_paths(loaded.context, book_root(entry))
    except GridlockError as exc:
        raise CliError(f"the transaction in {tx} cannot be signed by this vault: {exc}", exit_code=2) from None
    return found


def _count(loaded: chainmod.LoadedTx, entry: dict[str, Any], paths: tuple[str, ...], tx: Path) -> int:
    """How many signatures the vault's keys at ``paths`` owe the transaction (an error naming the file if none)."""
    try:
        return sum(len(loaded.adapter.hashes(loaded.context, entry["scheme"], _key(entry, p))) for p in paths)
    except GridlockError as exc:
        raise CliError(f"the transaction in {tx} cannot be signed by this vault: {exc}", exit_code=2) from None


def _cosigners(loaded: chainmod.LoadedTx, entry: dict[str, Any], vaults: list[dict[str, Any]]) -> list[str] | None:
    """For a PSBT that also spends the owner's other vaults' coins: ``t`` of this vault's guardians
    that hold those vaults too — a guardian allows inputs of the owner's other vaults only when it
    holds them (it checks them by their HD roots), so the SDK's fastest ``t`` might refuse.  ``None``
    (the SDK picks) for any other transaction, or when fewer than ``t`` guardians hold them all."""
    if loaded.adapter.name != "bitcoin":
        return None
    from gridlock.chains.bitcoin import Psbt, keys  # noqa: PLC0415
    from gridlock.client.hdroot import root_or_none  # noqa: PLC0415

    psbt = Psbt.from_base64(str(getattr(loaded.context, "psbt")))  # noqa: B009 -- BitcoinTx.psbt
    holders = [g for _, g in entry["members"]]
    others = False
    for v in vaults:
        if v["id"] == entry["id"]:
            continue
        root = root_or_none(v["scheme"], bytes.fromhex(v.get("group_key", "")), bytes.fromhex(v.get("chain_code", "")))
        if root is not None and keys.spent_paths(psbt, root):
            others = True
            held = {g for _, g in v["members"]}
            holders = [g for g in holders if g in held]
    if not others or len(holders) < int(entry["threshold"]):
        return None
    return holders[: int(entry["threshold"])]
