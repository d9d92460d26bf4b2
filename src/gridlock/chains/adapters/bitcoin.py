"""Bitcoin: P2WPKH (BIP141/BIP143, ECDSA vaults) and P2TR key path (BIP341/BIP86, Taproot vaults),
transactions as BIP174/BIP371 PSBTs.

Signing allows foreign inputs: a PSBT that spends coins of several keys (the vault's P2WPKH coins
and its Taproot coins, or another wallet's) is signed key by key on the owner's side; each key signs
the inputs it controls and the result is final only when every input is signed (``SignedTx.raw`` is
``None`` and ``finalize_error`` names what is missing until then).  A key that controls no input is
an error.  The guardian's reading (:meth:`BitcoinAdapter.derive`,
:mod:`gridlock.chains.bitcoin.reading`) is stricter: it refuses any input that is not the vault's,
since it could not otherwise tell what the vault gives away; its sighashes come from the same
:func:`gridlock.chains.bitcoin.signing.requests` the signer uses, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gridlock.chains import bitcoin
from gridlock.chains.adapter import Address, ChainAdapter, Derived, SignedTx
from gridlock.chains.bitcoin import keys
from gridlock.chains.context import BitcoinTx, TxContext
from gridlock.chains.signer import Signer
from gridlock.crypto.hd import HdRoot, parse_path
from gridlock.errors import GridlockError, InvalidParameterError

ECDSA, TAPROOT = "ecdsa-secp256k1", "frost-taproot"


def _kind(scheme: str) -> str:
    return "p2tr" if scheme == TAPROOT else "p2wpkh"


class BitcoinAdapter(ChainAdapter):
    name = "bitcoin"
    schemes = (ECDSA, TAPROOT)
    context_type = BitcoinTx
    file_format = "expected a PSBT (BIP174), base64 text or binary"
    names_child_keys = True

    def network(self, network: str | None) -> str:
        net = network or "mainnet"
        if net not in bitcoin.NETWORKS:
            raise InvalidParameterError(
                f"unknown bitcoin network {net!r}; one of: {', '.join(sorted(bitcoin.NETWORKS))}"
            )
        return net

    def address(self, public_key: bytes, scheme: str, network: str | None = None) -> Address:
        self.check_scheme(scheme)
        net = self.network(network)
        kind = _kind(scheme)
        return Address(bitcoin.address(public_key, kind=kind, network=net), kind, net)

    def context(self, tx: object, network: str | None = None) -> BitcoinTx:
        if isinstance(tx, TxContext):
            ctx: BitcoinTx = self._own(tx)
            return ctx
        if not isinstance(tx, str | bytes):
            raise InvalidParameterError("a bitcoin transaction is a PSBT: base64 text or binary")
        return BitcoinTx.of(tx, self.network(network))

    def load(self, raw: bytes, network: str | None = None) -> BitcoinTx:
        return self.context(raw, network)

    def summary(self, ctx: TxContext) -> dict[str, Any]:
        tx: BitcoinTx = self._own(ctx)
        return bitcoin.summarize(tx.psbt, network=tx.network).as_dict()

    def hashes(self, ctx: TxContext, scheme: str, public_key: bytes) -> tuple[bytes, ...]:
        tx: BitcoinTx = self._own(ctx)
        return tuple(r.sighash for r in bitcoin.sighashes(tx.psbt, scheme, public_key, allow_foreign_inputs=True))

    def derive(self, ctx: TxContext, scheme: str, public_key: bytes) -> Derived:
        """BIP143/BIP341 sighashes of the vault's inputs; every output that is not its change, and
        the fee (:mod:`gridlock.chains.bitcoin.reading`: an input that is not the vault's, or
        whose UTXO data is missing, is refused)."""
        return self.derive_with_roots(ctx, scheme, public_key, ())

    def derive_with_roots(self, ctx: TxContext, scheme: str, public_key: bytes, roots: Sequence[HdRoot]) -> Derived:
        """:meth:`derive` where the vault's own scripts include every child key the PSBT's derivation
        fields name and that derives from ``roots[0]``, and inputs of the owner's other vaults
        (``roots[1:]``) may be spent beside (:mod:`gridlock.chains.bitcoin.reading`)."""
        tx: BitcoinTx = self._own(ctx)
        self.check_scheme(scheme)
        reading = bitcoin.read(tx.psbt, scheme, public_key, tx.network, roots)
        return Derived(frozenset(r.sighash for r in reading.sighashes), reading.movements)

    def signing_paths(self, ctx: TxContext, root: HdRoot) -> tuple[str, ...]:
        """The vault's keys whose scripts the PSBT's inputs spend: its own, and every child its BIP32 /
        Taproot derivation fields name for the vault's fingerprint (checked by derivation), in the
        order of the inputs — how a watch-only wallet asks a signer (BIP174, BIP371)."""
        tx: BitcoinTx = self._own(ctx)
        found = keys.spent_paths(bitcoin.Psbt.from_base64(tx.psbt), root)
        return tuple(k.path_text for k in found) or ("m",)

    def describe_keys(self, ctx: TxContext, root: HdRoot, paths: Sequence[str]) -> TxContext:
        """The PSBT with the derivation fields of the signing keys (``PSBT_IN_BIP32_DERIVATION``, or
        ``PSBT_IN_TAP_BIP32_DERIVATION`` and ``PSBT_IN_TAP_INTERNAL_KEY``) on every input that spends
        and every output that pays one of them (:func:`gridlock.chains.bitcoin.keys.describe`)."""
        tx: BitcoinTx = self._own(ctx)
        psbt = bitcoin.Psbt.from_base64(tx.psbt)
        chosen = []
        for path in paths:
            steps = parse_path(path)
            public_key = root.public_key(steps)
            chosen.append(keys.VaultKey(tuple(steps), public_key, keys.script_of(root.scheme, public_key)))
        keys.describe(psbt, root, chosen)
        return BitcoinTx(psbt.to_base64(), tx.network)

    def attach_keys(
        self, ctx: TxContext, scheme: str, signatures: Sequence[tuple[bytes, Mapping[bytes, bytes]]]
    ) -> SignedTx:
        """Each key's signatures in turn on the one PSBT; the result is final once every input is signed."""
        tx: BitcoinTx = self._own(ctx)
        if not signatures:
            raise InvalidParameterError("no key signed the PSBT")
        signed: SignedTx | None = None
        total = 0
        for public_key, sigs in signatures:
            if signed is not None:
                assert signed.psbt is not None
                tx = BitcoinTx(signed.psbt, tx.network)
            signed = self.attach(tx, scheme, public_key, sigs)
            total += signed.signatures
        assert signed is not None
        return SignedTx(signed.chain, signed.raw, signed.txid, total, signed.psbt, signed.finalize_error)

    def check_address(self, address: str, network: str | None = None) -> str:
        """A segwit v0/v1 (BIP173/BIP350, returned in lower case) or Base58Check P2PKH/P2SH address
        of ``network``, or of any Bitcoin network when it is ``None``."""
        if network is not None:
            return bitcoin.check_address(address, self.network(network))
        reasons: list[str] = []
        for net in bitcoin.NETWORKS:
            try:
                return bitcoin.check_address(address, net)
            except bitcoin.AddressError as exc:
                reasons.append(str(exc))
        raise bitcoin.AddressError(f"not a bitcoin address of any network ({reasons[0]})")

    def sign(self, ctx: TxContext, signer: Signer) -> SignedTx:
        tx: BitcoinTx = self._own(ctx)
        count = len(self.hashes(tx, signer.scheme, signer.public_key))
        psbt = bitcoin.sign_psbt(tx.psbt, signer, allow_foreign_inputs=True)
        try:
            raw = bitcoin.finalize_psbt(psbt)
        except GridlockError as exc:  # other keys still have to sign: hand the PSBT on
            return SignedTx(self.name, None, None, count, psbt=psbt, finalize_error=str(exc))
        return SignedTx(self.name, raw, bitcoin.Transaction.parse(raw).txid_hex, count, psbt=psbt)

    def result_fields(self, signed: SignedTx) -> dict[str, Any]:
        out: dict[str, Any] = {
            "psbt": signed.psbt,
            "tx_hex": None if signed.raw is None else signed.raw.hex(),
            "txid": signed.txid,
        }
        if signed.finalize_error is not None:
            out["finalize_error"] = signed.finalize_error
        return out

    def file_text(self, signed: SignedTx) -> str:
        """The PSBT: complete or not, it is what the next signer or ``finalizepsbt`` takes."""
        return str(signed.psbt)


ADAPTER = BitcoinAdapter()
