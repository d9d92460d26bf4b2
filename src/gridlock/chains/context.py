"""Transaction contexts: the transaction a client shows the guardians beside the hash it asks them to sign.

A guardian never signs a chain hash on the client's word (SECURITY #19, DESIGN §5): it re-derives
every hash it may sign from the transaction itself and judges what the transaction spends by its
own policy.  A :class:`TxContext` is that transaction as it crosses the wire — one frozen dataclass
per chain, checked when built, encoded by :meth:`TxContext.to_wire` and decoded by
:meth:`TxContext.from_wire` in this one place, used by the client (building a sign request) and by
the guardian (reading one).  A missing, extra or ill-typed field is a :class:`TxContextError`
naming the field, never a silently skipped check.

The wire form (a CBOR map; the first four unchanged from before the type existed)::

    {"chain": "bitcoin",  "psbt": <base64 text of a BIP174 PSBT>, "network": "mainnet" | "regtest" | ...}
    {"chain": "ethereum", "json": <the transaction as a JSON object, eth-account field names>}
    {"chain": "solana",   "tx": <the serialised transaction bytes>}
    {"chain": "cosmos",   "sign_doc": <SIGN_MODE_DIRECT SignDoc bytes>, "prefix": <bech32 account prefix>}
    {"chain": "ethereum", "message": <the bytes of an EIP-191 personal_sign message>}
    {"chain": "ethereum", "typed_data": <an EIP-712 message as a JSON object: types, primaryType, domain, message>}

A chain with several forms (Ethereum: a transaction, a personal message, typed data) is told apart
by the one field each form has; a map with none of them is read as the chain's first form, so the
error names that form's missing field.

The checks here are of the *shape* (types, encodings, sizes, known network); whether the transaction
parses, and what it spends, is the chain adapter's reading (:mod:`gridlock.chains.adapter`), done
again by every guardian.  This module imports no chain library, so the typed operations can carry a
``TxContext`` without pulling eth-account or solders into every process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from gridlock.errors import DecodeError

__all__ = [
    "CHAINS",
    "MAX_TX_BYTES",
    "BitcoinTx",
    "CosmosTx",
    "EthereumMessage",
    "EthereumTx",
    "EthereumTypedData",
    "SolanaTx",
    "TxContext",
    "TxContextError",
    "valid_bech32_prefix",
]

MAX_TX_BYTES = 1 << 20  # far above any chain's largest transaction; bounds what a guardian parses
MAX_JSON_DEPTH = 64  # a transaction nests 3 deep, EIP-712 typed data ~6 (its structs at most 32)
PSBT_MAGIC = b"psbt\xff"  # BIP174


class TxContextError(DecodeError):
    """A transaction context that is malformed; ``field`` names the offending field (or ``None``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


def valid_bech32_prefix(prefix: object) -> bool:
    """BIP173: a human-readable part is 1–83 characters of ASCII 33–126; we require lower case."""
    return (
        isinstance(prefix, str)
        and 1 <= len(prefix) <= 83
        and prefix == prefix.lower()
        and all(33 <= ord(c) <= 126 for c in prefix)
    )


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True)
class TxContext:
    """The base of every chain's context; use a subclass (``BitcoinTx``, ...) or :meth:`from_wire`."""

    chain: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if type(self) is TxContext:
            raise TypeError("TxContext is abstract: build a BitcoinTx, EthereumTx, SolanaTx or CosmosTx")
        self._check()

    def _check(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def network_name(self) -> str | None:
        """The network the transaction is read for (Bitcoin network, Cosmos prefix), if the chain has one."""
        return None

    def to_wire(self) -> dict[str, Any]:
        """The CBOR map a sign request carries (see the module doc)."""
        return {"chain": self.chain, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @staticmethod
    def from_wire(obj: object) -> TxContext:
        """The context a sign request carries; a :class:`TxContextError` for anything malformed."""
        if not isinstance(obj, Mapping):
            raise TxContextError("the transaction context must be a map with a 'chain'")
        chain = obj.get("chain")
        if not isinstance(chain, str):
            raise TxContextError("the transaction context has no 'chain' (text)", "chain")
        forms = _BY_CHAIN.get(chain)
        if forms is None:
            raise TxContextError(f"unknown chain {chain[:40]!r}; one of: {', '.join(CHAINS)}", "chain")
        cls = next((c for c in forms if fields(c)[0].name in obj), forms[0])
        names = [f.name for f in fields(cls)]
        extra = sorted(str(k) for k in obj if k not in {"chain", *names})
        if extra:
            raise TxContextError(f"{chain}: unknown field(s) {', '.join(extra)}", extra[0])
        missing = [n for n in names if n not in obj]
        if missing:
            raise TxContextError(f"{chain}: missing field '{missing[0]}'", missing[0])
        return cls(**{n: obj[n] for n in names})

    def digest(self) -> str:
        """SHA-256 (hex) of the context's canonical form: the key a guardian files a time-locked hold
        under, the same for every hash of one transaction (one hold per transaction, not per input)."""
        return hashlib.sha256(json.dumps(_plain(self.to_wire()), sort_keys=True).encode()).hexdigest()


def _text(chain: str, name: str, value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TxContextError(f"{chain}: '{name}' must be {what}", name)
    if not value:
        raise TxContextError(f"{chain}: '{name}' is empty", name)
    if len(value) > 2 * MAX_TX_BYTES:
        raise TxContextError(f"{chain}: '{name}' is longer than {2 * MAX_TX_BYTES} characters", name)
    return value


def _bytes(chain: str, name: str, value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise TxContextError(f"{chain}: '{name}' must be {what} (bytes)", name)
    if not value:
        raise TxContextError(f"{chain}: '{name}' is empty", name)
    if len(value) > MAX_TX_BYTES:
        raise TxContextError(f"{chain}: '{name}' is larger than {MAX_TX_BYTES} bytes", name)
    return value


@dataclass(frozen=True)
class BitcoinTx(TxContext):
    """A Bitcoin transaction as a BIP174 PSBT (base64 text, as ``bitcoin-cli`` prints it).

    ``network`` decides which outputs are the vault's own change (BIP173/BIP350 address prefixes),
    so it is required: a missing one would make change look like a payment, or the reverse.
    """

    chain: ClassVar[str] = "bitcoin"
    psbt: str
    network: str

    def _check(self) -> None:
        from gridlock.chains.bitcoin.address import NETWORKS  # noqa: PLC0415 -- the bitcoin package loads on first use (~50 ms)

        text = _text(self.chain, "psbt", self.psbt, "base64 text of a PSBT")
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise TxContextError("bitcoin: 'psbt' is not base64", "psbt") from None
        if not raw.startswith(PSBT_MAGIC):
            raise TxContextError("bitcoin: 'psbt' is not a PSBT (BIP174 magic 'psbt\\xff' missing)", "psbt")
        if not isinstance(self.network, str) or self.network not in NETWORKS:
            raise TxContextError(f"bitcoin: 'network' must be one of {', '.join(NETWORKS)}", "network")

    @property
    def network_name(self) -> str | None:
        return self.network

    @classmethod
    def of(cls, psbt: str | bytes, network: str) -> BitcoinTx:
        """From base64 text or the binary PSBT."""
        if isinstance(psbt, bytes) and psbt.startswith(PSBT_MAGIC):
            psbt = base64.b64encode(psbt).decode()
        elif isinstance(psbt, bytes):
            try:
                psbt = psbt.decode("ascii")
            except UnicodeDecodeError:
                raise TxContextError("bitcoin: a PSBT is base64 text or binary with the BIP174 magic", "psbt") from None
        return cls(psbt.strip() if isinstance(psbt, str) else psbt, network)


def _json_ready(v: Any) -> Any:
    """eth-account accepts ``0x`` hex wherever it accepts bytes; JSON has no bytes."""
    if isinstance(v, bytes | bytearray):
        return "0x" + bytes(v).hex()
    if isinstance(v, Mapping):
        return {str(k): _json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_ready(x) for x in v]
    return v


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings skipped; an unclosed
    string only makes the count larger), found before parsing: the json module's C parser can
    exhaust the C stack on deep input (SECURITY #29)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(_BRACKET_STEP[c] for c in brackets), default=0)


def load_json(raw: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from outside (a file, a peer), its nesting checked before parsing (:func:`_json_depth`):
    :class:`DecodeError` for input that is not JSON, not UTF-8 or nests deeper than ``max_depth``."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise DecodeError("JSON must be UTF-8 text") from None
    if _json_depth(text) > max_depth:
        raise DecodeError(f"JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"not JSON ({exc})") from None


def _json_object(chain: str, name: str, value: object, what: str) -> dict[str, Any]:
    text = _text(chain, name, value, what)
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise TxContextError(f"{chain}: '{name}' nests deeper than {MAX_JSON_DEPTH} levels", name)
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise TxContextError(f"{chain}: '{name}' is not JSON ({exc})", name) from None
    if not isinstance(obj, dict):
        raise TxContextError(f"{chain}: '{name}' must hold a JSON object", name)
    return obj


def _json_text(chain: str, name: str, obj: Mapping[str, Any], what: str) -> str:
    if not isinstance(obj, Mapping):
        raise TxContextError(f"{chain}: {what} must be a map", name)
    try:
        return json.dumps(_json_ready(obj), sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TxContextError(f"{chain}: {what} cannot be written as JSON ({exc})", name) from None


@dataclass(frozen=True)
class EthereumTx(TxContext):
    """An unsigned Ethereum transaction (legacy EIP-155, EIP-2930 or EIP-1559) as a JSON object."""

    chain: ClassVar[str] = "ethereum"
    json: str

    def _check(self) -> None:
        _json_object(self.chain, "json", self.json, "the transaction as JSON text")

    @property
    def tx(self) -> dict[str, Any]:
        """The transaction dict (eth-account field names)."""
        out: dict[str, Any] = json.loads(self.json)
        return out

    @classmethod
    def of(cls, tx: Mapping[str, Any]) -> EthereumTx:
        """From a transaction dict; bytes values become ``0x`` hex (same transaction for eth-account)."""
        return cls(_json_text(cls.chain, "json", tx, "the transaction (eth-account fields)"))


@dataclass(frozen=True)
class EthereumMessage(TxContext):
    """An EIP-191 ``personal_sign`` message (version byte 0x45): the signer signs
    keccak256(``"\\x19Ethereum Signed Message:\\n" ‖ len(message) ‖ message``) of these bytes."""

    chain: ClassVar[str] = "ethereum"
    message: bytes

    def _check(self) -> None:
        if not isinstance(self.message, bytes):
            raise TxContextError("ethereum: 'message' must be the message (bytes)", "message")
        if len(self.message) > MAX_TX_BYTES:
            raise TxContextError(f"ethereum: 'message' is larger than {MAX_TX_BYTES} bytes", "message")

    @classmethod
    def of(cls, message: bytes | str) -> EthereumMessage:
        """From the message's bytes, or text (signed as its UTF-8 bytes, as wallets do)."""
        if isinstance(message, str):
            return cls(message.encode())
        if isinstance(message, bytearray | memoryview):
            return cls(bytes(message))
        return cls(message)


TYPED_DATA_KEYS = frozenset({"types", "primaryType", "domain", "message"})


@dataclass(frozen=True)
class EthereumTypedData(TxContext):
    """An EIP-712 message to sign (``eth_signTypedData_v4``) as a JSON object with exactly ``types``,
    ``primaryType``, ``domain`` and ``message``."""

    chain: ClassVar[str] = "ethereum"
    typed_data: str

    def _check(self) -> None:
        obj = _json_object(self.chain, "typed_data", self.typed_data, "the EIP-712 message as JSON text")
        if set(obj) != TYPED_DATA_KEYS:
            raise TxContextError(
                f"ethereum: 'typed_data' must have exactly {', '.join(sorted(TYPED_DATA_KEYS))}", "typed_data"
            )
        if not isinstance(obj["primaryType"], str) or not all(
            isinstance(obj[k], dict) for k in ("types", "domain", "message")
        ):
            raise TxContextError(
                "ethereum: 'typed_data' has a text primaryType and objects types, domain, message", "typed_data"
            )

    @property
    def data(self) -> dict[str, Any]:
        """The typed data dict (as eth-account's ``encode_typed_data(full_message=...)`` takes it)."""
        out: dict[str, Any] = json.loads(self.typed_data)
        return out

    @classmethod
    def of(cls, typed_data: Mapping[str, Any]) -> EthereumTypedData:
        """From the typed data dict; bytes values become ``0x`` hex (hashed alike by eth-account)."""
        return cls(_json_text(cls.chain, "typed_data", typed_data, "the EIP-712 message"))


@dataclass(frozen=True)
class SolanaTx(TxContext):
    """A serialised Solana transaction (legacy or v0; signature slots empty or default)."""

    chain: ClassVar[str] = "solana"
    tx: bytes

    def _check(self) -> None:
        _bytes(self.chain, "tx", self.tx, "the serialised transaction")


@dataclass(frozen=True)
class CosmosTx(TxContext):
    """A Cosmos SDK ``SignDoc`` (SIGN_MODE_DIRECT, cosmos-sdk ADR-020) and the bech32 prefix to read
    its addresses with (``secret`` for Secret Network)."""

    chain: ClassVar[str] = "cosmos"
    sign_doc: bytes
    prefix: str

    def _check(self) -> None:
        _bytes(self.chain, "sign_doc", self.sign_doc, "the SignDoc")
        if not valid_bech32_prefix(self.prefix):
            raise TxContextError("cosmos: 'prefix' must be a bech32 prefix (1-83 lowercase ASCII)", "prefix")

    @property
    def network_name(self) -> str | None:
        return self.prefix


# each chain's forms, its first the one a map without any form's own field is read as
_BY_CHAIN: dict[str, tuple[type[TxContext], ...]] = {
    "bitcoin": (BitcoinTx,),
    "ethereum": (EthereumTx, EthereumMessage, EthereumTypedData),
    "solana": (SolanaTx,),
    "cosmos": (CosmosTx,),
}
CHAINS = tuple(_BY_CHAIN)
