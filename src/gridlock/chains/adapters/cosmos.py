"""Cosmos SDK chains (Secret Network by default): secp256k1 accounts of ECDSA vaults; transactions
as SIGN_MODE_DIRECT ``SignDoc`` bytes (cosmos-sdk ADR-020), signed over SHA-256 of the SignDoc.

A guardian reads every message as what it moves (:mod:`gridlock.chains.cosmos_reading`: bank and
IBC transfers, contract calls and their funds, authz and feegrant grants, the fee; any other message
is a call to its type URL).  A SignDoc with several signers is signed with ``cosmos.sign_direct`` by
each signer and joined with ``cosmos.tx_raw``; :meth:`CosmosAdapter.sign` handles the single-signer
transaction the SDK builds.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from bech32m.codecs import Encoding, bech32_decode, convertbits  # type: ignore[import-untyped,unused-ignore]

from gridlock.chains import cosmos, cosmos_reading
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, decode_text, summary_dict
from gridlock.chains.context import CosmosTx, TxContext, valid_bech32_prefix
from gridlock.chains.signer import Signer
from gridlock.errors import InvalidParameterError

DEFAULT_PREFIX = "secret"  # Secret Network, where the enclave guardian lives
_IBC_IDENTIFIER = re.compile(r"[A-Za-z0-9.\-_+#\[\]<>]{2,128}")  # ICS-024 port and channel identifiers


def _bech32_account(address: str, prefix: str | None) -> str:
    try:
        hrp, words, spec = bech32_decode(address)
        data = convertbits(words, 5, 8, False)
    except ValueError:  # bech32m.DecodeError
        raise InvalidParameterError(
            "not a bech32 address (characters, separator, checksum, case, length or padding: BIP173)"
        ) from None
    if spec != Encoding.BECH32:
        raise InvalidParameterError("a cosmos address is bech32, not bech32m")
    if prefix is not None and hrp != prefix:
        raise InvalidParameterError(f"an address with prefix {hrp!r}, not {prefix!r}")
    if len(data) not in (20, 32):
        raise InvalidParameterError("a cosmos address holds 20 bytes (an account) or 32 (a contract or module)")
    return address.lower()


def _ibc_destination(address: str) -> str:
    parts = address.split("/")
    if len(parts) not in (2, 3) or not all(_IBC_IDENTIFIER.fullmatch(p) for p in parts[:2]):
        raise InvalidParameterError("an IBC destination is <port>/<channel>[/<receiver>] (ICS-024 identifiers)")
    if len(parts) == 3:
        parts[2] = _bech32_account(parts[2], None)
    return "/".join(parts)


class CosmosAdapter(ChainAdapter):
    name = "cosmos"
    schemes = ("ecdsa-secp256k1",)
    context_type = CosmosTx
    file_format = "expected a SIGN_MODE_DIRECT SignDoc (protobuf bytes, hex or base64)"

    def network(self, network: str | None) -> str:
        prefix = network or DEFAULT_PREFIX
        if not valid_bech32_prefix(prefix):
            raise InvalidParameterError(f"bad cosmos prefix {prefix!r}: a bech32 prefix is 1-83 lowercase characters")
        return prefix

    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        self.check_scheme(scheme)
        prefix = self.network(network)
        try:
            addr = cosmos.address(public_key, prefix=prefix)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"bad cosmos prefix {prefix!r}: {exc}") from None
        return Address(addr, "secp256k1", prefix)

    def context(self, tx: object, network: str | None = None) -> CosmosTx:
        if isinstance(tx, TxContext):
            ctx: CosmosTx = self._own(tx)
            return ctx
        if not isinstance(tx, bytes | bytearray):
            raise InvalidParameterError("a cosmos transaction is its SignDoc bytes")
        return CosmosTx(bytes(tx), self.network(network))

    def load(self, raw: bytes, network: str | None = None) -> CosmosTx:
        return self.context(decode_text(raw, ("hex", "base64")), network)

    def summary(self, ctx: TxContext) -> dict[str, Any]:
        tx: CosmosTx = self._own(ctx)
        return summary_dict(cosmos.summarize(tx.sign_doc, prefix=tx.prefix))

    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        tx: CosmosTx = self._own(ctx)
        self.check_scheme(scheme)
        summary = cosmos.summarize(tx.sign_doc, prefix=tx.prefix)
        cosmos.signer_slot(summary, public_key)
        return (summary.signing_hash,)

    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        tx: CosmosTx = self._own(ctx)
        self.check_scheme(scheme)
        summary = cosmos.summarize(tx.sign_doc, tx.prefix)
        cosmos.signer_slot(summary, public_key)
        return Derived(frozenset({summary.signing_hash}), cosmos_reading.read(tx.sign_doc, tx.prefix))

    def check_address(self, address: str, network: str | None = None) -> str:
        """A bech32 (BIP173, not bech32m) account or contract address — 20 or 32 bytes — with the
        prefix ``network`` (any prefix when it is ``None``), in lower case.

        Also the IBC destinations of :mod:`gridlock.chains.cosmos_reading`:
        ``<port>/<channel>/<receiver>`` (the receiver a bech32 address of any prefix: it lives on the
        other chain) and ``<port>/<channel>`` (what a transfer with a memo also calls)."""
        if not isinstance(address, str) or not address.isascii() or not 0 < len(address) <= 256:
            raise InvalidParameterError("a cosmos address is 1-256 ASCII characters")
        if "/" in address:
            return _ibc_destination(address)
        prefix = None if network is None else self.network(network)
        return _bech32_account(address, prefix)

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: CosmosTx = self._own(ctx)
        raw = cosmos.sign_transaction(tx.sign_doc, signer)
        return SignedTx(self.name, raw, hashlib.sha256(raw).hexdigest().upper(), 1)  # the Tendermint tx hash

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        return {"tx_base64": base64.b64encode(signed.raw).decode(), "tx_hex": signed.raw.hex()}


ADAPTER = CosmosAdapter()
