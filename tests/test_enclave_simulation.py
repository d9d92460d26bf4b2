"""Secret Network lets a sender *simulate* a transaction (``/cosmos/tx/v1beta1/simulate``): the
enclave runs the execute and its answer can come back while its writes are discarded.  The emulated
network serves no simulate endpoint; these tests run the contract as a simulation would — on a copy
of its storage, committing nothing — and show that the answers a compromised guardian host could
get that way tell it nothing that single-use state was meant to guard:

* ``frost_sign`` answers no ``z_i`` (it is read back by the ``signature_share`` query of committed
  state): simulating it over one package and then signing another with the same nonces would
  otherwise give two signature shares under one nonce pair, and the share;
* ``owner_recovery_start`` answers the same whether the password was right, and nothing reads the
  vault's owner in the block of a password check (a simulated transaction runs all its messages in
  one block): the outcome is read with ``owner_status`` in a later block, once the attempt is
  committed and counted.  Otherwise ``[start(guess), start(decoy)]`` would test passwords without
  limit (the decoy refused exactly when the guess opened a recovery).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
from typing import Any

import pytest

from enclave_owner import OWNER, VERIFIER
from gridlock import local
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import frost
from gridlock.crypto.schemes import get_frost_suite
from gridlock.enclave.contract import CustodyContract, Env, MessageInfo, StdError
from gridlock.enclave.custody_state import ANSWER_SLOTS, CustodyState
from gridlock.wire.approval import verifier_digest
from test_enclave_schema import DictStorage

SENDER = "secret1" + "q" * 38
SCHEME = "frost-secp256k1"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BLOCKS = itertools.count(10)


def execute(c: CustodyContract, storage: DictStorage, msg: dict[str, Any], height: int | None = None) -> dict[str, Any]:
    """One message in a block of its own (or at ``height``: messages of one transaction)."""
    h = next(BLOCKS) if height is None else height
    env = Env("secret-4", h, NOW * 1_000_000_000, "secret1contract", os.urandom(32))
    return dict(json.loads(c.execute(storage, env, MessageInfo(SENDER), json.dumps(msg).encode()).data))


def query(c: CustodyContract, storage: DictStorage, name: str, body: dict[str, Any]) -> dict[str, Any]:
    msg = {name: {**body, "address": SENDER, "key": "a viewing key of the host"}}
    env = Env("secret-4", 10, NOW * 1_000_000_000, "secret1contract")
    return dict(json.loads(c.query(storage, env, json.dumps(msg).encode())))


def simulate(c: CustodyContract, storage: DictStorage, *msgs: dict[str, Any]) -> list[dict[str, Any] | str]:
    """A simulated transaction of ``msgs``: run in order on one copy of the state (one block),
    nothing committed; each message's answer, or the first error's text and nothing after it."""
    copy_, height, out = copy.deepcopy(storage), next(BLOCKS), []
    for msg in msgs:
        try:
            out.append(execute(c, copy_, msg, height))
        except StdError as exc:
            out.append(str(exc))
            break
    return out


def contract_with_a_vault() -> tuple[CustodyContract, DictStorage, list[Any]]:
    shares = local.keygen(SCHEME, threshold=2, n=3)
    c, st = CustodyContract(), DictStorage()
    c.instantiate(st, Env("secret-4", 1, 0, "secret1contract"), MessageInfo(SENDER), b"{}")
    owner = {
        "devices": [b64(OWNER.public)],
        "required": 1,
        "verifier_digest": b64(bytes.fromhex(verifier_digest(VERIFIER))),
        "recovery_delay": 86400,
    }
    execute(c, st, {"store_share": {"vault_id": "v", "share": b64(shares[0].to_bytes()), "owner": owner}})
    execute(c, st, {"set_viewing_key": {"key": "a viewing key of the host"}})
    return c, st, shares


def test_a_simulated_frost_sign_answers_no_signature_share() -> None:
    c, st, shares = contract_with_a_vault()
    made = execute(c, st, {"frost_commit": {"vault_id": "v", "epoch": 0, "path": "m", "session": b64(b"s")}})
    other = frost.commit(get_frost_suite(SCHEME), shares[1]).commitments.to_bytes()
    sign = {
        "vault_id": "v",
        "epoch": 0,
        "nonce_id": made["nonce_id"],
        "path": "m",
        "commitments": [made["commitments"], b64(other)],
    }
    simulated = simulate(c, st, {"frost_sign": {**sign, "message": b64(b"package one")}})
    assert simulated == [{"signed": made["nonce_id"]}]  # no z_i in the answer
    assert execute(c, st, {"frost_sign": {**sign, "message": b64(b"package two")}}) == {"signed": made["nonce_id"]}
    z = query(c, st, "signature_share", {"vault_id": "v", "epoch": 0, "nonce_id": made["nonce_id"]})
    assert len(base64.b64decode(z["signature_share"])) == 32  # the committed one, over package two


def test_a_simulated_password_check_tells_nothing_whatever_follows_it() -> None:
    """A right and a wrong password give the same answers in a simulated transaction, alone or
    followed by a message that would read the outcome (a second start, which the opened recovery
    would refuse; a status): nothing reads the pin in the block of a check."""
    c, st, _ = contract_with_a_vault()
    host, decoy = OwnerDevice(), OwnerDevice()

    def start(device: OwnerDevice, verifier: bytes) -> dict[str, Any]:
        body = {"new_device": b64(device.public), "lost_device": b64(OWNER.public), "verifier": b64(verifier)}
        return {"owner_recovery_start": {"vault_id": "v", **body}}

    status = {"owner_status": {"vault_id": "v"}}
    for then in ([], [start(decoy, os.urandom(32))], [status]):
        wrong = simulate(c, st, start(host, os.urandom(32)), *then)
        right = simulate(c, st, start(host, VERIFIER), *then)
        assert wrong == right, then
    assert execute(c, st, status)["failures"] == 0  # nothing simulated was counted, nor kept

    for _ in range(10):  # committed guesses count; after ten an hour every check is refused
        execute(c, st, start(host, os.urandom(32)))
    after = execute(c, st, status)
    assert after["failures"] == 10 and after["last_check_ok"] is False and after["recovery"] is None
    assert simulate(c, st, start(host, VERIFIER)) == simulate(c, st, start(host, os.urandom(32)))
    with pytest.raises(StdError, match="rate-limited"):  # the right one too
        execute(c, st, start(host, VERIFIER))


def test_signatures_in_flight_each_read_back_their_share_and_an_erased_epoch_keeps_none() -> None:
    """Kept signature shares go in order of making: with signatures in flight (the guardian runs up
    to 32), each signer reads its own back after others signed, however many the epoch signed
    before; erasing the epoch erases them."""
    c, st, shares = contract_with_a_vault()
    other = b64(frost.commit(get_frost_suite(SCHEME), shares[1]).commitments.to_bytes())

    def frost_sign(n: int) -> str:
        made = execute(c, st, {"frost_commit": {"vault_id": "v", "epoch": 0, "path": "m", "session": b64(b"s")}})
        body = {"vault_id": "v", "epoch": 0, "nonce_id": made["nonce_id"], "path": "m"}
        execute(
            c,
            st,
            {"frost_sign": {**body, "message": b64(n.to_bytes(4, "big")), "commitments": [made["commitments"], other]}},
        )
        return str(made["nonce_id"])

    def read_back(nonce_id: str) -> bool:
        try:
            query(c, st, "signature_share", {"vault_id": "v", "epoch": 0, "nonce_id": nonce_id})
        except StdError:
            return False
        return True

    for n in range(ANSWER_SLOTS + 20):
        assert read_back(frost_sign(n))
    in_flight = [frost_sign(1000 + n) for n in range(32)]
    assert all(read_back(i) for i in in_flight)
    CustodyState(st).erase_epoch("v", 0)
    assert not any(b"answer" in key for key in st.d)
