"""HD wallets, without guardians (issue 15): standard BIP32 + BIP86 derivation, descriptors a
watch-only wallet accepts, and PSBT derivation fields read and written.

Known answers come from the BIP86 and BIP380 test vectors; everything else is cross-checked with
embit, an independent Bitcoin library (its own BIP32, descriptor parser and checksum, PSBT codec).
"""

from __future__ import annotations

import dataclasses

import base58
import pytest
from embit import bip32 as ebip32
from embit.descriptor import Descriptor
from embit.descriptor.checksum import add_checksum
from embit.networks import NETWORKS
from embit.psbt import PSBT, DerivationPath

from conftest import load_vector
from gridlock import local
from gridlock.chains import bitcoin
from gridlock.chains.bitcoin import OutPoint, Spend, Transaction, TxIn, TxOut
from gridlock.chains.bitcoin.descriptors import checksum, vault_descriptors, with_checksum
from gridlock.chains.bitcoin.keys import describe, spent_paths, vault_scripts
from gridlock.crypto import hd
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import InvalidParameterError
from gridlock.wire import ops
from gridlock.wire.ops.base import Params

ECDSA, TAPROOT = "ecdsa-secp256k1", "frost-taproot"


@pytest.fixture(scope="module")
def vaults() -> dict[str, list[KeyShare]]:
    return {s: local.keygen(s, threshold=2, n=3) for s in (ECDSA, TAPROOT)}


def _signs(shares: list[KeyShare]) -> bool:
    m = b"\x42" * 32
    return local.verify(shares[0].scheme, shares[0].public_key, m, local.sign(shares[:2], m))


# --- BIP86 and BIP32, known answers and an independent library -------------------------------------
def test_bip86_vectors_from_the_account_key() -> None:
    """The BIP86 account key imported as a Taproot vault: its xpub is the vector's (key and chain
    code), and /0/0, /0/1, /1/0 give the vector's internal key, output key and address — derived by
    the shares, which sign under the output key, and by the public root alone."""
    v = load_vector("bitcoin/bip86-test-vectors.json")
    raw = base58.b58decode_check(v["account"]["xprv"])
    chain_code, priv = raw[13:45], raw[46:78]
    shares = local.import_key(TAPROOT, priv, threshold=2, n=3, chain_code=chain_code)
    root = hd.HdRoot.of(shares[0])
    assert base58.b58decode_check(root.xpub())[13:] == base58.b58decode_check(v["account"]["xpub"])[13:]
    for a in v["addresses"]:
        path = "m/" + "/".join(a["path"].split("/")[4:])  # the non-hardened part below the account
        child = local.derive(shares, path)
        assert child[0].internal_key is not None
        assert child[0].internal_key.encode()[1:].hex() == a["internal_key"]
        assert child[0].public_key.hex() == root.public_key(path).hex() == a["output_key"]
        assert bitcoin.p2tr_script(child[0].public_key).hex() == a["scriptPubKey"]
        assert bitcoin.address(child[0].public_key, kind="p2tr", network="mainnet") == a["address"]
        assert _signs(child)


@pytest.mark.parametrize(("scheme", "kind"), [(ECDSA, "wpkh"), (TAPROOT, "tr")])
def test_exported_descriptors_give_gridlocks_addresses_at_depth_1_2_3(
    vaults: dict[str, list[KeyShare]], scheme: str, kind: str
) -> None:
    """embit parses the exported descriptors (checksum included) and derives from the xpub; its
    addresses equal Gridlock's — from the public root and from the derived shares — at depth 1, 2, 3."""
    shares = vaults[scheme]
    root = hd.HdRoot.of(shares[0])
    for network, net in (("mainnet", NETWORKS["main"]), ("regtest", NETWORKS["regtest"])):
        d = vault_descriptors(root, network)
        assert d.xpub.startswith("xpub" if network == "mainnet" else "tpub")
        assert d.receive == f"{kind}({d.xpub}/0/*)#{checksum(f'{kind}({d.xpub}/0/*)')}"
        layouts = {
            d.receive: "m/0/{}",  # depth 2
            d.change: "m/1/{}",  # depth 2
            with_checksum(f"{kind}({d.xpub}/*)"): "m/{}",  # depth 1
            with_checksum(f"{kind}({d.xpub}/1/2/*)"): "m/1/2/{}",  # depth 3
        }
        for text, pattern in layouts.items():
            parsed = Descriptor.from_string(text)
            for i in (0, 7):
                path = pattern.format(i)
                theirs = parsed.derive(i).address(net)
                mine = bitcoin.address(
                    root.public_key(path), kind="p2tr" if kind == "tr" else "p2wpkh", network=network
                )
                assert theirs == mine, (text, path)
        assert Descriptor.from_string(f"{kind}({d.xpub})").address(net) == bitcoin.address(
            shares[0].public_key, kind="p2tr" if kind == "tr" else "p2wpkh", network=network
        )  # the vault's own key is tr(xpub) / wpkh(xpub): the root, untweaked
    child = local.derive(shares, "m/1/2/3")
    assert child[0].public_key == root.public_key("m/1/2/3") and _signs(child)
    assert d.fingerprint == hd.fingerprint(shares[0]).hex() == ebip32.HDKey.from_string(d.xpub).my_fingerprint.hex()


def test_child_xpubs_are_ckdpub_of_the_exported_xpub(vaults: dict[str, list[KeyShare]]) -> None:
    """A derived share's xpub is exactly what embit's CKDpub gives from the exported xpub (depth,
    parent fingerprint, child number, chain code, key) — of the internal key for Taproot."""
    for scheme in (ECDSA, TAPROOT):
        share = vaults[scheme][0]
        theirs = ebip32.HDKey.from_string(hd.HdRoot.of(share).xpub()).derive("m/0/1/2")
        assert hd.derive(share, "m/0/1/2").xpub() == theirs.to_base58()


def test_bip380_checksums() -> None:
    assert checksum("raw(deadbeef)") == "89f8spxm"  # BIP380's example
    xpub = load_vector("bitcoin/bip86-test-vectors.json")["account"]["xpub"]
    d = f"tr({xpub}/0/*)"
    assert with_checksum(d) == add_checksum(d)  # embit's own implementation
    assert with_checksum(with_checksum(d)) == with_checksum(d)
    with pytest.raises(InvalidParameterError, match="checksum"):
        with_checksum(d + "#qqqqqqqq")
    with pytest.raises(InvalidParameterError):
        checksum("wpkh(\u00e9)")
    root = hd.HdRoot.of(local.keygen("frost-ed25519", threshold=2, n=3)[0])
    with pytest.raises(InvalidParameterError, match="no bitcoin"):
        vault_descriptors(root)


# --- paths ---------------------------------------------------------------------------------------------
def test_sign_requests_carry_a_checked_path() -> None:
    """The path is a field of Sign / Presign / SignPresigned, checked when built: non-hardened (with
    the reason), at most 32 steps, canonical; left out on the wire for the vault's own key."""
    base = ("v", b"\x01" * 32, ("g1", "g2"), b"\x00" * 32)
    op = ops.Sign(*base, path="m/0/7")
    assert op.to_params()["path"] == "m/0/7" and "path" not in ops.Sign(*base).to_params()
    assert ops.Sign.read(Params(op.to_params())) == op
    for bad in ("m/0'", "m/1h", f"m/{2**31}", "m/" + "/".join(["1"] * 33), "m/07", "0/1", "m//1", ""):
        with pytest.raises(InvalidParameterError):
            ops.Sign(*base, path=bad)
    with pytest.raises(InvalidParameterError, match="whole private key"):
        ops.Presign("v", 1, ("g1", "g2"), b"\x00" * 32, path="m/44'/0'")
    with pytest.raises(InvalidParameterError):
        ops.SignPresigned("v", b"\x02" * 32, b"\x01" * 32, ("g1",), b"\x00" * 32, path="m/x")
    with pytest.raises(Exception, match="left out"):
        ops.Sign.read(Params({**ops.Sign(*base).to_params(), "path": "m"}))  # one encoding per request


# --- PSBT derivation fields ----------------------------------------------------------------------------
def _coin(script: bytes, amount: int, tag: int) -> Spend:
    prev = Transaction(2, (TxIn(OutPoint(bytes([tag]) * 32, 0)),), (TxOut(amount, script),), 0)
    return Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev)


def _watch_only_psbt(root: hd.HdRoot, paths: list[str], change: str | None, dest: bytes) -> str:
    """A PSBT as a watch-only wallet on the exported xpub writes it: embit derives each child from
    the xpub and fills the BIP32 (P2WPKH) or Taproot (P2TR) derivation fields of inputs and change."""
    xpub = ebip32.HDKey.from_string(root.xpub("regtest"))
    fp = xpub.my_fingerprint
    kind = "p2tr" if root.scheme == TAPROOT else "p2wpkh"
    coins = [_coin(_spk(root.public_key(p), kind), 100_000, 10 + k) for k, p in enumerate(paths)]
    outs = [TxOut(100_000 * len(coins) - 50_000, dest)]
    if change is not None:
        outs.append(TxOut(40_000, _spk(root.public_key(change), kind)))
    psbt = PSBT.from_string(bitcoin.create_psbt(coins, outs))
    scopes = [*zip(psbt.inputs, paths, strict=True)]
    if change is not None:
        scopes.append((psbt.outputs[1], change))
    for scope, path in scopes:
        steps = [int(s) for s in path.split("/")[1:]]
        pub = xpub.derive(steps).key
        if kind == "p2tr":
            scope.taproot_internal_key = pub
            scope.taproot_bip32_derivations[pub] = ([], DerivationPath(fp, steps))
        else:
            scope.bip32_derivations[pub] = DerivationPath(fp, steps)
    return str(psbt.to_string())


DEST = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")


@pytest.mark.parametrize("scheme", [ECDSA, TAPROOT])
def test_a_watch_only_wallets_psbt_names_the_child_keys(vaults: dict[str, list[KeyShare]], scheme: str) -> None:
    """Inputs at m/0/3 and m/0/7 and change at m/1/0: the keys that sign are found by derivation,
    the guardian's reading takes every input as the vault's and the change as change."""
    root = hd.HdRoot.of(vaults[scheme][0])
    text = _watch_only_psbt(root, ["m/0/3", "m/0/7"], "m/1/0", DEST)
    psbt = bitcoin.Psbt.from_base64(text)
    assert [k.path_text for k in spent_paths(psbt, root)] == ["m/0/3", "m/0/7"]
    assert {k.path_text for k in vault_scripts(psbt, root).values()} == {"m", "m/0/3", "m/0/7", "m/1/0"}
    reading = bitcoin.read(text, scheme, root.public_key("m/0/7"), "regtest", [root])
    assert [r.input_index for r in reading.sighashes] == [1]  # the m/0/7 key signs its own input only
    assert [m.amount for m in reading.movements] == [150_000, 10_000]  # payment and fee; change is not moved
    with pytest.raises(bitcoin.ForeignInputError):  # without the root, the m/0/3 coin is not m/0/7's
        bitcoin.read(text, scheme, root.public_key("m/0/7"), "regtest")


@pytest.mark.parametrize("scheme", [ECDSA, TAPROOT])
def test_attack_a_derivation_field_that_does_not_derive_names_no_key(
    vaults: dict[str, list[KeyShare]], scheme: str
) -> None:
    """A field is a claim: with the vault's fingerprint but a key that the path does not give (here a
    stranger's coin labelled m/0/9, and a stranger's output labelled change), it names no key of the
    vault — the input stays foreign (refused, naming it) and the output is a payment."""
    root = hd.HdRoot.of(vaults[scheme][0])
    stranger = hd.HdRoot.of(local.keygen(scheme, threshold=2, n=3)[0])
    text = _watch_only_psbt(stranger, ["m/0/9"], "m/1/0", DEST)
    psbt = PSBT.from_string(text)
    fp = ebip32.HDKey.from_string(root.xpub()).my_fingerprint
    for scope in (psbt.inputs[0], psbt.outputs[1]):  # relabel the stranger's keys with the vault's fingerprint
        for pub, value in list(scope.bip32_derivations.items()):
            scope.bip32_derivations[pub] = DerivationPath(fp, value.derivation)
        for pub, (leaves, value) in list(scope.taproot_bip32_derivations.items()):
            scope.taproot_bip32_derivations[pub] = (leaves, DerivationPath(fp, value.derivation))
    lying = bitcoin.Psbt.from_base64(str(psbt.to_string()))
    assert set(vault_scripts(lying, root)) == {_spk(root.public_key(), _kind(scheme))}
    mine = _coin(_spk(root.public_key("m/0/2"), _kind(scheme)), 100_000, 3)
    both = bitcoin.Psbt.from_base64(bitcoin.create_psbt([mine], [TxOut(50_000, lying.tx.outputs[1].script_pubkey)]))
    both.outputs[0].update(lying.outputs[1])  # the relabelled "change" field on a payment to the stranger
    reading = bitcoin.read(both.to_base64(), scheme, root.public_key("m/0/2"), "regtest", [root])
    assert reading.movements[0].amount == 50_000  # counted as a payment, not change
    with pytest.raises(bitcoin.ForeignInputError) as err:
        bitcoin.read(lying.to_base64(), scheme, root.public_key("m/0/9"), "regtest", [root])
    assert err.value.index == 0


def _kind(scheme: str) -> str:
    return "p2tr" if scheme == TAPROOT else "p2wpkh"


def _spk(public_key: bytes, kind: str) -> bytes:
    return bitcoin.p2tr_script(public_key) if kind == "p2tr" else bitcoin.p2wpkh_script(public_key)


def test_signed_psbts_carry_tap_internal_key_and_derivations(vaults: dict[str, list[KeyShare]]) -> None:
    """describe() writes BIP371's tap_internal_key and tap_bip32_derivation (key path: no leaf
    hashes) and BIP174's bip32_derivation for the signing keys; embit reads them back, and the
    output key is the BIP86 tweak of the internal key with no script tree — no script path."""
    for scheme in (ECDSA, TAPROOT):
        root = hd.HdRoot.of(vaults[scheme][0])
        kind = _kind(scheme)
        coin = _coin(_spk(root.public_key("m/0/7"), kind), 100_000, 20)
        change = TxOut(40_000, _spk(root.public_key("m/1/0"), kind))
        psbt = bitcoin.Psbt.from_base64(bitcoin.create_psbt([coin], [TxOut(50_000, DEST), change]))
        keys = [k for k in vault_scripts(psbt, root).values() if k.path_text == "m"]
        keys += [type(keys[0])(p, root.public_key(p), _spk(root.public_key(p), kind)) for p in ((0, 7), (1, 0))]
        describe(psbt, root, keys)
        theirs = PSBT.from_string(psbt.to_base64())
        fp = ebip32.HDKey.from_string(root.xpub()).my_fingerprint
        for scope, steps in ((theirs.inputs[0], [0, 7]), (theirs.outputs[1], [1, 0])):
            internal, _ = root.untweaked(steps)
            if scheme == TAPROOT:
                assert scope.taproot_internal_key.xonly() == internal.encode()[1:]
                ((pub, (leaves, origin)),) = scope.taproot_bip32_derivations.items()
                assert leaves == [] and pub.xonly() == internal.encode()[1:]
                assert scope.taproot_internal_key.taproot_tweak(b"").xonly() == root.public_key(steps)
            else:
                ((pub, origin),) = scope.bip32_derivations.items()
                assert pub.sec() == internal.encode()
            assert (origin.fingerprint, origin.derivation) == (fp, steps)
        assert not theirs.outputs[0].bip32_derivations and not theirs.outputs[0].taproot_bip32_derivations


# --- the vault keeps P ---------------------------------------------------------------------------------
def test_taproot_shares_keep_the_internal_key_through_every_change(vaults: dict[str, list[KeyShare]]) -> None:
    """DKG keeps P (checked when a share is built: it must tweak to Q); refresh, reshare and repair
    carry it (new holders take it from the dealers' public data), and the byte format round-trips it."""
    shares = vaults[TAPROOT]
    p = shares[0].internal_key
    assert p is not None and all(s.internal_key == p for s in shares)
    changed = [local.refresh(shares), local.reshare(shares[:2], threshold=3, n=4)]
    changed.append([local.repair([changed[0][0], changed[0][2]], lost_index=2)])
    for new in changed:
        assert all(s.internal_key == p for s in new)
    assert hd.HdRoot.of(changed[1][0]).public_key("m/0/7") == hd.HdRoot.of(shares[0]).public_key("m/0/7")
    assert KeyShare.from_bytes(shares[0].to_bytes()).internal_key == p
    with pytest.raises(InvalidParameterError, match="BIP86"):
        dataclasses.replace(shares[0], internal_key=p + p)
    # (-P has P's x coordinate, so it tweaks to the same Q: BIP86 is over x-only keys.  Its children
    # differ, which the owner notices — every key change's reply must repeat the recorded root.)
    with pytest.raises(InvalidParameterError, match="Taproot keys only"):
        dataclasses.replace(vaults[ECDSA][0], internal_key=vaults[ECDSA][0].group_key)
    legacy = dataclasses.replace(shares[0], internal_key=None)  # a share from before P was kept
    assert legacy.untweaked_key_bytes == b""
    with pytest.raises(InvalidParameterError, match="internal key"):
        hd.derive(legacy, "m/0")
