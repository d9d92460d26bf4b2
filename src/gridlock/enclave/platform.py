"""The emulated hardware under a local Secret Network: sealing roots, the attestation authority's key
and a monotonic counter — all from a secret the network's data directory does not hold.

On SGX a sealing key is derived inside the CPU from fuses no software reads, the attestation
signer is Intel, and a monotonic counter (or, today, a rollback-protected store such as the
platform's replay-protected memory) lets an enclave notice that its sealed state was replaced by
an older copy.  None of those are on the host's disk.  Here:

* every node's fuse key is ``HMAC(root, "fuse" ‖ node name)``;
* the attestation authority's Ed25519 key is ``HMAC(root, "attestation-authority")``;
* the monotonic counter is an authenticated file *beside* the data directory (by default
  ``<data_dir>.generation``: under the guardian's own directory, not in the copied network state),
  holding the chain height last committed, MAC'd under ``HMAC(root, "counter")``;

where ``root = scrypt(secret, salt)``: ``secret`` is the owner's secret (for the enclave guardian, its
key-encryption secret, as for the SQLite keystore) and ``salt`` the network's random salt (public,
in ``network.cbor``).  The secret is meant to be high-entropy (the SQLite keystore takes it
through HKDF alone); scrypt (RFC 7914) additionally makes each guess at a weak one cost 16 MiB of
memory-hard work.  A copy of the data directory therefore holds sealed blobs, ciphertext
and public keys only.

What this is not: a process holding the secret holds everything (there is no CPU to keep the root
from it); a restore of the data directory *and* the counter file together (a whole-disk snapshot)
is not detected — that needs a counter outside the machine, as for the SQLite keystore.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from gridlock.enclave.attestation import AttestationAuthority
from gridlock.enclave.errors import NetworkError
from gridlock.enclave.measure import enclave_measurement, running_contract_hash
from gridlock.guardian.store.errors import KeystoreError
from gridlock.guardian.store.generation import GenerationFile

__all__ = ["MIN_SECRET_BYTES", "SALT_BYTES", "Platform"]

MIN_SECRET_BYTES: Final = 16
SALT_BYTES: Final = 32
_SCRYPT: Final = {"n": 1 << 14, "r": 8, "p": 1}  # RFC 7914's interactive-login parameters: 16 MiB


class Platform:
    """The emulated CPU(s) and counter of one network.  Holds the root key; never shows it."""

    def __init__(self, root: bytes, salt: bytes, counter_base: Path | None) -> None:
        self._root = root
        self.salt = salt
        self._counter = None if counter_base is None else GenerationFile(counter_base, salt, self._key(b"counter"))

    @classmethod
    def derive(cls, secret: bytes | str, salt: bytes, counter_base: Path | None) -> Platform:
        """The platform of a network with ``salt``, for the owner's ``secret``."""
        raw = secret.encode() if isinstance(secret, str) else secret
        if not isinstance(raw, bytes) or len(raw) < MIN_SECRET_BYTES:
            raise NetworkError(f"the sealing secret must be at least {MIN_SECRET_BYTES} bytes")
        if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
            raise NetworkError("the network's salt is damaged")
        root = hashlib.scrypt(raw, salt=salt, dklen=32, **_SCRYPT)
        return cls(root, salt, counter_base)

    @classmethod
    def resume(cls, meta: Mapping[str, Any], secret: bytes | str, counter_base: Path | None) -> Platform:
        """The platform of an existing network (its public ``network.cbor``), refusing a secret that
        is not its owner's and enclave or contract code other than the code the network accepted."""
        try:
            salt, verifier = bytes(meta["salt"]), bytes(meta["verifier"])
            measurement, code_hash = bytes(meta["measurement"]), str(meta["custody_code_hash"])
        except (KeyError, TypeError, ValueError):
            raise NetworkError("the network's description is damaged or from an older version") from None
        platform = cls.derive(secret, salt, counter_base)
        if not hmac.compare_digest(platform.verifier(), verifier):
            raise NetworkError("this secret does not open the network (its sealing keys derive from another)")
        if enclave_measurement() != measurement:
            raise NetworkError("refused: the enclave code running here is not the code this network accepts")
        if running_contract_hash() != code_hash:
            raise NetworkError("refused: the custody contract code running here does not have the stored code hash")
        return platform

    def _key(self, label: bytes) -> bytes:
        return hmac.new(self._root, b"gridlock/enclave/platform/v1\0" + label, hashlib.sha256).digest()

    def fuse_key(self, node: str) -> bytes:
        """The emulated CPU fuse key (SGX's sealing root) of ``node``."""
        return self._key(b"fuse\0" + node.encode())

    def authority(self) -> AttestationAuthority:
        """The emulated attestation authority (Intel's role)."""
        return AttestationAuthority.from_private_bytes(self._key(b"attestation-authority"))

    def verifier(self) -> bytes:
        """A public check value: whether a secret is this network's (a wrong secret is refused
        plainly instead of looking like the loss of every node)."""
        return self._key(b"verifier")

    # -- the monotonic counter ---------------------------------------------------------------------------
    def rollback(self, height: int) -> str | None:
        """What is wrong if the chain resumed at ``height`` (``None``: nothing, or no counter)."""
        if self._counter is None:
            return None
        try:
            recorded, problem = self._counter.check(height)
        except KeystoreError as exc:  # damaged, or another network's counter
            return f"the network's monotonic counter is unusable: {exc}"
        if problem is None:
            return None
        if recorded is None:
            return "the network's monotonic counter is missing"
        return f"the chain (height {height}) is older than the monotonic counter ({recorded}): a restored backup"

    def advance(self, height: int) -> None:
        """Record that the chain reached ``height`` (after the block is committed)."""
        if self._counter is not None:
            self._counter.write(height)

    def close(self) -> None:
        if self._counter is not None:
            self._counter.close()

    def __repr__(self) -> str:
        return "Platform(root=<redacted>)"
