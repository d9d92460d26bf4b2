"""``write_private`` in a directory others can write (``--out /tmp/key.hex``): what a local
attacker plants beside the target never receives the secret, and the result is mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gridlock.files import write_private


def test_a_planted_temporary_file_or_symlink_is_not_written_through(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    target = shared / "key.hex"
    decoy = tmp_path / "attacker-reads-this"
    decoy.write_bytes(b"")
    decoy.chmod(0o666)
    # the names an older writer used (target.tmp<pid>) for a range of pids, as files and symlinks
    for pid in range(os.getpid() - 50, os.getpid() + 50):
        link = shared / f"key.hex.tmp{pid}"
        if pid % 2:
            link.symlink_to(decoy)
        else:
            link.write_bytes(b"")
            link.chmod(0o666)
    write_private(target, b"secret")
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.lstat().st_mode) == 0o600 and not target.is_symlink()
    assert decoy.read_bytes() == b""
    assert all(p.read_bytes() == b"" for p in shared.glob("key.hex.tmp*") if not p.is_symlink())


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        write_private(tmp_path / "keyring.json", b"x")
    assert list(tmp_path.iterdir()) == []
