"""Writing a private file so that a crash never leaves it half-written.

Used for what only the owner of the process may read: the owner's encrypted keyring
(:mod:`gridlock.cli.keyring`) and its backups, an exported key (``gridlock vault export``), and the
enclave emulation's keys and sealed blobs (:mod:`gridlock.enclave.node`, :mod:`gridlock.enclave.network`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["write_private"]


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, readable by the owner only (mode 0600).

    The bytes go to a new temporary file beside ``path``, flushed to disk, and the file is renamed
    over ``path``: a crash leaves the old file or the new one, never a torn one.  The temporary
    name is random and created with ``O_EXCL | O_NOFOLLOW``, so in a directory others may write
    (``/tmp``) nobody can plant a file or a symlink there for this write to land in; its mode is set
    on the descriptor and checked before a byte is written.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o077:
                raise PermissionError(f"{tmp} is not a private file of this user")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
