"""HD wallets through real guardians (issue 15): every scheme signs with a derived key, the path is
part of what the owner approves, and coins at derived addresses are spent on real chain engines.

The Bitcoin test is the watch-only-wallet round trip: embit (an independent library) derives the
m/0/7 P2WPKH and m/0/7 P2TR addresses from the exported descriptors and writes the PSBT's BIP32 /
Taproot derivation fields as a wallet would; the guardians sign each input with the child key its
field names, and libbitcoinkernel (Bitcoin Core's consensus engine) accepts every input.  The
Ethereum test mines an EIP-1559 transfer from m/0/3 with py-evm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pbk
import pytest
from coincurve import PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from embit import bip32 as ebip32
from embit.descriptor import Descriptor
from embit.networks import NETWORKS
from embit.psbt import PSBT, DerivationPath
from pbk.script import PrecomputedTransactionData
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction as SolTx

from gridlock import local
from gridlock.chains import bitcoin, cosmos, ethereum
from gridlock.chains.bitcoin import OutPoint, Spend, Transaction, TxIn, TxOut
from gridlock.client import Client, SyncClient, SyncVault
from gridlock.crypto import hd
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import InvalidParameterError
from gridlock.wire import ops
from test_chain_sign_transaction import funded_evm

SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")


class Setup:
    def __init__(self, sync: SyncClient, cluster: EmbeddedCluster, vaults: dict[str, SyncVault]) -> None:
        self.sync, self.cluster, self.vaults = sync, cluster, vaults


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    holder: dict[str, EmbeddedCluster] = {}
    data: Path = tmp_path_factory.mktemp("hd-guardians")

    async def make() -> Client:
        holder["c"] = await EmbeddedCluster.start(data, ["device", "cloud", "friend"], session_timeout=30.0)
        assert holder["c"].client is not None
        return holder["c"].client

    sync = SyncClient(make)
    c = holder["c"]
    try:
        yield Setup(sync, c, {s: sync.create_vault(s, c.ids, 2, password=c.password) for s in SCHEMES})
    finally:
        sync.run(c.close())
        sync.close()


def _message(scheme: str) -> bytes:
    return os.urandom(32) if scheme == "ecdsa-secp256k1" else b"a message for a child key"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_signs_with_a_derived_key(setup: Setup, scheme: str) -> None:
    """Each guardian derives its child share; the signature verifies under the child key that the
    vault's recorded root gives (and that the shares give), not under the vault's own key."""
    vault = setup.vaults[scheme]
    share = setup.cluster.guardians[0].keystore.active_share(vault.vault_id)
    child = vault.child_public_key("m/0/7")
    assert child == hd.derive(share, "m/0/7").public_key == hd.HdRoot.of(share).public_key("m/0/7")
    assert child != vault.public_key
    m = _message(scheme)
    sig = vault.sign(m, path="m/0/7")
    assert local.verify(scheme, child, m, sig) and not local.verify(scheme, vault.public_key, m, sig)


def test_presignatures_for_a_child_key(setup: Setup) -> None:
    """A DKLs23 presignature is bound to its key: one made for m/0/7 signs for m/0/7; spending a
    presignature of the vault's own key for a child is refused (and the presignature is gone)."""
    vault = setup.vaults["ecdsa-secp256k1"]
    child = vault.child_public_key("m/0/7")
    vault.presign(1, path="m/0/7")
    d = os.urandom(32)
    assert local.verify("ecdsa-secp256k1", child, d, vault.sign_presigned(d, path="m/0/7"))
    with pytest.raises(InvalidParameterError, match="no presignature left for the key at m/0/7"):
        vault.sign_presigned(d, path="m/0/7")
    (master_presig,) = vault.presign(1)
    chosen = vault.vault.presignatures[0][1]
    op = vault.vault._approve(
        ops.SignPresigned(vault.vault_id, master_presig, d, chosen, secrets.token_bytes(32), path="m/0/7")
    )
    results = setup.sync.run(setup.sync.client.call_all(list(chosen), op))
    assert all("made for another key" in str(r) for r in results.values())


def test_hardened_paths_are_refused_with_the_reason(setup: Setup) -> None:
    vault = setup.vaults["frost-secp256k1"]
    with pytest.raises(InvalidParameterError, match="whole private key in one place"):
        vault.sign(b"m", path="m/44'/0'")
    with pytest.raises(InvalidParameterError, match="hardened"):
        vault.child_public_key("m/0h")
    # a client that skips the SDK's check meets the guardian's (the request does not decode)
    params = {**ops.Sign(vault.vault_id, b"m", tuple(vault.guardians[:2]), b"\x00" * 32).to_params(), "path": "m/1'"}
    with pytest.raises(Exception, match="hardened"):
        setup.sync.run(setup.sync.client.request(vault.guardians[0], "sign", params))


def test_the_path_is_bound_by_the_owners_approval(setup: Setup) -> None:
    """The owner approves a signature at m/0/1; a relay that moves it to m/0/2 is refused."""
    vault = setup.vaults["frost-taproot"]
    chosen = tuple(vault.guardians[:2])
    approved = vault.vault._approve(ops.Sign(vault.vault_id, b"m", chosen, secrets.token_bytes(32), path="m/0/1"))
    moved = dataclasses.replace(approved, path="m/0/2")
    results = setup.sync.run(setup.sync.client.call_all(list(chosen), moved))
    assert results and all(isinstance(r, BaseException) and "approv" in str(r) for r in results.values())


# --- spending from derived addresses on real chain engines ---------------------------------------------
def _kernel_accepts(raw: bytes, spent: list[TxOut]) -> list[bool]:
    ktx = pbk.Transaction(raw)
    outs = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.amount) for o in spent]
    pre = PrecomputedTransactionData(ktx, outs)
    flags = pbk.ScriptVerificationFlags.ALL
    return [bool(pbk.ScriptPubkey(o.script_pubkey).verify(o.amount, ktx, pre, i, flags)) for i, o in enumerate(spent)]


def test_watch_only_descriptors_to_a_consensus_valid_spend(setup: Setup) -> None:
    """embit derives m/0/7 of ``wpkh(xpub/0/*)`` and of ``tr(xpub/0/*)`` from the exported
    descriptors; one PSBT spends both coins (derivation fields as a wallet writes them, change to
    the ECDSA vault's m/1/0); each vault's guardians sign the input their field names, and
    libbitcoinkernel accepts every input."""
    e, t = setup.vaults["ecdsa-secp256k1"], setup.vaults["frost-taproot"]
    net = NETWORKS["regtest"]
    descs = {v: v.descriptors("regtest") for v in (e, t)}
    wpkh_addr = Descriptor.from_string(descs[e]["receive"]).derive(7).address(net)
    tr_addr = Descriptor.from_string(descs[t]["receive"]).derive(7).address(net)
    change = Descriptor.from_string(descs[e]["change"]).derive(0).address(net)
    assert wpkh_addr == bitcoin.address(e.child_public_key("m/0/7"), kind="p2wpkh", network="regtest")
    assert tr_addr == bitcoin.address(t.child_public_key("m/0/7"), kind="p2tr", network="regtest")
    scripts = [bitcoin.address_to_script(a, "regtest") for a in (wpkh_addr, tr_addr)]
    prev = Transaction(
        2, (TxIn(OutPoint(b"\x77" * 32, 0)),), (TxOut(300_000, scripts[0]), TxOut(200_000, scripts[1])), 0
    )
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    text = bitcoin.create_psbt(
        [
            Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev),
            Spend(OutPoint(prev.txid(), 1), prev.outputs[1]),
        ],
        [TxOut(420_000, dest), TxOut(78_000, bitcoin.address_to_script(change, "regtest"))],
    )
    psbt = PSBT.from_string(text)  # the watch-only wallet's Updater role, by embit
    for scope, v, steps, taproot in (
        (psbt.inputs[0], e, [0, 7], False),
        (psbt.inputs[1], t, [0, 7], True),
        (psbt.outputs[1], e, [1, 0], False),
    ):
        xpub = ebip32.HDKey.from_string(descs[v]["xpub"])
        pub = xpub.derive(steps).key
        if taproot:
            scope.taproot_internal_key = pub
            scope.taproot_bip32_derivations[pub] = ([], DerivationPath(xpub.my_fingerprint, steps))
        else:
            scope.bip32_derivations[pub] = DerivationPath(xpub.my_fingerprint, steps)
    half = e.sign_transaction("bitcoin", psbt.to_string(), network="regtest")  # no --path: the fields say
    assert half.raw is None and half.psbt is not None and half.signatures == 1
    whole = t.sign_transaction("bitcoin", half.psbt, network="regtest")
    assert whole.raw is not None
    assert _kernel_accepts(whole.raw, list(prev.outputs)) == [True, True]
    signed = PSBT.from_string(whole.psbt)
    assert (
        signed.inputs[1].taproot_internal_key.xonly()
        == hd.HdRoot.from_bytes("frost-taproot", t.vault.group_key, t.vault.chain_code)
        .untweaked("m/0/7")[0]
        .encode()[1:]
    )


def test_eip1559_transfer_from_a_derived_address_is_mined_by_py_evm(setup: Setup) -> None:
    vault = setup.vaults["ecdsa-secp256k1"]
    me = ethereum.address(vault.child_public_key("m/0/3"))
    assert me != ethereum.address(vault.public_key)
    tester, tx = funded_evm(me)
    to = tx["to"]
    signed = vault.sign_transaction("ethereum", tx, path="m/0/3")
    assert signed.raw is not None
    tx_hash = tester.send_raw_transaction("0x" + signed.raw.hex())
    tester.mine_blocks(1)
    assert tester.get_transaction_receipt(tx_hash)["status"] == 1
    assert tester.get_transaction_by_hash(tx_hash)["from"] == me and tester.get_balance(to) == 12345


def test_solana_and_cosmos_from_derived_keys(setup: Setup) -> None:
    ed, e = setup.vaults["frost-ed25519"], setup.vaults["ecdsa-secp256k1"]
    svm = LiteSVM()
    me = Pubkey.from_bytes(ed.child_public_key("m/2"))
    svm.airdrop(me, 2 * 10**9)
    to = Pubkey.new_unique()
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=me, to_pubkey=to, lamports=1_000_000))], me, svm.latest_blockhash()
    )
    signed = ed.sign_transaction("solana", bytes(SolTx.new_unsigned(msg)), path="m/2")
    assert signed.raw is not None
    svm.send_transaction(SolTx.from_bytes(signed.raw))
    assert svm.get_balance(to) == 1_000_000
    child = e.child_public_key("m/0/5")
    doc = cosmos.bank_send(child, "secret1" + "q" * 38, 1000, chain_id="secret-4")
    raw = e.sign_transaction("cosmos", doc, path="m/0/5").raw
    assert raw is not None
    assert PublicKey(child).verify(
        cdata_to_der(deserialize_compact(raw[-64:])), hashlib.sha256(doc).digest(), hasher=None
    )
    with pytest.raises(cosmos.NotASignerError):  # the vault's own key is not the SignDoc's signer
        e.sign_transaction("cosmos", doc)
