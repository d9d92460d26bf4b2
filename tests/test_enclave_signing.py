"""Issue 17 #4: the enclave guardian signs FROST inside the custody contract.

* With the enclave guardian among the signers, a signature of each FROST scheme (RFC 9591
  ed25519 and secp256k1, BIP-340 Taproot; at the master key and at a BIP32 child) verifies, while
  nothing the guardian's store hands its process — every decrypted contract answer — holds the
  share's secret or the nonces the contract made (the Done-when of the issue).
* The contract refuses a nonce reuse: a second ``frost_sign`` with the same nonces, after
  ``frost_discard``, after a restored backup; and a nonce the guardian host plants itself.
* Refresh keeps the key with the enclave guardian, which signs again afterwards.
* Reshare and repair run in the contract too (it deals, receives, helps, is rebuilt), and no
  contract answer holds the share of any epoch; an enclave guardian whose identity has no custody
  key takes part in none.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from enclave_owner import OWNER, held, pin_of, reveal
from gridlock import local
from gridlock.client import OperationFailed
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import frost, hd
from gridlock.crypto import reshare as rs
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.crypto.sealed import SealedShare, SealedShareError, seal
from gridlock.devnet import EmbeddedCluster, GuardianSpec
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.address import human
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.enclave.signer import ContractShares, ContractSigner
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.guardian.shares import LocalShares
from gridlock.guardian.store import AlreadyUsed, BadArgument, NotFound
from gridlock.protocol.frost import FrostSignParty
from gridlock.protocol.runner import run
from gridlock.wire import Identity

SECRET = "test sealing secret of the owner"
NAMES = ["device", "enclave", "cloud", "watch", "friend"]
ACCOUNT = human(hashlib.sha256(b"gridlock enclave signing test").digest()[:20])
FROST_SCHEMES = ["frost-ed25519", "frost-secp256k1", "frost-taproot"]
LOCAL = LocalShares()


def b64_or_none(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class WatchedKeystore(EnclaveKeystore):
    """The enclave guardian's store, recording everything the contract hands the guardian process:
    every decrypted answer (queries and executes) and the name of every execute."""

    answers: list[dict[str, Any]]
    executes: list[str]

    def _decode(self, ciphertext: bytes, nonce: bytes) -> dict[str, Any]:
        value = super()._decode(ciphertext, nonce)
        self.__dict__.setdefault("answers", []).append(value)
        return value

    def _execute(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.__dict__.setdefault("executes", []).extend(msg)
        return super()._execute(msg)

    def received_bytes(self) -> Iterator[bytes]:
        """Every byte string in the answers: the JSON text, each string, and each base64 one decoded."""

        def walk(v: object) -> Iterator[bytes]:
            if isinstance(v, dict):
                for x in v.values():
                    yield from walk(x)
            elif isinstance(v, list):
                for x in v:
                    yield from walk(x)
            elif isinstance(v, str):
                yield v.encode()
                raw = b64_or_none(v)
                if raw is not None:
                    yield raw

        for answer in self.__dict__.get("answers", []):
            yield json.dumps(answer).encode()
            yield from walk(answer)


async def start_with_enclave(
    path: Path, net: LocalSecretNetwork, identity: Identity | None = None, **kw: Any
) -> tuple[EmbeddedCluster, WatchedKeystore]:
    """A cluster of :data:`NAMES` whose guardian "enclave" keeps its identity (with the contract's
    custody key in it) and its shares in ``net``'s custody contract, behind a store that records
    every answer it gets from the contract.  ``identity``: the one it already has (none: it makes
    one, with the custody key)."""
    seated: list[WatchedKeystore] = []

    def stores(spec: GuardianSpec, data_dir: Path, secret: str) -> WatchedKeystore | None:
        if spec.name != "enclave":
            return None
        data_dir.mkdir(parents=True, exist_ok=True)
        seated.append(WatchedKeystore.open(net, sender=ACCOUNT))
        if identity is not None:
            seated[-1].put_identity(identity.to_bytes())
        return seated[-1]

    c = await EmbeddedCluster.start(path, NAMES, stores=stores, **kw)
    if identity is None:
        assert c.guardians[1].identity.public.custody_key == seated[0].custody_key()
    return c, seated[0]


def forms(secret: bytes) -> list[bytes]:
    return [secret, secret[::-1], secret.hex().encode(), secret[::-1].hex().encode()]


def look(ks: EnclaveKeystore, vault_id: str, epoch: int, owner: OwnerDevice = OWNER) -> bytes:
    """The test's own look at the share the contract keeps (its secret scalar): the owner's export,
    opened with the owner's device key."""
    return reveal(ks, vault_id, epoch, owner)


def assert_never_received(ks: WatchedKeystore, secrets_: list[bytes]) -> None:
    seen = list(ks.received_bytes())
    assert seen  # the recorder saw the contract's answers
    for s in secrets_:
        for form in forms(s):
            assert not any(form in blob for blob in seen)


@pytest.fixture
def made_nonces(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The nonces the contract makes (it passes its enclave randomness to ``frost.commit``; a signer
    in a guardian's own process passes none).  ``gridlock.crypto.frost`` is not part of the contract
    code, so watching it leaves the contract's code hash as it is."""
    made: list[tuple[int, int]] = []
    real_commit = frost.commit

    def commit(suite: Any, share: KeyShare, **kw: Any) -> frost.SigningNonces:
        nonces = real_commit(suite, share, **kw)
        if kw.get("hiding_randomness") is not None:
            made.append((nonces._hiding or 0, nonces._binding or 0))
        return nonces

    monkeypatch.setattr(frost, "commit", commit)
    return made


# --- the Done-when: a signature with the enclave guardian, its share and nonces never in its process ---
@pytest.mark.parametrize("scheme", FROST_SCHEMES)
def test_enclave_guardian_signs_without_holding_share_or_nonces(
    tmp_path: Path, scheme: str, made_nonces: list[tuple[int, int]]
) -> None:
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "secret", secret=SECRET)

    async def main() -> None:
        c, eks = await start_with_enclave(tmp_path / "guardians", net, session_timeout=20.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault(scheme, c.ids, threshold=3, password=c.password)
            # the share was made by the DKG (in the guardian's process: issue 17 #4 is about using it)
            # and stored in the contract.  The test's own look at it, then a clean record from here on
            secrets_ = [look(eks, vault.vault_id, 0, c.client.owner)]
            eks.__dict__["answers"] = []
            eks.__dict__["executes"] = []

            with_enclave = [c.ids[0], c.ids[1], c.ids[2]]
            for path in ("m", "m/0/7"):
                m = os.urandom(32)
                sig = await vault.sign(m, signers=with_enclave, path=path)
                assert local.verify(scheme, vault.key_at(path), m, sig)
            assert await vault.refresh() == 1  # refresh: the sub-shares are added to the share in the contract
            m = os.urandom(32)
            assert local.verify(scheme, vault.public_key, m, await vault.sign(m, signers=with_enclave))

            # what the guardian process got from its store: sealed views, commitments, signature shares
            seen = eks.active_share(vault.vault_id)
            assert isinstance(seen, SealedShare) and seen.epoch == 1
            with pytest.raises(SealedShareError):
                _ = seen.secret
            assert "release_share" not in eks.executes
            assert {"frost_commit", "frost_sign", "refresh_share"} <= set(eks.executes)
            before = list(eks.answers)
            secrets_.append(look(eks, vault.vault_id, 1, c.client.owner))
            mine = seen.verifying_shares[seen.index].encode()  # the recorder sees what the answers carry
            assert any(mine in blob for blob in eks.received_bytes())
            eks.__dict__["answers"] = before
            # one pair per signature, made by each of the 3 enclave nodes alike (env.block.random is consensus)
            assert len(set(made_nonces)) == 3 and len(made_nonces) == 9
            g_ = seen.scheme_obj.group
            nonce_bytes = [g_.scalar_to_bytes(x) for pair in set(made_nonces) for x in pair]
            assert_never_received(eks, [*secrets_, *nonce_bytes])
        finally:
            await c.close()

    try:
        asyncio.run(main())
    finally:
        net.stop()


# --- the contract's signer, against local signers; nonce reuse refused -----------------------------------
def start(data: Path, **kw: Any) -> LocalSecretNetwork:
    return LocalSecretNetwork.start(nodes=3, data_dir=data, secret=SECRET, **kw)


def store(net: LocalSecretNetwork, share: KeyShare) -> EnclaveKeystore:
    ks = EnclaveKeystore.open(net, sender=ACCOUNT)
    ks.store_pending("v", share, owner=pin_of(OWNER))
    ks.activate("v", 0)
    return ks


def sign_with_contract(ks: EnclaveKeystore, shares: list[KeyShare], message: bytes, path: str) -> bytes:
    """Shares[0] signs in the contract, the others locally, all as :class:`FrostSignParty` peers."""
    sid = os.urandom(32)
    key = ks.public_share("v", 0, path)
    signers = [s.index for s in shares]
    parties = {key.index: FrostSignParty(key, sid, signers, message, signer=ContractSigner(ks, "v", key, path, sid))}
    for s in shares[1:]:
        parties[s.index] = FrostSignParty(hd.derive(s, path), sid, signers, message)
    sigs = set(run(parties).values())
    assert len(sigs) == 1
    return sigs.pop()


@pytest.mark.parametrize("scheme", FROST_SCHEMES)
def test_contract_signature_share_combines_with_local_ones(tmp_path: Path, scheme: str) -> None:
    shares = local.keygen(scheme, threshold=2, n=3)
    net = start(tmp_path / "net")
    try:
        ks = store(net, shares[0])
        for path in ("m", "m/1/2"):
            m = os.urandom(32)
            sig = sign_with_contract(ks, shares[:2], m, path)
            assert local.verify(scheme, hd.derive(shares[0], path).public_key, m, sig)
        assert ks.public_share("v", 0, "m/1/2").same_public_data(hd.derive(shares[0], "m/1/2"))
    finally:
        net.stop()


@pytest.fixture
def contract_key(tmp_path: Path) -> Iterator[tuple[EnclaveKeystore, list[KeyShare]]]:
    shares = local.keygen("frost-secp256k1", threshold=2, n=3)
    net = start(tmp_path / "net")
    try:
        yield store(net, shares[0]), shares
    finally:
        net.stop()


def package_for(ks: EnclaveKeystore, shares: list[KeyShare]) -> tuple[bytes, list[bytes]]:
    """Nonces from the contract for share 1 and a local commitment of share 2: (nonce id, commitments)."""
    nonce_id, mine = ks.frost_commit("v", 0, "m", b"session")
    other = frost.commit(get_frost_suite(shares[1].scheme), shares[1]).commitments.to_bytes()
    return nonce_id, [mine, other]


def test_the_contract_signs_once_with_its_nonces(contract_key: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = contract_key
    nonce_id, comms = package_for(ks, shares)
    z = ks.frost_sign("v", 0, nonce_id, "m", b"m1", comms)
    assert len(z) == 32
    # the attack: the same nonces over another message would give z' with z - z' revealing the share
    with pytest.raises(NotFound, match="used, discarded or never made"):  # used nonces leave no record
        ks.frost_sign("v", 0, nonce_id, "m", b"m2", comms)
    with pytest.raises(NotFound):
        ks.frost_sign("v", 0, nonce_id, "m", b"m1", comms)


def test_discarded_nonces_never_sign(contract_key: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = contract_key
    nonce_id, comms = package_for(ks, shares)
    ks.frost_discard("v", 0, nonce_id)
    with pytest.raises(NotFound):
        ks.frost_sign("v", 0, nonce_id, "m", b"m", comms)


def test_a_nonce_the_host_planted_is_not_the_contracts(contract_key: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """A guardian host that stores nonces it knows (an ordinary ``nonce`` item) and asks the contract
    to sign with them would solve ``z = d + e·ρ + λ·s·c`` for the share: the contract signs only
    with nonces it made itself, a kind of item no execute can write."""
    ks, shares = contract_key
    suite = get_frost_suite(shares[0].scheme)
    known = frost.commit(suite, shares[0])
    planted = b"p" * 32
    ks.add_nonces("v", 0, [(planted, known.commitments.to_bytes())])
    other = frost.commit(suite, shares[1]).commitments.to_bytes()
    with pytest.raises(NotFound):
        ks.frost_sign("v", 0, planted, "m", b"m", [known.commitments.to_bytes(), other])
    with pytest.raises(BadArgument):  # nor can the contract's own kind be written or taken
        ks._execute({"add_items": {"vault_id": "v", "epoch": 0, "kind": "contract-nonce", "items": [["cA==", "cA=="]]}})


def test_nonces_are_bound_to_their_key_path(contract_key: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = contract_key
    nonce_id, _ = ks.frost_commit("v", 0, "m/1", b"session")
    child = hd.derive(shares[1], "m/1")
    mine = ks.frost_commit("v", 0, "m/1", b"other")  # (a second pair: fresh nonces each call)
    assert mine[0] != nonce_id
    other = frost.commit(get_frost_suite(child.scheme), child).commitments.to_bytes()
    with pytest.raises(BadArgument):
        ks.frost_sign("v", 0, mine[0], "m", b"m", [mine[1], other])
    with pytest.raises(BadArgument):  # a package without this signer's commitment is refused
        ks.frost_sign("v", 0, mine[0], "m/1", b"m", [other])


def test_restored_backup_burns_the_contracts_nonces(tmp_path: Path) -> None:
    shares = local.keygen("frost-ed25519", threshold=2, n=3)
    data = tmp_path / "guardian" / "secret-network"
    net = start(data)
    ks = store(net, shares[0])
    used_id, comms = package_for(ks, shares)
    kept_id, kept = package_for(ks, shares)
    net.stop()
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)

    net = start(data)
    ks = EnclaveKeystore.open(net, sender=ACCOUNT)
    ks.frost_sign("v", 0, used_id, "m", b"m", comms)  # used after the backup was taken
    net.stop()
    shutil.rmtree(data)
    shutil.copytree(backup, data)  # restore: the nonces look unused again

    net = start(data, accept_rollback=True)
    try:
        ks = EnclaveKeystore.open(net, sender=ACCOUNT)
        with pytest.raises(AlreadyUsed):  # used again after the restore: refused
            ks.frost_sign("v", 0, used_id, "m", b"other message", comms)
        with pytest.raises(AlreadyUsed):  # never used, but it might have been after the backup
            ks.frost_sign("v", 0, kept_id, "m", b"m", kept)
        fresh_id, fresh = package_for(ks, shares)  # new nonces work
        assert len(ks.frost_sign("v", 0, fresh_id, "m", b"m", fresh)) == 32
    finally:
        net.stop()


def test_refresh_combines_in_the_contract_and_checks_every_sub_share(
    contract_key: tuple[EnclaveKeystore, list[KeyShare]],
) -> None:
    ks, shares = contract_key
    ids = list(shares[0].participants)
    dealings = {s.index: rs.deal(s, ids, s.threshold, refresh=True) for s in shares}
    g = shares[0].scheme_obj.group
    th = os.urandom(32)
    sent = {
        d: ([p.encode() for p in dl.commitment], g.scalar_to_bytes(dl.polynomial(shares[0].index)))
        for d, dl in dealings.items()
    }
    # a dealer's sub-share that does not match its commitment: named, nothing staged
    bad = dict(sent)
    bad[2] = (sent[2][0], g.scalar_to_bytes((dealings[2].polynomial(1) + 1) % g.order))
    with pytest.raises(BadArgument, match=r"(?i)feldman"):
        ks.refresh_share("v", 0, bad, th)
    with pytest.raises(BadArgument):  # a refresh without every holder's dealing
        ks.refresh_share("v", 0, {d: sent[d] for d in (1, 2)}, th)

    view = ks.refresh_share("v", 0, sent, th)
    package = rs.PublicPackage.of(shares[0])
    full = {
        d: rs.full_commitment(shares[0].scheme_obj, package, d, ids, dl.commitment, refresh=True)
        for d, dl in dealings.items()
    }
    subs = {d: dl.polynomial(shares[0].index) for d, dl in dealings.items()}
    expected = rs.finalize(
        shares[0].scheme_obj, package, 1, 2, ids, full, subs, th, old_secret=shares[0].secret
    )  # what the holder would compute with its share in hand
    assert isinstance(view, SealedShare) and view.same_public_data(expected)
    ks.store_pending("v", view)  # the staged share becomes the pending epoch, in the contract
    ks.activate("v", 1)
    assert held(ks, "v", 1).to_bytes() == expected.to_bytes()


def test_a_stopped_or_refused_run_burns_the_contracts_nonces(
    contract_key: tuple[EnclaveKeystore, list[KeyShare]],
) -> None:
    ks, shares = contract_key
    suite = get_frost_suite(shares[0].scheme)
    key = ks.public_share("v", 0, "m")
    stopped = ContractSigner(ks, "v", key, "m", b"sid")
    mine = stopped.commit()
    stopped.burn()  # the run aborted after round 1 (FrostSignParty burns its signer's nonces)
    other = frost.commit(suite, shares[1]).commitments
    with pytest.raises(NotFound):
        stopped.store.frost_sign("v", 0, stopped._nonce_id or b"", "m", b"m", [mine.to_bytes(), other.to_bytes()])

    refused = ContractSigner(ks, "v", key, "m", b"sid2")
    refused.commit()
    third = frost.commit(suite, shares[2]).commitments
    with pytest.raises(BadArgument):  # a package without this signer's commitment: nothing signed
        refused.sign(frost.SigningPackage.build([other, third], b"m"))
    with pytest.raises(NotFound):  # ... and its nonces are gone all the same
        ks.frost_sign("v", 0, refused._nonce_id or b"", "m", b"m", [refused.commit().to_bytes(), other.to_bytes()])


@pytest.mark.parametrize("scheme", FROST_SCHEMES)
def test_a_sealed_share_gives_up_no_secret(scheme: str) -> None:
    share = local.keygen(scheme, threshold=2, n=3)[0]
    view = SealedShare.of(share)
    assert view.same_public_data(share) and view.public_key == share.public_key
    if scheme != "frost-ed25519":  # public derivations work
        assert view.xpub() == share.xpub()
    for use in (
        lambda: view.secret,
        view.to_bytes,
        lambda: hd.derive(view, "m/1"),  # a child share needs the secret: the contract derives it
        lambda: dataclasses.replace(view, epoch=1),
        lambda: seal(view),
    ):
        with pytest.raises(SealedShareError):
            use()
    with pytest.raises(DecodeError):  # the wire form is never taken for a usable share
        KeyShare.from_bytes(seal(share))
    with pytest.raises(DecodeError):  # nor a share for a sealed view
        SealedShare.from_sealed(share.to_bytes())
    secret = share.scheme_obj.group.scalar_to_bytes(share.secret)
    assert not any(f in seal(share) for f in forms(secret)) and str(share.secret) not in repr(view)


def test_reshare_and_repair_run_in_the_contract_and_the_share_never_reaches_the_process(tmp_path: Path) -> None:
    """Issue 17 #4: a reshare (the enclave guardian deals and receives), a repair it helps with and
    a repair of its own share run their arithmetic in the custody contract.  Every answer the
    contract hands the guardian process is recorded: none holds the share of any epoch (read by the
    test through the owner's export at the end), and no execute hands a share out."""
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "secret", secret=SECRET)

    async def main() -> None:
        c, eks = await start_with_enclave(tmp_path / "guardians", net, session_timeout=20.0)
        try:
            assert c.client is not None
            vault = await c.client.create_vault("frost-ed25519", c.ids[:4], threshold=3, password=c.password)
            eks.__dict__["answers"] = []  # the DKG made the share in the process; from here on it stays put
            with_enclave = [c.ids[0], c.ids[1], c.ids[2]]
            secrets_: list[bytes] = []

            async def signs_and_fits(signers: list[str]) -> None:
                view = eks.active_share(vault.vault_id)
                m = os.urandom(32)
                assert local.verify("frost-ed25519", vault.public_key, m, await vault.sign(m, signers=signers))
                secret = look(eks, vault.vault_id, view.epoch, c.owner)  # read through the owner's export
                group = view.scheme_obj.group
                assert group.base_mul(group.decode_scalar(secret)) == view.verifying_shares[view.index]
                secrets_.append(secret)

            epoch = await vault.reshare(c.ids, threshold=3, password=c.password)  # add "friend"
            assert eks.active_share(vault.vault_id).epoch == epoch
            await signs_and_fits(with_enclave)
            c.guardians[3].keystore.delete_vault(vault.vault_id)  # "watch" lost its share; the enclave helps
            epoch = await vault.repair(c.ids[3], helpers=with_enclave, password=c.password)
            assert eks.active_share(vault.vault_id).epoch == epoch
            await signs_and_fits(c.ids[1:4])
            # the enclave guardian loses its share; three others rebuild it into its contract
            eks.delete_vault(vault.vault_id)
            epoch = await vault.repair(c.ids[1], helpers=[c.ids[0], c.ids[2], c.ids[3]], password=c.password)
            view = eks.active_share(vault.vault_id)
            assert isinstance(view, SealedShare) and view.epoch == epoch
            await signs_and_fits(with_enclave)
            assert len(set(secrets_)) == 3
            assert_never_received(eks, secrets_)
            assert {"reshare_deal", "reshare_combine", "repair_split", "repair_sum", "repair_rebuild"} <= set(
                eks.executes
            )
        finally:
            await c.close()

    try:
        asyncio.run(main())
    finally:
        net.stop()


def test_an_enclave_guardian_without_a_custody_key_takes_no_part_in_a_key_change(tmp_path: Path) -> None:
    """An enclave guardian whose identity predates custody keys: what other guardians send it would
    come in the clear (nothing to seal it to), so it refuses a reshare that would make it a holder,
    and the owner's reshare fails instead of putting a share in its host's view."""
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "secret", secret=SECRET)

    async def main() -> None:
        old = Identity.generate(name="enclave")
        c, eks = await start_with_enclave(tmp_path / "guardians", net, identity=old, session_timeout=20.0)
        try:
            assert c.client is not None and c.guardians[1].identity.public.custody_key is None
            vault = await c.client.create_vault(
                "frost-ed25519", [c.ids[0], c.ids[2], c.ids[3]], threshold=2, password=c.password
            )
            with pytest.raises(OperationFailed, match="custody key"):
                await vault.reshare(c.ids[:4], threshold=3, password=c.password)  # add "enclave"
            assert "reshare_combine" not in eks.__dict__.get("executes", [])
            assert eks.vaults() == []
        finally:
            await c.close()

    try:
        asyncio.run(main())
    finally:
        net.stop()


def test_a_path_the_contract_cannot_derive_is_refused_as_locally(
    contract_key: tuple[EnclaveKeystore, list[KeyShare]],
) -> None:
    ks, shares = contract_key
    backend = ContractShares(ks)
    view = ks.active_share("v")
    assert backend.key_at("v", view, "m/4/2").same_public_data(LOCAL.key_at("v", shares[0], "m/4/2"))
    for bad in ("m/1'", "m/x"):
        with pytest.raises(InvalidParameterError):
            LOCAL.key_at("v", shares[0], bad)
        with pytest.raises(InvalidParameterError):
            backend.key_at("v", view, bad)
