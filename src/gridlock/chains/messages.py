"""Message signatures a wallet user expects, chain by chain (``gridlock sign-message``).

* Ethereum: EIP-191 ``personal_sign`` text and EIP-712 typed data (``eth_signTypedData_v4``), signed
  through the adapter's :class:`~gridlock.chains.context.EthereumMessage` /
  :class:`~gridlock.chains.context.EthereumTypedData` contexts, so every guardian reads the message
  (a permit is an approval); 65-byte ``r‖s‖v``, v = 27 + the recovery id, as ``ecrecover`` takes it.
* Solana: an off-chain message (:mod:`gridlock.chains.solana_offchain`), signed as a raw message:
  a guardian whose owner set a chain rule refuses raw signing, by design.
* Bitcoin: a BIP-322 simple signature (:mod:`gridlock.chains.bitcoin.bip322`) for the key's P2WPKH or
  P2TR address; its virtual ``to_sign`` transaction is signed as a PSBT (the guardians read a
  0-satoshi payment to ``OP_RETURN``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridlock.chains.adapter import SignedTx
from gridlock.chains.context import TxContext
from gridlock.errors import InvalidParameterError

__all__ = ["CHAINS", "MessageRequest", "prepare", "result"]

CHAINS = ("ethereum", "solana", "bitcoin")
MAX_MESSAGE = 1 << 16


@dataclass(frozen=True)
class MessageRequest:
    """What is signed: through a transaction context (``context``) or as raw bytes (``raw``)."""

    chain: str
    kind: str  # what a person is told it is
    format: str  # eip191, eip712, solana-offchain-v0, bip322-simple
    lines: tuple[str, ...]
    context: TxContext | None = None
    raw: bytes | None = None
    review: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.context is None) == (self.raw is None):
            raise InvalidParameterError("a message is signed through a context or as raw bytes")


def prepare(
    chain: str,
    text: str | None,
    typed_data: Mapping[str, Any] | None,
    scheme: str,
    public_key: bytes,
    network: str | None,
) -> MessageRequest:
    """The request for ``text`` (or EIP-712 ``typed_data``) signed by ``public_key`` of ``scheme``."""
    if chain not in CHAINS:
        raise InvalidParameterError(f"messages are signed on {', '.join(CHAINS)}, not {chain!r}")
    if (text is None) == (typed_data is None):
        raise InvalidParameterError("give a text message or EIP-712 typed data")
    if typed_data is not None:
        if chain != "ethereum":
            raise InvalidParameterError("typed data is EIP-712, an Ethereum format")
        return _typed(typed_data, scheme, public_key)
    assert text is not None
    message = text.encode()
    if not message or len(message) > MAX_MESSAGE:
        raise InvalidParameterError(f"a message is 1 to {MAX_MESSAGE} bytes")
    shown = (f"message: {text!r}",)
    if chain == "ethereum":
        from gridlock.chains.context import EthereumMessage  # noqa: PLC0415

        return MessageRequest(chain, "personal message (EIP-191)", "eip191", shown, context=EthereumMessage.of(message))
    if chain == "solana":
        from gridlock.chains import solana_offchain  # noqa: PLC0415

        raw = solana_offchain.serialize(message)
        return MessageRequest(chain, "Solana off-chain message", "solana-offchain-v0", shown, raw=raw)
    from gridlock.chains import get  # noqa: PLC0415
    from gridlock.chains.bitcoin import bip322, keys  # noqa: PLC0415
    from gridlock.chains.context import BitcoinTx  # noqa: PLC0415

    net = str(get("bitcoin").network(network))
    psbt = bip322.to_sign_psbt(keys.script_of(scheme, public_key), message)
    return MessageRequest(chain, "BIP-322 message", "bip322-simple", shown, context=BitcoinTx(psbt, net))


def _typed(typed_data: Mapping[str, Any], scheme: str, public_key: bytes) -> MessageRequest:
    from gridlock.chains import get, review  # noqa: PLC0415
    from gridlock.chains.context import EthereumTypedData  # noqa: PLC0415

    adapter = get("ethereum")
    ctx = EthereumTypedData.of(typed_data)
    read = adapter.summary(ctx)
    lines = (f"primary type {read['primary_type']}, domain {read['domain']}", f"message {read['message']}")
    rev = review.review(adapter, ctx, scheme, public_key)
    return MessageRequest("ethereum", "typed-data message (EIP-712)", "eip712", lines, context=ctx, review=rev)


def result(req: MessageRequest, signed: SignedTx | None = None, signature: bytes | None = None) -> dict[str, Any]:
    """The signature as the chain's wallets write it (and its parts)."""
    if req.chain == "ethereum":
        assert signed is not None and signed.raw is not None
        sig = signed.raw
        return {
            "signature": "0x" + sig.hex(),
            "r": "0x" + sig[:32].hex(),
            "s": "0x" + sig[32:64].hex(),
            "v": sig[64],
            "recovery_id": sig[64] - 27,
        }
    if req.chain == "solana":
        import base58  # noqa: PLC0415

        assert signature is not None and req.raw is not None
        return {
            "signature": base58.b58encode(signature).decode(),
            "signature_hex": signature.hex(),
            "signed_bytes": req.raw.hex(),
        }
    from gridlock.chains.bitcoin import bip322  # noqa: PLC0415

    assert signed is not None
    if signed.raw is None:
        raise InvalidParameterError(f"the BIP-322 transaction is not complete: {signed.finalize_error}")
    return {"signature": bip322.simple_signature(signed.raw)}
