"""``gridlock keyring password|backup|restore``: the owner's keyring itself.

* ``password`` changes the owner's password everywhere it is kept: first at every guardian of every
  vault in the vault book (``password-change``: the verifier each guardian checks in ``recover
  start``), then the keyring, re-encrypted under it (fresh Argon2id salt) — only once every guardian
  has the new password.  So no run ends with neither password working: until then the keyring opens
  with the old one, and running the same change again (same old and new password) finishes it, the
  guardians already done answering so.  A guardian that still knows an older password than the
  keyring's (changed before guardians could be told) is given it with ``--guardian-password-file``.
* ``backup --out FILE`` writes a deployment profile, keyring included, to one file encrypted with
  the owner's password (:mod:`gridlock.cli.backup`); ``restore FILE`` makes the profile again in an
  empty ``--dir`` (or ``--profile NAME``) on any machine, and checks that the keyring opens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, command
from gridlock.cli.errors import AUTH, CONFLICT, FAILED, UNAVAILABLE, CliError, usage
from gridlock.cli.keyring import Keyring, check_new_password
from gridlock.cli.profile import DevnetProfile, find_profile
from gridlock.cli.state import load_vaults, locked

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="The owner's keyring: change its password, back it up, restore it.", no_args_is_help=True)

NEW_PASSWORD_ENV = "GRIDLOCK_NEW_PASSWORD"  # noqa: S105 -- the variable's name
GUARDIAN_TIMEOUT = 20.0  # seconds to wait for each guardian's answer (an offline one is reported)


def _new_password(path: Path | None) -> str:
    """From ``--new-password-file``, ``$GRIDLOCK_NEW_PASSWORD`` or two prompts on the terminal."""
    import getpass  # noqa: PLC0415 -- only this command prompts for a new password

    if path is not None:
        password = _read_password_file(path)
    elif os.environ.get(NEW_PASSWORD_ENV):
        password = os.environ[NEW_PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = getpass.getpass("New owner password: ")
        if getpass.getpass("Repeat the new password: ") != password:
            raise usage("the passwords do not match")
    else:
        raise CliError(
            "a new password is needed and there is no terminal to ask for it",
            hint=f"set ${NEW_PASSWORD_ENV} or pass --new-password-file FILE",
            exit_code=4,
            code="no-password",
        )
    check_new_password(password)
    return password


def _read_password_file(path: Path) -> str:
    try:
        return path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise usage(f"cannot read the password file {path}: {exc.strerror}") from None


def _render(doc: dict[str, Any]) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        for vid, guardians in doc["vaults"].items():
            parts = [
                f"{g}: " + (("changed" if r["changed"] else "already changed") if r["ok"] else f"[red]{r['error']}[/]")
                for g, r in guardians.items()
            ]
            con.print(f"vault {vid}: " + "; ".join(parts))
        if doc["changed"]:
            con.print("the password is changed: the guardians and the keyring now know the new one")
        else:
            con.print("[yellow]the keyring still opens with the old password[/] (not every guardian has the new one)")

    return render


def _incomplete(failed: list[dict[str, Any]]) -> CliError:
    """The error of a password change some guardian did not make: what to do depends on why."""
    codes = {str(r["code"]) for r in failed}
    exits = {int(r["exit_code"]) for r in failed}
    hints = ["run `gridlock keyring password` again with the same new password once they answer"]
    if codes & {"wrong-password", "rate-limited"}:
        hints.append("a guardian that knows an older password is given it with --guardian-password-file")
    if "refused:recovery-pending" in codes:
        hints.append("a device recovery is open on a vault: `gridlock recover cancel VAULT` first")
    return CliError(
        f"{len(failed)} guardian(s) did not take the new password; the keyring still opens with the old one",
        hint="; ".join(hints),
        exit_code=exits.pop() if len(exits) == 1 and exits <= {UNAVAILABLE, AUTH} else FAILED,
        code="password-change-incomplete",
    )


@app.command("password")
def keyring_password(
    new_password_file: Annotated[
        Path | None,
        typer.Option("--new-password-file", help="Read the new password from FILE (else $GRIDLOCK_NEW_PASSWORD)."),
    ] = None,
    guardian_password_file: Annotated[
        Path | None,
        typer.Option(
            "--guardian-password-file",
            help="The password the guardians know, when it is not the keyring's (changed before they could be told).",
        ),
    ] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Change the owner's password: first at every guardian of every vault (device recovery asks it),
    then the keyring — only when every guardian has the new one, so the old password keeps opening the
    keyring until then.  A guardian offline or refusing is reported (exit 3 offline, 4 wrong password,
    else 1): run the same change again later (same old and new password); the guardians already done
    answer so.  A device recovery open on a vault makes its guardians refuse: `recover cancel` first."""

    def body(c: Cmd) -> None:
        c.profile()
        keyring = c.keyring()  # the old password opens it
        old = c.password()
        new = _new_password(new_password_file)
        if new == old:
            raise usage("the new password is the old one")
        at_guardians = old if guardian_password_file is None else _read_password_file(guardian_password_file)
        if new == at_guardians:
            raise usage("the new password is the one the guardians know already")
        vaults = load_vaults(c.paths)
        results: dict[str, dict[str, dict[str, Any]]] = {}
        if vaults:
            from gridlock.cli.owner import OwnerOps  # noqa: PLC0415 -- only with vaults: the SDK

            session, _ = c.session()
            with session as s, c.out.status("changing the password at the guardians"):
                results = OwnerOps(s).change_password(vaults, at_guardians, new, GUARDIAN_TIMEOUT)
        failed = [r for guardians in results.values() for r in guardians.values() if not r["ok"]]
        if not failed:
            with locked(c.paths):
                keyring.rekey(new)
                keyring.save(c.paths.keyring)
            from gridlock.cli import agent  # noqa: PLC0415

            session_agent = agent.AgentClient.find(c.paths)
            if session_agent is not None:  # its key opened the old keyring: the session ends here
                session_agent.call("lock")
        doc: dict[str, Any] = {"keyring": str(c.paths.keyring), "changed": not failed, "vaults": results}
        if not failed:
            c.out.emit(doc, _render(doc))
            return
        err = _incomplete(failed)
        c.out.emit(doc | {"error": err.as_dict()}, _render(doc))  # with --json: one document, and its error
        raise err

    command(json, dir_, password_file, body)


@app.command("backup")
def keyring_backup(
    out: Annotated[Path, typer.Option("--out", help="The backup file to write (new; mode 0600).")],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the profile (keyring, directory, vault book, NATS key) to one file encrypted with the password."""

    def body(c: Cmd) -> None:
        from gridlock.cli.backup import seal  # noqa: PLC0415 -- kept off start-up
        from gridlock.files import write_private  # noqa: PLC0415

        profile = c.profile()
        if isinstance(profile, DevnetProfile):
            raise usage(
                "a devnet is not backed up: its keyring holds every guardian's secret (devnet — not for real funds)",
                hint="copy the devnet directory while it is down, or back up a profile made with `gridlock init`",
            )
        if out.exists():
            raise usage(f"{out} exists; backup writes a new file only")
        c.keyring()  # the password must open the keyring: the backup is sealed with it
        write_private(out, seal(c.paths.root, c.password()))
        doc = {"backup": str(out), "dir": str(c.paths.root), "client_id": profile.client_id}
        c.out.emit(doc, lambda con: con.print(f"profile {c.paths.root} backed up to {out} (encrypted)"))

    command(json, dir_, password_file, body)


@app.command("restore")
def keyring_restore(
    backup: Annotated[Path, typer.Argument(help="A file made by `gridlock keyring backup`.", show_default=False)],
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Make the profile of a backup again in an empty directory (a fresh machine becomes the owner)."""

    def body(c: Cmd) -> None:
        from gridlock.cli.backup import open_backup  # noqa: PLC0415 -- kept off start-up

        root = c.paths.root
        if find_profile(c.paths) is not None or (root.exists() and any(root.iterdir())):
            raise CliError(
                f"{root} is not empty", hint="restore into a new --dir or --profile", exit_code=CONFLICT, code="exists"
            )
        try:
            data = backup.read_bytes()
        except OSError as exc:
            raise usage(f"cannot read {backup}: {exc.strerror}") from None
        files = open_backup(data, c.password())
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        staging = root / ".restore"
        staging.mkdir(mode=0o700)
        try:
            for name, text in files.items():
                fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            keyring = Keyring.load(staging / "keyring.json", c.password())  # what was restored opens
            for name in files:
                (staging / name).replace(root / name)
        finally:
            for left in staging.iterdir():
                left.unlink()
            staging.rmdir()
        doc = {"dir": str(root), "client_id": keyring.client_id, "files": sorted(files)}
        c.out.emit(doc, lambda con: con.print(f"profile restored in {root} (owner client {keyring.client_id})"))

    command(json, dir_, password_file, body)
