"""Typed control operations: every op round-trips through its wire form, and every malformed wire
form is refused before a handler could see it (issue 13, item 1)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gridlock.chains import EthereumTx
from gridlock.crypto import codec
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire import control as ctl
from gridlock.wire import ops
from gridlock.wire.approval import Approval

N = os.urandom(32)
APPROVAL = Approval(b"\x01" * 32, 7, 1_800_000_000, b"\x02" * 64)
G = ("a" * 32, "b" * 32, "c" * 32)
TX = EthereumTx.of(
    {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "to": "0x" + "11" * 20,
        "value": 5,
        "gas": 21000,
        "maxFeePerGas": 10,
        "maxPriorityFeePerGas": 1,
        "data": "0x",
    }
)

SAMPLES: list[ops.Op] = [
    ops.Ping(),
    ops.ListVaults(),
    ops.Info("v"),
    ops.PolicyShow("v"),
    ops.RecoveryStatus("v"),
    ops.Audit(),
    ops.Audit("v", 3),
    ops.Keygen("v", "frost-ed25519", 2, {1: G[0], 2: G[1], 3: G[2]}, N),
    ops.Keygen("v", "frost-ed25519", 2, {1: G[0], 2: G[1]}, N, {"required": 1}),
    ops.Ack("v", 1),
    ops.AbortEpoch("v", 2),
    ops.Commit("v", 1, {G[0]: b"s" * 64}),
    ops.Refresh("v", N, (APPROVAL,)),
    ops.Export("v", N, (APPROVAL,)),
    ops.RecoveryCancel("v", N, (APPROVAL,)),
    ops.Sign("v", b"m" * 32, G, N),
    ops.Sign("v", b"m" * 32, G, N, TX, (APPROVAL,)),
    ops.Presign("v", 3, G, N, (APPROVAL,)),
    ops.SignPresigned("v", b"p" * 32, b"d" * 32, G, N, TX, (APPROVAL,)),
    ops.Reshare("v", N, "ecdsa-secp256k1", b"\x02" * 33, 4, {1: G[0], 2: G[1]}, G[:2], {1: G[0], 3: G[2]}, 2),
    ops.Repair("v", N, "frost-taproot", b"x" * 32, 0, {1: G[0], 2: G[1], 3: G[2]}, G[:2], G[2], {"r": 1}),
    ops.PolicySet("v", {"limits": []}, N, (APPROVAL,)),
    ops.RecoveryStart("v", b"n" * 32, b"l" * 32, b"v" * 32),
    ops.RecoveryFinish("v", b"v" * 32, G[0]),
    ops.PasswordChange("v", b"o" * 32, b"n" * 32, N, (APPROVAL,)),
    ops.PolicyCancel("v", N),
    ops.Reshare("v", N, "frost-ed25519", b"x" * 32, 1, {1: G[0]}, G[:1], {1: G[0], 2: G[1]}, 2, policy={"rate": {}}),
]


def test_every_operation_is_sampled() -> None:
    assert {type(op) for op in SAMPLES} == set(ops.OPS.values())


@pytest.mark.parametrize("op", SAMPLES, ids=lambda o: f"{o.NAME}")
def test_round_trip_through_the_wire(op: ops.Op) -> None:
    request = ctl.Request(op.NAME, op.to_params())
    again = ctl.Request.from_bytes(request.to_bytes())
    decoded = ops.decode(again.op, again.params)
    assert decoded == op and decoded.to_params() == op.to_params()
    assert codec.dumps(decoded.to_params()) == codec.dumps(op.to_params())  # what approvals sign


@pytest.mark.parametrize("op", [o for o in SAMPLES if o.to_params()], ids=lambda o: f"{o.NAME}")
def test_missing_unknown_and_ill_typed_fields_are_refused(op: ops.Op) -> None:
    params = op.to_params()
    with pytest.raises(DecodeError, match="takes no parameter"):
        ops.decode(op.NAME, {**params, "surprise": 1})
    for key, value in params.items():
        optional = key in {"tx", "approvals", "owner", "policy"} or op.NAME == "audit"
        if not optional:
            with pytest.raises(DecodeError):
                ops.decode(op.NAME, {k: v for k, v in params.items() if k != key})
        for bad in (True, 1.5, None, [], {}, b"", "", -1):
            if type(bad) is type(value) and bad != value:
                continue
            with pytest.raises(DecodeError):
                ops.decode(op.NAME, {**params, key: bad})


def _bad(cls: type[ops.Op], **kw: Any) -> None:
    with pytest.raises(InvalidParameterError):
        cls(**kw)


def test_values_are_checked_when_an_operation_is_built() -> None:
    _bad(ops.Info, vault="")
    _bad(ops.Info, vault="x" * 129)
    _bad(ops.Sign, vault="v", message=b"m", signers=G, nonce=b"short")
    _bad(ops.Sign, vault="v", message=b"m" * (1 << 17), signers=G, nonce=N)
    _bad(ops.Sign, vault="v", message=b"m", signers=(G[0], G[0]), nonce=N)
    _bad(ops.Sign, vault="v", message=b"m", signers=G, nonce=N, tx={"chain": "ethereum"})
    _bad(ops.Presign, vault="v", count=0, signers=G, nonce=N)
    _bad(ops.Presign, vault="v", count=101, signers=G, nonce=N)
    _bad(ops.Keygen, vault="v", scheme="s", threshold=4, members={1: G[0], 2: G[1], 3: G[2]}, nonce=N)
    _bad(ops.Keygen, vault="v", scheme="s", threshold=2, members={0: G[0], 2: G[1]}, nonce=N)
    _bad(ops.Keygen, vault="v", scheme="s", threshold=2, members={1: G[0], 2: G[0]}, nonce=N)
    _bad(ops.Keygen, vault="v", scheme="s", threshold=True, members={1: G[0], 2: G[1]}, nonce=N)
    _bad(ops.Commit, vault="v", epoch=1, acks={})
    _bad(ops.SignPresigned, vault="v", presignature=b"p", message=b"d" * 32, signers=G, nonce=N)
    _bad(ops.RecoveryStart, vault="v", new_device=b"n", lost_device=b"l" * 32, verifier=b"v")
    _bad(ops.PasswordChange, vault="v", verifier=b"o" * 15, new_verifier=b"n" * 32, nonce=N)
    _bad(ops.PasswordChange, vault="v", verifier=b"o" * 32, new_verifier=b"n" * 65, nonce=N)
    _bad(ops.PasswordChange, vault="v", verifier=b"o" * 32, new_verifier=b"o" * 32, nonce=N)
    _bad(ops.PasswordChange, vault="v", verifier=b"o" * 32, new_verifier=b"n" * 32, nonce=b"short")


def test_members_must_be_listed_in_order_without_repeats() -> None:
    params = SAMPLES[7].to_params()
    with pytest.raises(DecodeError, match="increasing order"):
        ops.decode("keygen", {**params, "members": [[2, G[1]], [1, G[0]]]})
    with pytest.raises(DecodeError, match="increasing order"):
        ops.decode("keygen", {**params, "members": [[1, G[0]], [1, G[1]]]})
    with pytest.raises(DecodeError):
        ops.decode("nonsense", {})


def test_refusals_are_typed_and_never_wrapped_twice() -> None:
    err = ctl.RequestRefused(ctl.Refusal.POLICY, "over the daily limit", "g1")
    with pytest.raises(ctl.RequestRefused) as raised:
        ctl.decode_reply(ctl.encode_error(err.code, err.reason), "g1")
    again = raised.value
    assert again.code is ctl.Refusal.POLICY and again.reason == "over the daily limit"
    assert str(again) == "guardian g1 refused (policy): over the daily limit"
    odd = ctl.RequestRefused("from-a-newer-guardian", "something new")
    assert odd.code is ctl.Refusal.ERROR and odd.reason == "from-a-newer-guardian: something new"


REPLY_SAMPLES: list[tuple[ops.Op, ops.Reply]] = [
    (ops.Ping(), ops.PingReply(G[0], 1)),
    (
        ops.ListVaults(),
        ops.VaultsReply([{"vault": "v", "scheme": "s", "public_key": b"k", "threshold": 2, "epoch": 0}]),
    ),
    (ops.Info("v"), ops.InfoReply("s", b"k", 2, 1, [[1, G[0]], [2, G[1]]], b"g", b"c" * 32)),
    (SAMPLES[12], ops.StoredReply(b"k", 1, b"t" * 32, 2, b"a" * 64)),
    (ops.Reshare("v", N, "s", b"k", 0, {1: G[0], 2: G[1]}, G[:2], {1: G[0], 2: G[1]}, 2), ops.DealtReply()),
    (ops.Repair("v", N, "s", b"k", 0, {1: G[0], 2: G[1]}, G[:1], G[1]), ops.HelpedReply()),
    (ops.Commit("v", 1, {G[0]: b"s"}), ops.EpochReply(1)),
    (ops.Ack("v", 1), ops.AckReply(b"a" * 64, 1)),
    (ops.Sign("v", b"m", G, N), ops.SignatureReply(b"s" * 64)),
    (ops.Presign("v", 1, G, N), ops.PresignaturesReply([b"p" * 32])),
    (ops.Export("v", N), ops.ExportReply(1, b"x" * 32)),
    (ops.PolicyShow("v"), ops.PolicyReply({"limits": {}}, "ab" * 32, "watch", {}, 0, [])),
    (ops.PolicyCancel("v", N), ops.PolicyReply({"limits": {}}, "ab" * 32, "guardian", {"rate": {}}, 9, ["why"])),
    (ops.Audit("v"), ops.AuditReply(["{}"], [0, "00" * 32], b"s" * 64)),
    (ops.RecoveryStatus("v"), ops.RecoveryReply("open", 5)),
    (ops.RecoveryFinish("v", b"v" * 32, G[0]), ops.RecoveryStateReply("finished")),
    (ops.PasswordChange("v", b"o" * 32, b"n" * 32, N), ops.PasswordReply(changed=True)),
]


def test_every_operation_has_its_replies() -> None:
    assert set(ops.REPLIES) == set(ops.OPS.values())


@pytest.mark.parametrize(("op", "reply"), REPLY_SAMPLES, ids=lambda x: type(x).__name__)
def test_replies_round_trip_and_a_lying_guardian_gets_a_typed_error(op: ops.Op, reply: ops.Reply) -> None:
    result = ctl.decode_reply(ctl.encode_reply(reply.to_result()), "g")
    assert ops.read_reply(op, result) == reply
    for key in result:
        with pytest.raises(DecodeError):
            ops.read_reply(op, {k: v for k, v in result.items() if k != key})  # a field missing
        for bad in (True, 1.5, "x", b"x", [], {}):
            if type(bad) is not type(result[key]):
                with pytest.raises(DecodeError):
                    ops.read_reply(op, {**result, key: bad})
    with pytest.raises(DecodeError):
        ops.read_reply(op, {**result, "surprise": 1})


def test_expect_raises_errors_and_refuses_other_replies() -> None:
    with pytest.raises(ctl.RequestRefused):
        ops.expect(ctl.RequestRefused(ctl.Refusal.BUSY, "busy"), ops.SignatureReply)
    with pytest.raises(DecodeError):
        ops.expect(ops.EpochReply(1), ops.SignatureReply)
    assert ops.expect(ops.EpochReply(1), ops.EpochReply).epoch == 1
