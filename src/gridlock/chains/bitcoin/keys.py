"""Which keys of a vault a PSBT spends and pays: the BIP174/BIP371 derivation fields, checked by derivation.

A watch-only wallet built on a vault's descriptors (:mod:`gridlock.chains.bitcoin.descriptors`)
asks a signer the standard way: each input carries ``PSBT_IN_BIP32_DERIVATION`` (P2WPKH: the
33-byte child key → master fingerprint ‖ path) or ``PSBT_IN_TAP_BIP32_DERIVATION`` (P2TR: the
x-only child *internal* key → leaf hashes, fingerprint ‖ path), and its change outputs the same.

A field is only a claim.  :func:`vault_scripts` takes a claim for a vault's root
(:class:`gridlock.crypto.hd.HdRoot`) only when its fingerprint is the root's, its path is
non-hardened and at most ``hd.MAX_DEPTH`` deep, and the key derived at that path is the key the
field names; the script of that child (its P2WPKH, or the P2TR of its BIP86 output key) is then
the vault's.  The root's own script is always the vault's.  Anything else — another fingerprint,
a hardened step, a key that does not derive — names no key of the vault and is ignored, so an
input whose script it is stays foreign.

:func:`describe` is the Updater role for the vault's own keys: it writes those fields (and
``PSBT_IN_TAP_INTERNAL_KEY`` / ``PSBT_OUT_TAP_INTERNAL_KEY``, BIP371) for every input and output
of the given keys, so the finished PSBT shows which child signed and that each Taproot output is
key-path only (its output key is the BIP86 tweak of the internal key, with no script tree).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gridlock.chains.bitcoin.address import p2tr_script, p2wpkh_script
from gridlock.chains.bitcoin.psbt import (
    IN_BIP32_DERIVATION,
    IN_TAP_BIP32_DERIVATION,
    IN_TAP_INTERNAL_KEY,
    OUT_BIP32_DERIVATION,
    OUT_TAP_BIP32_DERIVATION,
    OUT_TAP_INTERNAL_KEY,
    KvMap,
    Psbt,
)
from gridlock.chains.bitcoin.signing import resolve_utxo
from gridlock.chains.bitcoin.tx import Reader
from gridlock.crypto.hd import MAX_DEPTH, HdRoot, format_path
from gridlock.crypto.keyshare import HARDENED, TAPROOT
from gridlock.errors import GridlockError, InvalidParameterError

__all__ = ["BITCOIN_SCHEMES", "VaultKey", "describe", "script_of", "spent_paths", "vault_scripts"]

BITCOIN_SCHEMES = {"ecdsa-secp256k1": "p2wpkh", TAPROOT: "p2tr"}


@dataclass(frozen=True)
class VaultKey:
    """One key of a vault as a PSBT uses it: its path from the root and its output script."""

    path: tuple[int, ...]
    public_key: bytes  # as the chain uses it: compressed (P2WPKH), x-only output key Q (P2TR)
    script: bytes

    @property
    def path_text(self) -> str:
        return format_path(self.path)


def script_of(scheme: str, public_key: bytes) -> bytes:
    """The output script a vault key of ``scheme`` controls."""
    kind = BITCOIN_SCHEMES.get(scheme)
    if kind is None:
        raise InvalidParameterError(f"a {scheme} key spends no bitcoin")
    return p2wpkh_script(public_key) if kind == "p2wpkh" else p2tr_script(public_key)


def _key_at(root: HdRoot, path: Sequence[int]) -> VaultKey:
    public_key = root.public_key(path)
    return VaultKey(tuple(path), public_key, script_of(root.scheme, public_key))


def _keypath(value: bytes) -> tuple[bytes, tuple[int, ...]]:
    """``fingerprint ‖ path`` (4-byte little-endian steps), as the PSBT codec checked its length."""
    return value[:4], tuple(int.from_bytes(value[k : k + 4], "little") for k in range(4, len(value), 4))


def _claims(kv: KvMap, plain: int, tap: int) -> Iterator[tuple[bytes, bytes, tuple[int, ...], bool]]:
    """``(key, fingerprint, path, is_taproot)`` of every derivation field of one map."""
    for k, v in kv.items():
        if k[0] == plain:
            fp, path = _keypath(v)
            yield k[1:], fp, path, False
        elif k[0] == tap:
            r = Reader(v, "PSBT taproot BIP32 derivation")
            for _ in range(r.count(32)):
                r.read(32)
            fp, path = _keypath(v[r.pos :])
            yield k[1:], fp, path, True


def _matches(root: HdRoot, key: bytes, path: tuple[int, ...], taproot: bool) -> bool:
    """Whether the field names the child of ``root`` at ``path`` (its compressed key for P2WPKH, the
    x-only internal key for P2TR)."""
    if taproot != (root.scheme == TAPROOT):
        return False
    point, _ = root.untweaked(path)
    encoded = point.encode()
    return key == (encoded[1:] if taproot else encoded)


def vault_scripts(psbt: Psbt, root: HdRoot) -> dict[bytes, VaultKey]:
    """Every script of ``root``'s keys the PSBT names (module doc), the root's own included; none
    for a scheme that spends no bitcoin."""
    if root.scheme not in BITCOIN_SCHEMES:
        return {}
    master = _key_at(root, ())
    found = {master.script: master}
    fingerprint = root.fingerprint()
    maps = [(kv, IN_BIP32_DERIVATION, IN_TAP_BIP32_DERIVATION) for kv in psbt.inputs]
    maps += [(kv, OUT_BIP32_DERIVATION, OUT_TAP_BIP32_DERIVATION) for kv in psbt.outputs]
    for kv, plain, tap in maps:
        for key, fp, path, taproot in _claims(kv, plain, tap):
            if fp != fingerprint or len(path) > MAX_DEPTH or any(i >= HARDENED for i in path):
                continue
            try:
                if _matches(root, key, path, taproot):
                    child = _key_at(root, path)
                    found[child.script] = child
            except InvalidParameterError:  # a step with IL >= n: no such child
                continue
    return found


def spent_paths(psbt: Psbt, root: HdRoot) -> list[VaultKey]:
    """The vault's keys that sign this PSBT: those whose script an input not yet final spends (an
    input without UTXO data is skipped here; signing names it)."""
    scripts = vault_scripts(psbt, root)
    out: dict[bytes, VaultKey] = {}
    for i in range(len(psbt.tx.inputs)):
        if psbt.is_finalized(i):
            continue
        try:
            utxo, _ = resolve_utxo(psbt, i)
        except GridlockError:
            continue
        key = scripts.get(utxo.script_pubkey)
        if key is not None:
            out.setdefault(key.script, key)
    return list(out.values())


def _origin(root: HdRoot, path: Sequence[int]) -> bytes:
    return root.fingerprint() + b"".join(i.to_bytes(4, "little") for i in path)


def describe(psbt: Psbt, root: HdRoot, keys: Sequence[VaultKey]) -> None:
    """Write the derivation fields (and Taproot internal keys) of ``keys`` into every input that
    spends and every output that pays one of them (module doc); other fields are left as they are."""
    by_script = {k.script: k for k in keys}
    spent: list[bytes | None] = []
    for i in range(len(psbt.tx.inputs)):
        try:
            spent.append(resolve_utxo(psbt, i)[0].script_pubkey)
        except GridlockError:
            spent.append(None)
    targets: list[tuple[KvMap, bytes | None, int, int, int]] = [
        (kv, script, IN_BIP32_DERIVATION, IN_TAP_BIP32_DERIVATION, IN_TAP_INTERNAL_KEY)
        for kv, script in zip(psbt.inputs, spent, strict=True)
    ]
    targets += [
        (kv, out.script_pubkey, OUT_BIP32_DERIVATION, OUT_TAP_BIP32_DERIVATION, OUT_TAP_INTERNAL_KEY)
        for kv, out in zip(psbt.outputs, psbt.tx.outputs, strict=True)
    ]
    for kv, script, plain, tap, internal in targets:
        key = by_script.get(script) if script is not None else None
        if key is None:
            continue
        point, _ = root.untweaked(key.path)
        if root.scheme == TAPROOT:
            xonly = point.encode()[1:]
            kv[bytes([internal])] = xonly
            kv[bytes([tap]) + xonly] = b"\x00" + _origin(root, key.path)  # no leaf hashes: key path
        else:
            kv[bytes([plain]) + point.encode()] = _origin(root, key.path)
