"""``make demo``: a guided tour of Gridlock on a fresh machine, in about half a minute.

It starts a devnet in one process — the local router and five guardians (the owner's device, the
Secret Network enclave guardian whose shares live in an emulated enclave network's custody
contract, a cloud guardian, a Watchlight watch guardian and a friend's device) plus a spare, each
with its own encrypted store — creates a 3-of-5 vault per scheme, shows the addresses, signs one
real transaction per chain through the guardians and shows it accepted by that chain's own engine
(the EVM of py-evm, Solana's runtime in LiteSVM, the Secret Network SignDoc checked with
libsecp256k1), exports the Bitcoin vaults' descriptors and spends coins at derived addresses
(m/0/7, accepted by Bitcoin Core's consensus code), shows the owner's policy refusing and holding,
a device recovery opened and cancelled, a guardian's audit log, then refreshes a vault, lets the
spare replace the friend, takes one guardian offline and signs again.  It ends with a verdict (the
checks are shown once, where they happen) and three commands to try next.

The output is for an 80-column terminal: text wraps at word boundaries (``textwrap``), and colour
is used only when stdout is a terminal and ``NO_COLOR`` is unset.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from gridlock import chains, local
from gridlock.chains import bitcoin, cosmos, ethereum, solana
from gridlock.chains.bitcoin.psbt import Spend
from gridlock.chains.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from gridlock.cli.output import local_time, relative
from gridlock.client import Client, SyncClient, SyncVault
from gridlock.devnet import STANDARD, EmbeddedCluster, GuardianSpec

NAMES = [g.name for g in STANDARD]
ROLES = {
    "device": "the owner's device",
    "enclave": "Secret Network enclave guardian",
    "cloud": "a cloud guardian",
    "watch": "Watchlight, the watch guardian",
    "friend": "a friend's device",
}
SCHEMES = ("frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1")
WIDTH = 80  # every line fits an 80-column terminal: long text wraps at word boundaries
INTRO = (
    "A devnet starts in this process: a local router and five guardians, each with its own "
    "encrypted store. Vaults are made by distributed key generation, real transactions are signed "
    "by any 3 of the 5 and checked by each chain's own engine, and the owner's policy, recovery and "
    "audit log are shown at work. Nothing leaves this machine."
)
NEXT = (
    "gridlock devnet up --detach --spare spare",
    "gridlock vault create --scheme ecdsa-secp256k1 --name main",
    "gridlock address main --chain ethereum",
)
CHECKS: list[tuple[str, bool]] = []  # (what, passed) for the summary


def _colour() -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


STYLES = {"title": "1;36", "ok": "32", "bad": "1;31", "dim": "2", "cmd": "1"}


def paint(text: str, style: str) -> str:
    return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if _colour() else text


def say(text: str, indent: int = 3, hang: int = 0, style: str | None = None) -> None:
    """``text`` wrapped at word boundaries to :data:`WIDTH` (continuation lines indented by ``hang``
    more); a word longer than a line (an address) is kept whole, never split."""
    pad = " " * indent
    lines = textwrap.wrap(
        text,
        WIDTH,
        initial_indent=pad,
        subsequent_indent=pad + " " * hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    for line in lines or [""]:
        print(paint(line, style) if style else line, flush=True)


def step(title: str) -> None:
    print(flush=True)
    say(f"== {title}", indent=0, hang=3, style="title")


def record(what: str, result: str, detail: str = "", ok: bool = True) -> None:
    """One checked outcome: shown once here (the summary only counts them)."""
    CHECKS.append((what, ok))
    text = f"{what}: {result}" + (f" ({detail})" if detail else "")
    lines = textwrap.wrap(text, WIDTH, initial_indent="   ", subsequent_indent="     ", break_long_words=False)
    first = lines[0]
    if _colour() and f": {result}" in first:
        first = first.replace(f": {result}", ": " + paint(result, "ok" if ok else "bad"), 1)
    print(first, flush=True)
    for line in lines[1:]:
        print(line, flush=True)


def short(text: str, keep: int = 12) -> str:
    """A long key or descriptor shortened for the screen (the full one: `gridlock vault descriptors`)."""
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-6:]}"


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
    say("Descriptors for a watch-only wallet (the xpub shortened here):")
    for v in (ecdsa, taproot):
        d, xpub = v.descriptors("regtest"), v.xpub("regtest")
        print(f"   {v.vault_id}  receive {d['receive'].replace(xpub, short(xpub, 10))}")
        print(f"   {'':<16}  change  {d['change'].replace(xpub, short(xpub, 10))}")
    wpkh = bitcoin.p2wpkh_script(ecdsa.child_public_key("m/0/7"))
    tr = bitcoin.p2tr_script(taproot.child_public_key("m/0/7"))
    change = bitcoin.p2wpkh_script(ecdsa.child_public_key("m/1/0"))
    print(f"   m/0/7 P2WPKH {bitcoin.script_to_address(wpkh, 'regtest')}")
    print(f"   m/0/7 P2TR   {bitcoin.script_to_address(tr, 'regtest')}")
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
    record(
        "one PSBT spending both m/0/7 coins",
        "accepted" if all(ok) else "REJECTED",
        "each vault signed its input; Bitcoin Core's libbitcoinkernel checked both",
        ok=all(ok),
    )
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
    record(
        "Ethereum EIP-1559 transfer",
        "mined" if moved == 12345 else "FAILED",
        f"py-evm; recipient +{moved} wei",
        ok=moved == 12345,
    )
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
        "Solana transfer",
        "processed" if ok else f"FAILED {result}",
        "LiteSVM, the Solana runtime, verified the signature",
        ok=ok,
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
    record("Secret Network MsgSend", "signed" if ok else "FAILED", "libsecp256k1 over the SignDoc", ok=ok)
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
        record("blind signing of a transaction's hash", "FAILED", "signed without reading it", ok=False)
    except OperationFailed as exc:
        codes = {str(getattr(e, "code", "")) for e in exc.errors.values()}
        refused = codes == {"raw-signing"}
        record("blind signing of a transaction's hash", "refused" if refused else "FAILED", "raw-signing", ok=refused)
    try:
        vault.sign_transaction("ethereum", tx)
        record("2 ETH to a never-paid address", "FAILED", "signed without a hold", ok=False)
    except SpendHeld as held:
        record("2 ETH to a never-paid address", "held by the watch guardian", f"{relative(held.until)}; owner told")


def show_policy(vault: SyncVault, guardians: list[str]) -> None:
    """The policy as the guardians report it: one fingerprint means every copy is the same."""
    from gridlock.cli.policy_options import describe_lines  # noqa: PLC0415

    replies = [vault.policy(g) for g in guardians]
    prints = {r.fingerprint for r in replies}
    say(f"Vault {vault.vault_id}'s policy, as its {len(replies)} guardians report it:")
    for line in describe_lines(replies[0].rules):
        say(f"- {line}", indent=5)
    record("every guardian holds the same policy", "yes" if len(prints) == 1 else "NO", ok=len(prints) == 1)


def device_recovery(sync: SyncClient, vault: SyncVault, password: str) -> None:
    """A lost device replaced, briefly: a new device proves the password and opens a time-locked
    recovery; the guardians tell the registered device, which cancels it during the time lock."""
    from gridlock.client import recovery_start, recovery_status  # noqa: PLC0415
    from gridlock.client.owner import OwnerDevice  # noqa: PLC0415

    client = vault.vault.client
    assert client.owner is not None
    guardians = list(vault.guardians)
    unlock = sync.run(
        recovery_start(
            client,
            vault.vault_id,
            guardians,
            lost_device=client.owner.public,
            password=password,
            new_device=OwnerDevice(),
        )
    )
    ends = max(unlock.values())
    say(
        f"A new device opened the recovery of vault {vault.vault_id} with the password; the time lock "
        f"ends {local_time(ends)} ({relative(ends)}), and the owner's device was told."
    )
    states = {r.get("state") for r in sync.run(recovery_status(client, vault.vault_id, guardians)).values()}
    record(
        "recovery status at every guardian", "open" if states == {"open"} else f"FAILED {states}", ok=states == {"open"}
    )
    sync.run(vault.vault.recovery_cancel())  # approved by the registered device: a thief's recovery ends here
    states = {r.get("state") for r in sync.run(recovery_status(client, vault.vault_id, guardians)).values()}
    ok = states == {"cancelled"}
    record("the owner's device cancels it", "cancelled" if ok else f"FAILED {states}", ok=ok)


def show_audit(sync: SyncClient, vault: SyncVault, guardian: str, name: str) -> None:
    """The newest entries of one guardian's signed audit log, verified entry by entry."""
    entries = sync.run(vault.vault.audit(guardian))
    say(
        f"The {name} guardian's log of vault {vault.vault_id} has {len(entries)} entries, each signed and "
        "chained to the one before, all verified; the newest:"
    )
    for e in entries[-4:]:
        reason = f" ({e['reason'].split(':')[0]})" if e.get("reason") else ""
        say(f"#{e['n']} {local_time(e['time'])}  {e['op']} → {e['decision']}{reason}", indent=5, hang=4)


def show_addresses(e: SyncVault, t: SyncVault, ed: SyncVault) -> None:
    step("addresses: one key, one address per chain")
    print(f"   BTC P2WPKH  {bitcoin.address(e.public_key, kind='p2wpkh', network='mainnet')}")
    print(f"   BTC P2TR    {bitcoin.address(t.public_key, kind='p2tr', network='mainnet')}")
    print(f"   Ethereum    {ethereum.address(e.public_key)}")
    print(f"   Solana      {solana.address(ed.public_key)}")
    print(f"   Secret      {cosmos.address(e.public_key, 'secret')}")


def lifecycle(sync: SyncClient, c: EmbeddedCluster, t: SyncVault) -> None:
    """Refresh, the spare taking the friend's seat, and signing with a guardian offline."""
    step("share lifecycle and failures")
    epoch, ms = timed(t.refresh)
    record(f"refresh vault {t.vault_id}", f"epoch {epoch}", f"every share new, same key; {ms:.0f} ms")
    friend, spare = c.ids[4], c.ids[5]
    epoch, ms = timed(lambda: t.replace_guardian(friend, spare, password=c.password))
    record("replace the friend's guardian by the spare", f"epoch {epoch}", f"{ms:.0f} ms")
    sync.run(c.stop_guardian(2))  # the cloud guardian goes offline
    m = os.urandom(32)
    sig, ms = timed(lambda: t.sign(m))
    ok = local.verify("frost-taproot", t.public_key, m, sig)
    record("sign with the cloud guardian offline", "valid BIP340" if ok else "FAILED", f"{ms:.0f} ms", ok=ok)


def main() -> None:
    started = time.perf_counter()
    print(paint("Gridlock: a guided tour", "title"))
    say(INTRO, indent=0, hang=0)
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
            step("the devnet: a local router, five guardians and a spare")
            for name, gid in zip(NAMES, five, strict=True):
                print(f"   {name:<8} {gid}  {ROLES[name]}")
            print(f"   {'spare':<8} {c.ids[5]}  {paint('in no vault yet; replaces friend', 'dim')}")
            step("a 3-of-5 vault per scheme, by distributed key generation")
            say("The whole key never exists in one place: each guardian keeps only its share.")
            vaults: dict[str, SyncVault] = {}
            for scheme in SCHEMES:
                vaults[scheme], ms = timed(partial(sync.create_vault, scheme, five, 3, password=c.password))
                record(f"vault {vaults[scheme].vault_id}", scheme, f"DKG {ms:.0f} ms")
            e, t, ed = vaults["ecdsa-secp256k1"], vaults["frost-taproot"], vaults["frost-ed25519"]
            show_addresses(e, t, ed)
            step("one real transaction per chain, checked by the chain's own engine")
            ethereum_transfer(e)
            solana_transfer(ed)
            secret_send(e)
            bitcoin_spend(e, t)
            step("the owner's policy: every guardian reads what it signs")
            owner_policy(e, five[3])
            show_policy(e, five)
            step("device recovery: time-locked, and the owner's device can stop it")
            device_recovery(sync, ed, c.password)
            step("the audit log: every request, signed by the guardian that saw it")
            show_audit(sync, e, five[0], NAMES[0])
            lifecycle(sync, c, t)
        finally:
            sync.run(c.close())
            sync.close()
    summary(time.perf_counter() - started)


def summary(seconds: float) -> None:
    """A verdict, not a second copy of the tour: how many checks passed, which failed, what next."""
    failed = [what for what, ok in CHECKS if not ok]
    step("summary")
    if failed:
        say(f"{len(failed)} of {len(CHECKS)} checks FAILED in {seconds:.0f} s:", style="bad")
        for what in failed:
            say(f"- {what}", indent=5)
    else:
        say(f"All {len(CHECKS)} checks passed in {seconds:.0f} s.", style="ok")
    step("next: try it yourself")
    say(
        "Three commands to start (`gridlock` is .venv/bin/gridlock): a devnet that keeps running between "
        "commands, a 3-of-5 vault on it, and its address. `gridlock --help` lists the rest."
    )
    for cmd in NEXT:
        print(f"   {paint(cmd, 'cmd')}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
