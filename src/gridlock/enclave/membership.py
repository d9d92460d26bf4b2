"""Joining, stopping and replacing the nodes of a :class:`~gridlock.enclave.network.LocalSecretNetwork`
(mixed into it): a new node's enclave is attested and registered, receives the consensus seed and
replays the chain; a stopped node is unsealed (same emulated CPU, same enclave code) and catches up.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from gridlock.enclave.attestation import AttestationAuthority, AttestationReport
from gridlock.enclave.errors import NetworkError, RegistrationRefused
from gridlock.enclave.node import EnclaveNode
from gridlock.enclave.platform import Platform
from gridlock.enclave.transactions import CODE_OK

__all__ = ["NodeMembership", "NodeRef"]

NodeRef = int | str | EnclaveNode


class NodeMembership:
    """The node-management half of the network (its state and block commit are the network's)."""

    data_dir: Path
    chain_id: str
    authority: AttestationAuthority
    nodes: list[EnclaveNode]
    _next_index: int
    _lock: threading.RLock
    _platform: Platform

    @property
    def live_nodes(self) -> list[EnclaveNode]:
        raise NotImplementedError

    @property
    def consensus_io_pubkey(self) -> bytes:
        raise NotImplementedError

    def _commit(self, kind: str, tx: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _save_meta(self) -> None:
        raise NotImplementedError

    def _node(self, ref: NodeRef) -> EnclaveNode:
        if isinstance(ref, EnclaveNode):
            return ref
        if isinstance(ref, int) and not isinstance(ref, bool):
            return self.nodes[ref]
        for n in self.nodes:
            if n.name == ref:
                return n
        raise NetworkError(f"no node {ref!r}")

    def create_node(self, measurement: bytes | None = None) -> EnclaveNode:
        """A new node with a fresh enclave (running this process's enclave code, or for a test
        claiming ``measurement``); not registered yet."""
        with self._lock:
            name = f"node-{self._next_index}"
            self._next_index += 1
            return EnclaveNode.create(name, self.data_dir / name, self._platform.fuse_key(name), measurement)

    def attest(self, node: EnclaveNode) -> AttestationReport:
        """What the attestation authority signs for ``node``'s enclave (its real measurement)."""
        return self.authority.attest(self.chain_id, node.enclave.registration_key, node.enclave.measurement)

    def register_node(self, node: EnclaveNode, report: AttestationReport | bytes | None = None) -> None:
        """Register ``node`` with ``report`` (by default the authority's report on it): the network's
        enclaves verify it and share the seed, the node catches up and joins.  A report that does
        not verify (forged signature, wrong measurement or registration key) raises
        :class:`RegistrationRefused`; the node gets nothing and does not join."""
        with self._lock:
            if report is None:
                report = self.attest(node)
            report_bytes = report.to_bytes() if isinstance(report, AttestationReport) else bytes(report)
            result = self._commit(
                "register", {"registration_key": node.enclave.registration_key, "report": report_bytes}
            )
            if result["code"] != CODE_OK:
                node.close()
                raise RegistrationRefused(f"node {node.name}: {result['log']}")
            source = max(self.live_nodes, key=lambda nd: nd.height)
            node.enclave.receive_seeds(
                result["encrypted_seed"], bytes(source.meta("seed_exchange_public_key")), self.consensus_io_pubkey
            )
            node.save_sealed()
            node.catch_up(source)
            node.running = True
            self.nodes.append(node)
            self._save_meta()

    def add_node(self, report: AttestationReport | bytes | None = None) -> EnclaveNode:
        """Create, attest, register and catch up a new node."""
        with self._lock:
            node = self.create_node()
            self.register_node(node, report)
            return node

    def stop_node(self, ref: NodeRef) -> None:
        """Take a node offline (its data stays; :meth:`start_node` brings it back)."""
        with self._lock:
            self._node(ref).close()

    def start_node(self, ref: NodeRef) -> None:
        """Bring a stopped node back: unseal its enclave and catch up from a live node."""
        with self._lock:
            old = self._node(ref)
            if old.running:
                return
            node = EnclaveNode.open(old.name, old.path, self._platform.fuse_key(old.name), old.enclave.measurement)
            live = self.live_nodes
            if live:
                node.catch_up(max(live, key=lambda nd: nd.height))
            node.running = True
            self.nodes[self.nodes.index(old)] = node

    def remove_node(self, ref: NodeRef, *, delete_data: bool = True) -> None:
        """Stop a node and (by default) delete its data directory."""
        with self._lock:
            node = self._node(ref)
            node.close()
            self.nodes.remove(node)
            if delete_data:
                shutil.rmtree(node.path, ignore_errors=True)
            self._save_meta()
