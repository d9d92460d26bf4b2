"""Actively secure OT extension: KOS15 (Keller–Orsini–Scholl, "Actively Secure OT Extension with
Optimal Overhead", ePrint 2015/546, Fig. 7), with numpy bit matrices.

Parameters: ``KAPPA = 128`` base OTs (computational security 128 bits) and a correlation check over
GF(2^128) with ``STAT = 80`` extra random rows besides the ``KAPPA`` rows that hide the receiver's
check (statistical security ≥ 80 bits).  Roles are swapped relative to the base OTs: the
*extension sender* is the base-OT receiver with choice bits ``Δ`` and keeps ``k_i^{Δ_i}``; the
*extension receiver* is the base-OT sender and keeps both ``k_i^0, k_i^1``.

One base-OT setup serves every later extension: each run expands the seeds with a PRG keyed by the
run's session id, so ``Δ`` is long-term and runs are independent.  Because ``Δ`` is reused, a failed
consistency check may have leaked a bit of it to the receiver (selective failure): the caller must
ban that counterparty until the next refresh (SECURITY #13).

Receiver: ``u^i = PRG(k_i^0) ⊕ PRG(k_i^1) ⊕ x'`` (x' = choices ‖ random padding); the challenge
``χ_j = H(sid, u)`` (Fiat–Shamir); it sends ``u``, ``x̃ = Σ x'_j·χ_j`` and ``t̃ = Σ t_j·χ_j``.
Sender: ``q^i = PRG(k_i^{Δ_i}) ⊕ Δ_i·u^i``, rows ``q_j = t_j ⊕ x'_j·Δ``; it checks
``Σ q_j·χ_j = t̃ ⊕ x̃·Δ``.  Row ``j`` then gives the sender ``(q_j, q_j ⊕ Δ)`` and the receiver ``t_j``
(the one matching its choice), which callers hash into their OT outputs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridlock.crypto import transcript
from gridlock.errors import DecodeError, ProtocolAbort

KAPPA = 128
STAT = 80
PAD = KAPPA + STAT
ROW_BYTES = KAPPA // 8
PRG_LABEL = b"gridlock/dkls23/kos15/prg/v1"
CHI_LABEL = b"gridlock/dkls23/kos15/chi/v1"
_GF_MASK = (1 << 128) - 1  # the field is GF(2)[x] / (x^128 + x^7 + x^2 + x + 1)

Bits = npt.NDArray[np.uint8]
_BIT_WEIGHTS = (1 << np.arange(8)).astype(np.uint8)


class OtConsistencyError(ProtocolAbort):
    """The KOS15 correlation check failed: the receiver cheated (ban it)."""


@dataclass(frozen=True, repr=False)
class ExtSenderSetup:
    """Long-term state of the extension sender towards one counterparty."""

    delta: bytes  # KAPPA bits, little-endian bit order
    seeds: tuple[bytes, ...]  # k_i^{Δ_i}

    def __repr__(self) -> str:
        return "ExtSenderSetup(<redacted>)"


@dataclass(frozen=True, repr=False)
class ExtReceiverSetup:
    """Long-term state of the extension receiver towards one counterparty."""

    seeds0: tuple[bytes, ...]
    seeds1: tuple[bytes, ...]

    def __repr__(self) -> str:
        return "ExtReceiverSetup(<redacted>)"


def _expand(seeds: tuple[bytes, ...], sid: bytes, nbits: int) -> Bits:
    """PRG: every seed to ``nbits`` pseudorandom bits (SHAKE-128), as a (KAPPA, nbits) bit matrix."""
    nbytes = nbits // 8
    prefix = transcript.encode(PRG_LABEL, sid)
    raw = b"".join(hashlib.shake_128(prefix + s).digest(nbytes) for s in seeds)
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(len(seeds), nbytes), axis=1, bitorder="little")


def _challenge(sid: bytes, u: bytes, rows: int) -> Bits:
    raw = hashlib.shake_256(transcript.encode(CHI_LABEL, sid, u)).digest(rows * ROW_BYTES)
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(rows, ROW_BYTES), axis=1, bitorder="little")


def _gf_reduce(p: int) -> int:
    """Reduce a product of two field elements (< 2^255) by ``x^128 ≡ x^7 + x^2 + x + 1``, folding
    the high half twice: ``hi·(x^7 + x^2 + x + 1)`` has at most 135 bits, and its 7 bits above
    2^128 fold once more into fewer than 15.  Shifts and XORs only, no branch on ``p`` (a product
    with the secret Δ)."""
    hi, lo = p >> KAPPA, p & _GF_MASK
    t = hi ^ (hi << 1) ^ (hi << 2) ^ (hi << 7)
    top = t >> KAPPA
    return lo ^ (t & _GF_MASK) ^ top ^ (top << 1) ^ (top << 2) ^ (top << 7)


def gf_mul(a: int, b: int) -> int:
    """Multiplication in GF(2^128) = GF(2)[x]/(x^128 + x^7 + x^2 + x + 1).

    The loop runs over the bits of ``b``: pass the public operand as ``b`` and a secret one as
    ``a``, so no branch depends on the secret.
    """
    p = 0
    while b:
        if b & 1:
            p ^= a
        a <<= 1
        b >>= 1
    return _gf_reduce(p)


def _rows_u64(rows: Bits) -> npt.NDArray[np.uint64]:
    """(m, KAPPA) bit matrix → (m, KAPPA/64) words, bit ``c`` of a row at bit ``c % 64`` of word ``c // 64``."""
    packed = np.packbits(rows, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8")


def _xor_select(select: Bits, words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``XOR_j select[j]·words[j]`` for every column of ``select``: (m, k) bits × (m, w) → (k, w).

    Method of the Four Russians: the rows are cut into groups of 8, each group's 256 XOR
    combinations tabulated (8 vectorised doubling steps), and every column then XORs one table
    entry per group, indexed by the column's 8 select bits of that group.  The indices are the
    public select bits; the tabulated words are secret but read whole, never branched on.  One
    word column at a time, so every numpy loop runs over a long contiguous axis.
    """
    m, k = select.shape
    groups = -(-m // 8)
    if groups * 8 != m:  # pad to whole groups with zero rows, which select nothing
        select = np.concatenate([select, np.zeros((groups * 8 - m, k), np.uint8)])
        words = np.concatenate([words, np.zeros((groups * 8 - m, words.shape[1]), np.uint64)])
    # (groups, k): the 8 select bits of each group as one byte, offset into that group's table
    index = (select.reshape(groups, 8, k) * _BIT_WEIGHTS[None, :, None]).sum(axis=1, dtype=np.uint8)
    flat = index.astype(np.intp) + (np.arange(groups, dtype=np.intp) * 256)[:, None]
    out = np.empty((k, words.shape[1]), np.uint64)
    table = np.empty((groups, 256), np.uint64)
    for c in range(words.shape[1]):
        column = np.ascontiguousarray(words[:, c]).reshape(groups, 8)
        table[:, 0] = 0
        for i in range(8):
            np.bitwise_xor(table[:, : 1 << i], column[:, i, None], out=table[:, 1 << i : 2 << i])
        out[:, c] = np.bitwise_xor.reduce(table.reshape(-1)[flat], axis=0)
    return out


def _words_to_int(words: npt.NDArray[np.uint64]) -> int:
    return int.from_bytes(np.ascontiguousarray(words).astype("<u8").tobytes(), "little")


def gf_inner(chi: Bits, rows: Bits) -> int:
    """``Σ_j χ_j·r_j`` in GF(2^128) for bit matrices (rows, KAPPA), without a per-row Python loop.

    ``Σ_j χ_j·r_j = Σ_b x^b·(XOR_{j: χ_j[b]=1} r_j)``: the inner XORs for all ``b`` at once in
    numpy (integer ops only, :func:`_xor_select`), then 128 shifts and one reduction.
    """
    partial = _xor_select(chi, _rows_u64(rows)).astype("<u8").tobytes()  # row b: ROW_BYTES, little-endian
    acc = 0
    for b in range(KAPPA):
        acc ^= int.from_bytes(partial[b * ROW_BYTES : (b + 1) * ROW_BYTES], "little") << b
    return _gf_reduce(acc)


def _bit_combination(bits: Bits, chi: Bits) -> int:
    """``Σ_j bits[j]·χ_j`` (XOR of the χ rows selected by ``bits``)."""
    selected = _rows_u64(chi)[bits.astype(bool)]
    return _words_to_int(np.bitwise_xor.reduce(selected, axis=0)) if len(selected) else 0


def message_len(m: int) -> int:
    return KAPPA * (m + PAD) // 8 + 2 * ROW_BYTES


def receiver_extend(setup: ExtReceiverSetup, sid: bytes, choices: Bits) -> tuple[bytes, Bits]:
    """Receiver's single message and its ``m`` rows ``t_j`` (as an (m, KAPPA) bit matrix)."""
    m = len(choices)
    if m % 8:
        raise ValueError("the number of extended OTs must be a multiple of 8")
    total = m + PAD
    x = np.concatenate(
        [choices.astype(np.uint8), np.unpackbits(np.frombuffer(secrets.token_bytes(PAD // 8), np.uint8))]
    )
    t0 = _expand(setup.seeds0, sid, total)
    u = t0 ^ _expand(setup.seeds1, sid, total) ^ x[None, :]
    u_bytes = np.packbits(u, axis=1, bitorder="little").tobytes()
    rows = np.ascontiguousarray(t0.T)
    chi = _challenge(sid, u_bytes, total)
    x_check = _bit_combination(x, chi)
    t_check = gf_inner(chi, rows)
    msg = u_bytes + x_check.to_bytes(ROW_BYTES, "little") + t_check.to_bytes(ROW_BYTES, "little")
    return msg, rows[:m]


def sender_extend(setup: ExtSenderSetup, sid: bytes, m: int, message: bytes, counterparty: int) -> Bits:
    """Sender's rows ``q_j`` (an (m, KAPPA) bit matrix) after the correlation check.

    Raises :class:`DecodeError` for a malformed message and :class:`OtConsistencyError` naming
    ``counterparty`` when the check fails.
    """
    total = m + PAD
    if len(message) != message_len(m):
        raise DecodeError("OT-extension message has the wrong length")
    u_len = KAPPA * total // 8
    u_bytes = message[:u_len]
    x_check = int.from_bytes(message[u_len : u_len + ROW_BYTES], "little")
    t_check = int.from_bytes(message[u_len + ROW_BYTES :], "little")
    u = np.unpackbits(np.frombuffer(u_bytes, np.uint8).reshape(KAPPA, total // 8), axis=1, bitorder="little")
    delta_bits = np.unpackbits(np.frombuffer(setup.delta, np.uint8), bitorder="little")
    q = _expand(setup.seeds, sid, total) ^ (u & delta_bits[:, None])
    rows = np.ascontiguousarray(q.T)
    chi = _challenge(sid, u_bytes, total)
    delta = int.from_bytes(setup.delta, "little")
    if gf_inner(chi, rows) != t_check ^ gf_mul(delta, x_check):  # loop over the public x̃, not Δ
        raise OtConsistencyError([counterparty], "ote-consistency", "OT-extension correlation check failed")
    return rows[:m]


def pack_rows(rows: Bits) -> list[bytes]:
    """Rows of a bit matrix as ``KAPPA/8``-byte strings."""
    packed = np.packbits(rows, axis=1, bitorder="little")
    return [bytes(r) for r in packed]


def packed_rows(rows: Bits) -> bytes:
    """Rows of a bit matrix, each ``KAPPA/8`` bytes, concatenated."""
    return np.packbits(rows, axis=1, bitorder="little").tobytes()
