"""What a devnet is made of: its guardians, each with a name (a label) and a role.

A guardian's role (:data:`~gridlock.guardian.config.ROLES`) is part of the devnet's description —
and so of each guardian's configuration file and of the devnet state file — never derived from its
name: a guardian named ``watch`` is an ordinary guardian unless its description says ``role="watch"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gridlock.guardian.config import ENCLAVE, GUARDIAN, ROLES, WATCH


@dataclass(frozen=True)
class GuardianSpec:
    """One guardian of a devnet: its name and its role."""

    name: str
    role: str = GUARDIAN

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"bad guardian name {self.name!r}")
        if self.role not in ROLES:
            raise ValueError(f"guardian {self.name}: unknown role {self.role!r}; known: {', '.join(ROLES)}")


STANDARD: tuple[GuardianSpec, ...] = (
    GuardianSpec("device"),
    GuardianSpec("enclave", ENCLAVE),
    GuardianSpec("cloud"),
    GuardianSpec("watch", WATCH),
    GuardianSpec("friend"),
)
"""The whitepaper's 3-of-5 topology: the owner's device, an enclave guardian, a personal cloud
guardian, the watch service and an acquaintance's device (``gridlock devnet up``, ``make demo``)."""


def specs(guardians: Iterable[str | GuardianSpec]) -> list[GuardianSpec]:
    """Guardian descriptions from descriptions or plain names (a plain name: an ordinary guardian)."""
    out = [g if isinstance(g, GuardianSpec) else GuardianSpec(g) for g in guardians]
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise ValueError(f"guardian names must be distinct: {names}")
    return out
