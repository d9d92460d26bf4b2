"""A DKLs23 presignature and the online round that spends it (ePrint 2023/765, Protocol 3.6, last step).

The presignature ``(R, u_i, v_i, φ_i)`` with ``u = Σu_i = r·φ`` and ``v = Σv_i = sk·φ`` comes out of
:class:`gridlock.crypto.ecdsa.signing.Presigner`.  Online: ``w_i = H(m)·φ_i + r_x·v_i``;
``s = Σw / Σu = (H(m) + r_x·sk)/r``, normalised to low S and verified against the group key by
libsecp256k1 before it is released.  Every online share is checked against its sender's presigning
commitments ``(Φ_j, U_j, X_j)``, so a bad share names its sender; consistent false commitments are
not attributable (see :mod:`gridlock.crypto.ecdsa.signing`) and end with suspects.

Two signatures with one presignature reveal the key share, so a presignature has one usable copy.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gridlock.crypto import codec
from gridlock.crypto.group import Point
from gridlock.crypto.secp256k1 import SECP256K1, N, Secp256k1Point
from gridlock.errors import DecodeError, InvalidParameterError, NonceReuseError, ProtocolAbort, blame_malformed

G = SECP256K1


def _pt(data: object) -> Point:
    return codec.point(G, data)


def _sc(data: object) -> int:
    return codec.scalar(G, data)


class PresignatureStore(Protocol):
    """Durable single-use storage of serialised presignatures (the guardian's keystore is one).

    ``take`` must record the presignature as used, durably, and erase it *before* it returns the
    bytes, and refuse a second take of the same id — including after a restart.
    """

    def take(self, presig_id: bytes, /) -> bytes: ...


@dataclass(repr=False)
class Presignature:
    """One signer's single-use presignature (the output of the presigning rounds).

    Signing twice with one presignature reveals the key share, so there is only ever one usable
    copy: :meth:`take` erases the secret from the object, :meth:`to_bytes` moves it out of the
    object into the bytes, and bytes come back only through :meth:`take_from`, which goes through
    a :class:`PresignatureStore` that refuses a second take.
    """

    presig_id: bytes
    index: int
    signers: tuple[int, ...]
    group_key: Point
    R: Point
    r_x: int
    commitments: dict[int, tuple[Point, Point, Point]]  # j -> (Φ_j, U_j, X_j)
    _secrets: tuple[int, int, int] | None  # (φ_i, u_i, v_i)

    @property
    def used(self) -> bool:
        return self._secrets is None

    def take(self) -> tuple[int, int, int]:
        """Hand out the secret part and erase it in the same step (SECURITY #9)."""
        if self._secrets is None:
            raise NonceReuseError("this presignature was already used; a presignature is never used twice")
        s, self._secrets = self._secrets, None
        return s

    def __repr__(self) -> str:
        state = "used" if self.used else "fresh"
        return f"Presignature(id={self.presig_id.hex()[:16]}, index={self.index}, {state}, <redacted>)"

    def to_bytes(self) -> bytes:
        """Move the presignature into its secret serialisation (store it encrypted and single use).

        The object is spent afterwards: the bytes are the one remaining copy.
        """
        phi_u_v = self.take()
        return codec.dumps(
            {
                0: self.presig_id,
                1: self.index,
                2: list(self.signers),
                3: self.group_key.encode(),
                4: self.R.encode(),
                5: [[j, *(p.encode() for p in c)] for j, c in sorted(self.commitments.items())],
                6: [G.scalar_to_bytes(x) for x in phi_u_v],
            }
        )

    @classmethod
    def take_from(cls, store: PresignatureStore, presig_id: bytes) -> Presignature:
        """Take presignature ``presig_id`` out of ``store`` for its one use."""
        pre = cls._decode(store.take(presig_id))
        if not hmac.compare_digest(pre.presig_id, presig_id):
            raise DecodeError("the store returned another presignature")
        return pre

    @classmethod
    def _decode(cls, data: bytes) -> Presignature:
        m = codec.load_map(data, frozenset(range(7)))
        signers = tuple(codec.get_list(m, 2, max_len=1024))
        if not all(isinstance(j, int) and not isinstance(j, bool) and 0 < j < N for j in signers):
            raise DecodeError("malformed signer list")
        if list(signers) != sorted(set(signers)):
            raise DecodeError("signer list must be sorted and distinct")
        index = codec.get_int(m, 1, 1, N - 1)
        R = _pt(m[4])
        assert isinstance(R, Secp256k1Point)
        commitments: dict[int, tuple[Point, Point, Point]] = {}
        for entry in codec.get_list(m, 5, length=len(signers)):
            if not isinstance(entry, list) or len(entry) != 4 or entry[0] not in signers or entry[0] in commitments:
                raise DecodeError("malformed presignature commitments")
            commitments[entry[0]] = (_pt(entry[1]), _pt(entry[2]), _pt(entry[3]))
        secrets_ = codec.get_list(m, 6, length=3)
        phi, u, v = (_sc(x) for x in secrets_)
        if index not in signers or set(commitments) != set(signers):
            raise DecodeError("presignature does not cover its signers")
        return cls(
            codec.get_bytes(m, 0, 32),
            index,
            signers,
            _pt(m[3]),
            R,
            int.from_bytes(R.x_bytes(), "big") % N,
            commitments,
            (phi, u, v),
        )


def digest_scalar(digest: bytes) -> int:
    """SEC 1 §4.1.3 step 5 for a 32-byte digest and a 256-bit order: the integer, reduced."""
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise InvalidParameterError("ECDSA signs a 32-byte message digest")
    return int.from_bytes(digest, "big") % N


def online_message(presig: Presignature, digest: bytes) -> tuple[bytes, tuple[int, int]]:
    """Consume the presignature and produce this signer's online share ``(w_i, u_i)``."""
    e = digest_scalar(digest)
    phi, u, v = presig.take()
    w = (e * phi + presig.r_x * v) % N
    payload = codec.dumps({0: presig.presig_id, 1: bytes(digest), 2: G.scalar_to_bytes(w), 3: G.scalar_to_bytes(u)})
    return payload, (w, u)


def combine(presig: Presignature, digest: bytes, own: tuple[int, int], inbox: Mapping[int, bytes]) -> bytes:
    """Check every online share against its presigning commitments, combine, normalise, verify."""
    e = digest_scalar(digest)
    shares = {presig.index: own}
    for j, data in inbox.items():
        with blame_malformed(j, "online share"):
            m = codec.load_map(data, frozenset({0, 1, 2, 3}))
            pid, dig = codec.get_bytes(m, 0, 32), codec.get_bytes(m, 1, 32)
            w, u = _sc(m[2]), _sc(m[3])
        if not hmac.compare_digest(pid, presig.presig_id) or not hmac.compare_digest(dig, digest):
            raise ProtocolAbort([j], "presignature-mismatch", "signer used another presignature or message")
        phi_j, u_j, x_j = presig.commitments[j]
        if G.base_mul(u) != u_j or G.base_mul(w) != e * phi_j + x_j:
            raise ProtocolAbort([j], "ecdsa-final-share", "online share inconsistent with its presigning commitments")
        shares[j] = (w, u)
    w_sum = sum(s[0] for s in shares.values()) % N
    u_sum = sum(s[1] for s in shares.values()) % N
    if u_sum == 0:
        raise ProtocolAbort([], "ecdsa-combine", "degenerate presignature")
    s = w_sum * pow(u_sum, -1, N) % N
    s = min(s, N - s)  # low S (BIP62 / EIP-2)
    r = presig.r_x
    if r == 0 or s == 0:
        raise ProtocolAbort([], "ecdsa-combine", "degenerate signature")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if not verify(presig.group_key.encode(), bytes(digest), sig):
        # Every online share matched its sender's round-4 commitments, so some signer committed to
        # false values (the same to everyone); they are sums of pairwise VOLE outputs that no single
        # party can recompute, so nobody can tell who (see the module docstring).
        raise ProtocolAbort(
            [],
            "final-verification",
            "the combined ECDSA signature does not verify: a signer committed to false presigning values",
            suspects=[j for j in presig.signers if j != presig.index],
        )
    return sig


def verify(public_key: bytes, digest: bytes, sig: bytes) -> bool:
    """ECDSA verification of a 64-byte ``r‖s`` (low S required) over a 32-byte digest, by libsecp256k1."""
    if len(sig) != 64 or len(digest) != 32:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s <= N // 2):
        return False
    try:
        return bool(PublicKey(public_key).verify(encode_dss_signature(r, s), digest, hasher=None))
    except (ValueError, TypeError):
        return False
