"""Shared fixtures: the published vectors live in ../shared/vectors beside the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors"


def load_vector(relpath: str) -> Any:
    path = VECTORS / relpath
    if not path.exists():
        pytest.fail(f"published vector file missing: {path}")
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return path.read_text()
