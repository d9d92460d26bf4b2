"""The custody contract's messages as it reads them: JSON objects with exactly one key (serde's enum
encoding, as a CosmWasm contract's ``ExecuteMsg``/``QueryMsg``), each body read strictly by
:class:`Args` — known fields only, typed and bounded — and its answers written as compact JSON.
A malformed message is a ``StdError::parse_err``, a bad value a ``generic_err`` with its code.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.sealed import seal
from gridlock.enclave.cosmwasm import StdError, fail
from gridlock.enclave.custody_state import KINDS
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument

__all__ = [
    "EXEC_TARGET",
    "INIT_TARGET",
    "QUERY_TARGET",
    "Args",
    "b64_decode",
    "b64_field",
    "b64s",
    "metadata_text",
    "parse",
    "to_json",
]

EXEC_TARGET: Final = "gridlock_custody::msg::ExecuteMsg"
QUERY_TARGET: Final = "gridlock_custody::msg::QueryMsg"
INIT_TARGET: Final = "gridlock_custody::msg::InstantiateMsg"


def parse(msg: bytes, target: str) -> tuple[str, dict[str, Any]]:
    try:
        obj = json.loads(msg.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StdError.parse_err(target, "the message is not JSON") from None
    if not isinstance(obj, dict) or len(obj) != 1:
        raise StdError.parse_err(target, "expected an object with exactly one variant")
    ((name, body),) = obj.items()
    if not isinstance(body, dict):
        raise StdError.parse_err(target, f"variant {name!r} must be an object")
    return name, body


class Args:
    """Strict reading of one message body: known fields only, typed, bounded."""

    def __init__(self, name: str, body: dict[str, Any], allowed: set[str], target: str) -> None:
        unknown = set(body) - allowed
        if unknown:
            raise StdError.parse_err(target, f"unknown field(s) in {name}: {', '.join(sorted(unknown))}")
        self.name, self.body, self.target = name, body, target

    def _missing(self, key: str) -> StdError:
        return StdError.parse_err(self.target, f"missing or malformed field {key!r} in {self.name}")

    def string(self, key: str, max_len: int = 256) -> str:
        v = self.body.get(key)
        if not isinstance(v, str) or not 0 < len(v) <= max_len:
            raise self._missing(key)
        return v

    def integer(self, key: str, *, optional: bool = False) -> int | None:
        v = self.body.get(key)
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
            raise self._missing(key)
        return v

    def epoch(self) -> int:
        v = self.integer("epoch")
        assert v is not None
        return v

    def binary(self, key: str, max_len: int) -> bytes:
        v = self.body.get(key)
        if not isinstance(v, str):
            raise self._missing(key)
        return b64_field(v, key, max_len, self.target)

    def boolean(self, key: str, default: bool = False) -> bool:
        v = self.body.get(key, default)
        if not isinstance(v, bool):
            raise self._missing(key)
        return v

    def vault_id(self) -> str:
        return rules.check_vault_id(self.body.get("vault_id"))

    def kind(self) -> str:
        v = self.body.get("kind")
        if v not in KINDS:
            raise fail("bad-argument", f"item kind must be one of {KINDS}")
        assert isinstance(v, str)
        return v

    def metadata(self, *, optional: bool) -> str | None:
        if "metadata" not in self.body or (optional and self.body["metadata"] is None):
            if optional:
                return None
            raise self._missing("metadata")
        return metadata_text(self.body["metadata"])


def b64_decode(text: str, key: str) -> bytes:
    """Field ``key``'s base64 (cosmwasm ``Binary``); ``invalid_base64`` as cosmwasm-std reports it."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise StdError("invalid_base64", {"msg": f"field {key!r}"}, f"invalid base64 in {key!r}") from None


def b64_field(text: str, key: str, max_len: int, target: str) -> bytes:
    raw = b64_decode(text, key)
    if len(raw) > max_len:
        raise fail("bad-argument", f"field {key!r} larger than {max_len} bytes")
    return raw


def metadata_text(value: object) -> str:
    if not isinstance(value, dict):
        raise BadArgument("vault metadata must be a JSON object")
    return rules.encode_metadata(value)


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def sealed_view(share: KeyShare) -> dict[str, Any]:
    """The answer that gives a share made in the contract: its epoch and sealed view (public data)."""
    return {"epoch": share.epoch, "share": b64s(seal(share)), "sealed": True}


def b64s(data: bytes) -> str:
    return base64.b64encode(data).decode()
