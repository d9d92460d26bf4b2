"""Which store and which process a guardian gets, by its role.

An enclave guardian keeps its shares and identity in the custody contract of a local enclave network
(:mod:`gridlock.enclave.guardian`, in ``DATA_DIR/secret-network``, its emulated hardware derived
from the guardian's secret) and runs as
``python -m gridlock.enclave.guardian``; every other guardian keeps them in its encrypted SQLite
keystore (``DATA_DIR/keystore.db``) and runs as ``python -m gridlock.guardian``.
"""

from __future__ import annotations

from pathlib import Path

from gridlock.enclave.guardian import open_store_at
from gridlock.guardian.config import ENCLAVE, GuardianConfig
from gridlock.guardian.service import open_keystore
from gridlock.guardian.store import Keystore, ShareStore

GUARDIAN_MODULE = "gridlock.guardian"
ENCLAVE_MODULE = "gridlock.enclave.guardian"


def open_store(name: str, role: str, data_dir: Path, secret: str) -> ShareStore:
    """The store of guardian ``name`` with ``role`` whose data directory is ``data_dir``."""
    if role == ENCLAVE:
        return open_store_at(data_dir, name, secret)
    data_dir.mkdir(parents=True, exist_ok=True)
    return Keystore.open(data_dir / "keystore.db", secret.encode())


def open_configured(cfg: GuardianConfig) -> ShareStore:
    """The store a guardian configuration asks for (``gridlock guardian init|run``)."""
    if cfg.role == ENCLAVE:
        return open_store_at(cfg.data_dir, cfg.name, cfg.secret())
    return open_keystore(cfg)


def guardian_module(role: str) -> str:
    """The module that runs a guardian process of ``role`` (``python -m MODULE run --config FILE``)."""
    return ENCLAVE_MODULE if role == ENCLAVE else GUARDIAN_MODULE
