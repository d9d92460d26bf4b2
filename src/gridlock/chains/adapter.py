"""One adapter per chain behind one small interface, found by name with :func:`get`.

Everything that differs between chains and that the SDK, the CLI or a guardian needs lives behind
:class:`ChainAdapter`, so no layer above branches on a chain's name:

* the vault's **address** for a public key and scheme (:meth:`ChainAdapter.address`);
* reading a **transaction file** (:meth:`ChainAdapter.load`) or the chain's native form
  (:meth:`ChainAdapter.context`) into its :class:`~gridlock.chains.context.TxContext`;
* a **human summary** (:meth:`ChainAdapter.summary`);
* the **hashes** a signer signs, in order (:meth:`ChainAdapter.hashes`, the owner's side), and the
  guardian's own re-derivation of every hash it may sign and what the transaction spends
  (:meth:`ChainAdapter.derive`, SECURITY #19);
* **attaching** signatures (:meth:`ChainAdapter.attach` for signatures gathered from guardians,
  :meth:`ChainAdapter.sign` for any :class:`~gridlock.chains.Signer`).

The adapters themselves are in :mod:`gridlock.chains.adapters` and are imported on first use
(eth-account alone takes ~0.4 s to import).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import base58

from gridlock.chains.context import CHAINS, TxContext, TxContextError
from gridlock.chains.movement import Movement
from gridlock.chains.signer import Signer
from gridlock.errors import DecodeError, InvalidParameterError, SignatureError

if TYPE_CHECKING:
    from gridlock.crypto.hd import HdRoot

__all__ = [
    "CHAINS",
    "Address",
    "ChainAdapter",
    "Derived",
    "ForeignSpendError",
    "SignedTx",
    "UnknownChainError",
    "UnsupportedSchemeError",
    "get",
]


class UnknownChainError(InvalidParameterError):
    """A chain name no adapter serves."""


class ForeignSpendError(InvalidParameterError):
    """The transaction spends something the vault's own key does not control (a Bitcoin input of
    another script): a guardian then asks whether the owner's other vaults do."""


class UnsupportedSchemeError(InvalidParameterError):
    """A vault whose signature scheme the chain does not use."""


@dataclass(frozen=True)
class Address:
    address: str
    kind: str  # p2wpkh, p2tr, eoa, ed25519, secp256k1
    network: str | None  # the Bitcoin network or Cosmos prefix it was encoded for


@dataclass(frozen=True)
class Derived:
    """A guardian's own reading of a transaction: every hash a signer of this key may be asked to
    sign for it, and everything it moves (:mod:`gridlock.chains.movement`), the vault's own change
    excluded."""

    hashes: frozenset[bytes]
    movements: tuple[Movement, ...]
    blind: bool = False  # what is signed cannot be read (a message that is not text): judged as raw signing


@dataclass(frozen=True)
class SignedTx:
    """A transaction with this vault's signatures attached.

    ``raw`` is the broadcastable transaction, or ``None`` for a PSBT that other keys still have to
    sign (``psbt`` and ``finalize_error`` then say so); ``txid`` is the chain's transaction id.
    """

    chain: str
    raw: bytes | None
    txid: str | None
    signatures: int
    psbt: str | None = None
    finalize_error: str | None = None


class _Presigned:
    """The :class:`Signer` seam over signatures gathered elsewhere (the guardians): it answers only
    for the hashes it holds, so a chain function asking for any other hash fails loudly."""

    def __init__(self, scheme: str, public_key: bytes, signatures: Mapping[bytes, bytes]) -> None:
        self.scheme = scheme
        self.public_key = public_key
        self._signatures = dict(signatures)
        self.used: set[bytes] = set()

    def sign(self, message: bytes) -> bytes:
        sig = self._signatures.get(bytes(message))
        if sig is None:
            raise SignatureError("no signature was gathered for a hash this transaction needs")
        self.used.add(bytes(message))
        return sig


def decode_text(raw: bytes, encodings: tuple[str, ...]) -> bytes:
    """A file's bytes: raw binary as is, or printable text in one of ``encodings`` (hex, base64, base58)."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return raw
    if not text or not text.isprintable():
        return raw
    for enc in encodings:
        try:
            if enc == "hex":
                return bytes.fromhex(text.removeprefix("0x"))
            if enc == "base64":
                return base64.b64decode(text, validate=True)
            if enc == "base58":
                return bytes(base58.b58decode(text))
        except (ValueError, binascii.Error):
            continue
    raise DecodeError(f"text that is not {' or '.join(encodings)}")


def summary_dict(obj: Any) -> dict[str, Any]:
    """A chain summary object as a JSON-ready dict."""
    if hasattr(obj, "as_dict"):
        return dict(obj.as_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return {"value": str(obj)}


class ChainAdapter(ABC):
    """What Gridlock needs of a chain (module doc); one stateless instance per chain."""

    name: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]  # the vault schemes that can hold this chain's coins
    context_type: ClassVar[type[TxContext]]
    file_format: ClassVar[str]  # what a transaction file holds, for error hints
    names_child_keys: ClassVar[bool] = False  # its transactions say which child keys sign (derive_with_roots)

    # --- scheme and network ------------------------------------------------------------------------
    def check_scheme(self, scheme: str) -> None:
        if scheme not in self.schemes:
            raise UnsupportedSchemeError(
                f"a {scheme} vault cannot hold {self.name} coins: {self.name} needs a vault of scheme "
                f"{' or '.join(self.schemes)}"
            )

    def network(self, network: str | None) -> str | None:
        """The network to use (checked), or the default; ``None`` for chains whose addresses and
        transactions do not depend on one (a network given for them is ignored, as it always was)."""
        return None

    # --- addresses and transactions ----------------------------------------------------------------
    @abstractmethod
    def check_address(self, address: str, network: str | None = None) -> str:
        """``address`` in its canonical form if it is a valid address of this chain (checksum,
        bech32/bech32m, base58 length), else :class:`InvalidParameterError` saying why; used to
        validate allow-list entries when a policy is set."""

    @abstractmethod
    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        """The vault's address for ``public_key`` of ``scheme``."""

    @abstractmethod
    def context(self, tx: object, network: str | None = None) -> TxContext:
        """The context of a transaction in the chain's native form (or an existing context of this chain)."""

    @abstractmethod
    def load(self, raw: bytes, network: str | None = None) -> TxContext:
        """The context of a transaction file's bytes (see ``file_format``)."""

    @abstractmethod
    def summary(self, ctx: TxContext) -> dict[str, Any]:
        """What the transaction does, for a human (and ``--json``)."""

    @abstractmethod
    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        """The messages a signer of this key signs for the transaction, in signing order; an error if
        the key cannot sign it."""

    @abstractmethod
    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        """The guardian's reading (:class:`Derived`); typed errors for a transaction it cannot read."""

    def derive_with_roots(self, ctx: TxContext, scheme: str, public_key: bytes, roots: Sequence[HdRoot]) -> Derived:
        """:meth:`derive` for the vault's key at a request's path, knowing the vault's HD root
        (``roots[0]``) and the owner's other vaults' (``roots[1:]``) — for a chain whose transactions
        name child keys themselves (Bitcoin's PSBT derivation fields); the others ignore them."""
        return self.derive(ctx, scheme, public_key)

    # --- child keys (the owner's side) ---------------------------------------------------------------
    def signing_paths(self, ctx: TxContext, root: HdRoot) -> tuple[str, ...]:
        """The paths of the vault's keys this transaction asks to be signed with, when it says so
        itself (a PSBT's derivation fields); ``("m",)`` — the vault's own key — otherwise."""
        return ("m",)

    def describe_keys(self, ctx: TxContext, root: HdRoot, paths: Sequence[str]) -> TxContext:
        """``ctx`` with what the chain's format records about the signing keys (a PSBT's derivation
        fields and Taproot internal keys); unchanged by default."""
        return ctx

    def attach_keys(
        self, ctx: TxContext, scheme: str, signatures: Sequence[tuple[bytes, Mapping[bytes, bytes]]]
    ) -> SignedTx:
        """:meth:`attach` for signatures by several keys of the vault (``(public key, hash →
        signature)`` each); one key only unless the chain signs one transaction with several."""
        if len(signatures) != 1:
            raise InvalidParameterError(f"a {self.name} transaction is signed by one key")
        public_key, sigs = signatures[0]
        return self.attach(ctx, scheme, public_key, sigs)

    @abstractmethod
    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        """Sign through ``signer`` (it is asked exactly for :meth:`hashes`) and attach the signatures."""

    @abstractmethod
    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        """The signed transaction as the CLI's ``sign-tx`` reports it (chain-specific keys)."""

    def file_text(self, signed: SignedTx) -> str:
        """What ``sign-tx --out`` writes: the broadcastable transaction as hex."""
        if signed.raw is None:
            raise InvalidParameterError("the transaction is not complete")
        return signed.raw.hex()

    def attach(self, ctx: TxContext, scheme: str, public_key: bytes, signatures: Mapping[bytes, bytes]) -> SignedTx:
        """Attach signatures gathered elsewhere (hash → signature, one per :meth:`hashes`)."""
        signer = _Presigned(scheme, public_key, signatures)
        signed = self.sign(ctx, signer)
        if signer.used != set(signatures):
            raise SignatureError("signatures were gathered for hashes the transaction does not need")
        return signed

    def _own(self, ctx: TxContext) -> Any:
        if not isinstance(ctx, self.context_type):
            raise TxContextError(f"a {ctx.chain or type(ctx).__name__} context given to the {self.name} adapter")
        return ctx


_MODULES = {name: f"gridlock.chains.adapters.{name}" for name in CHAINS}
_LOADED: dict[str, ChainAdapter] = {}


def get(chain: str) -> ChainAdapter:
    """The adapter of ``chain`` (``bitcoin``, ``ethereum``, ``solana``, ``cosmos``)."""
    adapter = _LOADED.get(chain) if isinstance(chain, str) else None
    if adapter is not None:
        return adapter
    if not isinstance(chain, str) or chain not in _MODULES:
        raise UnknownChainError(f"unknown chain {str(chain)[:40]!r}; one of: {', '.join(CHAINS)}")
    module = importlib.import_module(_MODULES[chain])
    adapter = module.ADAPTER
    assert isinstance(adapter, ChainAdapter) and adapter.name == chain
    _LOADED[chain] = adapter
    return adapter
