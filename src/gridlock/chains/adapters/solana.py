"""Solana: Ed25519 accounts of ``frost-ed25519`` vaults; legacy and v0 transactions, serialised.

The one message a transaction needs is its serialised message (``0x80``-prefixed for v0), signed
as is by Ed25519 (RFC 8032); a guardian counts the lamports the System Program instructions move
to accounts other than the vault's.
"""

from __future__ import annotations

import base64
from typing import Any

from solders.transaction import VersionedTransaction

from gridlock.chains import solana
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, decode_text, summary_dict
from gridlock.chains.context import SolanaTx, TxContext
from gridlock.chains.movement import Movement
from gridlock.chains.signer import Signer
from gridlock.errors import InvalidParameterError


class SolanaAdapter(ChainAdapter):
    name = "solana"
    schemes = ("frost-ed25519",)
    context_type = SolanaTx
    file_format = "expected a serialised Solana transaction (bytes, base64 or base58)"

    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        self.check_scheme(scheme)
        self.network(network)
        return Address(solana.address(public_key), "ed25519", None)

    def context(self, tx: object, network: str | None = None) -> SolanaTx:
        self.network(network)
        if isinstance(tx, TxContext):
            ctx: SolanaTx = self._own(tx)
            return ctx
        if not isinstance(tx, bytes | bytearray):
            raise InvalidParameterError("a solana transaction is its serialised bytes")
        return SolanaTx(bytes(tx))

    def load(self, raw: bytes, network: str | None = None) -> SolanaTx:
        return self.context(decode_text(raw, ("base64", "base58")), network)

    def summary(self, ctx: TxContext) -> dict[str, Any]:
        tx: SolanaTx = self._own(ctx)
        return summary_dict(solana.summarize(tx.tx))

    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        tx: SolanaTx = self._own(ctx)
        self.check_scheme(scheme)
        summary = solana.summarize(tx.tx)
        me = solana.address(public_key)
        if me not in summary.required_signers:
            raise solana.NotASignerError(f"{me} is not a required signer of this transaction")
        return (summary.signing_payload,)

    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        tx: SolanaTx = self._own(ctx)
        ss = solana.summarize(tx.tx)
        me = solana.address(public_key)
        outs = tuple(Movement.transfer(d or "?", amount) for d, amount in ss.recipients if d != me)
        return Derived(frozenset({ss.signing_payload}), outs)

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: SolanaTx = self._own(ctx)
        raw = solana.sign_transaction(tx.tx, signer)
        first = VersionedTransaction.from_bytes(raw).signatures[0]  # the fee payer's: the transaction id
        return SignedTx(self.name, raw, None if first == first.default() else str(first), 1)

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        return {"tx_base64": base64.b64encode(signed.raw).decode(), "tx_hex": signed.raw.hex()}


ADAPTER = SolanaAdapter()
