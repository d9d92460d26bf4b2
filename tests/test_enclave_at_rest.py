"""The enclave network at rest (issue 17, points 1–3): sealed by a secret the data directory does not
hold, the code hash and measurement of the code that runs, and no rollback to a restored backup."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from enclave_owner import held, pin_of
from gridlock import local
from gridlock.crypto import codec
from gridlock.crypto.keyshare import KeyShare
from gridlock.enclave import (
    CUSTODY_CODE_HASH,
    ENCLAVE_MEASUREMENT,
    CustodyContract,
    LocalSecretNetwork,
    NetworkError,
    RegistrationRefused,
    contract_keychange,
    crypto,
)
from gridlock.enclave.address import human
from gridlock.enclave.enclave import Enclave
from gridlock.enclave.errors import ContractError, SealingError
from gridlock.enclave.guardian import open_network_store, open_store_at
from gridlock.enclave.keystore import EnclaveKeystore, UntrustedContract
from gridlock.enclave.measure import CONTRACT_MODULES, ENCLAVE_MODULES, enclave_measurement, running_contract_hash
from gridlock.guardian.store import AlreadyUsed, RollbackDetected, StorageError

SECRET = "the guardian's key-encryption secret"
GUARDIAN = human(hashlib.sha256(b"at-rest guardian account").digest()[:20])


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return local.keygen("frost-ed25519", threshold=2, n=3)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "guardian" / "secret-network"


def start(data: Path, **kw: object) -> LocalSecretNetwork:
    return LocalSecretNetwork.start(nodes=3, data_dir=data, secret=SECRET, **kw)  # type: ignore[arg-type]


def files(root: Path) -> Iterator[tuple[Path, bytes]]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p, p.read_bytes()


def forms(secret: bytes) -> list[bytes]:
    """How a secret could sit in a file: raw, hex, base64."""
    return [secret, secret.hex().encode(), base64.b64encode(secret)]


# --- 1. sealed at rest -------------------------------------------------------------------------------
def test_a_copy_of_the_data_directory_recovers_nothing(data: Path, tmp_path: Path, shares: list[KeyShare]) -> None:
    net = start(data)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[0], owner=pin_of())
    ks.activate("v", 0)
    presig, nonce = os.urandom(48), os.urandom(48)
    ks.add_presignatures("v", 0, [(b"p" * 16, presig)])
    ks.add_nonces("v", 0, [(b"n" * 16, nonce)])
    assert ks.take_presignature("v", 0, b"p" * 16) == presig  # a tombstoned one too
    keys = net.nodes[0].enclave._keys()  # what an attacker would need (read here, in the test, only)
    platform = net._platform
    fuse_keys = [platform.fuse_key(n.name) for n in net.nodes]
    authority_key = platform.authority().private_bytes()
    viewing_key = ks._viewing_key
    net.stop()
    copy = tmp_path / "stolen"
    shutil.copytree(data, copy)

    # the attack of the issue works with the keys: the block log decrypts to the share …
    blocks = []
    db = sqlite3.connect(copy / "node-0" / "chain.db")
    for (raw,) in db.execute("SELECT block FROM blocks ORDER BY height"):
        block = codec.loads(bytes(raw))
        if block["kind"] == "execute":
            wire = crypto.SecretMessage.from_bytes(block["tx"]["msg"])
            blocks.append(wire.decrypt(wire.encryption_key(keys.io_private)).msg)
    db.close()
    share_b64 = base64.b64encode(shares[0].to_bytes())
    assert any(share_b64 in b for b in blocks)
    # … but no file of the copy holds any of them: no fuse key, no authority key, no seed, no share,
    # no presignature or nonce, no viewing key
    assert not (copy / "hardware").exists() and not (copy / "authority").exists()
    secrets = [*keys.seeds, *fuse_keys, authority_key, shares[0].to_bytes(), presig, nonce, viewing_key.encode()]
    for path, content in files(copy):
        for secret in secrets:
            for form in forms(secret):
                assert form not in content, (path, secret[:4])
    # every 32-byte file or prefix, and every file's hash, tried as a fuse key: no sealed blob opens
    candidates = {content[:32] for _, content in files(copy)} | {hashlib.sha256(c).digest() for _, c in files(copy)}
    for node in ("node-0", "node-1", "node-2"):
        blob = (copy / node / "enclave.sealed").read_bytes()
        for fuse in candidates:
            with pytest.raises(SealingError):
                Enclave.unseal(fuse.ljust(32, b"\0"), blob)
    # and the network does not open without the secret, nor with another
    with pytest.raises(NetworkError, match="needs the owner's sealing secret"):
        LocalSecretNetwork.start(nodes=3, data_dir=copy)
    with pytest.raises(NetworkError, match="does not open the network"):
        LocalSecretNetwork.start(nodes=3, data_dir=copy, secret="a guess at the guardian's secret")


def test_the_owners_secret_is_what_opens_it(data: Path, shares: list[KeyShare]) -> None:
    net = start(data)
    EnclaveKeystore.open(net, sender=GUARDIAN).store_pending("v", shares[1], owner=pin_of())
    net.stop()
    net = start(data)
    try:
        assert held(EnclaveKeystore.open(net, sender=GUARDIAN), "v", 0).to_bytes() == shares[1].to_bytes()
    finally:
        net.stop()


# --- 2. code is identity -----------------------------------------------------------------------------------
def _sources(modules: tuple[str, ...]) -> bytes:
    """The module sources, read here independently of :mod:`gridlock.enclave.measure`."""
    out = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        out.append([name, Path(spec.origin).read_bytes()])
    return codec.dumps(["gridlock/enclave/code/v1", out])


def test_code_hash_and_measurement_are_hashes_of_the_source(data: Path) -> None:
    assert hashlib.sha256(_sources(CONTRACT_MODULES)).hexdigest() == CUSTODY_CODE_HASH
    assert hashlib.sha256(_sources(ENCLAVE_MODULES)).digest() == ENCLAVE_MEASUREMENT
    assert "gridlock.enclave.contract" in CONTRACT_MODULES and "gridlock.enclave.enclave" in ENCLAVE_MODULES
    assert running_contract_hash() == CUSTODY_CODE_HASH and enclave_measurement() == ENCLAVE_MEASUREMENT
    net = start(data)
    try:
        assert net.custody_code_hash == CUSTODY_CODE_HASH
        assert all(n.enclave.measurement == ENCLAVE_MEASUREMENT for n in net.nodes)
    finally:
        net.stop()


@pytest.mark.parametrize(
    ("target", "attr"),
    [
        ("gridlock.enclave.contract.CustodyContract", "_query"),  # a method
        ("gridlock.enclave.contract_msg", "parse"),  # a module function
        ("gridlock.guardian.store.rules", "take"),  # the shared rules the contract decides with
        ("gridlock.enclave.contract_owner", "authorize"),  # the owner's approval, checked in the contract
        ("gridlock.wire.approval", "valid_approvals"),  # … with the guardians' own check
        ("gridlock.enclave.custody_state.CustodyState", "check_viewing_key"),
        ("gridlock.enclave.contract_keychange", "deal"),  # reshare and repair inside the contract
        ("gridlock.protocol.custody", "context"),  # … what their sealed values are bound to
        ("gridlock.wire.identity.PublicIdentity", "from_bytes"),  # … and the identities they are sealed to
    ],
)
def test_any_patched_contract_code_changes_the_code_hash(target: str, attr: str) -> None:
    with mock.patch(f"{target}.{attr}"):  # a mock: not code at all
        assert running_contract_hash() != CUSTODY_CODE_HASH
    with mock.patch(f"{target}.{attr}", new=lambda *a, **k: None):  # other code
        assert running_contract_hash() != CUSTODY_CODE_HASH
    assert running_contract_hash() == CUSTODY_CODE_HASH


def test_a_function_whose_code_is_swapped_changes_the_code_hash() -> None:
    """The same function object with other code in it (``__code__`` reassigned): a measurement after
    a clean one checks more than which objects are bound."""
    assert running_contract_hash() == CUSTODY_CODE_HASH
    fn = contract_keychange._indices
    original = fn.__code__
    fn.__code__ = (lambda members, ids, what: sorted(members)).__code__
    try:
        assert running_contract_hash() != CUSTODY_CODE_HASH
    finally:
        fn.__code__ = original
    assert running_contract_hash() == CUSTODY_CODE_HASH


def test_a_method_added_to_the_contract_changes_the_code_hash() -> None:
    with mock.patch.object(CustodyContract, "_x_backdoor", create=True, new=lambda self, *a: {}):
        assert running_contract_hash() != CUSTODY_CODE_HASH
    with mock.patch.object(Enclave, "export_seeds", create=True, new=lambda self: b""):
        assert enclave_measurement() != ENCLAVE_MEASUREMENT
    assert enclave_measurement() == ENCLAVE_MEASUREMENT


def backdoor(self: CustodyContract, storage: object, msg: bytes) -> bytes:
    return b'{"share": "anyone\'s"}'  # the viewing-key backdoor


def test_a_patched_contract_is_refused(
    data: Path, shares: list[KeyShare], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    net = start(data)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[2], owner=pin_of())
    monkeypatch.setattr(CustodyContract, "_query", backdoor)
    assert running_contract_hash() != CUSTODY_CODE_HASH
    with pytest.raises(StorageError, match="does not match its code hash"):  # the running enclave will not run it
        ks.share("v", 0)
    net.stop()
    with pytest.raises(NetworkError, match="refused: the custody contract code"):  # resume: refused
        start(data)
    with pytest.raises(NetworkError, match="refused: the custody contract code"):  # and the guardian's store
        open_store_at(data.parent, "enclave", SECRET)
    monkeypatch.undo()
    net = start(data)
    try:
        assert held(EnclaveKeystore.open(net, sender=GUARDIAN), "v", 0).to_bytes() == shares[2].to_bytes()
    finally:
        net.stop()


def test_the_guardian_refuses_a_contract_not_pinned(data: Path) -> None:
    net = start(data)
    try:
        with pytest.raises(UntrustedContract):
            EnclaveKeystore.open(net, sender=GUARDIAN, code_hash="ab" * 32)
        EnclaveKeystore.open(net, sender=GUARDIAN, code_hash=CUSTODY_CODE_HASH).close()
    finally:
        net.stop()


def test_the_enclave_guardian_store_pins_the_code_hash(data: Path) -> None:
    with pytest.raises(UntrustedContract):
        open_network_store(data, "enclave", SECRET, code_hash="cd" * 32)
    store = open_network_store(data, "enclave", SECRET)  # the network was stopped and resumes cleanly
    store.close()


def test_code_swapped_on_chain_is_not_run(data: Path, shares: list[KeyShare]) -> None:
    net = start(data)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[0], owner=pin_of())
    for node in net.nodes:  # every host puts a modified contract in place of the stored one
        (code,) = node.db.execute("SELECT code FROM codes").fetchone()
        node.db.execute("UPDATE codes SET code = ?", (bytes(code).replace(b"check_viewing_key", b"skip_viewing_key"),))
    try:
        with pytest.raises(StorageError, match="failed to find the contract code"):
            ks.share("v", 0)
    finally:
        net.stop()


def test_a_patched_enclave_is_refused_the_seed(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = start(data)
    names = [n.name for n in net.nodes]
    monkeypatch.setattr(Enclave, "seal", lambda self: b"leaked")  # an enclave that exports its seeds
    assert enclave_measurement() != ENCLAVE_MEASUREMENT
    with pytest.raises(RegistrationRefused, match="measurement"):  # a new node running it: no seed
        net.add_node()
    net.stop()
    with pytest.raises(NetworkError, match="refused: the enclave code"):
        start(data)
    for name in names:  # and even asked directly, its sealed seeds do not open for it
        with pytest.raises(SealingError):
            Enclave.unseal(net._platform.fuse_key(name), (data / name / "enclave.sealed").read_bytes())


# --- 3. no rollback ---------------------------------------------------------------------------------------------
def test_take_restore_take_again_is_refused(data: Path, tmp_path: Path, shares: list[KeyShare]) -> None:
    net = start(data)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    ks.store_pending("v", shares[0], owner=pin_of())
    ks.activate("v", 0)
    ks.add_presignatures("v", 0, [(b"a" * 16, b"presignature a"), (b"b" * 16, b"presignature b")])
    ks.add_nonces("v", 0, [(b"c" * 16, b"nonce c")])
    net.stop()
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)  # the network's data directory; the counter is beside it

    net = start(data)
    ks = EnclaveKeystore.open(net, sender=GUARDIAN)
    assert ks.take_presignature("v", 0, b"a" * 16) == b"presignature a"  # take
    net.stop()
    shutil.rmtree(data)
    shutil.copytree(backup, data)  # restore

    with pytest.raises(RollbackDetected, match="restored backup"):
        start(data)
    net = start(data, accept_rollback=True)  # continue, with everything from before the restore burned
    try:
        ks = EnclaveKeystore.open(net, sender=GUARDIAN)
        with pytest.raises(AlreadyUsed):  # take again: refused
            ks.take_presignature("v", 0, b"a" * 16)
        with pytest.raises(AlreadyUsed):  # never taken, but it might have been after the backup
            ks.take_presignature("v", 0, b"b" * 16)
        with pytest.raises(AlreadyUsed):
            ks.take_nonce("v", 0, b"c" * 16)
        assert ks.count_unused("v", 0) == 0 and ks.unused_ids("v", 0, "nonce") == []
        ks.add_presignatures("v", 0, [(b"d" * 16, b"presignature d")])  # new ones work
        assert ks.take_presignature("v", 0, b"d" * 16) == b"presignature d"
        assert held(ks, "v", 0).to_bytes() == shares[0].to_bytes()  # the shares are kept
    finally:
        net.stop()
    start(data).stop()  # the counter moved on: no rollback any more


def test_a_missing_or_foreign_counter_is_a_rollback(data: Path, tmp_path: Path) -> None:
    start(data).stop()
    counter = data.with_name(data.name + ".generation")
    saved = counter.read_bytes()
    counter.unlink()
    with pytest.raises(RollbackDetected, match="counter is missing"):
        start(data)
    other = tmp_path / "other" / "secret-network"
    start(other).stop()
    counter.write_bytes(other.with_name(other.name + ".generation").read_bytes())
    with pytest.raises(RollbackDetected, match="unusable"):
        start(data)
    counter.write_bytes(saved)
    start(data).stop()


def test_a_temporary_network_needs_no_secret() -> None:
    net = LocalSecretNetwork.start(nodes=1)
    try:
        assert net.custody_code_hash == CUSTODY_CODE_HASH
        with pytest.raises(ContractError):
            net.query(net.custody_address, b"\0" * 80)
    finally:
        net.stop()
        shutil.rmtree(net.data_dir, ignore_errors=True)
