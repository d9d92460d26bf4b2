"""Issue 17 #4, SECURITY row 38: the enclave guardian's host cannot get a FROST share out of the
custody contract.

The host holds the contract account that owns the vault (every execute is signed with it) and
the viewing key, so it can send the contract anything.  What it does not hold are the owner's
device keys and the other guardians' identity keys.  No execute answers a share; the contract uses
one for a reshare or repair (:mod:`gridlock.enclave.contract_keychange`) only on the owner's
approval of that request, checked against the owner pinned when the vault was created
(:mod:`gridlock.enclave.contract_owner`), and seals what it deals to the guardians the approved
request names; an export leaves sealed to the owner's device.  It follows the owner's device
recovery and password change with checks of its own.  Each attack below is what a compromised
host would try; each is refused.  The last tests run the guardians' own flow (export, password
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

from enclave_owner import OWNER, VERIFIER, approved, approved_request, pin_of, reveal
from gridlock import local
from gridlock.client import Client, OperationFailed, Vault, recovery_finish, recovery_start
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import reshare as rs
from gridlock.crypto import vss, x25519_seal
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import interpolate, lagrange_coefficient
from gridlock.devnet import EmbeddedCluster
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.errors import Culprit, OwnerMismatch, RateLimited, TimeLocked, Unauthorized, WrongPassword
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.errors import DecodeError
from gridlock.guardian.shares import Approved
from gridlock.guardian.store import BadArgument, KeystoreError, NotFound, StorageError
from gridlock.protocol.custody import context
from gridlock.wire import Identity, ops
from gridlock.wire.approval import subject_bytes
from test_enclave_signing import SECRET, WatchedKeystore, start_with_enclave
from test_password_change import _close, _new_phone

SCHEME = "frost-ed25519"
HOST = OwnerDevice()  # a device key the compromised host made for itself
NEW_PHONE = OwnerDevice()
DELAY = 2  # the pinned recovery time lock, seconds (block time)
SESSION = b"s" * 32


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[EnclaveKeystore, list[KeyShare]]]:
    """The guardian host's view: its store (account and viewing key) holding the share of index 1
    of vault "v" (2-of-3), whose owner (:data:`enclave_owner.OWNER`) was pinned when the vault was
    created; and the test's copy of all three shares."""
    shares = local.keygen(SCHEME, threshold=2, n=3)
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        ks = EnclaveKeystore.open(net, sender="secret1" + "q" * 38)
        ks.store_pending("v", shares[0], owner=pin_of(recovery_delay=DELAY))
        ks.activate("v", 0)
        yield ks, shares
    finally:
        net.stop()


def members(guardians: dict[int, Identity]) -> dict[int, str]:
    return {i: g.guardian_id for i, g in guardians.items()}


def reshare_of(share: KeyShare, committee: dict[int, Identity], vault_id: str = "v") -> ops.Reshare:
    """A reshare of ``share``'s epoch by holders 1 and 2 to ``committee`` (threshold 2)."""
    old = {1: ENCLAVE_ID, 2: "b" * 32, 3: "c" * 32}
    return ops.Reshare(
        vault_id, os.urandom(32), SCHEME, share.public_key, share.epoch, old, (old[1], old[2]), members(committee), 2
    )


ENCLAVE_ID = "e" * 32  # the enclave guardian's id in the requests below (the contract knows it by index)


def test_no_execute_answers_a_share(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = host
    with pytest.raises(BadArgument, match="unknown variant"):  # the old way out is gone
        ks._execute({"release_share": {"vault_id": "v", "epoch": 0, "approval": {}}})
    # the owner in the vault's metadata is the host's to write; the contract does not read it
    ks.set_metadata("v", {"owner": {"devices": [HOST.public.hex()], "required": 1}})
    with pytest.raises(Unauthorized, match="unregistered device"):
        ks.export_share("v", 0, approved(HOST, "v", SCHEME, op="export"))
    with pytest.raises(BadArgument, match="pinned when the vault is created"):  # nor can it pin again
        ks.store_pending("v", shares[0], owner=pin_of(HOST))


def test_the_share_is_dealt_only_on_the_owners_approval(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = host
    committee = {2: Identity.generate(), 3: Identity.generate(), 4: Identity.generate()}
    request = reshare_of(shares[0], committee)
    recipients = {j: g.public.to_bytes() for j, g in committee.items()}

    def deal(a: Approved) -> object:
        return ks.reshare_deal("v", 0, a, SESSION, recipients)

    with pytest.raises(Unauthorized, match="unregistered device"):  # approved by a key of its own
        deal(approved_request(HOST, request))
    sign = approved(OWNER, "v", SCHEME, op="sign")  # the owner's approval of something else
    with pytest.raises(Unauthorized, match="does not allow"):
        deal(sign)
    mine = approved_request(OWNER, request)  # a genuine approval, its subject swapped for a committee of the host's
    host_committee = reshare_of(shares[0], {2: Identity.generate(), 3: Identity.generate(), 4: Identity.generate()})
    with pytest.raises(Unauthorized, match="signature does not match"):
        deal(Approved(mine.op, subject_bytes(host_committee.to_params()), mine.nonce, mine.approvals))
    with pytest.raises(Unauthorized, match="signature does not match"):  # approved for another vault
        deal(approved_request(OWNER, reshare_of(shares[0], committee, vault_id="w")))
    deal(mine)
    with pytest.raises(Unauthorized, match="replayed"):  # an approval deals once
        deal(mine)


def test_a_dealing_reaches_only_the_guardians_the_owner_approved(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """The host swaps one recipient's identity for its own: refused.  With the approved ones, each
    sub-share opens only with its guardian's identity key, and together they are a sharing of the
    enclave's own ``λ·s`` (checked by the test with the share it kept)."""
    ks, shares = host
    committee = {2: Identity.generate(), 3: Identity.generate(), 4: Identity.generate()}
    request = reshare_of(shares[0], committee)
    spy = Identity.generate()
    swapped = {j: g.public.to_bytes() for j, g in committee.items()} | {3: spy.public.to_bytes()}
    with pytest.raises(Unauthorized, match="is not guardian"):
        ks.reshare_deal("v", 0, approved_request(OWNER, request), SESSION, swapped)

    recipients = {j: g.public.to_bytes() for j, g in committee.items()}
    raw, sealed = ks.reshare_deal("v", 0, approved_request(OWNER, request), SESSION, recipients)
    g = shares[0].scheme_obj.group
    commitment = [g.decode(c) for c in raw]
    assert set(sealed) == {2, 3, 4}
    subs = {}
    for j, blob in sealed.items():
        ctx = context(SESSION, "v", "reshare", 1, j)
        with pytest.raises(DecodeError):
            spy.open_sealed(blob, context=ctx)
        with pytest.raises(DecodeError):  # bound to its place: not another recipient's
            committee[j].open_sealed(blob, context=context(SESSION, "v", "reshare", 1, 5 - j + 4))
        subs[j] = g.decode_scalar(committee[j].open_sealed(blob, context=ctx))
        assert vss.verify(g, commitment, j, subs[j])
        assert g.scalar_to_bytes(shares[0].secret) not in blob
    weighted = lagrange_coefficient(1, [1, 2], g.order) * shares[0].secret % g.order
    assert interpolate({j: subs[j] for j in (2, 3)}, g.order) == weighted
    assert commitment[0] == g.base_mul(weighted)


def test_a_value_sealed_for_one_vault_opens_in_no_other(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """Sealed to the enclave guardian's custody key for vault "v", a sub-share does not open in a
    combine for vault "w" (a vault the host could export from under a device of its own)."""
    ks, shares = host
    custody = ks.custody_key()
    g = shares[0].scheme_obj.group
    package = rs.PublicPackage.of(shares[0])
    deals = {d: rs.deal(shares[d - 1], [2, 3], 2, refresh=False) for d in (2, 3)}  # holders 2 and 3 deal to 1

    def body(vault_id: str) -> dict[str, object]:
        return {
            "package": package.to_bytes(),
            "index": 1,
            "threshold": 2,
            "receivers": [1, 3],
            "dealer_commitments": {d: [p.encode() for p in x.commitment] for d, x in deals.items()},
            "sealed": {
                d: x25519_seal.seal(
                    custody,
                    g.scalar_to_bytes(x.polynomial(1)),
                    context(SESSION, vault_id, "reshare", d, 1),
                    os.urandom(32),
                )
                for d, x in deals.items()
            },
            "transcript_hash": os.urandom(32),
        }

    with pytest.raises(Culprit) as exc:  # sealed for "v", combined into "w": neither opens
        ks.reshare_combine("w", SESSION, body("v"))
    assert exc.value.nodes == (2, 3)
    view = ks.reshare_combine("w", SESSION, body("w"))  # sealed for "w": staged there, a share of the key
    assert view.public_key == shares[0].public_key and view.index == 1 and view.epoch == 1


def test_malformed_key_change_inputs_are_typed_refusals(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """Whatever the host puts in a combine, sum or rebuild, the contract refuses it with a typed
    error (never a panic, which would come back as a StorageError)."""
    ks, shares = host
    ks.custody_key()
    package = rs.PublicPackage.of(shares[0]).to_bytes()
    point = shares[0].group_key.encode()
    combine = {
        "package": package,
        "index": 1,
        "threshold": 2,
        "receivers": [1, 3],
        "dealer_commitments": {2: [point, point], 3: [point, point]},
        "sealed": {2: bytes(48), 3: bytes(48)},
        "transcript_hash": bytes(32),
    }
    bad_combines = [
        {"threshold": 0, "dealer_commitments": {2: [], 3: []}},
        {"threshold": 9},
        {"dealer_commitments": {0: [point, point], 3: [point, point]}, "sealed": {0: bytes(48), 3: bytes(48)}},
        {"dealer_commitments": {9: [point, point], 3: [point, point]}, "sealed": {9: bytes(48), 3: bytes(48)}},
        {"dealer_commitments": {2: [point], 3: [point, point]}},
        {"receivers": [3, 1]},
        {"receivers": []},
        {"index": 2},
        {"package": b"not a package"},
        {"sealed": {2: b"short", 3: bytes(48)}},
        {"transcript_hash": b"short"},
        {},  # well formed, but the values do not open: the dealers are named
    ]
    for change in bad_combines:
        with pytest.raises(KeystoreError) as exc:
            ks.reshare_combine("v", SESSION, combine | change)
        assert not isinstance(exc.value, StorageError), (change, exc.value)
    rebuild = {"package": package, "index": 1, "published": {2: [point, point]}, "sealed": {2: bytes(48)}}
    for change in ({}, {"index": 7}, {"published": {2: [point], 3: [point]}, "sealed": {2: bytes(48), 3: bytes(48)}}):
        with pytest.raises(KeystoreError) as exc:
            ks.repair_rebuild("v", SESSION, rebuild | change)
        assert not isinstance(exc.value, StorageError), (change, exc.value)
    with pytest.raises(NotFound):  # no split of this session
        ks.repair_sum("v", SESSION, {"published": {2: [point, point]}, "sealed": {2: bytes(48)}})


def forged_share(public: KeyShare) -> KeyShare:
    """A 2-of-2 share of the vault's public key with a secret the host picked (public data only)."""
    g = public.scheme_obj.group
    x = secrets.randbelow(g.order - 1) + 1
    other = 2 * g.base_mul(x) - public.group_key  # F(0) = the group key, F(1) = x·G: degree 1
    return KeyShare(SCHEME, 1, 2, (1, 2), x, {1: g.base_mul(x), 2: other}, public.group_key, os.urandom(32))


def test_a_deleted_vault_comes_back_under_its_owner(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """The host deletes the vault and creates it again with an owner of its own — to take into it
    what the guardians seal to this vault next, and export it.  The pin outlived the vault: another
    owner is refused, and under the same one the host's device approves nothing."""
    ks, shares = host
    ks.delete_vault("v")
    forged = forged_share(shares[0])
    with pytest.raises(OwnerMismatch):
        ks.store_pending("v", forged, owner=pin_of(HOST))
    ks.store_pending("v", forged, owner=pin_of(recovery_delay=DELAY))
    ks.activate("v", 0)
    with pytest.raises(Unauthorized, match="unregistered device"):
        ks.export_share("v", 0, approved(HOST, "v", SCHEME, op="export"))
    assert reveal(ks, "v", 0) == shares[0].scheme_obj.group.scalar_to_bytes(forged.secret)  # the owner's


def test_pins_are_per_account(tmp_path: Path) -> None:
    """Another account of the same contract creates vault "w" under its own device and deletes it:
    the enclave guardian's vault "w", created later, is pinned to its own owner."""
    shares = local.keygen(SCHEME, threshold=2, n=3)
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "net", secret=SECRET)
    try:
        squatter = EnclaveKeystore.open(net, sender="secret1" + "z" * 38)
        squatter.store_pending("w", shares[0], owner=pin_of(HOST))
        squatter.discard_pending("w", 0)
        ks = EnclaveKeystore.open(net, sender="secret1" + "q" * 38)
        ks.store_pending("w", shares[0], owner=pin_of())
        ks.activate("w", 0)
        with pytest.raises(Unauthorized, match="unregistered device"):
            ks.export_share("w", 0, approved(HOST, "w", SCHEME, op="export"))
        reveal(ks, "w", 0)
    finally:
        net.stop()


def test_a_refresh_staged_before_the_vault_was_deleted_never_reaches_its_successor(
    host: tuple[EnclaveKeystore, list[KeyShare]],
) -> None:
    """The host deals a refresh itself (no approval needed: it only adds a sharing of zero it
    knows), deletes the vault, creates it again with a share of its own making, and pulls the
    staged real share in: ``s = (s + δ) − δ``.  A staged share belongs to the vault instance that
    made it."""
    ks, _ = host
    public = ks.public_share("v", 0, "m")
    g = public.scheme_obj.group
    deal = {d: rs.deal(public, list(public.participants), public.threshold, refresh=True) for d in public.participants}
    sent = {
        d: ([p.encode() for p in x.commitment], g.scalar_to_bytes(x.polynomial(public.index))) for d, x in deal.items()
    }
    staged = ks.refresh_share("v", 0, sent, os.urandom(32))

    ks.delete_vault("v")
    forged = forged_share(public)
    ks.store_pending("v", forged, owner=pin_of(recovery_delay=DELAY))
    ks.activate("v", 0)
    with pytest.raises(BadArgument, match="no staged share"):
        ks.store_pending("v", staged)
    with pytest.raises(NotFound):  # nothing of the real share is left
        ks.export_share("v", staged.epoch, approved(OWNER, "v", SCHEME, op="export"))
    assert reveal(ks, "v", 0) == g.scalar_to_bytes(forged.secret)


def test_a_repair_split_is_summed_once_and_checked(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """The enclave guardian helps repair holder 3: its parts go sealed to helper 2 and its sum sealed
    to holder 3.  A part that is not the one its helper published is that helper's fault; the sum
    is made once."""
    ks, shares = host
    g = shares[0].scheme_obj.group
    helper, lost = Identity.generate(), Identity.generate()
    guardians = {1: ENCLAVE_ID, 2: helper.guardian_id, 3: lost.guardian_id}
    request = ops.Repair(
        "v",
        os.urandom(32),
        SCHEME,
        shares[0].public_key,
        0,
        guardians,
        (ENCLAVE_ID, helper.guardian_id),
        lost.guardian_id,
    )
    recipients = {2: helper.public.to_bytes(), 3: lost.public.to_bytes()}
    published, sealed = ks.repair_split("v", 0, approved_request(OWNER, request), SESSION, recipients)
    assert list(sealed) == [2]
    mine = [g.decode(d) for d in published]
    to_helper = g.decode_scalar(helper.open_sealed(sealed[2], context=context(SESSION, "v", "repair-part", 1, 2)))
    assert g.base_mul(to_helper) == mine[1]
    zeta = lagrange_coefficient(1, [1, 2], g.order, at=3)
    assert g.sum(mine) == g.base_mul(zeta * shares[0].secret % g.order)

    theirs = {1: 5, 2: 7}  # helper 2's own parts, its published images
    images = {1: mine, 2: [g.base_mul(theirs[1]), g.base_mul(theirs[2])]}
    published_ = {i: [p.encode() for p in ps] for i, ps in images.items()}
    custody = ks.custody_key()

    def part(value: int) -> bytes:
        return x25519_seal.seal(
            custody, g.scalar_to_bytes(value), context(SESSION, "v", "repair-part", 2, 1), os.urandom(32)
        )

    with pytest.raises(Culprit) as exc:
        ks.repair_sum("v", SESSION, {"published": published_, "sealed": {2: part(6)}})
    assert exc.value.nodes == (2,)
    sigma_blob = ks.repair_sum("v", SESSION, {"published": published_, "sealed": {2: part(5)}})
    sigma = g.decode_scalar(lost.open_sealed(sigma_blob, context=context(SESSION, "v", "repair-sum", 1, 3)))
    assert g.base_mul(sigma) == mine[0] + images[2][0]
    with pytest.raises(NotFound):
        ks.repair_sum("v", SESSION, {"published": published_, "sealed": {2: part(5)}})


def test_the_host_cannot_move_the_pin_to_a_device_of_its_own(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    """Without the password no recovery starts, and guesses are limited; with it (a host that saw
    the verifier) the recovery waits out the time lock in block time, uses the share for nothing
    meanwhile, and the owner cancels it."""
    ks, _ = host
    with pytest.raises(WrongPassword):
        ks.owner_recovery_start("v", HOST.public, OWNER.public, b"a guessed verifier, 32 bytes....")
    ks.owner_recovery_start("v", HOST.public, OWNER.public, VERIFIER)
    with pytest.raises(TimeLocked):
        ks.owner_recovery_finish("v", HOST.public, OWNER.public, VERIFIER)
    with pytest.raises(Unauthorized, match="recovery is open"):  # not even on the owner's approval
        ks.export_share("v", 0, approved(OWNER, "v", SCHEME, op="export"))
    with pytest.raises(Unauthorized, match="unregistered device"):  # the host cannot cancel for the owner
        ks.owner_recovery_cancel("v", approved(HOST, "v", SCHEME, op="recovery-cancel"))
    ks.owner_recovery_cancel("v", approved(OWNER, "v", SCHEME, op="recovery-cancel"))
    time.sleep(DELAY + 1)
    with pytest.raises(NotFound, match="no device recovery"):
        ks.owner_recovery_finish("v", HOST.public, OWNER.public, VERIFIER)
    reveal(ks, "v", 0)  # the owner's device still approves

    for _ in range(9):  # ten wrong guesses an hour, then none at all
        with pytest.raises(WrongPassword):
            ks.owner_recovery_start("v", HOST.public, OWNER.public, os.urandom(32))
    with pytest.raises(RateLimited):
        ks.owner_recovery_start("v", HOST.public, OWNER.public, VERIFIER)


def test_the_pin_follows_the_owners_recovery_and_password_change(host: tuple[EnclaveKeystore, list[KeyShare]]) -> None:
    ks, shares = host
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
        reveal(ks, "v", 0)
    assert reveal(ks, "v", 0, device=NEW_PHONE) == shares[0].scheme_obj.group.scalar_to_bytes(shares[0].secret)


Body = Callable[[EmbeddedCluster, Client, WatchedKeystore, Vault], Awaitable[None]]


def with_the_enclave_guardian(tmp_path: Path, body: Body) -> None:
    """Run ``body`` on a cluster whose "enclave" guardian keeps its shares in a custody contract,
    with a 3-of-4 vault it holds and an unknown new phone for recoveries."""
    net = LocalSecretNetwork.start(nodes=3, data_dir=tmp_path / "secret", secret=SECRET)

    async def main() -> None:
        c, eks = await start_with_enclave(tmp_path / "guardians", net, session_timeout=20.0, recovery_delay=0.0)
        phone = await _new_phone(c)
        try:
            assert c.client is not None
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
    owner's device and dealt the reshare itself, on the recovered device's approval."""
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
        assert "export_share" in executes  # the export was sealed to the owner's device
        assert eks.executes.count("reshare_deal") == 1
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
