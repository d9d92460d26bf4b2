"""The store contract, written once and run against every share store.

Every test here runs twice: on the SQLite :class:`Keystore` and on the enclave guardian's
:class:`EnclaveKeystore` (the custody contract on a local Secret Network), the way frost-core's
``ciphersuite_generic`` tests run for every ciphersuite.  Both stores decide with the same rules
(:mod:`gridlock.guardian.store.rules`); these tests pin that they also *behave* the same: epochs
(pending → active → retired), single-use items, session claims, bans via ``update_share``, vault
records and metadata, and the typed error for every misuse.

What only one store has stays with it: encryption at rest, row binding, damaged files, rollback
detection and migrations in ``test_keystore.py``; kill -9 safety in ``test_keystore_crash.py``;
senders, viewing keys and node loss in ``test_enclave_keystore.py``; the contract's encryption in
``test_enclave.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enclave_owner import held, pin_of
from gridlock.crypto.keyimport import split
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.sealed import SealedShare
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.address import human
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.errors import GridlockError, InvalidParameterError, NonceReuseError
from gridlock.guardian.store import (
    AlreadyExists,
    AlreadyUsed,
    BadArgument,
    EpochConflict,
    Keystore,
    KeystoreError,
    NotFound,
    Retired,
    ShareMismatch,
    StorageError,
)
from gridlock.policy import Entry, EntryKind

Store = Keystore | EnclaveKeystore


class OwnedVaults(EnclaveKeystore):
    """The enclave store as a guardian uses it: each vault it creates has its owner pinned
    (:data:`enclave_owner.OWNER`), whose approval lets :func:`stored` see the share itself."""

    def store_pending(self, vault_id: str, share: KeyShare, **kw: Any) -> None:
        if "owner" not in kw and vault_id not in {r.vault_id for r in self.vaults()}:
            kw["owner"] = pin_of()
        super().store_pending(vault_id, share, **kw)


SECRET = "test sealing secret of the owner"
GUARDIAN = human(hashlib.sha256(b"store contract guardian").digest()[:20])


# --- the two stores ----------------------------------------------------------------------------------
class Backend:
    """One fresh store of a kind, and a way to close it and open the same storage again."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self._net: LocalSecretNetwork | None = None
        if kind == "sqlite":
            self._path, self._secret = tmp_path / "guardian.db", os.urandom(32)
        else:
            self._net = LocalSecretNetwork.start(nodes=1, data_dir=tmp_path / "net", secret=SECRET)
        self.store: Store = self._open()

    def _open(self) -> Store:
        if self._net is None:
            return Keystore.open(self._path, self._secret)
        return OwnedVaults.open(self._net, sender=GUARDIAN)

    def reopen(self) -> Store:
        """Close the store and open it again (a guardian restart)."""
        self.store.close()
        self.store = self._open()
        return self.store

    def close(self) -> None:
        self.store.close()
        if self._net is not None:
            self._net.stop()


@pytest.fixture(params=["sqlite", "enclave"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = Backend(request.param, tmp_path)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def ks(backend: Backend) -> Store:
    return backend.store


@pytest.fixture(scope="module")
def ed_shares() -> list[KeyShare]:
    return split("frost-ed25519", os.urandom(32), 3, 5)


@pytest.fixture(scope="module")
def other_ed_shares() -> list[KeyShare]:
    return split("frost-ed25519", os.urandom(32), 3, 5)


@pytest.fixture(scope="module")
def ecdsa_shares() -> list[KeyShare]:
    return split("ecdsa-secp256k1", os.urandom(32), 3, 5)


def stored(ks: Store, vault_id: str, epoch: int) -> bytes:
    """The share a store keeps, byte for byte.  The enclave store answers a FROST share's public
    data only (the share stays in the contract, issue 17 #4): its public view must match, and the
    share itself is what the owner's export opens to."""
    share = ks.share(vault_id, epoch)
    if isinstance(ks, EnclaveKeystore):
        full = held(ks, vault_id, epoch)
        assert isinstance(share, SealedShare) and share.same_public_data(full)
        return full.to_bytes()
    return share.to_bytes()


def at(share: KeyShare, epoch: int) -> KeyShare:
    return dataclasses.replace(share, epoch=epoch)


# --- identity and lifecycle ----------------------------------------------------------------------------
def test_identity(backend: Backend) -> None:
    ks = backend.store
    assert ks.get_identity() is None
    blob = os.urandom(96)
    ks.put_identity(blob)
    with pytest.raises(AlreadyExists):
        ks.put_identity(os.urandom(96))
    assert ks.get_identity() == blob
    ks = backend.reopen()
    assert ks.get_identity() == blob
    ks.put_identity(b"new identity", replace=True)
    assert ks.get_identity() == b"new identity"
    with pytest.raises(BadArgument):
        ks.put_identity(b"")


def test_closed_store_refuses(ks: Store) -> None:
    ks.close()
    ks.close()  # idempotent
    with pytest.raises(StorageError):
        ks.vaults()
    with pytest.raises(StorageError):
        ks.put_identity(b"x")
    assert "closed" in repr(ks)


# --- two-phase epochs ------------------------------------------------------------------------------------
def test_pending_then_active_then_retired(ks: Store, ed_shares: list[KeyShare]) -> None:
    s = ed_shares[0]
    ks.store_pending("v", s)
    rec = ks.vault("v")
    assert (rec.active_epoch, rec.pending_epochs, rec.retired_epochs) == (None, (0,), ())
    with pytest.raises(NotFound):
        ks.active_share("v")
    assert stored(ks, "v", 0) == s.to_bytes()

    ks.activate("v", 0)
    active = ks.active_share("v")
    assert (active.index, active.public_fingerprint()) == (s.index, s.public_fingerprint())
    assert stored(ks, "v", ks.vault("v").active_epoch or 0) == s.to_bytes()
    with pytest.raises(EpochConflict):
        ks.store_pending("v", s)  # not newer than the active epoch

    ks.store_pending("v", at(s, 1))
    assert ks.active_share("v").epoch == 0  # the old epoch keeps signing until activation
    assert ks.vault("v").pending_epochs == (1,)

    ks.activate("v", 1)
    rec = ks.vault("v")
    assert (rec.active_epoch, rec.pending_epochs, rec.retired_epochs) == (1, (), (0,))
    assert ks.active_share("v").epoch == 1
    with pytest.raises(Retired):
        ks.share("v", 0)
    ks.activate("v", 1)  # retried call: no-op
    with pytest.raises(EpochConflict):
        ks.activate("v", 0)
    with pytest.raises(EpochConflict):
        ks.store_pending("v", at(s, 0))
    with pytest.raises(NotFound):
        ks.activate("v", 7)


def test_purge_retired_drops_tombstones(ks: Store, ed_shares: list[KeyShare]) -> None:
    for e in range(3):
        ks.store_pending("v", at(ed_shares[0], e))
        ks.activate("v", e)
    assert ks.vault("v").retired_epochs == (0, 1)
    assert ks.purge_retired("v") == 2
    assert ks.vault("v").retired_epochs == ()
    assert ks.purge_retired("v") == 0
    with pytest.raises(NotFound):
        ks.share("v", 1)
    with pytest.raises(EpochConflict):
        ks.store_pending("v", at(ed_shares[0], 1))  # still older than the active epoch


def test_conflicting_pending_is_refused_identical_is_idempotent(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", at(ed_shares[0], 3))
    ks.store_pending("v", at(ed_shares[0], 3))  # a retry
    with pytest.raises(EpochConflict):
        ks.store_pending("v", at(ed_shares[1], 3))  # same key and epoch, different share
    assert stored(ks, "v", 3) == at(ed_shares[0], 3).to_bytes()
    ks.discard_pending("v", 3)
    ks.store_pending("v", at(ed_shares[1], 3))
    assert ks.share("v", 3).index == 2


def test_several_pending_and_older_ones_dropped_on_activation(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    for e in (1, 2, 3):
        ks.store_pending("v", at(ed_shares[0], e))
    ks.add_presignatures("v", 1, [(b"p1", b"secret of epoch 1")])
    ks.activate("v", 2)
    rec = ks.vault("v")
    assert (rec.active_epoch, rec.pending_epochs, rec.retired_epochs) == (2, (3,), (0,))
    with pytest.raises(NotFound):
        ks.share("v", 1)
    with pytest.raises(NotFound):
        ks.take_presignature("v", 1, b"p1")
    ks.activate("v", 3)
    assert ks.vault("v").active_epoch == 3


def test_discard_pending(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0], metadata={"guardians": ["a", "b"]})
    ks.add_nonces("v", 0, [(b"n", b"nonce material....")])
    ks.discard_pending("v", 0)  # an aborted keygen: the vault never existed
    assert ks.vaults() == []
    with pytest.raises(NotFound):
        ks.metadata("v")
    with pytest.raises(NotFound):
        ks.discard_pending("v", 0)

    ks.store_pending("w", ed_shares[0])
    ks.activate("w", 0)
    ks.store_pending("w", at(ed_shares[0], 1))
    with pytest.raises(EpochConflict):
        ks.discard_pending("w", 0)
    ks.discard_pending("w", 1)  # an aborted refresh: the old epoch stays
    rec = ks.vault("w")
    assert (rec.active_epoch, rec.pending_epochs) == (0, ())
    with pytest.raises(NotFound):
        ks.discard_pending("w", 1)
    ks.store_pending("w", at(ed_shares[0], 1))
    ks.activate("w", 1)
    with pytest.raises(Retired):
        ks.discard_pending("w", 0)


def test_share_of_another_key_is_refused(
    ks: Store, ed_shares: list[KeyShare], other_ed_shares: list[KeyShare], ecdsa_shares: list[KeyShare]
) -> None:
    ks.store_pending("v", ed_shares[0])
    with pytest.raises(ShareMismatch):
        ks.store_pending("v", at(other_ed_shares[0], 1))
    with pytest.raises(ShareMismatch):
        ks.store_pending("v", at(ecdsa_shares[0], 1))
    assert ks.vault("v").pending_epochs == (0,)


def test_reshare_changes_committee(ks: Store) -> None:
    secret_key = os.urandom(32)
    old = split("frost-secp256k1", secret_key, 3, 5)[0]
    new = at(split("frost-secp256k1", secret_key, 4, 7)[5], 1)  # same key, 4-of-7, this guardian is now #6
    ks.store_pending("v", old)
    ks.activate("v", 0)
    ks.store_pending("v", new)
    assert ks.vault("v").threshold == 3
    ks.activate("v", 1)
    rec = ks.vault("v")
    assert (rec.index, rec.threshold, rec.participants) == (6, 4, tuple(range(1, 8)))


def test_vault_records_and_metadata(ks: Store, ed_shares: list[KeyShare], ecdsa_shares: list[KeyShare]) -> None:
    ks.store_pending("b-vault", ecdsa_shares[2], metadata={"guardians": ["g1", "g2", "g3", "g4", "g5"]})
    ks.store_pending("a-vault", ed_shares[0])
    ks.activate("a-vault", 0)
    recs = ks.vaults()
    assert [r.vault_id for r in recs] == ["a-vault", "b-vault"]
    a, b = recs
    assert (a.scheme, a.public_key, a.index, a.threshold, a.participants) == (
        "frost-ed25519",
        ed_shares[0].public_key,
        1,
        3,
        (1, 2, 3, 4, 5),
    )
    assert (b.scheme, b.public_key, b.index, b.active_epoch, b.pending_epochs) == (
        "ecdsa-secp256k1",
        ecdsa_shares[2].public_key,
        3,
        None,
        (0,),
    )
    assert ks.vault("a-vault") == a
    assert ks.metadata("b-vault") == {"guardians": ["g1", "g2", "g3", "g4", "g5"]}
    assert ks.metadata("a-vault") == {}
    ks.set_metadata("a-vault", {"label": "cold", "n": 5})
    assert ks.metadata("a-vault") == {"label": "cold", "n": 5}
    ks.store_pending("a-vault", at(ed_shares[0], 1), metadata={"label": "warm"})  # with the share, at once
    assert ks.metadata("a-vault") == {"label": "warm"}
    # what a guardian reads of every vault when it starts, in one read
    assert ks.all_metadata() == {"a-vault": {"label": "warm"}, "b-vault": {"guardians": ["g1", "g2", "g3", "g4", "g5"]}}
    with pytest.raises(NotFound):
        ks.set_metadata("nope", {})
    with pytest.raises(NotFound):
        ks.vault("nope")


def test_delete_vault(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"p", b"presignature secret")])
    ks.delete_vault("v")
    assert ks.vaults() == []
    with pytest.raises(NotFound):
        ks.take_presignature("v", 0, b"p")
    with pytest.raises(NotFound):
        ks.active_share("v")
    with pytest.raises(NotFound):
        ks.delete_vault("v")
    ks.store_pending("v", ed_shares[0])  # the id is free again
    assert ks.vault("v").pending_epochs == (0,)


# --- bans --------------------------------------------------------------------------------------------------
def test_ban_list_persists_and_only_grows(backend: Backend, ecdsa_shares: list[KeyShare]) -> None:
    ks = backend.store
    ks.store_pending("v", ecdsa_shares[0])
    ks.activate("v", 0)
    s = ks.active_share("v")
    s.banned.add(3)
    ks.update_share("v", 0, s)
    ks = backend.reopen()
    s = ks.active_share("v")
    assert s.banned == {3}
    s.banned.add(5)
    ks.update_share("v", 0, s)
    assert ks.active_share("v").banned == {3, 5}
    ks.update_share("v", 0, s)  # the same list again: a retry
    with pytest.raises(ShareMismatch):
        ks.update_share("v", 0, dataclasses.replace(s, banned={3}))  # a ban lasts until refresh
    with pytest.raises(ShareMismatch):
        ks.update_share("v", 0, ecdsa_shares[1])  # another holder's share
    with pytest.raises(ShareMismatch):
        ks.update_share("v", 0, dataclasses.replace(s, chain_code=bytes(32)))
    with pytest.raises(ShareMismatch):
        ks.update_share("v", 0, at(s, 1))
    with pytest.raises(NotFound):
        ks.update_share("v", 1, at(s, 1))
    ks.store_pending("v", at(ecdsa_shares[0], 1))
    ks.update_share("v", 1, dataclasses.replace(at(ecdsa_shares[0], 1), banned={2}))  # a pending epoch too
    ks.activate("v", 1)
    assert ks.active_share("v").banned == {2}
    with pytest.raises(Retired):
        ks.update_share("v", 0, s)


# --- single-use items ----------------------------------------------------------------------------------------
def test_presignature_single_use_survives_restart(backend: Backend, ed_shares: list[KeyShare]) -> None:
    ks = backend.store
    items = [(bytes([i]) * 8, os.urandom(64)) for i in range(3)]
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, items)
    assert ks.count_unused("v", 0) == 3
    assert ks.unused_ids("v", 0) == sorted(i for i, _ in items)
    assert ks.take_presignature("v", 0, items[0][0]) == items[0][1]
    assert ks.count_unused("v", 0) == 2
    with pytest.raises(AlreadyUsed) as info:
        ks.take_presignature("v", 0, items[0][0])
    assert isinstance(info.value, NonceReuseError)
    ks = backend.reopen()
    with pytest.raises(AlreadyUsed):
        ks.take_presignature("v", 0, items[0][0])
    with pytest.raises(AlreadyUsed):
        ks.add_presignatures("v", 0, [items[0]])  # a used id is never stored again
    with pytest.raises(AlreadyExists):
        ks.add_presignatures("v", 0, [items[1]])
    assert ks.take_presignature("v", 0, items[1][0]) == items[1][1]
    assert ks.unused_ids("v", 0) == [items[2][0]]
    with pytest.raises(NotFound):
        ks.take_presignature("v", 0, b"unknown")
    with pytest.raises(NotFound):
        ks.take_presignature("v", 5, items[2][0])


def test_nonces_are_separate_from_presignatures(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.add_nonces("v", 0, [(b"id", b"nonce secret........")])
    ks.add_presignatures("v", 0, [(b"id", b"presignature secret.")])
    assert ks.count_unused("v", 0, "nonce") == 1
    assert ks.unused_ids("v", 0, "nonce") == [b"id"]
    assert ks.take_nonce("v", 0, b"id") == b"nonce secret........"
    with pytest.raises(AlreadyUsed):
        ks.take_nonce("v", 0, b"id")
    assert ks.count_unused("v", 0, "presignature") == 1
    assert ks.take_presignature("v", 0, b"id") == b"presignature secret."
    with pytest.raises(BadArgument):
        ks.count_unused("v", 0, "other")  # type: ignore[arg-type]


def test_batches_are_all_or_nothing(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.add_presignatures("v", 0, [(b"a", b"secret a")])
    with pytest.raises(AlreadyExists):
        ks.add_presignatures("v", 0, [(b"b", b"secret b"), (b"a", b"secret a2")])
    assert ks.unused_ids("v", 0) == [b"a"]
    with pytest.raises(BadArgument):
        ks.add_presignatures("v", 0, [(b"c", b"x"), (b"c", b"y")])
    with pytest.raises(NotFound):
        ks.add_presignatures("v", 9, [(b"c", b"x")])
    with pytest.raises(NotFound):
        ks.add_presignatures("nope", 0, [(b"c", b"x")])
    assert ks.unused_ids("v", 0) == [b"a"]


def test_items_of_a_retired_epoch_are_erased(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"old", b"old presignature")])
    ks.add_nonces("v", 0, [(b"old", b"old nonce.......")])
    ks.store_pending("v", at(ed_shares[0], 1))
    ks.activate("v", 1)
    with pytest.raises(Retired):
        ks.take_presignature("v", 0, b"old")
    with pytest.raises(Retired):
        ks.take_nonce("v", 0, b"old")
    with pytest.raises(Retired):
        ks.add_presignatures("v", 0, [(b"new", b"x")])
    assert ks.count_unused("v", 0) == 0
    assert ks.unused_ids("v", 0, "nonce") == []


def test_concurrent_takes_hand_out_each_item_once(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    ids = [i.to_bytes(2, "big") for i in range(40)]
    ks.add_presignatures("v", 0, [(i, b"blob" + i) for i in ids])
    got: list[bytes] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        order = ids[:]
        random.Random(seed).shuffle(order)
        for i in order:
            try:
                blob = ks.take_presignature("v", 0, i)
            except AlreadyUsed:
                continue
            with lock:
                got.append(blob)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(b"blob" + i for i in ids)
    assert ks.count_unused("v", 0) == 0


# --- session claims -----------------------------------------------------------------------------------------
def test_session_claims_run_once_per_epoch(backend: Backend, ed_shares: list[KeyShare]) -> None:
    ks = backend.store
    ks.store_pending("v", ed_shares[0])
    ks.claim_session("v", 0, b"s" * 32)  # a pending epoch's session (a refresh confirming it)
    ks.activate("v", 0)
    with pytest.raises(AlreadyUsed) as info:
        ks.claim_session("v", 0, b"s" * 32)
    assert isinstance(info.value, NonceReuseError)
    ks = backend.reopen()
    with pytest.raises(AlreadyUsed):  # durable: in-memory replay guards are gone after a restart
        ks.claim_session("v", 0, b"s" * 32)
    ks.claim_session("v", 0, b"t" * 32)
    ks.add_presignatures("v", 0, [(b"s" * 32, b"a presignature")])  # claims are not items
    assert ks.count_unused("v", 0) == 1
    ks.store_pending("v", at(ed_shares[0], 1))
    ks.claim_session("v", 1, b"s" * 32)  # the same id with another epoch's share
    with pytest.raises(NotFound):
        ks.claim_session("v", 2, b"u" * 32)
    with pytest.raises(NotFound):
        ks.claim_session("nope", 0, b"u" * 32)
    ks.activate("v", 1)
    with pytest.raises(Retired):
        ks.claim_session("v", 0, b"u" * 32)
    with pytest.raises(BadArgument):
        ks.claim_session("v", 1, b"")
    with pytest.raises(BadArgument):
        ks.claim_session("v", 1, b"x" * 65)


# --- every misuse has its typed error ----------------------------------------------------------------------
def test_bad_arguments_are_typed(ks: Store, ed_shares: list[KeyShare]) -> None:
    ks.store_pending("v", ed_shares[0])
    bad_calls: list[Callable[[], object]] = [
        lambda: ks.store_pending("", ed_shares[0]),
        lambda: ks.store_pending("x" * 200, ed_shares[0]),
        lambda: ks.store_pending(b"v", ed_shares[0]),  # type: ignore[arg-type]
        lambda: ks.store_pending("bad\nid", ed_shares[0]),
        lambda: ks.store_pending("v", ed_shares[0].to_bytes()),  # type: ignore[arg-type]
        lambda: ks.store_pending("w", ed_shares[0], metadata=["not", "a", "dict"]),  # type: ignore[arg-type]
        lambda: ks.activate("v", -1),
        lambda: ks.activate("v", True),
        lambda: ks.discard_pending("v", 2**63),
        lambda: ks.share("v", "0"),  # type: ignore[arg-type]
        lambda: ks.vault(""),
        lambda: ks.metadata(None),  # type: ignore[arg-type]
        lambda: ks.add_presignatures("v", 0, []),
        lambda: ks.add_presignatures("v", 0, [(b"", b"x")]),
        lambda: ks.add_presignatures("v", 0, [(b"i" * 65, b"x")]),
        lambda: ks.add_presignatures("v", 0, [(b"i", b"")]),
        lambda: ks.add_presignatures("v", 0, [("i", b"x")]),  # type: ignore[list-item]
        lambda: ks.add_presignatures("v", 0, [(b"i", b"x", b"y")]),  # type: ignore[list-item]
        lambda: ks.add_presignatures("v", 0, b"ix"),  # type: ignore[arg-type]
        lambda: ks.add_nonces("v", 0, [(b"i", "text")]),  # type: ignore[list-item]
        lambda: ks.take_presignature("v", 0, "i"),  # type: ignore[arg-type]
        lambda: ks.take_nonce("v", 0, b""),
        lambda: ks.unused_ids("v", 0, "session"),  # type: ignore[arg-type]
        lambda: ks.set_metadata("v", ["not", "a", "dict"]),  # type: ignore[arg-type]
        lambda: ks.set_metadata("v", {1: "int key"}),  # type: ignore[dict-item]
        lambda: ks.set_metadata("v", {"x": object()}),
        lambda: ks.set_metadata("v", {"x": float("nan")}),
        lambda: ks.set_metadata("v", {"big": "x" * 70_000}),
        lambda: ks.update_share("v", 0, "share"),  # type: ignore[arg-type]
        lambda: ks.put_identity("text"),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises(BadArgument) as info:
            call()
        assert isinstance(info.value, InvalidParameterError)
    assert ks.vault("v").pending_epochs == (0,)
    assert ks.metadata("v") == {}
    assert [r.vault_id for r in ks.vaults()] == ["v"]


MISUSE: list[tuple[str, Callable[[Store, list[KeyShare]], object], type[KeystoreError]]] = [
    ("activate an unknown vault", lambda ks, s: ks.activate("nope", 0), NotFound),
    ("activate an unknown epoch", lambda ks, s: ks.activate("v", 9), NotFound),
    ("activate an older epoch", lambda ks, s: ks.activate("v", 0), EpochConflict),
    ("activate a retired epoch", lambda ks, s: ks.activate("v", 0), EpochConflict),
    ("store an old epoch", lambda ks, s: ks.store_pending("v", at(s[0], 0)), EpochConflict),
    ("store the active epoch", lambda ks, s: ks.store_pending("v", at(s[0], 1)), EpochConflict),
    ("store another share", lambda ks, s: ks.store_pending("v", at(s[1], 2)), EpochConflict),
    ("store another holder's", lambda ks, s: ks.store_pending("v", at(s[1], 5)), None),  # allowed: new epoch
    ("discard the active epoch", lambda ks, s: ks.discard_pending("v", 1), EpochConflict),
    ("discard a retired epoch", lambda ks, s: ks.discard_pending("v", 0), Retired),
    ("discard an unknown epoch", lambda ks, s: ks.discard_pending("v", 9), NotFound),
    ("share of a retired epoch", lambda ks, s: ks.share("v", 0), Retired),
    ("share of an unknown epoch", lambda ks, s: ks.share("v", 9), NotFound),
    ("share of an unknown vault", lambda ks, s: ks.active_share("nope"), NotFound),
    ("update a retired epoch", lambda ks, s: ks.update_share("v", 0, at(s[0], 0)), Retired),
    ("update with another share", lambda ks, s: ks.update_share("v", 2, at(s[1], 2)), ShareMismatch),
    ("take a used item", lambda ks, s: ks.take_presignature("v", 1, b"used"), AlreadyUsed),
    ("take an unknown item", lambda ks, s: ks.take_presignature("v", 1, b"none"), NotFound),
    ("take from a retired epoch", lambda ks, s: ks.take_presignature("v", 0, b"p"), Retired),
    ("take a nonce as presignature", lambda ks, s: ks.take_presignature("v", 1, b"n"), NotFound),
    ("add a used id", lambda ks, s: ks.add_presignatures("v", 1, [(b"used", b"x")]), AlreadyUsed),
    ("add a stored id", lambda ks, s: ks.add_presignatures("v", 1, [(b"p", b"x")]), AlreadyExists),
    ("add to a retired epoch", lambda ks, s: ks.add_nonces("v", 0, [(b"x", b"x")]), Retired),
    ("claim a claimed session", lambda ks, s: ks.claim_session("v", 1, b"claimed"), AlreadyUsed),
    ("claim with a retired epoch", lambda ks, s: ks.claim_session("v", 0, b"new"), Retired),
    ("identity twice", lambda ks, s: ks.put_identity(b"again"), AlreadyExists),
    ("metadata of an unknown vault", lambda ks, s: ks.metadata("nope"), NotFound),
    ("purge an unknown vault", lambda ks, s: ks.purge_retired("nope"), NotFound),
    ("delete an unknown vault", lambda ks, s: ks.delete_vault("nope"), NotFound),
]


@pytest.mark.parametrize(("what", "call", "error"), MISUSE, ids=[m[0] for m in MISUSE])
def test_every_misuse_has_its_typed_error(
    ks: Store, ed_shares: list[KeyShare], what: str, call: Any, error: type[KeystoreError] | None
) -> None:
    """A vault with a retired epoch 0, an active epoch 1 (items used and unused, a claimed
    session) and a pending epoch 2; each misuse fails with its error and changes nothing."""
    ks.put_identity(b"identity")
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"p", b"epoch 0 presignature")])
    ks.store_pending("v", at(ed_shares[0], 1))
    ks.activate("v", 1)
    ks.add_presignatures("v", 1, [(b"p", b"presignature p"), (b"used", b"presignature u")])
    ks.add_nonces("v", 1, [(b"n", b"nonce n")])
    ks.take_presignature("v", 1, b"used")
    ks.claim_session("v", 1, b"claimed")
    ks.store_pending("v", at(ed_shares[0], 2))
    before = (ks.vaults(), ks.metadata("v"), ks.unused_ids("v", 1), ks.unused_ids("v", 1, "nonce"))
    if error is None:
        call(ks, ed_shares)
        return
    with pytest.raises(error) as info:
        call(ks, ed_shares)
    assert type(info.value) is error  # not merely a subclass: both stores name the same failure
    assert (ks.vaults(), ks.metadata("v"), ks.unused_ids("v", 1), ks.unused_ids("v", 1, "nonce")) == before
    assert stored(ks, "v", 2) == at(ed_shares[0], 2).to_bytes()


def test_errors_hold_no_secrets(ks: Store, ed_shares: list[KeyShare]) -> None:
    item_secret, identity = os.urandom(48), os.urandom(48)
    ks.put_identity(identity)
    ks.store_pending("v", ed_shares[0])
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"p", item_secret)])
    ks.take_presignature("v", 0, b"p")
    texts = [repr(ks), *(repr(r) for r in ks.vaults())]
    for fn in (
        lambda: ks.take_presignature("v", 0, b"p"),
        lambda: ks.add_presignatures("v", 0, [(b"p", item_secret)]),
        lambda: ks.store_pending("v", ed_shares[0]),
        lambda: ks.store_pending("v", at(ed_shares[1], 1)) or ks.store_pending("v", at(ed_shares[2], 1)),
        lambda: ks.update_share("v", 0, ed_shares[1]),
        lambda: ks.put_identity(identity),
    ):
        with pytest.raises(GridlockError) as info:
            fn()
        texts += [str(info.value), repr(info.value)]
    blob = "\n".join(texts).lower()
    for f in (item_secret, identity, ed_shares[0].scheme_obj.group.scalar_to_bytes(ed_shares[0].secret)):
        assert f.hex() not in blob and f[:12].hex() not in blob
    assert str(ed_shares[0].secret) not in blob


# --- the policy ledger (both stores) ----------------------------------------------------------------------
def test_the_policy_ledger_is_kept_windowed_and_written_with_the_claim(
    backend: Backend, ed_shares: list[KeyShare]
) -> None:
    ks = backend.store
    ks.store_pending("v", ed_shares[0], metadata={"members": {}})
    ks.activate("v", 0)
    first = Entry(10, EntryKind.TRANSFER, "tx1", "ethereum", "0xfriend", "", 5)
    ks.set_metadata("v", None, ledger=[first])
    sig = Entry(20, EntryKind.SIGNATURE, "tx2", "ethereum")
    ks.claim_session("v", 0, b"s" * 32, ledger=[sig])
    with pytest.raises(AlreadyUsed):  # a refused claim writes no ledger entry either
        ks.claim_session("v", 0, b"s" * 32, ledger=[Entry(30, EntryKind.SIGNATURE)])
    ks = backend.reopen()
    assert ks.ledger("v", 0) == [first, sig]
    assert ks.ledger("v", 15) == [sig]
    assert ks.metadata("v") == {"members": {}}  # the history is not in the metadata
    assert ks.paid_before("v", "ethereum", ["0xfriend", "0xother"], before=10) == frozenset({"0xfriend"})
    assert ks.paid_before("v", "ethereum", ["0xfriend"], before=9) == frozenset()
    ks.delete_vault("v")
    ks.store_pending("v", ed_shares[0])
    assert ks.ledger("v", 0) == []  # a deleted vault's ledger goes with it
