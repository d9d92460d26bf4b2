"""Signing a PSBT through the signer seam, and finalising it into a raw transaction.

:func:`sighashes` is the one place that decides what a key signs in a PSBT: which inputs, which
hash type, which digest.  :func:`sign_psbt` signs exactly that list, and a guardian re-derives it
with the same function from the PSBT it is shown (SECURITY #19).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from coincurve import PublicKey, PublicKeyXOnly

from gridlock.chains.bitcoin.address import p2tr_script, p2wpkh_script, script_kind
from gridlock.chains.bitcoin.errors import (
    FinalizeError,
    ForeignInputError,
    MalformedError,
    MissingUtxoError,
    OverspendError,
    SighashTypeError,
    UnsupportedSignerError,
    UtxoMismatchError,
)
from gridlock.chains.bitcoin.psbt import Psbt
from gridlock.chains.bitcoin.sighash import (
    SEGWIT_V0_HASH_TYPES,
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    SIGHASH_SINGLE,
    TAPROOT_HASH_TYPES,
    bip143_sighash,
    bip341_sighash,
    p2wpkh_script_code,
)
from gridlock.chains.bitcoin.tx import Transaction, TxIn, TxOut
from gridlock.chains.signer import Signer
from gridlock.crypto.hashing import hash160
from gridlock.errors import SignatureError

ECDSA = "ecdsa-secp256k1"
TAPROOT = "frost-taproot"
SIGNABLE_KINDS = {ECDSA: "p2wpkh", TAPROOT: "p2tr"}
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class SighashRequest(NamedTuple):
    """One signature a PSBT needs: the input, the 32-byte digest, and the hash type it commits to."""

    input_index: int
    sighash: bytes
    hash_type: int


@dataclass(frozen=True)
class _Key:
    scheme: str
    public_key: bytes
    kind: str  # "p2wpkh" | "p2tr"
    script: bytes  # the output script this key controls


def _key(scheme: str, public_key: bytes) -> _Key:
    kind = SIGNABLE_KINDS.get(scheme) if isinstance(scheme, str) else None
    if kind is None:
        raise UnsupportedSignerError(
            f"scheme {scheme!r} cannot spend Bitcoin here; use {ECDSA} (P2WPKH) or {TAPROOT} (P2TR key path)"
        )
    if not isinstance(public_key, bytes | bytearray):
        raise UnsupportedSignerError("the signer's public key is not bytes")
    public_key = bytes(public_key)
    script = p2wpkh_script(public_key) if kind == "p2wpkh" else p2tr_script(public_key)
    return _Key(scheme, public_key, kind, script)


# --- UTXO data ---------------------------------------------------------------------------------------


def resolve_utxo(psbt: Psbt, index: int) -> tuple[TxOut, bool]:
    """The output input ``index`` spends, and whether it was checked against its whole transaction.

    With ``non_witness_utxo`` the transaction must hash to the input's prevout txid, and a
    ``witness_utxo`` next to it must agree with its output (amount and script).
    """
    txin = psbt.tx.inputs[index]
    witness_utxo = psbt.witness_utxo(index)
    prev_tx = psbt.non_witness_utxo(index)
    if prev_tx is None:
        if witness_utxo is None:
            raise MissingUtxoError(index, "the PSBT carries no UTXO data (witness_utxo or non_witness_utxo)")
        return witness_utxo, False
    if prev_tx.txid() != txin.prevout.txid:
        raise UtxoMismatchError(index, "non_witness_utxo is not the transaction this input spends (txid differs)")
    if txin.prevout.vout >= len(prev_tx.outputs):
        raise UtxoMismatchError(index, f"non_witness_utxo has no output {txin.prevout.vout}")
    out = prev_tx.outputs[txin.prevout.vout]
    if witness_utxo is not None and witness_utxo != out:
        what = "amount" if witness_utxo.amount != out.amount else "script"
        raise UtxoMismatchError(index, f"witness_utxo and non_witness_utxo disagree on the {what}")
    return out, True


def resolve_utxos(psbt: Psbt) -> list[tuple[TxOut, bool]]:
    """:func:`resolve_utxo` of every input, in input order; the outputs may not exceed them."""
    resolved = [resolve_utxo(psbt, i) for i in range(len(psbt.tx.inputs))]
    total_in, total_out = sum(o.amount for o, _ in resolved), sum(o.amount for o in psbt.tx.outputs)
    if total_out > total_in:
        raise OverspendError(f"the outputs ({total_out} sat) exceed the inputs ({total_in} sat)")
    return resolved


def spent_outputs(psbt: Psbt) -> list[TxOut]:
    """The output spent by every input, in input order; the outputs may not exceed them."""
    return [o for o, _ in resolve_utxos(psbt)]


# --- what to sign ------------------------------------------------------------------------------------


def _hash_type(psbt: Psbt, index: int, kind: str) -> int:
    requested = psbt.sighash_type(index)
    if kind == "p2tr":
        hash_type = SIGHASH_DEFAULT if requested is None else requested
        allowed = TAPROOT_HASH_TYPES
    else:
        hash_type = SIGHASH_ALL if requested is None else requested
        allowed = SEGWIT_V0_HASH_TYPES
    if hash_type not in allowed:
        raise SighashTypeError(index, f"hash type {hash_type:#x} is not a standard hash type for {kind}")
    if hash_type & 0x1F == SIGHASH_SINGLE and index >= len(psbt.tx.outputs):
        raise SighashTypeError(index, "SIGHASH_SINGLE without an output of the same index")
    return hash_type


def _sighash(psbt: Psbt, index: int, spent: list[TxOut], kind: str, hash_type: int) -> bytes:
    if kind == "p2tr":
        return bip341_sighash(psbt.tx, index, spent, hash_type)
    program = spent[index].script_pubkey[2:]
    return bip143_sighash(psbt.tx, index, p2wpkh_script_code(program), spent[index].amount, hash_type)


def requests(
    psbt: Psbt, key: _Key | None, *, allow_foreign_inputs: bool = True, spent: list[TxOut] | None = None
) -> list[SighashRequest]:
    """The signatures ``key`` owes this PSBT (``key=None``: every P2WPKH/P2TR input not yet final).
    ``spent``: the PSBT's :func:`spent_outputs`, when the caller has them already."""
    if spent is None:
        spent = spent_outputs(psbt)
    out: list[SighashRequest] = []
    foreign: list[int] = []
    for i, utxo in enumerate(spent):
        if key is None:
            kind = script_kind(utxo.script_pubkey)
            if kind not in ("p2wpkh", "p2tr"):
                continue
        elif utxo.script_pubkey == key.script:
            kind = key.kind
        else:
            if not psbt.is_finalized(i):
                foreign.append(i)
            continue
        if not psbt.is_finalized(i):
            hash_type = _hash_type(psbt, i, kind)
            out.append(SighashRequest(i, _sighash(psbt, i, spent, kind, hash_type), hash_type))
    if key is not None:
        if not any(utxo.script_pubkey == key.script for utxo in spent):
            first = foreign[0] if foreign else 0
            raise ForeignInputError(first, f"this {key.scheme} key controls no input of the PSBT")
        if foreign and not allow_foreign_inputs:
            listed = ", ".join(map(str, foreign))
            raise ForeignInputError(foreign[0], f"not controlled by this {key.scheme} key (inputs {listed})")
    return out


def sighashes(
    psbt_base64: str, scheme: str, public_key: bytes, *, allow_foreign_inputs: bool = True
) -> list[SighashRequest]:
    """Exactly the ``(input index, sighash, hash type)`` list :func:`sign_psbt` would sign with this key.

    A guardian calls this on the PSBT it is shown and refuses any other digest (SECURITY #19).
    """
    return requests(Psbt.from_base64(psbt_base64), _key(scheme, public_key), allow_foreign_inputs=allow_foreign_inputs)


# --- signatures --------------------------------------------------------------------------------------


def der_encode(r: int, s: int) -> bytes:
    """Strict DER (BIP66) of an ECDSA signature."""

    def integer(x: int) -> bytes:
        raw = x.to_bytes(32, "big").lstrip(b"\x00") or b"\x00"
        if raw[0] & 0x80:
            raw = b"\x00" + raw
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def der_decode(sig: bytes) -> tuple[int, int]:
    """``(r, s)`` of a strict-DER signature (Bitcoin Core's ``IsValidSignatureEncoding`` without the hash type)."""
    n = len(sig)
    if not 8 <= n <= 72 or sig[0] != 0x30 or sig[1] != n - 2 or sig[2] != 0x02:
        raise MalformedError("not a strict DER signature")
    len_r = sig[3]
    if 5 + len_r >= n or sig[4 + len_r] != 0x02:
        raise MalformedError("not a strict DER signature")
    len_s = sig[5 + len_r]
    if len_r + len_s + 6 != n or not len_r or not len_s:
        raise MalformedError("not a strict DER signature")
    r_raw, s_raw = sig[4 : 4 + len_r], sig[6 + len_r :]
    for raw in (r_raw, s_raw):
        if raw[0] & 0x80 or (len(raw) > 1 and raw[0] == 0 and not raw[1] & 0x80):
            raise MalformedError("not a strict DER signature")
    return int.from_bytes(r_raw, "big"), int.from_bytes(s_raw, "big")


def _ecdsa_ok(public_key: bytes, digest: bytes, der: bytes) -> bool:
    try:
        return PublicKey(public_key).verify(der, digest, hasher=None)
    except ValueError:
        return False


def _schnorr_ok(xonly: bytes, msg: bytes, sig64: bytes) -> bool:
    try:
        return PublicKeyXOnly(xonly).verify(sig64, msg)
    except ValueError:
        return False


def _ecdsa_der(signature: bytes, public_key: bytes, digest: bytes, index: int) -> bytes:
    """The signer's 64-byte ``r‖s`` as low-S strict DER, verified before it is released."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != 64:
        raise SignatureError(f"input {index}: the signer returned no 64-byte ECDSA signature")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
        raise SignatureError(f"input {index}: ECDSA signature out of range")
    s = min(s, CURVE_ORDER - s)  # low S (BIP146 / policy); still the same valid signature
    der = der_encode(r, s)
    if not _ecdsa_ok(public_key, digest, der):
        raise SignatureError(f"input {index}: the ECDSA signature does not verify under the key")
    return der


def sign_psbt(psbt_base64: str, signer: Signer, *, allow_foreign_inputs: bool = False) -> str:
    """Sign every input the signer's key controls; return the PSBT (base64) with the signatures.

    ``ecdsa-secp256k1`` keys sign P2WPKH inputs (BIP143, DER, low S → ``PSBT_IN_PARTIAL_SIG``);
    ``frost-taproot`` keys sign P2TR key-path inputs (BIP341 → ``PSBT_IN_TAP_KEY_SIG``, 64 bytes for
    SIGHASH_DEFAULT, 65 otherwise).  The hash type is the input's ``PSBT_IN_SIGHASH_TYPE`` or the
    default (ALL / DEFAULT).  Every signature is verified before it is attached.

    Errors (all :class:`ChainError`): an input without UTXO data, UTXO data that contradicts itself
    or the transaction, an input this key does not control, a refused hash type.  A transaction
    that deliberately spends coins of several keys (P2WPKH coins of the vault's ECDSA key and P2TR
    coins of its Taproot key) is signed key by key with ``allow_foreign_inputs=True``: each key
    signs its own inputs and :func:`finalize_psbt` names any input still unsigned.
    """
    psbt = Psbt.from_base64(psbt_base64)
    key = _key(signer.scheme, signer.public_key)
    for req in requests(psbt, key, allow_foreign_inputs=allow_foreign_inputs):
        signature = signer.sign(req.sighash)
        if key.kind == "p2wpkh":
            der = _ecdsa_der(signature, key.public_key, req.sighash, req.input_index)
            psbt.set_partial_sig(req.input_index, key.public_key, der + bytes([req.hash_type]))
        else:
            if not isinstance(signature, bytes | bytearray) or len(signature) != 64:
                raise SignatureError(f"input {req.input_index}: the signer returned no 64-byte BIP340 signature")
            if not _schnorr_ok(key.public_key, req.sighash, bytes(signature)):
                raise SignatureError(f"input {req.input_index}: the BIP340 signature does not verify under the key")
            suffix = bytes([req.hash_type]) if req.hash_type != SIGHASH_DEFAULT else b""
            psbt.set_tap_key_sig(req.input_index, bytes(signature) + suffix)
    return psbt.to_base64()


# --- finalising ---------------------------------------------------------------------------------------


def _check_signed_hash_type(psbt: Psbt, index: int, hash_type: int, allowed: frozenset[int]) -> None:
    """A signature's hash type must be the one the PSBT asks for (when it asks) and a standard one."""
    requested = psbt.sighash_type(index)
    if requested is not None and requested != hash_type:
        raise FinalizeError(index, "the signature's hash type is not the one the PSBT asks for")
    if hash_type not in allowed:
        raise FinalizeError(index, f"non-standard hash type {hash_type:#x}")


def _final_p2wpkh(psbt: Psbt, index: int, spent: list[TxOut]) -> tuple[bytes, ...]:
    program = spent[index].script_pubkey[2:]
    found = [(pk, sig) for pk, sig in psbt.partial_sigs(index).items() if len(pk) == 33 and hash160(pk) == program]
    if not found:
        raise FinalizeError(index, "not signed: no signature by the key of this P2WPKH output")
    public_key, sig = found[0]
    der, hash_type = sig[:-1], sig[-1]
    _check_signed_hash_type(psbt, index, hash_type, SEGWIT_V0_HASH_TYPES)
    try:
        _, s = der_decode(der)
        digest = _sighash(psbt, index, spent, "p2wpkh", hash_type)
    except MalformedError as exc:
        raise FinalizeError(index, f"invalid signature ({exc})") from None
    if s > CURVE_ORDER // 2 or not _ecdsa_ok(public_key, digest, der):
        raise FinalizeError(index, "the P2WPKH signature is invalid (or high S)")
    return (sig, public_key)


def _final_p2tr(psbt: Psbt, index: int, spent: list[TxOut]) -> tuple[bytes, ...]:
    sig = psbt.tap_key_sig(index)
    if sig is None:
        raise FinalizeError(index, "not signed: no Taproot key-path signature")
    hash_type = sig[64] if len(sig) == 65 else SIGHASH_DEFAULT
    if len(sig) == 65 and hash_type == SIGHASH_DEFAULT:
        raise FinalizeError(index, "a 65-byte Taproot signature may not carry hash type 0")
    _check_signed_hash_type(psbt, index, hash_type, TAPROOT_HASH_TYPES)
    try:
        digest = _sighash(psbt, index, spent, "p2tr", hash_type)
    except MalformedError as exc:
        raise FinalizeError(index, str(exc)) from None
    if not _schnorr_ok(spent[index].script_pubkey[2:], digest, sig[:64]):
        raise FinalizeError(index, "the Taproot signature is invalid")
    return (sig,)


def finalize_psbt(psbt_base64: str) -> bytes:
    """Finalise every input and extract the signed transaction (raw bytes, ready to broadcast).

    Inputs already final (``PSBT_IN_FINAL_SCRIPTSIG`` / ``…SCRIPTWITNESS``) are taken as they are;
    P2WPKH and P2TR key-path inputs are finalised from their signatures, each verified first.
    """
    psbt = Psbt.from_base64(psbt_base64)
    spent: list[TxOut] | None = None
    inputs: list[TxIn] = []
    for i, txin in enumerate(psbt.tx.inputs):
        if psbt.is_finalized(i):
            script_sig = psbt.final_script_sig(i) or b""
            witness = psbt.final_script_witness(i) or ()
        else:
            if spent is None:
                spent = spent_outputs(psbt)
            kind = script_kind(spent[i].script_pubkey)
            if kind == "p2wpkh":
                script_sig, witness = b"", _final_p2wpkh(psbt, i, spent)
            elif kind == "p2tr":
                script_sig, witness = b"", _final_p2tr(psbt, i, spent)
            else:
                raise FinalizeError(i, f"cannot finalise a {kind} input (only P2WPKH and P2TR key path)")
        inputs.append(TxIn(txin.prevout, script_sig, txin.sequence, witness))
    tx = Transaction(psbt.tx.version, tuple(inputs), psbt.tx.outputs, psbt.tx.locktime)
    return tx.serialize()
