"""``Vault.sign_transaction`` through real guardians (an embedded cluster), for every chain.

Each signed transaction is judged by the same independent engine as the chain's own tests:
libbitcoinkernel (Bitcoin Core's consensus code) for PSBTs spending a P2WPKH coin of the ECDSA
vault and a P2TR coin of the Taproot vault, py-evm for an EIP-1559 transfer, LiteSVM for a Solana
transfer, secret-sdk's protobuf classes and libsecp256k1 for a Secret Network ``MsgSend``.  Every
sign request carries the transaction context (each guardian re-derives the hash it signs).
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pbk
import pytest
from coincurve import PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys, get_default_account_keys
from eth_utils import to_checksum_address
from pbk.script import PrecomputedTransactionData
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction as SolTx
from solders.transaction_metadata import TransactionMetadata

from gridlock import chains
from gridlock.chains import BitcoinTx, EthereumTx, TxContext, bitcoin, cosmos, ethereum
from gridlock.chains.bitcoin import OutPoint, Spend, Transaction, TxIn, TxOut
from gridlock.client import Client, OperationFailed, SyncClient, SyncVault
from gridlock.crypto import hd
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import InvalidParameterError
from gridlock.wire.control import RequestRefused

NAMES = ["device", "enclave", "cloud", "watch", "friend"]


class Setup:
    def __init__(self, sync: SyncClient, cluster: EmbeddedCluster, vaults: dict[str, SyncVault]) -> None:
        self.sync, self.cluster, self.vaults = sync, cluster, vaults
        self.requests: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    holder: dict[str, EmbeddedCluster] = {}
    data = tmp_path_factory.mktemp("guardians")

    async def make() -> Client:
        holder["c"] = await EmbeddedCluster.start(data, NAMES, session_timeout=30.0)
        assert holder["c"].client is not None
        return holder["c"].client

    sync = SyncClient(make)
    c = holder["c"]
    try:
        vaults = {
            s: sync.create_vault(s, c.ids[:3], 2, password=c.password)
            for s in ("ecdsa-secp256k1", "frost-taproot", "frost-ed25519")
        }
        out = Setup(sync, c, vaults)
        real, real_typed = sync.client.fanout, sync.client.call_all

        async def spy(guardians: Any, op: str, params: Any, timeout: float | None = None) -> Any:
            if isinstance(params, Mapping):
                out.requests.append((op, dict(params)))
            return await real(guardians, op, params, timeout)

        async def typed_spy(guardians: Any, op: Any, timeout: float | None = None, **kw: Any) -> Any:
            out.requests.append((op.NAME, op.to_params()))
            return await real_typed(guardians, op, timeout, **kw)

        sync.client.fanout = spy  # type: ignore[method-assign]
        sync.client.call_all = typed_spy  # type: ignore[method-assign]
        yield out
    finally:
        sync.run(c.close())
        sync.close()


def _sign_requests(setup: Setup) -> list[dict[str, Any]]:
    found = [p for op, p in setup.requests if op == "sign"]
    setup.requests.clear()
    return found


def test_bitcoin_psbts_of_both_vaults_are_accepted_by_the_consensus_engine(setup: Setup) -> None:
    e, t = setup.vaults["ecdsa-secp256k1"], setup.vaults["frost-taproot"]
    wpkh, tr = bitcoin.p2wpkh_script(e.public_key), bitcoin.p2tr_script(t.public_key)
    prev = Transaction(2, (TxIn(OutPoint(b"\x33" * 32, 0)),), (TxOut(300_000, wpkh), TxOut(200_000, tr)), 0)
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    spends = [
        Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev),
        Spend(OutPoint(prev.txid(), 1), prev.outputs[1]),
    ]
    # one PSBT spending both coins: the two vaults are the same owner's at these guardians, so each
    # vault's guardians accept the other's input beside their own (chains.bitcoin.reading) ...
    both = bitcoin.create_psbt(spends, [TxOut(450_000, dest), TxOut(40_000, wpkh)])
    half = e.sign_transaction("bitcoin", both, network="regtest")
    assert half.raw is None and half.psbt is not None
    whole = t.sign_transaction("bitcoin", half.psbt, network="regtest")
    assert whole.raw is not None
    ktx = pbk.Transaction(whole.raw)
    outs = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.amount) for o in prev.outputs]
    pre = PrecomputedTransactionData(ktx, outs)
    for i, o in enumerate(prev.outputs):
        assert pbk.ScriptPubkey(o.script_pubkey).verify(o.amount, ktx, pre, i, pbk.ScriptVerificationFlags.ALL)
    # ... but a stranger's coin is still foreign: refused, naming the input
    theirs = TxOut(100_000, b"\x00\x14" + b"\x79" * 20)
    stranger = Transaction(2, (TxIn(OutPoint(b"\x44" * 32, 0)),), (theirs,), 0)
    mixed = bitcoin.create_psbt([spends[0], Spend(OutPoint(stranger.txid(), 0), theirs)], [TxOut(350_000, dest)])
    with pytest.raises(OperationFailed, match="not this vault's p2wpkh script"):
        e.sign_transaction("bitcoin", mixed, network="regtest")
    setup.requests.clear()
    # each vault spends its own coin, one PSBT each
    progress: list[tuple[int, int]] = []
    first = e.sign_transaction(
        "bitcoin",
        bitcoin.create_psbt(spends[:1], [TxOut(250_000, dest), TxOut(40_000, wpkh)]),
        network="regtest",
        on_signature=lambda d, n: progress.append((d, n)),
    )
    assert first.raw is not None and progress == [(1, 1)]
    second = t.sign_transaction(
        "bitcoin", BitcoinTx(bitcoin.create_psbt(spends[1:], [TxOut(190_000, dest)]), "regtest")
    )
    assert second.raw is not None and second.signatures == 1
    requests = _sign_requests(setup)
    assert len(requests) == 2 and all(TxContext.from_wire(r["tx"]).chain == "bitcoin" for r in requests)

    flags = pbk.ScriptVerificationFlags.ALL
    for signed, spent in ((first, prev.outputs[0]), (second, prev.outputs[1])):
        ktx = pbk.Transaction(signed.raw)
        pre = PrecomputedTransactionData(
            ktx, [pbk.TransactionOutput(pbk.ScriptPubkey(spent.script_pubkey), spent.amount)]
        )
        assert pbk.ScriptPubkey(spent.script_pubkey).verify(spent.amount, ktx, pre, 0, flags)
        assert str(ktx.txid) == signed.txid


def funded_evm(address: str) -> tuple[EthereumTester, dict[str, Any]]:
    """A py-evm chain where ``address`` holds 1 ETH, and an EIP-1559 transfer of 12345 wei from it."""
    state = generate_genesis_state_for_keys(get_default_account_keys(1))
    state[bytes.fromhex(address[2:])] = {"balance": 10**18, "nonce": 0, "code": b"", "storage": {}}
    backend = PyEVMBackend(genesis_state=state)
    tx = {
        "type": 2,
        "chainId": int(backend.chain.chain_id),
        "nonce": 0,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "gas": 21000,
        "to": to_checksum_address("0x" + "5a" * 20),
        "value": 12345,
        "data": b"",
        "accessList": [],
    }
    return EthereumTester(backend), tx


def test_ethereum_transfer_is_mined_by_py_evm(setup: Setup) -> None:
    vault = setup.vaults["ecdsa-secp256k1"]
    me = ethereum.address(vault.public_key)
    tester, tx = funded_evm(me)
    to = tx["to"]
    signed = setup.sync.run(vault.vault.sign_transaction("ethereum", tx))  # the async Vault itself
    assert signed.raw is not None
    tx_hash = tester.send_raw_transaction("0x" + signed.raw.hex())
    tester.mine_blocks(1)
    assert tester.get_transaction_receipt(tx_hash)["status"] == 1
    assert tester.get_balance(to) == 12345 and tx_hash == signed.txid
    (request,) = _sign_requests(setup)
    assert TxContext.from_wire(request["tx"]) == EthereumTx.of(tx)


def test_solana_transfer_is_processed_by_litesvm(setup: Setup) -> None:
    vault = setup.vaults["frost-ed25519"]
    svm = LiteSVM()
    me = Pubkey.from_bytes(vault.public_key)
    svm.airdrop(me, 2 * 10**9)
    to = Pubkey.new_unique()
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=me, to_pubkey=to, lamports=2_000_000))], me, svm.latest_blockhash()
    )
    signed = vault.sign_transaction("solana", bytes(SolTx.new_unsigned(msg)))
    assert signed.raw is not None
    assert isinstance(svm.send_transaction(SolTx.from_bytes(signed.raw)), TransactionMetadata)
    assert svm.get_balance(to) == 2_000_000
    assert len(_sign_requests(setup)) == 1


def test_secret_network_send_parses_with_secret_sdk_and_verifies(setup: Setup) -> None:
    with warnings.catch_warnings():  # betterproto imports pkg_resources
        warnings.simplefilter("ignore")
        from secret_sdk.protobuf.cosmos.tx.v1beta1 import TxRaw  # noqa: PLC0415

    vault = setup.vaults["ecdsa-secp256k1"]
    me = cosmos.address(vault.public_key)
    doc = cosmos.bank_send(vault.public_key, "secret1" + "q" * 38, 1000, memo="rent", chain_id="secret-4")
    signed = vault.sign_transaction("cosmos", doc)
    assert signed.raw is not None
    parsed = TxRaw().parse(signed.raw)
    assert bytes(parsed) == signed.raw and len(parsed.signatures) == 1
    sig = parsed.signatures[0]
    assert PublicKey(vault.public_key).verify(
        cdata_to_der(deserialize_compact(sig)), hashlib.sha256(doc).digest(), hasher=None
    )
    assert chains.get("cosmos").summary(chains.get("cosmos").context(doc))["transfers"][0]["sender"] == me
    (request,) = _sign_requests(setup)
    assert request["tx"] == {"chain": "cosmos", "sign_doc": doc, "prefix": "secret"}


def test_a_hash_that_is_not_of_the_transaction_is_refused(setup: Setup) -> None:
    vault = setup.vaults["ecdsa-secp256k1"]
    ctx = EthereumTx(
        '{"type": 2, "chainId": 1, "nonce": 0, "maxFeePerGas": 1, "maxPriorityFeePerGas": 1, '
        '"gas": 21000, "to": "0x' + "11" * 20 + '", "value": 1}'
    )
    with pytest.raises(OperationFailed) as err:
        setup.sync.run(vault.vault.sign(b"\x07" * 32, tx=ctx))
    assert "hash-mismatch" in str(err.value)
    setup.requests.clear()


def test_the_wrong_chain_for_the_vault_is_refused_before_any_request(setup: Setup) -> None:
    with pytest.raises(chains.UnsupportedSchemeError):
        setup.vaults["frost-ed25519"].sign_transaction("ethereum", {"chainId": 1})
    with pytest.raises(chains.UnknownChainError):
        setup.vaults["frost-ed25519"].sign_transaction("dogecoin", b"")
    assert _sign_requests(setup) == []


@pytest.mark.parametrize("scheme", ["ecdsa-secp256k1", "frost-taproot", "frost-ed25519"])
def test_child_public_key_is_the_childs_key_the_guardians_would_sign_with(setup: Setup, scheme: str) -> None:
    vault = setup.vaults[scheme]
    share = setup.cluster.guardians[0].keystore.active_share(vault.vault_id)
    assert vault.child_public_key("m/0/1") == hd.derive(share, "m/0/1").public_key != vault.public_key
    assert vault.child_public_key("m") == vault.public_key
    with pytest.raises(InvalidParameterError, match="hardened"):
        vault.child_public_key("m/0'")
    setup.requests.clear()


def test_a_malformed_context_sent_past_the_sdk_gets_a_typed_refusal(setup: Setup) -> None:
    """The SDK checks a context before sending it; a client that skips the check meets the guardian's."""
    vault = setup.vaults["ecdsa-secp256k1"].vault
    chosen = vault.guardians[:2]
    bad = {"chain": "bitcoin", "psbt": "bm90IGEgcHNidA==", "network": "regtest"}
    with pytest.raises(chains.TxContextError):
        setup.sync.run(vault.sign(b"\x01" * 32, signers=chosen, tx=bad))

    async def send() -> dict[str, Any]:
        params = {"vault": vault.vault_id, "message": b"\x01" * 32, "signers": chosen, "nonce": b"\x02" * 32}
        return await vault.client.fanout(chosen, "sign", vault._approved("sign", {**params, "tx": bad}))

    results = setup.sync.run(send())
    assert all(isinstance(r, RequestRefused) and "psbt" in str(r) for r in results.values()), results
    signed = setup.vaults["ecdsa-secp256k1"].sign_transaction(
        "ethereum", {"chainId": 1, "nonce": 0, "gas": 21000, "gasPrice": 1, "to": "0x" + "11" * 20, "value": 1}
    )
    assert signed.raw is not None  # the guardians carry on
    setup.requests.clear()


def test_a_transaction_counts_once_against_a_limit_however_many_inputs_it_signs(tmp_path: Path) -> None:
    """A Bitcoin PSBT needs one signature per input; each request shows the whole transaction, and
    the guardian's spending limit counts the transaction once (not once per input)."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES[:3], session_timeout=30.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
            spk = bitcoin.p2wpkh_script(vault.public_key)
            dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")

            def psbt(tag: int, inputs: int, amount: int) -> str:
                outs = [OutPoint(hashlib.sha256(bytes([tag, i])).digest(), i) for i in range(inputs)]
                return bitcoin.create_psbt([Spend(o, TxOut(100_000, spk)) for o in outs], [TxOut(amount, dest)])

            await vault.set_policy({"limits": {"bitcoin": {"amount": 300_000, "period": 3600}}})
            first = await vault.sign_transaction("bitcoin", psbt(1, 2, 190_000), network="regtest")
            assert first.raw is not None and first.signatures == 2
            second = await vault.sign_transaction("bitcoin", psbt(2, 1, 100_000), network="regtest")
            assert second.raw is not None  # (190k + 10k fee) + 100k: the first transaction counted once
            with pytest.raises(OperationFailed, match="spending limit"):
                await vault.sign_transaction("bitcoin", psbt(3, 1, 20_000), network="regtest")
        finally:
            await c.close()

    asyncio.run(main())
