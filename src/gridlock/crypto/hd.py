"""Non-hardened hierarchical derivation of threshold keys, as additive tweaks on the shares.

A child key is ``K' = K + IL·G`` for a public ``IL``; every holder adds ``IL`` to its share and
``IL·G`` to every verifying share.  Since the Lagrange coefficients of any signing set sum to 1,
the shares of the child interpolate to ``s + IL``.  Hardened derivation needs the private key in
one place and is therefore impossible — and refused.

* ``ecdsa-secp256k1`` and ``frost-secp256k1``: exactly BIP32 ``CKDpub`` (``IL‖IR =
  HMAC-SHA512(c, ser_P(K) ‖ ser_32(i))``), so a child agrees with standard public derivation from
  the exported ``xpub``.
* ``frost-taproot`` (documented choice): the vault's key is a BIP86 output key ``Q``.  One step
  derives with BIP32 ``CKDpub`` from ``(Q, c)`` — the ``xpub`` of ``Q`` — to a child *internal*
  key ``P' = Q + IL·G`` and applies the BIP86 tweak to it, so the child at ``m/i`` has exactly the
  address a standard ``tr(X/i)`` descriptor gives for ``X`` = the parent's xpub.  Deeper paths
  repeat this step (each level's xpub is of its output key), so deriving ``m/1`` and then ``m/7``
  equals deriving ``m/1/7``.
* ``frost-ed25519`` (documented choice; no standard exists for non-hardened derivation of plain
  Ed25519 keys — SLIP-10 is hardened only): ``IL = HMAC-SHA512(c, "gridlock/ed25519/IL" ‖ A ‖
  ser_32(i)) mod L`` read little-endian, ``c' = HMAC-SHA512(c, "gridlock/ed25519/IR" ‖ A ‖
  ser_32(i))[:32]``.  Children are standard Ed25519 keys; only the derivation rule is ours.

Export of a child private key is refused (SECURITY #22): with the parent xpub it would reveal the
parent key.  The xpub of a share's key (its BIP32 position included) is
:meth:`gridlock.crypto.keyshare.KeyShare.xpub`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from gridlock.crypto.group import Point
from gridlock.crypto.hashing import hash160
from gridlock.crypto.keyshare import HARDENED, KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import InvalidParameterError


def parse_path(path: str) -> list[int]:
    """``"m/0/1"`` → ``[0, 1]``; hardened steps and malformed paths get a clear error."""
    if not isinstance(path, str):
        raise InvalidParameterError("a derivation path is a string like 'm/0/1'")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise InvalidParameterError(f"derivation path {path!r} must start with 'm'")
    out = []
    for p in parts[1:]:
        if p.endswith(("'", "h", "H")):
            raise InvalidParameterError(
                "hardened derivation needs the whole private key in one place; threshold keys derive non-hardened only"
            )
        if not p.isdigit() or len(p) > 10:
            raise InvalidParameterError(f"bad derivation step {p!r} in {path!r}")
        i = int(p)
        if i >= HARDENED:
            raise InvalidParameterError(f"derivation step {i} is in the hardened range")
        out.append(i)
    if len(out) > 255:
        raise InvalidParameterError("derivation path too deep")
    return out


def child_tweak(scheme_name: str, group_key: Point, chain_code: bytes, i: int) -> tuple[int, bytes]:
    """``(IL, child chain code)`` of step ``i`` from the public key and chain code (module doc):
    BIP32 ``CKDpub`` for secp256k1 keys, the documented HMAC rule for Ed25519.  The one place both
    the shares (:func:`derive_step`) and the public key alone (:func:`derive_public`) derive with."""
    msg = group_key.encode() + i.to_bytes(4, "big")
    q = get_scheme(scheme_name).group.order
    if scheme_name == "frost-ed25519":
        il_bytes = hmac.new(chain_code, b"gridlock/ed25519/IL" + msg, hashlib.sha512).digest()
        ir = hmac.new(chain_code, b"gridlock/ed25519/IR" + msg, hashlib.sha512).digest()[:32]
        return int.from_bytes(il_bytes, "little") % q, ir
    data = hmac.new(chain_code, msg, hashlib.sha512).digest()
    il = int.from_bytes(data[:32], "big")
    if il >= q:
        raise InvalidParameterError(f"BIP32 derivation step {i} is invalid for this key (IL ≥ n); use the next index")
    return il, data[32:]


def derive_step(share: KeyShare, i: int) -> KeyShare:
    """One non-hardened child of this share's key (same holders, threshold, epoch)."""
    scheme = get_scheme(share.scheme)
    group = scheme.group
    q = group.order
    il, chain_code = child_tweak(share.scheme, share.group_key, share.chain_code, i)
    ilg = group.base_mul(il)
    secret = (share.secret + il) % q
    vshares = {j: y + ilg for j, y in share.verifying_shares.items()}
    group_key = share.group_key + ilg
    if group_key.is_identity() or secret == 0:
        raise InvalidParameterError(f"derivation step {i} is invalid for this key; use the next index")
    if share.scheme == "frost-taproot":  # child internal key → its BIP86 output key
        secret, vshares, group_key = scheme.apply_keygen_tweak(secret, vshares, group_key)
    return replace(
        share,
        secret=secret,
        verifying_shares=vshares,
        group_key=group_key,
        chain_code=chain_code,
        depth=share.depth + 1,
        parent_fingerprint=fingerprint(share),
        child_number=i,
        banned=share.banned,
    )


def derive_public(scheme_name: str, group_key: bytes, chain_code: bytes, path: str) -> bytes:
    """The public key (the scheme's encoding) at ``path`` of the key with this group element and
    chain code — what :func:`derive` gives the shares, from public data only, so a client can show a
    child address without asking the guardians to derive (they report ``group_key`` and
    ``chain_code``).  For ``frost-taproot`` each level applies the BIP86 tweak, as :func:`derive_step`."""
    scheme = get_scheme(scheme_name)
    group = scheme.group
    point = group.decode(group_key)
    code = chain_code
    for i in parse_path(path):
        il, code = child_tweak(scheme.name, point, code, i)
        point = point + group.base_mul(il)
        if point.is_identity():
            raise InvalidParameterError(f"derivation step {i} is invalid for this key; use the next index")
        if scheme.name == "frost-taproot":
            negate, t = scheme.post_keygen_tweak(point)
            point = (-point if negate else point) + group.base_mul(t)
    return scheme.public_key_bytes(point)


def derive(share: KeyShare, path: str) -> KeyShare:
    for i in parse_path(path):
        share = derive_step(share, i)
    return share


def fingerprint(share: KeyShare) -> bytes:
    return hash160(share.group_key.encode())[:4]
