"""Cosmos SDK chains (Secret Network by default): secp256k1 accounts of ECDSA vaults; transactions
as SIGN_MODE_DIRECT ``SignDoc`` bytes (cosmos-sdk ADR-020), signed over SHA-256 of the SignDoc.

A guardian counts every coin the recognised messages (bank sends, contract executions with funds)
move, per recipient.  A SignDoc with several signers is signed with ``cosmos.sign_direct`` by
each signer and joined with ``cosmos.tx_raw``; :meth:`CosmosAdapter.sign` handles the single-signer
transaction the SDK builds.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from gridlock.chains import cosmos
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, decode_text, summary_dict
from gridlock.chains.context import CosmosTx, TxContext, valid_bech32_prefix
from gridlock.chains.movement import Movement
from gridlock.chains.signer import Signer
from gridlock.errors import InvalidParameterError

DEFAULT_PREFIX = "secret"  # Secret Network, where the enclave guardian lives


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
        cs = cosmos.summarize(tx.sign_doc, tx.prefix)
        outs = tuple(Movement.transfer(r, c.amount, c.denom) for r, coins in cs.recipients for c in coins)
        return Derived(frozenset({cs.signing_hash}), outs)

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: CosmosTx = self._own(ctx)
        raw = cosmos.sign_transaction(tx.sign_doc, signer)
        return SignedTx(self.name, raw, hashlib.sha256(raw).hexdigest().upper(), 1)  # the Tendermint tx hash

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        return {"tx_base64": base64.b64encode(signed.raw).decode(), "tx_hex": signed.raw.hex()}


ADAPTER = CosmosAdapter()
