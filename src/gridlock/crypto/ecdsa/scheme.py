"""The ``ecdsa-secp256k1`` scheme: its DKG proof hash, public-key presentation and the key share's
extension field (the pairwise OT setup, :mod:`gridlock.crypto.ecdsa.setup`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gridlock.crypto.hashing import hash_to_field_secp256k1
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.secp256k1 import SECP256K1


class EcdsaSecp256k1(Scheme):
    name = "ecdsa-secp256k1"
    group = SECP256K1
    context = b"GRIDLOCK-DKLS23-secp256k1-v1"

    def hdkg(self, m: bytes) -> int:
        return hash_to_field_secp256k1(m, self.context + b"dkg", self.group.order)

    def check_ext(self, ext: Mapping[Any, Any], index: int, participants: Sequence[int]) -> None:
        """Exactly the OT setup with every other participant, every size checked."""
        # the OT modules (and numpy) load when a share with an OT setup is first read, not with the
        # scheme registry
        from gridlock.crypto.ecdsa.setup import decode_ext  # noqa: PLC0415

        decode_ext(ext, index, participants)


ECDSA_SECP256K1 = EcdsaSecp256k1()
