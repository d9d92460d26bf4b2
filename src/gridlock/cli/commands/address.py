"""``gridlock address``: a vault's address on a chain, of its key or of a derived child key."""

from __future__ import annotations

import typer

from gridlock.cli import chains as chainmod
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
from gridlock.cli.state import resolve_vault

app = typer.Typer()  # merged into the root command (no group name)


@app.command("address")
def address_cmd(
    vault: VaultArg,
    chain: ChainOpt,
    network: NetworkOpt = None,
    path: PathOpt = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,  # accepted as by every command; deriving needs no password now
    json: JsonOpt = False,
) -> None:
    """A vault's address on a chain (with --path: of a derived child key, from the vault book's chain
    code fixed at keygen — no guardian is asked, so none can choose the address)."""

    def body(c: Cmd) -> None:
        c.profile()
        entry = resolve_vault(c.paths, vault)
        chainmod.adapter_for(chain, entry["scheme"])
        public_key = bytes.fromhex(entry["public_key"])
        canonical = None if path is None else check_path(path)
        if canonical is not None and canonical != "m":
            public_key = book_root(entry).public_key(canonical)
        doc = {
            "vault": entry["id"],
            "chain": chain,
            "scheme": entry["scheme"],
            "path": canonical,
            "public_key": public_key.hex(),
            **chainmod.address(chain, entry["scheme"], public_key, network),
        }
        c.out.emit(doc, lambda con: con.print(doc["address"]))

    command(json, dir_, password_file, body)
