"""``DeviceKeys``: which device key each vault answers to through a recovery of several vaults (issue 14).

The end-to-end proofs are in tests/test_owner_security.py (SDK, guardians over NATS) and
tests/test_cli_recovery.py (the command line); here every transition, in process.
"""

from __future__ import annotations

import json

import pytest

from gridlock.client import DeviceKeys
from gridlock.errors import DecodeError, InvalidParameterError

A, B, C = "vault-a", "vault-b", "vault-c"
OLD = bytes(range(32))


def test_one_recovery_moves_every_vault_onto_one_new_key_and_then_forgets_the_old_one() -> None:
    keys = DeviceKeys(OLD).start(A).start(B)
    new = keys.recovery_key
    assert new is not None and new != OLD
    assert keys.new_device(A).public == keys.new_device(B).public  # the same new key for every vault
    assert keys.start(A) is keys  # starting again changes nothing
    assert keys.lost_device(A) == keys.lost_device(C) == DeviceKeys(OLD).current.public

    keys = keys.finish(A, [A, B, C])  # the first vault to finish: the new key becomes the device key
    assert keys.device == new and keys.key_for(A) == new
    assert keys.key_for(B) == keys.key_for(C) == OLD  # the others still answer to the old key
    assert dict(keys.recovering) == {B: new}
    keys = keys.start(C)  # a vault still on the old key is recovered onto the current device key
    assert keys.new_device(C).to_bytes() == new and keys.lost_device(C) == DeviceKeys(OLD).current.public

    keys = keys.finish(B, [A, B, C]).finish(C, [A, B, C])
    assert (keys.device, dict(keys.held), dict(keys.recovering)) == (new, {}, {})
    assert OLD.hex() not in json.dumps(keys.to_json())  # the lost key is gone once no vault answers to it


def test_cancel_forgets_only_that_vaults_recovery() -> None:
    keys = DeviceKeys(OLD).start(A).start(B)
    new = keys.recovery_key
    keys = keys.cancel(B)
    assert dict(keys.recovering) == {A: new} and keys.key_for(B) == OLD
    keys = keys.cancel(A)
    assert keys == DeviceKeys(OLD) and keys.recovery_key is None  # no vault was ever moved: nothing kept
    with pytest.raises(InvalidParameterError, match="no recovery of vault"):
        keys.new_device(A)
    with pytest.raises(InvalidParameterError, match="no recovery of vault"):
        keys.finish(A, [A])


def test_a_vault_whose_recovery_is_open_stays_on_its_old_key_even_if_not_listed() -> None:
    keys = DeviceKeys(OLD).start(A).start(B).finish(A, [])  # B is left out of the list by mistake
    assert keys.key_for(B) == OLD and keys.key_for(C) == keys.device  # C, unlisted and not recovering, moves


def test_losing_the_new_device_too() -> None:
    """After a finished recovery the current device may be lost as well: its recovery makes a fresh key."""
    keys = DeviceKeys(OLD).start(A).finish(A, [A, B])  # A on the new key N, B still on OLD
    n = keys.device
    again = keys.start(A)  # A's device (N) is lost: a fresh key
    fresh = again.recovery_key
    assert fresh not in (None, n, OLD) and again.key_for(A) == n
    assert again.start(B).new_device(B).to_bytes() == fresh  # B goes straight from OLD to the fresh key
    # but B's recovery onto N, opened before N was lost, must be cancelled first: A cannot "recover" onto N
    onto_n = keys.start(B)
    assert onto_n.new_device(B).to_bytes() == n
    with pytest.raises(InvalidParameterError, match="already uses the key"):
        onto_n.start(A)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"device": b"short"}, "32-byte"),
        ({"device": OLD, "held": {A: OLD}}, "differ from the device key"),
        ({"device": OLD, "held": {A: b"x" * 31}}, "32-byte"),
        ({"device": OLD, "held": {"": b"x" * 32}}, "non-empty"),
        ({"device": OLD, "recovering": {A: b"x" * 32, B: b"y" * 32}}, "same new key"),
        ({"device": OLD, "recovering": {A: OLD}}, "already uses"),
        ({"device": OLD, "held": [A]}, "must map"),
    ],
)
def test_inconsistent_keys_are_refused_when_built(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        DeviceKeys(**kwargs)  # type: ignore[arg-type]


def test_storage_round_trip_legacy_documents_and_malformed_ones() -> None:
    keys = DeviceKeys(OLD).start(A).start(B).finish(A, [A, B, C])
    assert DeviceKeys.from_json(json.loads(json.dumps(keys.to_json()))) == keys
    # a document from before per-vault keys: its device key approves for every vault
    legacy = DeviceKeys.from_json({"device": OLD.hex(), "pending_device": "ab" * 32})
    assert legacy == DeviceKeys(OLD)
    for bad in ([], {}, {"device": "zz"}, {"device": OLD.hex(), "held": ["x"]}, {"device": OLD.hex(), "held": {A: 5}}):
        with pytest.raises(DecodeError):
            DeviceKeys.from_json(bad)


def test_repr_shows_no_private_key() -> None:
    keys = DeviceKeys(OLD).start(A).start(B).finish(A, [A, B])
    text = repr(keys)
    assert "redacted" in text and B in text
    for secret in (keys.device, OLD):
        assert secret.hex() not in text and secret.hex()[:16] not in text
