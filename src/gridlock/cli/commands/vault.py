"""``gridlock vault create|list|show``: make a vault by distributed key generation and read the vault book."""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gridlock import chains
from gridlock.cli import chains as chainmod
from gridlock.cli.commands.common import (
    Cmd,
    DirOpt,
    JsonOpt,
    NetworkOpt,
    PwOpt,
    VaultArg,
    book_root,
    command,
    split_list,
    table,
)
from gridlock.cli.errors import UNAVAILABLE, CliError, usage
from gridlock.cli.state import load_vaults, name_claimed, resolve_vault, save_vault
from gridlock.crypto.schemes import SCHEMES
from gridlock.errors import GridlockError, InvalidParameterError

SCHEME_ALIASES = {"ed25519": "frost-ed25519", "taproot": "frost-taproot", "ecdsa": "ecdsa-secp256k1"}
app = typer.Typer(help="Create and inspect vaults.", no_args_is_help=True)


def _scheme(name: str) -> str:
    name = SCHEME_ALIASES.get(name, name)
    if name not in SCHEMES:
        raise usage(f"unknown scheme {name!r}", hint=f"one of: {', '.join(sorted(SCHEMES))}")
    return name


def _addresses(entry: dict[str, Any]) -> dict[str, str]:
    out = {}
    for chain in chains.CHAINS:
        if entry["scheme"] in chains.get(chain).schemes:
            out[chain] = chainmod.address(chain, entry["scheme"], bytes.fromhex(entry["public_key"]), None)["address"]
    return out


def vault_doc(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "n": len(entry["members"]), "addresses": _addresses(entry)}


def render_vault(doc: dict[str, Any], title: str = "vault") -> Callable[[Console], None]:
    def render(con: Console) -> None:
        con.print(f"[bold]{title} {doc['id']}[/]" + (f" ({doc['name']})" if doc.get("name") else ""))
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="dim")
        t.add_column()
        t.add_row("scheme", doc["scheme"])
        t.add_row("threshold", f"{doc['threshold']} of {doc['n']}")
        t.add_row("guardians", ", ".join(doc["guardians"]))
        t.add_row("public key", doc["public_key"])
        t.add_row("epoch", str(doc["epoch"]))
        for chain, addr in doc.get("addresses", {}).items():
            t.add_row(chain, addr)
        con.print(t)
        for g, r in (doc.get("guardian_reports") or {}).items():
            state = f"epoch {r['epoch']}" if r.get("ok") else f"[red]{r.get('error')}[/]"
            con.print(f"  {g}: {state}")

    return render


@app.command("create")
def vault_create(
    scheme: Annotated[
        str, typer.Option("--scheme", help=f"One of {', '.join(sorted(SCHEMES))} (or ed25519, taproot, ecdsa).")
    ],
    threshold: Annotated[int, typer.Option("--threshold", "-t", help="Signatures needed (t of n).")] = 3,
    guardians: Annotated[
        list[str] | None,
        typer.Option("--guardians", "-g", help="Guardian names (comma-separated or repeated) [default: the five]."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for the vault.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create a vault: distributed key generation among the guardians; the whole key never exists."""

    def body(c: Cmd) -> None:
        sch = _scheme(scheme)
        profile = c.profile()
        profile.route()  # a devnet that is not running fails here, before any check of the options
        refs = split_list(guardians) or [g["name"] for g in profile.default_committee()]
        chosen = [profile.resolve_guardian(r) for r in refs]
        if len({g["id"] for g in chosen}) != len(chosen):
            raise usage("a guardian is listed twice")
        if not 2 <= threshold <= len(chosen):
            raise usage(f"--threshold must be between 2 and the number of guardians ({len(chosen)})")
        warnings = []
        if threshold == len(chosen):
            warnings.append(
                f"a {threshold}-of-{len(chosen)} vault needs every guardian to sign: one guardian lost loses "
                f"the key for good (choose --threshold below {len(chosen)} to survive a loss)"
            )
            c.out.note(f"[yellow]warning:[/] {warnings[-1]}")
        with name_claimed(c.paths, name) if name is not None else contextlib.nullcontext():
            session, _ = c.session()
            with session as s:
                what = f"creating a {threshold}-of-{len(chosen)} {sch} vault (distributed key generation)…"
                with c.out.status(what):
                    try:
                        vault = s.create_vault(sch, [g["id"] for g in chosen], threshold, c.password())
                    except GridlockError as exc:
                        raise s.error(exc, "vault creation") from None
                entry = s.vault_entry(vault, {"name": name, "created": int(time.time())})
            save_vault(c.paths, entry)
        doc = {**vault_doc(entry), **({"warnings": warnings} if warnings else {})}
        c.out.emit(doc, render_vault(doc, "created vault"))
        if not profile.for_real_funds:
            c.out.note("[yellow]devnet — not for real funds: one password unlocks every guardian's secret here[/]")

    command(json, dir_, password_file, body)


@app.command("list")
def vault_list(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """The vaults of this devnet (from the client's vault book; no network, no password)."""

    def body(c: Cmd) -> None:
        c.profile()
        vaults = [{**v, "n": len(v["members"])} for v in load_vaults(c.paths)]

        def render(con: Console) -> None:
            if not vaults:
                con.print("no vaults yet: `gridlock vault create --scheme SCHEME`")
                return
            t = table("vault", "name", "scheme", "t/n", "epoch", "guardians")
            for v in vaults:
                t.add_row(
                    v["id"], v.get("name") or "", v["scheme"], f"{v['threshold']}/{v['n']}", str(v["epoch"]),
                    ", ".join(v["guardians"]),
                )  # fmt: skip
            con.print(t)

        c.out.emit({"vaults": vaults}, render)

    command(json, dir_, None, body)


@app.command("show")
def vault_show(
    vault: VaultArg,
    remote: Annotated[bool, typer.Option("--remote", help="Also ask each guardian what it holds.")] = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """A vault's scheme, guardians, public key, epoch and addresses (with --remote: as guardians report it)."""

    def body(c: Cmd) -> None:
        c.profile()
        entry = resolve_vault(c.paths, vault)
        doc = vault_doc(entry)
        if remote:
            session, _ = c.session()
            with session as s:
                from gridlock.wire import ops

                reports: dict[str, dict[str, Any]] = {}
                answers = s.ask_info(entry)
                for g, r in answers.items():
                    if isinstance(r, BaseException):
                        reports[s.name(g)] = {"ok": False, "error": s.error(r).message}
                    else:
                        info = ops.expect(r, ops.InfoReply)
                        reports[s.name(g)] = {"ok": True, "epoch": info.epoch, "public_key": info.public_key}
                good = [r for r in reports.values() if r["ok"]]
                if not good:
                    raise CliError(
                        f"no guardian of vault {entry['id']} answered",
                        hint="`gridlock devnet status`",
                        exit_code=UNAVAILABLE,
                        code="guardians-unreachable",
                    )
                try:
                    from gridlock.client.errors import GuardianTimeout

                    opened = s.open_vault(entry, answers=answers)
                    if not opened.group_key:  # a book from before HD wallets: recorded when every holder agrees
                        with contextlib.suppress(GuardianTimeout, InvalidParameterError):
                            s.run(opened.learn_root())
                    fresh = s.vault_entry(opened, entry)
                except GridlockError as exc:
                    raise s.error(exc, "vault show") from None
                if any(fresh.get(k) != entry.get(k) for k in ("epoch", "members", "group_key", "chain_code")):
                    save_vault(c.paths, fresh)
                doc = vault_doc(fresh) | {"guardian_reports": reports}
        c.out.emit(doc, render_vault(doc))

    command(json, dir_, password_file, body)


@app.command("descriptors")
def vault_descriptors(
    vault: VaultArg,
    network: NetworkOpt = None,
    dir_: DirOpt = None,
    json: JsonOpt = False,
) -> None:
    """The xpub and output descriptors (BIP380 checksums) a watch-only wallet imports: wpkh(xpub/0/*)
    for an ECDSA vault, tr(xpub/0/*) for a Taproot vault, change on /1/* (no network, no password)."""

    def body(c: Cmd) -> None:
        from gridlock.chains import bitcoin
        from gridlock.chains.bitcoin.descriptors import DESCRIPTOR_SCHEMES, vault_descriptors

        c.profile()
        entry = resolve_vault(c.paths, vault)
        net = network or "mainnet"
        if net not in bitcoin.NETWORKS:
            raise usage(f"unknown bitcoin network {net!r}", hint=f"one of: {', '.join(sorted(bitcoin.NETWORKS))}")
        root = book_root(entry)
        if entry["scheme"] in DESCRIPTOR_SCHEMES:
            doc: dict[str, Any] = {"vault": entry["id"], **vault_descriptors(root, net).as_dict()}
        elif entry["scheme"] == "frost-secp256k1":  # an xpub, but no Bitcoin output type signs with it
            doc = {"vault": entry["id"], "scheme": entry["scheme"], "network": net, "xpub": root.xpub(net)}
            doc["fingerprint"] = root.fingerprint().hex()
        else:
            raise usage(f"a {entry['scheme']} vault has no xpub: BIP32 public derivation is for secp256k1 keys")

        def render(con: Console) -> None:
            for k in ("xpub", "fingerprint", "receive", "change"):
                if doc.get(k):
                    con.print(f"[dim]{k:<12}[/] {doc[k]}")

        c.out.emit(doc, render)

    command(json, dir_, None, body)
