"""What a signature scheme contributes to key generation: its group, its DKG proof hash,
how its public key is presented, and any post-keygen adjustment (the Taproot tweak)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from gridlock.crypto.group import Group, Point
from gridlock.errors import DecodeError


class Scheme(ABC):
    """A scheme name as stored in key shares and used by the façade (``"frost-ed25519"`` …)."""

    name: str
    group: Group

    @abstractmethod
    def hdkg(self, m: bytes) -> int:
        """Hash to scalar for the DKG proof of knowledge (ZF's ``HDKG``, RFC 9591 §6 context)."""

    def encode_identifier(self, i: int) -> bytes:
        """RFC 9591 §4: identifiers are serialised as scalars."""
        return self.group.scalar_to_bytes(i)

    def public_key_bytes(self, group_key: Point) -> bytes:
        """The façade's ``public_key``: the group element's canonical encoding by default."""
        return group_key.encode()

    def post_keygen_tweak(self, group_key: Point) -> tuple[bool, int]:
        """``(negate, t)`` applied to every fresh sharing: ``s' = ±s + t``.  Identity by default."""
        return False, 0

    def check_ext(self, ext: Mapping[Any, Any], index: int, participants: Sequence[int]) -> None:
        """Check a key share's (non-empty) extension field, scheme-specific data the share carries;
        :class:`DecodeError` if it is not exactly what the scheme stores.  No extension by default."""
        raise DecodeError(f"a {self.name} key share has no extension field")

    def apply_keygen_tweak(
        self, secret: int, vshares: Mapping[int, Point], group_key: Point
    ) -> tuple[int, dict[int, Point], Point]:
        """Apply :meth:`post_keygen_tweak` (BIP86 for Taproot) to a fresh sharing: ``s' = ±s + t``,
        and the same to every verifying share and the group key (``Y' = ±Y + t·G``)."""
        negate, t = self.post_keygen_tweak(group_key)
        if not negate and t == 0:
            return secret, dict(vshares), group_key
        tg = self.group.base_mul(t)
        sign = -1 if negate else 1
        new_vshares = {j: (-y if negate else y) + tg for j, y in vshares.items()}
        return (sign * secret + t) % self.group.order, new_vshares, (-group_key if negate else group_key) + tg
