"""The owner's device keys across all of its vaults, through device recoveries (SECURITY #21).

A guardian registers owner device keys per vault, and a recovery moves one vault at a time: each
vault has its own time lock, and until that lock ends the device being replaced stays the vault's
owner.  So after a lost device's recovery has finished on one vault the owner has two keys in
use: the new one, on the recovered vault, and the old one, on every vault whose recovery has not
finished yet.  :class:`DeviceKeys` is the record of which key each vault answers to:

* ``device`` — the current key: it approves for new vaults and for every vault not in ``held``;
* ``held`` — vault id → an older key that is still the vault's registered device, kept only until
  that vault's recovery has finished;
* ``recovering`` — vault id → the new key of a recovery opened on that vault.  One recovery moves
  every vault onto **one** new key: the first ``start`` makes it, every later one reuses it.

``finish`` of the first vault makes the new key ``device`` and pins every other vault on the key
it still has; ``finish`` of the last one drops the old key.  The old device therefore keeps what
the guardians give it (cancelling during each vault's time lock) and loses each vault as that
vault's recovery finishes; an old key is dropped from the record once no vault answers to it.

Values are immutable: every transition returns a new ``DeviceKeys``; save it (encrypted) before
telling the guardians, so no key a guardian may register is ever only in memory.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from gridlock.client.owner import OwnerDevice
from gridlock.errors import DecodeError, InvalidParameterError

KEY_BYTES = 32


def _key(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != KEY_BYTES:
        raise InvalidParameterError(f"{what} must be a {KEY_BYTES}-byte Ed25519 private key")
    return value


def _public(key: bytes) -> bytes:
    return OwnerDevice.from_bytes(key).public


@dataclass(frozen=True, repr=False)
class DeviceKeys:
    device: bytes
    held: Mapping[str, bytes] = field(default_factory=dict)
    recovering: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _key(self.device, "the device key")
        for name in ("held", "recovering"):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise InvalidParameterError(f"DeviceKeys.{name} must map vault ids to keys")
            for vault_id, key in table.items():
                if not isinstance(vault_id, str) or not vault_id:
                    raise InvalidParameterError(f"DeviceKeys.{name}: a vault id must be a non-empty string")
                _key(key, f"the key of vault {vault_id} in DeviceKeys.{name}")
            object.__setattr__(self, name, MappingProxyType(dict(table)))
        if any(key == self.device for key in self.held.values()):
            raise InvalidParameterError("a held key must differ from the device key (such vaults use the device)")
        if len(set(self.recovering.values())) > 1:
            raise InvalidParameterError("every vault's recovery must move to the same new key")
        for vault_id, key in self.recovering.items():
            if key == self.key_for(vault_id):
                raise InvalidParameterError(f"vault {vault_id} already uses the key its recovery moves to")

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(secrets.token_bytes(KEY_BYTES))

    # --- which key for which vault ---------------------------------------------------------------------
    def key_for(self, vault_id: str) -> bytes:
        """The key registered as the owner's device at ``vault_id`` (as far as this record knows)."""
        return self.held.get(vault_id, self.device)

    def approver(self, vault_id: str) -> OwnerDevice:
        """The device that approves requests for ``vault_id``."""
        return OwnerDevice.from_bytes(self.key_for(vault_id))

    @property
    def current(self) -> OwnerDevice:
        """The current device: it approves for new vaults (and registers with them)."""
        return OwnerDevice.from_bytes(self.device)

    @property
    def recovery_key(self) -> bytes | None:
        """The new key of the recovery under way (``None`` when no vault's recovery is open)."""
        return next(iter(self.recovering.values()), None)

    def new_device(self, vault_id: str) -> OwnerDevice:
        """The device the open recovery of ``vault_id`` moves it to."""
        key = self.recovering.get(vault_id)
        if key is None:
            raise InvalidParameterError(f"no recovery of vault {vault_id} was started with these keys")
        return OwnerDevice.from_bytes(key)

    def lost_device(self, vault_id: str) -> bytes:
        """The public key a recovery of ``vault_id`` replaces: the device registered there."""
        return _public(self.key_for(vault_id))

    # --- a recovery: start, cancel, finish (one vault at a time) --------------------------------------
    def start(self, vault_id: str) -> DeviceKeys:
        """Record that a recovery of ``vault_id`` opens; its new key is the recovery's.

        The new key is the one every open recovery moves to; with none open, the current device
        key for a vault still held on an older key (the rest of a recovery finished elsewhere),
        else a fresh key (the current device itself is lost).  Starting twice is harmless.
        """
        if vault_id in self.recovering:
            return self
        key = self.key_for(vault_id)
        new = self.recovery_key
        if new is None:
            new = self.device if vault_id in self.held else secrets.token_bytes(KEY_BYTES)
        if new == key:
            raise InvalidParameterError(
                f"vault {vault_id} already uses the key the open recovery moves to: nothing to recover there",
            )
        return replace(self, recovering={**self.recovering, vault_id: new})

    def cancel(self, vault_id: str) -> DeviceKeys:
        """Forget the recovery of ``vault_id`` (cancelled by the old device, or refused)."""
        return replace(self, recovering={v: k for v, k in self.recovering.items() if v != vault_id})

    def finish(self, vault_id: str, vaults: Iterable[str]) -> DeviceKeys:
        """The guardians of ``vault_id`` accepted its new key: that vault now answers to it.

        ``vaults`` lists every other vault these keys approve for: the first vault to finish makes
        the new key the current device, and each of ``vaults`` not yet held stays on the key it
        has.  (A vault left out would be taken to use the new key.)  An older key no vault is held
        on any more is dropped.
        """
        new = self.recovering.get(vault_id)
        if new is None:
            raise InvalidParameterError(f"no recovery of vault {vault_id} was started with these keys")
        held, device = dict(self.held), self.device
        if new != device:  # vaults whose recovery is open are still on the old key too
            for other in (*vaults, *self.recovering):
                held.setdefault(other, device)
            device = new
        held.pop(vault_id, None)
        held = {v: k for v, k in held.items() if k != device}
        recovering = {v: k for v, k in self.recovering.items() if v != vault_id}
        return DeviceKeys(device, held, recovering)

    # --- storage (the caller encrypts it) -----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Secret: the private keys, hex.  Store it encrypted (the CLI's keyring does)."""
        return {
            "device": self.device.hex(),
            "held": {v: k.hex() for v, k in self.held.items()},
            "recovering": {v: k.hex() for v, k in self.recovering.items()},
        }

    @classmethod
    def from_json(cls, doc: object) -> DeviceKeys:
        if not isinstance(doc, Mapping):
            raise DecodeError("device keys: expected an object")
        try:
            tables = {}
            for name in ("held", "recovering"):
                raw = doc.get(name) or {}
                if not isinstance(raw, Mapping):
                    raise DecodeError(f"device keys: {name!r} must be an object")
                tables[name] = {str(v): bytes.fromhex(k) for v, k in raw.items()}
            return cls(bytes.fromhex(doc["device"]), tables["held"], tables["recovering"])
        except (KeyError, TypeError, ValueError, InvalidParameterError) as exc:
            raise DecodeError(f"device keys malformed: {exc}") from None

    def __repr__(self) -> str:
        def pub(key: bytes) -> str:
            return _public(key).hex()[:16] + "…"

        held = {v: pub(k) for v, k in self.held.items()}
        recovering = {v: pub(k) for v, k in self.recovering.items()}
        return f"DeviceKeys(device={pub(self.device)}, held={held}, recovering={recovering}, <private keys redacted>)"
