"""Attack: a lying guardian chooses the owner's derived addresses (issue 15, "one guardian decides").

The owner's SDK used to ask the guardians for the vault's chain code whenever it showed a child
address, and believed whoever answered.  A guardian that reports its own chain code ``c'`` (with
the true group key, so the answer "rebuilds the vault's key") while the others are slow or offline
makes the owner hand out ``K + IL(c')·G``: an address none of the honest guardians derives — coins
sent there can be signed for only with ``c'``, which only the attacker knows (a ransom).

Now the chain code and untweaked key are fixed at keygen — every new holder must report the same
root in its stored-epoch reply — and every child key is computed from that record; an answer that
disagrees is a refusal naming the guardian.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest

from gridlock import local
from gridlock.client import Client, OperationFailed, SyncClient
from gridlock.client.errors import RootMismatch
from gridlock.crypto import hd
from gridlock.devnet import EmbeddedCluster
from gridlock.wire import ops

EVIL_CHAIN_CODE = b"\xee" * 32


@pytest.fixture
def cluster(tmp_path: Any) -> Iterator[tuple[SyncClient, EmbeddedCluster]]:
    holder: dict[str, EmbeddedCluster] = {}

    async def make() -> Client:
        holder["c"] = await EmbeddedCluster.start(tmp_path, ["liar", "honest1", "honest2"], session_timeout=30.0)
        assert holder["c"].client is not None
        return holder["c"].client

    sync = SyncClient(make)
    try:
        yield sync, holder["c"]
    finally:
        sync.run(holder["c"].close())
        sync.close()


def _lie_in_info(c: EmbeddedCluster, i: int) -> None:
    """Guardian ``i`` answers ``info`` with the true key but the attacker's chain code."""
    node = c.guardians[i].node
    assert node is not None
    honest = node._handlers[ops.Info]

    async def lying(op: ops.Info) -> ops.Reply:
        reply = await honest(op)
        assert isinstance(reply, ops.InfoReply)
        return dataclasses.replace(reply, chain_code=EVIL_CHAIN_CODE)

    node._handlers[ops.Info] = lying


def test_attack_lying_guardian_cannot_choose_the_derived_address(cluster: tuple[SyncClient, EmbeddedCluster]) -> None:
    sync, c = cluster
    vault = sync.create_vault("ecdsa-secp256k1", c.ids, 2, password=c.password)
    honest_share = c.guardians[1].keystore.active_share(vault.vault_id)
    honest_child = hd.derive(honest_share, "m/0/1").public_key  # what the guardians sign with at m/0/1
    _lie_in_info(c, 0)
    sync.run(c.stop_guardian(1))  # the honest guardians are slow or offline
    sync.run(c.stop_guardian(2))
    shown = vault.child_public_key("m/0/1")  # the key whose address the owner hands out
    attacker = hd.derive_public("ecdsa-secp256k1", vault.public_key, EVIL_CHAIN_CODE, "m/0/1")
    assert shown != attacker, "the owner shows the address the lying guardian chose"
    assert shown == honest_child
    # the guardians sign for the address shown: with t of them back, a signature at m/0/1 verifies there
    sync.run(c.start_guardian(1))
    digest = os.urandom(32)
    sig = sync.run(vault.vault.sign(digest, path="m/0/1", signers=vault.guardians[:2]))
    assert local.verify("ecdsa-secp256k1", shown, digest, sig)


def test_a_guardian_reporting_another_root_is_named(cluster: tuple[SyncClient, EmbeddedCluster]) -> None:
    """When the owner asks the guardians (to check, or to fill a record from before HD wallets), one
    that reports another chain code is a refusal naming it — it is never believed."""
    sync, c = cluster
    vault = sync.create_vault("frost-taproot", c.ids, 2, password=c.password)
    _lie_in_info(c, 0)
    with pytest.raises(RootMismatch) as err:
        sync.run(vault.vault.learn_root())  # a recorded root: the disagreeing guardian is named
    assert err.value.guardians == (c.ids[0],)
    book = dataclasses.replace(vault.vault, group_key=b"", chain_code=b"")  # a record without the root
    with pytest.raises(RootMismatch) as err:
        sync.run(book.learn_root())  # every holder must agree; the one that differs is named
    assert err.value.guardians == (c.ids[0],)
    assert not book.group_key


def test_a_guardian_lying_at_keygen_fails_the_creation_naming_it(cluster: tuple[SyncClient, EmbeddedCluster]) -> None:
    """The root is fixed at keygen from every new holder's stored-epoch reply: a holder reporting
    another chain code stops the vault from being created (nothing is activated) and is named."""
    sync, c = cluster
    node = c.guardians[2].node
    assert node is not None
    store = node._store_pending

    def lying(*args: Any, **kw: Any) -> ops.StoredReply:
        return dataclasses.replace(store(*args, **kw), chain_code=EVIL_CHAIN_CODE)

    node._store_pending = lying  # type: ignore[method-assign]
    with pytest.raises(OperationFailed) as err:
        sync.create_vault("frost-secp256k1", c.ids, 2, password=c.password)
    assert set(err.value.errors) == {c.ids[2]} and "chain code" in str(err.value)
    assert all(g.keystore.vaults() == [] or g.keystore.vaults()[0].active_epoch is None for g in c.guardians)
