"""Solana: Ed25519 accounts of ``frost-ed25519`` vaults; legacy and v0 transactions, serialised.

The one message a transaction needs is its serialised message (``0x80``-prefixed for v0), signed
as is by Ed25519 (RFC 8032); a guardian reads every instruction as what it moves
(:mod:`gridlock.chains.solana_reading`: System Program and SPL Token transfers, approvals and
authority changes, the fee; any other program is a call to it).
"""

from __future__ import annotations

import base64
from typing import Any

import base58
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from gridlock.chains import solana, solana_reading
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, decode_text, summary_dict
from gridlock.chains.context import SolanaTx, TxContext
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
        self.check_scheme(scheme)
        ss = solana.summarize(tx.tx)
        me = solana.address(public_key)
        if me not in ss.required_signers:
            raise solana.NotASignerError(f"{me} is not a required signer of this transaction")
        movements = solana_reading.read(solana.message_of(tx.tx), Pubkey.from_string(me))
        return Derived(frozenset({ss.signing_payload}), movements)

    def check_address(self, address: str, network: str | None = None) -> str:
        """Base58 of exactly 32 bytes, in its one canonical spelling.  Any 32 bytes: token accounts
        and other program-derived addresses are off the Ed25519 curve by design."""
        if not isinstance(address, str) or not 32 <= len(address) <= 44 or not address.isascii():
            raise InvalidParameterError("a solana address is 32-44 base58 characters")
        try:
            raw = base58.b58decode(address)
        except ValueError:
            raise InvalidParameterError("a solana address is base58 text") from None
        if len(raw) != 32:
            raise InvalidParameterError(f"a solana address is 32 bytes, this one is {len(raw)}")
        if base58.b58encode(raw).decode() != address:
            raise InvalidParameterError("not the canonical base58 spelling of the address")
        return address

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: SolanaTx = self._own(ctx)
        raw = solana.sign_transaction(tx.tx, signer)
        first = VersionedTransaction.from_bytes(raw).signatures[0]  # the fee payer's: the transaction id
        return SignedTx(self.name, raw, None if first == first.default() else str(first), 1)

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        return {"tx_base64": base64.b64encode(signed.raw).decode(), "tx_hex": signed.raw.hex()}

    def file_text(self, signed: SignedTx) -> str:
        """Base64, as :meth:`load` reads it back (and as the ``sendTransaction`` RPC takes it with
        ``encoding: base64``): a transaction with several signers goes from one to the next."""
        assert signed.raw is not None
        return base64.b64encode(signed.raw).decode()


ADAPTER = SolanaAdapter()
