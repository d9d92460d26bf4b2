"""The owner's spending policy as typed values, checked when built (SECURITY #18–19).

One document format serves the owner (``policy set --rules FILE``, ``Vault.set_policy``), the wire
(``policy-set``) and every guardian's store, so what the owner wrote is what each guardian keeps::

    {
      "limits":   {"ethereum": {"amount": 10**18, "period": 86400},          # native coin per period
                   "ethereum:0xA0b8…eB48": {"amount": 500 * 10**6, "period": 86400}},  # one asset
      "allow":    {"bitcoin": ["bc1q…", …]},                   # every destination must be listed
      "timelock": {"ethereum": {"above": 10**17, "delay": 3600}},  # hold large spends this long
      "rate":     {"max": 20, "period": 3600},                 # signatures per period
      "raw_signing": false,                                    # hashes without their transaction
      "watch":    {"guardian": "<guardian id>", "hold": 86400, "large": {"ethereum": 10**18}},
      "loosen_delay": 86400                                    # how long a loosening waits
    }

Amounts are integers in the asset's base unit; a limit keyed ``CHAIN:ASSET`` limits one token
(the asset names of :mod:`gridlock.chains.movement`).  Allow-list entries are validated and put
in canonical form by the chain's adapter (EIP-55 checksum, bech32/bech32m, base58).  A value of the
wrong type or range is an :class:`InvalidParameterError` naming the field, when the policy is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridlock import chains
from gridlock.chains import CHAINS
from gridlock.crypto import codec
from gridlock.errors import InvalidParameterError

__all__ = ["DAY", "Limit", "Policy", "Rate", "TimeLock", "Watch"]

DAY = 86400
MAX_PERIOD = 366 * DAY
MAX_DELAY = 90 * DAY
MAX_ALLOW = 1000  # entries per chain
_MAX_AMOUNT = 2**256 - 1
_KEYS = frozenset({"limits", "allow", "timelock", "rate", "raw_signing", "watch", "loosen_delay", "calls", "export"})


def _bad(where: str, what: str) -> InvalidParameterError:
    return InvalidParameterError(f"policy {where}: {what}")


def _int(where: str, value: object, *, low: int = 0, high: int = _MAX_AMOUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, f"must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise _bad(where, f"must be between {low} and {high}")
    return value


def _map(where: str, value: object, keys: frozenset[str], required: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(where, "must be a map")
    extra = set(value) - keys
    if extra:
        raise _bad(where, f"unknown field {sorted(extra)[0]!r} (known: {', '.join(sorted(keys))})")
    missing = (keys if required is None else required) - set(value)
    if missing:
        raise _bad(where, f"missing {', '.join(sorted(missing))}")
    return dict(value)


def _table(where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(where, "must be a map keyed by chain")
    return dict(value)


def _chain(where: str, chain: object) -> str:
    if chain not in CHAINS:
        raise _bad(where, f"unknown chain {str(chain)[:40]!r} (one of {', '.join(CHAINS)})")
    return str(chain)


@dataclass(frozen=True)
class Limit:
    """At most ``amount`` of ``asset`` (``""``: the chain's coin, fees included) per rolling ``period``."""

    chain: str
    asset: str
    amount: int
    period: int

    def __post_init__(self) -> None:
        where = f"limit {self.key}"
        _chain(where, self.chain)
        _per_denom(where, self.chain, self.asset)
        if not isinstance(self.asset, str) or len(self.asset) > 256:
            raise _bad(where, "the asset is a short text")
        _int(where + " amount", self.amount)
        _int(where + " period", self.period, low=1, high=MAX_PERIOD)

    @property
    def key(self) -> str:
        return f"{self.chain}:{self.asset}" if self.asset else str(self.chain)


@dataclass(frozen=True)
class TimeLock:
    """A spend of more than ``above`` of ``asset`` (``""``: the chain's coin) waits ``delay`` seconds
    after it is first asked."""

    chain: str
    above: int
    delay: int
    asset: str = ""

    def __post_init__(self) -> None:
        _chain("timelock", self.chain)
        _per_denom("timelock", self.chain, self.asset)
        _int(f"timelock {self.key} above", self.above)
        _int(f"timelock {self.key} delay", self.delay, high=MAX_DELAY)
        if not isinstance(self.asset, str) or len(self.asset) > 256:
            raise _bad(f"timelock {self.chain}", "the asset is a short text")

    @property
    def key(self) -> str:
        return f"{self.chain}:{self.asset}" if self.asset else str(self.chain)


@dataclass(frozen=True)
class Rate:
    """At most ``max`` signatures per rolling ``period`` (raw and chain signing alike)."""

    max: int
    period: int

    def __post_init__(self) -> None:
        _int("rate max", self.max, high=10**9)
        _int("rate period", self.period, low=1, high=MAX_PERIOD)


@dataclass(frozen=True)
class Watch:
    """The watch guardian (Watchlight) must sign every signature of the vault; it holds a payment of
    at least ``large[key]`` (key ``CHAIN`` for the chain's coin or ``CHAIN:ASSET``; 0 or a key left
    out: its default, :data:`gridlock.policy.judge.WATCH_LARGE_DEFAULT`) to a destination the vault
    did not pay at least ``hold`` seconds earlier, for ``hold`` seconds, and tells the owner."""

    guardian: str
    hold: int = DAY
    large: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.guardian, str) or not 0 < len(self.guardian) <= 128:
            raise _bad("watch guardian", "must name the watch guardian")
        _int("watch hold", self.hold, high=MAX_DELAY)
        if not isinstance(self.large, Mapping):
            raise _bad("watch large", "must map chains to amounts")
        large = {_asset_key("watch large", c): _int(f"watch large {c}", v) for c, v in self.large.items()}
        object.__setattr__(self, "large", dict(sorted(large.items())))


# the watch guardian's threshold where the owner's rule names none (0 there means the same)
WATCH_LARGE_DEFAULT: Mapping[str, int] = {
    "bitcoin": 10_000_000,
    "ethereum": 10**18,
    "solana": 10 * 10**9,
    "cosmos:uscrt": 10**9,
    "cosmos:uatom": 10**9,
}


def watch_threshold(watch: Watch | None, key: str) -> int:
    """The amount of ``key`` (``CHAIN`` or ``CHAIN:ASSET``) from which the watch guardian holds a
    payment to a new destination; an amount no spend reaches when neither rule nor default names it."""
    set_ = (watch.large if watch else {}).get(key, 0)
    return set_ or WATCH_LARGE_DEFAULT.get(key, 2**256)


@dataclass(frozen=True)
class Policy:
    """One vault's rules at one guardian; the empty policy allows everything."""

    limits: tuple[Limit, ...] = ()
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    timelocks: tuple[TimeLock, ...] = ()
    rate: Rate | None = None
    raw_signing: bool = False
    watch: Watch | None = None
    loosen_delay: int = DAY
    calls: Mapping[str, frozenset[str]] = field(default_factory=dict)
    export: bool = False

    def __post_init__(self) -> None:
        keys = [lim.key for lim in self.limits]
        if len(set(keys)) != len(keys):
            raise _bad("limits", "one limit per chain and asset")
        if len({t.key for t in self.timelocks}) != len(self.timelocks):
            raise _bad("timelock", "one time lock per chain and asset")
        for name in ("raw_signing", "export"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, "must be true or false")
        _int("loosen_delay", self.loosen_delay, high=MAX_DELAY)
        object.__setattr__(self, "allow", _address_table("allow", self.allow))
        object.__setattr__(self, "calls", _address_table("calls", self.calls))
        object.__setattr__(self, "limits", tuple(sorted(self.limits, key=lambda lim: lim.key)))
        object.__setattr__(self, "timelocks", tuple(sorted(self.timelocks, key=lambda t: t.key)))

    def __repr__(self) -> str:
        return f"Policy({self.fingerprint()[:16]})"

    # --- reading it ------------------------------------------------------------------------------------
    @property
    def restricts_chains(self) -> bool:
        """Any chain rule: then a bare hash (no transaction to read) is refused unless ``raw_signing``,
        and the key is not exported unless ``export``."""
        return bool(self.limits or self.allow or self.timelocks or self.watch)

    def rules_chain(self, chain: str) -> bool:
        """Whether a limit, an allow-list or a time lock applies to ``chain``: then a call whose effect
        the guardian cannot read needs its callee in ``calls``."""
        return self.limited(chain) or chain in self.allow or any(t.chain == chain for t in self.timelocks)

    def limit(self, chain: str, asset: str) -> Limit | None:
        return next((lim for lim in self.limits if lim.chain == chain and lim.asset == asset), None)

    def limited(self, chain: str) -> bool:
        return any(lim.chain == chain for lim in self.limits)

    def timelocks_of(self, chain: str) -> list[TimeLock]:
        return [t for t in self.timelocks if t.chain == chain]

    # --- the one document form ---------------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "limits": {lim.key: {"amount": lim.amount, "period": lim.period} for lim in self.limits},
            "allow": {c: sorted(v) for c, v in self.allow.items()},
            "timelock": {t.key: {"above": t.above, "delay": t.delay} for t in self.timelocks},
            "raw_signing": self.raw_signing,
            "loosen_delay": self.loosen_delay,
            "calls": {c: sorted(v) for c, v in self.calls.items()},
            "export": self.export,
        }
        if self.rate is not None:
            doc["rate"] = {"max": self.rate.max, "period": self.rate.period}
        if self.watch is not None:
            doc["watch"] = {"guardian": self.watch.guardian, "hold": self.watch.hold, "large": dict(self.watch.large)}
        return doc

    @classmethod
    def from_doc(cls, doc: object, *, validate_addresses: bool = True) -> Policy:
        """The policy a document describes; every field checked (module doc).  Addresses are checked
        by the chain adapters when ``validate_addresses`` (a guardian reading its own store skips it)."""
        d = _map("document", doc, _KEYS, frozenset())
        limits = []
        for key, v in _table("limits", d.get("limits", {})).items():
            chain, _, asset = key.partition(":")
            lim = _map(f"limit {key}", v, frozenset({"amount", "period"}), frozenset({"amount"}))
            limits.append(Limit(_chain("limits", chain), asset, lim["amount"], lim.get("period", DAY)))
        timelocks = []
        for key, v in _table("timelock", d.get("timelock", {})).items():
            chain, _, asset = key.partition(":")
            timelocks.append(TimeLock(_chain("timelock", chain), *_pair(f"timelock {key}", v, "above", "delay"), asset))
        rate = d.get("rate") or None
        watch = d.get("watch")
        if watch is not None:
            w = _map("watch", watch, frozenset({"guardian", "hold", "large"}), frozenset({"guardian"}))
            watch = Watch(w["guardian"], w.get("hold", DAY), w.get("large", {}))
        return cls(
            limits=tuple(limits),
            allow=_addresses("allow", d.get("allow", {}), validate_addresses),
            timelocks=tuple(timelocks),
            rate=None if rate is None else Rate(*_pair("rate", rate, "max", "period")),
            raw_signing=d.get("raw_signing", False),
            watch=watch,
            loosen_delay=d.get("loosen_delay", DAY),
            calls=_addresses("calls", d.get("calls", {}), validate_addresses),
            export=d.get("export", False),
        )

    def fingerprint(self) -> str:
        """SHA-256 of the canonical encoding: guardians holding the same rules report the same value."""
        return hashlib.sha256(b"gridlock/policy/v1" + codec.dumps(self.to_doc())).hexdigest()


def _asset_key(where: str, key: object) -> str:
    """A ``CHAIN`` or ``CHAIN:ASSET`` key."""
    if not isinstance(key, str) or len(key) > 300:
        raise _bad(where, "keys are CHAIN or CHAIN:ASSET")
    chain, _, asset = key.partition(":")
    _chain(where, chain)
    _per_denom(where, chain, asset)
    return key


def _per_denom(where: str, chain: str, asset: str) -> None:
    """Cosmos has no one coin: every amount is of a denomination, so a rule must name one."""
    if chain == "cosmos" and not asset:
        raise _bad(where, "Cosmos amounts are per denomination: write cosmos:<denom>, e.g. cosmos:uscrt")


def _address_table(where: str, table: object) -> dict[str, frozenset[str]]:
    if not isinstance(table, Mapping):
        raise _bad(where, "must map chains to address lists")
    out = {}
    for chain, entries in table.items():
        _chain(where, chain)
        if len(entries) > MAX_ALLOW:
            raise _bad(f"{where} {chain}", f"at most {MAX_ALLOW} entries")
        out[chain] = frozenset(entries)
    return dict(sorted(out.items()))


def _addresses(where: str, raw: object, validate: bool) -> dict[str, frozenset[str]]:
    """A document's ``allow`` or ``calls``: chain → addresses, each checked by the chain's adapter."""
    out: dict[str, frozenset[str]] = {}
    for chain, entries in _table(where, raw).items():
        _chain(where, chain)
        if not isinstance(entries, list | tuple) or not all(isinstance(a, str) for a in entries):
            raise _bad(f"{where} {chain}", "must list addresses")
        check = chains.get(chain).check_address if validate else str
        out[chain] = frozenset(check(a) for a in entries)
    return out


def _pair(where: str, value: object, a: str, b: str) -> tuple[int, int]:
    m = _map(where, value, frozenset({a, b}))
    return m[a], m[b]
