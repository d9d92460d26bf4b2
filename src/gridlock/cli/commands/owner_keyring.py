"""``gridlock keyring password|backup|restore``: the owner's keyring itself.

* ``password`` re-encrypts the keyring under a new password (fresh Argon2id salt).  It changes the
  password that unlocks this keyring only: the password each guardian holds a verifier of
  (registered when a vault was made, asked again by ``recover start``) stays what it was — the
  guardians have no operation to change it.
* ``backup --out FILE`` writes a deployment profile, keyring included, to one file encrypted with
  the owner's password (:mod:`gridlock.cli.backup`); ``restore FILE`` makes the profile again in an
  empty ``--dir`` (or ``--profile NAME``) on any machine, and checks that the keyring opens.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gridlock.cli.commands.common import Cmd, DirOpt, JsonOpt, PwOpt, command
from gridlock.cli.errors import CONFLICT, CliError, usage
from gridlock.cli.keyring import Keyring, check_new_password
from gridlock.cli.profile import DevnetProfile, find_profile
from gridlock.cli.state import locked

app = typer.Typer(help="The owner's keyring: change its password, back it up, restore it.", no_args_is_help=True)

NEW_PASSWORD_ENV = "GRIDLOCK_NEW_PASSWORD"  # noqa: S105 -- the variable's name


def _new_password(path: Path | None) -> str:
    """From ``--new-password-file``, ``$GRIDLOCK_NEW_PASSWORD`` or two prompts on the terminal."""
    import getpass  # noqa: PLC0415 -- only this command prompts for a new password

    if path is not None:
        try:
            password = path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise usage(f"cannot read the password file {path}: {exc.strerror}") from None
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


@app.command("password")
def keyring_password(
    new_password_file: Annotated[
        Path | None,
        typer.Option("--new-password-file", help="Read the new password from FILE (else $GRIDLOCK_NEW_PASSWORD)."),
    ] = None,
    dir_: DirOpt = None,
    password_file: PwOpt = None,
    json: JsonOpt = False,
) -> None:
    """Re-encrypt the owner's keyring under a new password (the guardians' copy of the old one stays)."""

    def body(c: Cmd) -> None:
        c.profile()
        keyring = c.keyring()  # the old password opens it
        new = _new_password(new_password_file)
        if new == c.password():
            raise usage("the new password is the old one")
        with locked(c.paths):
            keyring.rekey(new)
            keyring.save(c.paths.keyring)
        doc = {"keyring": str(c.paths.keyring), "changed": True, "guardians_password_unchanged": True}
        c.out.emit(
            doc,
            lambda con: con.print(
                "the keyring now opens with the new password; the guardians still know the old one "
                "(`recover start` asks for it)"
            ),
        )

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
