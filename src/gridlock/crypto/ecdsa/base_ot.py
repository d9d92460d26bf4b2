"""Base oblivious transfer: Masny–Rindal "Endemic OT" (ePrint 2019/706, §4, OT from a key agreement
with uniformly random public keys), on secp256k1 with libsecp256k1 doing every group operation.

For OT number ``j`` the receiver, with choice bit ``c``, samples ``b`` and a random group element
``r_{1-c}`` (hashed from fresh randomness: nobody knows its discrete log) and sets
``r_c = b·G − H(sid, j, 1-c, r_{1-c})``; the sender, with ``A = a·G``, derives both keys
``k_σ = KDF(sid, j, a·(r_σ + H(sid, j, 1-σ, r_{1-σ})))``; the receiver gets ``k_c = KDF(sid, j, b·A)``.
Without ``b``'s counterpart for the other branch the receiver learns nothing of ``k_{1-c}``; ``(r_0, r_1)``
is uniform whatever ``c`` is, so the sender learns nothing of the choice.  "Endemic" security (a
corrupted party may fix its own outputs) is what OT extension needs from its base OTs.

One sender key ``A`` serves a whole batch; the hash ``H`` (try-and-increment onto the curve, public
inputs only) and the KDF are domain-separated by the session id and the OT index, so batches and
positions never mix.  Messages are strictly decoded before use.  The per-OT point arithmetic calls
libsecp256k1 directly (:mod:`._libsecp`), without a ``PublicKey`` object per intermediate point.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from gridlock.crypto import transcript
from gridlock.crypto.ecdsa import _libsecp
from gridlock.crypto.group import Point
from gridlock.crypto.secp256k1 import SECP256K1, P
from gridlock.errors import DecodeError

H2C_LABEL = b"gridlock/dkls23/base-ot/h2c/v1"
KDF_LABEL = b"gridlock/dkls23/base-ot/kdf/v1"
POINT_LEN = 33


def _try_and_increment(state: Any) -> tuple[_libsecp.RawPoint, bytes]:
    """Try-and-increment onto secp256k1 (even y) from a SHA-256 state: the point and its encoding.
    Not constant time: its inputs are public."""
    ctr = 0
    while True:
        t = state.copy()
        t.update(ctr.to_bytes(4, "big"))
        x = t.digest()
        if int.from_bytes(x, "big") < P:
            enc = b"\x02" + x
            pt = _libsecp.parse(enc)
            if pt is not None:
                return pt, enc
        ctr += 1


def hash_to_curve(data: bytes) -> Point:
    return SECP256K1.decode(_try_and_increment(hashlib.sha256(transcript.encode(H2C_LABEL, data)))[1])


class _Oracles:
    """A batch's random oracles ``H(sid, j, pos, r)`` (onto the curve) and ``KDF(sid, j, point)``.

    The session id is length-prefixed once; every later field has a fixed width, so the encoding
    stays injective while the per-OT work is one hash-state copy.  Points are passed encoded.
    """

    def __init__(self, sid: bytes) -> None:
        self._h = hashlib.sha256(transcript.encode(H2C_LABEL, sid))
        self._kdf = hashlib.sha256(transcript.encode(KDF_LABEL, sid))

    def h(self, j: int, pos: int, r: bytes) -> _libsecp.RawPoint:
        return self._h_point(j, pos, r)[0]

    def h_encoded(self, j: int, pos: int, r: bytes) -> bytes:
        return self._h_point(j, pos, r)[1]

    def _h_point(self, j: int, pos: int, r: bytes) -> tuple[_libsecp.RawPoint, bytes]:
        state = self._h.copy()
        state.update(j.to_bytes(4, "big") + bytes([pos]) + r)
        return _try_and_increment(state)

    def kdf(self, j: int, shared: bytes) -> bytes:
        state = self._kdf.copy()
        state.update(j.to_bytes(4, "big") + shared)
        return state.digest()


class BaseOtSender:
    """Sender of a batch of ``count`` random OTs: learns both keys of every OT."""

    def __init__(self, sid: bytes, count: int) -> None:
        self.count = count
        self._oracles = _Oracles(sid)
        self._a = SECP256K1.random_scalar()
        self.message = SECP256K1.base_mul(self._a).encode()

    def finish(self, receiver_message: bytes) -> list[tuple[bytes, bytes]]:
        """Both keys of every OT; raises :class:`DecodeError` for a malformed receiver message."""
        if len(receiver_message) != self.count * 2 * POINT_LEN:
            raise DecodeError("base-OT receiver message has the wrong length")
        o = self._oracles
        a = self._a.to_bytes(32, "big")
        out = []
        for j in range(self.count):
            off = 2 * POINT_LEN * j
            e0 = receiver_message[off : off + POINT_LEN]
            e1 = receiver_message[off + POINT_LEN : off + 2 * POINT_LEN]
            r0, r1 = _libsecp.decode(e0), _libsecp.decode(e1)
            b0 = _libsecp.add(r0, o.h(j, 1, e1))
            b1 = _libsecp.add(r1, o.h(j, 0, e0))
            out.append((o.kdf(j, _libsecp.mul_encode(a, b0)), o.kdf(j, _libsecp.mul_encode(a, b1))))
        self._a = 0
        return out


class BaseOtReceiver:
    """Receiver of a batch of random OTs with the given choice bits: learns one key per OT."""

    def __init__(self, sid: bytes, choices: Sequence[int]) -> None:
        self._oracles = _Oracles(sid)
        self.choices = [int(c) & 1 for c in choices]
        self._b: list[bytes] = []
        parts = []
        for j, c in enumerate(self.choices):
            b = SECP256K1.random_scalar().to_bytes(32, "big")
            _, other = _try_and_increment(hashlib.sha256(transcript.encode(H2C_LABEL, secrets.token_bytes(32))))
            mine = _libsecp.encode(_libsecp.sub(_libsecp.base_mul(b), self._oracles.h(j, 1 - c, other)))
            parts.append(mine + other if c == 0 else other + mine)
            self._b.append(b)
        self.message = b"".join(parts)

    def finish(self, sender_message: bytes) -> list[bytes]:
        """The chosen key of every OT; raises :class:`DecodeError` for a malformed sender message."""
        if len(sender_message) != POINT_LEN:
            raise DecodeError("base-OT sender message has the wrong length")
        a = _libsecp.decode(sender_message)
        keys = [self._oracles.kdf(j, _libsecp.mul_encode(b, a)) for j, b in enumerate(self._b)]
        self._b = []
        return keys
