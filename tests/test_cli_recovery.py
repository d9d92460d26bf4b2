"""Device recovery with several vaults through the `gridlock` command (issue 14): recovering one vault
must never lock the owner out of the others, and neither the old device nor a copy of the old
keyring gains anything from the new device's recovery.

"The old device" is a copy of the devnet directory taken before the recovery (its keyring still holds
the old device key): the same owner, the same devnet, the key the thief walked away with.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from gridlock.cli.keyring import Keyring
from gridlock.local import verify
from test_cli import PASSWORD, fails, gl, ok, teardown

DELAY = 8  # the guardians' recovery time lock, seconds
MESSAGE = bytes(range(32))


def old_device(home: Path, where: Path) -> Path:
    """A copy of the owner's devnet files as they are now: the keyring with today's device key."""
    where.mkdir()
    for name in ("devnet.json", "keyring.json", "directory.json", "vaults.json"):
        shutil.copy2(home / name, where / name)
    return where


def sign(home: Path, vault: str) -> Any:
    return gl(home, "sign", vault, "--message", MESSAGE.hex(), "--json")


def wait_until(unlock: dict[str, int]) -> None:
    time.sleep(max(0.0, max(unlock.values()) + 1.2 - time.time()))


def test_recovering_one_vault_leaves_the_others_usable_and_recoverable(tmp_path: Path) -> None:
    h = tmp_path / "owner"
    try:
        ok(gl(h, "devnet", "up", "--detach", "--recovery-delay", str(DELAY), "--json"))
        vaults = [
            ok(gl(h, "vault", "create", "--scheme", scheme, "--name", name, "--json"))
            for scheme, name in (("frost-ed25519", "one"), ("frost-secp256k1", "two"), ("frost-taproot", "three"))
        ]
        one, two, three = (v["id"] for v in vaults)
        thief = old_device(h, tmp_path / "old-phone")
        lost_key = Keyring.load(h / "keyring.json", PASSWORD).device

        # the new device opens recoveries of "one" and "two"; "three" keeps signing meanwhile
        unlock_one = ok(gl(h, "recover", "start", "one", "--json"))["unlock_at"]
        ok(gl(h, "recover", "start", "two", "--json"))
        fails(sign(h, "one"), 1, "recovery is open")
        ok(sign(h, "three"))
        # the old device can still cancel during the delay (here: the recovery of "two")
        ok(gl(thief, "recover", "cancel", "two", "--json"))
        wait_until(unlock_one)
        assert ok(gl(h, "recover", "finish", "one", "--json"))["finished"]

        # "one" answers to the new key only; "two" and "three" still to the old one, from this keyring too
        ok(sign(h, "one"))
        fails(sign(thief, "one"), 1, "unregistered device")
        ok(sign(h, "two"))
        ok(sign(h, "three"))
        # and their recoveries start (onto the same new key) and finish
        unlock = ok(gl(h, "recover", "start", "two", "--json"))["unlock_at"]
        ok(gl(h, "recover", "start", "three", "--json"))
        fails(gl(h, "recover", "finish", "three"), 1, "time")
        wait_until(unlock)
        assert ok(gl(h, "recover", "finish", "two", "--json"))["finished"]
        assert ok(gl(h, "recover", "finish", "three", "--json"))["finished"]

        for v in vaults:
            signature = bytes.fromhex(ok(sign(h, v["id"]))["signature"])
            assert verify(v["scheme"], bytes.fromhex(v["public_key"]), MESSAGE, signature)
            fails(sign(thief, v["id"]), 1, "unregistered device")  # revoked on every vault
        # the keyring keeps one device key, the new one, for every vault; the lost key is gone
        keys = Keyring.load(h / "keyring.json", PASSWORD).keys
        assert keys.device != lost_key and not keys.held and not keys.recovering
        assert {keys.key_for(v) for v in (one, two, three)} == {keys.device}
    finally:
        teardown(h)
