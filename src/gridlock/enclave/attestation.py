"""Emulated remote attestation: a local authority signs reports over (registration key, measurement).

On Secret Network a node's enclave puts its registration public key in the ``report_data`` of an
SGX quote; Intel (EPID/IAS, now DCAP) signs the quote, and every registered enclave checks the
signature chain, the enclave measurement (MRENCLAVE/MRSIGNER), the TCB status and that the
registration key in the quote is the one being registered, before it shares the consensus seed.

Here the role of Intel is played by an :class:`AttestationAuthority` holding an Ed25519 key whose
public key is pinned in the network's genesis; a report is its signature over
``("gridlock/enclave/attestation/v1", chain id, registration key, measurement)``.  What is *not*
emulated: quotes, TCB levels, revocation, platform identities.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gridlock.crypto import codec
from gridlock.enclave.errors import AttestationError
from gridlock.enclave.measure import ENCLAVE_MODULES, bundle
from gridlock.errors import DecodeError

__all__ = [
    "ENCLAVE_MEASUREMENT",
    "AttestationAuthority",
    "AttestationReport",
    "verify_report",
]

ENCLAVE_MEASUREMENT: Final = hashlib.sha256(bundle(ENCLAVE_MODULES)).digest()
"""The measurement of the enclave code as imported — the hash of its sources
(:mod:`gridlock.enclave.measure`), the MRENCLAVE a new network accepts.  What a running enclave
reports is :func:`~gridlock.enclave.measure.enclave_measurement`, which differs from this one when
the enclave's code was modified or patched."""

_LABEL: Final = "gridlock/enclave/attestation/v1"
_K_VERSION, _K_CHAIN, _K_REG, _K_MEAS, _K_SIG = 0, 1, 2, 3, 4


def _statement(chain_id: str, registration_key: bytes, measurement: bytes) -> bytes:
    return codec.dumps([_LABEL, chain_id, registration_key, measurement])


@dataclass(frozen=True)
class AttestationReport:
    """A signed statement that an enclave with ``measurement`` holds ``registration_key``."""

    chain_id: str
    registration_key: bytes
    measurement: bytes
    signature: bytes

    def to_bytes(self) -> bytes:
        return codec.dumps(
            {
                _K_VERSION: 1,
                _K_CHAIN: self.chain_id,
                _K_REG: self.registration_key,
                _K_MEAS: self.measurement,
                _K_SIG: self.signature,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AttestationReport:
        try:
            m = codec.load_map(data, frozenset(range(5)), max_size=4096)
            if codec.get_int(m, _K_VERSION) != 1:
                raise DecodeError("unsupported attestation report version")
            return cls(
                chain_id=codec.get_str(m, _K_CHAIN, 128),
                registration_key=codec.get_bytes(m, _K_REG, 32),
                measurement=codec.get_bytes(m, _K_MEAS, 32),
                signature=codec.get_bytes(m, _K_SIG, 64),
            )
        except DecodeError as exc:
            raise AttestationError(f"malformed attestation report: {exc}") from None


class AttestationAuthority:
    """The stand-in for Intel's attestation service: signs reports for enclaves it has measured."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> AttestationAuthority:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> AttestationAuthority:
        if not isinstance(data, bytes) or len(data) != 32:
            raise AttestationError("an attestation authority key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def attest(self, chain_id: str, registration_key: bytes, measurement: bytes) -> AttestationReport:
        """Sign a report (the authority signs whatever measurement it is shown; the *network*
        decides which measurement it accepts)."""
        if len(registration_key) != 32 or len(measurement) != 32:
            raise AttestationError("registration key and measurement are 32 bytes each")
        sig = self._key.sign(_statement(chain_id, registration_key, measurement))
        return AttestationReport(chain_id, bytes(registration_key), bytes(measurement), sig)

    def __repr__(self) -> str:
        return f"AttestationAuthority(public_key={self.public_key.hex()}, private=<redacted>)"


def verify_report(
    report: AttestationReport,
    *,
    authority_public_key: bytes,
    chain_id: str,
    registration_key: bytes,
    accepted_measurements: frozenset[bytes],
) -> None:
    """What a registered enclave checks before sharing the seed; :class:`AttestationError` if not."""
    try:
        Ed25519PublicKey.from_public_bytes(authority_public_key).verify(
            report.signature, _statement(report.chain_id, report.registration_key, report.measurement)
        )
    except (InvalidSignature, ValueError):
        raise AttestationError("the attestation report is not signed by the attestation authority") from None
    if report.chain_id != chain_id:
        raise AttestationError("the attestation report is for another chain")
    if not hmac.compare_digest(report.registration_key, registration_key):
        raise AttestationError("the attestation report is for another registration key")
    if report.measurement not in accepted_measurements:
        raise AttestationError("the enclave measurement is not one this network accepts")
