"""Writing a private file so that a crash never leaves it half-written.

Used for what only the owner of the process may read: the owner's encrypted keyring
(:mod:`gridlock.cli.keyring`) and the enclave emulation's keys and sealed blobs
(:mod:`gridlock.enclave.node`, :mod:`gridlock.enclave.network`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_private"]


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, readable by the owner only (mode 0600).

    The bytes go to a temporary file beside ``path`` (named after this process, so two processes
    never share one), are flushed to disk, and the file is renamed over ``path``: a crash leaves
    the old file or the new one, never a torn one.
    """
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
