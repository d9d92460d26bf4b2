"""The enclave guardian: a guardian whose shares and identity live in the custody contract.

It is an ordinary :class:`~gridlock.guardian.node.GuardianNode` (same protocols, same owner checks)
whose store is :class:`~gridlock.enclave.keystore.EnclaveKeystore`: every share, presignature and
the guardian's own identity keys are written to and read from the custody contract only as Secret
Network encrypted messages, and the contract state is replicated as ciphertext by every enclave
node — delete any one node and nothing is lost.

Where the share is used (documented, not hidden): the protocol rounds run in this guardian's
process, but for FROST vaults the steps that need the share — the signing nonces and signature
share, a refresh's new share — run in the custody contract (:mod:`gridlock.enclave.contract_frost`,
through :class:`gridlock.enclave.signer.ContractShares`); the process holds the share's public data
only.  The DKG, reshare, repair and export still get the share from the contract, and threshold-ECDSA
(DKLs23) shares are used in the process: its presigning keeps ~12 KB of OT state per co-signer and
runs OT extensions over three rounds, which as contract executes would rewrite all that state each
round at a gas cost far beyond a block's.  What the host's disk and the enclave network's storage
ever see is ciphertext.  The network's emulated hardware derives from the guardian's
key-encryption secret (as the SQLite keystore's key does), so a copy of the data directory opens
nothing; its monotonic counter is ``secret-network.generation`` beside the network; and the
guardian pins the custody contract's code hash (:data:`PINNED_CODE_HASH`, the hash of the contract
code it ships) and refuses any other.  Real SGX (sealing, remote attestation, the contract as
Wasm) is emulated by :mod:`gridlock.enclave.network`.

Run one as a process: ``python -m gridlock.enclave.guardian run --config FILE`` (a guardian TOML
configuration; the enclave network lives in ``<data_dir>/secret-network``).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Final

from gridlock.enclave.address import human
from gridlock.enclave.contract import CUSTODY_CODE_HASH
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.enclave.network import LocalSecretNetwork
from gridlock.guardian.__main__ import main as guardian_main
from gridlock.guardian.config import GuardianConfig
from gridlock.guardian.store import ShareStore

NODES = 3


def account(name: str) -> str:
    """The guardian's stable account in the enclave network (it owns the guardian's vault records)."""
    return human(hashlib.sha256(b"gridlock enclave guardian " + name.encode()).digest()[:20])


class OwnedEnclaveStore(EnclaveKeystore):
    """An enclave store that also owns the local enclave network it runs on (stopped on close)."""

    network: LocalSecretNetwork | None = None

    def close(self) -> None:
        super().close()
        if self.network is not None:
            self.network.stop()
            self.network = None


PINNED_CODE_HASH: Final = CUSTODY_CODE_HASH
"""The custody contract code hash the enclave guardian accepts: that of the contract it ships."""


def open_network_store(
    network_dir: Path, name: str, secret: bytes | str, *, code_hash: str = PINNED_CODE_HASH
) -> ShareStore:
    """The guardian's custody-contract store in the enclave network kept in ``network_dir`` (started,
    or resumed, here with the guardian's ``secret``; stopped when the store closes).  A custody
    contract whose code hash is not ``code_hash`` is refused."""
    net = LocalSecretNetwork.start(nodes=NODES, data_dir=network_dir, secret=secret)
    try:
        store = OwnedEnclaveStore.open(net, sender=account(name), code_hash=code_hash)
    except BaseException:
        net.stop()
        raise
    assert isinstance(store, OwnedEnclaveStore)
    store.network = net
    return store


def open_store_at(data_dir: Path, name: str, secret: bytes | str) -> ShareStore:
    """The enclave guardian's store for a guardian data directory (network in ``secret-network/``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return open_network_store(data_dir / "secret-network", name, secret)


def open_store(cfg: GuardianConfig) -> ShareStore:
    return open_store_at(cfg.data_dir, cfg.name, cfg.secret())


def main(argv: list[str] | None = None) -> int:
    return guardian_main(argv, prog="python -m gridlock.enclave.guardian", description=__doc__, open_store=open_store)


if __name__ == "__main__":
    sys.exit(main())
