"""Solana: legacy and v0 transfers signed by a real 3-of-5 FROST(Ed25519) key, processed by LiteSVM."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import (
    AssignParams,
    CreateAccountParams,
    CreateAccountWithSeedParams,
    TransferParams,
    TransferWithSeedParams,
    WithdrawNonceAccountParams,
    assign,
    create_account,
    create_account_with_seed,
    transfer,
    transfer_with_seed,
    withdraw_nonce_account,
)
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from gridlock import local
from gridlock.chains import solana
from gridlock.errors import DecodeError, GridlockError, SignatureError

SOL = 10**9
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, written out here so the address check does not trust solders."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@pytest.fixture(scope="module")
def vault() -> local.LocalSigner:
    shares = local.keygen("frost-ed25519", threshold=3, n=5)
    return local.signer(shares[1:4])


@pytest.fixture(scope="module")
def vault_key(vault: local.LocalSigner) -> Pubkey:
    return Pubkey.from_string(solana.address(vault.public_key))


@pytest.fixture
def svm(vault_key: Pubkey) -> LiteSVM:
    svm = LiteSVM()
    assert svm.get_sigverify()
    svm.airdrop(vault_key, 10 * SOL)
    return svm


def _ok(result: Any) -> TransactionMetadata:
    assert isinstance(result, TransactionMetadata), result
    return result


# --- addresses ---------------------------------------------------------------------------------


def test_address_is_base58_of_the_key(vault: local.LocalSigner) -> None:
    assert solana.address(vault.public_key) == b58encode(vault.public_key)
    # RFC 8032 test 1 public key
    rfc = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert solana.address(rfc) == b58encode(rfc)
    kp = Keypair.from_seed(bytes(range(32)))
    assert solana.address(bytes(kp.pubkey())) == str(kp.pubkey())


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33, "ab" * 16, None])
def test_address_rejects_bad_keys(bad: Any) -> None:
    with pytest.raises(DecodeError):
        solana.address(bad)


def test_address_rejects_off_curve_keys() -> None:
    off_curve = Pubkey.find_program_address([b"gridlock"], Pubkey.from_string("11111111111111111111111111111111"))[0]
    with pytest.raises(DecodeError):
        solana.address(bytes(off_curve))


# --- transfers processed by LiteSVM --------------------------------------------------------------


def test_legacy_transfer_is_processed(vault: local.LocalSigner, vault_key: Pubkey, svm: LiteSVM) -> None:
    to = Pubkey.new_unique()
    lamports = 2 * SOL + 12345
    ixs = [
        set_compute_unit_limit(10_000),
        set_compute_unit_price(50_000),
        transfer(TransferParams(from_pubkey=vault_key, to_pubkey=to, lamports=lamports)),
    ]
    msg = Message.new_with_blockhash(ixs, vault_key, svm.latest_blockhash())
    unsigned = bytes(Transaction.new_unsigned(msg))

    summary = solana.summarize(unsigned)
    assert summary.version == "legacy"
    assert summary.fee_payer == str(vault_key)
    assert summary.transfers == (solana.Transfer("transfer", str(vault_key), str(to), lamports),)
    assert summary.recipients == ((str(to), lamports),)
    assert summary.signing_payload == bytes(msg) == solana.signing_payload(unsigned)
    assert summary.unknown_programs == ()

    signed = solana.sign_transaction(unsigned, vault)
    tx = Transaction.from_bytes(signed)
    assert tx.message == msg
    before = svm.get_balance(vault_key)
    meta = _ok(svm.send_transaction(tx))
    assert svm.get_balance(to) == lamports
    assert meta.fee() == summary.max_fee == 5000 + 500  # 50_000 µlamports × 10_000 units
    assert before - svm.get_balance(vault_key) == lamports + meta.fee()


def test_every_lamport_moving_system_instruction_is_summarised(vault_key: Pubkey) -> None:
    """Built by solders' own instruction builders: each kind names its source, destination and amount."""
    to, base, owner, nonce = (Pubkey.new_unique() for _ in range(4))
    seeded = Pubkey.create_with_seed(vault_key, "gl", owner)
    ixs = [
        create_account(CreateAccountParams(from_pubkey=vault_key, to_pubkey=to, lamports=11, space=0, owner=owner)),
        create_account_with_seed(
            CreateAccountWithSeedParams(
                from_pubkey=vault_key, to_pubkey=seeded, base=vault_key, seed="gl", lamports=12, space=8, owner=owner
            )
        ),
        transfer_with_seed(
            TransferWithSeedParams(
                from_pubkey=seeded, from_base=base, from_seed="s", from_owner=owner, to_pubkey=to, lamports=13
            )
        ),
        withdraw_nonce_account(
            WithdrawNonceAccountParams(nonce_pubkey=nonce, authorized_pubkey=vault_key, to_pubkey=to, lamports=14)
        ),
        assign(AssignParams(pubkey=vault_key, owner=owner)),  # moves nothing
    ]
    unsigned = bytes(Transaction.new_unsigned(Message.new_with_blockhash(ixs, vault_key, Hash.default())))
    assert solana.summarize(unsigned).transfers == (
        solana.Transfer("create_account", str(vault_key), str(to), 11),
        solana.Transfer("create_account_with_seed", str(vault_key), str(seeded), 12),
        solana.Transfer("transfer_with_seed", str(seeded), str(to), 13),
        solana.Transfer("withdraw_nonce_account", str(nonce), str(to), 14),
    )

    # a lamport-moving tag whose data is cut short is refused, not read as "moves nothing"
    short = Instruction(ixs[0].program_id, bytes(ixs[0].data)[:8], ixs[0].accounts)
    bad = bytes(Transaction.new_unsigned(Message.new_with_blockhash([short], vault_key, Hash.default())))
    with pytest.raises(DecodeError, match="malformed System Program instruction"):
        solana.summarize(bad)


def test_v0_transfer_is_processed(vault: local.LocalSigner, vault_key: Pubkey, svm: LiteSVM) -> None:
    to = Pubkey.new_unique()
    ix = transfer(TransferParams(from_pubkey=vault_key, to_pubkey=to, lamports=SOL))
    m0 = MessageV0.try_compile(vault_key, [ix], [], svm.latest_blockhash())
    unsigned = bytes(VersionedTransaction.populate(m0, [Signature.default()]))
    assert solana.signing_payload(unsigned) == bytes(to_bytes_versioned(m0))
    assert solana.signing_payload(unsigned)[0] == 0x80
    assert solana.summarize(unsigned).version == "v0"

    signed = solana.sign_transaction(unsigned, vault)
    _ok(svm.send_transaction(VersionedTransaction.from_bytes(signed)))
    assert svm.get_balance(to) == SOL


def test_unsigned_tx_without_signature_slots_is_filled(
    vault: local.LocalSigner, vault_key: Pubkey, svm: LiteSVM
) -> None:
    to = Pubkey.new_unique()
    ix = transfer(TransferParams(from_pubkey=vault_key, to_pubkey=to, lamports=SOL))
    m0 = MessageV0.try_compile(vault_key, [ix], [], svm.latest_blockhash())
    unsigned = bytes(VersionedTransaction.populate(m0, []))  # shortvec 0: no slots at all
    _ok(svm.send_transaction(VersionedTransaction.from_bytes(solana.sign_transaction(unsigned, vault))))
    assert svm.get_balance(to) == SOL


@pytest.mark.parametrize("other_signs_first", [True, False])
def test_other_signers_slots_are_kept(
    vault: local.LocalSigner, vault_key: Pubkey, svm: LiteSVM, other_signs_first: bool
) -> None:
    payer = Keypair()
    svm.airdrop(payer.pubkey(), SOL)
    to = Pubkey.new_unique()
    ix = transfer(TransferParams(from_pubkey=vault_key, to_pubkey=to, lamports=SOL))
    blockhash = svm.latest_blockhash()
    msg = Message.new_with_blockhash([ix], payer.pubkey(), blockhash)
    assert list(msg.account_keys[:2]) == [payer.pubkey(), vault_key]
    tx = Transaction.new_unsigned(msg)
    if other_signs_first:
        tx.partial_sign([payer], blockhash)
        signed = Transaction.from_bytes(solana.sign_transaction(bytes(tx), vault))
        assert signed.signatures[0] == tx.signatures[0]
    else:
        signed = Transaction.from_bytes(solana.sign_transaction(bytes(tx), vault))
        assert signed.signatures[0] == Signature.default()
        signed.partial_sign([payer], blockhash)
    assert signed.signatures[1] != Signature.default()
    _ok(svm.send_transaction(signed))
    assert svm.get_balance(to) == SOL
    assert solana.summarize(bytes(tx)).required_signers == (str(payer.pubkey()), str(vault_key))


def test_corrupted_signature_is_rejected_by_litesvm(vault: local.LocalSigner, vault_key: Pubkey, svm: LiteSVM) -> None:
    to = Pubkey.new_unique()
    ix = transfer(TransferParams(from_pubkey=vault_key, to_pubkey=to, lamports=SOL))
    msg = Message.new_with_blockhash([ix], vault_key, svm.latest_blockhash())
    signed = bytearray(solana.sign_transaction(bytes(Transaction.new_unsigned(msg)), vault))
    signed[1 + 10] ^= 0x01  # inside the first signature (after the shortvec count)
    result = svm.send_transaction(Transaction.from_bytes(bytes(signed)))
    assert isinstance(result, FailedTransactionMetadata)
    assert "SignatureFailure" in str(result.err())
    assert svm.get_balance(to) is None


# --- refusals -----------------------------------------------------------------------------------


def test_vault_not_a_required_signer(vault: local.LocalSigner, vault_key: Pubkey) -> None:
    other = Keypair()
    ix = transfer(TransferParams(from_pubkey=other.pubkey(), to_pubkey=vault_key, lamports=5))
    msg = Message.new_with_blockhash([ix], other.pubkey(), Hash.new_unique())
    with pytest.raises(solana.NotASignerError):
        solana.sign_transaction(bytes(Transaction.new_unsigned(msg)), vault)


def test_vault_only_as_readonly_non_signer_is_refused(vault: local.LocalSigner, vault_key: Pubkey) -> None:
    other = Keypair()
    ix = transfer(TransferParams(from_pubkey=other.pubkey(), to_pubkey=vault_key, lamports=5))
    m0 = MessageV0.try_compile(other.pubkey(), [ix], [], Hash.new_unique())
    with pytest.raises(solana.NotASignerError):
        solana.sign_transaction(bytes(VersionedTransaction.populate(m0, [Signature.default()])), vault)


class FakeSigner:
    def __init__(self, scheme: str, public_key: bytes, signature: bytes = b"\x00" * 64) -> None:
        self.scheme, self.public_key, self._sig = scheme, public_key, signature

    def sign(self, message: bytes) -> bytes:
        return self._sig


def _unsigned_for(key: Pubkey) -> bytes:
    ix = transfer(TransferParams(from_pubkey=key, to_pubkey=Pubkey.new_unique(), lamports=5))
    return bytes(Transaction.new_unsigned(Message.new_with_blockhash([ix], key, Hash.new_unique())))


def test_wrong_signers_are_refused(vault: local.LocalSigner, vault_key: Pubkey) -> None:
    unsigned = _unsigned_for(vault_key)
    with pytest.raises(solana.SignerMismatchError):
        solana.sign_transaction(unsigned, FakeSigner("ecdsa-secp256k1", b"\x02" + bytes(vault_key)))
    with pytest.raises(SignatureError):
        solana.sign_transaction(unsigned, FakeSigner("frost-ed25519", bytes(vault_key)))
    with pytest.raises(SignatureError):
        solana.sign_transaction(unsigned, FakeSigner("frost-ed25519", bytes(vault_key), b"\x00" * 63))


def test_malformed_transactions_get_typed_errors(vault: local.LocalSigner, vault_key: Pubkey) -> None:
    unsigned = _unsigned_for(vault_key)
    two_slots = bytes([2]) + bytes(128) + unsigned[65:]  # 2 signature slots, 1 required signer
    cases: list[Any] = [
        None,
        "00",
        b"",
        b"\x01",
        b"\x01garbage",
        unsigned + b"\x00",  # trailing byte
        unsigned[:-1],  # truncated
        two_slots,
        bytes(range(256)),
    ]
    for case in cases:
        with pytest.raises(GridlockError):
            solana.sign_transaction(case, vault)
        with pytest.raises(GridlockError):
            solana.summarize(case)


def test_random_mutations_never_crash(vault_key: Pubkey) -> None:
    rng = random.Random(5)
    unsigned = _unsigned_for(vault_key)
    for _ in range(300):
        data = bytearray(unsigned)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(GridlockError):
            solana.summarize(bytes(data))
