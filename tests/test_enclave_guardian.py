"""A guardian whose keystore is the custody contract (``EnclaveKeystore``) plays in a 3-of-5 vault.

This is the drop-in check for the integration step: an ordinary :class:`GuardianNode` of an
:class:`EmbeddedCluster` gets an ``EnclaveKeystore`` instead of its SQLite keystore; DKG, refresh
and signing with and without it work, and the enclave network answers the public vault query.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest

from conftest import need_nats_server
from gridlock import local
from gridlock.devnet import STANDARD, EmbeddedCluster, ProcessCluster
from gridlock.enclave.crypto import ClientEncryption
from gridlock.enclave.guardian import OwnedEnclaveStore, open_network_store
from gridlock.transport.server import NatsServer

SECRET = "test sealing secret of the owner"
NAMES = ["device", "enclave", "cloud", "watch", "friend"]


@pytest.mark.parametrize("scheme", ["frost-secp256k1", "ecdsa-secp256k1"])
def test_vault_with_the_enclave_guardian_signs_with_and_without_it(tmp_path: Path, scheme: str) -> None:
    eks = open_network_store(tmp_path / "secret", "enclave", SECRET)  # signed transactions over the LCD
    assert isinstance(eks, OwnedEnclaveStore) and eks.network is not None
    net = eks.network

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path / "guardians", NAMES, session_timeout=20.0)
        try:
            assert c.client is not None
            g = c.guardians[1]  # "enclave"
            eks.put_identity(g.identity.to_bytes())
            g.keystore.close()
            g.keystore = eks  # type: ignore[assignment]
            g.node.keystore = eks  # type: ignore[assignment]

            vault = await c.client.create_vault(scheme, c.ids, threshold=3, password=c.password)
            share = eks.active_share(vault.vault_id)
            assert share.public_key == vault.public_key and share.index == 2
            m = os.urandom(32)
            with_enclave = [c.ids[0], c.ids[1], c.ids[2]]
            without = [c.ids[0], c.ids[2], c.ids[3]]
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m, signers=with_enclave))
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m, signers=without))
            assert await vault.refresh() == 1
            # epoch 0 is retired and its tombstone purged at the commit (the state does not grow with age)
            assert eks.active_share(vault.vault_id).epoch == 1 and eks.vault(vault.vault_id).retired_epochs == ()
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m, signers=with_enclave))

            # the enclave network's public answer about the vault, for any Secret Network client
            eu = ClientEncryption(net.consensus_io_pubkey)
            q = eu.encrypt(net.custody_code_hash, json.dumps({"vault": {"vault_id": vault.vault_id}}))
            rec = json.loads(base64.b64decode(eu.decrypt(net.query(net.custody_address, q), q[:32])))
            now = eks.active_share(vault.vault_id)
            assert rec["public_key"] == vault.public_key.hex()
            assert rec["verifying_share"] == now.verifying_shares[now.index].encode().hex()
        finally:
            await c.close()

    try:
        asyncio.run(main())
    finally:
        eks.close()


def test_enclave_guardian_process_over_nats(tmp_path: Path) -> None:
    """The devnet shape: five guardian processes on NATS, "enclave" run by ``gridlock.enclave.guardian``."""
    need_nats_server()
    server = NatsServer.start()
    pc = ProcessCluster.create(tmp_path, STANDARD, server.url, session_timeout=20.0)  # "enclave": role enclave
    pc.start(timeout=120)

    async def main() -> None:
        client = await pc.client(timeout=60)
        try:
            vault = await client.create_vault("frost-taproot", pc.ids, threshold=3, password=pc.password)
            enclave = pc.id_of("enclave")
            m = os.urandom(32)
            with_enclave = [enclave, pc.id_of("device"), pc.id_of("cloud")]
            without = [g for g in pc.ids if g != enclave][:3]
            assert local.verify("frost-taproot", vault.public_key, m, await vault.sign(m, signers=with_enclave))
            assert local.verify("frost-taproot", vault.public_key, m, await vault.sign(m, signers=without))
            assert await vault.refresh() == 1
            assert local.verify("frost-taproot", vault.public_key, m, await vault.sign(m, signers=with_enclave))
        finally:
            await client.close()
            await client.transport.close()

    try:
        asyncio.run(main())
        # nothing of the enclave guardian's share lies in the clear on its host
        for f in (tmp_path / "enclave").rglob("*"):
            if f.is_file():
                assert b"gridlock/keyshare" not in f.read_bytes()
    finally:
        pc.stop()
        server.stop()
