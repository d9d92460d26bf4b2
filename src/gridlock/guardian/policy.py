"""A guardian's copy of a vault's policy: the rules it enforces now and a loosening that waits.

Kept in the vault's metadata as ``{"active": <policy document>, "pending": {"doc", "unlock_at",
"reasons"}}`` — small and bounded; what grows (the spending ledger) is in the store's own table
(:mod:`gridlock.policy.ledger`).  A pending policy replaces the active one once its time lock has
passed, at the first request that reads it (:meth:`VaultPolicy.current`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.policy import Policy, loosenings, meet


@dataclass(frozen=True)
class Pending:
    policy: Policy
    unlock_at: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class VaultPolicy:
    active: Policy
    pending: Pending | None = None

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> VaultPolicy:
        raw = meta.get("policy")
        if raw is None:
            return cls(Policy())
        if isinstance(raw, Mapping) and "rules" in raw and "active" not in raw:  # written before schema v3
            old = raw["rules"] if isinstance(raw["rules"], Mapping) else {}
            raw = {
                "active": {k: v for k, v in old.items() if k in ("limits", "allow", "timelock") or (k == "rate" and v)}
            }
        try:
            if not isinstance(raw, Mapping) or "active" not in raw:
                raise DecodeError("the stored policy has no active rules")
            active = Policy.from_doc(raw["active"], validate_addresses=False)
            p = raw.get("pending")
            pending = None
            if p is not None:
                pending = Pending(
                    Policy.from_doc(p["doc"], validate_addresses=False), int(p["unlock_at"]), tuple(p["reasons"])
                )
        except (InvalidParameterError, KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"the stored policy is damaged ({exc})") from None
        return cls(active, pending)

    @classmethod
    def empty(cls) -> VaultPolicy:
        return cls(Policy())

    def to_meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"active": self.active.to_doc()}
        if self.pending is not None:
            out["pending"] = {
                "doc": self.pending.policy.to_doc(),
                "unlock_at": self.pending.unlock_at,
                "reasons": list(self.pending.reasons),
            }
        return out

    def current(self, now: int) -> VaultPolicy:
        """This state with a pending loosening applied once its time has come."""
        if self.pending is not None and now >= self.pending.unlock_at:
            return VaultPolicy(self.pending.policy)
        return self

    def request(self, new: Policy, now: int) -> VaultPolicy:
        """The owner asks for ``new``: what only tightens applies now, the rest waits
        ``loosen_delay`` of the policy in force (:mod:`gridlock.policy.change`).  A new request
        replaces a pending one (its own loosening waits again from now)."""
        now_policy = meet(self.active, new)
        if now_policy == new:
            return VaultPolicy(new)
        return VaultPolicy(
            now_policy, Pending(new, now + self.active.loosen_delay, tuple(loosenings(self.active, new)))
        )
