"""Gas per custody-contract operation on Secret Network's size-based gas model (docs/ENCLAVE.md).

Runs a local emulated network, performs each operation of an enclave guardian's keystore through
the LCD with signed transactions, and prints the gas the chain charged (:mod:`gridlock.enclave.gas`:
transaction bytes, signature check, instance load, encrypted store reads and writes — not Wasm
execution, which a CosmWasm port adds), the transaction's size and the fee at 0.1 uscrt/gas.

    PYTHONPATH=src python scripts/enclave_gas.py
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable

from gridlock import local
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import frost, x25519_seal
from gridlock.crypto import repair as rp
from gridlock.crypto import reshare as rs
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.enclave import LocalSecretNetwork, gas
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.enclave.lcd import LcdServer
from gridlock.enclave.lcd_client import LcdClient, SecretNetworkEndpoint
from gridlock.guardian.shares import Approved, OwnerPin
from gridlock.protocol.custody import context
from gridlock.wire import Identity, ops
from gridlock.wire.approval import subject_bytes, verifier_digest


def measure() -> list[tuple[str, str, int, int]]:
    """``(scheme, operation, tx bytes, gas used)`` for each operation."""
    rows: list[tuple[str, str, int, int]] = []
    with LocalSecretNetwork.start(nodes=1) as net:
        lcd = LcdServer(net)
        lcd.start()
        try:
            endpoint = SecretNetworkEndpoint(
                url=lcd.url,
                chain_id=net.chain_id,
                contract=net.custody_address,
                code_hash=net.custody_code_hash,
                io_key=net.consensus_io_pubkey,
            )
            client = LcdClient.connect(endpoint, os.urandom(32))
            net.create_account(client.address)
            ks = EnclaveKeystore.open(client, sender=client.address, code_hash=endpoint.code_hash)

            def note(scheme: str, op: str, fn: Callable[[], object]) -> None:
                fn()
                assert client.last_gas is not None
                rows.append((scheme, op, client.last_gas[2], client.last_gas[0]))

            note("-", "put_identity", lambda: ks.put_identity(os.urandom(200)))
            owner = OwnerDevice()
            pin = OwnerPin((owner.public,), 1, bytes.fromhex(verifier_digest(VERIFIER)), 3600)
            for scheme in ("frost-secp256k1", "ecdsa-secp256k1"):
                shares = local.keygen(scheme, threshold=3, n=5)
                s0 = shares[1]
                vid = f"vault-{scheme}"
                note(scheme, "store_pending (DKG)", lambda s0=s0, vid=vid: ks.store_pending(vid, s0, owner=pin))
                note(scheme, "activate", lambda vid=vid: ks.activate(vid, 0))
                if scheme.startswith("frost"):
                    frost_rows(ks, note, owner, scheme, vid, shares)
                items = [(os.urandom(16), os.urandom(200)) for _ in range(10)]
                note(scheme, "add_nonces (10 x 200 B)", lambda vid=vid, it=items: ks.add_nonces(vid, 0, it))
                note(scheme, "take_nonce", lambda vid=vid, i=items[0][0]: ks.take_nonce(vid, 0, i))
                note(scheme, "claim_session", lambda vid=vid: ks._add("session", vid, 0, [(os.urandom(16), b"\x01")]))
                note(scheme, "set_metadata", lambda vid=vid: ks.set_metadata(vid, {"policy": {"daily": "1000"}}))
                note(scheme, "delete_vault", lambda vid=vid: ks.delete_vault(vid))
            # last: a new viewing key, which this keystore's queries would no longer match
            note("-", "set_viewing_key", lambda: ks._execute({"set_viewing_key": {"key": "k" * 43}}))
            ks.close()
        finally:
            lcd.stop()
    return rows


VERIFIER = b"the owner's password verifier..."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def approved(owner: OwnerDevice, vid: str, scheme: str, op: str) -> Approved:
    params = {"vault": vid, "nonce": os.urandom(32)}
    return Approved(op, subject_bytes(params), params["nonce"], (owner.approve(vid, scheme, op, params),))


def approved_request(owner: OwnerDevice, request: ops.Reshare | ops.Repair) -> Approved:
    params = request.to_params()
    return Approved(
        request.NAME,
        subject_bytes(params),
        request.nonce,
        (owner.approve(request.vault, request.scheme, request.NAME, params),),
    )


def frost_rows(
    ks: EnclaveKeystore,
    note: Callable[[str, str, Callable[[], object]], None],
    owner: OwnerDevice,
    scheme: str,
    vid: str,
    shares: list[KeyShare],
) -> None:
    """A signature's two executes (nonces made and kept, ``z_i``), and what the owner approves."""
    nonce_id: list[bytes] = []
    mine: list[bytes] = []

    def commit() -> None:
        n, c = ks.frost_commit(vid, 0, "m", os.urandom(32))
        nonce_id.append(n)
        mine.append(c)

    note(scheme, "frost_commit", commit)
    others = [frost.commit(get_frost_suite(scheme), s).commitments.to_bytes() for s in (shares[0], shares[2])]
    note(
        scheme,
        "frost_sign",
        lambda: ks.frost_sign(vid, 0, nonce_id[0], "m", b"m" * 32, [others[0], mine[0], others[1]]),
    )
    keychange_rows(ks, note, owner, scheme, vid, shares)
    note(scheme, "export_share", lambda: ks.export_share(vid, 0, approved(owner, vid, scheme, "export")))
    start = {
        "vault_id": vid,
        "new_device": b64(OwnerDevice().public),
        "lost_device": b64(owner.public),
        "verifier": b64(VERIFIER),
    }
    note(scheme, "owner_recovery_start", lambda: ks._execute({"owner_recovery_start": start}))
    note(scheme, "owner_status", lambda: ks.owner_status(vid))


def keychange_rows(
    ks: EnclaveKeystore,
    note: Callable[[str, str, Callable[[], object]], None],
    owner: OwnerDevice,
    scheme: str,
    vid: str,
    shares: list[KeyShare],
) -> None:
    """A 3-of-5 reshare dealt and combined in the contract (this guardian is holder 2, dealing with
    holders 1 and 3), a repair of holder 4 it helps with, and its own share rebuilt by three others."""
    g = shares[0].scheme_obj.group
    session = os.urandom(32)
    ids = {i: Identity.generate() for i in range(1, 6)}
    members = {i: p.guardian_id for i, p in ids.items()}
    recipients = {i: p.public.to_bytes() for i, p in ids.items() if i != 2}
    custody: list[bytes] = []
    note("-", "custody_key", lambda: custody.append(ks.custody_key()))

    def sealed_to_me(step: str, sender: int, value: int, vault_id: str = vid) -> bytes:
        ctx = context(session, vault_id, step, sender, 2)
        return x25519_seal.seal(custody[0], g.scalar_to_bytes(value), ctx, os.urandom(32))

    reshare = ops.Reshare(
        vid, os.urandom(32), scheme, shares[0].public_key, 0, members, (members[1], members[2], members[3]), members, 3
    )
    dealt: list[tuple[list[bytes], dict[int, bytes]]] = []
    note(
        scheme,
        "reshare_deal (to 5)",
        lambda: dealt.append(ks.reshare_deal(vid, 0, approved_request(owner, reshare), session, recipients)),
    )
    others = {d: rs.deal(shares[d - 1], [1, 2, 3], 3, refresh=False) for d in (1, 3)}
    combine = {
        "package": rs.PublicPackage.of(shares[0]).to_bytes(),
        "index": 2,
        "threshold": 3,
        "receivers": [1, 2, 3, 4, 5],
        "dealer_commitments": {2: dealt[0][0]} | {d: [p.encode() for p in x.commitment] for d, x in others.items()},
        "sealed": {d: sealed_to_me("reshare", d, x.polynomial(2)) for d, x in others.items()},
        "transcript_hash": os.urandom(32),
    }
    note(scheme, "reshare_combine (3 dealers)", lambda: ks.reshare_combine(vid, session, combine))

    repair = ops.Repair(
        vid, os.urandom(32), scheme, shares[0].public_key, 0, members, (members[1], members[2], members[3]), members[4]
    )
    published: list[list[bytes]] = []
    note(
        scheme,
        "repair_split (3 helpers)",
        lambda: published.append(
            ks.repair_split(vid, 0, approved_request(owner, repair), session, {i: recipients[i] for i in (1, 3, 4)})[0]
        ),
    )
    parts = {i: rp.split(shares[i - 1], [1, 2, 3], 4) for i in (1, 3)}
    summed = {
        "published": {2: published[0]} | {i: [g.base_mul(p[k]).encode() for k in (1, 2, 3)] for i, p in parts.items()},
        "sealed": {i: sealed_to_me("repair-part", i, p[2]) for i, p in parts.items()},
    }
    note(scheme, "repair_sum", lambda: ks.repair_sum(vid, session, summed))

    lost = f"{vid}-rebuilt"  # holder 2's share rebuilt by holders 1, 3 and 4 into a vault new to the contract
    splits = {i: rp.split(shares[i - 1], [1, 3, 4], 2) for i in (1, 3, 4)}
    sigmas = {k: sum(splits[i][k] for i in splits) % g.order for k in (1, 3, 4)}
    rebuild = {
        "package": rs.PublicPackage.of(shares[0]).to_bytes(),
        "index": 2,
        "published": {i: [g.base_mul(p[k]).encode() for k in (1, 3, 4)] for i, p in splits.items()},
        "sealed": {k: sealed_to_me("repair-sum", k, v, lost) for k, v in sigmas.items()},
    }
    note(scheme, "repair_rebuild (3 helpers)", lambda: ks.repair_rebuild(lost, session, rebuild))


def main() -> int:
    print("| scheme | operation | tx bytes | gas used | fee at 0.1 uscrt/gas |")
    print("| --- | --- | ---: | ---: | ---: |")
    for scheme, op, size, used in measure():
        print(f"| {scheme} | {op} | {size} | {used} | {used * gas.DEFAULT_GAS_PRICE / 1e6:.4f} SCRT |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
