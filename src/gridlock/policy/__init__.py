"""The owner's spending policy, as pure code both the owner's tools and every guardian use.

* :mod:`.rules` — the typed :class:`Policy` and its one document form, validated when built;
* :mod:`.change` — tightening is immediate, loosening waits (:func:`meet`, :func:`loosenings`);
* :mod:`.ledger` — what a guardian agreed to sign, that limits and rates are judged on;
* :mod:`.judge` — one signature request judged by a policy, a ledger window and the transaction's
  reading (:mod:`gridlock.chains.movement`).

No I/O, no clocks: the guardian (:mod:`gridlock.guardian.policy_gate`) loads and stores.
"""

from gridlock.policy.change import loosenings, meet
from gridlock.policy.judge import Decision, Spend, horizon, judge
from gridlock.policy.ledger import Entry, EntryKind
from gridlock.policy.rules import Limit, Policy, Rate, TimeLock, Watch

__all__ = [
    "Decision",
    "Entry",
    "EntryKind",
    "Limit",
    "Policy",
    "Rate",
    "Spend",
    "TimeLock",
    "Watch",
    "horizon",
    "judge",
    "loosenings",
    "meet",
]
