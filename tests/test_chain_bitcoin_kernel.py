"""Bitcoin Core's consensus engine (libbitcoinkernel via ``py-bitcoinkernel``) judges our spends.

* Per input: ``ScriptPubkey.verify`` with every consensus flag (P2SH, DERSIG, NULLDUMMY, CLTV, CSV,
  WITNESS, TAPROOT) and all spent outputs, on transactions signed by real threshold keys
  (3-of-5 ``ecdsa-secp256k1`` → P2WPKH, 3-of-5 ``frost-taproot`` → P2TR key path) through
  ``sign_psbt``/``finalize_psbt``.  Wrong amounts, tampered signatures, a changed output and
  signatures by an untweaked key are rejected.
* A private regtest chain in the kernel: coinbases pay our P2WPKH and P2TR addresses, 100 blocks
  mature them, then a block spending both threshold-controlled coins connects, while the same
  block with a corrupted signature, or with signatures made over a lied-about amount, does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pbk
import pytest
from coincurve import PrivateKey, PublicKey
from pbk.script import PrecomputedTransactionData

from conftest import load_vector
from gridlock import local
from gridlock.chains import bitcoin
from gridlock.chains.bitcoin import OutPoint, Psbt, Spend, Transaction, TxIn, TxOut
from gridlock.chains.bitcoin.sighash import bip341_sighash
from gridlock.chains.bitcoin.signing import CURVE_ORDER
from gridlock.chains.bitcoin.tx import compact_size, sha256d
from gridlock.crypto.hashing import tagged_hash

COIN = 100_000_000
FLAGS = pbk.ScriptVerificationFlags.ALL


@pytest.fixture(scope="module")
def ecdsa_signer() -> local.LocalSigner:
    return local.signer(local.keygen("ecdsa-secp256k1", 3, 5)[1:4])


@pytest.fixture(scope="module")
def taproot_signer() -> local.LocalSigner:
    return local.signer(local.keygen("frost-taproot", 3, 5)[:3])


def kernel_verdicts(raw_tx: bytes, spent: list[TxOut]) -> list[bool]:
    """The kernel's verdict on every input of ``raw_tx`` spending ``spent`` (all given, for Taproot)."""
    ktx = pbk.Transaction(raw_tx)
    outs = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.amount) for o in spent]
    pre = PrecomputedTransactionData(ktx, outs)
    return [bool(pbk.ScriptPubkey(o.script_pubkey).verify(o.amount, ktx, pre, i, FLAGS)) for i, o in enumerate(spent)]


def with_witness(tx: Transaction, index: int, witness: tuple[bytes, ...]) -> Transaction:
    inputs = list(tx.inputs)
    inputs[index] = TxIn(inputs[index].prevout, inputs[index].script_sig, inputs[index].sequence, witness)
    return Transaction(tx.version, tuple(inputs), tx.outputs, tx.locktime)


def flip_last_byte_of(item: bytes, at: int = -2) -> bytes:
    b = bytearray(item)
    b[at] ^= 0x01
    return bytes(b)


# --- per-input verification ------------------------------------------------------------------------


def test_kernel_accepts_the_bip341_vector_transaction() -> None:
    case = load_vector("bitcoin/bip341-wallet-test-vectors.json")["keyPathSpending"][0]
    spent = [TxOut(u["amountSats"], bytes.fromhex(u["scriptPubKey"])) for u in case["given"]["utxosSpent"]]
    raw = bytes.fromhex(case["auxiliary"]["fullySignedTx"])
    assert Transaction.parse(raw).serialize() == raw
    assert kernel_verdicts(raw, spent) == [True] * len(spent)
    bumped = [TxOut(o.amount + (i == 0), o.script_pubkey) for i, o in enumerate(spent)]
    verdicts = kernel_verdicts(raw, bumped)
    assert verdicts[0] is False  # its own amount
    assert verdicts[3] is False  # a Taproot SIGHASH_ALL input commits to every amount


@pytest.fixture(scope="module")
def signed_pair(ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner) -> tuple[bytes, list[TxOut]]:
    """A transaction spending a P2WPKH coin (ECDSA key) and a P2TR coin (Taproot key), fully signed."""
    wpkh, tr = bitcoin.p2wpkh_script(ecdsa_signer.public_key), bitcoin.p2tr_script(taproot_signer.public_key)
    prev = Transaction(2, (TxIn(OutPoint(b"\x11" * 32, 0)),), (TxOut(3 * COIN, wpkh), TxOut(2 * COIN, tr)), 0)
    dest = bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")
    text = bitcoin.create_psbt(
        [
            Spend(OutPoint(prev.txid(), 0), prev.outputs[0], prev_tx=prev),
            Spend(OutPoint(prev.txid(), 1), prev.outputs[1]),
        ],
        [TxOut(4 * COIN, dest), TxOut(COIN - 10_000, wpkh)],
    )
    text = bitcoin.sign_psbt(
        bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=True), taproot_signer, allow_foreign_inputs=True
    )
    return bitcoin.finalize_psbt(text), list(prev.outputs)


def test_kernel_accepts_threshold_spends(signed_pair: tuple[bytes, list[TxOut]]) -> None:
    raw, spent = signed_pair
    assert kernel_verdicts(raw, spent) == [True, True]
    tx = Transaction.parse(raw)
    ktx = pbk.Transaction(raw)  # the kernel's own codec agrees with ours
    assert bytes(ktx) == raw and bytes(ktx.txid) == tx.txid() and str(ktx.txid) == tx.txid_hex
    assert len(tx.inputs[0].witness) == 2 and len(tx.inputs[1].witness[0]) == 64  # SIGHASH_DEFAULT


def test_kernel_rejects_wrong_amounts(signed_pair: tuple[bytes, list[TxOut]]) -> None:
    raw, spent = signed_pair
    wpkh_coin, tr_coin = spent
    # the P2WPKH signature commits to its own amount; the Taproot one to both
    assert kernel_verdicts(raw, [TxOut(wpkh_coin.amount - 1, wpkh_coin.script_pubkey), tr_coin]) == [False, False]
    assert kernel_verdicts(raw, [wpkh_coin, TxOut(tr_coin.amount + 1, tr_coin.script_pubkey)]) == [True, False]


def test_kernel_rejects_tampering(signed_pair: tuple[bytes, list[TxOut]]) -> None:
    raw, spent = signed_pair
    tx = Transaction.parse(raw)
    der_sig, pubkey = tx.inputs[0].witness
    bad_ecdsa = with_witness(tx, 0, (flip_last_byte_of(der_sig), pubkey))
    assert kernel_verdicts(bad_ecdsa.serialize(), spent) == [False, True]
    bad_schnorr = with_witness(tx, 1, (flip_last_byte_of(tx.inputs[1].witness[0], 10),))
    assert kernel_verdicts(bad_schnorr.serialize(), spent) == [True, False]
    # a 65-byte SIGHASH_ALL encoding of a signature made for SIGHASH_DEFAULT
    relabelled = with_witness(tx, 1, (tx.inputs[1].witness[0] + b"\x01",))
    assert kernel_verdicts(relabelled.serialize(), spent)[1] is False
    # an output changed after signing
    changed = Transaction(
        tx.version,
        tx.inputs,
        (TxOut(tx.outputs[0].amount + 1, tx.outputs[0].script_pubkey), tx.outputs[1]),
        tx.locktime,
    )
    assert kernel_verdicts(changed.serialize(), spent) == [False, False]


def test_kernel_taproot_every_hash_type(taproot_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2tr_script(taproot_signer.public_key)
    types = [0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83]
    prev = Transaction(2, (TxIn(OutPoint(b"\x22" * 32, 0)),), tuple(TxOut(COIN, spk) for _ in types), 0)
    psbt = Psbt.from_base64(
        bitcoin.create_psbt(
            [Spend(OutPoint(prev.txid(), i), prev.outputs[i]) for i in range(len(types))],
            [TxOut(COIN - 1000, spk) for _ in types],
        )
    )
    for i, hash_type in enumerate(types):
        psbt.set_sighash_type(i, hash_type)
    raw = bitcoin.finalize_psbt(bitcoin.sign_psbt(psbt.to_base64(), taproot_signer, allow_foreign_inputs=True))
    assert kernel_verdicts(raw, list(prev.outputs)) == [True] * len(types)
    assert [len(txin.witness[0]) for txin in Transaction.parse(raw).inputs] == [64] + [65] * 6


def test_kernel_p2wpkh_every_hash_type(ecdsa_signer: local.LocalSigner) -> None:
    spk = bitcoin.p2wpkh_script(ecdsa_signer.public_key)
    types = [0x01, 0x02, 0x03, 0x81, 0x82, 0x83]
    prev = Transaction(2, (TxIn(OutPoint(b"\x33" * 32, 0)),), tuple(TxOut(COIN, spk) for _ in types), 0)
    psbt = Psbt.from_base64(
        bitcoin.create_psbt(
            [Spend(OutPoint(prev.txid(), i), prev.outputs[i], prev_tx=prev) for i in range(len(types))],
            [TxOut(COIN - 1000, spk) for _ in types],
        )
    )
    for i, hash_type in enumerate(types):
        psbt.set_sighash_type(i, hash_type)
    raw = bitcoin.finalize_psbt(bitcoin.sign_psbt(psbt.to_base64(), ecdsa_signer, allow_foreign_inputs=True))
    assert kernel_verdicts(raw, list(prev.outputs)) == [True] * len(types)


def test_kernel_rejects_untweaked_keys(taproot_signer: local.LocalSigner) -> None:
    """A Taproot output commits to Q = P + H_TapTweak(P)·G; a signature by P itself is refused."""
    # A single key we know: the internal key P = d·G, the BIP86 output key Q = tweak(P).
    d = PrivateKey(bytes([42]) * 32)
    p_full = d.public_key.format()
    d_even = d if p_full[0] == 2 else PrivateKey((CURVE_ORDER - d.to_int()).to_bytes(32, "big"))
    p_x = p_full[1:]
    t = tagged_hash("TapTweak", p_x)
    q_key = PrivateKey.from_int((d_even.to_int() + int.from_bytes(t, "big")) % CURVE_ORDER)
    q_x = q_key.public_key.format()[1:]
    prev = Transaction(2, (TxIn(OutPoint(b"\x44" * 32, 0)),), (TxOut(COIN, bitcoin.p2tr_script(q_x)),), 0)
    spend = Transaction(2, (TxIn(OutPoint(prev.txid(), 0)),), (TxOut(COIN - 1000, b"\x51"),), 0)
    digest = bip341_sighash(spend, 0, list(prev.outputs), 0)
    untweaked = with_witness(spend, 0, (d_even.sign_schnorr(digest, bytes(32)),))
    tweaked = with_witness(spend, 0, (q_key.sign_schnorr(digest, bytes(32)),))
    assert kernel_verdicts(untweaked.serialize(), list(prev.outputs)) == [False]
    assert kernel_verdicts(tweaked.serialize(), list(prev.outputs)) == [True]

    # The threshold key is Q already: paying BIP86(Q) — tweaking it a second time — is not ours, and
    # a signature by Q on such an output is refused by consensus too.
    q = taproot_signer.public_key
    t2 = tagged_hash("TapTweak", q)
    lifted = PublicKey(b"\x02" + q)
    q2 = PublicKey.combine_keys([lifted, PrivateKey(t2).public_key]).format()[1:]
    prev2 = Transaction(2, (TxIn(OutPoint(b"\x55" * 32, 0)),), (TxOut(COIN, bitcoin.p2tr_script(q2)),), 0)
    text = bitcoin.create_psbt([Spend(OutPoint(prev2.txid(), 0), prev2.outputs[0])], [TxOut(COIN - 1000, b"\x51")])
    with pytest.raises(bitcoin.ForeignInputError):
        bitcoin.sign_psbt(text, taproot_signer, allow_foreign_inputs=True)
    spend2 = Psbt.from_base64(text).tx
    sig = taproot_signer.sign(bip341_sighash(spend2, 0, list(prev2.outputs), 0))
    assert kernel_verdicts(with_witness(spend2, 0, (sig,)).serialize(), list(prev2.outputs)) == [False]


# --- a private regtest chain -------------------------------------------------------------------------


def bip34_height(height: int) -> bytes:
    if 1 <= height <= 16:
        return bytes([0x50 + height])  # OP_1 … OP_16
    raw = height.to_bytes((height.bit_length() + 8) // 8, "little")
    return bytes([len(raw)]) + raw


def merkle_root(hashes: list[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class RegtestChain:
    """An in-memory REGTEST chainstate; blocks are built and mined here (bits 0x207fffff)."""

    def __init__(self, datadir: Path) -> None:
        self.checked: list[tuple[pbk.ValidationMode, pbk.BlockValidationResult]] = []
        callbacks = pbk.ValidationInterfaceCallbacks(
            block_checked=lambda _ud, _block, state: self.checked.append(
                (state.validation_mode, state.block_validation_result)
            )
        )
        context = pbk.make_context(pbk.ChainType.REGTEST, validation_callbacks=callbacks)
        opts = pbk.ChainstateManagerOptions(context, str(datadir), str(datadir / "blocks"))
        opts.update_block_tree_db_in_memory(True)
        opts.update_chainstate_db_in_memory(True)
        self.chainman = pbk.ChainstateManager(opts)
        genesis = self.chainman.get_active_chain().block_tree_entries[0]
        self.tip = bytes(genesis.block_hash)  # internal byte order
        self.time = int(genesis.block_header.timestamp.timestamp())

    @property
    def height(self) -> int:
        return int(self.chainman.get_active_chain().height)

    def block(self, pay_to: bytes, txs: tuple[Transaction, ...] = ()) -> tuple[bytes, bytes, Transaction]:
        """A mined block on the current tip: ``(raw block, block hash, coinbase)``."""
        height = self.height + 1
        outputs = [TxOut(50 * COIN, pay_to)]
        witness: tuple[bytes, ...] = ()
        if any(tx.has_witness for tx in txs):  # BIP141 witness commitment
            root = merkle_root([bytes(32)] + [tx.wtxid() for tx in txs])
            outputs.append(TxOut(0, bytes.fromhex("6a24aa21a9ed") + sha256d(root + bytes(32))))
            witness = (bytes(32),)
        coinbase = Transaction(
            2,
            (TxIn(OutPoint(bytes(32), 0xFFFFFFFF), bip34_height(height) + b"\x08gridlock", 0xFFFFFFFF, witness),),
            tuple(outputs),
            0,
        )
        every = [coinbase, *txs]
        header_start = (0x20000000).to_bytes(4, "little") + self.tip + merkle_root([tx.txid() for tx in every])
        header_start += (self.time + height).to_bytes(4, "little") + (0x207FFFFF).to_bytes(4, "little")
        target = 0x7FFFFF << (8 * (0x20 - 3))
        nonce = 0
        while int.from_bytes(block_hash := sha256d(header_start + nonce.to_bytes(4, "little")), "little") > target:
            nonce += 1
        header = header_start + nonce.to_bytes(4, "little")
        raw = header + compact_size(len(every)) + b"".join(tx.serialize() for tx in every)
        return raw, block_hash, coinbase

    def submit(self, raw: bytes, block_hash: bytes) -> bool:
        """Hand the block to the kernel; True when it became the new tip."""
        before = self.height
        self.chainman.process_block(pbk.Block(raw))
        if self.height == before + 1:
            self.tip = block_hash
            return True
        return False

    def mine(self, pay_to: bytes = b"\x51", txs: tuple[Transaction, ...] = ()) -> Transaction:
        raw, block_hash, coinbase = self.block(pay_to, txs)
        assert self.submit(raw, block_hash), f"block at height {self.height + 1} was rejected: {self.checked[-1]}"
        return coinbase


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegtestChain]:
    yield RegtestChain(tmp_path_factory.mktemp("regtest"))


def test_regtest_block_spending_threshold_coins(
    chain: RegtestChain, ecdsa_signer: local.LocalSigner, taproot_signer: local.LocalSigner
) -> None:
    wpkh_addr = bitcoin.address(ecdsa_signer.public_key, kind="p2wpkh", network="regtest")
    tr_addr = bitcoin.address(taproot_signer.public_key, kind="p2tr", network="regtest")
    cb_wpkh = chain.mine(bitcoin.address_to_script(wpkh_addr, "regtest"))
    cb_tr = chain.mine(bitcoin.address_to_script(tr_addr, "regtest"))
    for _ in range(100):  # coinbase maturity
        chain.mine()
    assert chain.height == 102

    def spend_psbt(tr_amount_claimed: int) -> str:
        tr_utxo = TxOut(tr_amount_claimed, cb_tr.outputs[0].script_pubkey)
        return bitcoin.create_psbt(
            [
                Spend(OutPoint(cb_wpkh.txid(), 0), cb_wpkh.outputs[0], prev_tx=cb_wpkh),
                Spend(OutPoint(cb_tr.txid(), 0), tr_utxo),
            ],
            [
                TxOut(60 * COIN, bitcoin.address_to_script("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest")),
                TxOut(39 * COIN - 20_000, cb_tr.outputs[0].script_pubkey),  # change back to the vault
            ],
        )

    psbt = spend_psbt(50 * COIN)
    summary = bitcoin.summarize(psbt, network="regtest")
    assert summary.fee == COIN + 20_000 and [i.address for i in summary.inputs] == [wpkh_addr, tr_addr]

    def signed(text: str) -> Transaction:
        return Transaction.parse(
            bitcoin.finalize_psbt(
                bitcoin.sign_psbt(
                    bitcoin.sign_psbt(text, ecdsa_signer, allow_foreign_inputs=True),
                    taproot_signer,
                    allow_foreign_inputs=True,
                )
            )
        )

    good = signed(psbt)

    # 1. the same spend with a corrupted Taproot signature: the block does not connect
    bad = with_witness(good, 1, (flip_last_byte_of(good.inputs[1].witness[0], 5),))
    raw, block_hash, _ = chain.block(b"\x51", (bad,))
    assert not chain.submit(raw, block_hash)
    assert chain.checked[-1] == (pbk.ValidationMode.INVALID, pbk.BlockValidationResult.CONSENSUS)
    assert chain.height == 102

    # 2. signatures made over a lied-about amount (a PSBT claiming 49 BTC for the 50 BTC coin)
    lied = signed(spend_psbt(49 * COIN))
    raw, block_hash, _ = chain.block(b"\x51", (lied,))
    assert not chain.submit(raw, block_hash)
    assert chain.height == 102

    # 3. the honest spend connects
    chain.mine(txs=(good,))
    assert chain.height == 103
    assert chain.checked[-1] == (pbk.ValidationMode.VALID, pbk.BlockValidationResult.UNSET)

    # 4. and its change output, paid to the vault's Taproot key, is spendable in the next block
    change = Spend(OutPoint(good.txid(), 1), good.outputs[1])
    text = bitcoin.create_psbt([change], [TxOut(good.outputs[1].amount - 10_000, b"\x51")])
    chain.mine(
        txs=(
            Transaction.parse(
                bitcoin.finalize_psbt(bitcoin.sign_psbt(text, taproot_signer, allow_foreign_inputs=True))
            ),
        )
    )
    assert chain.height == 104
