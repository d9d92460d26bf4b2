"""One vault's state at a guardian, typed: everything a request reads and changes besides the shares.

It is the vault's metadata in the store, read once per request and written at most once (with the
session claim, or when the request ends: :class:`~gridlock.guardian.core.RequestState`).  Only
small, bounded things live here — what grows with use has its own table (the policy ledger):

* ``members`` — who holds which index, for the epochs that can still be used (the active one and
  any pending one; a retired epoch's list is dropped when a newer epoch is stored);
* ``owner`` — the owner's registration (:class:`~gridlock.guardian.owner.OwnerState`);
* ``policy`` — the owner's spending policy (:class:`~gridlock.guardian.policy.VaultPolicy`);
* ``recovery`` — the device-recovery state machine (:class:`Recovery`);
* ``clients`` — owner devices that joined through a finished recovery (client id → public identity);
* ``password_failures`` — recent wrong-password times per budget: :data:`OWNER` (the vault's
  registered devices), ``strangers:<client id>`` per other requester, and :data:`STRANGERS` for all of
  those together, so strangers cannot lock the owner out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridlock.errors import DecodeError
from gridlock.guardian.owner import OwnerState
from gridlock.guardian.policy import VaultPolicy
from gridlock.wire import control as ctl

__all__ = ["OWNER", "STRANGERS", "Recovery", "VaultState"]

OWNER = "owner"
STRANGERS = "strangers"
_KNOWN = frozenset({"members", "owner", "policy", "recovery", "clients", "password_failures"})


@dataclass
class Recovery:
    """Device recovery: ``none`` → ``open`` (until ``unlock_at``) → ``finished`` or ``cancelled``."""

    state: str = "none"
    new_device: bytes = b""
    lost_device: bytes = b""
    opened: int = 0
    unlock_at: int = 0

    @property
    def open(self) -> bool:
        return self.state == "open"

    def to_meta(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "new_device": self.new_device.hex(),
            "lost_device": self.lost_device.hex(),
            "opened": self.opened,
            "unlock_at": self.unlock_at,
        }

    @classmethod
    def from_meta(cls, raw: Any) -> Recovery:
        if not raw:
            return cls()
        return cls(
            str(raw["state"]),
            bytes.fromhex(raw["new_device"]),
            bytes.fromhex(raw["lost_device"]),
            int(raw["opened"]),
            int(raw["unlock_at"]),
        )


@dataclass
class VaultState:
    members: dict[int, dict[int, str]] = field(default_factory=dict)
    owner: OwnerState | None = None
    policy: VaultPolicy = field(default_factory=VaultPolicy.empty)
    recovery: Recovery = field(default_factory=Recovery)
    clients: dict[str, str] = field(default_factory=dict)
    password_failures: dict[str, list[int]] = field(default_factory=dict)
    others: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as they are

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> VaultState:
        """The typed state of stored metadata; :class:`DecodeError` if it is damaged."""
        try:
            failures = meta.get("password_failures", {})
            if isinstance(failures, list):  # one list for everyone, as written before requester classes
                failures = {STRANGERS: failures}
            return cls(
                members={int(e): {int(i): str(g) for i, g in m.items()} for e, m in meta.get("members", {}).items()},
                owner=OwnerState.from_meta(meta) if "owner" in meta else None,
                policy=VaultPolicy.from_meta(meta),
                recovery=Recovery.from_meta(meta.get("recovery")),
                clients={str(k): str(v) for k, v in meta.get("clients", {}).items()},
                password_failures={str(k): [int(t) for t in v] for k, v in failures.items()},
                others={k: v for k, v in meta.items() if k not in _KNOWN},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DecodeError(f"the vault's stored state is damaged ({type(exc).__name__})") from None

    def to_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = dict(self.others)
        meta["members"] = {str(e): {str(i): g for i, g in m.items()} for e, m in sorted(self.members.items())}
        if self.owner is not None:
            meta["owner"] = self.owner.to_meta()
        if self.policy != VaultPolicy.empty():
            meta["policy"] = self.policy.to_meta()
        if self.recovery.state != "none":
            meta["recovery"] = self.recovery.to_meta()
        if self.clients:
            meta["clients"] = dict(self.clients)
        failures = {k: v for k, v in self.password_failures.items() if v}
        if failures:
            meta["password_failures"] = failures
        return meta

    # --- members per epoch -------------------------------------------------------------------------
    def members_of(self, vault_id: str, epoch: int) -> dict[int, str]:
        members = self.members.get(epoch)
        if members is None:
            raise ctl.RequestRefused(
                ctl.Refusal.UNKNOWN_VAULT, f"no membership recorded for vault {vault_id} epoch {epoch}"
            )
        return dict(members)

    def add_epoch(self, epoch: int, members: Mapping[int, str], oldest_usable: int | None) -> None:
        """Record ``epoch``'s holders; drop the lists of epochs older than ``oldest_usable`` (the
        active epoch), which no request can use any more — so the state does not grow with age."""
        self.members[epoch] = dict(members)
        if oldest_usable is not None:
            self.members = {e: m for e, m in self.members.items() if e >= oldest_usable}

    # --- the password's rate limit --------------------------------------------------------------------
    def recent_failures(self, who: str, now: int, window: int) -> list[int]:
        return [t for t in self.password_failures.get(who, []) if t > now - window]

    def forget_failures_before(self, start: int) -> None:
        kept = {who: [t for t in times if t > start] for who, times in self.password_failures.items()}
        self.password_failures = {who: times for who, times in kept.items() if times}
