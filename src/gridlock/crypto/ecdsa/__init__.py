"""Threshold ECDSA on secp256k1: DKLs23 ("Threshold ECDSA in Three Rounds", Doerner–Kondi–Lee–shelat,
ePrint 2023/765).

Module map (one building block each):

* :mod:`.base_ot` — Masny–Rindal endemic base OT (ePrint 2019/706), 128 per ordered pair at keygen;
* :mod:`.ot_extension` — KOS15 OT extension (ePrint 2015/546), κ = 128, statistical security 80;
* :mod:`.vole` — DKLs23 Protocol 5.2 random vector OLE (ξ = 416, ℓ = 2, ρ = 1);
* :mod:`.setup` — the pairwise OT setup and zero-sharing seeds made at keygen, stored in the key share;
* :mod:`.signing` — DKLs23 Protocol 3.6: presigning (message independent), bans, the session id;
* :mod:`.online` — the single-use presignature and the online round.

No Paillier, no safe primes: every public-key operation is a secp256k1 scalar multiplication in
libsecp256k1; bit-matrix work is vectorised with numpy.
"""
