"""The owner's side of authorisation: a device key that approves requests, and password verifiers.

* :class:`OwnerDevice` — an Ed25519 key on the owner's device.  Every key-using request carries its
  approval over all the request's parameters; the counter is strictly increasing (microseconds
  since the epoch, never reused even after a restart without stored state).
* :func:`password_verifier` — ``Argon2id(password, salt_g)`` with each guardian's own salt
  (``gridlock.wire.approval.password_salt``), computed here, on the owner's device; guardians see
  only the verifier meant for them and keep only its hash.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from nacl.signing import SigningKey

from gridlock.crypto import device_seal
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.approval import Approval, password_salt, sign_approval, subject_bytes

# OWASP's Argon2id minimum (19 MiB, 2 passes); ~35 ms per guardian on this machine.
ARGON2_TIME, ARGON2_MEMORY_KIB, ARGON2_LANES = 2, 19 * 1024, 1
APPROVAL_TTL = 300


def password_verifier(password: str, guardian_id: str, vault_id: str) -> bytes:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidParameterError("the owner's password must have at least 8 characters")
    return hash_secret_raw(
        password.encode(),
        password_salt(guardian_id, vault_id),
        time_cost=ARGON2_TIME,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_LANES,
        hash_len=32,
        type=Type.ID,
    )


class OwnerDevice:
    """An owner device key.  ``to_bytes`` is secret: store it encrypted (the CLI does, with the password)."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self._key = key or SigningKey.generate()
        self._last = 0

    @property
    def public(self) -> bytes:
        return bytes(self._key.verify_key)

    def to_bytes(self) -> bytes:
        return bytes(self._key)

    @classmethod
    def from_bytes(cls, data: bytes) -> OwnerDevice:
        if not isinstance(data, bytes) or len(data) != 32:
            raise DecodeError("an owner device key is 32 bytes")
        return cls(SigningKey(data))

    def _counter(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last

    def approve(self, vault_id: str, scheme: str, op: str, params: Mapping[str, Any]) -> Approval:
        nonce = params.get("nonce")
        if not isinstance(nonce, bytes):
            raise InvalidParameterError("an approved request needs its 32-byte nonce")
        return sign_approval(
            self._key,
            vault_id,
            scheme,
            op,
            subject_bytes(params),
            nonce,
            self._counter(),
            int(time.time()) + APPROVAL_TTL,
        )

    def open_sealed(self, sealed: bytes, context: bytes) -> bytes:
        """What the custody contract sealed to this device (:mod:`gridlock.crypto.device_seal`)."""
        return device_seal.open_sealed(bytes(self._key), sealed, context)

    def __repr__(self) -> str:
        return f"OwnerDevice(public={self.public.hex()[:16]}…, <redacted>)"
