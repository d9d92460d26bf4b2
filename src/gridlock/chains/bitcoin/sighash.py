"""Signature hashes: BIP143 (segwit v0) and BIP341 key path (Taproot), every standard hash type.

Hand-written on purpose (about 100 lines, checked against the BIP143 example and every
keyPathSpending vector of BIP341): this is what a guardian re-derives before it signs
(SECURITY #19), so it should be code one can audit in one sitting, with no hidden state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gridlock.chains.bitcoin.errors import MalformedError
from gridlock.chains.bitcoin.tx import Transaction, TxOut, compact_size, sha256d, var_bytes
from gridlock.crypto.hashing import tagged_hash

SIGHASH_DEFAULT = 0x00
SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

SEGWIT_V0_HASH_TYPES = frozenset({0x01, 0x02, 0x03, 0x81, 0x82, 0x83})
TAPROOT_HASH_TYPES = SEGWIT_V0_HASH_TYPES | {SIGHASH_DEFAULT}

HASH_TYPE_NAMES = {
    0x00: "DEFAULT",
    0x01: "ALL",
    0x02: "NONE",
    0x03: "SINGLE",
    0x81: "ALL|ANYONECANPAY",
    0x82: "NONE|ANYONECANPAY",
    0x83: "SINGLE|ANYONECANPAY",
}


def _check(tx: Transaction, index: int, hash_type: int, allowed: frozenset[int]) -> None:
    if not 0 <= index < len(tx.inputs):
        raise MalformedError(f"no input {index} in a transaction with {len(tx.inputs)} inputs")
    if hash_type not in allowed:
        raise MalformedError(f"hash type {hash_type:#04x} is not a standard hash type here")
    if hash_type & 0x1F == SIGHASH_SINGLE and index >= len(tx.outputs):
        raise MalformedError(f"SIGHASH_SINGLE on input {index} has no matching output")


def p2wpkh_script_code(program: bytes) -> bytes:
    """BIP143's scriptCode for P2WPKH: ``OP_DUP OP_HASH160 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG``."""
    return b"\x76\xa9\x14" + program + b"\x88\xac"


def bip143_sighash(tx: Transaction, index: int, script_code: bytes, amount: int, hash_type: int) -> bytes:
    """BIP143 digest of input ``index`` spending ``amount`` satoshis under ``script_code``."""
    _check(tx, index, hash_type, SEGWIT_V0_HASH_TYPES)
    base, anyone = hash_type & 0x1F, bool(hash_type & SIGHASH_ANYONECANPAY)
    zero = bytes(32)
    hash_prevouts = zero if anyone else sha256d(b"".join(i.prevout.serialize() for i in tx.inputs))
    if anyone or base in (SIGHASH_NONE, SIGHASH_SINGLE):
        hash_sequence = zero
    else:
        hash_sequence = sha256d(b"".join(i.sequence.to_bytes(4, "little") for i in tx.inputs))
    if base not in (SIGHASH_NONE, SIGHASH_SINGLE):
        hash_outputs = sha256d(b"".join(o.serialize() for o in tx.outputs))
    elif base == SIGHASH_SINGLE:
        hash_outputs = sha256d(tx.outputs[index].serialize())
    else:
        hash_outputs = zero
    txin = tx.inputs[index]
    preimage = b"".join(
        [
            tx.version.to_bytes(4, "little"),
            hash_prevouts,
            hash_sequence,
            txin.prevout.serialize(),
            var_bytes(script_code),
            amount.to_bytes(8, "little"),
            txin.sequence.to_bytes(4, "little"),
            hash_outputs,
            tx.locktime.to_bytes(4, "little"),
            hash_type.to_bytes(4, "little"),
        ]
    )
    return sha256d(preimage)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bip341_sigmsg(
    tx: Transaction, index: int, spent: Sequence[TxOut], hash_type: int, annex: bytes | None = None
) -> bytes:
    """BIP341 ``SigMsg(hash_type, ext_flag=0)`` for a key-path spend of input ``index``.

    ``spent`` are the outputs spent by *all* inputs, in input order (Taproot commits to every one).
    """
    _check(tx, index, hash_type, TAPROOT_HASH_TYPES)
    if len(spent) != len(tx.inputs):
        raise MalformedError("Taproot signature hashes need the spent output of every input")
    base, anyone = hash_type & 0x03, bool(hash_type & SIGHASH_ANYONECANPAY)
    parts = [bytes([hash_type]), tx.version.to_bytes(4, "little"), tx.locktime.to_bytes(4, "little")]
    if not anyone:
        parts += [
            _sha256(b"".join(i.prevout.serialize() for i in tx.inputs)),
            _sha256(b"".join(o.amount.to_bytes(8, "little") for o in spent)),
            _sha256(b"".join(var_bytes(o.script_pubkey) for o in spent)),
            _sha256(b"".join(i.sequence.to_bytes(4, "little") for i in tx.inputs)),
        ]
    if base not in (SIGHASH_NONE, SIGHASH_SINGLE):
        parts.append(_sha256(b"".join(o.serialize() for o in tx.outputs)))
    parts.append(bytes([0 if annex is None else 1]))  # spend_type = 2*ext_flag + annex_present
    if anyone:
        txin = tx.inputs[index]
        parts += [txin.prevout.serialize(), spent[index].serialize(), txin.sequence.to_bytes(4, "little")]
    else:
        parts.append(index.to_bytes(4, "little"))
    if annex is not None:
        parts.append(_sha256(compact_size(len(annex)) + annex))
    if base == SIGHASH_SINGLE:
        parts.append(_sha256(tx.outputs[index].serialize()))
    return b"".join(parts)


def bip341_sighash(
    tx: Transaction, index: int, spent: Sequence[TxOut], hash_type: int, annex: bytes | None = None
) -> bytes:
    """``hash_TapSighash(0x00 ‖ SigMsg)``: the 32-byte message a key-path BIP340 signature signs."""
    return tagged_hash("TapSighash", b"\x00" + bip341_sigmsg(tx, index, spent, hash_type, annex))
