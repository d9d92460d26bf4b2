"""Ethereum (and EVM chains): externally owned accounts of ECDSA vaults; legacy EIP-155, EIP-2930
and EIP-1559 transactions as eth-account dicts (``chainId`` required: EIP-155 replay protection).

The one hash a transaction needs is keccak-256 of its unsigned encoding (EIP-2718 typed envelope
for types 1 and 2); a guardian counts the value sent to ``to`` and, for an ERC-20 ``transfer``
call, the tokens sent to its recipient (as ``token:recipient``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_utils.crypto import keccak

from gridlock.chains import ethereum
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, summary_dict
from gridlock.chains.context import EthereumTx, TxContext
from gridlock.chains.movement import Movement
from gridlock.chains.signer import Signer
from gridlock.errors import DecodeError, InvalidParameterError


class EthereumAdapter(ChainAdapter):
    name = "ethereum"
    schemes = ("ecdsa-secp256k1",)
    context_type = EthereumTx
    file_format = "expected a JSON object with eth-account field names and a chainId"

    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        self.check_scheme(scheme)
        self.network(network)
        return Address(ethereum.address(public_key), "eoa", None)

    def context(self, tx: object, network: str | None = None) -> EthereumTx:
        self.network(network)
        if isinstance(tx, TxContext):
            ctx: EthereumTx = self._own(tx)
            return ctx
        if isinstance(tx, str):
            return EthereumTx(tx)
        if isinstance(tx, Mapping):
            return EthereumTx.of(tx)
        raise InvalidParameterError("an ethereum transaction is a dict of eth-account fields (or its JSON)")

    def load(self, raw: bytes, network: str | None = None) -> EthereumTx:
        try:
            tx = json.loads(raw)
        except ValueError as exc:
            raise DecodeError(f"not JSON ({exc})") from None
        if not isinstance(tx, dict):
            raise DecodeError("the JSON must be an object")
        return self.context(tx, network)

    def summary(self, ctx: TxContext) -> dict[str, Any]:
        tx: EthereumTx = self._own(ctx)
        return summary_dict(ethereum.summarize(tx.tx))

    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        tx: EthereumTx = self._own(ctx)
        self.check_scheme(scheme)
        return (ethereum.signing_hash(tx.tx),)

    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        tx: EthereumTx = self._own(ctx)
        s = ethereum.summarize(tx.tx)
        outs = [Movement.transfer(d, amount) for d, amount in s.recipients]
        if s.token_transfer is not None:
            t = s.token_transfer
            outs.append(Movement.transfer(t.recipient, t.amount, t.token))
        return Derived(frozenset({s.signing_hash}), tuple(outs))

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: EthereumTx = self._own(ctx)
        raw = ethereum.sign_transaction(tx.tx, signer)
        return SignedTx(self.name, raw, "0x" + bytes(keccak(raw)).hex(), 1)

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        return {"tx_hex": "0x" + signed.raw.hex(), "tx_hash": signed.txid}

    def file_text(self, signed: SignedTx) -> str:
        return str(self.result_fields(signed)["tx_hex"])


ADAPTER = EthereumAdapter()
