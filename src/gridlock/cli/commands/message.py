"""``gridlock sign-message``: the message signatures a wallet user expects, made by the guardians.

* Ethereum: EIP-191 ``personal_sign`` (``--personal TEXT``) and EIP-712 typed data (``--typed-data
  FILE``, ``eth_signTypedData_v4``): 65-byte ``r‖s‖v`` (v = 27 or 28, the recovery id plus 27), as
  ``ecrecover`` and eth-account's ``recover_message`` take it.  The guardians are shown the message
  itself (a permit in typed data is read as the approval it is).
* Solana: an off-chain message (:mod:`gridlock.chains.solana_offchain`, the ``"\\xffsolana
  offchain"`` signing domain), Ed25519, base58 as wallets show it.
* Bitcoin: a BIP-322 simple signature (:mod:`gridlock.chains.bitcoin.bip322`) for the vault's P2WPKH
  or P2TR address, base64; the guardians sign its virtual transaction as a PSBT.

A Solana off-chain message is signed as a raw message: a guardian whose owner set a chain rule
refuses raw signing (the policy's ``raw`` rule) — unchanged here on purpose.  Like ``sign-tx``, the
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
from gridlock.cli.state import require_state, resolve_vault
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
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        if (text is None) == (typed_data is None):
            raise usage("give the message: --text TEXT (or --personal TEXT), or --typed-data FILE (Ethereum)")
        if typed_data is not None and chain != "ethereum":
            raise usage("--typed-data is EIP-712, an Ethereum format")
        if chain not in _signers:
            raise usage(f"sign-message signs on {', '.join(_signers)}, not {chain!r}")
        from gridlock.cli import chains as chainmod
        from gridlock.cli import summary

        adapter = chainmod.adapter_for(chain, entry["scheme"])
        key_path = "m" if path is None else check_path(path)
        key = bytes.fromhex(entry["public_key"]) if key_path == "m" else book_root(entry).public_key(key_path)
        try:
            net = adapter.network(network)
            address = adapter.address(key, entry["scheme"], net).address
        except GridlockError as exc:
            raise usage(str(exc)) from None
        message = (text or "").encode()
        if len(message) > 1 << 16:
            raise usage("the message is longer than 64 KiB")
        doc: dict[str, Any] = {"vault": entry["id"], "chain": chain, "path": key_path, "address": address}
        signer = _signers[chain]
        prepared = signer.prepare(message, typed_data, key, entry["scheme"], net)
        c.out.err.print(f"[bold]vault {entry.get('name') or entry['id']} signs a {prepared.kind}[/] as {address}")
        for line in prepared.lines:
            c.out.err.print(f"  {line}", highlight=False, markup=False)
        if prepared.review is not None:
            summary.render(c.out.err, "what it lets others do", prepared.review)
        summary.confirm(c.out.err, yes, f"sign this {prepared.kind}?")
        session, _ = c.session()
        with session as s, c.out.status("signing with the guardians…"):
            try:
                doc.update(signer.sign(s, s.open_vault(entry), prepared, key_path))
            except GridlockError as exc:
                raise s.error(exc, f"signing the {chain} message") from None
        doc["format"] = prepared.format

        def render(con: Console) -> None:
            con.print(doc["signature"], highlight=False)

        c.out.emit(doc, render)

    command(json, dir_, password_file, body)


class Prepared:
    def __init__(self, kind: str, fmt: str, lines: list[str], payload: Any, review: dict[str, Any] | None = None):
        self.kind, self.format, self.lines, self.payload, self.review = kind, fmt, lines, payload, review


class _Ethereum:
    @staticmethod
    def prepare(message: bytes, typed: Path | None, key: bytes, scheme: str, net: str | None) -> Prepared:
        from gridlock import chains
        from gridlock.chains import review
        from gridlock.chains.context import EthereumMessage, EthereumTypedData, load_json

        if typed is None:
            return Prepared(
                "personal message (EIP-191)", "eip191", [f"message: {message.decode()!r}"], EthereumMessage.of(message)
            )
        try:
            ctx = EthereumTypedData.of(load_json(typed.read_bytes()))
            read = chains.get("ethereum").summary(ctx)
        except OSError as exc:
            raise usage(f"cannot read {typed}: {exc.strerror}") from None
        except (GridlockError, ValueError, TypeError, KeyError) as exc:
            raise usage(f"malformed EIP-712 typed data in {typed}: {exc}") from None
        lines = [
            f"primary type {read['primary_type']}, domain {read['domain']}",
            f"message {read['message']}",
        ]
        rev = review.review(chains.get("ethereum"), ctx, scheme, key)
        return Prepared("typed-data message (EIP-712)", "eip712", lines, ctx, rev)

    @staticmethod
    def sign(s: Any, vault: Any, p: Prepared, path: str) -> dict[str, Any]:
        signed = s.sign_transaction(vault, "ethereum", p.payload, None, path)
        sig = bytes(signed.raw)
        return {
            "signature": "0x" + sig.hex(),
            "r": "0x" + sig[:32].hex(),
            "s": "0x" + sig[32:64].hex(),
            "v": sig[64],
            "recovery_id": sig[64] - 27,
        }


class _Solana:
    @staticmethod
    def prepare(message: bytes, typed: Path | None, key: bytes, scheme: str, net: str | None) -> Prepared:
        from gridlock.chains import solana_offchain

        try:
            payload = solana_offchain.serialize(message)
        except GridlockError as exc:
            raise usage(str(exc)) from None
        return Prepared("Solana off-chain message", "solana-offchain-v0", [f"message: {message.decode()!r}"], payload)

    @staticmethod
    def sign(s: Any, vault: Any, p: Prepared, path: str) -> dict[str, Any]:
        import base58

        sig = s.sign(vault, p.payload, path)
        return {
            "signature": base58.b58encode(sig).decode(),
            "signature_hex": sig.hex(),
            "signed_bytes": p.payload.hex(),
        }


class _Bitcoin:
    @staticmethod
    def prepare(message: bytes, typed: Path | None, key: bytes, scheme: str, net: str | None) -> Prepared:
        from gridlock.chains.bitcoin import bip322, keys
        from gridlock.chains.context import BitcoinTx

        assert net is not None
        psbt = bip322.to_sign_psbt(keys.script_of(scheme, key), message)
        return Prepared("BIP-322 message", "bip322-simple", [f"message: {message.decode()!r}"], BitcoinTx(psbt, net))

    @staticmethod
    def sign(s: Any, vault: Any, p: Prepared, path: str) -> dict[str, Any]:
        from gridlock.chains.bitcoin import bip322

        signed = s.sign_transaction(vault, "bitcoin", p.payload, None, path)
        if signed.raw is None:
            raise usage(f"the BIP-322 transaction is not complete: {signed.finalize_error}")
        return {"signature": bip322.simple_signature(signed.raw)}


_signers: dict[str, Any] = {"ethereum": _Ethereum, "solana": _Solana, "bitcoin": _Bitcoin}
