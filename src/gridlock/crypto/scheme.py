"""What a signature scheme contributes to key generation: its group, its DKG proof hash,
how its public key is presented, and any post-keygen adjustment (the Taproot tweak)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from gridlock.crypto.group import Group, Point


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
