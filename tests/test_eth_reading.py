"""A guardian's reading of Ethereum transactions and messages is complete (issue 14, bullet 4).

* The three attacks that walked around a policy allowing only a token contract and one friend —
  ``approve(thief, 2**256 - 1)``, a ``transfer`` with one trailing calldata byte, a 50 ETH maximum
  fee — now read as movements that policy refuses.
* Every selector the reading decodes has a vector built here with eth-abi's encoder and the
  selector written out as published (not derived by the code under test); each vector, with a
  trailing byte, one byte short or with dirty address padding, is no longer that function.
* EIP-712 permits (EIP-2612, DAI, Permit2) are read as approvals; their digests equal eth-account's
  ``encode_typed_data`` and the EIP-2612 / DAI type hashes the token contracts publish.
* The message contexts cross the wire; ``check_address`` follows EIP-55; an embedded cluster signs a
  personal message and a permit that eth-account recovers to the vault, and refuses a permit to a
  spender outside the allow-list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from eth_utils import keccak, to_checksum_address

from gridlock import chains, local
from gridlock.chains import EthereumMessage, EthereumTx, EthereumTypedData, TxContext, TxContextError, ethereum
from gridlock.chains.ethereum_calldata import FUNCTIONS
from gridlock.chains.movement import UNBOUNDED, Kind, Movement
from gridlock.client import Client, OperationFailed, SyncClient
from gridlock.crypto import codec
from gridlock.devnet import EmbeddedCluster
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError
from gridlock.guardian.policy_gate import read_spend
from gridlock.policy import Policy, Spend, judge
from gridlock.wire import ops


def addr(byte: int) -> str:
    return str(to_checksum_address("0x" + f"{byte:02x}" * 20))


TOKEN, TOKEN2, TOKEN3 = addr(0xAB), addr(0xAC), addr(0xAD)
FRIEND, THIEF, SPENDER, VAULT = addr(0x11), addr(0x66), addr(0x22), addr(0x33)
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"  # Uniswap's Permit2, the same on every chain
ETH = chains.get("ethereum")
GAS, MAX_FEE_PER_GAS = 100_000, 10**9
FEE = Movement.fee(GAS * MAX_FEE_PER_GAS)


def tx(to: str | None, data: bytes = b"", value: int = 0, **fields: Any) -> dict[str, Any]:
    base = {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "maxFeePerGas": MAX_FEE_PER_GAS,
        "maxPriorityFeePerGas": 1,
        "gas": GAS,
        "value": value,
        "data": data,
        "accessList": [],
    }
    return {**base, **({} if to is None else {"to": to}), **fields}


def read(t: dict[str, Any]) -> tuple[Movement, ...]:
    """The guardian's reading: the request's context decoded from its wire form, then read_spend."""
    ctx = TxContext.from_wire(codec.loads(codec.dumps(EthereumTx.of(t).to_wire())))
    allowed, spend = read_spend(ctx, "ecdsa-secp256k1", b"")
    assert allowed == {ethereum.signing_hash(t)}
    return spend.movements


def refusal(moves: tuple[Movement, ...], allow: set[str], limits: dict[str, int] | None = None) -> str | None:
    """The owner's policy as each guardian applies it (gridlock.policy.judge): an allow-list and
    per-asset limits.  The refusal's reason, or ``None`` if the transaction passes."""
    doc = {
        "allow": {"ethereum": sorted(a for a in allow if a)} if allow else {},
        "limits": {(f"ethereum:{a}" if a else "ethereum"): {"amount": n} for a, n in (limits or {}).items()},
    }
    policy = Policy.from_doc(doc, validate_addresses=False)
    decision = judge(policy, Spend("ethereum", moves, "tx"), signers=(), ledger=[], now=1)
    return None if decision.refusal is None else decision.refusal.reason


def call(selector: str, types: list[str], args: list[Any]) -> bytes:
    return bytes.fromhex(selector) + encode(types, args)


# --- the three attacks ---------------------------------------------------------------------------------
ALLOW = {TOKEN, FRIEND}


def test_an_unlimited_approval_to_a_thief_is_an_unbounded_approval() -> None:
    moves = read(tx(TOKEN, call("095ea7b3", ["address", "uint256"], [THIEF, 2**256 - 1])))
    assert Movement.approval(THIEF, UNBOUNDED, TOKEN) in moves
    assert refusal(moves, ALLOW) == f"the transaction approves {THIEF}, not on the ethereum allow-list"


def test_a_transfer_with_a_trailing_byte_is_no_transfer_and_is_refused() -> None:
    honest = call("a9059cbb", ["address", "uint256"], [FRIEND, 10**24])
    assert read(tx(TOKEN, honest)) == (Movement.call(TOKEN, 0), Movement.transfer(FRIEND, 10**24, TOKEN), FEE)
    assert refusal(read(tx(TOKEN, honest)), ALLOW, {TOKEN: 10**24, "": 10**18}) is None
    moves = read(tx(TOKEN, honest + b"\x00"))
    # not recognised: no transfer to the friend, a call to the contract and a transfer to nobody known
    assert not any(m.destination == FRIEND for m in moves)
    assert moves == (Movement.call(TOKEN, 0), Movement(Kind.TRANSFER, "", UNBOUNDED, TOKEN), FEE)
    assert refusal(moves, ALLOW) == "the transaction pays a destination it cannot name, not on the ethereum allow-list"
    reason = refusal(moves, set(), {TOKEN: 10**30, "": 10**18})
    assert reason is not None and f"ethereum:{TOKEN} spending limit" in reason and f"this {UNBOUNDED}" in reason


def test_a_50_eth_maximum_fee_counts_toward_the_limit() -> None:
    t = tx(FRIEND, value=10**17, gas=1_000_000, maxFeePerGas=50 * 10**12)  # 1M gas × 50,000 gwei = 50 ETH
    moves = read(t)
    assert moves == (Movement.transfer(FRIEND, 10**17), Movement.fee(50 * 10**18))
    reason = refusal(moves, ALLOW, {"": 10**18})
    assert reason is not None and f"this {50 * 10**18 + 10**17}" in reason
    legacy = {"chainId": 1, "nonce": 0, "gasPrice": 50 * 10**12, "gas": 1_000_000, "to": FRIEND, "value": 0}
    assert read(legacy) == (Movement.transfer(FRIEND, 0), Movement.fee(50 * 10**18))
    type1 = {**legacy, "type": 1, "accessList": []}
    assert read(type1)[-1] == Movement.fee(50 * 10**18)


def test_a_fee_beyond_uint256_is_unbounded() -> None:
    moves = read(tx(FRIEND, gas=2**63, maxFeePerGas=2**255, maxPriorityFeePerGas=1))
    assert moves[-1] == Movement.fee(UNBOUNDED)


# --- what a transaction is besides its calldata ------------------------------------------------------------
def test_plain_transfers_calls_and_contract_creation() -> None:
    assert read(tx(FRIEND, value=5)) == (Movement.transfer(FRIEND, 5), FEE)
    assert read(tx(FRIEND)) == (Movement.transfer(FRIEND, 0), FEE)  # a 0-value transfer is still judged
    assert read(tx(None, b"\x60\x00", value=7)) == (Movement.call("", 7), FEE)  # contract creation
    unknown = bytes.fromhex("deadbeef") + bytes(32)
    assert read(tx(TOKEN, unknown, value=3)) == (Movement.call(TOKEN, 3), FEE)  # unread: a call, nothing more
    assert read(tx(TOKEN, b"\xa9\x05\x9c")) == (Movement.call(TOKEN, 0), FEE)  # shorter than a selector
    transfer = call("a9059cbb", ["address", "uint256"], [FRIEND, 1])
    assert read(tx(TOKEN, transfer, value=9))[:2] == (Movement.call(TOKEN, 9), Movement.transfer(FRIEND, 1, TOKEN))


# --- every decoded selector --------------------------------------------------------------------------------
SIG = b"\x01" * 65
DEADLINE = 2**40
WITNESS_TYPE = "Witness witness)TokenPermissions(address token,uint256 amount)Witness(uint256 x)"
P2_DETAILS = "(address,uint160,uint48,uint48)"
P2_PERMITTED = "(address,uint256)"
T, A = Movement.transfer, Movement.approval

# (what, contract, selector as published, ABI types, arguments, what it moves besides the call)
VECTORS: list[tuple[str, str, str, list[str], list[Any], list[Movement]]] = [
    ("ERC-20 transfer", TOKEN, "a9059cbb", ["address", "uint256"], [FRIEND, 5], [T(FRIEND, 5, TOKEN)]),
    (
        "ERC-20/721 transferFrom",
        TOKEN,
        "23b872dd",
        ["address", "address", "uint256"],
        [VAULT, FRIEND, 7],
        [T(FRIEND, 7, TOKEN), T(FRIEND, 1, f"{TOKEN}#7")],
    ),
    (
        "ERC-20/721 approve",
        TOKEN,
        "095ea7b3",
        ["address", "uint256"],
        [SPENDER, 9],
        [A(SPENDER, 9, TOKEN), A(SPENDER, 1, f"{TOKEN}#9")],
    ),
    ("ERC-20 increaseAllowance", TOKEN, "39509351", ["address", "uint256"], [SPENDER, 3], [A(SPENDER, 3, TOKEN)]),
    (
        "ERC-677 transferAndCall",
        TOKEN,
        "4000aea0",
        ["address", "uint256", "bytes"],
        [FRIEND, 4, b"hi"],
        [T(FRIEND, 4, TOKEN)],
    ),
    (
        "EIP-2612 permit",
        TOKEN,
        "d505accf",
        ["address", "address", "uint256", "uint256", "uint8", "bytes32", "bytes32"],
        [VAULT, SPENDER, 100, DEADLINE, 27, b"\x02" * 32, b"\x03" * 32],
        [A(SPENDER, 100, TOKEN)],
    ),
    (
        "DAI permit",
        TOKEN,
        "8fcbaf0c",
        ["address", "address", "uint256", "uint256", "bool", "uint8", "bytes32", "bytes32"],
        [VAULT, SPENDER, 0, DEADLINE, True, 27, b"\x02" * 32, b"\x03" * 32],
        [A(SPENDER, UNBOUNDED, TOKEN)],
    ),
    (
        "ERC-721 safeTransferFrom",
        TOKEN,
        "42842e0e",
        ["address", "address", "uint256"],
        [VAULT, FRIEND, 42],
        [T(FRIEND, 1, f"{TOKEN}#42")],
    ),
    (
        "ERC-721 safeTransferFrom with data",
        TOKEN,
        "b88d4fde",
        ["address", "address", "uint256", "bytes"],
        [VAULT, FRIEND, 42, b"\xff" * 40],
        [T(FRIEND, 1, f"{TOKEN}#42")],
    ),
    (
        "ERC-1155 safeTransferFrom",
        TOKEN,
        "f242432a",
        ["address", "address", "uint256", "uint256", "bytes"],
        [VAULT, FRIEND, 3, 10, b""],
        [T(FRIEND, 10, f"{TOKEN}#3")],
    ),
    (
        "ERC-1155 safeBatchTransferFrom",
        TOKEN,
        "2eb2c2d6",
        ["address", "address", "uint256[]", "uint256[]", "bytes"],
        [VAULT, FRIEND, [1, 2], [5, 6], b""],
        [T(FRIEND, 5, f"{TOKEN}#1"), T(FRIEND, 6, f"{TOKEN}#2")],
    ),
    (
        "setApprovalForAll",
        TOKEN,
        "a22cb465",
        ["address", "bool"],
        [SPENDER, True],
        [A(SPENDER, UNBOUNDED, TOKEN)],
    ),
    (
        "Permit2 approve",
        PERMIT2,
        "87517c45",
        ["address", "address", "uint160", "uint48"],
        [TOKEN2, SPENDER, 2**160 - 1, DEADLINE],
        [A(SPENDER, UNBOUNDED, TOKEN2)],
    ),
    (
        "Permit2 permit (single)",
        PERMIT2,
        "2b67b570",
        ["address", f"({P2_DETAILS},address,uint256)", "bytes"],
        [VAULT, ((TOKEN2, 77, DEADLINE, 0), SPENDER, DEADLINE), SIG],
        [A(SPENDER, 77, TOKEN2)],
    ),
    (
        "Permit2 permit (batch)",
        PERMIT2,
        "2a2d80d1",
        ["address", f"({P2_DETAILS}[],address,uint256)", "bytes"],
        [VAULT, ([(TOKEN2, 1, DEADLINE, 0), (TOKEN3, 2**160 - 1, DEADLINE, 0)], SPENDER, DEADLINE), SIG],
        [A(SPENDER, 1, TOKEN2), A(SPENDER, UNBOUNDED, TOKEN3)],
    ),
    (
        "Permit2 transferFrom",
        PERMIT2,
        "36c78516",
        ["address", "address", "uint160", "address"],
        [VAULT, FRIEND, 12, TOKEN2],
        [T(FRIEND, 12, TOKEN2)],
    ),
    (
        "Permit2 transferFrom (batch)",
        PERMIT2,
        "0d58b1db",
        ["(address,address,uint160,address)[]"],
        [[(VAULT, FRIEND, 1, TOKEN2), (VAULT, THIEF, 2, TOKEN3)]],
        [T(FRIEND, 1, TOKEN2), T(THIEF, 2, TOKEN3)],
    ),
    (
        "Permit2 permitTransferFrom",
        PERMIT2,
        "30f28b7a",
        [f"({P2_PERMITTED},uint256,uint256)", P2_PERMITTED, "address", "bytes"],
        [((TOKEN2, 100), 0, DEADLINE), (FRIEND, 60), VAULT, SIG],
        [T(FRIEND, 60, TOKEN2)],
    ),
    (
        "Permit2 permitTransferFrom (batch)",
        PERMIT2,
        "edd9444b",
        [f"({P2_PERMITTED}[],uint256,uint256)", f"{P2_PERMITTED}[]", "address", "bytes"],
        [([(TOKEN2, 100), (TOKEN3, 5)], 0, DEADLINE), [(FRIEND, 60), (THIEF, 5)], VAULT, SIG],
        [T(FRIEND, 60, TOKEN2), T(THIEF, 5, TOKEN3)],
    ),
    (
        "Permit2 permitWitnessTransferFrom",
        PERMIT2,
        "137c29fe",
        [f"({P2_PERMITTED},uint256,uint256)", P2_PERMITTED, "address", "bytes32", "string", "bytes"],
        [((TOKEN2, 100), 0, DEADLINE), (FRIEND, 60), VAULT, b"\x11" * 32, WITNESS_TYPE, SIG],
        [T(FRIEND, 60, TOKEN2)],
    ),
    (
        "Permit2 permitWitnessTransferFrom (batch)",
        PERMIT2,
        "fe8ec1a7",
        [f"({P2_PERMITTED}[],uint256,uint256)", f"{P2_PERMITTED}[]", "address", "bytes32", "string", "bytes"],
        [([(TOKEN2, 100)], 0, DEADLINE), [(FRIEND, 60)], VAULT, b"\x11" * 32, WITNESS_TYPE, SIG],
        [T(FRIEND, 60, TOKEN2)],
    ),
]
IDS = [v[0] for v in VECTORS]


def test_every_decoded_function_has_a_vector_and_its_published_selector() -> None:
    assert {f.selector.hex() for f in FUNCTIONS} == {v[2] for v in VECTORS}
    assert len(FUNCTIONS) == len(VECTORS)


@pytest.mark.parametrize(("what", "contract", "selector", "types", "args", "expected"), VECTORS, ids=IDS)
def test_each_function_reads_as_what_it_moves(
    what: str, contract: str, selector: str, types: list[str], args: list[Any], expected: list[Movement]
) -> None:
    assert read(tx(contract, call(selector, types, args))) == (Movement.call(contract, 0), *expected, FEE)


@pytest.mark.parametrize(("what", "contract", "selector", "types", "args", "expected"), VECTORS, ids=IDS)
def test_each_function_with_non_canonical_calldata_is_a_movement_to_nobody_known(
    what: str, contract: str, selector: str, types: list[str], args: list[Any], expected: list[Movement]
) -> None:
    data = call(selector, types, args)
    kind = expected[0].kind
    unknown = (Movement.call(contract, 0), Movement(kind, "", UNBOUNDED, contract), FEE)
    assert read(tx(contract, data + b"\x00")) == unknown  # a trailing byte
    assert read(tx(contract, data[:-1])) == unknown  # one byte short
    assert read(tx(contract, data[:4])) == unknown  # no arguments at all
    dirty = bytearray(data)
    dirty[4] = 0x01  # the first word's high byte: dirty address padding, or an offset past the data
    assert read(tx(contract, bytes(dirty))) == unknown


def test_a_dynamic_argument_at_an_unusual_offset_is_not_canonical() -> None:
    canonical = encode(["address", "uint256", "bytes"], [FRIEND, 4, b"hi"])
    assert canonical[64:96] == (96).to_bytes(32, "big")
    # the same arguments with the bytes one word further on (eth-abi still decodes them)
    shifted = canonical[:64] + (128).to_bytes(32, "big") + bytes(32) + canonical[96:]
    moves = read(tx(TOKEN, bytes.fromhex("4000aea0") + shifted))
    assert moves == (Movement.call(TOKEN, 0), Movement(Kind.TRANSFER, "", UNBOUNDED, TOKEN), FEE)


def test_harmless_calls_are_only_the_call() -> None:
    only_call = (Movement.call(TOKEN, 0), FEE)
    assert read(tx(TOKEN, call("a22cb465", ["address", "bool"], [SPENDER, False]))) == only_call
    dai_revoke = [VAULT, SPENDER, 0, DEADLINE, False, 27, b"\x02" * 32, b"\x03" * 32]
    assert read(tx(TOKEN, call("8fcbaf0c", VECTORS[6][3], dai_revoke))) == only_call
    zero = "0x" + "00" * 20
    assert read(tx(TOKEN, call("095ea7b3", ["address", "uint256"], [zero, 5]))) == only_call  # ERC-721 clear
    # an ERC-20 allowance of 0 revokes; the same bytes approve ERC-721 token 0
    revoke = read(tx(TOKEN, call("095ea7b3", ["address", "uint256"], [SPENDER, 0])))
    assert revoke == (Movement.call(TOKEN, 0), Movement.approval(SPENDER, 1, f"{TOKEN}#0"), FEE)


def test_batches_of_mismatched_lengths_are_not_read() -> None:
    batch = call("2eb2c2d6", VECTORS[10][3], [VAULT, FRIEND, [1, 2], [5], b""])
    assert read(tx(TOKEN, batch))[1] == Movement(Kind.TRANSFER, "", UNBOUNDED, TOKEN)
    p2 = call("edd9444b", VECTORS[18][3], [([(TOKEN2, 100)], 0, DEADLINE), [(FRIEND, 60), (THIEF, 5)], VAULT, SIG])
    assert read(tx(PERMIT2, p2))[1] == Movement(Kind.TRANSFER, "", UNBOUNDED, PERMIT2)


# --- EIP-712 permits ---------------------------------------------------------------------------------------
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
DAI_FIELDS = [
    {"name": "holder", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
    {"name": "allowed", "type": "bool"},
]
P2_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
P2_DOMAIN = {"name": "Permit2", "chainId": 1, "verifyingContract": PERMIT2}
DETAILS_FIELDS = [
    {"name": "token", "type": "address"},
    {"name": "amount", "type": "uint160"},
    {"name": "expiration", "type": "uint48"},
    {"name": "nonce", "type": "uint48"},
]
TOKEN_PERMISSIONS_FIELDS = [{"name": "token", "type": "address"}, {"name": "amount", "type": "uint256"}]
TRANSFER_FIELDS = [
    {"name": "spender", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def permit(spender: str = SPENDER, value: Any = 100, token: str | None = TOKEN) -> dict[str, Any]:
    domain: dict[str, Any] = {"name": "Token", "version": "1", "chainId": 1}
    fields = DOMAIN_FIELDS if token is not None else DOMAIN_FIELDS[:3]
    if token is not None:
        domain["verifyingContract"] = token
    message = {"owner": VAULT, "spender": spender, "value": value, "nonce": 0, "deadline": DEADLINE}
    return {
        "types": {"EIP712Domain": fields, "Permit": PERMIT_FIELDS},
        "primaryType": "Permit",
        "domain": domain,
        "message": message,
    }


def dai_permit(allowed: Any) -> dict[str, Any]:
    message = {"holder": VAULT, "spender": SPENDER, "nonce": 0, "expiry": DEADLINE, "allowed": allowed}
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Permit": DAI_FIELDS},
        "primaryType": "Permit",
        "domain": {"name": "Dai Stablecoin", "version": "1", "chainId": 1, "verifyingContract": TOKEN},
        "message": message,
    }


def permit2(primary: str, message: dict[str, Any], witness: list[dict[str, str]] | None = None) -> dict[str, Any]:
    types: dict[str, Any] = {"EIP712Domain": P2_DOMAIN_FIELDS}
    if primary in ("PermitSingle", "PermitBatch"):
        details = "PermitDetails[]" if primary == "PermitBatch" else "PermitDetails"
        types["PermitDetails"] = DETAILS_FIELDS
        fields = [
            {"name": "details", "type": details},
            *TRANSFER_FIELDS[:1],
            {"name": "sigDeadline", "type": "uint256"},
        ]
    else:
        permitted = "TokenPermissions[]" if "Batch" in primary else "TokenPermissions"
        types["TokenPermissions"] = TOKEN_PERMISSIONS_FIELDS
        fields = [{"name": "permitted", "type": permitted}, *TRANSFER_FIELDS]
    if witness is not None:
        types["Witness"] = witness
        fields.append({"name": "witness", "type": "Witness"})
    types[primary] = fields
    return {"types": types, "primaryType": primary, "domain": P2_DOMAIN, "message": message}


def details(token: str, amount: int) -> dict[str, Any]:
    return {"token": token, "amount": amount, "expiration": DEADLINE, "nonce": 0}


TYPED: list[tuple[str, dict[str, Any], list[Movement]]] = [
    ("EIP-2612 Permit", permit(), [A(SPENDER, 100, TOKEN)]),
    ("EIP-2612 Permit, unlimited", permit(value=2**256 - 1), [A(SPENDER, UNBOUNDED, TOKEN)]),
    ("EIP-2612 Permit, hex text value", permit(value="0x64"), [A(SPENDER, 100, TOKEN)]),
    ("EIP-2612 Permit, decimal text value", permit(value="100"), [A(SPENDER, 100, TOKEN)]),
    ("DAI Permit, allowed", dai_permit(True), [A(SPENDER, UNBOUNDED, TOKEN)]),
    ("DAI Permit, not allowed", dai_permit(False), []),
    ("DAI Permit, 'false' as text", dai_permit("false"), []),  # eth-account hashes it as false
    ("DAI Permit, 'no' as text", dai_permit("no"), [A(SPENDER, UNBOUNDED, TOKEN)]),  # ... and this as true
    (
        "Permit2 PermitSingle",
        permit2("PermitSingle", {"details": details(TOKEN2, 77), "spender": SPENDER, "sigDeadline": DEADLINE}),
        [A(SPENDER, 77, TOKEN2)],
    ),
    (
        "Permit2 PermitBatch",
        permit2(
            "PermitBatch",
            {
                "details": [details(TOKEN2, 1), details(TOKEN3, 2**160 - 1)],
                "spender": SPENDER,
                "sigDeadline": DEADLINE,
            },
        ),
        [A(SPENDER, 1, TOKEN2), A(SPENDER, UNBOUNDED, TOKEN3)],
    ),
    (
        "Permit2 PermitTransferFrom",
        permit2(
            "PermitTransferFrom",
            {"permitted": {"token": TOKEN2, "amount": 500}, "spender": SPENDER, "nonce": 1, "deadline": DEADLINE},
        ),
        [A(SPENDER, 500, TOKEN2)],
    ),
    (
        "Permit2 PermitBatchTransferFrom",
        permit2(
            "PermitBatchTransferFrom",
            {
                "permitted": [{"token": TOKEN2, "amount": 500}, {"token": TOKEN3, "amount": 6}],
                "spender": SPENDER,
                "nonce": 1,
                "deadline": DEADLINE,
            },
        ),
        [A(SPENDER, 500, TOKEN2), A(SPENDER, 6, TOKEN3)],
    ),
    (
        "Permit2 PermitWitnessTransferFrom",
        permit2(
            "PermitWitnessTransferFrom",
            {
                "permitted": {"token": TOKEN2, "amount": 500},
                "spender": SPENDER,
                "nonce": 1,
                "deadline": DEADLINE,
                "witness": {"x": 5},
            },
            witness=[{"name": "x", "type": "uint256"}],
        ),
        [A(SPENDER, 500, TOKEN2)],
    ),
    (
        "Permit2 PermitBatchWitnessTransferFrom",
        permit2(
            "PermitBatchWitnessTransferFrom",
            {
                "permitted": [{"token": TOKEN3, "amount": 9}],
                "spender": SPENDER,
                "nonce": 1,
                "deadline": DEADLINE,
                "witness": {"x": 5},
            },
            witness=[{"name": "x", "type": "uint256"}],
        ),
        [A(SPENDER, 9, TOKEN3)],
    ),
]


def eip191_digest(signable: SignableMessage) -> bytes:
    """EIP-191: keccak256(0x19 ‖ version ‖ header ‖ body)."""
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def derive_typed(data: dict[str, Any]) -> tuple[bytes, tuple[Movement, ...]]:
    ctx = TxContext.from_wire(codec.loads(codec.dumps(EthereumTypedData.of(data).to_wire())))
    allowed, spend = read_spend(ctx, "ecdsa-secp256k1", b"")
    (digest,) = allowed
    return digest, spend.movements


@pytest.mark.parametrize(("what", "data", "expected"), TYPED, ids=[t[0] for t in TYPED])
def test_each_permit_reads_as_the_approval_it_signs(what: str, data: dict[str, Any], expected: list[Movement]) -> None:
    digest, moves = derive_typed(data)
    assert digest == eip191_digest(encode_typed_data(full_message=data))
    contract = data["domain"]["verifyingContract"]
    assert moves == (Movement.call(contract, 0), *expected)


def test_the_token_permits_are_the_ones_the_token_contracts_verify() -> None:
    """hashStruct built by hand from the type hashes EIP-2612 and DAI publish equals eth-account's."""
    eip2612 = bytes.fromhex("6e71edae12b1b97f4d1f60370fef10105fa2faae0126114a169c64845d6126c9")
    body = keccak(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256", "uint256"],
            [eip2612, VAULT, SPENDER, 100, 0, DEADLINE],
        )
    )
    assert encode_typed_data(full_message=permit()).body == body
    dai = bytes.fromhex("ea2aa0a1be11a07ed86d755c93467f4f82362b452371d1ba94d1715123511acb")
    body = keccak(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256", "bool"],
            [dai, VAULT, SPENDER, 0, DEADLINE, True],
        )
    )
    assert encode_typed_data(full_message=dai_permit(True)).body == body


def test_a_permit_that_is_not_exactly_the_standard_one_is_only_a_call() -> None:
    reordered = permit()
    reordered["types"]["Permit"] = [PERMIT_FIELDS[1], PERMIT_FIELDS[0], *PERMIT_FIELDS[2:]]
    assert derive_typed(reordered)[1] == (Movement.call(TOKEN, 0),)
    bad_details = permit2("PermitSingle", {"details": details(TOKEN2, 77), "spender": SPENDER, "sigDeadline": 1})
    bad_details["types"]["PermitDetails"] = [*DETAILS_FIELDS[:1], {"name": "amount", "type": "uint256"}]
    bad_details["types"]["PermitDetails"] += DETAILS_FIELDS[2:]
    assert derive_typed(bad_details)[1] == (Movement.call(PERMIT2, 0),)
    # without a verifying contract the token is unknown: a call to nobody, which no allow-list admits
    assert derive_typed(permit(token=None))[1] == (Movement.call("", 0),)


def test_other_typed_data_is_a_call_to_its_verifying_contract() -> None:
    mail_contract = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
    mail = {  # EIP-712's own example, its verifying contract written in lower case
        "types": {
            "EIP712Domain": DOMAIN_FIELDS,
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person"},
                {"name": "contents", "type": "string"},
            ],
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1, "verifyingContract": mail_contract.lower()},
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!",
        },
    }
    digest, moves = derive_typed(mail)
    assert digest.hex() == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"  # EIP-712's
    assert moves == (Movement.call(mail_contract, 0),)  # checksummed
    del mail["domain"]["verifyingContract"]
    mail["types"]["EIP712Domain"] = DOMAIN_FIELDS[:3]
    assert derive_typed(mail)[1] == (Movement.call("", 0),)


def test_a_permit_to_a_thief_is_refused_by_the_allow_list() -> None:
    _, moves = derive_typed(permit(spender=THIEF, value=2**256 - 1))
    assert refusal(moves, ALLOW) == f"the transaction approves {THIEF}, not on the ethereum allow-list"
    _, moves = derive_typed(permit(spender=FRIEND))
    assert refusal(moves, ALLOW) is None


def test_a_personal_message_moves_nothing() -> None:
    ctx = TxContext.from_wire(codec.loads(codec.dumps(EthereumMessage.of("hello").to_wire())))
    allowed, spend = read_spend(ctx, "ecdsa-secp256k1", b"")
    assert allowed == {eip191_digest(encode_defunct(text="hello"))}
    assert spend.movements == ()
    assert ETH.summary(ctx)["text"] == "hello"


# --- contexts on the wire ----------------------------------------------------------------------------------
def test_the_message_contexts_cross_the_wire() -> None:
    msg = EthereumMessage(b"\x00\xffhi")
    assert msg.to_wire() == {"chain": "ethereum", "message": b"\x00\xffhi"}
    typed = EthereumTypedData.of(permit())
    assert set(typed.to_wire()) == {"chain", "typed_data"} and typed.data == permit()
    for ctx in (msg, typed, EthereumMessage(b"")):
        assert TxContext.from_wire(codec.loads(codec.dumps(ctx.to_wire()))) == ctx
        assert ETH.context(ctx) is ctx
        params = ops.Sign("v", b"m", ("g",), bytes(32), ctx).to_params()
        assert params["tx"] == ctx.to_wire()
        request = ops.decode("sign", codec.loads(codec.dumps(params)))
        assert isinstance(request, ops.Sign) and request.tx == ctx
    assert EthereumMessage.of("I\u2665SF").message == "I\u2665SF".encode()
    # the transaction's wire form is the one it always was
    assert EthereumTx('{"a": 1}').to_wire() == {"chain": "ethereum", "json": '{"a": 1}'}


MALFORMED: list[tuple[Any, str]] = [
    ({"chain": "ethereum", "message": "text"}, "message"),
    ({"chain": "ethereum", "message": b"\x00" * (chains.context.MAX_TX_BYTES + 1)}, "message"),
    ({"chain": "ethereum", "message": b"", "typed_data": "{}"}, "typed_data"),  # two forms at once
    ({"chain": "ethereum", "json": "{}", "message": b""}, "message"),
    ({"chain": "ethereum", "typed_data": b"{}"}, "typed_data"),
    ({"chain": "ethereum", "typed_data": "[]"}, "typed_data"),
    ({"chain": "ethereum", "typed_data": "{}"}, "typed_data"),
    ({"chain": "ethereum", "typed_data": '{"types": {}, "primaryType": "P", "domain": {}}'}, "typed_data"),
    (
        {"chain": "ethereum", "typed_data": '{"types": [], "primaryType": "P", "domain": {}, "message": {}}'},
        "typed_data",
    ),
    (
        {"chain": "ethereum", "typed_data": '{"types": {}, "primaryType": 1, "domain": {}, "message": {}}'},
        "typed_data",
    ),
    ({"chain": "ethereum", "typed_data": "[" * 100_000}, "typed_data"),
    ({"chain": "ethereum", "json": "[" * 100_000}, "json"),  # deep JSON is a typed error, not a RecursionError
]


@pytest.mark.parametrize(("wire", "field"), MALFORMED)
def test_malformed_message_contexts_are_typed_errors(wire: Any, field: str) -> None:
    with pytest.raises(TxContextError) as err:
        TxContext.from_wire(wire)
    assert err.value.field == field
    with pytest.raises(DecodeError):
        ops.decode("sign", {"vault": "v", "message": b"m", "signers": ["g"], "nonce": bytes(32), "tx": wire})


def test_typed_data_the_guardian_cannot_hash_is_a_typed_error() -> None:
    bad = permit()
    bad["message"]["extra"] = 1  # a field outside the type: shown but not signed
    with pytest.raises(GridlockError):
        read_spend(EthereumTypedData.of(bad), "ecdsa-secp256k1", b"")
    bad = permit(value=2**256)  # out of uint256
    with pytest.raises(GridlockError):
        read_spend(EthereumTypedData.of(bad), "ecdsa-secp256k1", b"")


# --- signing through the adapter ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signer() -> local.LocalSigner:
    return local.signer(local.keygen("ecdsa-secp256k1", 2, 3)[:2])


def test_the_adapter_signs_messages_and_typed_data(signer: local.LocalSigner) -> None:
    me = ethereum.address(signer.public_key)
    for ctx, signable in (
        (EthereumMessage.of(b"gridlock"), encode_defunct(primitive=b"gridlock")),
        (EthereumTypedData.of(permit()), encode_typed_data(full_message=permit())),
    ):
        hashes = ETH.hashes(ctx, signer.scheme, signer.public_key)
        assert hashes == (eip191_digest(signable),)
        signed = ETH.attach(ctx, signer.scheme, signer.public_key, {hashes[0]: signer.sign(hashes[0])})
        assert signed.raw is not None and len(signed.raw) == 65 and signed.txid is None
        assert Account.recover_message(signable, signature=signed.raw) == me
        assert ETH.result_fields(signed) == {"signature": "0x" + signed.raw.hex()}
        assert ETH.file_text(signed) == "0x" + signed.raw.hex()


# --- EIP-55 ------------------------------------------------------------------------------------------------
EIP55 = [  # the examples of EIP-55
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55)
def test_check_address_accepts_the_eip55_examples(address: str) -> None:
    checksummed = ETH.check_address(address)
    assert checksummed.lower() == address.lower() and checksummed == to_checksum_address(address)
    assert ETH.check_address(address.lower()) == checksummed


@pytest.mark.parametrize(
    "bad",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # last letter's case flipped: checksum fails
        "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # no 0x
        "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA",  # 19 bytes
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
        " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "",
        None,
        b"\x00" * 20,
    ],
)
def test_check_address_rejects_what_is_not_an_address(bad: Any) -> None:
    with pytest.raises(InvalidParameterError):
        ETH.check_address(bad)


# --- end to end: guardians sign a personal message and a permit --------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncClient, EmbeddedCluster]]:
    holder: dict[str, EmbeddedCluster] = {}

    async def make() -> Client:
        holder["c"] = await EmbeddedCluster.start(tmp_path_factory.mktemp("g"), ["a", "b", "c"], session_timeout=30.0)
        assert holder["c"].client is not None
        return holder["c"].client

    sync = SyncClient(make)
    try:
        yield sync, holder["c"]
    finally:
        sync.run(holder["c"].close())
        sync.close()


def test_guardians_sign_a_personal_message_and_a_permit(cluster: tuple[SyncClient, EmbeddedCluster]) -> None:
    sync, c = cluster
    vault = sync.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
    me = vault.address("ethereum")
    sig = vault.sign_ethereum_message("I approve")
    assert len(sig) == 65 and Account.recover_message(encode_defunct(text="I approve"), signature=sig) == me
    sig = vault.sign_ethereum_message(b"\x00\x01")
    assert Account.recover_message(encode_defunct(primitive=b"\x00\x01"), signature=sig) == me

    honest = permit(spender=FRIEND)
    sig = vault.sign_typed_data(honest)
    assert Account.recover_message(encode_typed_data(full_message=honest), signature=sig) == me

    # with an allow-list, each guardian reads the permit itself: to the friend it signs, to a thief not
    sync.run(vault.vault.set_policy({"allow": {"ethereum": [TOKEN, FRIEND]}}))
    sig = vault.sign_typed_data(permit(spender=FRIEND, value=5))
    assert Account.recover_message(encode_typed_data(full_message=permit(FRIEND, 5)), signature=sig) == me
    with pytest.raises(OperationFailed, match="allow-list"):
        vault.sign_typed_data(permit(spender=THIEF, value=2**256 - 1))


def test_the_async_vault_sends_the_message_itself(tmp_path: Path) -> None:
    """The sign request carries the message context, and a guardian refuses a digest that is not its hash."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, ["a", "b"], session_timeout=30.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
            sig = await vault.sign_typed_data(permit())
            me = ethereum.address(vault.public_key)
            assert Account.recover_message(encode_typed_data(full_message=permit()), signature=sig) == me
            other = ethereum.message_hash(b"something else")
            with pytest.raises(OperationFailed, match="hash-mismatch"):
                await vault.sign(other, tx=EthereumMessage(b"shown"))
        finally:
            await c.close()

    asyncio.run(main())
