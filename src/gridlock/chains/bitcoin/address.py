"""Output scripts and addresses: P2WPKH (bech32, BIP173) and P2TR (bech32m, BIP350), any network.

Bech32/bech32m come from PyPI ``bech32m`` (Pieter Wuille's BIP350 reference code, packaged with
types); the older PyPI ``bech32`` package predates BIP350 and cannot encode Taproot addresses.
Base58Check (only to *show* legacy P2PKH/P2SH recipients in summaries) comes from ``base58``.
"""

from __future__ import annotations

from dataclasses import dataclass

import base58
import bech32m  # type: ignore[import-untyped,unused-ignore]  # no py.typed; see the package notes
from coincurve import PublicKey, PublicKeyXOnly

from gridlock.chains.bitcoin.errors import AddressError
from gridlock.crypto.hashing import hash160


@dataclass(frozen=True)
class Network:
    name: str
    hrp: str
    p2pkh_prefix: int
    p2sh_prefix: int


NETWORKS: dict[str, Network] = {
    "mainnet": Network("mainnet", "bc", 0x00, 0x05),
    "testnet": Network("testnet", "tb", 0x6F, 0xC4),
    "testnet4": Network("testnet4", "tb", 0x6F, 0xC4),
    "signet": Network("signet", "tb", 0x6F, 0xC4),
    "regtest": Network("regtest", "bcrt", 0x6F, 0xC4),
}
KINDS = ("p2wpkh", "p2tr")


def get_network(network: str) -> Network:
    try:
        return NETWORKS[network]
    except (KeyError, TypeError):
        raise AddressError(f"unknown network {network!r}; expected one of {', '.join(NETWORKS)}") from None


def check_compressed_pubkey(public_key: bytes) -> bytes:
    """A valid 33-byte SEC1 compressed secp256k1 point (what segwit v0 requires)."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != 33 or public_key[0] not in (2, 3):
        raise AddressError("P2WPKH needs a 33-byte compressed secp256k1 public key (an ecdsa-secp256k1 key)")
    try:
        PublicKey(bytes(public_key))
    except ValueError:
        raise AddressError("not a point on secp256k1") from None
    return bytes(public_key)


def check_xonly_pubkey(public_key: bytes) -> bytes:
    """A valid 32-byte BIP340 x-only key: here the Taproot *output* key Q (already tweaked)."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != 32:
        raise AddressError(
            "P2TR needs the 32-byte x-only Taproot output key (a frost-taproot public key, tweaked at keygen)"
        )
    try:
        PublicKeyXOnly(bytes(public_key))
    except ValueError:
        raise AddressError("not the x coordinate of a point on secp256k1") from None
    return bytes(public_key)


def p2wpkh_script(public_key: bytes) -> bytes:
    return b"\x00\x14" + hash160(check_compressed_pubkey(public_key))


def p2tr_script(output_key: bytes) -> bytes:
    """``OP_1 <Q>``; ``output_key`` is used as is, no tweak is applied (BIP86 was applied at keygen)."""
    return b"\x51\x20" + check_xonly_pubkey(output_key)


def script_pubkey(public_key: bytes, kind: str) -> bytes:
    if kind == "p2wpkh":
        return p2wpkh_script(public_key)
    if kind == "p2tr":
        return p2tr_script(public_key)
    raise AddressError(f"unknown address kind {kind!r}; expected one of {', '.join(KINDS)}")


def address(public_key: bytes, kind: str | None = None, network: str = "mainnet") -> str:
    """The address of ``public_key``.

    ``kind="p2wpkh"`` takes a 33-byte compressed ``ecdsa-secp256k1`` key; ``kind="p2tr"`` the
    32-byte ``frost-taproot`` key, which already *is* the BIP86 output key Q.  Without ``kind`` the
    key's length decides (33 → P2WPKH, 32 → P2TR).
    """
    if kind is None:
        kind = {33: "p2wpkh", 32: "p2tr"}.get(len(public_key) if isinstance(public_key, bytes | bytearray) else -1)
        if kind is None:
            raise AddressError("a public key is 33 bytes (ecdsa-secp256k1) or 32 bytes (frost-taproot)")
    spk = script_pubkey(bytes(public_key), kind)
    found = script_to_address(spk, network)
    assert found is not None
    return found


def witness_program(spk: bytes) -> tuple[int, bytes] | None:
    """``(version, program)`` when ``spk`` is a segwit output script (BIP141), else ``None``."""
    if 4 <= len(spk) <= 42 and spk[1] == len(spk) - 2 and (spk[0] == 0 or 0x51 <= spk[0] <= 0x60):
        return (0 if spk[0] == 0 else spk[0] - 0x50), spk[2:]
    return None


def script_kind(spk: bytes) -> str:
    """A short name of the output script's template (``p2wpkh``, ``p2tr``, ``op_return``, …)."""
    wp = witness_program(spk)
    if wp is not None:
        version, program = wp
        if version == 0:
            return {20: "p2wpkh", 32: "p2wsh"}.get(len(program), "nonstandard")
        if version == 1 and len(program) == 32:
            return "p2tr"
        return f"witness_v{version}"
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "p2pkh"
    if len(spk) == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return "p2sh"
    if spk[:1] == b"\x6a":
        return "op_return"
    return "nonstandard"


def script_to_address(spk: bytes, network: str = "mainnet") -> str | None:
    """The address that pays ``spk`` on ``network``, or ``None`` when no address form exists."""
    net = get_network(network)
    kind = script_kind(spk)
    if kind == "p2pkh":
        return base58.b58encode_check(bytes([net.p2pkh_prefix]) + spk[3:23]).decode()
    if kind == "p2sh":
        return base58.b58encode_check(bytes([net.p2sh_prefix]) + spk[2:22]).decode()
    wp = witness_program(spk)
    if wp is None or (wp[0] == 0 and len(wp[1]) not in (20, 32)):
        return None
    try:
        encoded: str = bech32m.encode(net.hrp, wp[0], wp[1])
    except bech32m.DecodeError:
        return None
    return encoded


def address_to_script(addr: str, network: str = "mainnet") -> bytes:
    """The output script an address pays (segwit or Base58Check), checked against ``network``."""
    net = get_network(network)
    if not isinstance(addr, str) or not addr.isascii():
        raise AddressError("an address is an ASCII string")
    if addr.lower().startswith(net.hrp + "1"):
        try:
            decoded = bech32m.decode(net.hrp, addr)
        except bech32m.DecodeError:
            raise AddressError(f"not a valid {net.name} segwit address") from None
        version, program = int(decoded.witver), bytes(decoded.witprog)
        return bytes([0 if version == 0 else 0x50 + version, len(program)]) + program
    try:
        raw = base58.b58decode_check(addr)
    except ValueError:
        raise AddressError(f"not a valid {net.name} address") from None
    if len(raw) == 21 and raw[0] == net.p2pkh_prefix:
        return b"\x76\xa9\x14" + raw[1:] + b"\x88\xac"
    if len(raw) == 21 and raw[0] == net.p2sh_prefix:
        return b"\xa9\x14" + raw[1:] + b"\x87"
    raise AddressError(f"not a valid {net.name} address")


def check_address(addr: str, network: str = "mainnet") -> str:
    """``addr`` in canonical form (bech32 lower case) if it is a standard address of ``network``,
    else :class:`AddressError` saying why.

    Accepted: segwit v0 P2WPKH/P2WSH (bech32, BIP173) and v1 P2TR (bech32m, BIP350), and the
    Base58Check P2PKH/P2SH forms with ``network``'s version byte.  Witness versions 2-16 and v1
    programs other than 32 bytes decode (BIP350 defines them) but are refused: nothing can spend
    them today, so a payment to one is burnt, and no allow-list should hold one.
    """
    net = get_network(network)
    if not isinstance(addr, str) or not addr or not addr.isascii() or len(addr) > 90:
        raise AddressError("an address is 1-90 ASCII characters")
    if addr.lower().startswith(net.hrp + "1"):
        try:
            decoded = bech32m.decode(net.hrp, addr)
        except bech32m.DecodeError:
            raise AddressError(
                f"not a valid {net.name} segwit address (bech32/bech32m encoding, checksum, program length "
                "or case: BIP173/BIP350)"
            ) from None
        version, size = int(decoded.witver), len(decoded.witprog)
        if (version, size) not in ((0, 20), (0, 32), (1, 32)):
            raise AddressError(
                f"witness version {version} with a {size}-byte program is not a standard output "
                "(P2WPKH, P2WSH or P2TR): nothing spends it today"
            )
        return addr.lower()
    other = {n.hrp for n in NETWORKS.values() if addr.lower().startswith(n.hrp + "1")}
    if other:
        raise AddressError(f"a segwit address of another network ({other.pop()}1…), not of {net.name}")
    try:
        raw = base58.b58decode_check(addr)
    except ValueError:
        raise AddressError(f"not a {net.name} address: neither {net.hrp}1… segwit nor Base58Check") from None
    if len(raw) != 21 or raw[0] not in (net.p2pkh_prefix, net.p2sh_prefix):
        raise AddressError(f"a Base58Check string that is not a {net.name} P2PKH or P2SH address")
    if base58.b58encode_check(raw).decode() != addr:
        raise AddressError("not the canonical Base58Check form")
    return addr
