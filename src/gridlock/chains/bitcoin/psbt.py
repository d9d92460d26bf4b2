"""PSBT version 0 (BIP174) with the Taproot fields of BIP371: a strict codec that keeps every field.

Each map is kept as ordered ``key → value`` bytes, so a PSBT we merely pass through serialises
back byte for byte (unknown, proprietary and MuSig2 fields included); the fields we read or
check are validated when parsed, with the rules Bitcoin Core applies (key lengths, value sizes,
duplicate keys, preimages matching their hashes, a complete Taproot tree, no PSBTv2-only fields,
no trailing bytes).  Every failure is a :class:`MalformedError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coincurve import PublicKey

from gridlock.chains.bitcoin.errors import MalformedError
from gridlock.chains.bitcoin.tx import (
    OutPoint,
    Reader,
    Transaction,
    TxIn,
    TxOut,
    parse_witness,
    serialize_witness,
    sha256d,
    var_bytes,
)
from gridlock.crypto.hashing import hash160, ripemd160

MAGIC = b"psbt\xff"
MAX_PSBT_SIZE = 16 * 1024 * 1024  # decoded bytes; far above any standard transaction's PSBT

GLOBAL_UNSIGNED_TX = 0x00
GLOBAL_XPUB = 0x01
GLOBAL_VERSION = 0xFB
PROPRIETARY = 0xFC
GLOBAL_V2_ONLY = frozenset({0x02, 0x03, 0x04, 0x05, 0x06})

IN_NON_WITNESS_UTXO = 0x00
IN_WITNESS_UTXO = 0x01
IN_PARTIAL_SIG = 0x02
IN_SIGHASH_TYPE = 0x03
IN_REDEEM_SCRIPT = 0x04
IN_WITNESS_SCRIPT = 0x05
IN_BIP32_DERIVATION = 0x06
IN_FINAL_SCRIPTSIG = 0x07
IN_FINAL_SCRIPTWITNESS = 0x08
IN_RIPEMD160, IN_SHA256, IN_HASH160, IN_HASH256 = 0x09, 0x0A, 0x0B, 0x0C
IN_V2_ONLY = frozenset({0x0E, 0x0F, 0x10, 0x11, 0x12})
IN_TAP_KEY_SIG = 0x13
IN_TAP_SCRIPT_SIG = 0x14
IN_TAP_LEAF_SCRIPT = 0x15
IN_TAP_BIP32_DERIVATION = 0x16
IN_TAP_INTERNAL_KEY = 0x17
IN_TAP_MERKLE_ROOT = 0x18

OUT_REDEEM_SCRIPT = 0x00
OUT_WITNESS_SCRIPT = 0x01
OUT_BIP32_DERIVATION = 0x02
OUT_V2_ONLY = frozenset({0x03, 0x04})
OUT_TAP_INTERNAL_KEY = 0x05
OUT_TAP_TREE = 0x06
OUT_TAP_BIP32_DERIVATION = 0x07

KvMap = dict[bytes, bytes]


# --- field validation ----------------------------------------------------------------------------


def _fail(where: str, what: str) -> MalformedError:
    return MalformedError(f"PSBT {where}: {what}")


def _no_keydata(where: str, name: str, keydata: bytes) -> None:
    if keydata:
        raise _fail(where, f"{name} key must have no key data")


def _pubkey(where: str, name: str, keydata: bytes) -> None:
    if len(keydata) not in (33, 65):
        raise _fail(where, f"{name} key holds a public key of invalid length {len(keydata)}")
    try:
        PublicKey(keydata)
    except ValueError:
        raise _fail(where, f"{name} key holds an invalid public key") from None


def _size(where: str, name: str, data: bytes, *sizes: int) -> None:
    if len(data) not in sizes:
        raise _fail(where, f"{name} has invalid length {len(data)}")


def _keypath(where: str, name: str, value: bytes) -> None:
    if len(value) < 4 or len(value) % 4:
        raise _fail(where, f"{name} value is not a fingerprint and derivation path")


def _tap_keypath(where: str, name: str, value: bytes) -> None:
    r = Reader(value, f"PSBT {where}: {name}")
    for _ in range(r.count(32)):
        r.read(32)
    _keypath(where, name, value[r.pos :])


def _tap_tree(where: str, value: bytes) -> None:
    """BIP371 PSBT_OUT_TAP_TREE: (depth, leaf version, script)* in DFS order, forming a complete tree."""
    r = Reader(value, f"PSBT {where}: taproot tree")
    pending: list[int] = []  # depths of the subtrees still waiting for their right sibling
    while r.remaining():
        if pending == [0]:
            raise _fail(where, "taproot tree has leaves after the tree is complete")
        depth, leaf_version = r.u8(), r.u8()
        r.var_bytes()
        if depth > 128 or leaf_version & 1:
            raise _fail(where, "taproot tree has an invalid depth or leaf version")
        while pending and pending[-1] == depth and depth > 0:
            pending.pop()
            depth -= 1
        pending.append(depth)
    if pending != [0]:
        raise _fail(where, "taproot tree is empty or incomplete")


_PREIMAGE_HASHES: dict[int, tuple[int, Callable[[bytes], bytes]]] = {
    IN_RIPEMD160: (20, ripemd160),
    IN_SHA256: (32, lambda d: hashlib.sha256(d).digest()),
    IN_HASH160: (20, hash160),
    IN_HASH256: (32, sha256d),
}


def _check_global(w: str, kt: int, keydata: bytes, value: bytes) -> None:
    if kt == GLOBAL_UNSIGNED_TX:
        _no_keydata(w, "unsigned transaction", keydata)
    elif kt == GLOBAL_XPUB:
        _size(w, "xpub key", keydata, 78)
        _keypath(w, "xpub", value)
    elif kt == GLOBAL_VERSION:
        _no_keydata(w, "version", keydata)
        _size(w, "version", value, 4)
        version = int.from_bytes(value, "little")
        if version != 0:
            raise _fail(w, f"version {version} is not supported (only BIP174 version 0)")
    elif kt in GLOBAL_V2_ONLY:
        raise _fail(w, f"field {kt:#04x} belongs to PSBT version 2 only")


def _check_input(where: str, kt: int, keydata: bytes, value: bytes) -> None:
    if kt == IN_NON_WITNESS_UTXO:
        _no_keydata(where, "non-witness UTXO", keydata)
        Transaction.parse(value, what=f"PSBT {where}: non-witness UTXO")
    elif kt == IN_WITNESS_UTXO:
        _no_keydata(where, "witness UTXO", keydata)
        r = Reader(value, f"PSBT {where}: witness UTXO")
        TxOut.read(r)
        r.end()
    elif kt == IN_PARTIAL_SIG:
        _pubkey(where, "partial signature", keydata)
        if not value:
            raise _fail(where, "empty partial signature")
    elif kt == IN_SIGHASH_TYPE:
        _no_keydata(where, "sighash type", keydata)
        _size(where, "sighash type", value, 4)
    elif kt in (IN_REDEEM_SCRIPT, IN_WITNESS_SCRIPT, IN_FINAL_SCRIPTSIG):
        _no_keydata(where, "script", keydata)
    elif kt == IN_BIP32_DERIVATION:
        _pubkey(where, "BIP32 derivation", keydata)
        _keypath(where, "BIP32 derivation", value)
    elif kt == IN_FINAL_SCRIPTWITNESS:
        _no_keydata(where, "final script witness", keydata)
        parse_witness(value)
    elif kt in _PREIMAGE_HASHES:
        size, fn = _PREIMAGE_HASHES[kt]
        _size(where, "hash preimage key", keydata, size)
        if fn(value) != keydata:
            raise _fail(where, "hash preimage does not match its hash")
    elif kt in IN_V2_ONLY:
        raise _fail(where, f"field {kt:#04x} belongs to PSBT version 2 only")
    elif kt == IN_TAP_KEY_SIG:
        _no_keydata(where, "taproot key signature", keydata)
        _size(where, "taproot key signature", value, 64, 65)
    elif kt == IN_TAP_SCRIPT_SIG:
        _size(where, "taproot script signature key", keydata, 64)
        _size(where, "taproot script signature", value, 64, 65)
    elif kt == IN_TAP_LEAF_SCRIPT:
        if len(keydata) < 33 or (len(keydata) - 33) % 32 or len(keydata) > 33 + 32 * 128:
            raise _fail(where, "taproot control block has invalid length")
        if not value:
            raise _fail(where, "taproot leaf script lacks its leaf version")
    elif kt == IN_TAP_BIP32_DERIVATION:
        _size(where, "taproot BIP32 derivation key", keydata, 32)
        _tap_keypath(where, "taproot BIP32 derivation", value)
    elif kt in (IN_TAP_INTERNAL_KEY, IN_TAP_MERKLE_ROOT):
        _no_keydata(where, "taproot internal key / merkle root", keydata)
        _size(where, "taproot internal key / merkle root", value, 32)


def _check_output(where: str, kt: int, keydata: bytes, value: bytes) -> None:
    if kt in (OUT_REDEEM_SCRIPT, OUT_WITNESS_SCRIPT):
        _no_keydata(where, "script", keydata)
    elif kt == OUT_BIP32_DERIVATION:
        _pubkey(where, "BIP32 derivation", keydata)
        _keypath(where, "BIP32 derivation", value)
    elif kt in OUT_V2_ONLY:
        raise _fail(where, f"field {kt:#04x} belongs to PSBT version 2 only")
    elif kt == OUT_TAP_INTERNAL_KEY:
        _no_keydata(where, "taproot internal key", keydata)
        _size(where, "taproot internal key", value, 32)
    elif kt == OUT_TAP_TREE:
        _no_keydata(where, "taproot tree", keydata)
        _tap_tree(where, value)
    elif kt == OUT_TAP_BIP32_DERIVATION:
        _size(where, "taproot BIP32 derivation key", keydata, 32)
        _tap_keypath(where, "taproot BIP32 derivation", value)


def _split_key(key: bytes, where: str) -> tuple[int, bytes]:
    r = Reader(key, f"PSBT {where}: key type")
    kt = r.compact()
    return kt, key[r.pos :]


def _read_map(r: Reader, where: str, check: Callable[[str, int, bytes, bytes], None]) -> KvMap:
    kv: KvMap = {}
    while True:
        key = r.var_bytes()
        if not key:
            return kv
        value = r.var_bytes()
        if key in kv:
            raise _fail(where, f"duplicate key (type {key[0]:#04x})")
        kt, keydata = _split_key(key, where)
        check(where, kt, keydata, value)
        kv[key] = value


def _write_map(kv: KvMap) -> bytes:
    return b"".join(var_bytes(k) + var_bytes(v) for k, v in kv.items()) + b"\x00"


# --- the PSBT ------------------------------------------------------------------------------------


@dataclass
class Psbt:
    """A parsed version-0 PSBT: the unsigned transaction and the raw global, input and output maps."""

    tx: Transaction
    global_map: KvMap = field(default_factory=dict)
    inputs: list[KvMap] = field(default_factory=list)
    outputs: list[KvMap] = field(default_factory=list)

    # -- codec --
    @classmethod
    def parse(cls, data: bytes) -> Psbt:
        if not isinstance(data, bytes | bytearray):
            raise MalformedError("a PSBT is bytes or base64 text")
        if len(data) > MAX_PSBT_SIZE:
            raise MalformedError(f"PSBT larger than {MAX_PSBT_SIZE} bytes")
        r = Reader(bytes(data), "PSBT")
        if r.remaining() < len(MAGIC) or r.read(len(MAGIC)) != MAGIC:
            raise MalformedError("not a PSBT (bad magic bytes)")
        global_map = _read_map(r, "global map", _check_global)
        raw_tx = global_map.get(bytes([GLOBAL_UNSIGNED_TX]))
        if raw_tx is None:
            raise MalformedError("PSBT has no unsigned transaction")
        tx = Transaction.parse(raw_tx, allow_witness=False, what="PSBT unsigned transaction")
        if any(txin.script_sig for txin in tx.inputs):
            raise MalformedError("PSBT unsigned transaction has a non-empty scriptSig")
        inputs = [_read_map(r, f"input {i}", _check_input) for i in range(len(tx.inputs))]
        outputs = [_read_map(r, f"output {i}", _check_output) for i in range(len(tx.outputs))]
        r.end()
        return cls(tx, global_map, inputs, outputs)

    @classmethod
    def from_base64(cls, text: str | bytes) -> Psbt:
        """From base64 text (the usual form); raw bytes that start with the PSBT magic are taken as is."""
        if isinstance(text, bytes | bytearray) and bytes(text).startswith(MAGIC):
            return cls.parse(bytes(text))
        if not isinstance(text, str | bytes | bytearray):
            raise MalformedError("a PSBT is base64 text")
        if len(text) > MAX_PSBT_SIZE * 4 // 3 + 4:
            raise MalformedError(f"PSBT larger than {MAX_PSBT_SIZE} bytes")
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("PSBT is not valid base64") from None
        return cls.parse(raw)

    def serialize(self) -> bytes:
        parts = [MAGIC, _write_map(self.global_map)]
        parts += [_write_map(kv) for kv in self.inputs]
        parts += [_write_map(kv) for kv in self.outputs]
        return b"".join(parts)

    def to_base64(self) -> str:
        return base64.b64encode(self.serialize()).decode()

    @classmethod
    def create(cls, inputs: Sequence[TxIn], outputs: Sequence[TxOut], *, version: int = 2, locktime: int = 0) -> Psbt:
        """The Creator role: an unsigned transaction and empty maps (add UTXO data with the setters)."""
        tx = Transaction(version, tuple(TxIn(i.prevout, b"", i.sequence) for i in inputs), tuple(outputs), locktime)
        return cls(
            tx,
            {bytes([GLOBAL_UNSIGNED_TX]): tx.serialize(include_witness=False)},
            [{} for _ in tx.inputs],
            [{} for _ in tx.outputs],
        )

    # -- typed access to input fields --
    def _get(self, index: int, kt: int) -> bytes | None:
        return self.inputs[index].get(bytes([kt]))

    def witness_utxo(self, index: int) -> TxOut | None:
        raw = self._get(index, IN_WITNESS_UTXO)
        return None if raw is None else TxOut.parse(raw)

    def non_witness_utxo(self, index: int) -> Transaction | None:
        raw = self._get(index, IN_NON_WITNESS_UTXO)
        return None if raw is None else Transaction.parse(raw)

    def sighash_type(self, index: int) -> int | None:
        raw = self._get(index, IN_SIGHASH_TYPE)
        return None if raw is None else int.from_bytes(raw, "little")

    def partial_sigs(self, index: int) -> dict[bytes, bytes]:
        return {k[1:]: v for k, v in self.inputs[index].items() if k[0] == IN_PARTIAL_SIG}

    def tap_key_sig(self, index: int) -> bytes | None:
        return self._get(index, IN_TAP_KEY_SIG)

    def final_script_sig(self, index: int) -> bytes | None:
        return self._get(index, IN_FINAL_SCRIPTSIG)

    def final_script_witness(self, index: int) -> tuple[bytes, ...] | None:
        raw = self._get(index, IN_FINAL_SCRIPTWITNESS)
        return None if raw is None else parse_witness(raw)

    def is_finalized(self, index: int) -> bool:
        return self._get(index, IN_FINAL_SCRIPTSIG) is not None or self._get(index, IN_FINAL_SCRIPTWITNESS) is not None

    # -- setters (Updater and Signer roles) --
    def _set(self, index: int, key: bytes, value: bytes) -> None:
        self.inputs[index][key] = value

    def set_witness_utxo(self, index: int, utxo: TxOut) -> None:
        self._set(index, bytes([IN_WITNESS_UTXO]), utxo.serialize())

    def set_non_witness_utxo(self, index: int, prev_tx: Transaction) -> None:
        self._set(index, bytes([IN_NON_WITNESS_UTXO]), prev_tx.serialize())

    def set_sighash_type(self, index: int, hash_type: int) -> None:
        self._set(index, bytes([IN_SIGHASH_TYPE]), hash_type.to_bytes(4, "little"))

    def set_partial_sig(self, index: int, public_key: bytes, signature: bytes) -> None:
        self._set(index, bytes([IN_PARTIAL_SIG]) + public_key, signature)

    def set_tap_key_sig(self, index: int, signature: bytes) -> None:
        self._set(index, bytes([IN_TAP_KEY_SIG]), signature)

    def set_final(self, index: int, script_sig: bytes, witness: Sequence[bytes]) -> None:
        if script_sig:
            self._set(index, bytes([IN_FINAL_SCRIPTSIG]), script_sig)
        if witness:
            self._set(index, bytes([IN_FINAL_SCRIPTWITNESS]), serialize_witness(witness))


@dataclass(frozen=True)
class Spend:
    """One coin to spend, for :func:`create_psbt`: where it is, what it is, optionally its whole transaction."""

    outpoint: OutPoint
    utxo: TxOut
    sequence: int = 0xFFFFFFFD  # final for locktime, signals replaceability (BIP125)
    prev_tx: Transaction | None = None


def create_psbt(spends: Sequence[Spend], outputs: Sequence[TxOut], *, version: int = 2, locktime: int = 0) -> str:
    """A base64 PSBT spending ``spends`` to ``outputs``, with the UTXO data signers need."""
    psbt = Psbt.create([TxIn(s.outpoint, b"", s.sequence) for s in spends], outputs, version=version, locktime=locktime)
    for i, spend in enumerate(spends):
        psbt.set_witness_utxo(i, spend.utxo)
        if spend.prev_tx is not None:
            psbt.set_non_witness_utxo(i, spend.prev_tx)
    return psbt.to_base64()
