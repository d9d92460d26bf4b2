"""The owner's password at a guardian (issue 18, finding 7): what a copy of the guardian's disk gives.

The guardian keeps the password verifier sealed — an HMAC under a key derived from its identity,
which is itself encrypted under the guardian's secret — so the files alone hold nothing a password
guess can be checked against offline: neither the verifier, nor its hash, nor an audit digest that
covers it.  The guardian itself (with its secret) still checks passwords, and verifiers stored bare
by an older guardian are sealed when it starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gridlock.client import OperationFailed, recovery_start
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.crypto import codec
from gridlock.devnet import EmbeddedCluster, EmbeddedGuardian
from gridlock.errors import InvalidParameterError
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.service import build_node
from gridlock.transport.local import LocalRouter
from gridlock.wire import Identity
from gridlock.wire.approval import subject_bytes, verifier_digest

NAMES = ["device", "cloud", "friend"]


def run(fn: Any) -> Any:
    return asyncio.run(fn())


def disk(data_dir: Path) -> bytes:
    """Every byte the guardian keeps in its directory (keystore, journal, generation file, audit log)."""
    return b"".join(f.read_bytes() for f in sorted(data_dir.iterdir()) if f.is_file())


def stored_owner(data_dir: Path, vault_id: str) -> dict[str, Any]:
    """The owner record as anyone reading the keystore file sees it (vault metadata is plaintext)."""
    with closing(sqlite3.connect(data_dir / "keystore.db")) as con:
        (text,) = con.execute("SELECT metadata FROM vaults WHERE vault_id = ?", (vault_id,)).fetchone()
    owner = json.loads(text)["owner"]
    assert isinstance(owner, dict)
    return owner


def offline_material(password: str, guardian_id: str, vault_id: str, new_device: bytes, lost: bytes) -> list[bytes]:
    """Everything an attacker holding the files can compute from a password guess and public data,
    and then look for: the verifier, its stored hash (hex and raw), the audit digest of a recovery
    request that carried it."""
    v = password_verifier(password, guardian_id, vault_id)
    digest = verifier_digest(v)
    params = {"vault": vault_id, "new_device": new_device, "lost_device": lost, "verifier": v}
    request_digest = hashlib.sha256(codec.dumps(params)).hexdigest()  # as audit entries once recorded it
    return [
        v,
        v.hex().encode(),
        digest.encode(),
        bytes.fromhex(digest),
        hashlib.sha256(v).hexdigest().encode(),
        request_digest.encode(),
    ]


async def _vault_with_a_recovery_attempt(tmp_path: Path) -> tuple[EmbeddedCluster, str, bytes, bytes]:
    c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
    assert c.client is not None
    vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
    new_phone = OwnerDevice()
    await recovery_start(  # the real password: the audit log records the request
        c.client, vault.vault_id, c.ids, lost_device=c.owner.public, password=c.password, new_device=new_phone
    )
    return c, vault.vault_id, new_phone.public, c.owner.public


def test_attack_a_copy_of_the_guardian_disk_checks_no_password_guess(tmp_path: Path) -> None:
    async def main() -> None:
        c, vault_id, new_device, lost = await _vault_with_a_recovery_attempt(tmp_path)
        g = c.guardians[0]
        gid, identity = g.identity.guardian_id, g.identity
        await c.close()  # the disk at rest, as a thief copies it
        files = disk(tmp_path / g.name)
        stored = stored_owner(tmp_path / g.name, vault_id)["verifier"]

        # what the files hold of the password is a MAC whose key is not in them
        assert stored.startswith(owner_mod.SEALED) and len(stored) == len(owner_mod.SEALED) + 64
        key = identity.derive_key(owner_mod.VERIFIER_KEY_LABEL)
        seed = identity.to_bytes()
        for secret in (key, key.hex().encode()):
            assert secret not in files
        assert seed not in files  # the identity is there only encrypted under the keystore secret
        for guess, right in ((c.password, True), ("not the password", False)):
            for needle in offline_material(guess, gid, vault_id, new_device, lost):
                assert needle not in files, "the files check a password guess offline"
            # only with the guardian's identity does a guess check (what the guardian does online)
            params = {"vault": vault_id, "new_device": new_device, "lost_device": lost, "verifier": b"any"}
            assert subject_bytes(params) == subject_bytes({**params, "verifier": b"other"})
            digest = verifier_digest(password_verifier(guess, gid, vault_id))
            assert (owner_mod.seal_verifier(identity, digest) == stored) is right

    run(main)


def test_the_guardian_still_checks_the_password_online(tmp_path: Path) -> None:
    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
            with pytest.raises(OperationFailed) as err:
                await recovery_start(
                    c.client,
                    vault.vault_id,
                    c.ids,
                    lost_device=c.owner.public,
                    password="wrong password!",
                    new_device=OwnerDevice(),
                )
            assert all(getattr(e, "code", None) == "wrong-password" for e in err.value.errors.values())
            opened = await recovery_start(
                c.client,
                vault.vault_id,
                c.ids,
                lost_device=c.owner.public,
                password=c.password,
                new_device=OwnerDevice(),
            )
            assert set(opened) == set(c.ids)
        finally:
            await c.close()

    run(main)


def test_bare_verifiers_of_an_older_guardian_are_sealed_at_start(tmp_path: Path) -> None:
    """A keystore written before verifiers were sealed holds SHA-256(verifier) bare: starting the
    guardian seals it, no copy of it stays in the files, and the password still checks."""

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path, NAMES, session_timeout=10.0)
        assert c.client is not None
        vault = await c.client.create_vault("frost-ed25519", c.ids, 2, password=c.password)
        await c.close()
        g = c.guardians[0]
        data_dir, secret, gid = tmp_path / g.name, c.secrets_[g.name], g.identity.guardian_id
        bare = verifier_digest(password_verifier(c.password, gid, vault.vault_id))
        old = EmbeddedGuardian.open(g.spec, data_dir, secret)  # write what an older guardian kept
        meta = old.keystore.metadata(vault.vault_id)
        old.keystore.set_metadata(vault.vault_id, {**meta, "owner": {**meta["owner"], "verifier": bare}})
        old.close()
        assert bare.encode() in disk(data_dir)

        again = EmbeddedGuardian.open(g.spec, data_dir, secret)
        try:
            build_node(again.identity, again.keystore, LocalRouter().connect(gid), c.directory, [], audit=again.audit)
            state = owner_mod.OwnerState.from_meta(again.keystore.metadata(vault.vault_id))
            assert state.verifier.startswith(owner_mod.SEALED)
            v = password_verifier(c.password, gid, vault.vault_id)
            assert state.check_password(v, again.identity)
            assert not state.check_password(password_verifier("wrong password!", gid, vault.vault_id), again.identity)
            assert owner_mod.seal_stored_verifiers(again.keystore, again.identity) == 0  # once only
        finally:
            again.close()
        files = disk(data_dir)
        assert bare.encode() not in files and bytes.fromhex(bare) not in files

    run(main)


def test_the_sealing_key_is_the_identity_s_own() -> None:
    """HKDF over the identity's signing seed: stable across a save and a rename, one key per label,
    another identity's key differs."""
    me = Identity.generate(name="cloud")
    key = me.derive_key(owner_mod.VERIFIER_KEY_LABEL)
    assert len(key) == 32 and key == Identity.from_bytes(me.to_bytes()).derive_key(owner_mod.VERIFIER_KEY_LABEL)
    seed = codec.loads(me.to_bytes())[3]  # the Ed25519 seed (the secret format's key 3)
    renamed = Identity(ed25519_seed=seed, x25519_secret=b"\x01" * 32, mlkem_seed=None, name="other")
    assert renamed.derive_key(owner_mod.VERIFIER_KEY_LABEL) == key
    assert me.derive_key(b"gridlock/another-use/v1") != key
    assert Identity.generate().derive_key(owner_mod.VERIFIER_KEY_LABEL) != key
    for bad in (b"", b"no-prefix", "gridlock/text"):
        with pytest.raises(InvalidParameterError):
            me.derive_key(bad)  # type: ignore[arg-type]
    digest = verifier_digest(b"v" * 32)
    assert owner_mod.seal_verifier(me, digest) != owner_mod.seal_verifier(Identity.generate(), digest)
