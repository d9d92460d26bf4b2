"""``gridlock address``: a vault's address on a chain, of its key or of a derived child key."""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

from typing import Annotated, Any

import typer

from gridlock.cli import chains as chainmod
from gridlock.cli.commands.common import ChainOpt, Cmd, DirOpt, JsonOpt, NetworkOpt, PwOpt, VaultArg, command
from gridlock.cli.state import require_state, resolve_vault
from gridlock.errors import GridlockError

app = typer.Typer()  # merged into the root command (no group name)


@app.command("address")
def address_cmd(
    vault: VaultArg,
    chain: ChainOpt,
    network: NetworkOpt = None,
    path: Annotated[str | None, typer.Option("--path", help="Non-hardened derivation path, e.g. m/0/1.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """A vault's address on a chain (with --path: of a derived child key; asks the guardians)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        chainmod.adapter_for(chain, entry["scheme"])
        public_key = bytes.fromhex(entry["public_key"])
        if path is not None:
            from gridlock.crypto import hd

            hd.parse_path(path)  # a bad path is a usage error before any network
            public_key = _derived_key(c, entry, path)
        doc = {
            "vault": entry["id"],
            "chain": chain,
            "scheme": entry["scheme"],
            "path": path,
            "public_key": public_key.hex(),
            **chainmod.address(chain, entry["scheme"], public_key, network),
        }
        c.out.emit(doc, lambda con: con.print(doc["address"]))

    command(json, dir_, password_file, body)


def _derived_key(c: Cmd, entry: dict[str, Any], path: str) -> bytes:
    """Child public key: the SDK derives it from the chain code the guardians report."""
    session, _ = c.session()
    with session as s:
        try:
            return s.run(s.open_vault(entry).child_public_key(path))
        except GridlockError as exc:
            raise s.error(exc, "deriving the child key") from None
