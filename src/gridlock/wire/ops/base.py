"""The machinery every typed operation shares: value checks, the strict params reader, the base class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, ClassVar

from gridlock.chains.context import TxContext
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.approval import Approval

MAX_VAULT_ID = 128
MAX_MESSAGE = 1 << 16  # a raw message to sign; ECDSA signs 32-byte digests
MAX_IDS = 64
MAX_APPROVALS = 16
MAX_INDEX = 1 << 16


# --- value checks (constructors) ---------------------------------------------------------------------
def check_text(name: str, v: object, max_len: int = MAX_VAULT_ID) -> None:
    if not isinstance(v, str) or not 0 < len(v) <= max_len:
        raise InvalidParameterError(f"{name} must be a non-empty text of at most {max_len} characters")


def check_data(name: str, v: object, *, length: int | None = None, max_len: int = 1 << 20) -> None:
    if not isinstance(v, bytes) or len(v) > max_len or (length is not None and len(v) != length):
        raise InvalidParameterError(f"{name} must be a byte string" + (f" of {length} bytes" if length else ""))


def check_int(name: str, v: object, lo: int, hi: int) -> None:
    if type(v) is not int or not lo <= v <= hi:
        raise InvalidParameterError(f"{name} must be an integer in {lo}..{hi}")


def check_ids(name: str, v: object) -> None:
    if not isinstance(v, tuple) or not 0 < len(v) <= MAX_IDS or not all(isinstance(g, str) and g for g in v):
        raise InvalidParameterError(f"{name} must be 1 to {MAX_IDS} guardian ids")
    if len(set(v)) != len(v):
        raise InvalidParameterError(f"{name} names a guardian twice")


def check_members(name: str, v: object) -> None:
    if not isinstance(v, Mapping) or not 0 < len(v) <= MAX_IDS:
        raise InvalidParameterError(f"{name} must map 1 to {MAX_IDS} indices to guardian ids")
    for i, g in v.items():
        if type(i) is not int or not 0 < i < MAX_INDEX or not isinstance(g, str) or not g:
            raise InvalidParameterError(f"{name} has a bad index or guardian id")
    if len(set(v.values())) != len(v):
        raise InvalidParameterError(f"{name} names a guardian twice")


def check_approvals(v: object) -> None:
    if not isinstance(v, tuple) or len(v) > MAX_APPROVALS or not all(isinstance(a, Approval) for a in v):
        raise InvalidParameterError(f"approvals are at most {MAX_APPROVALS} owner approvals")


def check_path(v: object) -> None:
    """A derivation path of a request: non-hardened, at most ``hd.MAX_DEPTH`` steps, canonical
    (``"m/7"``, never ``"m/07"``), so each request has one encoding for the owner to approve."""
    from gridlock.crypto import hd  # noqa: PLC0415 -- the wire layer needs no group code until a path is read

    if not isinstance(v, str) or len(v) > 12 * hd.MAX_DEPTH:
        raise InvalidParameterError("a derivation path is a text like 'm/0/1'")
    if hd.canonical_path(v) != v:
        raise InvalidParameterError(f"derivation path {v[:40]!r} is not written canonically ({hd.canonical_path(v)!r})")


def check_vault_nonce(op: Any) -> None:
    check_text("vault id", op.vault)
    check_data("the request nonce", op.nonce, length=32)


# --- wire reading (decode) -----------------------------------------------------------------------------
class Params:
    """Reads the fields of a received params map by type, and refuses the ones nobody read."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params
        self.read: set[str] = set()

    def raw(self, key: str) -> Any:
        self.read.add(key)
        if key not in self.params:
            raise DecodeError(f"parameter {key!r} is missing")
        return self.params[key]

    def has(self, key: str) -> bool:
        return key in self.params

    def typed(self, key: str, kind: type) -> Any:
        v = self.raw(key)
        if type(v) is not kind:
            raise DecodeError(f"parameter {key!r} must be {'an' if kind is int else 'a'} {kind.__name__}")
        return v

    def text(self, key: str) -> str:
        return str(self.typed(key, str))

    def data(self, key: str) -> bytes:
        return bytes(self.typed(key, bytes))

    def integer(self, key: str) -> int:
        return int(self.typed(key, int))

    def ids(self, key: str) -> tuple[str, ...]:
        v = self.typed(key, list)
        if not all(isinstance(g, str) for g in v):
            raise DecodeError(f"parameter {key!r} must be a list of guardian ids")
        return tuple(v)

    def members(self, key: str) -> dict[int, str]:
        """``[[index, guardian id], …]`` in increasing index order → ``{index: guardian id}``."""
        v = self.typed(key, list)
        if not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is int and type(p[1]) is str for p in v):
            raise DecodeError(f"parameter {key!r} must list [index, guardian id] pairs")
        out = {p[0]: p[1] for p in v}
        if [p[0] for p in v] != sorted(out):
            raise DecodeError(f"parameter {key!r} must list distinct indices in increasing order")
        return out

    def mapping(self, key: str) -> dict[str, Any]:
        v = self.typed(key, dict)
        if not all(isinstance(k, str) for k in v):
            raise DecodeError(f"parameter {key!r} must be a map with text keys")
        return dict(v)

    def optional_mapping(self, key: str) -> dict[str, Any] | None:
        return self.mapping(key) if self.has(key) else None

    def approvals(self) -> tuple[Approval, ...]:
        """Absent means none (the owner gate then refuses the request as unauthorised)."""
        if not self.has("approvals"):
            return ()
        v = self.typed("approvals", list)
        if not 0 < len(v) <= MAX_APPROVALS:
            raise DecodeError(f"a request carries 1 to {MAX_APPROVALS} owner approvals")
        return tuple(Approval.from_wire(a) for a in v)

    def path(self) -> str:
        """Absent means the vault's own key ``"m"`` (written out, it would be a second encoding)."""
        if not self.has("path"):
            return "m"
        v = self.text("path")
        if v == "m":
            raise DecodeError("parameter 'path' is left out for the vault's own key 'm'")
        return v

    def tx(self) -> TxContext | None:
        return TxContext.from_wire(self.raw("tx")) if self.has("tx") else None

    def finish(self, name: str) -> None:
        extra = sorted(set(self.params) - self.read)
        if extra:
            raise DecodeError(f"operation {name!r} takes no parameter(s) {', '.join(map(repr, extra))}")


def _wire(value: Any) -> Any:
    """One field's wire form: a transaction context and approvals as their wire maps, guardian-id
    tuples as lists, index → guardian maps as ``[[index, id], …]`` in index order, other maps as maps."""
    if isinstance(value, TxContext):
        return value.to_wire()
    if isinstance(value, tuple):
        return [a.to_wire() if isinstance(a, Approval) else a for a in value]
    if isinstance(value, Mapping):
        if value and all(type(k) is int for k in value):
            return [[i, g] for i, g in sorted(value.items())]
        return dict(value)
    return value


def check_tx(tx: object) -> None:
    if tx is not None and not isinstance(tx, TxContext):
        raise InvalidParameterError("tx must be a TxContext")


class Op:
    """What every operation provides; subclasses are frozen dataclasses whose fields are the wire keys."""

    NAME: ClassVar[str]
    APPROVED: ClassVar[bool] = False  # carries owner approvals bound to every other field
    vault: str | None

    def to_params(self) -> dict[str, Any]:
        """The wire form: every field under its name, but a field at its default (no ``tx``, no
        ``owner``, no approvals, ``since`` 0) is left out and read back as that default — so each
        operation has one encoding, which is what owner approvals sign."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]  # every Op subclass is a dataclass
            value = getattr(self, f.name)
            if f.default is not MISSING and value == f.default:
                continue
            out[f.name] = _wire(value)
        return out

    @classmethod
    def read(cls, p: Params) -> Op:
        raise NotImplementedError
