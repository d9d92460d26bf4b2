"""``gridlock init``: a deployment profile — the owner's side of guardians that run on their own hosts.

``init`` makes the profile directory (mode 0700; ``--dir``, else ``~/.gridlock/NAME`` for
``gridlock --profile NAME``) with the owner's keyring (a new client identity and device key,
Argon2id → AES-256-GCM under the owner's password, :mod:`gridlock.cli.keyring`; no guardian
secret), the guardians' directory (``--directory``, copied in and checked), the owner's NATS user
key (``--nats-key FILE`` copies an NKEY seed the operator issued; without it a new one is made;
``--no-nats-key`` for a server without access control) and ``profile.json``
(:mod:`gridlock.cli.profile`).  It prints what the guardians' operator must add: the owner's
public identity (to the ``clients`` of every guardian's ``directory.json``) and NATS public key
(to the server's authorization, :class:`gridlock.transport.nats_auth.NatsAccess`).

Run again on an existing profile, ``init`` takes a new ``--directory`` / ``--router`` /
``--session-timeout`` and keeps the keyring (no password needed).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, command
from gridlock.cli.errors import CONFLICT, CliError, usage
from gridlock.cli.keyring import Keyring, get_password
from gridlock.cli.profile import PROFILE_FORMAT, Route, profile_file, read_profile_doc
from gridlock.cli.state import load_state, locked
from gridlock.devnet.layout import write_json
from gridlock.errors import GridlockError

app = typer.Typer()  # merged into the root command (no group name)

NATS_KEY_FILE = "nats.nkey"


def _directory(source: Path) -> Any:
    """The guardians' directory file, checked (a :class:`gridlock.guardian.config.Directory`)."""
    from gridlock.guardian.config import Directory

    try:
        directory = Directory.load(source)
    except GridlockError as exc:
        raise usage(str(exc), hint="the guardians' operator makes it from `gridlock guardian init` output") from None
    if len(directory.guardians) < 2:
        raise usage(f"{source} lists {len(directory.guardians)} guardian(s); a vault needs at least two")
    return directory


def _route(router: str, timeout: float) -> Route:
    try:
        return Route(router, session_timeout=float(timeout))
    except GridlockError as exc:
        raise usage(str(exc)) from None


@dataclass(frozen=True)
class InitOptions:
    router: str | None
    directory: Path | None
    nats_key: Path | None
    no_nats_key: bool
    session_timeout: float | None


def _create(c: Cmd, o: InitOptions) -> dict[str, Any]:
    if o.router is None or o.directory is None:
        raise usage("a new profile needs --router nats://HOST:PORT and --directory directory.json")
    root = c.paths.root
    if root.exists() and any(root.iterdir()):  # never take over (nor chmod) a directory holding other things
        hint = "a profile needs a new directory"
        raise CliError(f"{root} is not empty", hint=hint, exit_code=CONFLICT, code="exists")
    route = _route(o.router, o.session_timeout or 30.0)
    guardians = _directory(o.directory)
    seed = _nats_seed(o)
    password = get_password(c.password_file, confirm=True, purpose="protect the new owner's keyring")
    keyring = Keyring.create(password)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    with locked(c.paths):
        if read_profile_doc(c.paths) is not None or c.paths.keyring.exists():
            raise CliError(f"{root} already holds a keyring", exit_code=CONFLICT, code="profile-exists")
        keyring.save(c.paths.keyring)
        guardians.save(c.paths.directory)
        if seed is not None:
            seed.save(root / NATS_KEY_FILE)
        doc = {
            "format": PROFILE_FORMAT,
            "created": int(time.time()),
            "client_id": keyring.client_id,
            "client_public": keyring.identity.public.to_bytes().hex(),
            "router": route.router,
            "nats_key": NATS_KEY_FILE if seed is not None else None,
            "session_timeout": route.session_timeout,
        }
        write_json(profile_file(c.paths), doc)
    return doc


def _update(c: Cmd, o: InitOptions, doc: dict[str, Any]) -> dict[str, Any]:
    if o.nats_key is not None or o.no_nats_key:
        raise usage("the profile has its NATS key already", hint="make a new profile to use another key")
    doc = dict(doc)
    route = _route(o.router or str(doc.get("router")), o.session_timeout or float(doc.get("session_timeout", 30.0)))
    doc["router"], doc["session_timeout"] = route.router, route.session_timeout
    with locked(c.paths):
        if o.directory is not None:
            _directory(o.directory).save(c.paths.directory)
        write_json(profile_file(c.paths), doc)
    return doc


def _nats_seed(o: InitOptions) -> Any:
    from gridlock.transport.nats_auth import NkeySeed

    if o.no_nats_key:
        return None
    if o.nats_key is None:
        return NkeySeed.generate()
    try:
        return NkeySeed.load(o.nats_key)
    except GridlockError as exc:
        raise usage(str(exc)) from None


def _emit(c: Cmd, doc: dict[str, Any], *, created: bool) -> None:
    from gridlock.guardian.config import Directory
    from gridlock.transport.nats_auth import NkeySeed

    key = doc.get("nats_key")
    nats_public = NkeySeed.load(c.paths.root / str(key)).public if key else None
    names = {gid: pub.name or gid for gid, pub in Directory.load(c.paths.directory).guardians.items()}
    result = {
        "dir": str(c.paths.root),
        "created": created,
        "client_id": doc["client_id"],
        "client_public": doc.get("client_public"),
        "nats_public": nats_public,
        "router": doc["router"],
        "guardians": [{"name": n, "id": g} for g, n in sorted(names.items())],
        # what the operator merges into every guardian's o.directory.json
        "directory_entry": {"clients": {doc["client_id"]: doc.get("client_public")}},
    }

    def render(con: Console) -> None:
        con.print(f"{'created' if created else 'updated'} profile in {result['dir']} (o.router {doc['router']})")
        con.print(f"  guardians: {', '.join(n for n in sorted(names.values()))}")
        con.print(f"  owner client id: {doc['client_id']}")
        if created:
            con.print("Give the guardians' operator, to admit this owner:")
            con.print(f"  the owner's public identity (o.directory.json, clients): {doc.get('client_public')}")
            if nats_public:
                con.print(f"  the owner's NATS public key (server authorization):   {nats_public}")
            con.print("Then: gridlock vault create --scheme ecdsa --threshold 2 (with this --dir / --profile)")

    c.out.emit(result, render)


@app.command("init")
def init_cmd(
    router: Annotated[
        str | None, typer.Option("--router", help="The guardians' NATS server, e.g. nats://nats.example:4222.")
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--directory", help="The guardians' directory.json (public identities), from their operator."),
    ] = None,
    nats_key: Annotated[
        Path | None,
        typer.Option("--nats-key", help="The owner's NATS user key (NKEY seed file, SU…) [default: make one]."),
    ] = None,
    no_nats_key: Annotated[
        bool, typer.Option("--no-nats-key", help="The NATS server does not check access (no user key).")
    ] = False,
    session_timeout: Annotated[
        float | None,
        typer.Option("--session-timeout", help="Seconds to wait for one protocol session [default: 30].", min=1),
    ] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Set up the owner's profile for your own guardians (not a devnet): keyring, directory, router."""

    opts = InitOptions(router, directory, nats_key, no_nats_key, session_timeout)

    def body(c: Cmd) -> None:
        if nats_key is not None and no_nats_key:
            raise usage("--nats-key and --no-nats-key exclude each other")
        if load_state(c.paths) is not None:
            raise CliError(
                f"{c.paths.root} holds a devnet",
                hint="a profile for real guardians needs a directory of its own: --dir DIR or --profile NAME",
                exit_code=CONFLICT,
                code="devnet-here",
            )
        existing = read_profile_doc(c.paths)
        doc = _update(c, opts, existing) if existing is not None else _create(c, opts)
        _emit(c, doc, created=existing is None)

    command(json, dir_, password_file, body)
