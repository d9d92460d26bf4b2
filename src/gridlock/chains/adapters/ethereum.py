"""Ethereum (and EVM chains): externally owned accounts of ECDSA vaults; legacy EIP-155, EIP-2930
and EIP-1559 transactions as eth-account dicts (``chainId`` required: EIP-155 replay protection),
EIP-191 ``personal_sign`` messages and EIP-712 typed data.

Each form needs one hash: keccak-256 of the unsigned transaction (EIP-2718 typed envelope for types
1 and 2), the EIP-191 version-0x45 digest of a message, the EIP-712 digest of typed data.  A
guardian's reading of each is complete (:mod:`gridlock.chains.movement`): a transaction is a call
or transfer to ``to``, what its calldata moves (:mod:`gridlock.chains.ethereum_calldata`) and its
maximum fee; typed data is a call to its verifying contract and what a permit lets a spender take
(:mod:`gridlock.chains.ethereum_typed`); a personal message moves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from gridlock.chains import ethereum
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx, summary_dict
from gridlock.chains.context import (
    EthereumMessage,
    EthereumTx,
    EthereumTypedData,
    TxContext,
    TxContextError,
    load_json,
)
from gridlock.chains.signer import Signer
from gridlock.errors import DecodeError, InvalidParameterError

EthereumContext = EthereumTx | EthereumMessage | EthereumTypedData
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _readable(message: bytes) -> bool:
    """Printable UTF-8 text (a sign-in message, a terms text), not bytes nobody can read."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def _typed_fields(text: str) -> dict[str, Any]:
    """The eth-account fields of a raw typed transaction in hex, its signature left out."""
    from eth_account.typed_transactions.typed_transaction import TypedTransaction  # noqa: PLC0415
    from hexbytes import HexBytes  # noqa: PLC0415

    try:
        raw = bytes.fromhex(text.removeprefix("0x").removeprefix("0X"))
    except ValueError:
        raise DecodeError("a raw transaction is 0x and hex digits") from None
    if not raw or raw[0] not in (1, 2):
        raise DecodeError("a raw transaction here is EIP-2930 (0x01) or EIP-1559 (0x02); give others as JSON")
    try:
        fields = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
    except Exception as exc:  # eth-account raises rlp, TypeError and ValueError alike
        raise DecodeError(f"not a typed transaction: {str(exc)[:80]}") from None
    for name in ("v", "r", "s", "yParity"):
        fields.pop(name, None)
    if fields.get("to"):
        fields["to"] = str(to_checksum_address(bytes(fields["to"])))
    else:
        fields.pop("to", None)
    fields["data"] = "0x" + bytes(fields.get("data", b"")).hex()
    fields["accessList"] = [
        {
            "address": str(to_checksum_address(e["address"])),
            "storageKeys": ["0x" + bytes(k).hex() for k in e["storageKeys"]],
        }
        for e in fields.get("accessList", ())
    ]
    return fields


def _check_recipient(to: object) -> None:
    """A file's ``to`` must carry its EIP-55 checksum: all one case carries none, and a mixed-case
    address that fails it is probably mistyped; either way the error shows the checksummed form (to
    compare with the intended recipient, not to copy blindly)."""
    if not isinstance(to, str) or not _HEX_ADDRESS.fullmatch(to):
        return  # eth-account names what is wrong with it
    checksummed = str(to_checksum_address(to))
    if to == checksummed:
        return
    digits = to[2:]
    why = (
        "has no EIP-55 checksum (all one case)"
        if digits in (digits.lower(), digits.upper())
        else ("fails its EIP-55 checksum (mistyped?)")
    )
    raise InvalidParameterError(
        f"the recipient 'to' {to} {why}; its EIP-55 checksummed form is {checksummed} — check it is the "
        "address you meant (`gridlock tx build` writes it so)"
    )


class EthereumAdapter(ChainAdapter):
    name = "ethereum"
    schemes = ("ecdsa-secp256k1",)
    context_type = EthereumTx  # the transaction; EthereumMessage and EthereumTypedData are read too
    file_format = (
        "expected a JSON object with eth-account field names and a chainId, or a raw EIP-1559 transaction in hex"
    )

    def _read(self, ctx: TxContext) -> EthereumContext:
        if not isinstance(ctx, EthereumTx | EthereumMessage | EthereumTypedData):
            raise TxContextError(f"a {ctx.chain or type(ctx).__name__} context given to the {self.name} adapter")
        return ctx

    def check_address(self, address: str, network: str | None = None) -> str:
        """``0x`` and 40 hex digits; mixed case must be the EIP-55 checksum (all-lower and all-upper
        carry none); returns the checksummed form."""
        self.network(network)
        if not isinstance(address, str) or not _HEX_ADDRESS.fullmatch(address):
            raise InvalidParameterError("an Ethereum address is 0x and 40 hex digits")
        checksummed = str(to_checksum_address(address))
        digits = address[2:]
        if digits not in (digits.lower(), digits.upper()) and address != checksummed:
            raise InvalidParameterError(f"{address} fails its EIP-55 checksum")
        return checksummed

    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        self.check_scheme(scheme)
        self.network(network)
        return Address(ethereum.address(public_key), "eoa", None)

    def context(self, tx: object, network: str | None = None) -> EthereumContext:
        """A transaction dict (or its JSON), or any Ethereum context (a message or typed data is built
        with :meth:`EthereumMessage.of` / :meth:`EthereumTypedData.of`)."""
        self.network(network)
        if isinstance(tx, TxContext):
            return self._read(tx)
        if isinstance(tx, str):
            return EthereumTx(tx)
        if isinstance(tx, Mapping):
            return EthereumTx.of(tx)
        raise InvalidParameterError("an ethereum transaction is a dict of eth-account fields (or its JSON)")

    def load(self, raw: bytes, network: str | None = None) -> EthereumTx:
        """The JSON transaction, or a raw EIP-2718 typed transaction (EIP-2930 or EIP-1559, ``0x``
        hex) — what ``sign-tx --out`` writes — whose signature, if any, is dropped: one format in
        and out."""
        self.network(network)
        text = raw.strip()
        if text[:3].lower() in (b"0x1", b"0x2") or text[:4].lower() in (b"0x01", b"0x02"):
            return EthereumTx.of(_typed_fields(text.decode("ascii", "replace")))
        tx = load_json(raw)
        if not isinstance(tx, dict):
            raise DecodeError("the JSON must be an object")
        _check_recipient(tx.get("to"))
        return EthereumTx.of(tx)

    def summary(self, ctx: TxContext) -> dict[str, Any]:
        c = self._read(ctx)
        if isinstance(c, EthereumMessage):
            return summary_dict(ethereum.summarize_message(c.message))
        if isinstance(c, EthereumTypedData):
            return summary_dict(ethereum.summarize_typed_data(c.data))
        return summary_dict(ethereum.summarize(c.tx))

    def _digest(self, c: EthereumContext) -> bytes:
        if isinstance(c, EthereumMessage):
            return ethereum.message_hash(c.message)
        if isinstance(c, EthereumTypedData):
            return ethereum.typed_data_hash(c.data)
        return ethereum.signing_hash(c.tx)

    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        c = self._read(ctx)
        self.check_scheme(scheme)
        return (self._digest(c),)

    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        c = self._read(ctx)
        s: ethereum.MessageSummary | ethereum.TypedDataSummary | ethereum.TransactionSummary
        if isinstance(c, EthereumMessage):
            s = ethereum.summarize_message(c.message)
            # a message that is not text (a 32-byte hash, say) is what contracts check as an owner's
            # signature (EIP-1271 wallets, toEthSignedMessageHash): blind signing, whatever it says
            return Derived(frozenset({s.signing_hash}), s.movements, blind=not _readable(c.message))
        elif isinstance(c, EthereumTypedData):
            s = ethereum.summarize_typed_data(c.data)
        else:
            s = ethereum.summarize(c.tx)
        return Derived(frozenset({s.signing_hash}), s.movements)

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        """A transaction: the raw signed transaction and its hash.  A message or typed data: ``raw`` is
        the 65-byte ``r‖s‖v`` signature (v = 27 or 28) and there is no ``txid``."""
        c = self._read(ctx)
        if isinstance(c, EthereumMessage):
            return SignedTx(self.name, ethereum.sign_message(c.message, signer), None, 1)
        if isinstance(c, EthereumTypedData):
            return SignedTx(self.name, ethereum.sign_typed_data(c.data, signer), None, 1)
        raw = ethereum.sign_transaction(c.tx, signer)
        return SignedTx(self.name, raw, "0x" + bytes(keccak(raw)).hex(), 1)

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        assert signed.raw is not None
        if signed.txid is None:
            return {"signature": "0x" + signed.raw.hex()}
        return {"tx_hex": "0x" + signed.raw.hex(), "tx_hash": signed.txid}

    def file_text(self, signed: SignedTx) -> str:
        fields = self.result_fields(signed)
        return str(fields.get("tx_hex", fields.get("signature")))


ADAPTER = EthereumAdapter()
