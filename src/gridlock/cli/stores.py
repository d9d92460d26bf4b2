"""Which store and which process each devnet guardian gets.

The enclave guardian (name ``enclave``) keeps its shares and identity in the custody contract of a
local enclave network (:mod:`gridlock.enclave.guardian`) and runs as
``python -m gridlock.enclave.guardian``; every other guardian uses its encrypted SQLite keystore and
``python -m gridlock.guardian``.
"""

from __future__ import annotations

from pathlib import Path

from gridlock.enclave.guardian import open_store_at
from gridlock.guardian.keystore import Keystore, ShareStore

ENCLAVE = "enclave"


def open_guardian_store(name: str, gdir: Path, secret: str) -> ShareStore:
    if name == ENCLAVE:
        return open_store_at(gdir, name)
    return Keystore.open(gdir / "keystore.db", secret.encode())


def guardian_module(name: str) -> str:
    return "gridlock.enclave.guardian" if name == ENCLAVE else "gridlock.guardian"
