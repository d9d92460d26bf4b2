"""Secret Network lets a sender *simulate* a transaction (``/cosmos/tx/v1beta1/simulate``): the
enclave runs the execute and its answer can come back while its writes are discarded.  The emulated
network serves no simulate endpoint; these tests run the contract as a simulation would — on a copy
of its storage, committing nothing — and show that the answers a compromised guardian host could
get that way tell it nothing that single-use state was meant to guard:

* ``frost_sign`` answers no ``z_i`` (it is read back by the ``signature_share`` query of committed
  state): simulating it over one package and then signing another with the same nonces would
  otherwise give two signature shares under one nonce pair, and the share;
* ``owner_recovery_start`` answers the same whether the password was right (the attempt is
  counted, and its outcome shows in the committed ``owner`` query): simulating it would otherwise
  test passwords without limit.
"""

from __future__ import annotations

import base64
import copy
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
from gridlock.wire.approval import verifier_digest
from test_enclave_schema import DictStorage

SENDER = "secret1" + "q" * 38
SCHEME = "frost-secp256k1"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def execute(c: CustodyContract, storage: DictStorage, msg: dict[str, Any]) -> dict[str, Any]:
    env = Env("secret-4", 10, NOW * 1_000_000_000, "secret1contract", os.urandom(32))
    return dict(json.loads(c.execute(storage, env, MessageInfo(SENDER), json.dumps(msg).encode()).data))


def query(c: CustodyContract, storage: DictStorage, name: str, body: dict[str, Any]) -> dict[str, Any]:
    msg = {name: {**body, "address": SENDER, "key": "a viewing key of the host"}}
    env = Env("secret-4", 10, NOW * 1_000_000_000, "secret1contract")
    return dict(json.loads(c.query(storage, env, json.dumps(msg).encode())))


def simulate(c: CustodyContract, storage: DictStorage, msg: dict[str, Any]) -> dict[str, Any]:
    return execute(c, copy.deepcopy(storage), msg)


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
    assert set(simulated) == {"signed"}  # no z_i in the answer
    real = execute(c, st, {"frost_sign": {**sign, "message": b64(b"package two")}})
    assert set(real) == {"signed"}
    z = query(c, st, "signature_share", {"vault_id": "v", "epoch": 0, "nonce_id": made["nonce_id"]})
    assert len(base64.b64decode(z["signature_share"])) == 32  # the committed one, over package two


def test_a_simulated_password_check_answers_the_same_right_or_wrong() -> None:
    c, st, _ = contract_with_a_vault()
    host = OwnerDevice()

    def start(verifier: bytes) -> dict[str, Any]:
        return {
            "owner_recovery_start": {
                "vault_id": "v",
                "new_device": b64(host.public),
                "lost_device": b64(OWNER.public),
                "verifier": b64(verifier),
            }
        }

    assert simulate(c, st, start(os.urandom(32))) == simulate(c, st, start(VERIFIER)) == {"state": "recorded"}
    for _ in range(10):  # committed guesses count; after ten an hour every check is refused
        execute(c, st, start(os.urandom(32)))
    assert query(c, st, "owner", {"vault_id": "v"})["failures"] == 10
    with pytest.raises(StdError, match="rate-limited"):  # the right one too, simulated or not
        simulate(c, st, start(VERIFIER))
    assert query(c, st, "owner", {"vault_id": "v"})["recovery"] is None
