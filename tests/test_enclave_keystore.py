"""``EnclaveKeystore``: the guardian keystore interface backed by the custody contract."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridlock import local
from gridlock.crypto.keyshare import KeyShare
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.address import human
from gridlock.enclave.keystore import EnclaveKeystore, Unauthorized
from gridlock.guardian.keystore import (
    AlreadyExists,
    AlreadyUsed,
    BadArgument,
    EpochConflict,
    KeystoreError,
    NotFound,
    Retired,
    ShareMismatch,
    StorageError,
)

GUARDIAN = human(hashlib.sha256(b"enclave guardian account").digest()[:20])
INTRUDER = human(hashlib.sha256(b"intruder account").digest()[:20])


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalSecretNetwork]:
    n = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net")
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


def test_identity(ks: EnclaveKeystore) -> None:
    assert ks.get_identity() is None
    ks.put_identity(b"identity-1")
    assert ks.get_identity() == b"identity-1"
    with pytest.raises(AlreadyExists):
        ks.put_identity(b"identity-2")
    ks.put_identity(b"identity-2", replace=True)
    assert ks.get_identity() == b"identity-2"


def test_epochs_like_the_sqlite_keystore(ks: EnclaveKeystore, shares: list[KeyShare]) -> None:
    s0 = shares[0]
    ks.store_pending("v", s0, metadata={"members": {"0": {"1": "g1"}}})
    ks.store_pending("v", s0)  # the identical share again: a retried call is a no-op
    rec = ks.vault("v")
    assert (rec.active_epoch, rec.pending_epochs, rec.index, rec.public_key) == (None, (0,), 1, s0.public_key)
    with pytest.raises(NotFound):
        ks.active_share("v")
    assert ks.share("v", 0).to_bytes() == s0.to_bytes()
    ks.activate("v", 0)
    ks.activate("v", 0)  # idempotent
    assert ks.active_share("v").to_bytes() == s0.to_bytes()
    assert ks.metadata("v") == {"members": {"0": {"1": "g1"}}}

    s1 = local.refresh(shares)[0]
    ks.store_pending("v", s1)
    assert ks.active_share("v").epoch == 0  # the old epoch signs until the new one is activated
    ks.activate("v", 1)
    assert ks.active_share("v").to_bytes() == s1.to_bytes()
    assert ks.vault("v").retired_epochs == (0,)
    with pytest.raises(Retired):
        ks.share("v", 0)
    with pytest.raises(EpochConflict):
        ks.store_pending("v", s0)
    with pytest.raises(ShareMismatch):  # another key
        ks.store_pending("v", local.keygen("frost-secp256k1", threshold=3, n=5)[0])
    assert ks.purge_retired("v") == 1
    assert [v.vault_id for v in ks.vaults()] == ["v"]


def test_discard_update_and_delete(ks: EnclaveKeystore, shares: list[KeyShare]) -> None:
    ks.store_pending("w", shares[1])
    ks.discard_pending("w", 0)  # a vault left with nothing is removed
    with pytest.raises(NotFound):
        ks.vault("w")
    ks.store_pending("w", shares[1])
    ks.activate("w", 0)
    with pytest.raises(EpochConflict):
        ks.discard_pending("w", 0)
    banned = dataclasses.replace(shares[1], banned={3})
    ks.update_share("w", 0, banned)
    assert ks.active_share("w").banned == {3}
    with pytest.raises(ShareMismatch):  # a ban list only grows
        ks.update_share("w", 0, shares[1])
    ks.set_metadata("w", {"k": [1, 2]})
    assert ks.metadata("w") == {"k": [1, 2]}
    ks.delete_vault("w")
    with pytest.raises(NotFound):
        ks.active_share("w")
    with pytest.raises(BadArgument):
        ks.store_pending("", shares[1])


def test_single_use_items(ks: EnclaveKeystore, shares: list[KeyShare]) -> None:
    ks.store_pending("v", shares[2])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"a", b"secret-a"), (b"b", b"secret-b")])
    assert ks.count_unused("v", 0) == 2 and ks.unused_ids("v", 0) == [b"a", b"b"]
    assert ks.take_presignature("v", 0, b"a") == b"secret-a"
    with pytest.raises(AlreadyUsed):
        ks.take_presignature("v", 0, b"a")
    with pytest.raises(AlreadyUsed):  # a used id is never stored again
        ks.add_presignatures("v", 0, [(b"a", b"again")])
    with pytest.raises(AlreadyExists):
        ks.add_presignatures("v", 0, [(b"b", b"again")])
    with pytest.raises(NotFound):
        ks.take_presignature("v", 0, b"zz")
    assert ks.count_unused("v", 0) == 1 and ks.unused_ids("v", 0) == [b"b"]
    ks.add_nonces("v", 0, [(b"n", b"nonce")])
    assert ks.take_nonce("v", 0, b"n") == b"nonce" and ks.count_unused("v", 0, "nonce") == 0
    # activating a new epoch erases the old epoch's items
    ks.store_pending("v", local.refresh(shares)[2])
    ks.activate("v", 1)
    with pytest.raises(Retired):
        ks.take_presignature("v", 0, b"b")


def test_other_senders_and_closed_keystore(
    net: LocalSecretNetwork, ks: EnclaveKeystore, shares: list[KeyShare]
) -> None:
    ks.store_pending("v", shares[3])
    intruder = EnclaveKeystore.open(net, sender=INTRUDER)
    with pytest.raises(Unauthorized):
        intruder.active_share("v")
    with pytest.raises(Unauthorized):
        intruder.store_pending("v", shares[4])
    with pytest.raises(Unauthorized):
        intruder.delete_vault("v")
    assert intruder.vaults() == []
    stale = EnclaveKeystore(net, sender=GUARDIAN, contract=net.custody_address, viewing_key="x" * 32)
    with pytest.raises(Unauthorized):  # a newer session replaced the viewing key … of this sender only
        ks.share("v", 0)
    assert stale.share("v", 0).to_bytes() == shares[3].to_bytes()
    stale.close()
    with pytest.raises(StorageError):
        stale.vaults()
    assert issubclass(Unauthorized, KeystoreError)


def test_survives_restart_and_node_loss(tmp_path: Path, shares: list[KeyShare]) -> None:
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net")
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[0])
    ks.activate("v", 0)
    net.remove_node(0)
    net.stop()
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net")
    try:
        again = EnclaveKeystore.open(net, sender=GUARDIAN)
        assert again.active_share("v").to_bytes() == shares[0].to_bytes()
        assert len(net.live_nodes) == 3
    finally:
        net.stop()
