"""The store rules as pure functions (``gridlock.guardian.store.rules``), without any store.

``test_store_contract.py`` checks that both stores behave alike; this checks the rules themselves:
a random walk of epoch transitions never breaks the invariants, and the item rules hand out each
secret once.
"""

from __future__ import annotations

import random

import pytest

from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import (
    AlreadyExists,
    AlreadyUsed,
    EpochConflict,
    KeystoreError,
    NotFound,
    Retired,
)


def check_invariants(epochs: dict[int, str]) -> None:
    active = [e for e, s in epochs.items() if s == "active"]
    assert len(active) <= 1
    if active:
        assert all(e < active[0] for e, s in epochs.items() if s == "retired")
    else:
        assert "retired" not in epochs.values()  # only an activation retires


@pytest.mark.parametrize("seed", range(20))
def test_random_transitions_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    epochs: dict[int, str] = {}
    for _ in range(200):
        op, epoch = rng.choice(["store", "activate", "discard", "purge"]), rng.randrange(8)
        before = dict(epochs)
        try:
            if op == "store":
                if not rules.store_pending("v", epochs, epoch):
                    epochs[epoch] = "pending"
                else:
                    assert epochs[epoch] == "pending"
            elif op == "activate":
                plan = rules.activate("v", epochs, epoch)
                if plan is None:
                    assert epochs[epoch] == "active"
                else:
                    assert before[epoch] == "pending"
                    epochs = plan.apply(epochs)
                    assert not any(e in epochs for e in plan.drop)
            elif op == "discard":
                plan_d = rules.discard_pending("v", epochs, epoch)
                del epochs[epoch]
                if plan_d.remove_vault:
                    assert not any(s != "retired" for s in epochs.values())
                    epochs = {}
            else:
                for e in rules.retired_epochs(epochs):
                    del epochs[e]
        except KeystoreError as exc:
            assert isinstance(exc, EpochConflict | NotFound)
            assert epochs == before  # a refused transition decides nothing
        check_invariants(epochs)


def test_activation_plan() -> None:
    epochs = {0: "retired", 1: "active", 2: "pending", 3: "pending", 4: "pending"}
    plan = rules.activate("v", epochs, 3)
    assert plan == rules.Activation(epoch=3, retire=1, drop=(2,))
    assert plan.apply(epochs) == {0: "retired", 1: "retired", 3: "active", 4: "pending"}
    assert rules.activate("v", {1: "active"}, 1) is None
    with pytest.raises(EpochConflict):
        rules.activate("v", epochs, 0)
    with pytest.raises(NotFound):
        rules.activate("v", epochs, 9)
    with pytest.raises(Retired):
        rules.activate("v", {5: "retired"}, 5)  # (a retired epoch is older than the active one in a store)


def test_items_are_handed_out_once() -> None:
    added = rules.new_items("nonce", "v", 0, [(b"a", b"secret")], {})
    assert added == [(b"a", rules.Item(False, b"secret"))]
    used, secret = rules.take("nonce", "v", 0, b"a", added[0][1], "active")
    assert (used, secret) == (rules.Item(True, None), b"secret")
    with pytest.raises(AlreadyUsed):
        rules.take("nonce", "v", 0, b"a", used, "active")
    with pytest.raises(AlreadyUsed):
        rules.new_items("nonce", "v", 0, [(b"a", b"again")], {b"a": True})
    with pytest.raises(AlreadyExists):
        rules.new_items("nonce", "v", 0, [(b"b", b"x"), (b"a", b"again")], {b"a": False})
    with pytest.raises(Retired):
        rules.take("nonce", "v", 0, b"a", None, "retired")
    with pytest.raises(NotFound):
        rules.take("nonce", "v", 0, b"a", None, "active")
    assert rules.new_items(rules.SESSION, "v", 0, [(b"s", b"\x01")], {}) == [(b"s", rules.Item(True, None))]
    with pytest.raises(AlreadyUsed):
        rules.new_items(rules.SESSION, "v", 0, [(b"s", b"\x01")], {b"s": True})
    assert "secret" not in repr(rules.Item(False, b"secret"))


def test_only_an_uncommitted_pending_epoch_is_replaced() -> None:
    """A newer key change replaces a pending epoch of its number (issue 18: a lost reply or abort left
    it); never the active or a retired epoch, and nothing when no such epoch is pending."""
    epochs = {3: "retired", 4: "active", 5: "pending"}
    assert rules.replaces_pending("v", epochs, 5) is True
    assert rules.replaces_pending("v", epochs, 6) is False
    for old in (3, 4):
        with pytest.raises(EpochConflict):
            rules.replaces_pending("v", epochs, old)
    assert rules.replaces_pending("v", {0: "pending"}, 0) is True  # a new holder's never-committed epoch
