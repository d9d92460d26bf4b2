"""``policy set`` / ``policy replace`` options turned into a policy document (:mod:`gridlock.policy.rules`).

``policy set`` *merges* the options into the policy the guardians enforce now; ``policy replace``
starts from ``--rules FILE`` (or nothing) instead.  Option forms::

    --limit CHAIN:AMOUNT[/SECONDS]          the chain's coin (fees included), per period (default a day)
    --limit CHAIN:ASSET:AMOUNT[/SECONDS]    one token (contract, mint or denom)
    --allow CHAIN:ADDRESS                   add a destination to the chain's allow-list
    --disallow CHAIN:ADDRESS                remove one
    --timelock CHAIN:ABOVE:SECONDS          hold spends above ABOVE for SECONDS
    --rate MAX/SECONDS                      signatures per period
    --raw-signing on|off                    sign bare hashes although the policy has chain rules
    --watch GUARDIAN                        the watch guardian must co-sign everything
    --loosen-delay SECONDS                  how long a loosening waits
    --remove RULE                           limit:CHAIN[:ASSET], timelock:CHAIN, allow:CHAIN, rate, watch

Whether a change tightens (at once) or loosens (after the delay) is each guardian's decision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridlock.chains import CHAINS
from gridlock.cli.errors import usage
from gridlock.errors import InvalidParameterError
from gridlock.policy import Policy

DAY = 86400


@dataclass(frozen=True)
class PolicyOptions:
    limits: Sequence[str] = ()
    allow: Sequence[str] = ()
    disallow: Sequence[str] = ()
    timelocks: Sequence[str] = ()
    rate: str | None = None
    raw_signing: str | None = None
    watch: str | None = None  # a guardian id (resolved from its name by the command)
    loosen_delay: str | None = None
    remove: Sequence[str] = field(default_factory=tuple)

    def empty(self) -> bool:
        return not any((self.limits, self.allow, self.disallow, self.timelocks, self.remove)) and all(
            v is None for v in (self.rate, self.raw_signing, self.watch, self.loosen_delay)
        )


def _int(text: str, what: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise usage(f"{what}: {text!r} is not a whole number") from None
    if value < 0:
        raise usage(f"{what}: must not be negative")
    return value


def _chain(text: str, what: str) -> str:
    if text not in CHAINS:
        raise usage(f"{what}: unknown chain {text!r}", hint=f"one of: {', '.join(CHAINS)}")
    return text


def read_rules_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise usage(f"cannot read the rules file {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise usage(f"{path}: the rules must be a JSON object")
    return loaded


def apply(doc: dict[str, Any], o: PolicyOptions) -> dict[str, Any]:
    """``doc`` with the options applied; checked as a :class:`Policy` (a usage error if it is not one)."""
    out: dict[str, Any] = json.loads(json.dumps(doc))  # a deep copy
    limits = out.setdefault("limits", {})
    allow = out.setdefault("allow", {})
    timelock = out.setdefault("timelock", {})
    for item in o.limits:
        parts = item.split(":")
        if len(parts) < 2 or not parts[-1]:
            raise usage(f"--limit {item!r}: expected CHAIN[:ASSET]:AMOUNT[/SECONDS]")
        chain, asset = _chain(parts[0], "--limit"), ":".join(parts[1:-1])
        amount, _, period = parts[-1].partition("/")
        key = f"{chain}:{asset}" if asset else chain
        limits[key] = {"amount": _int(amount, "--limit"), "period": _int(period, "--limit period") if period else DAY}
    for item in o.allow:
        chain, _, addr = item.partition(":")
        if not addr:
            raise usage(f"--allow {item!r}: expected CHAIN:ADDRESS")
        entries = allow.setdefault(_chain(chain, "--allow"), [])
        if addr not in entries:
            entries.append(addr)
    for item in o.disallow:
        chain, _, addr = item.partition(":")
        if addr not in allow.get(chain, []):
            raise usage(f"--disallow {item!r}: not on the {chain} allow-list")
        allow[chain].remove(addr)
    for item in o.timelocks:
        parts = item.split(":")
        if len(parts) != 3:
            raise usage(f"--timelock {item!r}: expected CHAIN:ABOVE:SECONDS")
        timelock[_chain(parts[0], "--timelock")] = {
            "above": _int(parts[1], "--timelock"),
            "delay": _int(parts[2], "--timelock"),
        }
    if o.rate is not None:
        count, _, period = o.rate.partition("/")
        out["rate"] = {"max": _int(count, "--rate"), "period": _int(period, "--rate") if period else 3600}
    if o.raw_signing is not None:
        if o.raw_signing not in ("on", "off"):
            raise usage(f"--raw-signing {o.raw_signing!r}: on or off")
        out["raw_signing"] = o.raw_signing == "on"
    if o.watch is not None:
        out["watch"] = {**out.get("watch", {}), "guardian": o.watch}
    if o.loosen_delay is not None:
        out["loosen_delay"] = _int(o.loosen_delay, "--loosen-delay")
    for rule in o.remove:
        _remove(out, rule)
    try:
        return Policy.from_doc(out).to_doc()
    except InvalidParameterError as exc:
        raise usage(str(exc)) from None


def _remove(doc: dict[str, Any], rule: str) -> None:
    kind, _, key = rule.partition(":")
    table = {"limit": "limits", "timelock": "timelock", "allow": "allow"}.get(kind)
    if table is not None and key in doc.get(table, {}):
        del doc[table][key]
    elif kind in ("rate", "watch") and not key and kind in doc:
        del doc[kind]
    else:
        raise usage(
            f"--remove {rule!r}: no such rule", hint="limit:CHAIN[:ASSET], timelock:CHAIN, allow:CHAIN, rate, watch"
        )


def describe_lines(doc: dict[str, Any]) -> list[str]:
    """A policy document for people, one rule a line (amounts in base units, periods as spans)."""
    from gridlock.cli.output import duration  # noqa: PLC0415 -- rich is loaded only for output

    lines = [f"limit {k}: {v['amount']} per {duration(v['period'])}" for k, v in doc.get("limits", {}).items()]
    lines += [f"allow {c}: {', '.join(a)}" for c, a in doc.get("allow", {}).items()]
    lines += [f"trusted calls {c}: {', '.join(a)}" for c, a in doc.get("calls", {}).items()]
    lines += [
        f"time lock {k}: above {v['above']} waits {duration(v['delay'])}" for k, v in doc.get("timelock", {}).items()
    ]
    if doc.get("rate"):
        lines.append(f"rate: {doc['rate']['max']} signatures per {duration(doc['rate']['period'])}")
    if doc.get("watch"):
        lines.append(f"watch guardian {doc['watch']['guardian'][:12]}… holds {duration(doc['watch']['hold'])}")
    if doc.get("raw_signing"):
        lines.append("raw signing on")
    if doc.get("export"):
        lines.append("export allowed")
    if not lines:
        return ["no rules (everything is signed)"]
    return [*lines, f"a loosening waits {duration(doc.get('loosen_delay', DAY))}"]


def describe(doc: dict[str, Any]) -> str:
    """A policy document for people on one line."""
    return "; ".join(describe_lines(doc))
