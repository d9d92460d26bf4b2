"""FROST ciphersuites (RFC 9591 §6) and the BIP340/Taproot variant.

* ``FROST(Ed25519, SHA-512)`` — RFC 9591 §6.1, context ``FROST-ED25519-SHA512-v1``.
* ``FROST(secp256k1, SHA-256)`` — RFC 9591 §6.5, context ``FROST-secp256k1-SHA256-v1``.
* ``FROST-secp256k1-SHA256-TR-v1`` — the suite of the Zcash Foundation's
  ``frost-secp256k1-tr`` crate (no RFC exists): H2 is the BIP340 challenge over
  x-only R and key; the signing key is negated when the group key has odd y and
  the nonces when R has odd y; after keygen the group key is tweaked to its
  BIP86 output key ``Q = P_even + H_TapTweak(x(P))·G`` (BIP341 "no script path").
"""

from __future__ import annotations

import hashlib

from coincurve import PublicKeyXOnly
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from gridlock.crypto.ed25519 import ED25519
from gridlock.crypto.group import Point
from gridlock.crypto.hashing import hash_to_field_secp256k1, tagged_hash
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.secp256k1 import SECP256K1, Secp256k1Point
from gridlock.errors import DecodeError


class FrostSuite(Scheme):
    """RFC 9591 §6 hash functions H1–H5, plus HDKG; hooks for the Taproot variant."""

    context: bytes
    signature_len: int

    def H1(self, m: bytes) -> int:
        raise NotImplementedError

    def H2(self, m: bytes) -> int:
        raise NotImplementedError

    def H3(self, m: bytes) -> int:
        raise NotImplementedError

    def H4(self, m: bytes) -> bytes:
        raise NotImplementedError

    def H5(self, m: bytes) -> bytes:
        raise NotImplementedError

    def challenge(self, R: Point, Y: Point, msg: bytes) -> int:
        """RFC 9591 §4.6 ``compute_challenge``."""
        return self.H2(R.encode() + Y.encode() + msg)

    def signing_key_negated(self, group_key: Point) -> bool:
        """Whether signers use ``-s`` (BIP340 even-y rule); never for RFC suites."""
        return False

    def nonce_negated(self, R: Point) -> bool:
        """Whether signers use ``-(d + ρe)`` for this group commitment (BIP340 even-y rule)."""
        return False

    def serialize_signature(self, R: Point, z: int) -> bytes:
        return R.encode() + self.group.scalar_to_bytes(z)

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        """Plain single-signer verification of the scheme's standard signature."""
        raise NotImplementedError


class Ed25519Sha512(FrostSuite):
    name = "frost-ed25519"
    group = ED25519
    context = b"FROST-ED25519-SHA512-v1"
    signature_len = 64

    def _h(self, *parts: bytes) -> bytes:
        return hashlib.sha512(b"".join(parts)).digest()

    def H1(self, m: bytes) -> int:
        return int.from_bytes(self._h(self.context, b"rho", m), "little") % self.group.order

    def H2(self, m: bytes) -> int:
        # RFC 9591 §6.1: no context string, so signatures are plain RFC 8032 Ed25519.
        return int.from_bytes(self._h(m), "little") % self.group.order

    def H3(self, m: bytes) -> int:
        return int.from_bytes(self._h(self.context, b"nonce", m), "little") % self.group.order

    def H4(self, m: bytes) -> bytes:
        return self._h(self.context, b"msg", m)

    def H5(self, m: bytes) -> bytes:
        return self._h(self.context, b"com", m)

    def hdkg(self, m: bytes) -> int:
        return int.from_bytes(self._h(self.context, b"dkg", m), "little") % self.group.order

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        """RFC 8032 §5.1.7 as libsodium implements it (rejects small-order keys and R, non-canonical S)."""
        if len(public_key) != 32 or len(sig) != 64:
            return False
        try:
            VerifyKey(public_key).verify(msg, sig)
        except (BadSignatureError, CryptoError, ValueError):
            return False
        return True


class Secp256k1Sha256(FrostSuite):
    name = "frost-secp256k1"
    group = SECP256K1
    context = b"FROST-secp256k1-SHA256-v1"
    signature_len = 65

    def _field(self, tag: bytes, m: bytes) -> int:
        return hash_to_field_secp256k1(m, self.context + tag, self.group.order)

    def H1(self, m: bytes) -> int:
        return self._field(b"rho", m)

    def H2(self, m: bytes) -> int:
        return self._field(b"chal", m)

    def H3(self, m: bytes) -> int:
        return self._field(b"nonce", m)

    def H4(self, m: bytes) -> bytes:
        return hashlib.sha256(self.context + b"msg" + m).digest()

    def H5(self, m: bytes) -> bytes:
        return hashlib.sha256(self.context + b"com" + m).digest()

    def hdkg(self, m: bytes) -> int:
        return self._field(b"dkg", m)

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        """RFC 9591 §4.6 / App. B Schnorr verification: ``z·G == R + c·Y``."""
        if len(sig) != 65:
            return False
        try:
            Y = self.group.decode(public_key)
            R = self.group.decode(sig[:33])
            z = self.group.decode_scalar(sig[33:])
        except DecodeError:
            return False
        c = self.challenge(R, Y, msg)
        return self.group.base_mul(z) == R + c * Y


class Secp256k1Sha256TR(Secp256k1Sha256):
    name = "frost-taproot"
    context = b"FROST-secp256k1-SHA256-TR-v1"
    signature_len = 64

    def H2(self, m: bytes) -> int:
        return int.from_bytes(tagged_hash("BIP0340/challenge", m), "big") % self.group.order

    def challenge(self, R: Point, Y: Point, msg: bytes) -> int:
        return self.H2(R.encode()[1:] + Y.encode()[1:] + msg)

    def signing_key_negated(self, group_key: Point) -> bool:
        assert isinstance(group_key, Secp256k1Point)
        return not group_key.has_even_y()

    def nonce_negated(self, R: Point) -> bool:
        assert isinstance(R, Secp256k1Point)
        return not R.has_even_y()

    def serialize_signature(self, R: Point, z: int) -> bytes:
        return R.encode()[1:] + self.group.scalar_to_bytes(z)

    def public_key_bytes(self, group_key: Point) -> bytes:
        """The 32-byte x-only Taproot output key (BIP340 ``bytes(Q)``)."""
        return group_key.encode()[1:]

    def post_keygen_tweak(self, group_key: Point) -> tuple[bool, int]:
        """BIP86/BIP341 key-path-only output key: ``Q = P_even + H_TapTweak(x(P))·G``.

        Committing to an unspendable script path stops a participant from
        slipping a rogue script tree into the joint key (BIP341 footnote 22).
        """
        negate = self.signing_key_negated(group_key)
        t = int.from_bytes(tagged_hash("TapTweak", group_key.encode()[1:]), "big")
        if t >= self.group.order:  # probability ~2^-128; BIP341 says such a key is unusable
            raise ValueError("TapTweak out of range")
        return negate, t

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        """BIP340 verification by libsecp256k1."""
        if len(public_key) != 32 or len(sig) != 64:
            return False
        try:
            return bool(PublicKeyXOnly(public_key).verify(sig, msg))
        except (ValueError, TypeError):
            return False


FROST_ED25519 = Ed25519Sha512()
FROST_SECP256K1 = Secp256k1Sha256()
FROST_TAPROOT = Secp256k1Sha256TR()
