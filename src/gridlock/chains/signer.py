"""The seam every chain signs through: :class:`Signer`, and the check of what a caller passes as one."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Signer(Protocol):
    """What chain code signs through: a scheme name, the group public key, and ``sign``.

    For ``ecdsa-secp256k1`` ``sign`` takes a 32-byte digest and returns 64-byte low-S ``r‖s``;
    for FROST schemes it takes the message itself and returns the scheme's signature.
    """

    @property
    def scheme(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


def signer_public_key(signer: object, scheme: str, error: type[Exception], needs: str) -> bytes:
    """The public key of a signer that signs with ``scheme``; otherwise ``error(needs)``.

    The signer comes from the caller, so anything may arrive: it is checked, never trusted.
    """
    if getattr(signer, "scheme", None) != scheme:
        raise error(needs)
    public_key = getattr(signer, "public_key", None)
    if not isinstance(public_key, bytes):
        raise error("the signer's public key must be bytes")
    return public_key
