"""The enclave guardian: a guardian whose shares and identity live in the custody contract.

It is an ordinary :class:`~gridlock.guardian.node.GuardianNode` (same protocols, same owner checks)
whose store is :class:`~gridlock.enclave.keystore.EnclaveKeystore`: every share, presignature and
the guardian's own identity keys are written to and read from the custody contract only as Secret
Network encrypted messages, and the contract state is replicated as ciphertext by every enclave
node — delete any one node and nothing is lost.

Emulation boundary (documented, not hidden): the protocol rounds run in this guardian's process
with the share in memory for the length of a round, as they would inside the enclave of the real
design; what the host's disk and the enclave network's storage ever see is ciphertext.  Real SGX
(sealing, remote attestation, the contract as Wasm) is emulated by :mod:`gridlock.enclave.network`.

Run one as a process: ``python -m gridlock.enclave.guardian run --config FILE`` (a guardian TOML
configuration; the enclave network lives in ``<data_dir>/secret-network``).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from gridlock.enclave.address import human
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


def open_network_store(network_dir: Path, name: str) -> ShareStore:
    """The guardian's custody-contract store in the enclave network kept in ``network_dir`` (started,
    or resumed, here; stopped when the store closes)."""
    net = LocalSecretNetwork.start(nodes=NODES, data_dir=network_dir)
    store = OwnedEnclaveStore.open(net, sender=account(name))
    assert isinstance(store, OwnedEnclaveStore)
    store.network = net
    return store


def open_store_at(data_dir: Path, name: str) -> ShareStore:
    """The enclave guardian's store for a guardian data directory (network in ``secret-network/``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return open_network_store(data_dir / "secret-network", name)


def open_store(cfg: GuardianConfig) -> ShareStore:
    return open_store_at(cfg.data_dir, cfg.name)


def main(argv: list[str] | None = None) -> int:
    return guardian_main(argv, prog="python -m gridlock.enclave.guardian", description=__doc__, open_store=open_store)


if __name__ == "__main__":
    sys.exit(main())
