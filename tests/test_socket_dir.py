"""The devnet's control socket outside its directory (issue 18, finding 7): when the devnet path is too
long for a socket address, the socket goes to ``gridlock-<uid>-<hash>`` in ``$XDG_RUNTIME_DIR`` or the
system temporary directory — a name another user can compute and create first.  The host refuses a
directory it did not make for itself, and a client refuses a socket that is not its user's."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridlock.cli.errors import classify
from gridlock.devnet.layout import SOCKET_MAX, Paths, runtime_dir
from gridlock.transport.bridge import BridgeServer, BridgeTransport, check_socket, request, secure_socket_dir
from gridlock.transport.errors import UnsafeSocket
from gridlock.transport.local import LocalRouter


async def _control(req: dict[str, object]) -> dict[str, object]:
    return {"ok": True, "op": req.get("op")}


def _long_root(base: Path) -> Path:
    root = base / ("d" * 60) / ("e" * 60)
    assert len(os.fsencode(root / "devnet.sock")) > SOCKET_MAX
    return root


@pytest.fixture
def shared_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for /tmp (world-writable, sticky; a short path, for socket addresses) and no usable
    $XDG_RUNTIME_DIR."""
    shared = Path(tempfile.mkdtemp(prefix="gl-"))
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield shared
    for p in shared.iterdir():
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o700)
    shutil.rmtree(shared)


def test_short_paths_keep_the_socket_in_the_devnet_directory(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "net")
    assert paths.socket == tmp_path / "net" / "devnet.sock" and not paths.socket_private


def test_the_fallback_prefers_a_proper_xdg_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    paths = Paths(_long_root(tmp_path))
    assert paths.socket_private and paths.socket.parent.parent == runtime
    assert paths.socket.parent.name.startswith(f"gridlock-{os.getuid()}-")
    runtime.chmod(0o755)  # not what the XDG specification promises: not used
    assert runtime_dir() == tmp_path / "tmp"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/run")
    assert runtime_dir() == tmp_path / "tmp"


def test_the_host_makes_a_private_directory_and_a_private_socket(shared_tmp: Path, tmp_path: Path) -> None:
    paths = Paths(_long_root(tmp_path))
    assert paths.socket.parent.parent == shared_tmp

    async def main() -> None:
        server = BridgeServer(paths.socket, LocalRouter(), _control, private_dir=paths.socket_private)
        await server.start()
        try:
            st = os.lstat(paths.socket.parent)
            assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
            assert stat.S_IMODE(os.lstat(paths.socket).st_mode) == 0o600
            assert await request(paths.socket, {"op": "status"}) == {"ok": True, "op": "status"}
            client = BridgeTransport(paths.socket, "owner")
            await client.start()
            await client.close()
        finally:
            await server.close()
        # a restart reuses the directory it made
        again = BridgeServer(paths.socket, None, _control, private_dir=True)
        await again.start()
        await again.close()

    asyncio.run(main())


# --- attacks: another user got there first ----------------------------------------------------------------
def test_attack_a_directory_made_by_another_user_is_refused(
    shared_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = Paths(_long_root(tmp_path))
    paths.socket.parent.mkdir(mode=0o700)  # made "by another user": we pretend to be a different uid below
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)

    async def main() -> None:
        server = BridgeServer(paths.socket, None, _control, private_dir=True)
        with pytest.raises(UnsafeSocket, match="another user"):
            await server.start()
        assert not paths.socket.exists()  # nothing was bound there

    asyncio.run(main())


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o770, 0o1733])
def test_attack_a_directory_others_can_open_is_refused(shared_tmp: Path, tmp_path: Path, mode: int) -> None:
    paths = Paths(_long_root(tmp_path))
    paths.socket.parent.mkdir()
    paths.socket.parent.chmod(mode)

    async def main() -> None:
        with pytest.raises(UnsafeSocket, match="mode"):
            await BridgeServer(paths.socket, None, _control, private_dir=True).start()
        assert not paths.socket.exists()

    asyncio.run(main())


def test_attack_a_symbolic_link_in_place_of_the_directory_is_refused(shared_tmp: Path, tmp_path: Path) -> None:
    paths = Paths(_long_root(tmp_path))
    target = tmp_path / "attacker-owned"
    target.mkdir(mode=0o700)
    paths.socket.parent.symlink_to(target)
    with pytest.raises(UnsafeSocket, match="not a directory"):
        secure_socket_dir(paths.socket.parent, private=True)


def test_attack_the_client_refuses_a_socket_it_cannot_trust(shared_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attacker's listener where the owner's socket should be: the client never connects to it."""
    box = shared_tmp / "box"
    box.mkdir(mode=0o700)
    sock_path = box / "devnet.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    try:
        check_socket(sock_path)  # ours, in a directory of ours: fine
        box.chmod(0o777)  # anyone could have swapped it
        with pytest.raises(UnsafeSocket):
            check_socket(sock_path)
        with pytest.raises(UnsafeSocket):
            asyncio.run(request(sock_path, {"op": "status"}, timeout=1))
        with pytest.raises(UnsafeSocket):
            asyncio.run(BridgeTransport(sock_path, "owner").start())
        box.chmod(0o700)
        real_getuid = os.getuid
        monkeypatch.setattr(os, "getuid", lambda: real_getuid() + 1)  # the socket and its directory: another user's
        with pytest.raises(UnsafeSocket, match="another user"):
            check_socket(sock_path)
        monkeypatch.setattr(os, "getuid", real_getuid)
        (box / "plain").write_text("")
        with pytest.raises(UnsafeSocket, match="not a socket"):
            check_socket(box / "plain")
        check_socket(box / "missing.sock")  # nothing there: the connection reports it
    finally:
        listener.close()


def test_the_cli_names_the_unsafe_socket() -> None:
    err = classify(UnsafeSocket("the socket directory /tmp/x belongs to another user (uid 1001)"))
    assert err.code == "unsafe-socket" and "another user" in err.message and err.hint
