"""Random vector OLE between two parties: DKLs23 (ePrint 2023/765) Protocol 5.2, on KOS15 OT extension.

The sender (Alice) inputs ``a ∈ Z_q^ℓ``; the receiver (Bob) gets a uniformly random ``b`` chosen
by the protocol; Alice outputs ``c`` and Bob ``d`` with ``c + d = a·b`` (component-wise).

* Bob samples ``β ∈ {0,1}^ξ`` and runs ξ extended OTs with choices β; his input is
  ``b = ⟨g, β⟩`` for the public gadget ``g`` (``ξ = κ + 2·λ_s`` entries hashed from a fixed label,
  so ``b`` stays statistically hidden even if a few β bits leak — DKLs23 §5).
* Each OT row gives Alice pads ``α⁰_j, α¹_j ∈ Z_q^{ℓ+ρ}`` and Bob ``γ_j = α^{β_j}_j``.  Alice
  extends ``a`` with ``ρ`` random check entries ``â`` and sends ``ã_j = α⁰_j − α¹_j + (a‖â)``;
  then ``ĉ_j = −α⁰_j`` and ``d̂_j = γ_j + β_j·ã_j`` satisfy ``ĉ_j + d̂_j = β_j·(a‖â)``.
* Check (against an Alice who uses different ``a`` in different rows, which would make Bob's
  output, and whether he aborts, depend on β): ``θ ∈ Z_q^{ℓ×ρ}`` by Fiat–Shamir over ``ã``;
  Alice sends ``η = â + θᵀa`` and ``μ = H(r_1..r_ξ)`` with ``r_j = ĉ_{j,ℓ+k} + Σ_i θ_{i,k}·ĉ_{j,i}``;
  Bob recomputes ``r'_j = β_j·η − (d̂_{j,ℓ+k} + Σ_i θ_{i,k}·d̂_{j,i})`` and aborts — banning Alice
  (SECURITY #13) — unless ``H(r') = μ``.
* Outputs ``c = Σ_j g_j·ĉ_{j,1..ℓ}`` and ``d = Σ_j g_j·d̂_{j,1..ℓ}``.

Parameters: ``κ = 256`` (bits of q), ``λ_s = 80`` → ``ξ = 416``; ``ℓ = 2`` (nonce and key share in
one VOLE, as Protocol 3.6 uses it); ``ρ = 1``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from functools import cache
from operator import mul

import numpy as np

from gridlock.crypto import transcript
from gridlock.crypto.ecdsa import ot_extension as ote
from gridlock.crypto.secp256k1 import N
from gridlock.errors import DecodeError, ProtocolAbort

KAPPA_Q = 256
LAMBDA_S = 80
XI = KAPPA_Q + 2 * LAMBDA_S
ELL = 2
RHO = 1
WIDTH = ELL + RHO
_SCALAR = 32
_PAD_HASH_BYTES = 40  # 320 bits reduced mod q: bias below 2^-64 per pad
GADGET_LABEL = b"gridlock/dkls23/vole/gadget/v1"
PAD_LABEL = b"gridlock/dkls23/vole/pad/v1"
THETA_LABEL = b"gridlock/dkls23/vole/theta/v1"
MU_LABEL = b"gridlock/dkls23/vole/mu/v1"
SENDER_MSG_LEN = ote.message_len(XI)
assert (ELL, RHO) == (2, 1), "vole_send and VoleReceiver.finish are written out for ℓ = 2, ρ = 1"


class VoleConsistencyError(ProtocolAbort):
    """The VOLE check failed: the sender cheated (ban it)."""


@cache
def gadget() -> tuple[int, ...]:
    return tuple(
        int.from_bytes(hashlib.sha512(transcript.encode(GADGET_LABEL, j.to_bytes(4, "big"))).digest(), "big") % N
        for j in range(XI)
    )


def _pads(sid: bytes, rows: ote.Bits) -> list[list[int]]:
    """Hash each OT row to ``WIDTH`` pads (the random-OT outputs): ``pads[k][j]`` is pad ``k`` of row
    ``j``, the ``k``-th 320-bit integer of ``SHAKE256(label, sid ‖ j ‖ row)``.  The protocol uses
    each pad mod q; every use below is linear and reduced before it leaves, so the pads are
    returned unreduced (the reduction of 1,248 integers per call is the cost this saves)."""
    prefix = transcript.encode(PAD_LABEL, sid)
    packed = ote.packed_rows(rows)
    rb, shake, fb = ote.ROW_BYTES, hashlib.shake_256, int.from_bytes
    whole = [
        fb(shake(prefix + j.to_bytes(4, "big") + packed[j * rb : (j + 1) * rb]).digest(WIDTH * _PAD_HASH_BYTES), "big")
        for j in range(len(rows))
    ]
    bits, mask = 8 * _PAD_HASH_BYTES, (1 << (8 * _PAD_HASH_BYTES)) - 1
    return [[x >> (2 * bits) for x in whole], [(x >> bits) & mask for x in whole], [x & mask for x in whole]]


def _scalars_to_bytes(values: Iterable[int]) -> bytes:
    return b"".join([x.to_bytes(_SCALAR, "big") for x in values])


def _theta(sid: bytes, a_tilde: bytes) -> list[int]:
    h = hashlib.shake_256(transcript.encode(THETA_LABEL, sid, a_tilde)).digest(ELL * RHO * _PAD_HASH_BYTES)
    return [int.from_bytes(h[i * _PAD_HASH_BYTES : (i + 1) * _PAD_HASH_BYTES], "big") % N for i in range(ELL * RHO)]


def _mu(sid: bytes, r: Sequence[int]) -> bytes:
    return transcript.digest(MU_LABEL, sid, _scalars_to_bytes(r))


class VoleReceiver:
    """Bob: first message (the OT-extension message), then his output ``d`` from Alice's reply."""

    def __init__(self, setup: ote.ExtReceiverSetup, sid: bytes) -> None:
        self.sid = sid
        beta = (np.frombuffer(secrets.token_bytes(XI), np.uint8) & 1).astype(np.uint8)
        self._beta: list[int] = beta.tolist()
        g = gadget()
        self.b = sum(gj for gj, bj in zip(g, self._beta, strict=True) if bj) % N
        self.message, rows = ote.receiver_extend(setup, sid, beta)
        self._gamma = _pads(sid, rows)

    def finish(self, reply: bytes, counterparty: int) -> list[int]:
        """``d`` with ``c + d = a·b``.  Raises DecodeError or :class:`VoleConsistencyError`.

        Written out for ``ℓ = 2, ρ = 1``: ``d̂_j = γ_j + β_j·ã_j``, the check value
        ``r'_j = β_j·η − (d̂_{j,3} + θ_1·d̂_{j,1} + θ_2·d̂_{j,2})``, and ``d_i = Σ_j g_j·d̂_{j,i}``.
        """
        expected = XI * WIDTH * _SCALAR + RHO * _SCALAR + 32
        if len(reply) != expected:
            raise DecodeError("VOLE reply has the wrong length")
        a_tilde_bytes = reply[: XI * WIDTH * _SCALAR]
        fb = int.from_bytes
        vals = [fb(reply[i : i + _SCALAR], "big") for i in range(0, len(reply) - 32, _SCALAR)]
        if max(vals) >= N:
            raise DecodeError("VOLE reply holds a non-canonical scalar")
        eta = vals[XI * WIDTH]
        mu = reply[-32:]
        t0, t1 = _theta(self.sid, a_tilde_bytes)
        beta = self._beta
        g0, g1, g2 = self._gamma
        d0 = [x + y if b else x for x, y, b in zip(g0, vals[0 : XI * WIDTH : WIDTH], beta, strict=True)]
        d1 = [x + y if b else x for x, y, b in zip(g1, vals[1 : XI * WIDTH : WIDTH], beta, strict=True)]
        d2 = [x + y if b else x for x, y, b in zip(g2, vals[2 : XI * WIDTH : WIDTH], beta, strict=True)]
        r_prime = [((eta if b else 0) - (z + t0 * x + t1 * y)) % N for x, y, z, b in zip(d0, d1, d2, beta, strict=True)]
        if not hmac.compare_digest(_mu(self.sid, r_prime), mu):
            raise VoleConsistencyError([counterparty], "vole-consistency", "VOLE check value does not match")
        g = gadget()
        self._gamma = [[], [], []]
        return [sum(map(mul, g, d0)) % N, sum(map(mul, g, d1)) % N]


def vole_send(
    setup: ote.ExtSenderSetup, sid: bytes, message: bytes, a: Sequence[int], counterparty: int
) -> tuple[list[int], bytes]:
    """Alice: check Bob's OT-extension message, return her output ``c`` and the reply for Bob.

    Written out for ``ℓ = 2, ρ = 1``: ``ã_j = α⁰_j − α¹_j + (a‖â)``, ``η = â + θ_1·a_1 + θ_2·a_2``,
    the check values ``r_j = ĉ_{j,3} + θ_1·ĉ_{j,1} + θ_2·ĉ_{j,2}`` with ``ĉ_j = −α⁰_j``, and
    ``c_i = Σ_j g_j·ĉ_{j,i}``.

    Raises DecodeError, or :class:`gridlock.crypto.ecdsa.ot_extension.OtConsistencyError` naming
    ``counterparty``.
    """
    if len(a) != ELL:
        raise ValueError("VOLE input has the wrong length")
    rows = ote.sender_extend(setup, sid, XI, message, counterparty)
    delta_bits = np.unpackbits(np.frombuffer(setup.delta, np.uint8), bitorder="little")
    p00, p01, p02 = _pads(sid, rows)
    p10, p11, p12 = _pads(sid, rows ^ delta_bits[None, :])
    a_ext = [x % N for x in a] + [secrets.randbelow(N) for _ in range(RHO)]
    e0, e1, e2 = a_ext
    at0 = [(x - y + e0) % N for x, y in zip(p00, p10, strict=True)]
    at1 = [(x - y + e1) % N for x, y in zip(p01, p11, strict=True)]
    at2 = [(x - y + e2) % N for x, y in zip(p02, p12, strict=True)]
    a_tilde = [0] * (XI * WIDTH)  # row-major: ã_{j,1}, ã_{j,2}, ã_{j,3} for every j
    a_tilde[0::WIDTH], a_tilde[1::WIDTH], a_tilde[2::WIDTH] = at0, at1, at2
    a_tilde_bytes = _scalars_to_bytes(a_tilde)
    t0, t1 = _theta(sid, a_tilde_bytes)
    eta = (e2 + t0 * e0 + t1 * e1) % N
    r = [-(z + t0 * x + t1 * y) % N for x, y, z in zip(p00, p01, p02, strict=True)]
    g = gadget()
    c = [-sum(map(mul, g, p00)) % N, -sum(map(mul, g, p01)) % N]
    reply = a_tilde_bytes + _scalars_to_bytes([eta]) + _mu(sid, r)
    return c, reply
