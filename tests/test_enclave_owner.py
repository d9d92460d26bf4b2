"""Issue 17 #4, SECURITY row 38: the enclave guardian's host cannot take a FROST share out of the
custody contract on its own.

The host holds the contract account that owns the vault (every execute is signed with it) and
the viewing key, so it can send the contract anything.  What it does not hold are the owner's
device keys: the contract gives a share out (``release_share``, for a reshare, a repair or an
export) only on the owner's approval of such a request, checked against the owner pinned when the
vault was created (:mod:`gridlock.enclave.contract_owner`), and it follows the owner's device
recovery and password change with checks of its own.  Each attack below is what a compromised
host would try; each is refused.  The last test runs the guardians' own flow (export, password
change, device recovery, reshare) with the enclave guardian among them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from enclave_owner import OWNER, VERIFIER, approved, pin_of, release
from gridlock import local
from gridlock.client import Client, OperationFailed, Vault, recovery_finish, recovery_start
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import device_seal
from gridlock.crypto import reshare as rs
from gridlock.crypto.keyshare import KeyShare
from gridlock.devnet import EmbeddedCluster
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.errors import RateLimited, TimeLocked, Unauthorized, WrongPassword
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.errors import DecodeError
from gridlock.guardian.shares import Approved
from gridlock.guardian.store import BadArgument, NotFound, StorageError
from gridlock.wire.approval import subject_bytes
from test_enclave_signing import NAMES, SECRET, WatchedKeystore, seat_in_contract
from test_password_change import _close, _new_phone

SCHEME = "frost-ed25519"
HOST = OwnerDevice()  # a device key the compromised host made for itself
NEW_PHONE = OwnerDevice()
DELAY = 2  # the pinned recovery time lock, seconds (block time)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[EnclaveKeystore, KeyShare]]:
    """The guardian host's view: its store (account and viewing key) holding vault "v", whose
    owner (:data:`enclave_owner.OWNER`) was pinned when the vault was created."""
    share = local.keygen(SCHEME, threshold=2, n=3)[0]
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        ks = EnclaveKeystore.open(net, sender="secret1" + "q" * 38)
        ks.store_pending("v", share, owner=pin_of(recovery_delay=DELAY))
        ks.activate("v", 0)
        yield ks, share
    finally:
        net.stop()


def test_the_host_alone_cannot_take_the_share_out(host: tuple[EnclaveKeystore, KeyShare]) -> None:
    ks, share = host
    with pytest.raises(Unauthorized, match="unregistered device"):  # approved by a key of its own
        ks.release_share("v", 0, approved(HOST, "v", SCHEME))
    with pytest.raises(Unauthorized, match="does not allow"):  # the owner's approval of a signature
        ks.release_share("v", 0, approved(OWNER, "v", SCHEME, op="sign"))
    other_vault = approved(OWNER, "w", SCHEME)  # the owner's export of another vault
    with pytest.raises(Unauthorized, match="signature does not match"):
        ks.release_share("v", 0, other_vault)
    forged = approved(OWNER, "v", SCHEME)  # a genuine approval, its subject swapped
    with pytest.raises(Unauthorized, match="signature does not match"):
        ks.release_share("v", 0, Approved(forged.op, subject_bytes({"vault": "v"}), forged.nonce, forged.approvals))

    # the owner in the vault's metadata is the host's to write; the contract does not read it
    ks.set_metadata("v", {"owner": {"devices": [HOST.public.hex()], "required": 1}})
    with pytest.raises(Unauthorized, match="unregistered device"):
        ks.release_share("v", 0, approved(HOST, "v", SCHEME))
    with pytest.raises(BadArgument, match="pinned when the vault is created"):  # nor can it pin again
        ks.store_pending("v", share, owner=pin_of(HOST))

    # the owner's approval of a reshare releases it, once: the same approval again is a replay
    reshare = approved(OWNER, "v", SCHEME)
    assert ks.release_share("v", 0, reshare).to_bytes() == share.to_bytes()
    with pytest.raises(Unauthorized, match="replayed"):
        ks.release_share("v", 0, reshare)


def test_an_export_reaches_the_owner_sealed_past_the_host(host: tuple[EnclaveKeystore, KeyShare]) -> None:
    """The owner's export approval does not release the share to the host: the contract seals it
    to the approving device, and only that device opens it."""
    ks, share = host
    export = approved(OWNER, "v", SCHEME, op="export")
    with pytest.raises(Unauthorized, match="does not allow"):
        ks.release_share("v", 0, export)
    index, sealed = ks.export_share("v", 0, approved(OWNER, "v", SCHEME, op="export"))
    scalar = share.scheme_obj.group.scalar_to_bytes(share.secret)
    assert index == share.index and list(sealed) == [OWNER.public]
    assert scalar not in sealed[OWNER.public]
    context = device_seal.export_context("v", index, OWNER.public)
    assert OWNER.open_sealed(sealed[OWNER.public], context) == scalar
    with pytest.raises(DecodeError):  # not the host's to open
        HOST.open_sealed(sealed[OWNER.public], context)
    with pytest.raises(Unauthorized, match="unregistered device"):  # nor to have sealed to itself
        ks.export_share("v", 0, approved(HOST, "v", SCHEME, op="export"))


def forged_share(public: KeyShare) -> KeyShare:
    """A 2-of-2 share of the vault's public key with a secret the host picked (public data only)."""
    g = public.scheme_obj.group
    x = secrets.randbelow(g.order - 1) + 1
    other = 2 * g.base_mul(x) - public.group_key  # F(0) = the group key, F(1) = x·G: degree 1
    return KeyShare(SCHEME, 1, 2, (1, 2), x, {1: g.base_mul(x), 2: other}, public.group_key, os.urandom(32))


def test_a_refresh_staged_before_the_vault_was_deleted_never_reaches_its_successor(
    host: tuple[EnclaveKeystore, KeyShare],
) -> None:
    """The host deals a refresh itself (no approval needed: it only adds a sharing of zero it
    knows), deletes the vault, creates it again with a share of its own making under an owner of
    its own, and pulls the staged real share in to release it: ``s = (s + δ) − δ``.  A staged share
    belongs to the vault instance that made it."""
    ks, real = host
    public = ks.public_share("v", 0, "m")
    g = public.scheme_obj.group
    deal = {d: rs.deal(public, list(public.participants), public.threshold, refresh=True) for d in public.participants}
    sent = {
        d: ([p.encode() for p in x.commitment], g.scalar_to_bytes(x.polynomial(public.index))) for d, x in deal.items()
    }
    staged = ks.refresh_share("v", 0, sent, os.urandom(32))

    ks.delete_vault("v")
    ks.store_pending("v", forged_share(public), owner=pin_of(HOST))
    ks.activate("v", 0)
    with pytest.raises(BadArgument, match="no staged share"):
        ks.store_pending("v", staged)
    with pytest.raises(NotFound):  # nothing of the real share is left to release
        ks.release_share("v", staged.epoch, approved(HOST, "v", SCHEME))
    assert ks.release_share("v", 0, approved(HOST, "v", SCHEME)).secret != real.secret


def test_the_host_cannot_move_the_pin_to_a_device_of_its_own(host: tuple[EnclaveKeystore, KeyShare]) -> None:
    """Without the password no recovery starts, and guesses are limited; with it (a host that saw
    the verifier) the recovery waits out the time lock in block time, gives nothing out meanwhile,
    and the owner cancels it."""
    ks, _ = host
    with pytest.raises(WrongPassword):
        ks.owner_recovery_start("v", HOST.public, OWNER.public, b"a guessed verifier, 32 bytes....")
    ks.owner_recovery_start("v", HOST.public, OWNER.public, VERIFIER)
    with pytest.raises(TimeLocked):
        ks.owner_recovery_finish("v", HOST.public, OWNER.public, VERIFIER)
    with pytest.raises(Unauthorized, match="recovery is open"):  # not even on the owner's approval
        ks.release_share("v", 0, approved(OWNER, "v", SCHEME))
    with pytest.raises(Unauthorized, match="unregistered device"):  # the host cannot cancel for the owner
        ks.owner_recovery_cancel("v", approved(HOST, "v", SCHEME, op="recovery-cancel"))
    ks.owner_recovery_cancel("v", approved(OWNER, "v", SCHEME, op="recovery-cancel"))
    time.sleep(DELAY + 1)
    with pytest.raises(NotFound, match="no device recovery"):
        ks.owner_recovery_finish("v", HOST.public, OWNER.public, VERIFIER)
    release(ks, "v", 0, SCHEME)  # the owner's device still approves

    for _ in range(9):  # ten wrong guesses an hour, then none at all
        with pytest.raises(WrongPassword):
            ks.owner_recovery_start("v", HOST.public, OWNER.public, os.urandom(32))
    with pytest.raises(RateLimited):
        ks.owner_recovery_start("v", HOST.public, OWNER.public, VERIFIER)


def test_the_pin_follows_the_owners_recovery_and_password_change(host: tuple[EnclaveKeystore, KeyShare]) -> None:
    ks, share = host
    new_verifier = b"the new password's verifier....."
    ks.owner_password("v", approved(OWNER, "v", SCHEME, op="password-change"), VERIFIER, new_verifier)
    ks.owner_password("v", approved(OWNER, "v", SCHEME, op="password-change"), VERIFIER, new_verifier)  # again
    with pytest.raises(WrongPassword):  # the old password proves nothing for a change either
        ks.owner_password("v", approved(OWNER, "v", SCHEME, op="password-change"), os.urandom(32), os.urandom(32))
    with pytest.raises(WrongPassword):  # the old password proves nothing any more
        ks.owner_recovery_start("v", NEW_PHONE.public, OWNER.public, VERIFIER)
    unlock = ks.owner_recovery_start("v", NEW_PHONE.public, OWNER.public, new_verifier)
    assert unlock >= int(time.time()) + DELAY - 1
    time.sleep(DELAY + 1)
    ks.owner_recovery_finish("v", NEW_PHONE.public, OWNER.public, new_verifier)
    ks.owner_recovery_finish("v", NEW_PHONE.public, OWNER.public, new_verifier)  # sent again: the same answer
    with pytest.raises(Unauthorized, match="unregistered device"):  # the lost device approves nothing
        release(ks, "v", 0, SCHEME)
    assert release(ks, "v", 0, SCHEME, device=NEW_PHONE).to_bytes() == share.to_bytes()


Body = Callable[[EmbeddedCluster, Client, WatchedKeystore, Vault], Awaitable[None]]


def with_the_enclave_guardian(tmp_path: Path, body: Body) -> None:
    """Run ``body`` on a cluster whose "enclave" guardian keeps its shares in a custody contract,
    with a 3-of-4 vault it holds and an unknown new phone for recoveries."""
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "secret", secret=SECRET)

    async def main() -> None:
        c = await EmbeddedCluster.start(tmp_path / "guardians", NAMES, session_timeout=20.0, recovery_delay=0.0)
        phone = await _new_phone(c)
        try:
            assert c.client is not None
            eks = seat_in_contract(c, net)
            vault = await c.client.create_vault(SCHEME, c.ids[:4], threshold=3, password=c.password)
            await body(c, phone, eks, vault)
        finally:
            await _close(phone)
            await c.close()

    try:
        asyncio.run(main())
    finally:
        net.stop()


def test_the_guardians_flow_passes_the_contracts_checks(tmp_path: Path) -> None:
    """Export, password change, device recovery and a reshare dealt by the enclave guardian, through
    the guardians: the enclave guardian's contract follows each, sealed its exported share to the
    owner's device and gave it out only for the reshare, on the owner's approval."""
    new_password = "a new password for the owner"

    async def body(c: EmbeddedCluster, phone: Client, eks: WatchedKeystore, vault: Vault) -> None:
        with_enclave = [c.ids[0], c.ids[1], c.ids[2]]
        assert len(await vault.export(guardians=with_enclave)) == 32  # it rebuilt the vault's key
        assert (await vault.change_password(c.password, new_password)).complete
        await recovery_start(phone, vault.vault_id, c.ids[:4], lost_device=c.owner.public, password=new_password)
        recovered = await recovery_finish(phone, vault.vault_id, c.ids[:4], password=new_password)
        executes = list(eks.executes)
        assert {"owner_password", "owner_recovery_start", "owner_recovery_finish"} <= set(executes)
        # the recovered device's approval is the one the contract now takes: the enclave deals
        await recovered.reshare(c.ids[:4], threshold=2, password=new_password)
        assert "export_share" in executes and "release_share" not in executes  # the export was sealed
        assert eks.executes.count("release_share") == 1
        m = os.urandom(32)
        assert local.verify(SCHEME, vault.public_key, m, await recovered.sign(m, signers=with_enclave))

    with_the_enclave_guardian(tmp_path, body)


def test_a_recovery_the_guardian_missed_is_cancelled_in_the_contract_too(tmp_path: Path) -> None:
    """A recovery start that reached the contract but whose answer was lost (the guardian recorded
    nothing) would hold every share there; the owner's cancel reaches the contract anyway."""

    async def body(c: EmbeddedCluster, phone: Client, eks: WatchedKeystore, vault: Vault) -> None:
        real = eks.owner_recovery_start

        def committed_but_answer_lost(*args: bytes) -> int:
            real(*args)  # type: ignore[arg-type]
            raise StorageError("the LCD did not answer in time")

        eks.owner_recovery_start = committed_but_answer_lost  # type: ignore[method-assign]
        with pytest.raises(OperationFailed):
            await recovery_start(phone, vault.vault_id, c.ids[:4], lost_device=c.owner.public, password=c.password)
        eks.owner_recovery_start = real  # type: ignore[method-assign]
        await vault.recovery_cancel()  # every guardian, the enclave guardian's contract included
        assert len(await vault.export(guardians=[c.ids[0], c.ids[1], c.ids[2]])) == 32

    with_the_enclave_guardian(tmp_path, body)
