"""Bringing an existing key in, and taking the key out (the owner's emergency exit).

* :func:`split` — Shamir-share an existing secret among ``n`` holders (RFC 9591 App. C
  ``trusted_dealer_keygen`` with a given secret, ZF ``keys::split``).  The dealer is the owner's
  own device, which already holds the key; the shares record ``origin = "import"`` so nobody
  mistakes the key for one that never existed in one place.
* :func:`reconstruct` — Lagrange interpolation of ``t`` shares of one epoch (RFC 9591 App. C.1
  ``secret_share_combine``), checked against the group key before it is returned.  Child keys
  are refused (SECURITY #22).

Secret formats: ``frost-ed25519`` imports an RFC 8032 seed (the scalar is the clamped first half
of ``SHA-512(seed)``, so the public key equals the standard Ed25519 key of that seed) and exports
the 32-byte little-endian scalar (a seed cannot be recovered from a scalar); secp256k1 schemes use
the 32-byte big-endian scalar.  ``frost-taproot`` imports the wallet's *internal* key and shares
its BIP86-tweaked output key (the key that spends the address), keeping the internal key for BIP32
derivation; export returns that tweaked scalar, whose x-only public key is ``public_key``.
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets
from collections.abc import Sequence

from gridlock.crypto import transcript, vss
from gridlock.crypto.keyshare import TAPROOT, KeyShare, validate_threshold
from gridlock.crypto.polynomial import Polynomial, interpolate
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import InvalidParameterError

IMPORT_LABEL = b"gridlock/import/transcript/v1"


def secret_scalar(scheme: str, secret: bytes) -> int:
    """The scalar an imported secret stands for (see the module docstring)."""
    sch = get_scheme(scheme)
    if not isinstance(secret, bytes | bytearray) or len(secret) != 32:
        raise InvalidParameterError("the secret must be 32 bytes")
    if sch.name == "frost-ed25519":
        h = bytearray(hashlib.sha512(bytes(secret)).digest()[:32])
        h[0] &= 248
        h[31] &= 127
        h[31] |= 64
        k = int.from_bytes(h, "little") % sch.group.order
    else:
        k = int.from_bytes(secret, "big")
        if not 0 < k < sch.group.order:
            raise InvalidParameterError("the secret is not a valid secp256k1 private key")
    return k


def split(scheme: str, secret: bytes, threshold: int, n: int, chain_code: bytes | None = None) -> list[KeyShare]:
    """Deal shares of an existing key to holders ``1..n`` (all at epoch 0, origin ``import``)."""
    sch = get_scheme(scheme)
    validate_threshold(threshold, n)
    if chain_code is None:
        chain_code = pysecrets.token_bytes(32)
    if not isinstance(chain_code, bytes | bytearray) or len(chain_code) != 32:
        raise InvalidParameterError("the chain code must be 32 bytes")
    group = sch.group
    poly = Polynomial.random(group, threshold - 1, secret_scalar(scheme, secret))
    commitment = vss.commit(group, poly)
    ids = list(range(1, n + 1))
    vshares = {j: vss.evaluate(group, commitment, j) for j in ids}
    group_key = commitment[0]
    th = transcript.digest(
        IMPORT_LABEL, sch.name.encode(), pysecrets.token_bytes(32), *(c.encode() for c in commitment)
    )
    out = []
    for j in ids:
        s, vs, gk = sch.apply_keygen_tweak(poly(j), vshares, group_key)
        out.append(
            KeyShare(
                scheme=sch.name,
                index=j,
                threshold=threshold,
                participants=tuple(ids),
                secret=s,
                verifying_shares=vs,
                group_key=gk,
                chain_code=bytes(chain_code),
                transcript_hash=th,
                origin="import",
                internal_key=group_key if sch.name == TAPROOT else None,
            )
        )
    return out


def reconstruct(shares: Sequence[KeyShare]) -> bytes:
    """The group secret from ``t`` or more shares of one key and epoch, verified against the key."""
    first = shares[0]
    if any(s.depth for s in shares):
        raise InvalidParameterError(
            "export of a derived child key is refused: with the parent xpub it reveals the parent key"
        )
    sch = get_scheme(first.scheme)
    group = sch.group
    k = interpolate({s.index: s.secret for s in shares}, group.order)
    if group.base_mul(k) != first.group_key:
        raise InvalidParameterError("the shares do not reconstruct the group key (mixed or corrupted shares)")
    return group.scalar_to_bytes(k)
