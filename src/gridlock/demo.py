"""``make demo``: a guided tour of Gridlock on a fresh machine, in about a minute.

It starts a devnet in one process — the local router and five guardians (the owner's device, the
Secret Network enclave guardian whose shares live in an emulated enclave network's custody
contract, a cloud guardian, a Watchlight watch guardian and a friend's device), each with its own
encrypted store — creates a 3-of-5 vault per scheme, shows the addresses, signs one real
transaction per chain through the guardians and shows it accepted by that chain's own engine
(the EVM of py-evm, Solana's runtime in LiteSVM, the Secret Network SignDoc checked with
libsecp256k1), exports the Bitcoin vaults' descriptors and spends coins at derived addresses
(m/0/7, accepted by Bitcoin Core's consensus code), refreshes a vault, replaces a guardian, takes
one guardian offline and signs again, and prints a summary.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from gridlock import chains, local
from gridlock.chains import bitcoin, cosmos, ethereum, solana
from gridlock.chains.bitcoin.psbt import Spend
from gridlock.chains.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from gridlock.client import Client, SyncClient, SyncVault
from gridlock.devnet import STANDARD, EmbeddedCluster, GuardianSpec

NAMES = [g.name for g in STANDARD]
SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")
ROWS: list[tuple[str, str, str]] = []


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def record(what: str, result: str, detail: str = "") -> None:
    ROWS.append((what, result, detail))
    print(f"   {what}: {result}{'  (' + detail + ')' if detail else ''}", flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1e3


def bitcoin_spend(ecdsa: SyncVault, taproot: SyncVault) -> None:
    """Coins at derived addresses — m/0/7 of the ECDSA vault's ``wpkh(xpub/0/*)`` and of the Taproot
    vault's ``tr(xpub/0/*)`` — spent in one PSBT (change to the ECDSA vault's m/1/0) whose derivation
    fields name the child keys, as a watch-only wallet writes them; each vault's guardians sign the
    input of their child, and libbitcoinkernel — Bitcoin Core's consensus engine — checks every input."""
    import pbk  # noqa: PLC0415 -- the validator is a test/demo dependency, not a library one
    from pbk.script import PrecomputedTransactionData  # noqa: PLC0415

    step("watch-only export and a spend from derived addresses")
    for v in (ecdsa, taproot):
        d = v.descriptors("regtest")
        print(f"   {v.scheme:<16} receive {d['receive']}")
        print(f"   {'':<16} change  {d['change']}")
    wpkh = bitcoin.p2wpkh_script(ecdsa.child_public_key("m/0/7"))
    tr = bitcoin.p2tr_script(taproot.child_public_key("m/0/7"))
    change = bitcoin.p2wpkh_script(ecdsa.child_public_key("m/1/0"))
    print(f"   m/0/7 P2WPKH    {bitcoin.script_to_address(wpkh, 'regtest')}")
    print(f"   m/0/7 P2TR      {bitcoin.script_to_address(tr, 'regtest')}")
    prev = Transaction(2, (TxIn(OutPoint(os.urandom(32), 0)),), (TxOut(300_000, wpkh), TxOut(200_000, tr)), 0)
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    psbt = bitcoin.create_psbt(
        [
            Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev),
            Spend(OutPoint(prev.txid(), 1), prev.outputs[1]),
        ],
        [TxOut(450_000, dest), TxOut(49_000, change)],
    )
    adapter = chains.get("bitcoin")  # the wallet's Updater role: BIP32 / Taproot derivation fields
    ctx = adapter.describe_keys(adapter.context(psbt, "regtest"), ecdsa.vault.root, ["m/0/7", "m/1/0"])
    ctx = adapter.describe_keys(ctx, taproot.vault.root, ["m/0/7"])
    half = ecdsa.sign_transaction("bitcoin", ctx)  # each vault signs the input its child key owns
    assert half.psbt is not None
    raw = taproot.sign_transaction("bitcoin", half.psbt, network="regtest").raw
    assert raw is not None
    ktx = pbk.Transaction(raw)
    spent = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.amount) for o in prev.outputs]
    pre = PrecomputedTransactionData(ktx, spent)
    flags = pbk.ScriptVerificationFlags.ALL
    ok = [
        bool(pbk.ScriptPubkey(o.script_pubkey).verify(o.amount, ktx, pre, i, flags)) for i, o in enumerate(prev.outputs)
    ]
    record("Bitcoin m/0/7 P2WPKH + m/0/7 P2TR spend", "accepted" if all(ok) else "REJECTED", "libbitcoinkernel")
    if not all(ok):
        raise SystemExit(1)


def ethereum_transfer(vault: SyncVault) -> None:
    from eth_tester import EthereumTester, PyEVMBackend  # noqa: PLC0415
    from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys, get_default_account_keys  # noqa: PLC0415
    from eth_utils.address import to_checksum_address  # noqa: PLC0415

    me = ethereum.address(vault.public_key)
    state = generate_genesis_state_for_keys(get_default_account_keys(1))
    state[bytes.fromhex(me[2:])] = {"balance": 10**18, "nonce": 0, "code": b"", "storage": {}}
    backend = PyEVMBackend(genesis_state=state)
    tester = EthereumTester(backend)
    to = to_checksum_address("0x" + "5a" * 20)
    tx = {
        "type": 2,
        "chainId": int(backend.chain.chain_id),
        "nonce": 0,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "gas": 21000,
        "to": to,
        "value": 12345,
        "data": b"",
        "accessList": [],
    }
    raw = vault.sign_transaction("ethereum", tx).raw
    assert raw is not None
    tester.send_raw_transaction("0x" + raw.hex())
    tester.mine_blocks(1)
    moved = tester.get_balance(to)
    record("Ethereum EIP-1559 transfer", "mined" if moved == 12345 else "FAILED", f"py-evm; recipient +{moved} wei")
    if moved != 12345:
        raise SystemExit(1)


def solana_transfer(vault: SyncVault) -> None:
    from solders.litesvm import LiteSVM  # noqa: PLC0415
    from solders.message import Message  # noqa: PLC0415
    from solders.pubkey import Pubkey  # noqa: PLC0415
    from solders.system_program import TransferParams, transfer  # noqa: PLC0415
    from solders.transaction import Transaction as SolTx  # noqa: PLC0415

    svm = LiteSVM()
    me = Pubkey.from_bytes(vault.public_key)
    svm.airdrop(me, 2 * 10**9)
    to = Pubkey.new_unique()
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=me, to_pubkey=to, lamports=2_000_000))], me, svm.latest_blockhash()
    )
    signed = vault.sign_transaction("solana", bytes(SolTx.new_unsigned(msg))).raw
    assert signed is not None
    result = svm.send_transaction(SolTx.from_bytes(signed))
    ok = svm.get_balance(to) == 2_000_000
    record(
        "Solana transfer", "processed" if ok else f"FAILED {result}", "LiteSVM (Solana runtime), signatures verified"
    )
    if not ok:
        raise SystemExit(1)


def secret_send(vault: SyncVault) -> None:
    from coincurve import PublicKey  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: PLC0415

    me = cosmos.address(vault.public_key, "secret")
    doc = cosmos.bank_send(vault.public_key, me, 1000, chain_id="secret-4")
    signed = vault.sign_transaction("cosmos", doc).raw
    assert signed is not None
    sig = signed[-64:]  # TxRaw ends with the one signature (field 3, 64 bytes)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    ok = PublicKey(vault.public_key).verify(encode_dss_signature(r, s), hashlib.sha256(doc).digest(), hasher=None)
    record("Secret Network MsgSend (SIGN_MODE_DIRECT)", "signed" if ok else "FAILED", "libsecp256k1 over the SignDoc")
    if not ok:
        raise SystemExit(1)


def owner_policy(vault: SyncVault, watch: str) -> None:
    """The owner's policy at work: a bare hash is refused once the vault has chain rules, and a large
    payment to a new destination is held by the watch guardian — a typed answer with its end time."""
    from gridlock.client import OperationFailed  # noqa: PLC0415
    from gridlock.client.errors import SpendHeld  # noqa: PLC0415

    vault.set_policy({"limits": {"ethereum": {"amount": 5 * 10**18, "period": 86400}}, "watch": {"guardian": watch}})
    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": 7,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "gas": 21000,
        "to": "0x" + "27" * 20,
        "value": 2 * 10**18,
        "data": "0x",
        "accessList": [],
    }
    try:
        vault.sign(ethereum.signing_hash(tx))
        record("blind signing of a transaction's hash", "FAILED", "signed without reading the transaction")
    except OperationFailed as exc:
        codes = {str(getattr(e, "code", "")) for e in exc.errors.values()}
        record(
            "blind signing of a transaction's hash", "refused" if codes == {"raw-signing"} else "FAILED", "raw-signing"
        )
    try:
        vault.sign_transaction("ethereum", tx)
        record("2 ETH to a never-paid address", "FAILED", "signed without a hold")
    except SpendHeld as held:
        hours = (held.until - int(time.time())) / 3600
        record("2 ETH to a never-paid address", "held by the watch guardian", f"for {hours:.0f} h; owner notified")


def show_addresses(e: SyncVault, t: SyncVault, ed: SyncVault) -> None:
    step("addresses")
    print(f"   Bitcoin P2WPKH  {bitcoin.address(e.public_key, kind='p2wpkh', network='mainnet')}")
    print(f"   Bitcoin P2TR    {bitcoin.address(t.public_key, kind='p2tr', network='mainnet')}")
    print(f"   Ethereum        {ethereum.address(e.public_key)}")
    print(f"   Solana          {solana.address(ed.public_key)}")
    print(f"   Secret Network  {cosmos.address(e.public_key, 'secret')}")


def main() -> None:
    started = time.perf_counter()
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    with tempfile.TemporaryDirectory(prefix="gridlock-tour-") as tmp:
        holder: dict[str, EmbeddedCluster] = {}

        async def make() -> Client:
            cluster = await EmbeddedCluster.start(
                Path(tmp) / "guardians", [*STANDARD, GuardianSpec("spare")], session_timeout=60.0
            )
            holder["c"] = cluster
            assert cluster.client is not None
            return cluster.client

        sync = SyncClient(make)
        c = holder["c"]
        try:
            five = c.ids[:5]
            step("devnet: local router + 5 guardians (device, enclave, cloud, watch, friend)")
            for name, gid in zip(NAMES, five, strict=True):
                print(f"   {name:<8} {gid}")
            step("a 3-of-5 vault per scheme (distributed key generation; the key never exists in one place)")
            vaults: dict[str, SyncVault] = {}
            for scheme in SCHEMES:
                vaults[scheme], ms = timed(partial(sync.create_vault, scheme, five, 3, password=c.password))
                record(
                    f"vault {scheme}", vaults[scheme].public_key.hex()[:24] + "…", f"DKG over the router {ms:.0f} ms"
                )
            e, t, ed = vaults["ecdsa-secp256k1"], vaults["frost-taproot"], vaults["frost-ed25519"]
            show_addresses(e, t, ed)
            step("one real transaction per chain, signed by the guardians, checked by the chain's engine")
            ethereum_transfer(e)
            solana_transfer(ed)
            secret_send(e)
            bitcoin_spend(e, t)
            step("the owner's policy: every guardian reads what it signs")
            owner_policy(e, five[3])
            step("share lifecycle and failures")
            epoch, ms = timed(t.refresh)
            record("refresh (all shares new, same key)", f"epoch {epoch}", f"{ms:.0f} ms")
            friend, spare = five[4], c.ids[5]
            epoch, ms = timed(lambda: t.replace_guardian(friend, spare, password=c.password))
            record("replace the friend's guardian", f"epoch {epoch}", f"{ms:.0f} ms")
            sync.run(c.stop_guardian(2))  # the cloud guardian goes offline
            m = os.urandom(32)
            sig, ms = timed(lambda: t.sign(m))
            ok = local.verify("frost-taproot", t.public_key, m, sig)
            record("sign with the cloud guardian offline", "valid BIP340" if ok else "FAILED", f"{ms:.0f} ms")
        finally:
            sync.run(c.close())
            sync.close()
    step("summary")
    width = max(len(r[0]) for r in ROWS)
    for what, result, detail in ROWS:
        print(f"   {what:<{width}}  {result:<28} {detail}")
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    if any(r[1].startswith(("FAILED", "REJECTED")) for r in ROWS):
        sys.exit(1)


if __name__ == "__main__":
    main()
