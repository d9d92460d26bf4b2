"""Pure chain code: addresses, transaction parsing, sighashes, attaching signatures, serialising.

No network, no clocks, no disk.  Imports nothing above :mod:`gridlock.crypto` (DESIGN §2); the
signer arrives through the :class:`Signer` seam (``gridlock.local.LocalSigner`` or a ``Vault``).

* :class:`TxContext` (``BitcoinTx``, ``EthereumTx``, ``SolanaTx``, ``CosmosTx``): the transaction a
  sign request shows the guardians, with its one wire encoding (:mod:`gridlock.chains.context`).
* :func:`get` (``chains.get("ethereum")``): the chain's :class:`ChainAdapter` — address, transaction
  files, summary, the hashes to sign, the guardian's re-derivation, attaching signatures
  (:mod:`gridlock.chains.adapter`; the adapters in :mod:`gridlock.chains.adapters`).
* ``bitcoin``, ``ethereum``, ``solana``, ``cosmos``: the chain code itself.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = [
    "CHAINS",
    "Address",
    "BitcoinTx",
    "ChainAdapter",
    "CosmosTx",
    "Derived",
    "EthereumTx",
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


@runtime_checkable
class Signer(Protocol):
    """What chain code signs through: a scheme name, the group public key, and ``sign``.

    For ``ecdsa-secp256k1`` ``sign`` takes a 32-byte digest and returns 64-byte low-S ``r‖s``;
    for FROST schemes it takes the message itself and returns the scheme's signature.
    """

    @property
    def scheme(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


def signer_public_key(signer: object, scheme: str, error: type[Exception], needs: str) -> bytes:
    """The public key of a signer that signs with ``scheme``; otherwise ``error(needs)``.

    The signer comes from the caller, so anything may arrive: it is checked, never trusted.
    """
    if getattr(signer, "scheme", None) != scheme:
        raise error(needs)
    public_key = getattr(signer, "public_key", None)
    if not isinstance(public_key, bytes):
        raise error("the signer's public key must be bytes")
    return public_key


# below Signer: the chain modules these pull in import it from here
from gridlock.chains.adapter import (  # noqa: E402
    Address,
    ChainAdapter,
    Derived,
    SignedTx,
    UnknownChainError,
    UnsupportedSchemeError,
    get,
)
from gridlock.chains.context import (  # noqa: E402
    CHAINS,
    BitcoinTx,
    CosmosTx,
    EthereumTx,
    SolanaTx,
    TxContext,
    TxContextError,
)
