"""The owner's unlocked session (issue 19, point 2): ``gridlock unlock`` / ``gridlock lock`` and the
agent behind them, against a real embedded devnet.  Functional and attack tests only (no timing:
``make bench-cli`` measures).

Attacks: a session used after ``lock`` or its deadline, a killed agent's stale socket, a session
directory another user made first, another user connecting to the agent, a socket answered by
another user's process.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gridlock.cli import agent
from gridlock.cli.agent_server import Agent
from gridlock.cli.keyring import Keyring
from gridlock.cli.state import paths_for
from test_cli import PASSWORD, fails, gl, ok, teardown
from test_cli_lazy import heavy, imported_by

NOBODY = 65534


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    h = tmp_path_factory.mktemp("session") / "devnet"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--json"))
        ok(gl(h, "vault", "create", "--scheme", "frost-ed25519", "--name", "ed", "--json"))
        yield h
    finally:
        gl(h, "lock", password=None)
        teardown(h)


@pytest.fixture
def locked(home: Path) -> Iterator[Path]:
    """Each test starts and ends with no session."""
    gl(home, "lock", password=None)
    yield home
    directory = agent.agent_dir(paths_for(home))
    if directory.is_dir() and not directory.is_symlink():
        os.chmod(directory, 0o700)  # a test may have opened it
    gl(home, "lock", password=None)
    if directory.exists() and not directory.is_symlink():
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()


def sock_of(home: Path) -> Path:
    return agent.socket_path(paths_for(home))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def no_answer(s: socket.socket) -> bool:
    """The other end closed the connection without a byte (a reset: it closed with our request unread)."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def sign_without_password(home: Path) -> dict[str, object]:
    doc = ok(gl(home, "sign", "ed", "-m", "68656c6c6f", "--json", password=None))
    pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex(str(doc["public_key"])))
    pk.verify(bytes.fromhex(str(doc["signature"])), b"hello")  # RFC 8032, independent library
    return dict(doc)


# --- the session's life -----------------------------------------------------------------------------
def test_unlock_signs_without_password_then_lock_forgets(locked: Path) -> None:
    home = locked
    fails(gl(home, "sign", "ed", "-m", "00", password=None), 4, "password")  # locked: a password is needed
    doc = ok(gl(home, "unlock", "--for", "10m", "--json"))
    assert doc["unlocked"] is True and 590 <= doc["seconds"] <= 600
    pid = int(doc["pid"])
    status = ok(gl(home, "unlock", "--status", "--json", password=None))
    assert status["unlocked"] is True and status["pid"] == pid and 0 < status["left"] <= 600

    sign_without_password(home)
    sign_without_password(home)  # the agent keeps its connection: a second signature as well
    # the fast path: the command hands the request to the agent and imports no SDK, crypto, chain
    # library, nor pydantic (Typer's check of text values is skipped: cli.main.defer_pydantic)
    rc, modules = imported_by("sign", "ed", "-m", "00", env={"GRIDLOCK_HOME": str(home)})
    assert rc == 0
    assert heavy(modules) == [] and "pydantic" not in modules and "gridlock.chains" not in modules
    # a command that opens the keyring in-process gets the session's key instead of the password
    audit = gl(home, "audit", "ed", "--json", password=None)
    assert audit.rc == 0, audit.err

    sock = sock_of(home)
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.lstat(sock).st_mode)
    assert stat.S_IMODE(os.lstat(sock.parent).st_mode) == 0o700
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert PASSWORD.encode() not in environ  # the password is not in the agent's environment
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert any(line.startswith("Max core file size") and " 0 " in line for line in limits.splitlines())

    assert ok(gl(home, "lock", "--json", password=None)) == {"locked": True, "was_unlocked": True}
    assert wait_gone(pid)
    assert not sock.exists() and not sock.parent.exists()  # nothing left behind
    fails(gl(home, "sign", "ed", "-m", "00", password=None), 4, "password")
    assert ok(gl(home, "lock", "--json", password=None)) == {"locked": True, "was_unlocked": False}


def test_a_wrong_password_unlocks_nothing(locked: Path) -> None:
    fails(gl(locked, "unlock", password="not the password"), 4, "wrong password")
    assert not sock_of(locked).exists()
    assert ok(gl(locked, "unlock", "--status", "--json", password=None)) == {"unlocked": False}


def test_the_session_expires(locked: Path) -> None:
    pid = int(ok(gl(locked, "unlock", "--for", "5s", "--json"))["pid"])
    assert wait_gone(pid, 30.0)
    assert not sock_of(locked).exists()
    assert ok(gl(locked, "unlock", "--status", "--json", password=None)) == {"unlocked": False}
    fails(gl(locked, "sign", "ed", "-m", "00", password=None), 4, "password")


def test_a_removed_or_replaced_socket_ends_the_session(locked: Path) -> None:
    """Nobody can reach an agent whose socket is gone: it must not linger with the key."""
    for replace in (False, True):
        pid = int(ok(gl(locked, "unlock", "--json"))["pid"])
        sock = sock_of(locked)
        sock.unlink()
        if replace:  # another socket at its path (as a second agent would make)
            with socket.socket(socket.AF_UNIX) as other:
                other.bind(str(sock))
                assert wait_gone(pid, 20.0)
                assert stat.S_ISSOCK(os.lstat(sock).st_mode)  # the agent left the other socket alone
            sock.unlink()
        else:
            assert wait_gone(pid, 20.0)


def test_bad_durations_are_usage_errors(locked: Path) -> None:
    for bad in ("0s", "2d", "soon", "25h"):
        fails(gl(locked, "unlock", "--for", bad), 2)


# --- attacks ----------------------------------------------------------------------------------------
def test_a_killed_agent_leaves_a_stale_socket_that_nobody_uses(locked: Path) -> None:
    pid = int(ok(gl(locked, "unlock", "--json"))["pid"])
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    assert sock_of(locked).exists()  # stale
    fails(gl(locked, "sign", "ed", "-m", "00", password=None), 4, "password")  # falls back to the password
    ok(gl(locked, "sign", "ed", "-m", "00"))
    pid2 = int(ok(gl(locked, "unlock", "--json"))["pid"])  # replaces the stale socket
    assert pid2 != pid
    sign_without_password(locked)


def test_a_session_directory_made_by_someone_else_is_refused(locked: Path) -> None:
    directory = agent.agent_dir(paths_for(locked))
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # what another user (or a careless umask) would leave
    err = fails(gl(locked, "unlock", "--json"), 1, "session directory")
    assert err["code"] == "unsafe-socket"
    # a socket in it is never talked to: commands use the password
    with socket.socket(socket.AF_UNIX) as trap:
        trap.bind(str(directory / "agent.sock"))
        trap.listen(1)
        assert agent.AgentClient.find(paths_for(locked)) is None
        fails(gl(locked, "sign", "ed", "-m", "00", password=None), 4, "password")
    directory.joinpath("agent.sock").unlink()
    directory.rmdir()


def test_the_agent_answers_only_its_own_user(locked: Path) -> None:
    """SO_PEERCRED on the agent's side: a connection from another uid gets not a word."""
    paths = paths_for(locked)
    key = Keyring.load(paths.keyring, PASSWORD).key
    own = Agent(paths, key, 60)
    stranger = Agent(paths, key, 60, uid=os.getuid() + 1)  # as if we were another user
    for server, answered in ((own, True), (stranger, False)):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with a, b:
            agent.send(b, {"op": "key"})
            server.handle(a)
            a.close()
            b.settimeout(5)
            if answered:
                assert agent.receive(b)["key"] == key.hex()
            else:
                assert no_answer(b)
    own.close()
    stranger.close()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_the_agent_even_through_an_open_directory(locked: Path) -> None:
    pid = int(ok(gl(locked, "unlock", "--json"))["pid"])
    sock = sock_of(locked)
    os.chmod(sock.parent, 0o711)  # a misconfiguration: the agent's own check must still hold
    os.chmod(sock, 0o666)
    child = os.fork()
    if child == 0:  # pragma: no cover -- runs in the child
        code = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(sock))
                try:
                    agent.send(s, {"op": "key"})
                except (BrokenPipeError, ConnectionResetError):
                    code = 0  # it hung up before the request was even sent
                else:
                    code = 0 if no_answer(s) else 2  # 2: the agent answered a stranger
        except BaseException as exc:
            os.write(2, f"child: {exc!r}\n".encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert alive(pid)
    assert agent.AgentClient.find(paths_for(locked)) is None  # commands too refuse a directory left open
    os.chmod(sock.parent, 0o700)
    os.chmod(sock, 0o600)
    sign_without_password(locked)  # the session itself is unharmed


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_a_command_does_not_talk_to_another_users_socket(locked: Path) -> None:
    """SO_PEERCRED on the command's side: a socket listened on by another uid is not used."""
    directory = agent.agent_dir(paths_for(locked))
    directory.mkdir(mode=0o700)
    path = directory / "agent.sock"
    child = os.fork()
    if child == 0:  # pragma: no cover -- runs in the child
        code = 1
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(str(path))
                os.chmod(path, 0o600)
                os.setgid(NOBODY)
                os.setuid(NOBODY)  # listen() as another user: that is the uid SO_PEERCRED reports
                s.listen(1)
                s.settimeout(20)
                conn, _ = s.accept()
                with conn:
                    conn.settimeout(5)
                    try:
                        agent.receive(conn)
                        code = 2  # 2: the command told a stranger what it wanted
                    except (ConnectionError, OSError):
                        code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # let it listen
    client = agent.AgentClient.find(paths_for(locked))
    assert client is not None  # the file looks right: only SO_PEERCRED tells
    assert client.call("key") is None
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    path.unlink()
    directory.rmdir()
