"""Chain glue for ``gridlock address`` and ``gridlock sign-tx``: file formats, scheme checks, results.

==========  =======================  =============================================================
chain       vault scheme             ``--tx FILE`` holds
==========  =======================  =============================================================
bitcoin     ecdsa-secp256k1 (P2WPKH) a PSBT: base64 text (as ``bitcoin-cli`` prints it) or binary
            frost-taproot (P2TR)
ethereum    ecdsa-secp256k1          the transaction as JSON (eth-account field names; EIP-1559,
                                     EIP-2930 or EIP-155 legacy; ``chainId`` required)
solana      frost-ed25519            the serialised transaction: raw bytes, or base64 / base58 text
cosmos      ecdsa-secp256k1          the SIGN_MODE_DIRECT SignDoc: raw bytes, or hex / base64 text
==========  =======================  =============================================================

``--network``: Bitcoin's network (mainnet, testnet, signet, regtest; default mainnet) or the bech32
prefix of a Cosmos chain (default ``secret``, Secret Network); Ethereum and Solana addresses do not
depend on the network.  What the guardians are shown alongside the hashes they sign (``tx``; they
re-derive the hashes from it and apply their policy) is :func:`tx_context`.

Chain modules are imported when first needed (eth-account alone takes ~0.4 s to import), so
commands that touch no chain start fast.

``--path m/i/j`` (non-hardened, as ``gridlock.crypto.hd``) derives a child address from the
vault's key and chain code with :func:`derive_public` — the public half of
``gridlock.crypto.hd.derive_step`` (the two are tested against each other).
"""

# ruff: noqa: PLC0415 -- imports on first use are deliberate: a command starts in ~0.4 s, not ~1.5 s

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base58

from gridlock.chains import Signer
from gridlock.cli.errors import CliError, usage
from gridlock.crypto import hd
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError

CHAINS = ("bitcoin", "ethereum", "solana", "cosmos")
CHAIN_SCHEMES = {
    "bitcoin": ("ecdsa-secp256k1", "frost-taproot"),
    "ethereum": ("ecdsa-secp256k1",),
    "solana": ("frost-ed25519",),
    "cosmos": ("ecdsa-secp256k1",),
}
MAX_TX_FILE = 1 << 20


def check_chain(chain: str, scheme: str) -> None:
    if chain not in CHAINS:
        raise usage(f"unknown chain {chain!r}", hint=f"one of: {', '.join(CHAINS)}")
    if scheme not in CHAIN_SCHEMES[chain]:
        raise usage(
            f"a {scheme} vault cannot hold {chain} coins",
            hint=f"{chain} needs a vault of scheme {' or '.join(CHAIN_SCHEMES[chain])}",
        )


def network_of(chain: str, network: str | None) -> str | None:
    if chain == "bitcoin":
        from gridlock.chains import bitcoin

        net = network or "mainnet"
        if net not in bitcoin.NETWORKS:
            raise usage(f"unknown bitcoin network {net!r}", hint=f"one of: {', '.join(sorted(bitcoin.NETWORKS))}")
        return net
    if chain == "cosmos":
        return network or "secret"
    return None


def address(chain: str, scheme: str, public_key: bytes, network: str | None) -> dict[str, Any]:
    check_chain(chain, scheme)
    net = network_of(chain, network)
    if chain == "bitcoin":
        from gridlock.chains import bitcoin

        assert net is not None
        kind = "p2tr" if scheme == "frost-taproot" else "p2wpkh"
        return {"address": bitcoin.address(public_key, kind=kind, network=net), "kind": kind, "network": net}
    if chain == "ethereum":
        from gridlock.chains import ethereum

        return {"address": ethereum.address(public_key), "kind": "eoa", "network": None}
    if chain == "solana":
        from gridlock.chains import solana

        return {"address": solana.address(public_key), "kind": "ed25519", "network": None}
    from gridlock.chains import cosmos

    assert net is not None
    try:
        addr = cosmos.address(public_key, prefix=net)
    except GridlockError as exc:
        raise usage(f"bad cosmos prefix {net!r}: {exc}") from None
    return {"address": addr, "kind": "secp256k1", "network": net}


# --- HD derivation (public) ---------------------------------------------------------------------------
def derive_public(scheme_name: str, group_key: bytes, chain_code: bytes, path: str) -> bytes:
    """The public key at ``path`` of a key with this group element and chain code (see module doc)."""
    scheme = get_scheme(scheme_name)
    group = scheme.group
    q = group.order
    point = group.decode(group_key)
    code = chain_code
    for i in hd.parse_path(path):
        msg = point.encode() + i.to_bytes(4, "big")
        if scheme.name == "frost-ed25519":
            il = int.from_bytes(hmac.new(code, b"gridlock/ed25519/IL" + msg, hashlib.sha512).digest(), "little") % q
            code = hmac.new(code, b"gridlock/ed25519/IR" + msg, hashlib.sha512).digest()[:32]
        else:
            data = hmac.new(code, msg, hashlib.sha512).digest()
            il = int.from_bytes(data[:32], "big")
            if il >= q:
                raise InvalidParameterError(f"derivation step {i} is invalid for this key (IL ≥ n); use the next index")
            code = data[32:]
        point = point + group.base_mul(il)
        if point.is_identity():
            raise InvalidParameterError(f"derivation step {i} is invalid for this key; use the next index")
        if scheme.name == "frost-taproot":
            negate, t = scheme.post_keygen_tweak(point)
            point = (-point if negate else point) + group.base_mul(t)
    return scheme.public_key_bytes(point)


# --- transaction files ------------------------------------------------------------------------------
@dataclass
class LoadedTx:
    chain: str
    data: Any  # what the chain's sign function takes
    context: dict[str, Any]  # what guardians are shown (gridlock.guardian.txcheck)
    summary: dict[str, Any]
    network: str | None


def _summary_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "as_dict"):
        return dict(obj.as_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return {"value": str(obj)}


def _text(raw: bytes) -> str | None:
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def _decode_text(text: str, encodings: tuple[str, ...]) -> bytes | None:
    for enc in encodings:
        try:
            if enc == "hex":
                return bytes.fromhex(text.removeprefix("0x"))
            if enc == "base64":
                return base64.b64decode(text, validate=True)
            if enc == "base58":
                return bytes(base58.b58decode(text))
        except (ValueError, binascii.Error):
            continue
    return None


def load_tx(chain: str, scheme: str, path: Path, network: str | None) -> LoadedTx:
    """Read and check a transaction file; a malformed one is a usage error naming the file."""
    check_chain(chain, scheme)
    net = network_of(chain, network)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise usage(f"transaction file {path} does not exist") from None
    except OSError as exc:
        raise usage(f"cannot read transaction file {path}: {exc.strerror}") from None
    if not raw.strip():
        raise usage(f"transaction file {path} is empty")
    if len(raw) > MAX_TX_FILE:
        raise usage(f"transaction file {path} is larger than {MAX_TX_FILE} bytes")
    try:
        return _load(chain, raw, net)
    except CliError:
        raise
    except (GridlockError, ValueError, TypeError, KeyError) as exc:
        raise CliError(
            f"malformed {chain} transaction in {path}: {exc}",
            hint=_FORMAT_HINT[chain],
            exit_code=2,
            code="malformed-tx",
        ) from None


_FORMAT_HINT = {
    "bitcoin": "expected a PSBT (BIP174), base64 text or binary",
    "ethereum": "expected a JSON object with eth-account field names and a chainId",
    "solana": "expected a serialised Solana transaction (bytes, base64 or base58)",
    "cosmos": "expected a SIGN_MODE_DIRECT SignDoc (protobuf bytes, hex or base64)",
}


def _load(chain: str, raw: bytes, net: str | None) -> LoadedTx:
    from gridlock.chains import bitcoin, cosmos, ethereum, solana

    if chain == "bitcoin":
        assert net is not None
        psbt = base64.b64encode(raw).decode() if raw.startswith(b"psbt\xff") else raw.decode("ascii").strip()
        summary = bitcoin.summarize(psbt, network=net)
        return LoadedTx(chain, psbt, {"chain": "bitcoin", "psbt": psbt, "network": net}, summary.as_dict(), net)
    if chain == "ethereum":
        try:
            tx = json.loads(raw)
        except ValueError as exc:
            raise DecodeError(f"not JSON ({exc})") from None
        if not isinstance(tx, dict):
            raise DecodeError("the JSON must be an object")
        esum = ethereum.summarize(tx)
        return LoadedTx(chain, tx, {"chain": "ethereum", "json": json.dumps(tx)}, _summary_dict(esum), None)
    encodings = ("base64", "base58") if chain == "solana" else ("hex", "base64")
    text = _text(raw)
    data = raw
    if text is not None:
        decoded = _decode_text(text, encodings)
        if decoded is None:
            raise DecodeError(f"text that is not {' or '.join(encodings)}")
        data = decoded
    if chain == "solana":
        ssum = solana.summarize(data)
        return LoadedTx(chain, data, {"chain": "solana", "tx": data}, _summary_dict(ssum), None)
    assert net is not None
    csum = cosmos.summarize(data, prefix=net)
    return LoadedTx(chain, data, {"chain": "cosmos", "sign_doc": data, "prefix": net}, _summary_dict(csum), net)


def sign_tx(loaded: LoadedTx, signer: Signer) -> dict[str, Any]:
    """Sign through ``signer``; the chain's broadcastable result."""
    from gridlock.chains import bitcoin, cosmos, ethereum, solana

    if loaded.chain == "bitcoin":
        signed = bitcoin.sign_psbt(loaded.data, signer)
        out: dict[str, Any] = {"psbt": signed, "tx_hex": None, "txid": None}
        try:
            raw = bitcoin.finalize_psbt(signed)
        except GridlockError as exc:  # other keys still have to sign: hand the PSBT on
            out["finalize_error"] = str(exc)
        else:
            out["tx_hex"] = raw.hex()
            out["txid"] = bitcoin.Transaction.parse(raw).txid_hex
        return out
    if loaded.chain == "ethereum":
        raw = ethereum.sign_transaction(loaded.data, signer)
        return {"tx_hex": "0x" + raw.hex(), "tx_hash": "0x" + _keccak(raw).hex()}
    if loaded.chain == "solana":
        raw = solana.sign_transaction(loaded.data, signer)
        return {"tx_base64": base64.b64encode(raw).decode(), "tx_hex": raw.hex()}
    raw = cosmos.sign_transaction(loaded.data, signer)
    return {"tx_base64": base64.b64encode(raw).decode(), "tx_hex": raw.hex()}


def _keccak(data: bytes) -> bytes:
    from eth_utils.crypto import keccak

    return bytes(keccak(data))


def signatures_needed(loaded: LoadedTx, scheme: str, public_key: bytes) -> int:
    """How many threshold signatures the transaction needs from this vault (for the progress bar)."""
    if loaded.chain == "bitcoin":
        from gridlock.chains import bitcoin

        return len(bitcoin.sighashes(loaded.data, scheme, public_key))
    return 1
