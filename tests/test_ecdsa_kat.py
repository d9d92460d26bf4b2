"""Known-answer vectors for the DKLs23 building blocks (base OT, KOS15 OT extension, VOLE).

Every random draw comes from a fixed deterministic stream (``secrets`` patched), so each vector
pins the exact bytes on the wire and every output: an optimisation of these modules must reproduce
them bit for bit.  The vectors were recorded from the straightforward per-element implementation
before the modules were vectorised; a second set of tests compares the vectorised GF(2^128) inner
product and VOLE pads with textbook definitions written out here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator

import numpy as np
import pytest

from gridlock.crypto import transcript
from gridlock.crypto.ecdsa import base_ot, vole
from gridlock.crypto.ecdsa import ot_extension as ote
from gridlock.crypto.secp256k1 import SECP256K1, N, P
from gridlock.errors import DecodeError
from test_attack_ecdsa import clmul_reference


class _Stream:
    """A deterministic stand-in for ``secrets``: SHAKE-256 blocks under a counter."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._ctr = 0

    def token_bytes(self, n: int | None = None) -> bytes:
        n = 32 if n is None else n
        self._ctr += 1
        return hashlib.shake_256(self._seed + self._ctr.to_bytes(8, "big")).digest(n)

    def randbelow(self, bound: int) -> int:
        while True:
            k = int.from_bytes(self.token_bytes((bound.bit_length() + 7) // 8), "big") >> (-bound.bit_length() % 8)
            if k < bound:
                return k


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Stream]:
    s = _Stream(b"gridlock/test/dkls23-kat")
    monkeypatch.setattr(secrets, "token_bytes", s.token_bytes)
    monkeypatch.setattr(secrets, "randbelow", s.randbelow)
    yield s


def _digest(*parts: bytes) -> str:
    return transcript.digest(b"kat", *parts).hex()


def _base_ots(sid: bytes, choices: list[int]) -> tuple[list[tuple[bytes, bytes]], list[bytes], bytes, bytes]:
    rcv = base_ot.BaseOtReceiver(sid, choices)
    snd = base_ot.BaseOtSender(sid, len(choices))
    pairs = snd.finish(rcv.message)
    keys = rcv.finish(snd.message)
    return pairs, keys, rcv.message, snd.message


def _setups() -> tuple[ote.ExtSenderSetup, ote.ExtReceiverSetup]:
    delta = secrets.token_bytes(ote.KAPPA // 8)
    bits = [(delta[i // 8] >> (i % 8)) & 1 for i in range(ote.KAPPA)]
    pairs, keys, _, _ = _base_ots(b"kat-setup", bits)
    return (
        ote.ExtSenderSetup(delta, tuple(keys)),
        ote.ExtReceiverSetup(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)),
    )


BASE_OT_KAT = "116e5257ae70479b56d89aa2900ba0d0aef6878f3570f37e9005338dd7d540fe"
OTE_KAT = "56a57a8e2db11d73f948d8d3284aba2cfd703d5efecfff5f0f418cf85df9aa78"
VOLE_KAT = "2f2ec04617bd7c3e74830f79820c6a62a88f3ec857af9b6c1045ef6bf08ab8ac"


def test_base_ot_known_answer(stream: _Stream) -> None:
    choices = [(i * 7 + i // 3) & 1 for i in range(24)]
    pairs, keys, rmsg, smsg = _base_ots(b"kat-base-ot", choices)
    assert all(k == p[c] and k != p[1 - c] for k, p, c in zip(keys, pairs, choices, strict=True))
    assert _digest(rmsg, smsg, *(k for p in pairs for k in p), *keys) == BASE_OT_KAT


def test_ot_extension_known_answer(stream: _Stream) -> None:
    snd, rcv = _setups()
    choices = (np.frombuffer(secrets.token_bytes(64), np.uint8) & 1).astype(np.uint8)
    msg, t_rows = ote.receiver_extend(rcv, b"kat-ote", choices)
    q_rows = ote.sender_extend(snd, b"kat-ote", 64, msg, 2)
    delta_bits = np.unpackbits(np.frombuffer(snd.delta, np.uint8), bitorder="little")
    assert np.array_equal(q_rows ^ (choices[:, None] * delta_bits[None, :]), t_rows)
    assert _digest(msg, *ote.pack_rows(t_rows), *ote.pack_rows(q_rows)) == OTE_KAT


def test_vole_known_answer(stream: _Stream) -> None:
    snd, rcv = _setups()
    bob = vole.VoleReceiver(rcv, b"kat-vole")
    a = [secrets.randbelow(N), secrets.randbelow(N)]
    c, reply = vole.vole_send(snd, b"kat-vole", bob.message, a, 2)
    d = bob.finish(reply, 1)
    assert all((ci + di) % N == ai * bob.b % N for ci, di, ai in zip(c, d, a, strict=True))
    scalars = b"".join(x.to_bytes(32, "big") for x in (*c, *d, bob.b))
    assert _digest(bob.message, reply, scalars) == VOLE_KAT


@pytest.mark.parametrize("rows", [8, 208, 624])
def test_gf_inner_matches_the_definition(rows: int) -> None:
    rng = np.random.default_rng(rows)
    chi = rng.integers(0, 2, size=(rows, ote.KAPPA), dtype=np.uint8)
    mat = rng.integers(0, 2, size=(rows, ote.KAPPA), dtype=np.uint8)

    def as_int(bits: ote.Bits) -> int:
        return sum(int(b) << i for i, b in enumerate(bits))

    expected = 0
    for j in range(rows):
        expected ^= clmul_reference(as_int(chi[j]), as_int(mat[j]))
    assert ote.gf_inner(chi, mat) == expected
    assert ote.gf_mul(as_int(chi[0]), as_int(mat[0])) == clmul_reference(as_int(chi[0]), as_int(mat[0]))
    top = (1 << 128) - 1  # the longest product: every bit of the reduction is exercised
    assert ote.gf_mul(top, top) == clmul_reference(top, top)


# --- malformed base-OT messages are typed errors, never crashes -------------------------------------
def test_base_ot_sender_rejects_points_off_the_curve_and_a_sum_at_infinity() -> None:
    sid = b"kat-malformed"
    good = base_ot.BaseOtReceiver(sid, [0]).message
    x = next(x for x in range(1, 100) if _off_curve(x))
    for bad in (
        b"\x04" + good[1:33] + good[33:],  # not compressed
        b"\x02" + P.to_bytes(32, "big") + good[33:],  # x not reduced
        b"\x02" + x.to_bytes(32, "big") + good[33:],  # no point with this x
        good[:-1],  # wrong length
    ):
        with pytest.raises(DecodeError):
            base_ot.BaseOtSender(sid, 1).finish(bad)
    # r0 = −H(sid, 0, 1, r1): r0 + H(r1) is the point at infinity, which has no encoding
    r1 = good[33:]
    h = SECP256K1.decode(base_ot._Oracles(sid).h_encoded(0, 1, r1))
    with pytest.raises(DecodeError):
        base_ot.BaseOtSender(sid, 1).finish((-h).encode() + r1)
    with pytest.raises(DecodeError):
        base_ot.BaseOtReceiver(sid, [1]).finish(b"\x03" + x.to_bytes(32, "big"))


def _off_curve(x: int) -> bool:
    return pow(x**3 + 7, (P - 1) // 2, P) != 1
