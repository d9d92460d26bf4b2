"""The registry of schemes a key share can belong to."""

from __future__ import annotations

from gridlock.crypto.ecdsa.scheme import ECDSA_SECP256K1
from gridlock.crypto.scheme import Scheme
from gridlock.crypto.suites import FROST_ED25519, FROST_SECP256K1, FROST_TAPROOT, FrostSuite
from gridlock.errors import InvalidParameterError

SCHEMES: dict[str, Scheme] = {s.name: s for s in (FROST_ED25519, FROST_SECP256K1, FROST_TAPROOT, ECDSA_SECP256K1)}


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SCHEMES))
        raise InvalidParameterError(f"unknown scheme {name!r}; expected one of: {known}") from None


def get_frost_suite(name: str) -> FrostSuite:
    scheme = get_scheme(name)
    if not isinstance(scheme, FrostSuite):
        raise InvalidParameterError(f"scheme {name!r} does not sign with FROST")
    return scheme
