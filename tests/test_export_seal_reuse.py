"""Two exports that see the same ``env.block.random`` never seal under one key.

The real chain gives one random value per block (contracts mix in their own inputs).  Were an
export's ephemeral key made from that value and the device alone, the pending and the active epoch
of one vault — two different shares with the same index, both exportable during a key change —
would be sealed with the same ChaCha20 key and (zero) nonce: the host would XOR the two answers for
``s_e ⊕ s_{e+1}``, and with a refresh it dealt itself (it knows ``δ = s_{e+1} − s_e``) learn about
half the share's bits.  The seed mixes in the contract's own counter, the vault and the epoch.
"""

from __future__ import annotations

import base64
import json
import time

from enclave_owner import OWNER, approved
from gridlock import local
from gridlock.enclave.contract import CustodyContract, Env, MessageInfo
from gridlock.enclave.contract_calls import _approval_arg
from test_enclave_owner import SCHEME
from test_enclave_schema import DictStorage

SENDER = "secret1host"
RANDOM = bytes(range(32))  # one env.block.random seen by two executes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _execute(c: CustodyContract, st: DictStorage, msg: dict, random: bytes | None = None) -> dict:
    env = Env("chain", 7, time.time_ns(), "secret1contract", random=random)
    response = c.execute(st, env, MessageInfo(SENDER), json.dumps(msg).encode())
    return json.loads(response.data) if response.data else {}


def test_two_exports_under_one_randomness_do_not_share_a_keystream() -> None:
    shares = local.keygen(SCHEME, threshold=2, n=3)
    old, new = shares[0], local.refresh(shares)[0]  # an honest refresh: epoch 1 pending, epoch 0 active
    assert old.index == new.index and old.secret != new.secret
    owner = {
        "devices": [_b64(OWNER.public)],
        "required": 1,
        "verifier_digest": _b64(bytes(32)),
        "recovery_delay": 0,
    }
    st, c = DictStorage(), CustodyContract()
    c.instantiate(st, Env("chain", 1, 1, "secret1contract"), MessageInfo(SENDER), b"{}")
    _execute(c, st, {"store_share": {"vault_id": "v", "share": _b64(old.to_bytes()), "owner": owner}})
    _execute(c, st, {"store_pending": {"vault_id": "v", "share": _b64(new.to_bytes())}})

    blobs = []
    for epoch in (0, 1):  # two owner-approved exports (e.g. one retried during the key change)
        approval = _approval_arg(approved(OWNER, "v", SCHEME, op="export"))
        answer = _execute(c, st, {"export_share": {"vault_id": "v", "epoch": epoch, "approval": approval}}, RANDOM)
        ((_, blob),) = answer["sealed"]
        blobs.append(base64.b64decode(blob))

    g = old.scheme_obj.group
    xor_of_bodies = bytes(a ^ b for a, b in zip(blobs[0][32:64], blobs[1][32:64], strict=True))
    xor_of_shares = bytes(
        a ^ b for a, b in zip(g.scalar_to_bytes(old.secret), g.scalar_to_bytes(new.secret), strict=True)
    )
    assert xor_of_bodies != xor_of_shares, "same ChaCha20 key and nonce for two different shares"
    assert blobs[0][:32] != blobs[1][:32], "the same ephemeral key sealed two different shares"
