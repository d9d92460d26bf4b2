"""Each guardian's own policy for a vault (SECURITY #18–19): limits, allow-lists, time locks, rates.

Rules are set by the owner with an approved ``policy-set`` request and kept in the vault's
metadata at each guardian; a "watch" guardian (the whitepaper's Watchlight) adds its own rule on
top.  A chain transaction is judged on the guardian's *own* reading of it (``gridlock.chains``
summaries of the transaction bytes it was shown, never on what the client claims)::

    {
      "limits":   {"ethereum": {"amount": 10**18, "period": 86400}},   # per chain, per rolling period
      "allow":    {"bitcoin": ["bc1q…", …]},                            # destination allow-lists
      "timelock": {"ethereum": {"above": 10**17, "delay": 3600}},       # hold large spends this long
      "rate":     {"max": 20, "period": 3600}                           # signatures per period
    }

A refused or held request says which guardian refused and why, and nothing of other guardians.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridlock.chains import CHAINS
from gridlock.chains.movement import Movement
from gridlock.errors import DecodeError
from gridlock.wire.control import Refusal, RequestRefused

WATCH_LARGE_DEFAULT = {"bitcoin": 10_000_000, "ethereum": 10**18, "solana": 10 * 10**9, "cosmos": 10**9}
WATCH_HOLD = 24 * 3600


@dataclass(frozen=True)
class Spend:
    """What a transaction does, as this guardian read it: chain, recipients and amounts."""

    chain: str
    movements: tuple[Movement, ...]
    tx_hash: str

    @property
    def outputs(self) -> tuple[tuple[str, int], ...]:
        return tuple((m.destination, m.amount) for m in self.movements if m.kind != "fee")

    @property
    def total(self) -> int:
        return sum(m.amount for m in self.movements if m.asset == "")


def validate_rules(rules: Any) -> dict[str, Any]:
    """Strict check of a policy document; returns it normalised."""
    if not isinstance(rules, dict) or set(rules) - {"limits", "allow", "timelock", "rate", "watch_large"}:
        raise DecodeError("policy must be a map of limits / allow / timelock / rate")

    def per_chain(name: str, keys: set[str]) -> dict[str, dict[str, int]]:
        table = rules.get(name, {})
        if not isinstance(table, dict):
            raise DecodeError(f"policy {name} must map chains to settings")
        out = {}
        for chain, v in table.items():
            if chain not in CHAINS or not isinstance(v, dict) or set(v) != keys:
                raise DecodeError(f"policy {name}: bad entry for {chain!r} (keys {sorted(keys)})")
            if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v.values()):
                raise DecodeError(f"policy {name}: values must be non-negative integers")
            out[chain] = dict(v)
        return out

    allow = rules.get("allow", {})
    if not isinstance(allow, dict) or any(
        c not in CHAINS or not isinstance(v, list) or not all(isinstance(a, str) for a in v) for c, v in allow.items()
    ):
        raise DecodeError("policy allow: map chains to lists of addresses")
    rate = rules.get("rate", {})
    if rate and (not isinstance(rate, dict) or set(rate) != {"max", "period"}):
        raise DecodeError("policy rate: {max, period}")
    return {
        "limits": per_chain("limits", {"amount", "period"}),
        "allow": {c: sorted(set(v)) for c, v in allow.items()},
        "timelock": per_chain("timelock", {"above", "delay"}),
        "rate": dict(rate),
        **({"watch_large": rules["watch_large"]} if "watch_large" in rules else {}),
    }


@dataclass
class PolicyState:
    rules: dict[str, Any] = field(default_factory=dict)
    history: list[list[Any]] = field(default_factory=list)  # [time, chain, total, destinations, tx hash]
    holds: dict[str, int] = field(default_factory=dict)  # tx hash -> first seen
    seen_destinations: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> PolicyState:
        p = meta.get("policy", {})
        return cls(
            dict(p.get("rules", {})),
            list(p.get("history", [])),
            dict(p.get("holds", {})),
            {k: list(v) for k, v in p.get("seen", {}).items()},
        )

    def to_meta(self, now: int) -> dict[str, Any]:
        horizon = now - 31 * 86400  # keep a month of history, enough for any sensible period
        return {
            "rules": self.rules,
            "history": [h for h in self.history if h[0] >= horizon][-10_000:],
            "holds": {k: v for k, v in self.holds.items() if v >= horizon},
            "seen": self.seen_destinations,
        }

    def check(self, spend: Spend | None, *, now: int, watch: bool) -> None:
        """Raise :class:`RequestRefused` (``policy`` / ``held``) unless the request passes every rule."""
        rules = self.rules
        rate = rules.get("rate")
        if rate:
            recent = [h for h in self.history if h[0] > now - rate["period"]]
            if len(recent) >= rate["max"]:
                raise RequestRefused(Refusal.POLICY, f"rate limit: {rate['max']} signatures per {rate['period']} s")
        if spend is None:
            return
        allow = rules.get("allow", {}).get(spend.chain)
        if allow is not None:
            outside = [d for d, _ in spend.outputs if d not in allow]
            if outside:
                raise RequestRefused(Refusal.POLICY, f"destination not on the {spend.chain} allow-list: {outside[0]}")
        limit = rules.get("limits", {}).get(spend.chain)
        if limit:
            # one transaction counts once, however many of its hashes are signed (a Bitcoin input each)
            spent = sum(
                h[2]
                for h in self.history
                if h[1] == spend.chain and h[0] > now - limit["period"] and h[4:5] != [spend.tx_hash]
            )
            if spent + spend.total > limit["amount"]:
                raise RequestRefused(
                    Refusal.POLICY,
                    f"{spend.chain} spending limit {limit['amount']} per {limit['period']} s "
                    f"(already {spent}, this {spend.total})",
                )
        lock = rules.get("timelock", {}).get(spend.chain)
        delay = lock["delay"] if lock and spend.total > lock["above"] else 0
        if watch:  # Watchlight: a new destination with a large amount is held and the owner told
            large = rules.get("watch_large", WATCH_LARGE_DEFAULT).get(spend.chain, 0)
            known = set(self.seen_destinations.get(spend.chain, []))
            if spend.total >= large > 0 and any(d not in known for d, _ in spend.outputs):
                delay = max(delay, WATCH_HOLD)
        if delay:
            first = self.holds.setdefault(spend.tx_hash, now)
            if now < first + delay:
                raise RequestRefused(Refusal.HELD, f"held by time lock until {first + delay} (amount {spend.total})")

    def record(self, spend: Spend | None, now: int) -> None:
        """One signature made.  Its transaction's amount is counted once: a further hash of the same
        transaction (another input of a PSBT) records no amount again, and its time-lock hold stays
        until it ages out, so the transaction's next input is not held anew."""
        if spend is None:
            self.history.append([now, "", 0, []])
            return
        again = any(h[4:5] == [spend.tx_hash] for h in self.history)
        self.history.append([now, spend.chain, 0 if again else spend.total, [], spend.tx_hash])
        seen = self.seen_destinations.setdefault(spend.chain, [])
        for d, _ in spend.outputs:
            if d not in seen:
                seen.append(d)


def spend_of(chain: str, movements: Sequence[Movement], tx_hash: str) -> Spend:
    return Spend(chain, tuple(movements), tx_hash)
