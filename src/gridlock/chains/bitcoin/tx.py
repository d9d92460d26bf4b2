"""Bitcoin transactions: strict parsing and serialisation (BIP144 witness format), txid/wtxid.

Parsing is strict the way Bitcoin Core's is: canonical CompactSize, no trailing bytes, a witness
flag only when some input has a witness, amounts within ``MAX_MONEY``.  Every failure is a
:class:`MalformedError`; nothing here raises a bare ``ValueError``/``IndexError`` on bad input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from gridlock.chains.bitcoin.errors import MalformedError

MAX_MONEY = 21_000_000 * 100_000_000
SEQUENCE_FINAL = 0xFFFFFFFF


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return n.to_bytes(1, "little")
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def var_bytes(data: bytes) -> bytes:
    return compact_size(len(data)) + data


class Reader:
    """A cursor over bytes; every short read or non-canonical length is a :class:`MalformedError`."""

    def __init__(self, data: bytes, what: str = "data") -> None:
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def read(self, n: int) -> bytes:
        if n < 0 or n > self.remaining():
            raise MalformedError(f"{self.what}: truncated (wanted {n} bytes, {self.remaining()} left)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.read(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.read(8), "little")

    def compact(self) -> int:
        first = self.u8()
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        n = int.from_bytes(self.read(size), "little")
        if n < {0xFD: 0xFD, 0xFE: 0x10000, 0xFF: 0x100000000}[first]:
            raise MalformedError(f"{self.what}: non-canonical CompactSize")
        return n

    def var_bytes(self) -> bytes:
        return self.read(self.compact())

    def count(self, min_item_size: int) -> int:
        """A CompactSize item count, refused when the remaining bytes could not hold that many items."""
        n = self.compact()
        if n * min_item_size > self.remaining():
            raise MalformedError(f"{self.what}: count {n} exceeds the remaining data")
        return n

    def end(self) -> None:
        if self.remaining():
            raise MalformedError(f"{self.what}: {self.remaining()} unexpected trailing bytes")


@dataclass(frozen=True)
class OutPoint:
    """A previous output: ``txid`` in internal byte order (as serialised), ``vout`` its index."""

    txid: bytes
    vout: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32 or not 0 <= self.vout <= 0xFFFFFFFF:
            raise MalformedError("an outpoint is a 32-byte txid and a 32-bit index")

    @property
    def txid_hex(self) -> str:
        return self.txid[::-1].hex()

    def serialize(self) -> bytes:
        return self.txid + self.vout.to_bytes(4, "little")


@dataclass(frozen=True)
class TxOut:
    amount: int  # satoshis
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.amount <= MAX_MONEY:
            raise MalformedError(f"output amount {self.amount} is out of range")

    def serialize(self) -> bytes:
        return self.amount.to_bytes(8, "little") + var_bytes(self.script_pubkey)

    @classmethod
    def read(cls, r: Reader) -> TxOut:
        amount = r.u64()
        return cls(amount, r.var_bytes())

    @classmethod
    def parse(cls, data: bytes) -> TxOut:
        r = Reader(data, "transaction output")
        out = cls.read(r)
        r.end()
        return out


@dataclass(frozen=True)
class TxIn:
    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= 0xFFFFFFFF:
            raise MalformedError("an input's sequence is a 32-bit number")

    def serialize(self) -> bytes:
        return self.prevout.serialize() + var_bytes(self.script_sig) + self.sequence.to_bytes(4, "little")


def serialize_witness(stack: Sequence[bytes]) -> bytes:
    return compact_size(len(stack)) + b"".join(var_bytes(item) for item in stack)


def read_witness(r: Reader) -> tuple[bytes, ...]:
    return tuple(r.var_bytes() for _ in range(r.count(1)))


def parse_witness(data: bytes) -> tuple[bytes, ...]:
    r = Reader(data, "witness")
    stack = read_witness(r)
    r.end()
    return stack


@dataclass(frozen=True)
class Transaction:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int

    def __post_init__(self) -> None:
        if not (0 <= self.version <= 0xFFFFFFFF and 0 <= self.locktime <= 0xFFFFFFFF):
            raise MalformedError("a transaction's version and locktime are 32-bit numbers")

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    def serialize(self, include_witness: bool = True) -> bytes:
        witness = include_witness and self.has_witness
        parts = [self.version.to_bytes(4, "little")]
        if witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(compact_size(len(self.outputs)))
        parts.extend(txout.serialize() for txout in self.outputs)
        if witness:
            parts.extend(serialize_witness(txin.witness) for txin in self.inputs)
        parts.append(self.locktime.to_bytes(4, "little"))
        return b"".join(parts)

    def txid(self) -> bytes:
        """Internal byte order; ``txid()[::-1].hex()`` is the usual display form."""
        return sha256d(self.serialize(include_witness=False))

    def wtxid(self) -> bytes:
        return sha256d(self.serialize())

    @property
    def txid_hex(self) -> str:
        return self.txid()[::-1].hex()

    @classmethod
    def parse(cls, data: bytes, *, allow_witness: bool = True, what: str = "transaction") -> Transaction:
        """Parse one whole transaction (no trailing bytes).

        ``allow_witness=False`` reads the legacy format only, as BIP174 requires for the unsigned
        transaction of a PSBT (where an input count of zero is a valid empty input list).
        """
        r = Reader(data, what)
        version = r.u32()
        n_in = r.count(41)
        segwit = False
        if n_in == 0 and allow_witness and r.remaining() and r.data[r.pos] != 0:
            flag = r.u8()
            if flag != 1:
                raise MalformedError(f"{what}: unknown witness flag {flag}")
            segwit = True
            n_in = r.count(41)
        inputs = []
        for _ in range(n_in):
            prevout = OutPoint(r.read(32), r.u32())
            script_sig = r.var_bytes()
            inputs.append(TxIn(prevout, script_sig, r.u32()))
        outputs = tuple(TxOut.read(r) for _ in range(r.count(9)))
        if segwit:
            inputs = [TxIn(txin.prevout, txin.script_sig, txin.sequence, read_witness(r)) for txin in inputs]
            if not any(txin.witness for txin in inputs):
                raise MalformedError(f"{what}: witness flag set but every witness is empty")
        locktime = r.u32()
        r.end()
        if sum(o.amount for o in outputs) > MAX_MONEY:
            raise MalformedError(f"{what}: total output amount is out of range")
        return cls(version, tuple(inputs), outputs, locktime)
