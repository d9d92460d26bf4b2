"""The enclave guardian's substrate: a faithful local emulation of Secret Network.

* :mod:`~gridlock.enclave.crypto` — the encryption protocol exactly as the enclave code and the
  official clients implement it (HKDF salt, seed-derived keys, transaction I/O with AES-128-SIV and
  AD ``[b""]``, seed sharing, contract keys, state encryption);
* :mod:`~gridlock.enclave.attestation` — emulated remote attestation (a local Ed25519 authority);
* :mod:`~gridlock.enclave.enclave` — one node's emulated SGX enclave (sealing, seeds, contract runs);
* :mod:`~gridlock.enclave.cosmwasm` — the contract interface (storage, env, sender, ``StdError``);
* :mod:`~gridlock.enclave.contract` — the custody contract (one guardian share per vault), deciding
  with the guardian store's rules (:mod:`gridlock.guardian.store.rules`), and
  :mod:`~gridlock.enclave.custody_state`, its records;
* :mod:`~gridlock.enclave.network` — :class:`LocalSecretNetwork`: nodes, registration, replicated
  encrypted state, ``execute`` / ``query``; :mod:`~gridlock.enclave.node`, one validator (its chain
  database around its enclave); :mod:`~gridlock.enclave.transactions`, what each kind of
  transaction does to a node's chain;
* :mod:`~gridlock.enclave.lcd` — the LCD REST endpoint ``secret-sdk`` and ``secretjs`` talk to
  (queries, signed transactions, accounts, tx lookups; :mod:`~gridlock.enclave.lcd_tx` its JSON);
* :mod:`~gridlock.enclave.cosmos_tx` — signed ``MsgExecuteContract`` transactions, made and checked;
  :mod:`~gridlock.enclave.gas`, Secret Network's size-based gas;
* :mod:`~gridlock.enclave.lcd_client` — the enclave guardian's client: an LCD URL, a pinned endpoint,
  transactions signed with its account key;
* :mod:`~gridlock.enclave.schema` — the custody contract's messages as JSON Schema;
* :mod:`~gridlock.enclave.keystore` — :class:`EnclaveKeystore`, the guardian keystore interface
  backed by the custody contract.

What is emulated rather than real: SGX itself (the enclave is Python objects; the CPU's sealing
root and Intel's attestation key derive from the owner's secret, :mod:`~gridlock.enclave.platform`,
with a monotonic counter beside the data directory), Tendermint (one transaction per block,
majority of live nodes), balances and fees (transactions are signed and checked, fees not
deducted), and wasm (the
contract is Python; its code is the source of its modules and the code hash and enclave
measurement are hashes of the code that runs, :mod:`~gridlock.enclave.measure`).  Real: every key
derivation, cipher, associated data, wire format, output/error layout and REST path that a client
can observe.
"""

from __future__ import annotations

from gridlock.enclave.attestation import ENCLAVE_MEASUREMENT, AttestationAuthority, AttestationReport
from gridlock.enclave.contract import CUSTODY_CODE, CUSTODY_CODE_HASH, CustodyContract
from gridlock.enclave.errors import (
    AttestationError,
    CodeHashMismatch,
    ConsensusFailure,
    ContractError,
    ContractNotFound,
    DecryptionFailed,
    EnclaveError,
    NetworkError,
    RegistrationRefused,
)
from gridlock.enclave.network import LocalSecretNetwork
from gridlock.enclave.node import EnclaveNode
from gridlock.enclave.transactions import TxResult

__all__ = [
    "CUSTODY_CODE",
    "CUSTODY_CODE_HASH",
    "ENCLAVE_MEASUREMENT",
    "AttestationAuthority",
    "AttestationError",
    "AttestationReport",
    "CodeHashMismatch",
    "ConsensusFailure",
    "ContractError",
    "ContractNotFound",
    "CustodyContract",
    "DecryptionFailed",
    "EnclaveError",
    "EnclaveNode",
    "LocalSecretNetwork",
    "NetworkError",
    "RegistrationRefused",
    "TxResult",
]
