"""Attacks on the spending policy found by review, each performed as it was and shown refused.

A thief holding the owner's device and password (every approval is theirs) tried to: re-point a
Bitcoin input signed with SIGHASH_NONE/SINGLE; export the key; register their own device with a
new guardian in a reshare; loosen the policy at once through limits it did not have or watch
thresholds; move tokens through calls the guardian cannot read (EIP-3009, ERC-777, an unknown
Solana program, a Cosmos vesting account); blind-sign a hash as an EIP-191 message; slip a Cosmos
payment past a time lock; and prime the watch guardian with a dust payment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction as SolTransaction

from gridlock.chains import BitcoinTx, CosmosTx, SolanaTx, cosmos, ethereum
from gridlock.chains.bitcoin import OutPoint, Psbt, Spend, Transaction, TxIn, TxOut, create_psbt
from gridlock.chains.bitcoin.errors import SighashTypeError
from gridlock.chains.context import EthereumMessage, EthereumTx, EthereumTypedData
from gridlock.client import OperationFailed
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.crypto.hashing import hash160
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import InvalidParameterError
from gridlock.guardian.policy import VaultPolicy
from gridlock.guardian.policy_gate import read_spend
from gridlock.policy import Policy, judge
from gridlock.wire.control import Refusal
from test_chain_reading import COSMOS_KEY, ME, THIEF, cosmos_doc, ld, msg_send, pb_any, pb_coin
from test_owner_security import _eth_tx as transfer

DAY = 86400
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
EVE = "0x" + "66" * 20
FRIEND = "0x" + "22" * 20
ETH_KEY = PrivateKey(b"\x07" * 32).public_key.format()


def refusal_of(policy: Policy, spend: Any, **kw: Any) -> Refusal | None:
    d = judge(policy, spend, signers=kw.pop("signers", ["g"]), ledger=[], now=10**6, **kw)
    return None if d.refusal is None else d.refusal.code


# --- Bitcoin: a signature must commit to every output the guardian read ------------------------------
@pytest.mark.parametrize("hash_type", [0x02, 0x03, 0x81, 0x82, 0x83])
def test_a_psbt_asking_for_none_single_or_anyonecanpay_is_refused(hash_type: int) -> None:
    key = PrivateKey(b"\x01" * 32).public_key.format()
    wpkh = b"\x00\x14" + hash160(key)
    prev = Transaction(2, (TxIn(OutPoint(b"\x01" * 32, 0)),), (TxOut(10**8, wpkh),), 0)
    psbt = Psbt.from_base64(
        create_psbt(
            [Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev)],
            [TxOut(10_000, b"\x00\x14" + b"\x22" * 20), TxOut(10**8 - 20_000, wpkh)],
        )
    )
    psbt.set_sighash_type(0, hash_type)
    with pytest.raises(SighashTypeError, match="SIGHASH_ALL"):
        read_spend(BitcoinTx(psbt.to_base64(), "mainnet"), "ecdsa-secp256k1", key)


# --- Ethereum: calls the guardian cannot read, and blind messages -----------------------------------
def _eth_tx(to: str, data: bytes) -> dict[str, Any]:
    return {
        "type": 2, "chainId": 1, "nonce": 0, "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**9,
        "gas": 100_000, "to": to, "value": 0, "data": "0x" + data.hex(), "accessList": [],
    }  # fmt: skip


def _eip3009(value: int) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            ],
            "TransferWithAuthorization": [
                {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"},
            ],
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {"name": "USD Coin", "version": "2", "chainId": 1, "verifyingContract": USDC},
        "message": {"from": ethereum.address(ETH_KEY), "to": EVE, "value": value, "validAfter": 0,
                    "validBefore": 2**40, "nonce": "0x" + "11" * 32},
    }  # fmt: skip


def test_calls_the_guardian_cannot_read_need_the_callee_trusted() -> None:
    usdc_policy = {
        "allow": {"ethereum": [USDC, FRIEND]},  # USDC itself must be listed to pay anyone in USDC
        "limits": {"ethereum": {"amount": 10**18}, f"ethereum:{USDC}": {"amount": 100 * 10**6}},
    }
    p = Policy.from_doc(usdc_policy)
    pay = bytes(keccak(text="transfer(address,uint256)"))[:4] + abi_encode(["address", "uint256"], [FRIEND, 10**7])
    _, honest = read_spend(EthereumTx.of(_eth_tx(USDC, pay)), "ecdsa-secp256k1", ETH_KEY)
    assert refusal_of(p, honest) is None  # a read USDC payment to the friend signs
    _, auth = read_spend(EthereumTypedData.of(_eip3009(10**18)), "ecdsa-secp256k1", ETH_KEY)
    assert refusal_of(p, auth) is Refusal.POLICY  # EIP-3009: a trillion USDC to the thief, unread
    send = bytes(keccak(text="send(address,uint256,bytes)"))[:4] + abi_encode(
        ["address", "uint256", "bytes"], [EVE, 10**30, b""]
    )
    _, erc777 = read_spend(EthereumTx.of(_eth_tx(USDC, send)), "ecdsa-secp256k1", ETH_KEY)
    assert refusal_of(p, erc777) is Refusal.POLICY
    trusted = Policy.from_doc({**usdc_policy, "calls": {"ethereum": [USDC]}})
    assert refusal_of(trusted, erc777) is None  # the owner trusts USDC with calls it cannot read


def test_unread_programs_and_messages_on_solana_and_cosmos_are_refused_under_a_limit() -> None:
    program, thief = Pubkey.new_unique(), Pubkey.new_unique()
    drain = Instruction(program, b"\x01drain", [AccountMeta(ME, True, True), AccountMeta(thief, False, True)])
    tx = SolTransaction.new_unsigned(Message.new_with_blockhash([drain], ME, Hash.default()))
    _, spend = read_spend(SolanaTx(bytes(tx)), "frost-ed25519", bytes(ME))
    assert refusal_of(Policy.from_doc({"limits": {"solana": {"amount": 10**9}}}), spend) is Refusal.POLICY
    value = ld(1, cosmos.address(COSMOS_KEY)) + ld(2, THIEF) + ld(3, pb_coin("uscrt", 10**15))
    doc = cosmos_doc(pb_any("/cosmos.vesting.v1beta1.MsgCreateVestingAccount", value))
    _, vesting = read_spend(CosmosTx(doc, "secret"), "ecdsa-secp256k1", COSMOS_KEY)
    assert refusal_of(Policy.from_doc({"limits": {"cosmos:uscrt": {"amount": 10**6}}}), vesting) is Refusal.POLICY


def test_a_hash_signed_as_a_personal_message_is_raw_signing() -> None:
    p = Policy.from_doc({"limits": {"ethereum": {"amount": 1}}})
    _, blind = read_spend(EthereumMessage(os.urandom(32)), "ecdsa-secp256k1", ETH_KEY)  # a Safe tx hash, say
    assert refusal_of(p, blind) is Refusal.RAW_SIGNING
    _, text = read_spend(EthereumMessage(b"Sign in to example.com\nNonce: 42"), "ecdsa-secp256k1", ETH_KEY)
    assert refusal_of(p, text) is None


# --- Cosmos: amounts are per denomination ------------------------------------------------------------
def test_cosmos_time_locks_and_watch_holds_name_a_denomination() -> None:
    with pytest.raises(InvalidParameterError, match="per denomination"):
        Policy.from_doc({"timelock": {"cosmos": {"above": 1, "delay": DAY}}})
    _, spend = read_spend(
        CosmosTx(cosmos_doc(msg_send(THIEF, ("uscrt", 10**15))), "secret"), "ecdsa-secp256k1", COSMOS_KEY
    )
    locked = Policy.from_doc({"timelock": {"cosmos:uscrt": {"above": 1, "delay": DAY}}})
    assert refusal_of(locked, spend) is Refusal.HELD
    assert refusal_of(Policy(), spend, watching=True) is Refusal.HELD  # the watch guardian's default for SCRT


# --- loosening hidden as something else ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            {"limits": {"ethereum": {"amount": 10**18}}},
            {"limits": {"ethereum": {"amount": 10**18}, f"ethereum:{USDC}": {"amount": 10**30}}},
        ),
        (
            {"limits": {"ethereum:0xNFT": {"amount": 1}}},
            {"limits": {"ethereum:0xNFT": {"amount": 1}, "ethereum:0xNFT#7": {"amount": 10**9}}},
        ),
        ({"watch": {"guardian": "w"}}, {"watch": {"guardian": "w", "large": {"ethereum": 2**255}}}),
    ],
)
def test_a_new_limit_key_or_a_higher_watch_threshold_is_a_loosening(old: dict[str, Any], new: dict[str, Any]) -> None:
    state = VaultPolicy(Policy.from_doc(old, validate_addresses=False)).request(
        Policy.from_doc(new, validate_addresses=False), 10**6
    )
    assert state.pending is not None and state.active == Policy.from_doc(old, validate_addresses=False)


# --- through guardians: export and the owner set of a reshare ----------------------------------------------
def test_export_is_refused_under_a_policy_that_does_not_allow_it(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "cc"], session_timeout=20.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-secp256k1", c.ids, 2, password=c.password)
            await vault.set_policy({"limits": {"bitcoin": {"amount": 1_000, "period": DAY}}})
            with pytest.raises(OperationFailed, match="does not allow exporting"):
                await vault.export()
            replies = await vault.set_policy({"limits": {"bitcoin": {"amount": 1_000}}, "export": True})
            assert all("enables export of the key" in r.reasons for r in replies.values())  # it waits
            with pytest.raises(OperationFailed, match="does not allow exporting"):
                await vault.export()
        finally:
            await c.close()

    asyncio.run(main())


def test_a_reshare_cannot_register_the_thiefs_device_with_new_guardians(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b", "cc", "d", "e"], session_timeout=20.0)
        try:
            assert c.client is not None
            a, b, cc, d, e = c.ids
            vault = await c.client.create_vault("frost-taproot", [a, b, cc], 2, password=c.password)
            thief = OwnerDevice()

            async def thief_registrations(
                vault_id: str, guardians: Any, password: str, devices: Any, required: int
            ) -> Any:
                return {
                    g: {"devices": [thief.public], "required": 1, "notify": ["f" * 32],
                        "verifier": password_verifier("the thief's own password", g, vault_id)}
                    for g in guardians
                }  # fmt: skip

            c.client._registrations = thief_registrations  # type: ignore[method-assign]
            real_call_all = c.client.call_all

            async def call_all(guardians: Any, op: Any, timeout: Any = None, **kw: Any) -> Any:
                each = kw.get("each")
                if op.NAME == "reshare" and each is not None:
                    stolen = thief.approve(vault.vault_id, vault.scheme, op.NAME, op.to_params())
                    kw["each"] = lambda g: dataclasses.replace(each(g), approvals=(stolen,)) if g in (d, e) else each(g)
                return await real_call_all(guardians, op, timeout, **kw)

            c.client.call_all = call_all  # type: ignore[method-assign]
            with pytest.raises(OperationFailed, match="inputs-mismatch"):
                await vault.reshare([d, e], 2, dealers=[a, b], password=c.password)
        finally:
            await c.close()

    asyncio.run(main())


def test_concurrent_spends_cannot_pass_a_limit_while_a_claim_is_written(tmp_path: Path) -> None:
    """A thief with the device and the password sends six 0.3 ETH spends at once against a 1 ETH/day
    limit.  Each guardian judges a spend on its ledger and records it with the session claim; if the
    claim's write let another request be judged in between (a slow disk, a worker thread), that one
    would not see this spend and all six would pass.  The store's write is made slow here."""

    async def run() -> list[str]:
        c = await EmbeddedCluster.start(tmp_path, ["device", "cloud", "friend"], session_timeout=60.0)
        try:
            for g in c.guardians:
                claim = g.keystore.claim_session

                def slow(*a: Any, _claim: Any = claim, **k: Any) -> Any:
                    time.sleep(0.02)  # the fsync of a busy disk
                    return _claim(*a, **k)

                g.keystore.claim_session = slow  # type: ignore[method-assign]
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
            await vault.set_policy({"limits": {"ethereum": {"amount": 10**18, "period": 86_400}}})

            async def spend(i: int) -> str:
                try:
                    await vault.sign_transaction("ethereum", transfer(3 * 10**17, nonce=i), signers=c.ids[:2])
                except OperationFailed:
                    return "refused"
                return "signed"

            return list(await asyncio.gather(*(spend(i) for i in range(6))))
        finally:
            await c.close()

    results = asyncio.run(run())
    assert results.count("signed") == 3, results  # 0.9 ETH; the fourth would pass the limit
