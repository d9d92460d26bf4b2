"""``make demo``: 3-of-5 distributed key generation and threshold signing for every scheme, in one process.

Every participant is a separate protocol state machine exchanging serialised
messages over the in-memory network; signatures are checked with each
scheme's standard verifier (libsodium Ed25519, RFC 9591 Schnorr, libsecp256k1
BIP340).  Later issues turn this into the networked devnet.
"""

from __future__ import annotations

import hashlib
import itertools
import time

from gridlock import local
from gridlock.errors import InvalidParameterError

SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")


def main() -> None:
    message = b"Gridlock demo: any 3 of 5 guardians sign; the key never exists in one place."
    print(f"message: {message.decode()}\n")
    rows = []
    for scheme in SCHEMES:
        # threshold ECDSA signs a 32-byte digest; the FROST schemes sign the message itself
        to_sign = hashlib.sha256(message).digest() if scheme == "ecdsa-secp256k1" else message
        t0 = time.perf_counter()
        shares = local.keygen(scheme, threshold=3, n=5)
        keygen_ms = (time.perf_counter() - t0) * 1e3
        pk = shares[0].public_key
        print(f"== {scheme}: 3-of-5 DKG in {keygen_ms:.1f} ms")
        print(f"   group public key ({len(pk)} bytes): {pk.hex()}")
        subsets = list(itertools.combinations(shares, 3))
        t0 = time.perf_counter()
        sigs = [local.sign(list(subset), to_sign) for subset in subsets]
        sign_ms = (time.perf_counter() - t0) * 1e3 / len(subsets)
        ok = all(local.verify(scheme, pk, to_sign, s) for s in sigs)
        print(f"   signed by all {len(subsets)} subsets of 3 guardians, {sign_ms:.1f} ms each; all verify: {ok}")
        print(f"   signature by guardians 1,2,3 ({len(sigs[0])} bytes): {sigs[0].hex()}")
        try:
            local.sign(shares[:2], to_sign)
            refused = False
        except InvalidParameterError as exc:
            refused = True
            print(f"   two guardians alone are refused: {exc}")
        rows.append((scheme, keygen_ms, sign_ms, ok and refused))
        print()
    print(f"{'scheme':<18}{'DKG ms':>10}{'sign ms':>10}  result")
    for scheme, k, s, good in rows:
        print(f"{scheme:<18}{k:>10.1f}{s:>10.1f}  {'ok' if good else 'FAILED'}")
    if not all(r[3] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
