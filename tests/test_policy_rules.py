"""The policy as pure code (gridlock.policy): typed rules, tightening vs loosening, and the judge.

Each rule is tried the way an attacker holding the owner's device and password would try it.
"""

from __future__ import annotations

import pytest

from gridlock.chains.movement import UNBOUNDED, Movement
from gridlock.errors import InvalidParameterError
from gridlock.guardian.policy import VaultPolicy
from gridlock.policy import Entry, EntryKind, Limit, Policy, Spend, judge, loosenings, meet
from gridlock.policy.rules import DAY
from gridlock.wire.control import Refusal

FRIEND = "0x" + "11" * 20
THIEF = "0x" + "66" * 20
TOKEN = "0x" + "aa" * 20
WATCH = "g-watch"
SIGNERS = ("g1", "g2", WATCH)
NOW = 1_800_000_000


def doc(**parts: object) -> Policy:
    return Policy.from_doc(parts, validate_addresses=False)


def spend(*movements: Movement, tx: str = "tx1", chain: str = "ethereum") -> Spend:
    return Spend(chain, movements, tx)


def decide(policy: Policy, s: Spend | None, ledger: list[Entry] = (), **kw: object):  # type: ignore[assignment]
    return judge(policy, s, signers=kw.pop("signers", SIGNERS), ledger=ledger, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]


# --- typed values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        {"rate": {"max": "a", "period": 60}},  # used to be accepted, then every sign died with TypeError
        {"rate": {"max": 5}},
        {"limits": {"ethereum": {"amount": -1}}},
        {"limits": {"ethereum": {"amount": 1.5}}},
        {"limits": {"moon": {"amount": 1}}},
        {"limits": {"ethereum": {"amount": 1, "period": 0}}},
        {"allow": {"ethereum": "0xabc"}},
        {"timelock": {"bitcoin": {"above": 1}}},
        {"raw_signing": "yes"},
        {"watch": {"hold": 5}},
        {"surprise": 1},
        {"limits": []},
    ],
)
def test_a_bad_value_is_a_typed_error_when_the_policy_is_set(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        Policy.from_doc(bad, validate_addresses=False)


def test_the_document_round_trips_and_the_fingerprint_is_canonical() -> None:
    p = doc(
        limits={"ethereum": {"amount": 10**18, "period": 3600}, f"ethereum:{TOKEN}": {"amount": 5}},
        allow={"ethereum": [FRIEND, TOKEN]},
        rate={"max": 3, "period": 60},
        watch={"guardian": WATCH},
    )
    assert Policy.from_doc(p.to_doc(), validate_addresses=False) == p
    again = doc(allow={"ethereum": [TOKEN, FRIEND]}, limits=p.to_doc()["limits"], rate=p.to_doc()["rate"])
    assert again.fingerprint() != p.fingerprint()  # no watch rule: another policy
    assert (
        doc(allow={"ethereum": [TOKEN, FRIEND]}).fingerprint() == doc(allow={"ethereum": [FRIEND, TOKEN]}).fingerprint()
    )
    assert repr(p).startswith("Policy(") and FRIEND not in repr(p)


# --- tightening is immediate, loosening waits -------------------------------------------------------
def test_tightening_applies_at_once() -> None:
    old = doc(limits={"ethereum": {"amount": 100}})
    new = doc(limits={"ethereum": {"amount": 50}}, allow={"ethereum": [FRIEND]})
    assert meet(old, new) == new and loosenings(old, new) == []
    state = VaultPolicy(old).request(new, NOW)
    assert state.active == new and state.pending is None


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ({"limits": {"ethereum": {"amount": 100}}}, {}, "removes the ethereum limit"),
        ({"limits": {"ethereum": {"amount": 100}}}, {"limits": {"ethereum": {"amount": 101}}}, "raises"),
        ({"allow": {"ethereum": [FRIEND]}}, {"allow": {"ethereum": [FRIEND, THIEF]}}, "adds 1 ethereum"),
        ({"allow": {"ethereum": [FRIEND]}}, {}, "removes the ethereum allow-list"),
        (
            {"timelock": {"bitcoin": {"above": 5, "delay": 60}}},
            {"timelock": {"bitcoin": {"above": 6, "delay": 60}}},
            "weakens",
        ),
        ({}, {"raw_signing": True}, "enables raw signing"),
        ({"watch": {"guardian": WATCH}}, {}, "watch rule"),
        ({"rate": {"max": 5, "period": 60}}, {}, "rate limit"),
        ({"loosen_delay": 7 * DAY}, {"loosen_delay": 60}, "shortens the loosening delay"),
    ],
)
def test_loosening_waits_the_delay_of_the_policy_in_force(old: dict, new: dict, why: str) -> None:  # type: ignore[type-arg]
    before, after = doc(**old), doc(**new)
    state = VaultPolicy(before).request(after, NOW)
    assert state.pending is not None and state.pending.policy == after
    assert any(why in r for r in state.pending.reasons), state.pending.reasons
    assert state.pending.unlock_at == NOW + before.loosen_delay
    assert state.active == meet(before, after)  # what tightens is in force meanwhile
    assert state.current(NOW + before.loosen_delay - 1) is state
    assert state.current(NOW + before.loosen_delay).active == after


def test_a_mixed_change_tightens_now_and_loosens_later() -> None:
    before = doc(limits={"ethereum": {"amount": 100}})
    after = doc(allow={"ethereum": [FRIEND]})  # adds an allow-list (tighter), drops the limit (looser)
    state = VaultPolicy(before).request(after, NOW)
    assert state.active.allow == {"ethereum": frozenset({FRIEND})} and state.active.limit("ethereum", "")
    assert state.pending is not None and state.pending.policy == after


# --- the judge ------------------------------------------------------------------------------------
def test_blind_signing_is_refused_once_the_vault_has_chain_rules() -> None:
    assert decide(Policy(), None).refusal is None  # no rules: a bare hash signs
    limited = doc(limits={"ethereum": {"amount": 10**18}})
    refusal = decide(limited, None).refusal
    assert refusal is not None and refusal.code is Refusal.RAW_SIGNING
    assert decide(doc(limits={"ethereum": {"amount": 1}}, raw_signing=True), None).refusal is None


def test_the_watch_rule_makes_the_watch_guardian_a_required_signer() -> None:
    p = doc(watch={"guardian": WATCH})
    refusal = decide(p, spend(Movement.transfer(FRIEND, 1)), signers=("g1", "g2", "g3")).refusal
    assert refusal is not None and refusal.code is Refusal.WATCH_REQUIRED and WATCH in refusal.reason
    assert decide(p, spend(Movement.transfer(FRIEND, 1))).refusal is None


def test_every_destination_must_be_allowed_approvals_and_calls_included() -> None:
    p = doc(allow={"ethereum": [FRIEND, TOKEN]})
    ok = spend(Movement.call(TOKEN), Movement.transfer(FRIEND, 5, TOKEN), Movement.fee(10**15))
    assert decide(p, ok).refusal is None
    approve = spend(Movement.call(TOKEN), Movement.approval(THIEF, UNBOUNDED, TOKEN))
    refusal = decide(p, approve).refusal
    assert refusal is not None and refusal.code is Refusal.POLICY and "approves" in refusal.reason
    assert decide(p, spend(Movement.call(THIEF))).refusal is not None


def test_a_grant_needs_its_grantee_allowed_even_without_an_allow_list() -> None:
    grant = Spend("cosmos", (Movement("grant", THIEF, UNBOUNDED, "uatom"),), "tx")
    assert decide(doc(limits={"cosmos:uatom": {"amount": 5}}), grant).refusal is not None
    assert decide(Policy(), grant).refusal is None  # a vault with no rules at all


def test_limits_count_the_fee_each_asset_separately_and_a_transaction_once() -> None:
    p = doc(limits={"ethereum": {"amount": 10**18, "period": 3600}, f"ethereum:{TOKEN}": {"amount": 100}})
    big_fee = spend(Movement.transfer(FRIEND, 1), Movement.fee(50 * 10**18))  # a 50 ETH maximum fee
    assert decide(p, big_fee).refusal is not None
    tokens = spend(Movement.call(TOKEN), Movement.transfer(FRIEND, 60, TOKEN), tx="t1")
    first = decide(p, tokens)
    assert first.refusal is None
    # the same transaction again (another signature of it): not counted twice
    assert decide(p, tokens, first.record).refusal is None
    more = spend(Movement.call(TOKEN), Movement.transfer(FRIEND, 60, TOKEN), tx="t2")
    refusal = decide(p, more, first.record).refusal
    assert refusal is not None and "already 60" in refusal.reason
    # a day later (the token limit's period) the window has moved on
    assert decide(p, more, first.record, now=NOW + DAY + 1).refusal is None


def test_an_asset_without_its_own_limit_cannot_move_on_a_limited_chain() -> None:
    p = doc(limits={"ethereum": {"amount": 10**18}})
    refusal = decide(p, spend(Movement.call(TOKEN), Movement.transfer(FRIEND, 1, TOKEN))).refusal
    assert refusal is not None and "no ethereum limit covers" in refusal.reason


def test_an_unbounded_approval_passes_no_limit() -> None:
    p = doc(limits={"solana": {"amount": 10**12}})
    take_all = Spend("solana", (Movement.approval(THIEF, UNBOUNDED, ""),), "tx")
    assert decide(p, take_all).refusal is not None


def test_rate_limit_counts_signatures() -> None:
    p = doc(rate={"max": 2, "period": 60})
    ledger = [Entry(NOW - 10, EntryKind.SIGNATURE), Entry(NOW - 5, EntryKind.SIGNATURE)]
    refusal = decide(p, None, ledger).refusal
    assert refusal is not None and refusal.code is Refusal.RATE_LIMITED
    assert decide(p, None, ledger, now=NOW + 60).refusal is None


def test_a_time_lock_holds_with_its_end_time_and_signs_after_it() -> None:
    p = doc(timelock={"ethereum": {"above": 10, "delay": 600}})
    s = spend(Movement.transfer(FRIEND, 11))
    first = decide(p, s)
    assert first.refusal is not None and first.refusal.code is Refusal.HELD and first.refusal.until == NOW + 600
    assert first.notice is not None and first.notice["until"] == NOW + 600  # the owner is told at once
    assert [e.kind for e in first.record] == [EntryKind.HOLD]
    later = decide(p, s, first.record, now=NOW + 300)
    assert later.refusal is not None and later.refusal.until == NOW + 600 and later.notice is None
    assert decide(p, s, first.record, now=NOW + 600).refusal is None


def test_the_watch_guardian_holds_a_large_payment_to_a_new_destination() -> None:
    s = spend(Movement.transfer(THIEF, 2 * 10**18))
    held = decide(Policy(), s, watching=True)
    assert held.refusal is not None and held.refusal.code is Refusal.HELD and "watch" in held.refusal.reason
    assert decide(Policy(), s, watching=True, paid_before=frozenset({THIEF})).refusal is None
    assert decide(Policy(), s, watching=False).refusal is None  # another guardian's own rule does not hold it


def test_limit_keys_are_unique() -> None:
    with pytest.raises(InvalidParameterError):
        Policy(limits=(Limit("ethereum", "", 1, 60), Limit("ethereum", "", 2, 60)))
