"""Shared fixtures: the published test vectors ship in tests/vectors (see its README for sources and licences)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gridlock.transport import NatsServerNotFound, find_nats_server

VECTORS = Path(__file__).resolve().parent / "vectors"


def load_vector(relpath: str) -> Any:
    path = VECTORS / relpath
    if not path.exists():
        pytest.fail(f"published vector file missing: {path}")
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return path.read_text()


def need_nats_server() -> None:
    """Skip a test that needs a real ``nats-server`` when none is installed, saying how to get one.

    ``make test`` installs the server first and sets ``GRIDLOCK_REQUIRE_NATS=1``, so on CI a missing
    server fails the test instead of silently skipping it.
    """
    try:
        find_nats_server()
    except NatsServerNotFound as exc:
        if os.environ.get("GRIDLOCK_REQUIRE_NATS") == "1":
            pytest.fail(f"GRIDLOCK_REQUIRE_NATS=1 but {exc}")
        pytest.skip(f"needs nats-server: {exc}")
