"""Owner approvals and password verifiers: the formats a client and a guardian share.

An approval is an Ed25519 signature of an owner device over the injective encoding of (vault,
scheme, operation, SHA-256 of every request parameter except the approvals and per-guardian
data, the request nonce, a per-device counter, an expiry) — see :mod:`gridlock.guardian.owner`
for how guardians check them, :mod:`gridlock.client.owner` for how devices make them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from gridlock.crypto import codec, transcript
from gridlock.errors import DecodeError

APPROVAL_LABEL = b"gridlock/owner-approval/v1"
MAX_APPROVAL_TTL = 3600  # an approval valid for longer than an hour is refused as implausible
SALT_LABEL = b"gridlock/password-salt/v1"
# Differ per guardian or are the approval itself.  The password verifiers (device recovery, and the
# old and new ones of a password change) are among them, and must stay out: a guardian's audit log
# keeps SHA-256 of this subject, which would otherwise let a copy of that log test password guesses
# offline (issue 18).
PER_GUARDIAN = frozenset({"approvals", "owner", "verifier", "new_verifier"})


def password_salt(guardian_id: str, vault_id: str) -> bytes:
    """The guardian-specific salt of a vault's password verifier."""
    return transcript.digest(SALT_LABEL, guardian_id.encode(), vault_id.encode())[:16]


def verifier_digest(verifier: bytes) -> str:
    return hashlib.sha256(b"gridlock/password-verifier/v1" + verifier).hexdigest()


def subject_bytes(params: Mapping[str, Any]) -> bytes:
    """What an approval signs: every request parameter except the approvals and per-guardian data."""
    return codec.dumps({k: v for k, v in params.items() if k not in PER_GUARDIAN})


def approval_statement(
    vault_id: str, scheme: str, op: str, subject: bytes, nonce: bytes, counter: int, expires: int
) -> bytes:
    return transcript.encode(
        APPROVAL_LABEL,
        vault_id.encode(),
        scheme.encode(),
        op.encode(),
        hashlib.sha256(subject).digest(),
        nonce,
        transcript.int_field(counter),
        transcript.int_field(expires),
    )


@dataclass(frozen=True)
class Approval:
    device: bytes  # Ed25519 public key (32)
    counter: int
    expires: int
    signature: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"device": self.device, "counter": self.counter, "expires": self.expires, "signature": self.signature}

    @classmethod
    def from_wire(cls, raw: Any) -> Approval:
        if not isinstance(raw, dict):
            raise DecodeError("an approval is a map")
        device, counter, expires, sig = raw.get("device"), raw.get("counter"), raw.get("expires"), raw.get("signature")
        if not (isinstance(device, bytes) and len(device) == 32 and isinstance(sig, bytes) and len(sig) == 64):
            raise DecodeError("approval device key / signature malformed")
        for v in (counter, expires):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
                raise DecodeError("approval counter / expiry malformed")
        return cls(device, counter, expires, sig)  # type: ignore[arg-type]


def sign_approval(
    key: SigningKey, vault_id: str, scheme: str, op: str, subject: bytes, nonce: bytes, counter: int, expires: int
) -> Approval:
    statement = approval_statement(vault_id, scheme, op, subject, nonce, counter, expires)
    return Approval(bytes(key.verify_key), counter, expires, key.sign(statement).signature)


def valid_approvals(
    approvals: Sequence[Approval],
    *,
    devices: Sequence[bytes],
    counters: Mapping[str, int],
    vault_id: str,
    scheme: str,
    op: str,
    subject: bytes,
    nonce: bytes,
    now: int,
    required: int,
) -> tuple[list[Approval], str | None]:
    """The approvals of ``approvals`` that hold — from distinct registered ``devices``, unexpired and
    not implausibly long-lived at ``now``, with a counter above the device's last one
    (``counters``, by hex key), signing this exact request — and, when fewer than ``required``
    hold, why (``None`` when enough do).

    The one check a guardian (:meth:`gridlock.guardian.owner.OwnerState.authorize`) and the
    enclave's custody contract (:mod:`gridlock.enclave.contract_owner`) both make; each refuses in
    its own terms and advances its own counters."""
    good: dict[bytes, Approval] = {}
    reasons = []
    for a in approvals:
        if a.device not in devices:
            reasons.append("unregistered device")
        elif a.expires < now:
            reasons.append("approval expired")
        elif a.expires > now + MAX_APPROVAL_TTL:
            reasons.append("approval expiry too far ahead")
        elif a.counter <= counters.get(a.device.hex(), -1):
            reasons.append("approval replayed (counter not increasing)")
        else:
            statement = approval_statement(vault_id, scheme, op, subject, nonce, a.counter, a.expires)
            try:
                VerifyKey(a.device).verify(statement, a.signature)
            except (BadSignatureError, ValueError):
                reasons.append("approval signature does not match this request")
            else:
                good[a.device] = a
    if len(good) >= required:
        return list(good.values()), None
    why = "; ".join(sorted(set(reasons))) or "not enough approvals"
    return list(good.values()), f"{len(good)} of {required} owner approvals valid ({why})"
