"""BIP-322 "simple" message signatures for P2WPKH and P2TR (key path) addresses.

A BIP-322 signature is the witness of a virtual transaction, ``to_sign``, that spends the one output
of another, ``to_spend``, whose output script is the address's and whose input commits to the
message (``OP_0 PUSH32 tagged_hash("BIP0322-signed-message", message)``).  ``to_spend``'s input
spends no real coin (a null outpoint), so neither transaction can ever be mined: the signature
proves control of the address and moves nothing.  Both transactions have version 0, locktime 0 and
sequence 0; ``to_sign`` pays 0 to ``OP_RETURN``.  The "simple" encoding is the base64 of the
consensus-encoded witness stack of ``to_sign``'s input.

``to_sign`` is built as a PSBT, so a vault signs it as any PSBT (BIP143 / BIP341 sighashes through
the guardians, who read it as a 0-satoshi payment), and the signature is its finalised witness.
"""

from __future__ import annotations

import base64

from gridlock.chains.bitcoin.address import script_kind
from gridlock.chains.bitcoin.errors import MalformedError
from gridlock.chains.bitcoin.psbt import Spend, create_psbt
from gridlock.chains.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut, serialize_witness
from gridlock.crypto.hashing import tagged_hash
from gridlock.errors import InvalidParameterError

__all__ = ["TAG", "message_hash", "simple_signature", "to_sign_psbt", "to_spend"]

TAG = "BIP0322-signed-message"
OP_RETURN = b"\x6a"
MAX_MESSAGE = 1 << 16


def message_hash(message: bytes) -> bytes:
    return tagged_hash(TAG, message)


def to_spend(script_pubkey: bytes, message: bytes) -> Transaction:
    """The virtual transaction whose output the signature spends."""
    if len(message) > MAX_MESSAGE:
        raise InvalidParameterError(f"a message to sign is at most {MAX_MESSAGE} bytes")
    if script_kind(script_pubkey) not in ("p2wpkh", "p2tr"):
        raise InvalidParameterError("BIP-322 simple signatures are made here for P2WPKH and P2TR addresses")
    commit = b"\x00\x20" + message_hash(message)  # OP_0 PUSH32 <message hash>
    null = OutPoint(b"\x00" * 32, 0xFFFFFFFF)
    return Transaction(0, (TxIn(null, commit, 0),), (TxOut(0, script_pubkey),), 0)


def to_sign_psbt(script_pubkey: bytes, message: bytes) -> str:
    """``to_sign`` as an unsigned base64 PSBT (UTXO data included) for the address's key to sign."""
    prev = to_spend(script_pubkey, message)
    spend = Spend(OutPoint(prev.txid(), 0), prev.outputs[0], sequence=0, prev_tx=prev)
    return create_psbt([spend], [TxOut(0, OP_RETURN)], version=0, locktime=0)


def simple_signature(signed_to_sign: bytes) -> str:
    """The "simple" signature: base64 of the witness of the finalised ``to_sign``'s input."""
    tx = Transaction.parse(signed_to_sign)
    if len(tx.inputs) != 1 or not tx.inputs[0].witness:
        raise MalformedError("a finalised to_sign transaction has one input with a witness")
    return base64.b64encode(serialize_witness(tx.inputs[0].witness)).decode()
