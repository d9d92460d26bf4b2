"""Changing a policy: tightening is immediate, loosening waits (SECURITY #18).

A thief holding the owner's device and password can approve a ``policy-set``.  So every guardian
splits a requested policy ``new`` against the one it enforces, ``old``:

* :func:`meet` — the strictest combination of both, rule by rule.  It takes effect at once: it
  never allows anything ``old`` refused, so applying it cannot help a thief;
* if ``meet(old, new) != new`` the request also *loosens* (:func:`loosenings` says how), and ``new``
  waits as the pending policy until ``old.loosen_delay`` has passed; the owner's devices are told
  and can cancel it meanwhile (``policy-cancel``), as with device recovery.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridlock.policy.rules import Limit, Policy, Rate, TimeLock, Watch, watch_threshold

__all__ = ["loosenings", "meet"]


def _meet_limits(a: tuple[Limit, ...], b: tuple[Limit, ...]) -> tuple[Limit, ...]:
    """Both limits where both have one; a limit only ``b`` has is kept only on a chain ``a`` does not
    limit: there, a new key lets an asset move that could not (or a token id escape its contract's)."""
    out = {lim.key: lim for lim in a}
    limited = {lim.chain for lim in a}
    for lim in b:
        old = out.get(lim.key)
        if old is not None:
            out[lim.key] = Limit(lim.chain, lim.asset, min(old.amount, lim.amount), max(old.period, lim.period))
        elif lim.chain not in limited:
            out[lim.key] = lim
    return tuple(out.values())


def _meet_sets(a: Mapping[str, frozenset[str]], b: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Allow-lists: both lists' common entries, a list either has."""
    out = dict(a)
    for chain, entries in b.items():
        out[chain] = out[chain] & entries if chain in out else entries
    return out


def _meet_timelocks(a: tuple[TimeLock, ...], b: tuple[TimeLock, ...]) -> tuple[TimeLock, ...]:
    out = {t.key: t for t in a}
    for t in b:
        old = out.get(t.key)
        out[t.key] = t if old is None else TimeLock(t.chain, min(old.above, t.above), max(old.delay, t.delay), t.asset)
    return tuple(out.values())


def _meet_rate(a: Rate | None, b: Rate | None) -> Rate | None:
    if a is None or b is None:
        return a or b
    return Rate(min(a.max, b.max), max(a.period, b.period))


def _meet_watch(a: Watch | None, b: Watch | None) -> Watch | None:
    if a is None or b is None:
        return a or b
    if a.guardian != b.guardian:
        return a  # naming another watch guardian is a loosening of the rule that names this one
    keys = set(a.large) | set(b.large)
    both = {k: min(watch_threshold(a, k), watch_threshold(b, k)) for k in keys}
    large = {k: v for k, v in both.items() if v != watch_threshold(None, k)}  # a default is left unsaid
    return Watch(a.guardian, max(a.hold, b.hold), large)


def meet(old: Policy, new: Policy) -> Policy:
    """What both policies allow, and nothing more."""
    return Policy(
        limits=_meet_limits(old.limits, new.limits),
        allow=_meet_sets(old.allow, new.allow),
        timelocks=_meet_timelocks(old.timelocks, new.timelocks),
        rate=_meet_rate(old.rate, new.rate),
        raw_signing=old.raw_signing and new.raw_signing,
        watch=_meet_watch(old.watch, new.watch),
        loosen_delay=max(old.loosen_delay, new.loosen_delay),
        calls={c: old.calls[c] & new.calls[c] for c in old.calls if c in new.calls},
        export=old.export and new.export,
    )


def loosenings(old: Policy, new: Policy) -> list[str]:
    """How ``new`` allows more than ``old``, one line each (empty: ``new`` only tightens)."""
    out = []
    for lim in old.limits:
        now = new.limit(lim.chain, lim.asset)
        if now is None:
            out.append(f"removes the {lim.key} limit")
        elif now.amount > lim.amount or now.period < lim.period:
            out.append(f"raises the {lim.key} limit")
    limited = {lim.chain for lim in old.limits}
    out += [
        f"adds a {lim.key} limit (lets it move)"
        for lim in new.limits
        if lim.chain in limited and not old.limit(lim.chain, lim.asset)
    ]
    for chain, entries in old.allow.items():
        if chain not in new.allow:
            out.append(f"removes the {chain} allow-list")
        elif new.allow[chain] - entries:
            out.append(f"adds {len(new.allow[chain] - entries)} {chain} address(es) to the allow-list")
    for chain, entries in new.calls.items():
        if entries - old.calls.get(chain, frozenset()):
            out.append(f"trusts more {chain} contracts with calls it cannot read")
    new_locks = {t.key: t for t in new.timelocks}
    for t in old.timelocks:
        now_t = new_locks.get(t.key)
        if now_t is None:
            out.append(f"removes the {t.key} time lock")
        elif now_t.above > t.above or now_t.delay < t.delay:
            out.append(f"weakens the {t.key} time lock")
    if old.rate is not None and (new.rate is None or new.rate.max > old.rate.max or new.rate.period < old.rate.period):
        out.append("raises or removes the rate limit")
    if new.raw_signing and not old.raw_signing:
        out.append("enables raw signing")
    if new.export and not old.export:
        out.append("enables export of the key")
    if old.watch is not None and _meet_watch(old.watch, new.watch) != new.watch:
        out.append("removes or weakens the watch rule")
    if new.loosen_delay < old.loosen_delay:
        out.append("shortens the loosening delay")
    return out
