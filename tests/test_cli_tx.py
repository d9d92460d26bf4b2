"""From the CLI alone, per chain: ``tx build`` → ``sign-tx`` → acceptance by the independent engine the
chain tests use (py-evm, libbitcoinkernel, LiteSVM, libsecp256k1 for Cosmos), and ``sign-message``
checked by independent libraries (eth-account, PyNaCl, libbitcoinkernel for BIP-322).

One embedded devnet serves the module (``test_cli``'s helpers run real commands in subprocesses).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import base58
import nacl.exceptions
import nacl.signing
import pbk
import pytest
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys, get_default_account_keys
from eth_utils.address import to_checksum_address
from pbk.script import PrecomputedTransactionData
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from gridlock import chains
from gridlock.chains import bitcoin, cosmos
from gridlock.chains.bitcoin import Transaction, TxOut, bip322
from gridlock.chains.bitcoin.tx import Reader, TxIn, read_witness
from test_chain_ethereum import TYPED_DATA
from test_cli import PASSWORD, Run, fails, gl, ok, teardown

FLAGS = pbk.ScriptVerificationFlags.ALL
DEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ETH_TO = "0x" + "ab" * 20  # all lower case: tx build writes its checksummed form (mixed case)
TXID = "11" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    h = tmp_path_factory.mktemp("clitx") / "devnet"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--json"))
        yield h
    finally:
        teardown(h)


@pytest.fixture(scope="module")
def vaults(home: Path) -> dict[str, dict[str, Any]]:
    """An ECDSA and a Taproot vault on the same three guardians (so one PSBT may spend both), and an
    Ed25519 vault."""
    out = {}
    for name, scheme in (("e", "ecdsa"), ("t", "taproot"), ("s", "ed25519")):
        out[name] = ok(
            gl(
                home,
                "vault",
                "create",
                "--scheme",
                scheme,
                "-t",
                "2",
                "-g",
                "device,cloud,watch",
                "--name",
                name,
                "--json",
            )
        )
    return out


def kernel_accepts(raw: bytes, spent: list[TxOut]) -> list[bool]:
    """libbitcoinkernel (Bitcoin Core's script engine) on every input of ``raw``."""
    ktx = pbk.Transaction(raw)
    pre = PrecomputedTransactionData(
        ktx, [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.amount) for o in spent]
    )
    return [bool(pbk.ScriptPubkey(o.script_pubkey).verify(o.amount, ktx, pre, i, FLAGS)) for i, o in enumerate(spent)]


# --- Ethereum ---------------------------------------------------------------------------------------
def test_ethereum_transfer_and_erc20_are_mined(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    me = vaults["e"]["addresses"]["ethereum"]
    state = generate_genesis_state_for_keys(get_default_account_keys(1))
    state[bytes.fromhex(me[2:])] = {"balance": 10**21, "nonce": 0, "code": b"", "storage": {}}
    backend = PyEVMBackend(genesis_state=state)
    evm, chain_id = EthereumTester(backend), int(backend.chain.chain_id)
    fees = ["--chain-id", str(chain_id), "--max-fee-per-gas", str(10**10), "--priority-fee", str(10**9)]

    native = tmp_path / "native.json"
    built = ok(gl(home, "tx", "build", "--chain", "ethereum", "--vault", "e", "--to", ETH_TO, "--amount", str(10**15),
                  "--nonce", "0", *fees, "--out", str(native), "--json"))  # fmt: skip
    assert json.loads(native.read_text())["to"] == to_checksum_address(ETH_TO)
    assert built["review"]["movements"][0]["text"] == f"send 0.001 ETH to {to_checksum_address(ETH_TO)}"
    token = "0x" + "77" * 20
    erc20 = tmp_path / "erc20.json"
    ok(gl(home, "tx", "build", "--chain", "ethereum", "--to", ETH_TO, "--token", token, "--amount", "5000",
          "--nonce", "1", *fees, "--out", str(erc20)))  # fmt: skip

    s1 = ok(gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(native), "--yes", "--json"))
    s2 = ok(gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(erc20), "--yes", "--json"))
    texts = [m["text"] for m in s2["review"]["movements"]]
    assert any("5000 base units of token 0x7777" in t and ETH_TO[2:10] in t.lower() for t in texts), texts
    assert any(t.startswith("call contract") for t in texts)
    assert s2["review"]["call"] == {
        "selector": "0xa9059cbb",
        "function": "transfer(address,uint256)",
        "arguments": [to_checksum_address(ETH_TO), "5000"],
    }
    for signed in (s1, s2):
        assert Account.recover_transaction(signed["tx_hex"]) == me
        evm.send_raw_transaction(signed["tx_hex"])
        evm.mine_blocks(1)
        assert evm.get_transaction_receipt(signed["tx_hash"])["status"] == 1
    assert evm.get_balance(json.loads(native.read_text())["to"]) == 10**15
    # --out writes the raw transaction, which sign-tx reads back (its signature dropped, signed anew)
    signed_file = tmp_path / "native.signed"
    ok(gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(native), "--yes", "--out", str(signed_file)))
    again = ok(gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(signed_file), "--yes", "--json"))
    assert again["summary"]["signing_hash"] == s1["summary"]["signing_hash"]  # the same transaction
    assert Account.recover_transaction(again["tx_hex"]) == me


def test_ethereum_recipient_without_checksum_is_named(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    f = tmp_path / "lower.json"
    tx = {"type": 2, "chainId": 1, "nonce": 0, "to": ETH_TO, "value": 1, "gas": 21000,
          "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}  # fmt: skip
    f.write_text(json.dumps(tx))
    checksummed = to_checksum_address(ETH_TO)
    fails(gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(f), "--yes"), 2, "EIP-55", checksummed)
    flipped = checksummed[:-1] + (checksummed[-1].lower() if checksummed[-1].isupper() else checksummed[-1].upper())
    if flipped != checksummed and not flipped[-1].isdigit():
        f.write_text(json.dumps({**tx, "to": flipped}))
        fails(
            gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(f), "--yes"), 2, "fails its EIP-55", checksummed
        )


def test_sign_tx_asks_first(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    """Without a terminal and without --yes nothing is signed, and the summary says what would have been."""
    f = tmp_path / "t.json"
    ok(gl(home, "tx", "build", "--chain", "ethereum", "--to", ETH_TO, "--amount", "1", "--nonce", "0",
          "--chain-id", "1", "--max-fee-per-gas", "10", "--out", str(f)))  # fmt: skip
    r = gl(home, "sign-tx", "e", "--chain", "ethereum", "--tx", str(f))
    assert r.rc == 2 and "--yes" in r.err and "nothing was signed" in r.err
    assert f"send 0.000000000000000001 ETH to {to_checksum_address(ETH_TO)}" in r.err and "fee at most" in r.err


def on_terminal(home: Path, answer: str, *args: str) -> Run:
    """``gridlock ARGS`` with a terminal as stdin, on which ``answer`` is typed."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLOCK_")}
    env.update({"GRIDLOCK_HOME": str(home), "GRIDLOCK_PASSWORD": PASSWORD, "COLUMNS": "200"})
    try:
        os.write(master, answer.encode() + b"\n")
        p = subprocess.run(
            [sys.executable, "-m", "gridlock.cli", *args],
            stdin=slave,
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    return Run(p.returncode, p.stdout, p.stderr)


def test_sign_tx_confirms_on_a_terminal(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    ok(gl(home, "tx", "build", "--chain", "ethereum", "--to", ETH_TO, "--amount", "7", "--nonce", "3",
          "--chain-id", "1", "--max-fee-per-gas", "10", "--out", str(f)))  # fmt: skip
    no = on_terminal(home, "n", "sign-tx", "e", "--chain", "ethereum", "--tx", str(f), "--json")
    assert no.rc == 1 and "declined" in no.err and "sign this ethereum transaction" in no.err
    assert json.loads(no.out)["error"]["code"] == "declined"
    yes = on_terminal(home, "y", "sign-tx", "e", "--chain", "ethereum", "--tx", str(f), "--json")
    assert yes.rc == 0, yes.err
    assert Account.recover_transaction(json.loads(yes.out)["tx_hex"]) == vaults["e"]["addresses"]["ethereum"]


# --- Bitcoin ----------------------------------------------------------------------------------------
def test_bitcoin_psbt_of_two_vaults_is_signed_vault_by_vault(
    home: Path, vaults: dict[str, Any], tmp_path: Path
) -> None:
    spec = {
        "chain": "bitcoin",
        "network": "regtest",
        "inputs": [
            {"txid": TXID, "vout": 0, "amount": 300_000, "vault": "e", "path": "m/0/7"},
            {"txid": TXID, "vout": 1, "amount": 200_000, "vault": "t", "path": "m/0/7"},
        ],
        "outputs": [{"address": DEST, "amount": 450_000}],
        "change": {"vault": "e", "path": "m/1/0"},
        "fee_rate": 2,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    psbt, half, full = tmp_path / "spend.psbt", tmp_path / "half.psbt", tmp_path / "full.psbt"
    built = ok(gl(home, "tx", "build", "--spec", str(tmp_path / "spec.json"), "--out", str(psbt), "--json"))
    summary = built["summary"]
    assert [r["amount"] for r in summary["recipients"]] == [450_000, 500_000 - 450_000 - summary["fee"]]
    # 2 sat/vB of the signed size: 10.5 + 68 (P2WPKH in) + 57.5 (P2TR in) + 31 + 31 (outputs) vB, a byte or two over
    assert 2 * 197 <= summary["fee"] <= 2 * 200

    a = ok(gl(home, "sign-tx", "e", "--chain", "bitcoin", "--network", "regtest", "--tx", str(psbt), "--yes",
              "--out", str(half), "--json"))  # fmt: skip
    assert a["signatures"] == 1 and a["tx_hex"] is None and "input 1" in a["finalize_error"]
    b = ok(gl(home, "sign-tx", "t", "--chain", "bitcoin", "--network", "regtest", "--tx", str(half), "--yes",
              "--out", str(full), "--json"))  # fmt: skip
    assert b["signatures"] == 1 and b["tx_hex"] and not b.get("finalize_error")
    raw = bytes.fromhex(b["tx_hex"])
    spent = [TxOut(i["amount"], bytes.fromhex(i["script_pubkey"])) for i in summary["inputs"]]
    assert kernel_accepts(raw, spent) == [True, True]
    assert Transaction.parse(raw).txid_hex == b["txid"] == summary["txid"]
    # the --out file is a PSBT sign-tx reads back: the completed one finalises again to the same transaction
    again = ok(gl(home, "sign-tx", "t", "--chain", "bitcoin", "--network", "regtest", "--tx", str(full), "--yes",
                  "--json"))  # fmt: skip
    assert again["txid"] == b["txid"]


def test_bitcoin_from_utxo_options_with_change(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    """A Taproot vault's own coin, --utxo and --change options only; change back to the vault."""
    psbt = tmp_path / "tr.psbt"
    built = ok(gl(home, "tx", "build", "--chain", "bitcoin", "--network", "regtest", "--vault", "t",
                  "--utxo", f"{TXID}:5:100000", "--to", DEST, "--amount", "60000", "--fee-rate", "1.5",
                  "--out", str(psbt), "--json"))  # fmt: skip
    s = built["summary"]
    mine = bitcoin.address(bytes.fromhex(vaults["t"]["public_key"]), kind="p2tr", network="regtest")
    assert s["recipients"][1]["address"] == mine and s["inputs"][0]["address"] == mine
    assert s["recipients"][1]["amount"] == 40_000 - s["fee"] and 0 < s["fee"] < 300
    signed = ok(
        gl(home, "sign-tx", "t", "--chain", "bitcoin", "--network", "regtest", "--tx", str(psbt), "--yes", "--json")
    )
    spent = [TxOut(i["amount"], bytes.fromhex(i["script_pubkey"])) for i in s["inputs"]]
    assert kernel_accepts(bytes.fromhex(signed["tx_hex"]), spent) == [True]
    # not enough coins: a usage error naming the amounts
    poor = gl(home, "tx", "build", "--chain", "bitcoin", "--network", "regtest", "--vault", "t",
              "--utxo", f"{TXID}:5:1000", "--to", DEST, "--amount", "60000", "--fee-rate", "1")  # fmt: skip
    fails(poor, 2, "1000 sat")


# --- Solana -----------------------------------------------------------------------------------------
def test_solana_transfer_is_processed(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    me = Pubkey.from_string(vaults["s"]["addresses"]["solana"])
    svm = LiteSVM()
    svm.airdrop(me, 10**10)
    to = Pubkey.new_unique()
    tx, out = tmp_path / "sol.tx", tmp_path / "sol.signed"
    ok(gl(home, "tx", "build", "--chain", "solana", "--vault", "s", "--to", str(to), "--amount", "1234567",
          "--blockhash", str(svm.latest_blockhash()), "--out", str(tx)))  # fmt: skip
    signed = ok(gl(home, "sign-tx", "s", "--chain", "solana", "--tx", str(tx), "--yes", "--out", str(out), "--json"))
    assert any(m["text"] == f"send 0.001234567 SOL to {to}" for m in signed["review"]["movements"])
    # --out is base64, which sign-tx reads back (one format in and out)
    assert base64.b64decode(out.read_text()) == base64.b64decode(signed["tx_base64"])
    ok(gl(home, "sign-tx", "s", "--chain", "solana", "--tx", str(out), "--yes", "--json"))
    result = svm.send_transaction(VersionedTransaction.from_bytes(base64.b64decode(out.read_text())))
    assert svm.get_balance(to) == 1234567, result


# --- Cosmos -----------------------------------------------------------------------------------------
def test_cosmos_msgsend_signature_verifies(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    to = cosmos.address(PrivateKey(b"\x07" * 32).public_key.format())  # someone else's account
    doc = tmp_path / "send.signdoc"
    built = ok(gl(home, "tx", "build", "--chain", "cosmos", "--vault", "e", "--to", to, "--amount", "1500000",
                  "--chain-id", "pulsar-3", "--account-number", "42", "--sequence", "7", "--memo", "rent",
                  "--out", str(doc), "--json"))  # fmt: skip
    assert built["summary"]["chain_id"] == "pulsar-3" and built["summary"]["memo"] == "rent"
    signed = ok(gl(home, "sign-tx", "e", "--chain", "cosmos", "--tx", str(doc), "--yes", "--json"))
    assert any(m["text"].startswith(f"send 1.5 SCRT (1500000 uscrt) to {to}") for m in signed["review"]["movements"])
    sign_doc = base64.b64decode(doc.read_text())
    sig = base64.b64decode(signed["tx_base64"])[-64:]
    digest = hashlib.sha256(sign_doc).digest()
    key = PublicKey(bytes.fromhex(vaults["e"]["public_key"]))
    assert key.verify(cdata_to_der(deserialize_compact(sig)), digest, hasher=None)
    assert not key.verify(cdata_to_der(deserialize_compact(sig)), hashlib.sha256(sign_doc + b"x").digest(), hasher=None)


# --- messages ---------------------------------------------------------------------------------------
def test_ethereum_personal_and_typed_messages_recover(home: Path, vaults: dict[str, Any], tmp_path: Path) -> None:
    me = vaults["e"]["addresses"]["ethereum"]
    d = ok(
        gl(home, "sign-message", "e", "--chain", "ethereum", "--personal", "Sign in to example.org", "--yes", "--json")
    )
    sig = bytes.fromhex(d["signature"][2:])
    assert len(sig) == 65 and sig[64] in (27, 28) and d["recovery_id"] == sig[64] - 27
    assert Account.recover_message(encode_defunct(text="Sign in to example.org"), signature=sig) == me
    assert Account.recover_message(encode_defunct(text="Sign in to example.com"), signature=sig) != me
    f = tmp_path / "mail.json"
    f.write_text(json.dumps(TYPED_DATA))
    t = ok(gl(home, "sign-message", "e", "--chain", "ethereum", "--typed-data", str(f), "--yes", "--json"))
    assert Account.recover_message(encode_typed_data(full_message=TYPED_DATA), signature=t["signature"]) == me


def test_raw_ecdsa_signature_carries_its_recovery_id(home: Path, vaults: dict[str, Any]) -> None:
    digest = hashlib.sha256(b"recover me").digest()
    d = ok(gl(home, "sign", "e", "--message", digest.hex(), "--json"))
    rsv = bytes.fromhex(d["signature_rsv"])
    assert rsv[:64] == bytes.fromhex(d["signature"]) and rsv[64] == d["recovery_id"] in (0, 1)
    recovered = PublicKey.from_signature_and_message(rsv, digest, hasher=None)
    assert recovered.format() == bytes.fromhex(vaults["e"]["public_key"])


def test_solana_offchain_message_verifies(home: Path, vaults: dict[str, Any]) -> None:
    text = "I own this account"
    d = ok(gl(home, "sign-message", "s", "--chain", "solana", "--text", text, "--yes", "--json"))
    # the Solana SDK's off-chain message v0, written out independently: domain, version 0, format 0
    # (restricted ASCII), u16 length, message
    expected = b"\xffsolana offchain" + b"\x00" + b"\x00" + len(text).to_bytes(2, "little") + text.encode()
    assert bytes.fromhex(d["signed_bytes"]) == expected
    key = nacl.signing.VerifyKey(bytes(Pubkey.from_string(d["address"])))
    key.verify(expected, base58.b58decode(d["signature"]))
    with pytest.raises(nacl.exceptions.BadSignatureError):
        key.verify(text.encode(), base58.b58decode(d["signature"]))  # not a signature of the bare text


@pytest.mark.parametrize("vault", ["e", "t"])
def test_bip322_simple_signature_passes_the_script_engine(home: Path, vaults: dict[str, Any], vault: str) -> None:
    msg = "Hello World"
    d = ok(
        gl(home, "sign-message", vault, "--chain", "bitcoin", "--network", "regtest", "--text", msg, "--yes", "--json")
    )
    script = bitcoin.address_to_script(d["address"], "regtest")
    assert bitcoin.script_kind(script) == ("p2wpkh" if vault == "e" else "p2tr")
    to_spend = bip322.to_spend(script, msg.encode())
    unsigned = bitcoin.Psbt.from_base64(bip322.to_sign_psbt(script, msg.encode())).tx
    witness = _witness(base64.b64decode(d["signature"]))
    signed = Transaction(0, (TxIn(unsigned.inputs[0].prevout, b"", 0, witness),), unsigned.outputs, 0)
    assert kernel_accepts(signed.serialize(), [to_spend.outputs[0]]) == [True]
    other = bip322.to_spend(script, b"Hello World!")  # another message: another to_spend, the witness fails
    moved = Transaction(0, (TxIn(bitcoin.OutPoint(other.txid(), 0), b"", 0, witness),), unsigned.outputs, 0)
    assert kernel_accepts(moved.serialize(), [other.outputs[0]]) == [False]


def test_bip322_known_vectors() -> None:
    """BIP-322's published message hashes, and to_spend / to_sign txids for its example address."""
    assert bip322.message_hash(b"").hex() == "c90c269c4f8fcbe6880f72a721ddfbf1914268a794cbb21cfafee13770ae19f1"
    assert (
        bip322.message_hash(b"Hello World").hex() == "f0eb03b1a75ac6d9847f55c624a99169b5dccba2a31f5b23bea77ba270de0a7a"
    )
    script = bitcoin.address_to_script("bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l", "mainnet")
    for msg, spend, sign in (
        (b"", "c5680aa69bb8d860bf82d4e9cd3504b55dde018de765a91bb566283c545a99a7",
         "1e9654e951a5ba44c8604c4de6c67fd78a27e81dcadcfe1edf638ba3aaebaed6"),
        (b"Hello World", "b79d196740ad5217771c1098fc4a4b51e0535c32236c71f1ea4d61a2d603352b",
         "88737ae86f2077145f93cc4b153ae9a1cb8d56afa511988c149c5c8c9d93bddf"),
    ):  # fmt: skip
        assert bip322.to_spend(script, msg).txid_hex == spend
        assert bitcoin.Psbt.from_base64(bip322.to_sign_psbt(script, msg)).tx.txid_hex == sign


def _witness(data: bytes) -> tuple[bytes, ...]:
    r = Reader(data, "witness")
    stack = read_witness(r)
    r.end()
    return stack


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("spec", "built", "chain", "network"),
    [
        ("ethereum-transfer.json", "ethereum-transfer.tx.json", "ethereum", None),
        ("ethereum-erc20-transfer.json", "ethereum-erc20-transfer.tx.json", "ethereum", None),
        ("bitcoin-payment.json", "bitcoin-payment.psbt", "bitcoin", "regtest"),
        ("solana-transfer.json", "solana-transfer.tx.b64", "solana", None),
    ],
)
def test_examples_build_to_their_files(tmp_path: Path, spec: str, built: str, chain: str, network: str | None) -> None:
    """examples/README.md's files: each spec builds (no devnet, no vault) to the file beside it, which
    sign-tx's reader takes as that chain's transaction."""
    out = tmp_path / "tx"
    ok(gl(tmp_path / "none", "tx", "build", "--spec", str(EXAMPLES / spec), "--out", str(out), password=None))
    assert out.read_text() == (EXAMPLES / built).read_text()
    ctx = chains.get(chain).load(out.read_bytes(), network)
    assert chains.get(chain).summary(ctx)


def test_cosmos_example_signdoc_reads() -> None:
    doc = chains.get("cosmos").load((EXAMPLES / "cosmos-send.signdoc.b64").read_bytes(), "secret")
    s = chains.get("cosmos").summary(doc)
    spec = json.loads((EXAMPLES / "cosmos-send.json").read_text())
    assert s["transfers"][0]["recipient"] == spec["to"] and s["memo"] == spec["memo"]
    assert s["account_number"] == spec["account_number"] and s["chain_id"] == spec["chain_id"]


def test_a_chain_rule_still_refuses_raw_message_signing(home: Path, vaults: dict[str, Any]) -> None:
    """A Solana off-chain message is signed raw: once the owner sets a chain rule, the guardians refuse
    it (the policy's raw-signing rule), while a transaction is still read and signed.  Last in this
    module: the policy stays on vault s."""
    ok(gl(home, "policy", "set", "s", "--limit", "solana:1000000000/3600", "--json"))
    r = gl(home, "sign-message", "s", "--chain", "solana", "--text", "hi", "--yes")
    assert r.rc == 1 and "raw-signing" in r.err and "signature" not in r.out
