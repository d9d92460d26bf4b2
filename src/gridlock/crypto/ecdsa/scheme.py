"""The ``ecdsa-secp256k1`` scheme: its DKG proof hash and public-key presentation."""

from __future__ import annotations

from gridlock.crypto.hashing import hash_to_field_secp256k1
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.secp256k1 import SECP256K1


class EcdsaSecp256k1(Scheme):
    name = "ecdsa-secp256k1"
    group = SECP256K1
    context = b"GRIDLOCK-DKLS23-secp256k1-v1"

    def hdkg(self, m: bytes) -> int:
        return hash_to_field_secp256k1(m, self.context + b"dkg", self.group.order)


ECDSA_SECP256K1 = EcdsaSecp256k1()
