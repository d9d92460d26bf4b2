"""Bitcoin: P2WPKH and P2TR key-path addresses, PSBT signing through the signer seam, finalising.

The contract::

    from gridlock.chains import bitcoin
    bitcoin.address(public_key, kind="p2wpkh" | "p2tr", network="regtest")
    bitcoin.sign_psbt(psbt_base64, signer) -> str       # base64 PSBT with this signer's signatures
    bitcoin.finalize_psbt(psbt_base64) -> bytes         # raw signed transaction
    bitcoin.summarize(psbt_base64, network=...)         # PsbtSummary: recipients, inputs, fee, sighashes
    bitcoin.sighashes(psbt_base64, scheme, public_key)  # [(input index, sighash, hash type)] to sign
    bitcoin.read(psbt_base64, scheme, public_key, network)  # a guardian's reading: sighashes, movements
    bitcoin.check_address(address, network)             # an allow-list entry, canonical

Keys: an ``ecdsa-secp256k1`` key (33-byte compressed) spends P2WPKH; a ``frost-taproot`` key is
the BIP86 *output* key Q (32-byte x-only) of the vault's internal key P, so its P2TR script is
``OP_1 <Q>`` and its signatures verify under Q as they are.  A signer knows its key, so an input
is its own when its UTXO script is exactly its script.  A vault's child keys (BIP32, and BIP86 at
the leaf for Taproot) are named by a PSBT's derivation fields and checked by derivation
(:mod:`gridlock.chains.bitcoin.keys`), which also writes those fields and
``PSBT_IN_TAP_INTERNAL_KEY`` for the keys that sign; descriptors for watch-only wallets are
:mod:`gridlock.chains.bitcoin.descriptors`.  ``sign_psbt`` signs the inputs its key controls; an
input it does not control, an input without UTXO data, or contradicting UTXO data is an error.  A
transaction that spends coins of several keys is signed key by key with ``allow_foreign_inputs=True``.

Library choices (hand-write only what the libraries do not do well):

* bech32 / bech32m: PyPI ``bech32m`` (Pieter Wuille's BIP350 reference code, annotated;
  no ``py.typed`` marker).  PyPI
  ``bech32`` 1.2.0 is the BIP173-only reference and cannot encode P2TR addresses.
* Base58Check, only to display legacy recipients: PyPI ``base58``.
* secp256k1 verification: ``coincurve`` (libsecp256k1), as the rest of Gridlock.
* PSBT (BIP174/371), transactions, BIP143/341 sighashes: our own, about 750 lines.  We evaluated
  ``embit`` 0.8.0 (pure Python, PSBT with Taproot fields): it does not parse
  ``PSBT_IN_TAP_KEY_SIG`` (a TODO in its parser; its own Taproot signer writes the final witness
  instead), skips BIP174's key-length and duplicate checks for several fields, does not check that
  an embedded transaction fills its declared length, caches Taproot amount hashes on the
  transaction object regardless of the amounts passed in, and loads a prebuilt libsecp256k1 of its
  own through ctypes.  ``python-bitcointx`` 1.1.5 has no BIP371 fields and cannot verify Taproot;
  ``btclib``/``bitcoinlib``/``buidl`` bring whole wallets for a few hundred lines we need.  A
  guardian re-derives what it signs from an untrusted PSBT (SECURITY #19), so the codec that does
  so must be strict and small enough to audit; it is checked against every BIP174 and BIP371 test
  vector and the BIP143/BIP341 sighash vectors, and its output against Bitcoin Core's consensus
  engine (libbitcoinkernel) in the tests.
"""

from __future__ import annotations

from gridlock.chains.bitcoin.address import (
    NETWORKS,
    address,
    address_to_script,
    check_address,
    p2tr_script,
    p2wpkh_script,
    script_kind,
    script_to_address,
)
from gridlock.chains.bitcoin.errors import (
    AddressError,
    ChainError,
    FinalizeError,
    ForeignInputError,
    InputError,
    MalformedError,
    MissingUtxoError,
    OverspendError,
    SighashTypeError,
    UnsupportedSignerError,
    UtxoMismatchError,
)
from gridlock.chains.bitcoin.psbt import Psbt, Spend, create_psbt
from gridlock.chains.bitcoin.reading import Reading, read
from gridlock.chains.bitcoin.sighash import (
    SIGHASH_ALL,
    SIGHASH_ANYONECANPAY,
    SIGHASH_DEFAULT,
    SIGHASH_NONE,
    SIGHASH_SINGLE,
    bip143_sighash,
    bip341_sighash,
)
from gridlock.chains.bitcoin.signing import SighashRequest, finalize_psbt, sighashes, sign_psbt
from gridlock.chains.bitcoin.summary import InputSummary, PsbtSummary, Recipient, summarize
from gridlock.chains.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from gridlock.chains.signer import Signer

__all__ = [
    "NETWORKS",
    "SIGHASH_ALL",
    "SIGHASH_ANYONECANPAY",
    "SIGHASH_DEFAULT",
    "SIGHASH_NONE",
    "SIGHASH_SINGLE",
    "AddressError",
    "ChainError",
    "FinalizeError",
    "ForeignInputError",
    "InputError",
    "InputSummary",
    "MalformedError",
    "MissingUtxoError",
    "OutPoint",
    "OverspendError",
    "Psbt",
    "PsbtSummary",
    "Reading",
    "Recipient",
    "SighashRequest",
    "SighashTypeError",
    "Signer",
    "Spend",
    "Transaction",
    "TxIn",
    "TxOut",
    "UnsupportedSignerError",
    "UtxoMismatchError",
    "address",
    "address_to_script",
    "bip143_sighash",
    "bip341_sighash",
    "check_address",
    "create_psbt",
    "finalize_psbt",
    "p2tr_script",
    "p2wpkh_script",
    "read",
    "script_kind",
    "script_to_address",
    "sighashes",
    "sign_psbt",
    "summarize",
]
