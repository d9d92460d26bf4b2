"""Output script descriptors for watch-only wallets (BIP380 checksums, BIP381–BIP386 forms).

A vault exports its root xpub (:class:`gridlock.crypto.hd.HdRoot`, of the untweaked key; for
Taproot the internal key) and two ranged descriptors, the usual receive / change layout:

* ``ecdsa-secp256k1`` vaults: ``wpkh(XPUB/0/*)`` and ``wpkh(XPUB/1/*)`` (BIP382, P2WPKH);
* ``frost-taproot`` vaults: ``tr(XPUB/0/*)`` and ``tr(XPUB/1/*)`` (BIP386 with no script tree,
  i.e. BIP86 key-path-only outputs).

Any descriptor wallet (Bitcoin Core's ``importdescriptors``, BDK, Sparrow) then hands out
addresses the guardians can sign for: its child ``/0/i`` is Gridlock's ``m/0/i``.  The xpub is at
depth 0, so a wallet writing PSBT derivation fields names the vault's own fingerprint and the path
from the root, which is how ``sign-tx`` finds the child key of each input.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridlock.crypto.hd import HdRoot
from gridlock.errors import InvalidParameterError

__all__ = ["DESCRIPTOR_SCHEMES", "VaultDescriptors", "checksum", "vault_descriptors", "with_checksum"]

DESCRIPTOR_SCHEMES = {"ecdsa-secp256k1": "wpkh", "frost-taproot": "tr"}

# BIP380: the characters a descriptor may use, in the order that gives each its (group, position);
# the checksum itself is written in the bech32 alphabet
_INPUT = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


def _polymod(values: list[int]) -> int:
    """BIP380's BCH code over GF(32): a degree-8 generator, 40-bit state."""
    state = 1
    for v in values:
        top = state >> 35
        state = ((state & 0x7FFFFFFFF) << 5) ^ v
        for bit, g in enumerate(_GEN):
            if (top >> bit) & 1:
                state ^= g
    return state


def _symbols(text: str) -> list[int]:
    """Each character's low 5 bits, and after every three characters their high bits packed as one
    more symbol (the leftover one or two at the end packed the same way)."""
    out: list[int] = []
    pending: list[int] = []
    for ch in text:
        pos = _INPUT.find(ch)
        if pos < 0:
            raise InvalidParameterError(f"character {ch!r} cannot appear in a descriptor")
        out.append(pos & 31)
        pending.append(pos >> 5)
        if len(pending) == 3:
            out.append(pending[0] * 9 + pending[1] * 3 + pending[2])
            pending = []
    if len(pending) == 1:
        out.append(pending[0])
    elif len(pending) == 2:
        out.append(pending[0] * 3 + pending[1])
    return out


def checksum(descriptor: str) -> str:
    """The 8-character BIP380 checksum of ``descriptor`` (without a ``#``)."""
    value = _polymod([*_symbols(descriptor), 0, 0, 0, 0, 0, 0, 0, 0]) ^ 1
    return "".join(_BECH32[(value >> (5 * (7 - k))) & 31] for k in range(8))


def with_checksum(descriptor: str) -> str:
    """``descriptor#checksum``; a descriptor that already has one must have the right one."""
    body, sep, given = descriptor.partition("#")
    want = checksum(body)
    if sep and given != want:
        raise InvalidParameterError(f"descriptor checksum {given!r} is wrong (expected {want!r})")
    return f"{body}#{want}"


@dataclass(frozen=True)
class VaultDescriptors:
    """What a watch-only wallet imports: the xpub, the receive and change descriptors (checksummed),
    and the root fingerprint PSBT derivation fields name."""

    scheme: str
    network: str
    xpub: str
    fingerprint: str  # hex
    receive: str
    change: str

    def as_dict(self) -> dict[str, str]:
        return {
            "scheme": self.scheme,
            "network": self.network,
            "xpub": self.xpub,
            "fingerprint": self.fingerprint,
            "receive": self.receive,
            "change": self.change,
        }


def vault_descriptors(root: HdRoot, network: str = "mainnet") -> VaultDescriptors:
    """The receive (``/0/*``) and change (``/1/*``) descriptors of a vault that holds bitcoin."""
    kind = DESCRIPTOR_SCHEMES.get(root.scheme)
    if kind is None:
        raise InvalidParameterError(
            f"a {root.scheme} vault holds no bitcoin: descriptors exist for {' and '.join(DESCRIPTOR_SCHEMES)} vaults"
        )
    xpub = root.xpub(network)
    return VaultDescriptors(
        root.scheme,
        network,
        xpub,
        root.fingerprint().hex(),
        with_checksum(f"{kind}({xpub}/0/*)"),
        with_checksum(f"{kind}({xpub}/1/*)"),
    )
