"""Devnets: several guardians and a router on one machine, for people, tests and benchmarks.

A devnet is described by its guardians, each a :class:`GuardianSpec` (a name and a role: an ordinary
guardian, the watch service, the enclave guardian); :data:`STANDARD` is the whitepaper's 3-of-5.
Every guardian node is made by :func:`gridlock.guardian.service.build_node`, with its role.

* :mod:`~gridlock.devnet.embedded` — :class:`EmbeddedGuardian` (a guardian in this event loop) and
  :class:`EmbeddedCluster` (guardians and a client on one local router: the tests, ``make demo``);
* :mod:`~gridlock.devnet.processes` — :class:`GuardianProcess` (a guardian process and its
  configuration file) and :class:`ProcessCluster` (guardian processes on NATS: tests, ``bench/network.py``);
* :mod:`~gridlock.devnet.host` — the devnet host behind ``gridlock devnet up`` (embedded or NATS
  mode, made of the two above; its socket is :mod:`gridlock.transport.bridge`);
* :mod:`~gridlock.devnet.layout` — a devnet directory and its state file;
* :mod:`~gridlock.devnet.stores` — the store and the process module of each role;
* :mod:`~gridlock.devnet.spec` — :class:`GuardianSpec`, :data:`STANDARD`.

Above ``client``, ``guardian`` and ``enclave``; nothing below imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridlock.lazy import exports

if TYPE_CHECKING:  # imported on first use: the clusters pull in the guardian node and every scheme
    from gridlock.devnet.embedded import EmbeddedCluster, EmbeddedGuardian
    from gridlock.devnet.processes import GuardianProcess, ProcessCluster
    from gridlock.devnet.spec import STANDARD, GuardianSpec, specs

_LAZY = {
    "EmbeddedCluster": "gridlock.devnet.embedded",
    "EmbeddedGuardian": "gridlock.devnet.embedded",
    "GuardianProcess": "gridlock.devnet.processes",
    "ProcessCluster": "gridlock.devnet.processes",
    "STANDARD": "gridlock.devnet.spec",
    "GuardianSpec": "gridlock.devnet.spec",
    "specs": "gridlock.devnet.spec",
}

__all__ = [
    "STANDARD",
    "EmbeddedCluster",
    "EmbeddedGuardian",
    "GuardianProcess",
    "GuardianSpec",
    "ProcessCluster",
    "specs",
]


__getattr__ = exports(globals(), _LAZY)
