"""``EnclaveKeystore``: what only the custody-contract store has — senders, viewing keys, node loss.

The store contract it shares with the SQLite keystore (epochs, items, claims, bans, metadata,
typed errors) is tested once for both stores in ``test_store_contract.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from enclave_owner import held, pin_of
from gridlock import local
from gridlock.crypto.keyshare import KeyShare
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.address import human
from gridlock.enclave.keystore import EnclaveKeystore, Unauthorized
from gridlock.guardian.store import (
    KeystoreError,
    StorageError,
)

SECRET = "test sealing secret of the owner"
GUARDIAN = human(hashlib.sha256(b"enclave guardian account").digest()[:20])
INTRUDER = human(hashlib.sha256(b"intruder account").digest()[:20])


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalSecretNetwork]:
    n = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def ks(net: LocalSecretNetwork) -> Iterator[EnclaveKeystore]:
    k = EnclaveKeystore.open(net, sender=GUARDIAN)
    try:
        yield k
    finally:
        k.close()


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return local.keygen("frost-secp256k1", threshold=3, n=5)


def test_other_senders_and_closed_keystore(
    net: LocalSecretNetwork, ks: EnclaveKeystore, shares: list[KeyShare]
) -> None:
    ks.store_pending("v", shares[3], owner=pin_of())
    intruder = EnclaveKeystore.open(net, sender=INTRUDER)
    with pytest.raises(Unauthorized):
        intruder.active_share("v")
    with pytest.raises(Unauthorized):
        intruder.store_pending("v", shares[4], owner=pin_of())
    with pytest.raises(Unauthorized):
        intruder.delete_vault("v")
    assert intruder.vaults() == []
    stale = EnclaveKeystore(net, sender=GUARDIAN, contract=net.custody_address, viewing_key="x" * 32)
    with pytest.raises(Unauthorized):  # a newer session replaced the viewing key … of this sender only
        ks.share("v", 0)
    assert held(stale, "v", 0).to_bytes() == shares[3].to_bytes()
    stale.close()
    with pytest.raises(StorageError):
        stale.vaults()
    assert issubclass(Unauthorized, KeystoreError)


def test_survives_restart_and_node_loss(tmp_path: Path, shares: list[KeyShare]) -> None:
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[0], owner=pin_of())
    ks.activate("v", 0)
    net.remove_node(0)
    net.stop()
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        again = EnclaveKeystore.open(net, sender=GUARDIAN)
        assert held(again, "v", 0).to_bytes() == shares[0].to_bytes()
        assert len(net.live_nodes) == 3
    finally:
        net.stop()
