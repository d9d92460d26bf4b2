"""Typed errors of the Bitcoin chain code; all are :class:`gridlock.errors.GridlockError`.

Messages name the input or field that is wrong, never key material.  The errors a guardian's
reading of a PSBT can raise (bad bytes, missing or contradicting UTXO data, an input that is not
the vault's, a refused hash type, outputs above the inputs) are also :class:`DecodeError` or
:class:`InvalidParameterError`, which a guardian answers with a refusal (``bad-request``), not a
failure.
"""

from __future__ import annotations

from gridlock.chains.adapter import ForeignSpendError
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError


class ChainError(GridlockError):
    """Base class of every error the Bitcoin chain code raises."""


class MalformedError(ChainError, DecodeError):
    """Bytes (base64, PSBT, transaction, witness, address) that do not decode to a valid value."""


class AddressError(ChainError, InvalidParameterError):
    """A bad public key, address kind, network name or address string."""


class InputError(ChainError):
    """Something is wrong with one transaction input; ``index`` names it."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"input {index}: {reason}")


class MissingUtxoError(InputError, InvalidParameterError):
    """The PSBT does not carry the output an input spends (neither witness nor non-witness UTXO)."""


class UtxoMismatchError(InputError, InvalidParameterError):
    """The UTXO data of an input contradicts itself: ``non_witness_utxo`` is not the transaction
    the input spends, or its output disagrees with ``witness_utxo`` (amount or script)."""


class ForeignInputError(InputError, ForeignSpendError):
    """The signer's key does not control this input (its UTXO script is not the key's script)."""


class SighashTypeError(InputError, InvalidParameterError):
    """A hash type this signer refuses: non-standard, or SIGHASH_SINGLE without a matching output."""


class OverspendError(ChainError, InvalidParameterError):
    """The outputs pay more than the inputs spend."""


class FinalizeError(InputError):
    """An input cannot be finalised: unsigned, an invalid signature, or a script we do not handle."""


class UnsupportedSignerError(ChainError, InvalidParameterError):
    """A signer whose scheme has no Bitcoin spend here (only ecdsa-secp256k1 and frost-taproot)."""
