"""The ``gridlock`` command (Typer + Rich); entry point ``gridlock.cli.main:app``.

Command names are a contract (acceptance tests call them); see ``gridlock --help`` and the
package documentation (:mod:`gridlock.cli`) for the design, and :mod:`gridlock.cli.errors` for the
exit codes.  Every command takes ``--json`` (one JSON document on stdout) and ``--dir`` (the
devnet directory; ``$GRIDLOCK_HOME``, else ``~/.gridlock/devnet``); commands that use the owner's
keys take ``--password-file`` (else ``$GRIDLOCK_PASSWORD``, else a prompt on the terminal).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gridlock import chains
from gridlock.cli import chains as chainmod
from gridlock.cli.errors import EXIT_CODES_HELP, INTERRUPTED, UNAVAILABLE, CliError, classify, usage
from gridlock.cli.keyring import Keyring, get_password
from gridlock.cli.output import Output
from gridlock.cli.state import (
    Paths,
    guardian_names,
    load_state,
    load_vaults,
    paths_for,
    require_running,
    require_state,
    resolve_guardian,
    resolve_vault,
    running_info,
    save_vault,
)
from gridlock.crypto.schemes import SCHEMES
from gridlock.errors import GridlockError

if TYPE_CHECKING:
    from gridlock.cli.owner import OwnerOps
    from gridlock.cli.sdk import OwnerSession

SCHEME_ALIASES = {"ed25519": "frost-ed25519", "taproot": "frost-taproot", "ecdsa": "ecdsa-secp256k1"}
HELP = (
    "Gridlock: threshold custody. Keys are born by distributed key generation and used by any t "
    "of n guardians; no one ever holds the whole key.\n\n"
    "Quick start:  gridlock devnet up --detach  ·  gridlock vault create --scheme ecdsa-secp256k1\n\n" + EXIT_CODES_HELP
)


class _App(typer.Typer):
    """``--nats`` with no URL means: start a nats-server for me (Click options need a value)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "args" not in kwargs:
            argv = list(sys.argv[1:])
            for i, a in enumerate(argv):
                if a == "--nats" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
                    argv.insert(i + 1, "auto")
                    break
            kwargs["args"] = argv
        kwargs.setdefault("prog_name", "gridlock")
        return super().__call__(*args, **kwargs)


app = _App(
    help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode="rich", pretty_exceptions_enable=False
)
devnet_app = typer.Typer(help="Start, inspect and stop a local devnet (router + 5 guardians).", no_args_is_help=True)
vault_app = typer.Typer(help="Create and inspect vaults.", no_args_is_help=True)
guardian_app = typer.Typer(help="Guardians: list, replace in a vault, stop/start (devnet), run.", no_args_is_help=True)
recover_app = typer.Typer(help="Time-locked device recovery (owner security).", no_args_is_help=True)
policy_app = typer.Typer(help="Each guardian's spending policy for a vault.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
app.add_typer(vault_app, name="vault")
app.add_typer(guardian_app, name="guardian")
app.add_typer(recover_app, name="recover")
app.add_typer(policy_app, name="policy")

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Devnet directory (default: $GRIDLOCK_HOME, else ~/.gridlock/devnet).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PwOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read the owner's password from FILE (else $GRIDLOCK_PASSWORD, else a prompt)."
    ),
]
VaultArg = Annotated[str, typer.Argument(help="Vault id, unique id prefix, or name.", show_default=False)]


@dataclass
class Cmd:
    out: Output
    paths: Paths
    password_file: Path | None = None
    _password: str | None = field(default=None, repr=False)
    _keyring: Keyring | None = field(default=None, repr=False)

    def password(self, purpose: str = "unlock the owner's keyring") -> str:
        if self._password is None:
            self._password = get_password(self.password_file, purpose=purpose)
        return self._password

    def keyring(self) -> Keyring:
        """The unlocked keyring, decrypted once per command (Argon2id costs ~0.2 s)."""
        if self._keyring is None:
            self._keyring = Keyring.load(self.paths.keyring, self.password())
        return self._keyring

    def session(self) -> tuple[OwnerSession, Keyring]:
        from gridlock.cli.sdk import OwnerSession  # the SDK is imported only by commands that use it

        state, running = require_running(self.paths)
        keyring = self.keyring()
        try:
            return OwnerSession(self.paths, state, running, keyring), keyring
        except GridlockError as exc:
            raise classify(exc, guardian_names(state), "connecting to the devnet") from None


def command(json_mode: bool, dir_: Path | None, password_file: Path | None, body: Callable[[Cmd], None]) -> None:
    out = Output(json_mode)
    try:
        body(Cmd(out, paths_for(dir_), password_file))
    except typer.Exit:
        raise
    except CliError as exc:
        out.fail(exc)
    except KeyboardInterrupt:
        out.fail(CliError("interrupted", exit_code=INTERRUPTED, code="interrupted"))
    except Exception as exc:  # every failure ends as a message and an exit code, never a traceback
        if os.environ.get("GRIDLOCK_DEBUG"):
            traceback.print_exc()
        names: dict[str, str] = {}
        with contextlib.suppress(CliError, OSError, ValueError, KeyError):
            state = load_state(paths_for(dir_))
            names = guardian_names(state) if state else {}
        err = classify(exc, names)
        if err.code == "internal" and not err.hint:
            err.hint = "this is a bug in gridlock; run again with GRIDLOCK_DEBUG=1 for the traceback"
        out.fail(err)


def _table(*columns: str, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    return t


# --- devnet -------------------------------------------------------------------------------------------
def _devnetmod() -> Any:
    """:mod:`gridlock.cli.devnet`, imported on use (it pulls in the guardian node and the chains)."""
    from gridlock.cli import devnet

    return devnet


def _devnet_doc(paths: Paths, state: dict[str, Any], running: dict[str, Any] | None) -> dict[str, Any]:
    from gridlock.transport.bridge import host_status

    live = host_status(running["socket"]) if running else None
    states = (live or {}).get("guardians", {})
    return {
        "dir": str(paths.root),
        "running": running is not None,
        "mode": running["mode"] if running else None,
        "router": running["router"] if running else None,
        "host_pid": running["host_pid"] if running else None,
        "started": running["started"] if running else None,
        "client_id": state["client_id"],
        "guardians": [
            {
                "name": g["name"],
                "id": g["id"],
                "spare": g.get("spare", False),
                "running": bool(states.get(g["name"], {}).get("running")),
                "pid": states.get(g["name"], {}).get("pid"),
            }
            for g in state["guardians"]
        ],
        "vaults": len(load_vaults(paths)),
    }


def _render_devnet(doc: dict[str, Any]) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        if doc["running"]:
            con.print(f"[green]●[/] devnet [bold]running[/] ({doc['mode']}) in {doc['dir']}")
            con.print(f"  router {doc['router']}  ·  host pid {doc['host_pid']}  ·  {doc['vaults']} vault(s)")
        else:
            con.print(f"[red]●[/] devnet [bold]not running[/] in {doc['dir']}  ·  {doc['vaults']} vault(s)")
        t = _table("guardian", "id", "state", "pid")
        for g in doc["guardians"]:
            st = "[green]up[/]" if g["running"] else "[red]down[/]"
            t.add_row(g["name"] + (" (spare)" if g["spare"] else ""), g["id"], st, str(g["pid"] or "-"))
        con.print(t)

    return render


@devnet_app.command("up")
def devnet_up(
    dir_: DirOpt = None,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            metavar="[URL]",
            help="Guardians as separate processes on NATS: the server at URL, or (no URL) a nats-server started here.",
        ),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background and return.")] = False,
    spare: Annotated[
        list[str] | None, typer.Option("--spare", help="Also provision a spare guardian NAME (repeatable).")
    ] = None,
    session_timeout: Annotated[float, typer.Option(help="Seconds per protocol run at the guardians.")] = 30.0,
    recovery_delay: Annotated[
        float | None, typer.Option(help="Device-recovery time lock in seconds (guardians' default if unset).")
    ] = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create (first time) and start the devnet: a router and guardians device, enclave, cloud, watch, friend."""

    def body(c: Cmd) -> None:
        devnetmod = _devnetmod()
        from gridlock.devnet.host import HostOptions
        from gridlock.guardian.config import DEFAULT_RECOVERY_DELAY

        if not 1 <= session_timeout <= 3600:
            raise usage("--session-timeout must be 1..3600 seconds")
        devnetmod.check_not_running(c.paths)
        new = load_state(c.paths) is None
        password = get_password(
            c.password_file, confirm=new, purpose="create the owner's keyring" if new else "unlock the owner's keyring"
        )
        options = HostOptions(
            mode="nats" if nats else "embedded",
            nats=nats,
            session_timeout=session_timeout,
            recovery_delay=DEFAULT_RECOVERY_DELAY if recovery_delay is None else recovery_delay,
        )
        with c.out.status("preparing the devnet…"):
            state, keyring, created = devnetmod.prepare(c.paths, password, list(spare or []))
        if detach:
            with c.out.status(f"starting {len(state['guardians'])} guardians ({options.mode})…"):
                running = devnetmod.start_detached(c.paths, keyring, options)
            doc = _devnet_doc(c.paths, state, running) | {"created": created}
            c.out.emit(doc, _render_devnet(doc))
            if not c.out.json:
                c.out.note("stop it with `gridlock devnet down`")
            return

        def ready(running: dict[str, Any]) -> None:
            doc = _devnet_doc(c.paths, state, None) | {"created": created, "running": True}
            doc.update({k: running[k] for k in ("mode", "router", "host_pid", "started")})
            doc["guardians"] = [g | {"running": True} for g in doc["guardians"]]
            c.out.emit(doc, _render_devnet(doc))
            if not c.out.json:
                c.out.note("[dim]serving in the foreground; Ctrl-C (or `gridlock devnet down`) stops it[/]")

        devnetmod.start_foreground(c.paths, state, keyring, options, ready)
        if not c.out.json:
            c.out.note("devnet stopped")

    command(json, dir_, password_file, body)


@devnet_app.command("status")
def devnet_status(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Whether the devnet runs, its router and each guardian (exit code 3 when it is not running)."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        running = running_info(c.paths, state)
        doc = _devnet_doc(c.paths, state, running)
        c.out.emit(doc, _render_devnet(doc))
        if running is None:
            raise typer.Exit(UNAVAILABLE)

    command(json, dir_, None, body)


@devnet_app.command("down")
def devnet_down(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Stop the devnet (its guardians keep their keystores: `devnet up` brings the same vaults back)."""

    def body(c: Cmd) -> None:
        with c.out.status("stopping the devnet…"):
            stopped = _devnetmod().stop(c.paths)
        doc = {"dir": str(c.paths.root), "stopped": stopped, "running": False}
        c.out.emit(
            doc, lambda con: con.print("devnet stopped" if stopped else f"no devnet was running in {c.paths.root}")
        )

    command(json, dir_, None, body)


# --- vaults -------------------------------------------------------------------------------------------
def _scheme(name: str) -> str:
    name = SCHEME_ALIASES.get(name, name)
    if name not in SCHEMES:
        raise usage(f"unknown scheme {name!r}", hint=f"one of: {', '.join(sorted(SCHEMES))}")
    return name


def _split(items: list[str] | None) -> list[str]:
    return [x.strip() for item in items or [] for x in item.split(",") if x.strip()]


def _addresses(entry: dict[str, Any]) -> dict[str, str]:
    out = {}
    for chain in chains.CHAINS:
        if entry["scheme"] in chains.get(chain).schemes:
            out[chain] = chainmod.address(chain, entry["scheme"], bytes.fromhex(entry["public_key"]), None)["address"]
    return out


def _vault_doc(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "n": len(entry["members"]), "addresses": _addresses(entry)}


def _render_vault(doc: dict[str, Any], title: str = "vault") -> Callable[[Console], None]:
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


@vault_app.command("create")
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
        state, _ = require_running(c.paths)
        refs = _split(guardians) or [g["name"] for g in state["guardians"] if not g.get("spare")]
        chosen = [resolve_guardian(state, r) for r in refs]
        if len({g["id"] for g in chosen}) != len(chosen):
            raise usage("a guardian is listed twice")
        if not 2 <= threshold <= len(chosen):
            raise usage(f"--threshold must be between 2 and the number of guardians ({len(chosen)})")
        if name is not None and any(v.get("name") == name for v in load_vaults(c.paths)):
            raise usage(f"a vault named {name!r} exists already")
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
        doc = _vault_doc(entry)
        c.out.emit(doc, _render_vault(doc, "created vault"))

    command(json, dir_, password_file, body)


@vault_app.command("list")
def vault_list(dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """The vaults of this devnet (from the client's vault book; no network, no password)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        vaults = [{**v, "n": len(v["members"])} for v in load_vaults(c.paths)]

        def render(con: Console) -> None:
            if not vaults:
                con.print("no vaults yet: `gridlock vault create --scheme SCHEME`")
                return
            t = _table("vault", "name", "scheme", "t/n", "epoch", "guardians")
            for v in vaults:
                t.add_row(
                    v["id"], v.get("name") or "", v["scheme"], f"{v['threshold']}/{v['n']}", str(v["epoch"]),
                    ", ".join(v["guardians"]),
                )  # fmt: skip
            con.print(t)

        c.out.emit({"vaults": vaults}, render)

    command(json, dir_, None, body)


@vault_app.command("show")
def vault_show(
    vault: VaultArg,
    remote: Annotated[bool, typer.Option("--remote", help="Also ask each guardian what it holds.")] = False,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """A vault's scheme, guardians, public key, epoch and addresses (with --remote: as guardians report it)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        doc = _vault_doc(entry)
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
                    fresh = s.vault_entry(s.open_vault(entry, answers=answers), entry)
                except GridlockError as exc:
                    raise s.error(exc, "vault show") from None
                if fresh["epoch"] != entry["epoch"] or fresh["members"] != entry["members"]:
                    save_vault(c.paths, fresh)
                doc = _vault_doc(fresh) | {"guardian_reports": reports}
        c.out.emit(doc, _render_vault(doc))

    command(json, dir_, password_file, body)


# --- addresses and signing --------------------------------------------------------------------------
ChainOpt = Annotated[str, typer.Option("--chain", help="bitcoin, ethereum, solana or cosmos.")]
NetworkOpt = Annotated[
    str | None,
    typer.Option("--network", help="Bitcoin network (mainnet, testnet, signet, regtest) or Cosmos bech32 prefix."),
]


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


@app.command("refresh")
def refresh_cmd(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Proactive refresh: every share changes, the key and addresses stay (old shares become useless)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            with c.out.status("refreshing every share…"):
                try:
                    v = s.open_vault(entry)
                    before = v.epoch
                    s.refresh(v)
                except GridlockError as exc:
                    raise s.error(exc, "refresh") from None
            fresh = s.vault_entry(v, entry)
        save_vault(c.paths, fresh)
        doc = {
            "vault": entry["id"],
            "previous_epoch": before,
            "epoch": fresh["epoch"],
            "public_key": fresh["public_key"],
        }
        c.out.emit(doc, lambda con: con.print(f"vault {entry['id']} refreshed: epoch {before} → {fresh['epoch']}"))

    command(json, dir_, password_file, body)


# --- guardians ----------------------------------------------------------------------------------------
@guardian_app.command("replace")
def guardian_replace(
    vault: VaultArg,
    old: Annotated[str, typer.Argument(help="The guardian leaving the vault.", show_default=False)],
    new: Annotated[str, typer.Argument(help="The guardian taking its place.", show_default=False)],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replace a guardian of a vault (reshare: same key, every share new, the old guardian's share useless)."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        g_old, g_new = resolve_guardian(state, old), resolve_guardian(state, new)
        members = [g for _, g in entry["members"]]
        if g_old["id"] not in members:
            raise usage(f"{g_old['name']} is not a guardian of vault {entry['id']}", hint="`gridlock vault show`")
        if g_new["id"] in members:
            raise usage(f"{g_new['name']} already holds a share of vault {entry['id']}")
        session, _ = c.session()
        with session as s:
            with c.out.status(f"resharing: {g_old['name']} → {g_new['name']}…"):
                try:
                    v = s.open_vault(entry, fresh=True)
                    s.replace_guardian(v, g_old["id"], g_new["id"], c.password())
                except GridlockError as exc:
                    raise s.error(exc, "guardian replacement") from None
            fresh = s.vault_entry(v, entry)
        save_vault(c.paths, fresh)
        doc = _vault_doc(fresh) | {"replaced": g_old["name"], "by": g_new["name"]}
        c.out.emit(doc, _render_vault(doc, f"{g_old['name']} replaced by {g_new['name']} in vault"))

    command(json, dir_, password_file, body)


@guardian_app.command("list")
def guardian_list(
    ping: Annotated[
        bool, typer.Option("--ping/--no-ping", help="Ask each guardian to answer (needs the password).")
    ] = True,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """The devnet's guardians: name, id, process state, whether they answer, and the vaults they hold."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        running = running_info(c.paths, state)
        doc = _devnet_doc(c.paths, state, running)
        vaults = load_vaults(c.paths)
        answering: set[str] | None = None
        if ping and running is not None:
            session, _ = c.session()
            with session as s:
                answering = set(s.ping([g["id"] for g in state["guardians"]]))
        rows = []
        for g in doc["guardians"]:
            held = [v["id"] for v in vaults if g["id"] in [m for _, m in v["members"]]]
            rows.append(g | {"answers": None if answering is None else g["id"] in answering, "vaults": held})

        def render(con: Console) -> None:
            t = _table("guardian", "id", "process", "answers", "vaults")
            for r in rows:
                ans = "-" if r["answers"] is None else ("[green]yes[/]" if r["answers"] else "[red]no[/]")
                t.add_row(
                    r["name"] + (" (spare)" if r["spare"] else ""), r["id"],
                    "[green]up[/]" if r["running"] else "[red]down[/]", ans, str(len(r["vaults"])),
                )  # fmt: skip
            con.print(t)

        c.out.emit({"running": running is not None, "guardians": rows}, render)

    command(json, dir_, password_file, body)


def _guardian_power(names: list[str], op: str, dir_: Path | None, json: bool) -> None:
    def body(c: Cmd) -> None:
        state, running = require_running(c.paths)
        chosen = [resolve_guardian(state, n) for n in _split(names)]
        if not chosen:
            raise usage("name at least one guardian")
        states: dict[str, Any] = {}
        verb = "stopping" if op == "stop-guardian" else "starting"
        with c.out.status(f"{verb} {', '.join(g['name'] for g in chosen)}…"):
            for g in chosen:
                states = _devnetmod().control(c.paths, running, op, name=g["name"])["guardians"]
        docs = [
            {
                "guardian": g["name"],
                "id": g["id"],
                "running": states[g["name"]]["running"],
                "pid": states[g["name"]].get("pid"),
            }
            for g in chosen
        ]

        def render(con: Console) -> None:
            for d in docs:
                con.print(f"guardian {d['guardian']} is {'up' if d['running'] else 'down'}")

        c.out.emit(docs[0] if len(docs) == 1 else {"guardians": docs}, render)

    command(json, dir_, None, body)


GuardianNames = Annotated[list[str], typer.Argument(help="Guardian name(s).", show_default=False)]


@guardian_app.command("stop")
def guardian_stop(names: GuardianNames, dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Take devnet guardians offline (they keep their keystores)."""
    _guardian_power(names, "stop-guardian", dir_, json)


@guardian_app.command("start")
def guardian_start(names: GuardianNames, dir_: DirOpt = None, json: JsonOpt = False) -> None:
    """Bring stopped devnet guardians back."""
    _guardian_power(names, "start-guardian", dir_, json)


@guardian_app.command("init")
def guardian_init(
    config: Annotated[Path, typer.Option("--config", help="The guardian's TOML configuration.")],
    json: JsonOpt = False,
) -> None:
    """Create a guardian's keystore and identity; prints its id and public identity for the directory."""

    def body(c: Cmd) -> None:
        from gridlock.devnet.stores import open_configured
        from gridlock.guardian import service

        info = service.init(config, open_store=open_configured)
        c.out.emit(
            info, lambda con: con.print(f"guardian {info['name']}: {info['id']}\npublic identity {info['public']}")
        )

    command(json, None, None, body)


@guardian_app.command("run")
def guardian_run(
    config: Annotated[Path, typer.Option("--config", help="The guardian's TOML configuration.")],
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
    json: JsonOpt = False,
) -> None:
    """Run one guardian in the foreground on its NATS router (for real deployments); prints {"ready": ID}."""
    import asyncio
    import logging

    from gridlock.devnet.stores import open_configured
    from gridlock.guardian import service

    def body(c: Cmd) -> None:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
        try:
            asyncio.run(service.serve(config, open_store=open_configured))
        except GridlockError as exc:
            raise usage(str(exc)) from None

    command(json, None, None, body)


# --- owner security -----------------------------------------------------------------------------------
def _ops(session: OwnerSession) -> OwnerOps:
    from gridlock.cli.owner import OwnerOps

    return OwnerOps(session)


def _per_guardian_render(title: str, results: dict[str, dict[str, Any]], show: Callable[[dict[str, Any]], str]) -> Any:
    def render(con: Console) -> None:
        con.print(f"[bold]{title}[/]")
        for g, r in results.items():
            con.print(f"  {g}: " + (show(r) if r.get("ok", True) else f"[red]{r.get('error')}[/]"))

    return render


@policy_app.command("set")
def policy_set(
    vault: VaultArg,
    limit: Annotated[
        list[str] | None, typer.Option("--limit", help="CHAIN:AMOUNT or CHAIN:AMOUNT/SECONDS spend limit.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help="CHAIN:ADDRESS allowed destination.")] = None,
    timelock: Annotated[
        list[str] | None, typer.Option("--timelock", help="CHAIN:ABOVE:SECONDS hold for large amounts.")
    ] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="MAX/SECONDS signatures per period.")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="JSON file with the whole policy.")] = None,
    guardians: Annotated[list[str] | None, typer.Option("--guardians", "-g", help="Only these guardians.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Set a vault's policy at its guardians (an owner-approved request; each guardian enforces its copy)."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        from gridlock.cli.owner import build_rules

        doc_rules = build_rules(limit or [], allow or [], timelock or [], rate, rules)
        targets = [resolve_guardian(state, r)["id"] for r in _split(guardians)] or [g for _, g in entry["members"]]
        session, _ = c.session()
        with session as s:
            try:
                _ops(s).policy_set(s.open_vault(entry), doc_rules, targets)
            except GridlockError as exc:
                raise s.error(exc, "policy") from None
            names = [s.name(g) for g in targets]
        doc = {"vault": entry["id"], "rules": doc_rules, "guardians": names}
        c.out.emit(doc, lambda con: con.print(f"policy set at {', '.join(names)}"))

    command(json, dir_, password_file, body)


@policy_app.command("show")
def policy_show(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Each guardian's policy for a vault."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            results = _ops(s).policy_show(s.open_vault(entry), [g for _, g in entry["members"]])
        doc = {"vault": entry["id"], "guardians": results}
        c.out.emit(doc, _per_guardian_render(f"policy of vault {entry['id']}", results, lambda r: str(r.get("rules"))))

    command(json, dir_, password_file, body)


@app.command("audit")
def audit_cmd(
    vault: VaultArg,
    guardian: Annotated[list[str] | None, typer.Option("--guardian", "-g", help="Only these guardians.")] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Fetch and verify each guardian's hash-chained audit log of a vault."""

    def body(c: Cmd) -> None:
        state = require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        targets = [resolve_guardian(state, r)["id"] for r in _split(guardian)] or [g for _, g in entry["members"]]
        session, _ = c.session()
        with session as s:
            results = _ops(s).audit(s.open_vault(entry), targets)
        doc = {"vault": entry["id"], "guardians": results}

        def render(con: Console) -> None:
            for g, r in results.items():
                if not r.get("ok"):
                    con.print(f"[bold]{g}[/]: [red]{r.get('error')}[/]")
                    continue
                mark = "[green]chain verified[/]" if r.get("verified") else "[yellow]not verified[/]"
                con.print(f"[bold]{g}[/] ({len(r['entries'])} entries, {mark})")
                for e in r["entries"][-20:]:
                    con.print(f"  #{e.get('seq')} {e.get('op')} → {e.get('decision')} {e.get('reason') or ''}")

        c.out.emit(doc, render)

    command(json, dir_, password_file, body)


@recover_app.command("start")
def recover_start(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From a new device: prove the password and open a time-locked recovery (the old device is told).

    Every vault's recovery moves it onto the same new device key: recover each vault of the lost device.
    """

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            try:
                unlock = _ops(s).recovery_start(entry["id"], [g for _, g in entry["members"]], c.password())
            except GridlockError as exc:
                raise s.error(exc, "recovery start") from None
        doc = {"vault": entry["id"], "unlock_at": unlock}
        c.out.emit(doc, lambda con: con.print(f"recovery open; guardians unlock at {max(unlock.values())}"))

    command(json, dir_, password_file, body)


@recover_app.command("status")
def recover_status(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """Each guardian's view of a vault's device recovery."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            results = _ops(s).recovery_status(entry["id"], [g for _, g in entry["members"]])
        doc = {"vault": entry["id"], "guardians": results}
        c.out.emit(doc, _per_guardian_render(f"recovery of vault {entry['id']}", results, str))

    command(json, dir_, password_file, body)


@recover_app.command("cancel")
def recover_cancel(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """From the registered device: cancel a recovery during its time lock."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        session, _ = c.session()
        with session as s:
            try:
                _ops(s).recovery_cancel(s.open_vault(entry))
            except GridlockError as exc:
                raise s.error(exc, "recovery cancel") from None
        c.out.emit({"vault": entry["id"], "cancelled": True}, lambda con: con.print("recovery cancelled"))

    command(json, dir_, password_file, body)


@recover_app.command("finish")
def recover_finish(vault: VaultArg, dir_: DirOpt = None, password_file: PwOpt = None, json: JsonOpt = False) -> None:
    """After the time lock: the guardians accept the new device key for this vault (the other vaults
    keep the key they answer to until their own recovery finishes)."""

    def body(c: Cmd) -> None:
        require_state(c.paths)
        entry = resolve_vault(c.paths, vault)
        if entry["id"] not in c.keyring().keys.recovering:
            raise usage("no recovery was started from this keyring", hint="`gridlock recover start VAULT`")
        session, _ = c.session()
        with session as s:
            try:
                old_key = _ops(s).recovery_finish(entry["id"], [g for _, g in entry["members"]], c.password())
            except GridlockError as exc:
                raise s.error(exc, "recovery finish") from None
        doc = {"vault": entry["id"], "finished": True, "vaults_on_old_key": old_key}
        note = f"; still on the old device key (recover them too): {', '.join(old_key)}" if old_key else ""
        c.out.emit(doc, lambda con: con.print("recovery finished" + note))

    command(json, dir_, password_file, body)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as dist_version

        typer.echo(f"gridlock {dist_version('gridlock')}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Gridlock: threshold custody from the command line."""
