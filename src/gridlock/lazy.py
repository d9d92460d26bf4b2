"""Lazy package exports (PEP 562): a package names what it exports and from which module, and a
name is imported when first used — importing one submodule (what every CLI command reads) does
not load the rest (the NATS client, the clusters)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(package: dict[str, Any], table: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of the package whose globals are ``package``: ``table`` maps each name
    to its module; a name is imported once, then kept in the package's globals."""

    def load(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        package[name] = value
        return value

    return load
