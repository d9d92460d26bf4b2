"""A guardian's reading of Bitcoin, Solana and Cosmos transactions is complete (SECURITY #19).

One test per reading rule of :mod:`gridlock.chains.bitcoin.reading`,
:mod:`gridlock.chains.solana_reading` and :mod:`gridlock.chains.cosmos_reading`, and an attack per
chain (``test_attack_*``): what the spending policy is judged on must be everything the transaction
does, so an attacker who builds the transaction cannot walk around it.

The transactions are built independently of the readers: PSBT outputs pay the scriptPubKeys of the
BIP350 vectors and are named by those vectors' addresses; Solana instructions come from solders'
own builders (System Program) or from the SPL Token instruction layout written out here, and LiteSVM
(the Solana runtime, with the Token and Token-2022 programs) executes them to show that they do what
the reading says; Cosmos messages are encoded by a few lines of protobuf here (and cross-checked
against secret-sdk's generated classes).  Address checks use the BIP173/BIP350 vectors.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from pathlib import Path
from typing import Any

import base58
import pytest
from bech32 import bech32_encode, convertbits
from bech32 import encode as segwit_encode
from coincurve import PrivateKey
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import ID as COMPUTE_BUDGET
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM
from solders.system_program import (
    AdvanceNonceAccountParams,
    AllocateWithSeedParams,
    AssignParams,
    AssignWithSeedParams,
    AuthorizeNonceAccountParams,
    CreateAccountAllowPrefundParams,
    CreateAccountParams,
    CreateAccountWithSeedParams,
    InitializeNonceAccountParams,
    TransferParams,
    TransferWithSeedParams,
    WithdrawNonceAccountParams,
    advance_nonce_account,
    allocate_with_seed,
    assign,
    assign_with_seed,
    authorize_nonce_account,
    create_account,
    create_account_allow_prefund,
    create_account_with_seed,
    initialize_nonce_account,
    transfer,
    transfer_with_seed,
    withdraw_nonce_account,
)
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import Transaction as SolTransaction
from solders.transaction import VersionedTransaction

from gridlock import chains
from gridlock.chains import BitcoinTx, CosmosTx, SolanaTx, bitcoin, cosmos
from gridlock.chains.bitcoin import OutPoint, Psbt, Spend, Transaction, TxIn, TxOut
from gridlock.chains.movement import UNBOUNDED, Kind, Movement
from gridlock.crypto.hashing import hash160
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.guardian.node import _failure
from gridlock.guardian.policy_gate import read_spend
from test_chain_cosmos import ld, vi

VECTORS = Path(__file__).parent / "vectors" / "bitcoin" / "bip350-segwit-addresses.json"
COIN = 100_000_000


def transfer_(to: str, amount: int, asset: str = "") -> Movement:
    return Movement.transfer(to, amount, asset)


def grant(grantee: str) -> Movement:
    return Movement(Kind.GRANT, grantee, UNBOUNDED)


# --- Bitcoin -----------------------------------------------------------------------------------------

ECDSA, TAPROOT = "ecdsa-secp256k1", "frost-taproot"
ECDSA_KEY = PrivateKey(b"\x01" * 32).public_key.format()  # the vault's 33-byte key (P2WPKH)
TAPROOT_KEY = PrivateKey(b"\x02" * 32).public_key_xonly.format()  # the vault's output key Q (P2TR)
STRANGER_KEY = PrivateKey(b"\x03" * 32).public_key.format()
WPKH = b"\x00\x14" + hash160(ECDSA_KEY)  # BIP141 P2WPKH
TR = b"\x51\x20" + TAPROOT_KEY  # BIP341 P2TR
# two scriptPubKeys of the BIP350 vectors, and the addresses the BIP gives for them
VECTOR_WPKH = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
VECTOR_WPKH_ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
VECTOR_TR = bytes.fromhex("512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
VECTOR_TR_ADDRESS = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"


def coin(script: bytes, amount: int, tag: int, *, full: bool = True) -> Spend:
    """An output of ``amount`` to ``script`` in a previous transaction (shown whole when ``full``)."""
    prev = Transaction(2, (TxIn(OutPoint(bytes([tag]) * 32, 0)),), (TxOut(amount, script),), 0)
    return Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev if full else None)


def btc_read(psbt: str, scheme: str = ECDSA, key: bytes = ECDSA_KEY, network: str = "mainnet") -> chains.Derived:
    return chains.get("bitcoin").derive(BitcoinTx(psbt, network), scheme, key)


def test_bitcoin_payments_are_transfers_change_is_not_and_the_fee_is_counted() -> None:
    psbt = bitcoin.create_psbt(
        [coin(WPKH, COIN, 1), coin(WPKH, COIN // 2, 2, full=False)],
        [
            TxOut(70_000_000, VECTOR_WPKH),
            TxOut(20_000_000, VECTOR_TR),
            TxOut(0, b"\x6a\x04memo"),  # OP_RETURN of value 0: data, skipped
            TxOut(55_000_000, WPKH),  # change back to the vault
        ],
    )
    derived = btc_read(psbt)
    assert derived.movements == (
        transfer_(VECTOR_WPKH_ADDRESS, 70_000_000),
        transfer_(VECTOR_TR_ADDRESS, 20_000_000),
        Movement.fee(150_000_000 - 145_000_000),
    )
    owed = chains.get("bitcoin").hashes(BitcoinTx(psbt, "mainnet"), ECDSA, ECDSA_KEY)
    assert derived.hashes == set(owed) and len(owed) == 2  # one sighash per input, as the signer signs


def test_bitcoin_change_is_the_vaults_own_script_only() -> None:
    """A Taproot vault's change is its P2TR output; a P2WPKH output, even of a key the owner also
    holds, is a payment like any other (named by its regtest address, encoded by the BIP173 library)."""
    psbt = bitcoin.create_psbt([coin(TR, COIN, 3)], [TxOut(30_000_000, WPKH), TxOut(69_990_000, TR)])
    derived = btc_read(psbt, TAPROOT, TAPROOT_KEY, "regtest")
    expected = segwit_encode("bcrt", 0, hash160(ECDSA_KEY))
    assert derived.movements == (transfer_(expected, 30_000_000), Movement.fee(10_000))


def test_bitcoin_output_without_an_address_is_a_transfer_to_its_script() -> None:
    burn = b"\x6a\x04burn"  # OP_RETURN with value: burnt, still given away
    bare = b"\x51\x21" + STRANGER_KEY + b"\x51\xae"  # bare 1-of-1 multisig
    huge = b"\x6a" + b"\x4c\xc8" + bytes(200)  # a 203-byte script: named by its hash
    psbt = bitcoin.create_psbt(
        [coin(WPKH, COIN, 4)], [TxOut(1_000, burn), TxOut(2_000, bare), TxOut(3_000, huge), TxOut(COIN - 7_000, WPKH)]
    )
    assert btc_read(psbt).movements == (
        transfer_(burn.hex(), 1_000),
        transfer_(bare.hex(), 2_000),
        transfer_("sha256:" + hashlib.sha256(huge).hexdigest(), 3_000),
        Movement.fee(1_000),
    )


def test_attack_bitcoin_psbt_with_a_foreign_input_is_refused() -> None:
    """A PSBT that also spends someone else's coin: the guardian could not say what the vault gives
    away (another key's value may pay any output), and that input's amount is unverifiable (BIP143
    commits a signature to its own input's amount only), so the fee would be the attacker's word.
    The owner's side may still build such a PSBT and sign its own inputs; a guardian refuses it, and
    says which input."""
    psbt = bitcoin.create_psbt(
        [coin(WPKH, COIN, 5), coin(b"\x00\x14" + hash160(STRANGER_KEY), 10 * COIN, 6)],
        [TxOut(10 * COIN, VECTOR_WPKH), TxOut(COIN - 1_000, WPKH)],
    )
    ctx = BitcoinTx(psbt, "mainnet")
    assert len(chains.get("bitcoin").hashes(ctx, ECDSA, ECDSA_KEY)) == 1  # the owner's side signs its input
    with pytest.raises(bitcoin.ForeignInputError, match="not this vault's p2wpkh script") as err:
        btc_read(psbt)
    assert err.value.index == 1 and isinstance(err.value, InvalidParameterError)
    with pytest.raises(bitcoin.ForeignInputError) as err:  # the guardian's entry point
        read_spend(ctx, ECDSA, ECDSA_KEY)
    assert _failure(err.value)[2] == "refused"  # a refusal (bad-request), not a failure
    # the vault's own other key is foreign too: a Taproot coin in an ECDSA vault's transaction
    mixed = bitcoin.create_psbt([coin(WPKH, COIN, 7), coin(TR, COIN, 8)], [TxOut(2 * COIN - 500, VECTOR_TR)])
    with pytest.raises(bitcoin.ForeignInputError):
        btc_read(mixed)


def test_bitcoin_input_without_its_utxo_value_is_refused() -> None:
    """Without every input's value the fee cannot be known: refused, naming the input."""
    psbt = Psbt.create([TxIn(OutPoint(b"\x09" * 32, 0)), TxIn(OutPoint(b"\x0a" * 32, 0))], [TxOut(1, VECTOR_TR)])
    psbt.set_witness_utxo(0, TxOut(COIN, WPKH))
    with pytest.raises(bitcoin.MissingUtxoError) as err:
        btc_read(psbt.to_base64())
    assert err.value.index == 1 and isinstance(err.value, InvalidParameterError)
    # UTXO data that contradicts itself (the whole previous transaction says another amount)
    spend = coin(WPKH, COIN, 11)
    lying = Psbt.from_base64(bitcoin.create_psbt([spend], [TxOut(1, VECTOR_TR)]))
    lying.set_witness_utxo(0, TxOut(2 * COIN, WPKH))
    with pytest.raises(bitcoin.UtxoMismatchError):
        btc_read(lying.to_base64())


def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


@pytest.mark.parametrize(("address", "script"), _vectors()["valid"])
def test_bitcoin_check_address_bip350_valid_vectors(address: str, script: str) -> None:
    adapter = chains.get("bitcoin")
    network = "mainnet" if address.lower().startswith("bc1") else "testnet"
    spk = bytes.fromhex(script)
    if spk[0] == 0 or (spk[0] == 0x51 and len(spk) == 34):  # P2WPKH, P2WSH, P2TR: standard outputs
        assert adapter.check_address(address, network) == address.lower()
        assert adapter.check_address(address) == address.lower()  # any network
        assert bitcoin.address_to_script(adapter.check_address(address, network), network) == spk
    else:  # valid encodings of outputs nothing can spend today
        with pytest.raises(InvalidParameterError, match="not a standard output"):
            adapter.check_address(address, network)


@pytest.mark.parametrize(("address", "reason"), _vectors()["invalid"])
def test_bitcoin_check_address_bip350_invalid_vectors(address: str, reason: str) -> None:
    adapter = chains.get("bitcoin")
    for network in (None, *bitcoin.NETWORKS):
        with pytest.raises(InvalidParameterError):
            adapter.check_address(address, network)


def test_bitcoin_check_address_base58_and_networks() -> None:
    adapter = chains.get("bitcoin")
    genesis = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # P2PKH of the genesis block's coinbase key
    assert adapter.check_address(genesis, "mainnet") == genesis == adapter.check_address(genesis)
    assert adapter.check_address("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "mainnet")  # P2SH
    for network in ("testnet", "signet", "regtest"):
        assert adapter.check_address("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", network)  # P2PKH, version 0x6f
        assert adapter.check_address("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", network)  # P2SH, version 0xc4
        with pytest.raises(InvalidParameterError, match=r"not a \w+ P2PKH or P2SH"):
            adapter.check_address(genesis, network)
    with pytest.raises(InvalidParameterError, match="another network"):
        adapter.check_address(VECTOR_WPKH_ADDRESS, "regtest")
    with pytest.raises(InvalidParameterError, match="unknown bitcoin network"):
        adapter.check_address(genesis, "moon")
    for bad in ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "", "bc1", "x" * 91, 5, None):  # checksum, empty, ...
        with pytest.raises(InvalidParameterError):
            adapter.check_address(bad)  # type: ignore[arg-type]


# --- Solana ------------------------------------------------------------------------------------------

VAULT = Keypair.from_seed(b"\x11" * 32)
ME = VAULT.pubkey()
TOKEN = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022 = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ACCOUNT_OWNER, MINT_TOKENS = 2, 0  # spl-token AuthorityType


def sol_read(ixs: list[Instruction], payer: Pubkey = ME) -> tuple[Movement, ...]:
    tx = SolTransaction.new_unsigned(Message.new_with_blockhash(ixs, payer, Hash.default()))
    return chains.get("solana").derive(SolanaTx(bytes(tx)), "frost-ed25519", bytes(ME)).movements


def sol_fee(ixs: list[Instruction], price: int = 0, limit: int = 0) -> Movement:
    """5000 lamports a signature (required signers) plus ceil(price × limit / 10^6) (the runtime's rule)."""
    signatures = Message.new_with_blockhash(ixs, ME, Hash.default()).header.num_required_signatures
    return Movement.fee(5_000 * signatures + -(-price * limit // 1_000_000))


# The SPL Token instruction layout (spl-token `TokenInstruction`): a one-byte tag, then the fields
# little-endian; Token-2022 keeps the same tags and layouts for these instructions.
def spl(program: Pubkey, tag: int, fields: bytes, *accounts: tuple[Pubkey, bool, bool]) -> Instruction:
    return Instruction(program, bytes([tag]) + fields, [AccountMeta(k, s, w) for k, s, w in accounts])


def spl_transfer(p: Pubkey, source: Pubkey, dest: Pubkey, amount: int) -> Instruction:
    return spl(p, 3, struct.pack("<Q", amount), (source, False, True), (dest, False, True), (ME, True, False))


def spl_transfer_checked(p: Pubkey, source: Pubkey, mint: Pubkey, dest: Pubkey, amount: int) -> Instruction:
    fields = struct.pack("<QB", amount, 6)
    return spl(p, 12, fields, (source, False, True), (mint, False, False), (dest, False, True), (ME, True, False))


def spl_approve(p: Pubkey, source: Pubkey, delegate: Pubkey, amount: int) -> Instruction:
    return spl(p, 4, struct.pack("<Q", amount), (source, False, True), (delegate, False, False), (ME, True, False))


def spl_set_authority(p: Pubkey, target: Pubkey, kind: int, new: Pubkey | None) -> Instruction:
    fields = bytes([kind]) + (b"\x01" + bytes(new) if new is not None else b"\x00")
    return spl(p, 6, fields, (target, False, True), (ME, True, False))


def spl_close(p: Pubkey, account: Pubkey, dest: Pubkey) -> Instruction:
    return spl(p, 9, b"", (account, False, True), (dest, False, True), (ME, True, False))


class Ledger:
    """LiteSVM with a mint (authority: the vault) and token accounts under one token program."""

    def __init__(self, program: Pubkey) -> None:
        self.svm, self.program = LiteSVM(), program
        self.svm.airdrop(ME, 10 * 10**9)
        self.mint = Pubkey.new_unique()
        mint = Mint(mint_authority=ME, supply=10**9, decimals=6, is_initialized=True, freeze_authority=None)
        self.svm.set_account(self.mint, Account(10**7, bytes(mint), program, False, 0))

    def token_account(self, owner: Pubkey, amount: int) -> Pubkey:
        key = Pubkey.new_unique()
        state = TokenAccount(
            mint=self.mint,
            owner=owner,
            amount=amount,
            delegate=None,
            state=TokenAccountState.Initialized,
            is_native=None,
            delegated_amount=0,
            close_authority=None,
        )
        self.svm.set_account(key, Account(2_039_280, bytes(state), self.program, False, 0))
        return key

    def state(self, key: Pubkey) -> TokenAccount:
        account = self.svm.get_account(key)
        assert account is not None
        return TokenAccount.from_bytes(bytes(account.data))

    def run(self, ixs: list[Instruction]) -> None:
        self.svm.expire_blockhash()
        msg = Message.new_with_blockhash(ixs, ME, self.svm.latest_blockhash())
        result = self.svm.send_transaction(VersionedTransaction(msg, [VAULT]))
        assert not hasattr(result, "err"), result


def test_solana_system_program_instructions() -> None:
    """Built by solders' own builders: what each moves, then the fee (the vault pays it)."""
    to, new, owner, nonce, other = (Pubkey.new_unique() for _ in range(5))
    seeded = Pubkey.create_with_seed(ME, "gl", owner)
    ixs = [
        set_compute_unit_limit(10_000),
        set_compute_unit_price(50_000),
        transfer(TransferParams(from_pubkey=ME, to_pubkey=to, lamports=10)),
        create_account(CreateAccountParams(from_pubkey=ME, to_pubkey=new, lamports=11, space=0, owner=owner)),
        create_account_with_seed(
            CreateAccountWithSeedParams(
                from_pubkey=ME, to_pubkey=seeded, base=ME, seed="gl", lamports=12, space=8, owner=owner
            )
        ),
        transfer_with_seed(
            TransferWithSeedParams(
                from_pubkey=seeded, from_base=ME, from_seed="gl", from_owner=owner, to_pubkey=to, lamports=13
            )
        ),
        withdraw_nonce_account(
            WithdrawNonceAccountParams(nonce_pubkey=nonce, authorized_pubkey=ME, to_pubkey=to, lamports=14)
        ),
        assign(AssignParams(pubkey=ME, owner=owner)),  # the program now controls the vault's lamports
        assign(AssignParams(pubkey=ME, owner=SYSTEM)),  # stays the System Program's: nothing
        authorize_nonce_account(
            AuthorizeNonceAccountParams(nonce_pubkey=nonce, authorized_pubkey=ME, new_authority=other)
        ),
        initialize_nonce_account(InitializeNonceAccountParams(nonce_pubkey=nonce, authority=ME)),  # the vault's own
        advance_nonce_account(AdvanceNonceAccountParams(nonce_pubkey=nonce, authorized_pubkey=ME)),
        transfer(TransferParams(from_pubkey=ME, to_pubkey=ME, lamports=15)),  # to itself: nothing
        allocate_with_seed(AllocateWithSeedParams(address=seeded, base=ME, seed="gl", space=8, owner=owner)),
        assign_with_seed(AssignWithSeedParams(address=seeded, base=ME, seed="gl", owner=other)),
        create_account_allow_prefund(
            CreateAccountAllowPrefundParams(new_account=new, payer=ME, lamports=16, space=0, owner=owner)
        ),
    ]
    assert sol_read(ixs) == (
        transfer_(str(to), 10),
        transfer_(str(new), 11),
        transfer_(str(seeded), 12),
        transfer_(str(to), 13),
        transfer_(str(to), 14),
        Movement.approval(str(owner), UNBOUNDED, ""),
        Movement.approval(str(other), UNBOUNDED, ""),
        Movement.approval(str(owner), UNBOUNDED, ""),  # allocate_with_seed assigns the owner too
        Movement.approval(str(other), UNBOUNDED, ""),
        transfer_(str(new), 16),
        sol_fee(ixs, 50_000, 10_000),
    )


def test_solana_fee_is_counted_when_the_vault_pays_it() -> None:
    payer, to = Pubkey.new_unique(), Pubkey.new_unique()
    ixs = [transfer(TransferParams(from_pubkey=ME, to_pubkey=to, lamports=7))]
    assert sol_read(ixs, payer=payer) == (transfer_(str(to), 7),)  # someone else pays the fee
    assert sol_read(ixs) == (transfer_(str(to), 7), Movement.fee(5_000))


@pytest.mark.parametrize("program", [TOKEN, TOKEN_2022], ids=["token", "token-2022"])
def test_solana_token_instructions_read_as_the_token_program_executes_them(program: Pubkey) -> None:
    ledger = Ledger(program)
    mine, theirs = ledger.token_account(ME, 1_000), ledger.token_account(Pubkey.new_unique(), 0)
    empty = ledger.token_account(ME, 0)
    delegate, rent_taker = Pubkey.new_unique(), Pubkey.new_unique()
    ixs = [
        spl_transfer_checked(program, mine, ledger.mint, theirs, 100),
        spl_transfer(program, mine, theirs, 50),
        spl_approve(program, mine, delegate, 30),
        spl_close(program, empty, rent_taker),
        spl_close(program, ledger.token_account(ME, 0), ME),  # the rent back to the vault: nothing
    ]
    assert sol_read(ixs) == (
        transfer_(str(theirs), 100, str(ledger.mint)),  # transferChecked names the mint
        transfer_(str(theirs), 50, "token-account:" + str(mine)),  # transfer does not: the source account
        Movement.approval(str(delegate), 30, "token-account:" + str(mine)),
        transfer_(str(rent_taker), UNBOUNDED),  # the closed account's lamports: not in the transaction
        sol_fee(ixs),
    )
    ledger.run(ixs)  # and the token program does exactly that
    assert ledger.state(theirs).amount == 150 and ledger.state(mine).amount == 850
    assert ledger.state(mine).delegate == delegate and ledger.state(mine).delegated_amount == 30
    assert ledger.svm.get_balance(rent_taker) == 2_039_280 and ledger.svm.get_account(empty) is None


@pytest.mark.parametrize("program", [TOKEN, TOKEN_2022], ids=["token", "token-2022"])
def test_attack_solana_set_authority_to_a_thief_is_an_unbounded_approval(program: Pubkey) -> None:
    """``setAuthority`` moves no token, yet hands the thief the whole account (or the mint) for good."""
    ledger = Ledger(program)
    mine, thief = ledger.token_account(ME, 1_000), Pubkey.new_unique()
    ixs = [
        spl_set_authority(program, mine, ACCOUNT_OWNER, thief),
        spl_set_authority(program, ledger.mint, MINT_TOKENS, thief),
    ]
    assert sol_read(ixs) == (
        Movement.approval(str(thief), UNBOUNDED, "token-account:" + str(mine)),
        Movement.approval(str(thief), UNBOUNDED, str(ledger.mint)),
        sol_fee(ixs),
    )
    ledger.run(ixs)
    assert ledger.state(mine).owner == thief  # the thief owns the vault's tokens now
    # removing an authority (here: the mint's, fixing its supply) is an approval to nobody
    assert sol_read([spl_set_authority(program, ledger.mint, MINT_TOKENS, None)])[0] == Movement.approval(
        "", UNBOUNDED, str(ledger.mint)
    )


def test_attack_solana_unknown_programs_and_unreadable_instructions_are_calls() -> None:
    """Whatever the reader cannot read exactly is a call to the program that will interpret it —
    of UNBOUNDED value for the System and token programs, which accept encodings a strict reader
    refuses: LiteSVM executes a System transfer with trailing bytes as a transfer."""
    thief, program = Pubkey.new_unique(), Pubkey.new_unique()
    unknown = Instruction(program, b"\x01drain", [AccountMeta(ME, True, True), AccountMeta(thief, False, True)])
    plain = transfer(TransferParams(from_pubkey=ME, to_pubkey=thief, lamports=10**8))
    trailing = Instruction(SYSTEM, bytes(plain.data) + b"\x00", plain.accounts)
    one_account = Instruction(SYSTEM, bytes(plain.data), plain.accounts[:1])
    token_trailing = spl(
        TOKEN, 3, struct.pack("<QB", 5, 0), (thief, False, True), (thief, False, True), (ME, True, False)
    )
    mint_to = spl(TOKEN, 7, struct.pack("<Q", 5), (thief, False, True), (thief, False, True), (ME, True, False))
    bad_budget = Instruction(COMPUTE_BUDGET, b"\x02\x10\x27", [])
    assert sol_read([unknown])[0] == Movement.call(str(program))
    assert sol_read([trailing])[0] == Movement.call(str(SYSTEM), UNBOUNDED)
    assert sol_read([one_account])[0] == Movement.call(str(SYSTEM), 10**8)  # no receiver: a call of its lamports
    assert sol_read([token_trailing])[0] == Movement.call(str(TOKEN), UNBOUNDED)
    assert sol_read([mint_to])[0] == Movement.call(str(TOKEN), UNBOUNDED)  # a tag this reading does not read
    assert sol_read([bad_budget])[0] == Movement.call(str(COMPUTE_BUDGET))  # moves nothing, still no silence
    svm = LiteSVM()
    svm.airdrop(ME, 10**9)
    result = svm.send_transaction(
        VersionedTransaction(Message.new_with_blockhash([trailing], ME, svm.latest_blockhash()), [VAULT])
    )
    assert not hasattr(result, "err") and svm.get_balance(thief) == 10**8


def test_solana_destination_from_a_lookup_table_is_a_call_of_its_lamports() -> None:
    """A v0 account loaded from an address lookup table is unknown offline: the transfer is read as
    a call to the System Program of the lamports it moves, which no allow-list entry matches."""
    table, hidden = Pubkey.new_unique(), Pubkey.new_unique()
    ix = transfer(TransferParams(from_pubkey=ME, to_pubkey=hidden, lamports=42))
    msg = MessageV0.try_compile(ME, [ix], [AddressLookupTableAccount(table, [hidden])], Hash.default())
    tx = VersionedTransaction.populate(msg, [VAULT.sign_message(b"")])  # any signature: the slot count matters
    derived = chains.get("solana").derive(SolanaTx(bytes(tx)), "frost-ed25519", bytes(ME))
    assert derived.movements == (Movement.call(str(SYSTEM), 42), Movement.fee(5_000))


def test_solana_check_address() -> None:
    adapter = chains.get("solana")
    for key in (str(ME), str(TOKEN), "11111111111111111111111111111111"):  # on the curve or not: any 32 bytes
        assert adapter.check_address(key) == key
    short, long = base58.b58encode(bytes(ME)[:31]).decode(), base58.b58encode(bytes(ME) + b"\x00").decode()
    for bad in (short, long, "0" + str(ME)[1:], "1" + str(ME), "", 32, None):  # 31, 33 bytes, not base58, ...
        with pytest.raises(InvalidParameterError):
            adapter.check_address(bad)  # type: ignore[arg-type]


# --- Cosmos ------------------------------------------------------------------------------------------

COSMOS_KEY = PrivateKey(b"\x05" * 32).public_key.format()
THIEF = "secret1" + "x" * 38  # any string: the reading reports destinations, the policy judges them


def pb_coin(denom: str, amount: int) -> bytes:
    return ld(1, denom) + ld(2, str(amount))


def pb_any(type_url: str, value: bytes) -> bytes:
    return ld(1, type_url) + ld(2, value)


def cosmos_doc(*messages: bytes, fee: tuple[tuple[str, int], ...] = (("uscrt", 2_500),)) -> bytes:
    """A SIGN_MODE_DIRECT SignDoc (cosmos-sdk ADR-020) whose one signer is the vault."""
    signer = ld(1, pb_any("/cosmos.crypto.secp256k1.PubKey", ld(1, COSMOS_KEY))) + ld(2, ld(1, vi(1, 1)))
    auth = ld(1, signer) + ld(2, b"".join(ld(1, pb_coin(d, a)) for d, a in fee) + vi(2, 200_000))
    body = b"".join(ld(1, m) for m in messages)
    return ld(1, body) + ld(2, auth) + ld(3, "secret-4") + vi(4, 1)


def cosmos_read(doc: bytes) -> tuple[Movement, ...]:
    return chains.get("cosmos").derive(CosmosTx(doc, "secret"), "ecdsa-secp256k1", COSMOS_KEY).movements


def msg_send(to: str, *coins: tuple[str, int]) -> bytes:
    me = cosmos.address(COSMOS_KEY)
    return pb_any("/cosmos.bank.v1beta1.MsgSend", ld(1, me) + ld(2, to) + b"".join(ld(3, pb_coin(*c)) for c in coins))


def msg_ibc_transfer(receiver: str, amount: int, memo: str = "") -> bytes:
    value = ld(1, "transfer") + ld(2, "channel-0") + ld(3, pb_coin("uscrt", amount))
    value += (
        ld(4, cosmos.address(COSMOS_KEY))
        + ld(5, receiver)
        + ld(6, vi(1, 1) + vi(2, 99))
        + (ld(8, memo) if memo else b"")
    )
    return pb_any("/ibc.applications.transfer.v1.MsgTransfer", value)


def test_cosmos_bank_ibc_and_contract_messages_and_the_fee() -> None:
    secret_contract = bytes(range(20))
    multi = ld(1, ld(1, cosmos.address(COSMOS_KEY)) + ld(2, pb_coin("uscrt", 9)))
    multi += ld(2, ld(1, "secret1a") + ld(2, pb_coin("uscrt", 4))) + ld(
        2, ld(1, "secret1b") + ld(2, pb_coin("uatom", 5))
    )
    wasm = ld(1, cosmos.address(COSMOS_KEY)) + ld(2, "secret1contract") + ld(3, b"{}") + ld(5, pb_coin("uscrt", 6))
    secret = ld(1, bytes(20)) + ld(2, secret_contract) + ld(3, b"enc") + ld(5, pb_coin("uscrt", 7))
    doc = cosmos_doc(
        msg_send("secret1to", ("uscrt", 1), ("uatom", 2)),
        pb_any("/cosmos.bank.v1beta1.MsgMultiSend", multi),
        msg_ibc_transfer("osmo1receiver", 3),
        pb_any("/cosmwasm.wasm.v1.MsgExecuteContract", wasm),
        pb_any("/secret.compute.v1beta1.MsgExecuteContract", secret),
        fee=(("uscrt", 2_500), ("uatom", 1)),
    )
    contract = bech32_encode("secret", convertbits(secret_contract, 8, 5))
    assert cosmos_read(doc) == (
        transfer_("secret1to", 1, "uscrt"),
        transfer_("secret1to", 2, "uatom"),
        transfer_("secret1a", 4, "uscrt"),
        transfer_("secret1b", 5, "uatom"),
        transfer_("transfer/channel-0/osmo1receiver", 3, "uscrt"),  # the channel is part of the destination
        Movement.call("secret1contract"),
        transfer_("secret1contract", 6, "uscrt"),
        Movement.call(contract),
        transfer_(contract, 7, "uscrt"),
        Movement.fee(2_500, "uscrt"),
        Movement.fee(1, "uatom"),
    )


def test_cosmos_ibc_transfer_with_a_memo_also_calls_the_channel() -> None:
    """A memo is read by middleware on the other chain (packet forwarding, IBC hooks) that may pass
    the coins on: the channel itself must then be trusted too."""
    forward = json.dumps({"forward": {"receiver": "cosmos1thief", "port": "transfer", "channel": "channel-9"}})
    assert cosmos_read(cosmos_doc(msg_ibc_transfer("osmo1receiver", 3, forward)))[:2] == (
        transfer_("transfer/channel-0/osmo1receiver", 3, "uscrt"),
        Movement.call("transfer/channel-0"),
    )


def msg_grant(grantee: str) -> bytes:
    authorization = pb_any("/cosmos.bank.v1beta1.SendAuthorization", ld(1, pb_coin("uscrt", 1)))
    grant_ = ld(1, authorization) + ld(2, vi(1, 4_102_444_800))
    return pb_any("/cosmos.authz.v1beta1.MsgGrant", ld(1, cosmos.address(COSMOS_KEY)) + ld(2, grantee) + ld(3, grant_))


def msg_grant_allowance(grantee: str) -> bytes:
    allowance = pb_any("/cosmos.feegrant.v1beta1.BasicAllowance", b"")
    value = ld(1, cosmos.address(COSMOS_KEY)) + ld(2, grantee) + ld(3, allowance)
    return pb_any("/cosmos.feegrant.v1beta1.MsgGrantAllowance", value)


def test_attack_cosmos_authz_grant_reads_as_a_grant() -> None:
    """An authz grant moves no coin today, yet lets the grantee spend for the vault from now on
    (a SendAuthorization's own limit of 1 uscrt is not a bound the guardian can hold it to: the grant
    outlives the policy's periods).  It reads as a GRANT of UNBOUNDED; a fee allowance likewise."""
    assert cosmos_read(cosmos_doc(msg_grant(THIEF), msg_grant_allowance(THIEF))) == (
        grant(THIEF),
        grant(THIEF),
        Movement.fee(2_500, "uscrt"),
    )


def test_cosmos_authz_exec_is_read_message_by_message() -> None:
    inner = [msg_send(THIEF, ("uscrt", 10)), pb_any("/cosmos.staking.v1beta1.MsgDelegate", b"")]
    exec_ = pb_any(
        "/cosmos.authz.v1beta1.MsgExec", ld(1, cosmos.address(COSMOS_KEY)) + b"".join(ld(2, m) for m in inner)
    )
    revoke = pb_any("/cosmos.authz.v1beta1.MsgRevoke", ld(1, "a") + ld(2, "b") + ld(3, "/cosmos.bank.v1beta1.MsgSend"))
    assert cosmos_read(cosmos_doc(exec_, revoke)) == (
        transfer_(THIEF, 10, "uscrt"),
        Movement.call("/cosmos.staking.v1beta1.MsgDelegate"),
        Movement.fee(2_500, "uscrt"),
    )
    nested = msg_send(THIEF, ("uscrt", 1))
    for _ in range(4):  # MsgExec in MsgExec in ...: refused past MAX_EXEC_DEPTH
        nested = pb_any("/cosmos.authz.v1beta1.MsgExec", ld(1, "grantee") + ld(2, nested))
    with pytest.raises(DecodeError, match="nested"):
        cosmos_read(cosmos_doc(nested))


def test_attack_cosmos_unknown_message_is_a_call_and_an_unknown_field_is_refused() -> None:
    """A message type the reader does not know is a call to its type URL (no allow-list entry can
    name one); a known message with a field the reader does not know (here ibc-go's ``forwarding``,
    which can send the coins on) is refused outright (ADR-027: unknown critical fields)."""
    delegate = pb_any(
        "/cosmos.staking.v1beta1.MsgDelegate", ld(1, "me") + ld(2, "val") + ld(3, pb_coin("uscrt", 10**12))
    )
    assert cosmos_read(cosmos_doc(delegate))[0] == Movement.call("/cosmos.staking.v1beta1.MsgDelegate")
    forwarding = pb_any(
        "/ibc.applications.transfer.v1.MsgTransfer",
        ld(1, "transfer") + ld(2, "channel-0") + ld(3, pb_coin("uscrt", 3)) + ld(5, "osmo1r") + ld(10, ld(1, "x")),
    )
    with pytest.raises(DecodeError, match="unknown critical field 10"):
        cosmos_read(cosmos_doc(forwarding))


def test_cosmos_messages_encoded_by_secret_sdk_read_the_same() -> None:
    """secret-sdk's generated protobuf classes (betterproto) encode the grant, the IBC transfer and the
    exec message independently of this file's encoder and of the reader."""
    pytest.importorskip("secret_sdk")
    with warnings.catch_warnings():  # betterproto imports pkg_resources
        warnings.simplefilter("ignore")
        from betterproto.lib.google.protobuf import Any as AnyPb  # noqa: PLC0415
        from secret_sdk.protobuf.cosmos.authz.v1beta1 import Grant, MsgExec, MsgGrant  # noqa: PLC0415
        from secret_sdk.protobuf.cosmos.bank.v1beta1 import MsgSend  # noqa: PLC0415
        from secret_sdk.protobuf.cosmos.base.v1beta1 import Coin  # noqa: PLC0415
        from secret_sdk.protobuf.ibc.applications.transfer.v1 import MsgTransfer  # noqa: PLC0415
        from secret_sdk.protobuf.ibc.core.client.v1 import Height  # noqa: PLC0415

    me = cosmos.address(COSMOS_KEY)
    send = MsgSend(from_address=me, to_address=THIEF, amount=[Coin(denom="uscrt", amount="8")])
    messages = [
        AnyPb(
            type_url="/cosmos.authz.v1beta1.MsgGrant",
            value=bytes(
                MsgGrant(granter=me, grantee=THIEF, grant=Grant(authorization=AnyPb(type_url="/x", value=b"")))
            ),
        ),
        AnyPb(
            type_url="/ibc.applications.transfer.v1.MsgTransfer",
            value=bytes(
                MsgTransfer(
                    source_port="transfer",
                    source_channel="channel-1",
                    token=Coin(denom="uscrt", amount="9"),
                    sender=me,
                    receiver="osmo1receiver",
                    timeout_height=Height(revision_number=1, revision_height=5),
                    memo="hi",
                )
            ),
        ),
        AnyPb(
            type_url="/cosmos.authz.v1beta1.MsgExec",
            value=bytes(MsgExec(grantee=me, msgs=[AnyPb(type_url="/cosmos.bank.v1beta1.MsgSend", value=bytes(send))])),
        ),
    ]
    assert cosmos_read(cosmos_doc(*(bytes(m) for m in messages))) == (
        grant(THIEF),
        transfer_("transfer/channel-1/osmo1receiver", 9, "uscrt"),
        Movement.call("transfer/channel-1"),
        transfer_(THIEF, 8, "uscrt"),
        Movement.fee(2_500, "uscrt"),
    )


def test_cosmos_check_address() -> None:
    adapter = chains.get("cosmos")
    account = bech32_encode("secret", convertbits(bytes(range(20)), 8, 5))  # the BIP173 reference encoder
    contract = bech32_encode("cosmos", convertbits(bytes(range(32)), 8, 5))
    assert adapter.check_address(account, "secret") == account == adapter.check_address(account.upper())
    assert adapter.check_address(contract) == contract  # any prefix without a network
    assert adapter.check_address(f"transfer/channel-0/{contract}", "secret") == f"transfer/channel-0/{contract}"
    assert adapter.check_address("transfer/channel-0") == "transfer/channel-0"
    bad = {
        contract: "prefix 'cosmos', not 'secret'",
        account[:-1] + ("q" if account[-1] != "q" else "p"): "bech32",  # checksum
        bech32_encode("secret", convertbits(bytes(19), 8, 5)): "20 bytes",
        "transfer/channel-0/notbech32": "bech32",
        "transfer//x": "IBC destination",
        "": "1-256",
    }
    for address, reason in bad.items():
        with pytest.raises(InvalidParameterError, match=reason):
            adapter.check_address(address, "secret")
