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
from collections.abc import Sequence
from functools import cache

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


class VoleConsistencyError(ProtocolAbort):
    """The VOLE check failed: the sender cheated (ban it)."""


@cache
def gadget() -> tuple[int, ...]:
    return tuple(
        int.from_bytes(hashlib.sha512(transcript.encode(GADGET_LABEL, j.to_bytes(4, "big"))).digest(), "big") % N
        for j in range(XI)
    )


def _pads(sid: bytes, rows: Sequence[bytes]) -> list[tuple[int, ...]]:
    """Hash each OT row to ``WIDTH`` scalars (the random-OT outputs)."""
    prefix = transcript.encode(PAD_LABEL, sid)
    out = []
    for j, row in enumerate(rows):
        h = hashlib.shake_256(prefix + j.to_bytes(4, "big") + row).digest(WIDTH * _PAD_HASH_BYTES)
        out.append(
            tuple(int.from_bytes(h[k * _PAD_HASH_BYTES : (k + 1) * _PAD_HASH_BYTES], "big") % N for k in range(WIDTH))
        )
    return out


def _theta(sid: bytes, a_tilde: bytes) -> list[int]:
    h = hashlib.shake_256(transcript.encode(THETA_LABEL, sid, a_tilde)).digest(ELL * RHO * _PAD_HASH_BYTES)
    return [int.from_bytes(h[i * _PAD_HASH_BYTES : (i + 1) * _PAD_HASH_BYTES], "big") % N for i in range(ELL * RHO)]


def _mu(sid: bytes, r: Sequence[int]) -> bytes:
    return transcript.digest(MU_LABEL, sid, b"".join(x.to_bytes(_SCALAR, "big") for x in r))


class VoleReceiver:
    """Bob: first message (the OT-extension message), then his output ``d`` from Alice's reply."""

    def __init__(self, setup: ote.ExtReceiverSetup, sid: bytes) -> None:
        self.sid = sid
        beta = (np.frombuffer(secrets.token_bytes(XI), np.uint8) & 1).astype(np.uint8)
        self._beta = [int(x) for x in beta]
        g = gadget()
        self.b = sum(gj for gj, bj in zip(g, self._beta, strict=True) if bj) % N
        self.message, rows = ote.receiver_extend(setup, sid, beta)
        self._gamma = _pads(sid, ote.pack_rows(rows))

    def finish(self, reply: bytes, counterparty: int) -> list[int]:
        """``d`` with ``c + d = a·b``.  Raises DecodeError or :class:`VoleConsistencyError`."""
        expected = XI * WIDTH * _SCALAR + RHO * _SCALAR + 32
        if len(reply) != expected:
            raise DecodeError("VOLE reply has the wrong length")
        a_tilde_bytes = reply[: XI * WIDTH * _SCALAR]
        vals = [int.from_bytes(reply[i : i + _SCALAR], "big") for i in range(0, len(reply) - 32, _SCALAR)]
        if any(v >= N for v in vals):
            raise DecodeError("VOLE reply holds a non-canonical scalar")
        a_tilde = vals[: XI * WIDTH]
        eta = vals[XI * WIDTH :]
        mu = reply[-32:]
        theta = _theta(self.sid, a_tilde_bytes)
        d_hat_rows = []
        r_prime = []
        for j in range(XI):
            gam = self._gamma[j]
            row = a_tilde[j * WIDTH : (j + 1) * WIDTH]
            d_hat = [(gam[k] + row[k]) % N for k in range(WIDTH)] if self._beta[j] else list(gam)
            d_hat_rows.append(d_hat)
            for k in range(RHO):
                comb = d_hat[ELL + k] + sum(theta[i * RHO + k] * d_hat[i] for i in range(ELL))
                r_prime.append(((eta[k] if self._beta[j] else 0) - comb) % N)
        if not hmac.compare_digest(_mu(self.sid, r_prime), mu):
            raise VoleConsistencyError([counterparty], "vole-consistency", "VOLE check value does not match")
        g = gadget()
        self._gamma = []
        return [sum(g[j] * d_hat_rows[j][i] for j in range(XI)) % N for i in range(ELL)]


def vole_send(
    setup: ote.ExtSenderSetup, sid: bytes, message: bytes, a: Sequence[int], counterparty: int
) -> tuple[list[int], bytes]:
    """Alice: check Bob's OT-extension message, return her output ``c`` and the reply for Bob.

    Raises DecodeError, or :class:`gridlock.crypto.ecdsa.ot_extension.OtConsistencyError` naming
    ``counterparty``.
    """
    if len(a) != ELL:
        raise ValueError("VOLE input has the wrong length")
    rows = ote.sender_extend(setup, sid, XI, message, counterparty)
    delta_bits = np.unpackbits(np.frombuffer(setup.delta, np.uint8), bitorder="little")
    alpha0 = _pads(sid, ote.pack_rows(rows))
    alpha1 = _pads(sid, ote.pack_rows(rows ^ delta_bits[None, :]))
    a_ext = [x % N for x in a] + [secrets.randbelow(N) for _ in range(RHO)]
    a_tilde: list[int] = []
    for j in range(XI):
        p0, p1 = alpha0[j], alpha1[j]
        a_tilde.extend((p0[k] - p1[k] + a_ext[k]) % N for k in range(WIDTH))
    a_tilde_bytes = b"".join(x.to_bytes(_SCALAR, "big") for x in a_tilde)
    theta = _theta(sid, a_tilde_bytes)
    eta = [(a_ext[ELL + k] + sum(theta[i * RHO + k] * a_ext[i] for i in range(ELL))) % N for k in range(RHO)]
    r = []
    for j in range(XI):
        c_hat = alpha0[j]  # ĉ_j = −α⁰_j; signs folded in below
        for k in range(RHO):
            r.append(-(c_hat[ELL + k] + sum(theta[i * RHO + k] * c_hat[i] for i in range(ELL))) % N)
    g = gadget()
    c = [-sum(g[j] * alpha0[j][i] for j in range(XI)) % N for i in range(ELL)]
    reply = a_tilde_bytes + b"".join(x.to_bytes(_SCALAR, "big") for x in eta) + _mu(sid, r)
    return c, reply
