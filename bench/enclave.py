"""`make bench-enclave`: what signing inside the enclave guardian's custody contract costs.

Two figures, medians of many signatures:

* the contract's two signing steps (``frost_commit``; ``frost_sign`` and the ``signature_share``
  query that reads ``z_i`` back) through the enclave guardian's keystore, against a local emulated
  Secret Network of three nodes — every step encrypted, agreed by the nodes and committed;
* a whole 3-of-5 FROST signature on the devnet's guardians (``STANDARD``, in one process) with the
  enclave guardian among the three signers, next to one without it;
* a reshare of that vault to the same five guardians (the enclave guardian deals and receives, in
  its contract) and a repair of a lost share with the enclave guardian among the three helpers
  (its split and sum in its contract), each followed by the commit; ``--key-changes N`` runs
  (fewer: each takes a second or two).

Usage: python bench/enclave.py [--runs N] [--key-changes N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from gridlock import local
from gridlock.client.owner import OwnerDevice
from gridlock.crypto import frost
from gridlock.crypto.schemes import get_frost_suite
from gridlock.devnet import EmbeddedCluster
from gridlock.devnet.spec import STANDARD
from gridlock.enclave import LocalSecretNetwork
from gridlock.enclave.keystore import EnclaveKeystore
from gridlock.guardian.shares import OwnerPin
from gridlock.wire.approval import verifier_digest

SCHEME = "frost-ed25519"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def contract_steps(runs: int, data: Path) -> float:
    """Median of ``frost_commit`` + ``frost_sign`` (with its query) through the keystore."""
    shares = local.keygen(SCHEME, threshold=2, n=3)
    suite = get_frost_suite(SCHEME)
    net = LocalSecretNetwork.start(nodes=3, data_dir=data / "net", secret="bench " * 6)
    try:
        ks = EnclaveKeystore.open(net, sender="secret1" + "q" * 38)
        owner = OwnerPin((OwnerDevice().public,), 1, bytes.fromhex(verifier_digest(bytes(32))), 0)
        ks.store_pending("v", shares[0], owner=owner)
        ks.activate("v", 0)
        samples = []
        for i in range(runs + 5):
            other = frost.commit(suite, shares[1]).commitments.to_bytes()
            t0 = time.perf_counter()
            nonce_id, mine = ks.frost_commit("v", 0, "m", os.urandom(32))
            ks.frost_sign("v", 0, nonce_id, "m", os.urandom(32), [mine, other])
            if i >= 5:  # the first few warm the nodes' caches
                samples.append(time.perf_counter() - t0)
        return median_ms(samples)
    finally:
        net.stop()


async def signatures(runs: int, data: Path) -> tuple[float, float]:
    """Medians of a 3-of-5 signature with and without the enclave guardian among the signers."""
    c = await EmbeddedCluster.start(data / "devnet", STANDARD, session_timeout=30.0)
    try:
        assert c.client is not None
        vault = await c.client.create_vault(SCHEME, c.ids, threshold=3, password=c.password)
        names = {spec.name: gid for spec, gid in zip(STANDARD, c.ids, strict=True)}
        with_enclave = [names["device"], names["enclave"], names["cloud"]]
        without = [names["device"], names["cloud"], names["friend"]]
        out = []
        for signers in (with_enclave, without):
            samples = []
            for i in range(runs + 5):
                t0 = time.perf_counter()
                await vault.sign(os.urandom(32), signers=signers)
                if i >= 5:
                    samples.append(time.perf_counter() - t0)
            out.append(median_ms(samples))
        return out[0], out[1]
    finally:
        await c.close()


async def key_changes(runs: int, data: Path) -> tuple[float, float]:
    """Medians of a 3-of-5 reshare (same guardians) and a repair with the enclave guardian helping."""
    c = await EmbeddedCluster.start(data / "keychange", STANDARD, session_timeout=30.0)
    try:
        assert c.client is not None
        vault = await c.client.create_vault(SCHEME, c.ids, threshold=3, password=c.password)
        names = {spec.name: gid for spec, gid in zip(STANDARD, c.ids, strict=True)}
        helpers = [names["device"], names["enclave"], names["cloud"]]
        lost = c.ids.index(names["friend"])
        reshares, repairs = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            await vault.reshare(c.ids, threshold=3, password=c.password)
            reshares.append(time.perf_counter() - t0)
            c.guardians[lost].keystore.delete_vault(vault.vault_id)
            t0 = time.perf_counter()
            await vault.repair(names["friend"], helpers=helpers, password=c.password)
            repairs.append(time.perf_counter() - t0)
        return median_ms(reshares), median_ms(repairs)
    finally:
        await c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--key-changes", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        steps = contract_steps(args.runs, Path(d))
        with_enclave, without = asyncio.run(signatures(args.runs, Path(d)))
        reshare, repair = asyncio.run(key_changes(args.key_changes, Path(d)))
    print(f"FROST ({SCHEME}) in the enclave guardian's custody contract; medians of {args.runs} (ms)\n")
    print(f"{'contract steps: commit + sign (+ query)':<44}{steps:>8.1f}")
    print(f"{'3-of-5 signature, the enclave among signers':<44}{with_enclave:>8.1f}")
    print(f"{'3-of-5 signature, without the enclave':<44}{without:>8.1f}")
    print(f"{'ratio':<44}{with_enclave / without:>8.2f}")
    print(f"\nkey changes, the enclave guardian taking part; medians of {args.key_changes} (ms)\n")
    print(f"{'3-of-5 reshare (it deals and receives)':<44}{reshare:>8.1f}")
    print(f"{'repair of one share (it helps)':<44}{repair:>8.1f}")


if __name__ == "__main__":
    main()
