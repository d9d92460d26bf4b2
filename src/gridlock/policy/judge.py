"""Judging one signature request by a vault's policy (SECURITY #18–19), as a pure function.

The guardian reads the transaction itself (:mod:`gridlock.chains`) into a :class:`Spend`, loads the
ledger window the policy needs, and asks :func:`judge`.  The :class:`Decision` says whether to sign,
which ledger entries to write (the signature and what it moves when it passes; the start of a hold
when a time lock first holds it — written even though the request is refused) and whom to tell.

Rules, in order (the first that refuses wins):

1. rate — at most ``rate.max`` signatures per period;
2. the watch rule — its guardian must be among the signers of every signature of the vault;
3. a bare hash (no transaction to read) — refused when the policy has any chain rule, unless the
   owner enabled ``raw_signing``;
4. allow-list — every destination the transaction moves value to, approves, grants to, or calls;
   a grant (Cosmos authz/feegrant) only to an allowed grantee, even without an allow-list;
5. limits — per chain and asset over the rolling period, counting transfers, approvals, calls' value
   and the maximum fee; once a chain has a limit, an asset without one of its own is refused, and an
   amount the reading could not bound (``UNBOUNDED``) passes no limit; a transaction counts once
   however many of its hashes are signed and however often it is signed again;
6. time locks — a spend above the chain's threshold waits ``delay`` from when it was first asked;
   at the watch guardian, a large payment to a destination never paid before waits ``watch.hold``
   (the owner is told at once; the reply says until when, never a timeout).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridlock.chains.movement import Kind, Movement
from gridlock.policy.ledger import Entry, EntryKind, entries_for
from gridlock.policy.rules import DAY, WATCH_LARGE_DEFAULT, Policy, watch_threshold
from gridlock.wire.control import Refusal, RequestRefused

__all__ = ["WATCH_LARGE_DEFAULT", "Decision", "Spend", "horizon", "judge"]


@dataclass(frozen=True)
class Spend:
    """What a transaction moves, as this guardian read it, and the digest of the transaction."""

    chain: str
    movements: tuple[Movement, ...]
    tx_hash: str
    blind: bool = False  # content nobody can read (a personal message that is not text): raw signing

    def amount(self, asset: str) -> int:
        return sum(m.amount for m in self.movements if m.asset == asset)

    @property
    def assets(self) -> list[str]:
        return sorted({m.asset for m in self.movements if m.amount or m.asset})

    @property
    def destinations(self) -> list[str]:
        return sorted({m.destination for m in self.movements if m.kind is not Kind.FEE})


@dataclass
class Decision:
    refusal: RequestRefused | None = None
    record: list[Entry] = field(default_factory=list)
    notice: dict[str, Any] | None = None


def horizon(policy: Policy, watching: bool) -> int:
    """How far back the ledger must reach for :func:`judge` (the longest period or delay)."""
    spans = [lim.period for lim in policy.limits] + [t.delay for t in policy.timelocks]
    if policy.rate is not None:
        spans.append(policy.rate.period)
    if watching:
        spans.append(policy.watch.hold if policy.watch else DAY)
    return max(spans, default=0)


def _refuse(code: Refusal, message: str, until: int | None = None) -> Decision:
    return Decision(RequestRefused(code, message, until=until))


def judge(
    policy: Policy,
    spend: Spend | None,
    *,
    signers: Sequence[str],
    ledger: Iterable[Entry],
    now: int,
    watching: bool = False,
    paid_before: frozenset[str] = frozenset(),
) -> Decision:
    """The decision on one signature (module doc).  ``ledger``: this vault's entries since
    ``now - horizon(policy, watching)``; ``watching``: this guardian is the watch guardian;
    ``paid_before``: the destinations of ``spend`` the vault paid before (asked by the watch guardian)."""
    entries = list(ledger)
    rate = policy.rate
    if rate is not None:
        made = sum(1 for e in entries if e.kind is EntryKind.SIGNATURE and e.time > now - rate.period)
        if made >= rate.max:
            return _refuse(Refusal.RATE_LIMITED, f"rate limit: {rate.max} signatures per {rate.period} s")
    if policy.watch is not None and policy.watch.guardian not in signers:
        return _refuse(
            Refusal.WATCH_REQUIRED, f"the owner's watch rule: guardian {policy.watch.guardian} must sign too"
        )
    signature = Entry(now, EntryKind.SIGNATURE, spend.tx_hash if spend else "", spend.chain if spend else "")
    if spend is None or spend.blind:
        if policy.restricts_chains and not policy.raw_signing:
            return _refuse(
                Refusal.RAW_SIGNING,
                "this vault's policy has chain rules: sign the transaction (its hashes are re-derived "
                "from it), or enable raw signing in the policy",
            )
        return Decision(record=[signature])
    refusal = _allowed(policy, spend) or _calls_read(policy, spend) or _within_limits(policy, spend, entries, now)
    if refusal is not None:
        return refusal
    seen = any(e.tx_hash == spend.tx_hash and e.kind is not EntryKind.HOLD for e in entries)
    record = [signature] if seen else [signature, *entries_for(now, spend.chain, spend.tx_hash, spend.movements)]
    delay, reason = _delay(policy, spend, watching, paid_before)
    if delay:
        holds = [e.time for e in entries if e.kind is EntryKind.HOLD and e.tx_hash == spend.tx_hash]
        if not holds:
            until = now + delay
            notice = {
                "event": "spend-held",
                "chain": spend.chain,
                "tx": spend.tx_hash,
                "until": until,
                "reason": reason,
            }
            hold = Entry(now, EntryKind.HOLD, spend.tx_hash, spend.chain)
            return Decision(RequestRefused(Refusal.HELD, f"held until {until}: {reason}", until=until), [hold], notice)
        until = min(holds) + delay
        if now < until:
            return _refuse(Refusal.HELD, f"held until {until}: {reason}", until)
    return Decision(record=record)


_NOBODY = {True: "a new contract", False: "a destination it cannot name"}


def _allowed(policy: Policy, spend: Spend) -> Decision | None:
    allow = policy.allow.get(spend.chain)
    for m in spend.movements:
        if m.kind is Kind.FEE:
            continue
        if m.kind is Kind.GRANT and policy.restricts_chains and (allow is None or m.destination not in allow):
            return _refuse(Refusal.POLICY, f"a {spend.chain} grant to {m.destination} needs it on the allow-list")
        if allow is not None and m.destination not in allow:
            what = {Kind.CALL: "calls", Kind.APPROVAL: "approves", Kind.GRANT: "grants to"}.get(m.kind, "pays")
            return _refuse(
                Refusal.POLICY,
                f"the transaction {what} {m.destination or _NOBODY[m.kind is Kind.CALL]}, "
                f"not on the {spend.chain} allow-list",
            )
    return None


def _calls_read(policy: Policy, spend: Spend) -> Decision | None:
    """On a chain with a limit, an allow-list or a time lock, a call whose effect the reading did not
    decode (no movement of the callee's own token read from it) is trusted only for contracts and
    programs the owner listed in ``calls``: being a payee is not being trusted with any call (an
    EIP-3009 authorisation, an ERC-777 send, a program invoked with the vault's signature)."""
    if not policy.rules_chain(spend.chain):
        return None
    trusted = policy.calls.get(spend.chain, frozenset())
    for m in spend.movements:
        if m.kind is not Kind.CALL or m.destination in trusted:
            continue
        callee = m.destination
        if not callee or not any(o.asset == callee or o.asset.startswith(callee + "#") for o in spend.movements):
            return _refuse(
                Refusal.POLICY,
                f"the transaction calls {callee or 'a new contract'} with data this guardian cannot read; "
                f"list it under the policy's {spend.chain} calls to trust it",
            )
    return None


def _within_limits(policy: Policy, spend: Spend, entries: list[Entry], now: int) -> Decision | None:
    if not policy.limited(spend.chain):
        return None
    counted = any(e.tx_hash == spend.tx_hash and e.kind is not EntryKind.HOLD for e in entries)
    for asset in spend.assets:
        lim = policy.limit(spend.chain, asset) or policy.limit(spend.chain, asset.partition("#")[0])
        if lim is None:
            name = asset or f"{spend.chain} coin"
            return _refuse(Refusal.POLICY, f"no {spend.chain} limit covers {name}: set one to move it")
        spent = sum(
            e.amount
            for e in entries
            if e.chain == spend.chain
            and _under(e.asset, lim.asset)
            and e.time > now - lim.period
            and e.kind not in (EntryKind.SIGNATURE, EntryKind.HOLD)
        )
        this = 0 if counted else sum(spend.amount(a) for a in spend.assets if _under(a, lim.asset))
        if spent + this > lim.amount:
            return _refuse(
                Refusal.POLICY,
                f"{lim.key} spending limit {lim.amount} per {lim.period} s (already {spent}, this {this})",
            )
    return None


def _under(asset: str, limited: str) -> bool:
    """Whether a limit on ``limited`` counts ``asset``: itself, or one token id ``limited#id`` of that
    contract (an NFT).  An ERC-20 call whose selector an ERC-721 function shares reads both ways and is
    then counted twice under the contract's limit — more, never less."""
    return asset == limited or (limited != "" and "#" not in limited and asset.startswith(limited + "#"))


def _delay(policy: Policy, spend: Spend, watching: bool, paid_before: frozenset[str]) -> tuple[int, str]:
    def moved(asset: str) -> int:
        return sum(m.amount for m in spend.movements if m.asset == asset and m.kind is not Kind.FEE)

    delay, reason = 0, ""
    for lock in policy.timelocks_of(spend.chain):
        if moved(lock.asset) > lock.above and lock.delay > delay:
            delay, reason = lock.delay, f"time lock: more than {lock.above} of {lock.key}"
    if watching:
        hold = policy.watch.hold if policy.watch else DAY
        new = [d for d in spend.destinations if d not in paid_before]
        for asset in sorted({m.asset for m in spend.movements}):
            key = f"{spend.chain}:{asset}" if asset else spend.chain
            amount = moved(asset)
            if new and amount >= watch_threshold(policy.watch, key) and hold > delay:
                delay, reason = hold, f"watch: {amount} of {key} to a new destination {new[0]}"
    return delay, reason
