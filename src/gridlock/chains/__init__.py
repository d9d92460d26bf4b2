"""Pure chain code: addresses, transaction parsing, sighashes, attaching signatures, serialising.

No network, no clocks, no disk.  Imports nothing above :mod:`gridlock.crypto` (DESIGN §2); the
signer arrives through the :class:`Signer` seam (``gridlock.local.LocalSigner`` or a ``Vault``).

* :class:`TxContext` (``BitcoinTx``, ``EthereumTx``, ``SolanaTx``, ``CosmosTx``; ``EthereumMessage``
  and ``EthereumTypedData`` for signed messages): the transaction a sign request shows the guardians,
  with its one wire encoding (:mod:`gridlock.chains.context`).
* :func:`get` (``chains.get("ethereum")``): the chain's :class:`ChainAdapter` — address, transaction
  files, summary, the hashes to sign, the guardian's re-derivation, attaching signatures
  (:mod:`gridlock.chains.adapter`; the adapters in :mod:`gridlock.chains.adapters`).
* ``bitcoin``, ``ethereum``, ``solana``, ``cosmos``: the chain code itself.
"""

from __future__ import annotations

from gridlock.chains.adapter import (
    Address,
    ChainAdapter,
    Derived,
    ForeignSpendError,
    SignedTx,
    UnknownChainError,
    UnsupportedSchemeError,
    get,
)
from gridlock.chains.context import (
    CHAINS,
    BitcoinTx,
    CosmosTx,
    EthereumMessage,
    EthereumTx,
    EthereumTypedData,
    SolanaTx,
    TxContext,
    TxContextError,
)
from gridlock.chains.signer import Signer, signer_public_key

__all__ = [
    "CHAINS",
    "Address",
    "BitcoinTx",
    "ChainAdapter",
    "CosmosTx",
    "Derived",
    "EthereumMessage",
    "EthereumTx",
    "EthereumTypedData",
    "ForeignSpendError",
    "SignedTx",
    "Signer",
    "SolanaTx",
    "TxContext",
    "TxContextError",
    "UnknownChainError",
    "UnsupportedSchemeError",
    "get",
    "signer_public_key",
]
