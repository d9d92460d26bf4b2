"""Just enough of cosmwasm's contract interface for the emulated Secret Network.

A contract sees a key-value :class:`Storage` (plaintext inside the enclave; encrypted outside),
the block :class:`Env`, the authenticated sender (:class:`MessageInfo`), and answers with a
:class:`Response` or a :class:`StdError`, serialised as ``cosmwasm_std::StdError`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridlock.enclave.errors import EnclaveError

__all__ = ["Contract", "Env", "MessageInfo", "Response", "StdError", "Storage", "fail"]


class Storage(Protocol):
    """The contract's key-value store (plaintext inside the enclave; encrypted outside)."""

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def remove(self, key: bytes) -> None: ...


@dataclass(frozen=True)
class Env:
    chain_id: str
    block_height: int
    block_time: int  # nanoseconds since the epoch, as cosmwasm's Timestamp
    contract_address: str
    random: bytes | None = None
    """Secret Network's ``env.block.random``: 32 bytes only the enclave knows, given to executes
    (``None`` in queries, whose answers must not depend on it).  The emulated enclave derives it
    from the consensus seed, the block and the transaction (:func:`gridlock.enclave.crypto.block_random`)."""


@dataclass(frozen=True)
class MessageInfo:
    sender: str  # authenticated by the transaction's signature on the real chain


@dataclass
class Response:
    data: bytes | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)


class StdError(EnclaveError):
    """A contract error, serialised as ``cosmwasm_std::StdError`` (``{"generic_err": {"msg": …}}``)."""

    def __init__(self, variant: str, fields: Mapping[str, Any], text: str) -> None:
        self.variant = variant
        self.fields = dict(fields)
        super().__init__(text)

    def to_json(self) -> dict[str, Any]:
        return {self.variant: self.fields}

    @classmethod
    def generic_err(cls, msg: str) -> StdError:
        return cls("generic_err", {"msg": msg}, msg)

    @classmethod
    def parse_err(cls, target: str, msg: str) -> StdError:
        return cls("parse_err", {"target_type": target, "msg": msg}, f"error parsing into type {target}: {msg}")


def fail(code: str, text: str) -> StdError:
    """A ``generic_err`` whose message starts with a stable ``code`` a client maps to its own error."""
    return StdError.generic_err(f"{code}: {text}")


class Contract(Protocol):
    code: bytes

    def instantiate(self, storage: Storage, env: Env, info: MessageInfo, msg: bytes) -> Response: ...

    def execute(self, storage: Storage, env: Env, info: MessageInfo, msg: bytes) -> Response: ...

    def query(self, storage: Storage, env: Env, msg: bytes) -> bytes: ...
