"""A guardian's reading of a PSBT (SECURITY #19): the sighashes the vault's key owes it, and
everything it moves out of the vault (:mod:`gridlock.chains.movement`).

The reading is strict where signing is lenient.  The owner's side may sign a PSBT that spends coins
of several keys (:func:`gridlock.chains.bitcoin.sign_psbt` with ``allow_foreign_inputs=True``), but a
guardian cannot judge such a transaction: the value of another key's input may pay any output, so
"the outputs that are not our change" would no longer be what *this* vault gives away, and the fee
would mix coins of several owners.  So every input must spend an output of the vault's own script
(its P2WPKH for an ECDSA vault, its BIP86 P2TR for a Taproot vault), checked against the UTXO data
the PSBT carries (``witness_utxo``, or ``non_witness_utxo`` hashed to the input's txid, BIP174);
an input that is not is a :class:`ForeignInputError` naming it, and an input without UTXO data is a
:class:`MissingUtxoError` (its value, hence the fee, would be unknown).

"The vault's own script" covers its child keys: with the vault's HD root (``roots[0]``, a
:class:`gridlock.crypto.hd.HdRoot`), every script of a child that the PSBT's BIP32 / Taproot
derivation fields name *and that derives from the root* is the vault's too
(:func:`gridlock.chains.bitcoin.keys.vault_scripts`) — so a PSBT spending coins of ``m/0/3`` and
``m/0/7`` is read as one, whichever child a request signs with, and change to ``m/1/0`` is change.
``roots[1:]`` are the owner's other vaults at the same guardian: an input of one of them (its own
script, or a child the PSBT names and that derives) is the owner's and may be spent beside the
vault's — the two vaults of a watch-only wallet's ``wpkh`` and ``tr`` descriptors in one
transaction.  Such a transaction is still counted in full against *this* vault: every output not
to the vault's own scripts (a sibling vault's included) is a ``TRANSFER`` and the whole fee is a
``FEE``, which is at least what this vault gives (its inputs minus its change) whatever the other
inputs' stated values — an over-count, never an under-count.

What it moves:

* every output to another script is a ``TRANSFER`` of its value, to its address on the PSBT's
  network (BIP173/BIP350 segwit, Base58Check P2PKH/P2SH) or, when the script has no address form,
  to the script's hex (``sha256:`` and the script's SHA-256 for a script over 128 bytes, which a
  movement could not carry); an ``OP_RETURN`` output of value 0 carries data, not value, and is skipped;
* outputs to the vault's own script are change, and move nothing;
* the fee, inputs minus outputs, is a ``FEE``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from gridlock.chains.bitcoin.address import get_network, script_kind, script_to_address
from gridlock.chains.bitcoin.errors import ForeignInputError, SighashTypeError
from gridlock.chains.bitcoin.keys import vault_scripts
from gridlock.chains.bitcoin.psbt import Psbt
from gridlock.chains.bitcoin.sighash import SIGHASH_ALL, SIGHASH_DEFAULT
from gridlock.chains.bitcoin.signing import SighashRequest, _key, requests, resolve_utxos
from gridlock.chains.movement import Movement
from gridlock.crypto.hd import HdRoot

__all__ = ["Reading", "read"]


@dataclass(frozen=True)
class Reading:
    sighashes: tuple[SighashRequest, ...]  # what the vault's key signs (its inputs not yet final)
    movements: tuple[Movement, ...]  # the payments to other scripts, then the fee


def _destination(script: bytes, network: str) -> str:
    address = script_to_address(script, network)
    if address is not None:
        return address
    return script.hex() if len(script) <= 128 else "sha256:" + hashlib.sha256(script).hexdigest()


def read(psbt_base64: str, scheme: str, public_key: bytes, network: str, roots: Sequence[HdRoot] = ()) -> Reading:
    """The reading of a PSBT spending only coins of the vault whose key at the request's path is
    ``public_key`` (module doc; ``roots``: the vault's HD root, then the owner's other vaults');
    typed errors (``DecodeError`` or ``InvalidParameterError`` subclasses) for one that cannot be read."""
    get_network(network)
    psbt = Psbt.from_base64(psbt_base64)
    key = _key(scheme, public_key)
    spent = [utxo for utxo, _ in resolve_utxos(psbt)]  # every input's value, outputs <= inputs
    own = {key.script}
    owners = set()
    if roots:
        own |= set(vault_scripts(psbt, roots[0]))
        for other in roots[1:]:
            owners |= set(vault_scripts(psbt, other))
    for i, utxo in enumerate(spent):
        if utxo.script_pubkey not in own and utxo.script_pubkey not in owners:
            raise ForeignInputError(
                i,
                f"spends a {script_kind(utxo.script_pubkey)} output that is not this vault's {key.kind} "
                "script; a guardian signs only transactions whose every input is the vault's",
            )
    movements: list[Movement] = []
    for out in psbt.tx.outputs:
        if out.script_pubkey in own:
            continue  # change
        if out.amount == 0 and script_kind(out.script_pubkey) == "op_return":
            continue  # data, no value
        movements.append(Movement.transfer(_destination(out.script_pubkey, network), out.amount))
    movements.append(Movement.fee(sum(u.amount for u in spent) - sum(o.amount for o in psbt.tx.outputs)))
    owed = requests(psbt, key, allow_foreign_inputs=True, spent=spent)
    for req in owed:
        # the outputs read above are what the signature must commit to: SIGHASH_NONE commits to none
        # and SINGLE to one, ANYONECANPAY to no other input — a signer re-points such an input at will
        if req.hash_type not in (SIGHASH_DEFAULT, SIGHASH_ALL):
            raise SighashTypeError(
                req.input_index,
                f"hash type {req.hash_type:#x}: a guardian signs only SIGHASH_ALL (or Taproot's DEFAULT), "
                "which commits to every input and output it read",
            )
    return Reading(tuple(owed), tuple(movements))
