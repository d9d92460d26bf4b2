"""The CLI side of ``gridlock address`` and ``gridlock sign-tx``: read the file, name the error.

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

``gridlock tx build`` writes these files (:mod:`gridlock.cli.commands.tx`), and ``examples/README.md``
documents each with an example; ``sign-tx --out`` writes the PSBT (Bitcoin), base64 (Solana) or the
broadcastable transaction in hex (Ethereum, Cosmos).

``--network``: Bitcoin's network (mainnet, testnet, signet, regtest; default mainnet) or the bech32
prefix of a Cosmos chain (default ``secret``, Secret Network); Ethereum and Solana addresses do not
depend on the network.

Everything chain-specific is the chain's adapter (:func:`gridlock.chains.get`): the file format,
the address, the summary, the hashes; signing is the SDK's ``Vault.sign_transaction``.  This module
only reads the file and turns the adapter's typed errors into usage errors naming the file.
Adapters import their chain's libraries on first use (eth-account alone takes ~0.4 s), so commands
that touch no chain start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlock import chains
from gridlock.chains import ChainAdapter, TxContext, UnknownChainError, UnsupportedSchemeError
from gridlock.cli.errors import CliError, usage
from gridlock.errors import GridlockError, InvalidParameterError

MAX_TX_FILE = 1 << 20


def adapter_for(chain: str, scheme: str) -> ChainAdapter:
    """The chain's adapter, checked against the vault's scheme; usage errors otherwise."""
    try:
        adapter = chains.get(chain)
    except UnknownChainError:
        raise usage(f"unknown chain {chain!r}", hint=f"one of: {', '.join(chains.CHAINS)}") from None
    try:
        adapter.check_scheme(scheme)
    except UnsupportedSchemeError as exc:
        raise usage(str(exc)) from None
    return adapter


def address(chain: str, scheme: str, public_key: bytes, network: str | None) -> dict[str, Any]:
    adapter = adapter_for(chain, scheme)
    try:
        found = adapter.address(public_key, scheme, network)
    except InvalidParameterError as exc:
        raise usage(str(exc)) from None
    return {"address": found.address, "kind": found.kind, "network": found.network}


@dataclass(frozen=True)
class LoadedTx:
    adapter: ChainAdapter
    context: TxContext  # what the guardians are shown (they re-derive the hashes from it)
    summary: dict[str, Any]


def load_tx(chain: str, scheme: str, path: Path, network: str | None) -> LoadedTx:
    """Read and check a transaction file; a malformed one is a usage error naming the file."""
    adapter = adapter_for(chain, scheme)
    try:
        adapter.network(network)
    except InvalidParameterError as exc:
        raise usage(str(exc)) from None
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
        context = adapter.load(raw, network)
        return LoadedTx(adapter, context, adapter.summary(context))
    except (GridlockError, ValueError, TypeError, KeyError) as exc:
        raise CliError(
            f"malformed {chain} transaction in {path}: {exc}",
            hint=adapter.file_format,
            exit_code=2,
            code="malformed-tx",
        ) from None
