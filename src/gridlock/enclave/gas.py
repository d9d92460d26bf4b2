"""Secret Network's gas model, as far as it follows from sizes: what a custody-contract execute costs.

The parameters are the chain's defaults (Secret Network runs the Cosmos SDK's ``x/auth`` and
``store`` with their defaults, and ``x/compute`` derives from wasmd):

==============================  ======  ==========================================================
``TX_SIZE_COST_PER_BYTE``       10      cosmos-sdk ``x/auth`` ``DefaultTxSizeCostPerByte`` (ante
                                        ``ConsumeTxSizeGasDecorator``: per byte of the ``TxRaw``)
``SIG_VERIFY_COST_SECP256K1``   1000    cosmos-sdk ``x/auth`` ``DefaultSigVerifyCostSecp256k1``
``READ_COST_FLAT`` / per byte   1000/3  cosmos-sdk ``store/types`` ``KVGasConfig`` (``ReadCostFlat``,
                                        ``ReadCostPerByte``: key and value bytes)
``WRITE_COST_FLAT`` / per byte  2000/30 ``KVGasConfig`` (``WriteCostFlat``, ``WriteCostPerByte``)
``DELETE_COST``                 1000    ``KVGasConfig`` (``DeleteCost``)
``INSTANCE_COST``               60000   ``x/compute`` ``DefaultInstanceCost`` (loading a contract
                                        instance, inherited from wasmd)
==============================  ======  ==========================================================

What this leaves out, and a real deployment adds: the Wasm instructions the contract runs (Secret
Network meters them and divides by its gas multiplier) — the emulated contract is Python, so that
part cannot be measured here and a real port should budget a margin on top (the guardian's
default gas limit, :data:`DEFAULT_GAS_MARGIN`).  Storage gas is charged on the *encrypted* keys
and values, which is what the chain's store sees (each plaintext record grows by the AES-SIV tag,
the bincode lengths and the salt).

``gas_used`` here is reported by the emulated chain for every signed transaction
(``GET /cosmos/tx/v1beta1/txs/{hash}``), and a transaction whose gas limit is below it fails with
the SDK's ``out of gas`` (code 11) and writes nothing, as on the real chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_GAS_MARGIN",
    "DEFAULT_GAS_PRICE",
    "GasMeter",
    "ante_gas",
    "estimate_execute_gas",
]

TX_SIZE_COST_PER_BYTE: Final = 10
SIG_VERIFY_COST_SECP256K1: Final = 1000
READ_COST_FLAT: Final = 1000
READ_COST_PER_BYTE: Final = 3
WRITE_COST_FLAT: Final = 2000
WRITE_COST_PER_BYTE: Final = 30
DELETE_COST: Final = 1000
INSTANCE_COST: Final = 60_000
ACCOUNT_RECORD_BYTES: Final = 120  # a BaseAccount with a secp256k1 key, as the auth store holds it

DEFAULT_GAS_PRICE: Final = 0.1
"""uscrt per unit of gas: Secret Network's usual minimum gas price (secretjs's default ``gasPriceInFeeDenom``)."""
DEFAULT_GAS_MARGIN: Final = 2.0
"""The guardian's gas limit is this multiple of the size-based estimate (Wasm execution is not in it)."""


def ante_gas(tx_bytes: int) -> int:
    """What the ante handler charges before the message runs: the transaction's size, one
    secp256k1 signature check, reading and writing back the signer's account (its sequence)."""
    account = READ_COST_FLAT + READ_COST_PER_BYTE * ACCOUNT_RECORD_BYTES
    account += WRITE_COST_FLAT + WRITE_COST_PER_BYTE * ACCOUNT_RECORD_BYTES
    return TX_SIZE_COST_PER_BYTE * tx_bytes + SIG_VERIFY_COST_SECP256K1 + account


@dataclass
class GasMeter:
    """Counts one execute's gas from the sizes the chain's store sees."""

    limit: int = 1 << 63
    used: int = 0
    reads: int = 0
    writes: int = 0
    deletes: int = 0
    breakdown: dict[str, int] = field(default_factory=dict)

    def _add(self, what: str, gas: int) -> None:
        self.used += gas
        self.breakdown[what] = self.breakdown.get(what, 0) + gas

    def ante(self, tx_bytes: int) -> None:
        self._add("ante", ante_gas(tx_bytes))

    def instance(self) -> None:
        self._add("instance", INSTANCE_COST)

    def read(self, key: bytes, value: bytes | None) -> None:
        self.reads += 1
        self._add("read", READ_COST_FLAT + READ_COST_PER_BYTE * (len(key) + len(value or b"")))

    def write(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.deletes += 1
            self._add("delete", DELETE_COST)
        else:
            self.writes += 1
            self._add("write", WRITE_COST_FLAT + WRITE_COST_PER_BYTE * (len(key) + len(value)))

    def write_all(self, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        for k, v in writes:
            self.write(k, v)


def estimate_execute_gas(tx_bytes: int, msg_bytes: int) -> int:
    """The guardian's gas limit for an execute before it knows the writes: the ante cost, the
    instance, and room to write what the message carries (a stored share or item is written
    once, encrypted, with its index records), times :data:`DEFAULT_GAS_MARGIN`."""
    base = ante_gas(tx_bytes) + INSTANCE_COST + 20 * (READ_COST_FLAT + WRITE_COST_FLAT)
    return int(DEFAULT_GAS_MARGIN * (base + 2 * WRITE_COST_PER_BYTE * msg_bytes + 4 * READ_COST_PER_BYTE * msg_bytes))
