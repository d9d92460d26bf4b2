"""Non-hardened hierarchical derivation of threshold keys, as additive tweaks on the shares.

A child key is ``K' = K + IL·G`` for a public ``IL``; every holder adds ``IL`` to its share and
``IL·G`` to every verifying share.  Since the Lagrange coefficients of any signing set sum to 1,
the shares of the child interpolate to ``s + IL``.  Hardened derivation needs the private key in
one place and is therefore impossible — and refused.

* ``ecdsa-secp256k1`` and ``frost-secp256k1``: exactly BIP32 ``CKDpub`` (``IL‖IR =
  HMAC-SHA512(c, ser_P(K) ‖ ser_32(i))``), so a child agrees with standard public derivation from
  the exported ``xpub``.
* ``frost-taproot``: BIP32 + BIP86 exactly.  The vault keeps its *internal* key ``P`` (the DKG's
  untweaked key) and its xpub is ``P``'s.  Derivation is ``CKDpub`` over internal keys only, and
  the BIP86 tweak ``Q = lift_x(x(P')) + H_TapTweak(x(P'))·G`` is applied once, at the leaf — so the
  child at ``m/0/7`` is the key of a standard ``tr(xpub/0/7)`` descriptor, and the vault's own key
  ``Q`` is ``tr(xpub)``.  A share holds ``Q``'s sharing; to derive, it removes the tweak
  (``s_P = ±(s_Q − t)``), adds ``IL`` and tweaks again for the child.
* ``frost-ed25519`` (documented choice; no standard exists for non-hardened derivation of plain
  Ed25519 keys — SLIP-10 is hardened only): ``IL = HMAC-SHA512(c, "gridlock/ed25519/IL" ‖ A ‖
  ser_32(i)) mod L`` read little-endian, ``c' = HMAC-SHA512(c, "gridlock/ed25519/IR" ‖ A ‖
  ser_32(i))[:32]``.  Children are standard Ed25519 keys; only the derivation rule is ours.

:class:`HdRoot` is the public side — the untweaked key and chain code fixed at keygen, which the
owner's vault book keeps — and derives every child public key (and its xpub) without a share.

Export of a child private key is refused (SECURITY #22): with the parent xpub it would reveal the
parent key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gridlock.crypto.group import Point
from gridlock.crypto.hashing import hash160
from gridlock.crypto.keyshare import HARDENED, SECP_SCHEMES, TAPROOT, KeyShare, serialize_xpub
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError

MAX_DEPTH = 32  # steps in a path; wallets use 1 to 5 (BIP44's is 5, of which 3 are hardened)


def parse_path(path: str) -> list[int]:
    """``"m/0/1"`` → ``[0, 1]``; hardened steps and malformed paths get a clear error."""
    if not isinstance(path, str):
        raise InvalidParameterError("a derivation path is a string like 'm/0/1'")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise InvalidParameterError(f"derivation path {path[:40]!r} must start with 'm'")
    out = []
    for p in parts[1:]:
        if p.endswith(("'", "h", "H")):
            raise InvalidParameterError(
                "hardened derivation needs the whole private key in one place; threshold keys derive non-hardened only"
            )
        if not p.isdigit() or len(p) > 10:
            raise InvalidParameterError(f"bad derivation step {p[:12]!r} in {path[:40]!r}")
        i = int(p)
        if i >= HARDENED:
            raise InvalidParameterError(f"derivation step {i} is in the hardened range")
        out.append(i)
    if len(out) > MAX_DEPTH:
        raise InvalidParameterError(f"derivation path deeper than {MAX_DEPTH} steps")
    return out


def format_path(steps: Sequence[int]) -> str:
    """``[0, 1]`` → ``"m/0/1"`` (the inverse of :func:`parse_path`)."""
    return "/".join(["m", *(str(i) for i in steps)])


def canonical_path(path: str) -> str:
    """The one spelling of a path (``"m/007"`` → ``"m/7"``), checked."""
    return format_path(parse_path(path))


def child_tweak(scheme_name: str, key: Point, chain_code: bytes, i: int) -> tuple[int, bytes]:
    """``(IL, child chain code)`` of step ``i`` from the untweaked public key and chain code (module
    doc): BIP32 ``CKDpub`` for secp256k1 keys, the documented HMAC rule for Ed25519.  The one place
    both the shares (:func:`derive_step`) and the public side (:class:`HdRoot`) derive with."""
    msg = key.encode() + i.to_bytes(4, "big")
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


def key_fingerprint(key: Point) -> bytes:
    """BIP32 key identifier's first 4 bytes: ``HASH160(ser_P(K))[:4]`` (of the untweaked key)."""
    return hash160(key.encode())[:4]


def fingerprint(share: KeyShare) -> bytes:
    """The fingerprint of a share's key, BIP32's (of ``P`` for Taproot)."""
    return key_fingerprint(share.untweaked_key)


def derive_step(share: KeyShare, i: int) -> KeyShare:
    """One non-hardened child of this share's key (same holders, threshold, epoch)."""
    scheme = get_scheme(share.scheme)
    group = scheme.group
    q = group.order
    secret, vshares, key = share.secret, dict(share.verifying_shares), share.untweaked_key
    if share.scheme == TAPROOT:  # undo the BIP86 tweak: shares of P from shares of Q = ±P + t·G
        negate, t = scheme.post_keygen_tweak(key)
        tg = group.base_mul(t)
        secret = (secret - t) * (-1 if negate else 1) % q
        vshares = {j: -(y - tg) if negate else y - tg for j, y in vshares.items()}
    il, chain_code = child_tweak(share.scheme, key, share.chain_code, i)
    ilg = group.base_mul(il)
    secret = (secret + il) % q
    vshares = {j: y + ilg for j, y in vshares.items()}
    key = key + ilg
    if key.is_identity() or secret == 0:
        raise InvalidParameterError(f"derivation step {i} is invalid for this key; use the next index")
    internal = None
    group_key = key
    if share.scheme == TAPROOT:  # the child's own BIP86 output key
        internal = key
        secret, vshares, group_key = scheme.apply_keygen_tweak(secret, vshares, key)
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
        internal_key=internal,
    )


def derive(share: KeyShare, path: str) -> KeyShare:
    """The share of the child key at ``path`` (``"m"``: the share itself)."""
    for i in parse_path(path):
        share = derive_step(share, i)
    return share


@dataclass(frozen=True)
class HdRoot:
    """The public root of a vault's key tree: its scheme, the untweaked key (BIP32's; Taproot's
    internal key ``P``) and the chain code, fixed at keygen.  Everything public about a child —
    its key, its internal key, its xpub — is derived from this alone (module doc)."""

    scheme: str
    key: Point
    chain_code: bytes

    def __post_init__(self) -> None:
        get_scheme(self.scheme)
        if not isinstance(self.chain_code, bytes) or len(self.chain_code) != 32:
            raise InvalidParameterError("a chain code is 32 bytes")
        if not isinstance(self.key, Point) or self.key.is_identity():
            raise InvalidParameterError("the root key must be a group element other than the identity")

    @classmethod
    def from_bytes(cls, scheme: str, key: bytes, chain_code: bytes) -> HdRoot:
        """From the encodings the guardians report and the vault book keeps (a :class:`DecodeError`
        for a key that is not a group element)."""
        group = get_scheme(scheme).group
        if not isinstance(key, bytes):
            raise DecodeError("the root key must be bytes")
        return cls(get_scheme(scheme).name, group.decode(key), bytes(chain_code))

    @classmethod
    def of(cls, share: KeyShare) -> HdRoot:
        return cls(share.scheme, share.untweaked_key, share.chain_code)

    @property
    def key_bytes(self) -> bytes:
        return self.key.encode()

    def fingerprint(self) -> bytes:
        return key_fingerprint(self.key)

    def untweaked(self, path: str | Sequence[int]) -> tuple[Point, bytes]:
        """The untweaked child key (Taproot: the child's internal key) and its chain code."""
        steps = parse_path(path) if isinstance(path, str) else list(path)
        point, code = self.key, self.chain_code
        group = get_scheme(self.scheme).group
        for i in steps:
            il, code = child_tweak(self.scheme, point, code, i)
            point = point + group.base_mul(il)
            if point.is_identity():
                raise InvalidParameterError(f"derivation step {i} is invalid for this key; use the next index")
        return point, code

    def public_key(self, path: str | Sequence[int] = "m") -> bytes:
        """The child's public key as chains use it (the vault's ``public_key`` at ``"m"``): for
        Taproot the x-only BIP86 output key of the child's internal key."""
        scheme = get_scheme(self.scheme)
        point, _ = self.untweaked(path)
        if self.scheme == TAPROOT:
            negate, t = scheme.post_keygen_tweak(point)
            point = (-point if negate else point) + scheme.group.base_mul(t)
        return scheme.public_key_bytes(point)

    def xpub(self, network: str = "mainnet") -> str:
        """The root's BIP32 xpub (depth 0; ``tpub`` on the test networks): what a watch-only wallet
        imports.  secp256k1 schemes only."""
        if self.scheme not in SECP_SCHEMES:
            raise InvalidParameterError("xpub exists for secp256k1 keys only")
        return serialize_xpub(network, 0, bytes(4), 0, self.chain_code, self.key)


def derive_public(scheme_name: str, key: bytes, chain_code: bytes, path: str) -> bytes:
    """The public key at ``path`` of the root with this untweaked key (Taproot: internal key) and
    chain code — what :func:`derive` gives the shares, from public data only."""
    return HdRoot.from_bytes(scheme_name, key, chain_code).public_key(path)
