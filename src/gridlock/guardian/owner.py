"""Owner authorisation at a guardian (SECURITY #19, #21): approvals bound to the exact request.

At vault creation the owner registers, with every guardian:

* one or more **device keys** (Ed25519) and how many must approve (``k`` of ``m``, the whitepaper's
  multi-signature accounts);
* per guardian, a **password verifier**: ``Argon2id(password, salt_g)`` computed on the owner's
  device with that guardian's own salt ``salt_g = H(label, guardian id, vault id)``.  The guardian
  keeps it *sealed*: ``HMAC-SHA256(k, SHA-256(verifier))`` with ``k`` derived from its identity's
  secret key (:func:`seal_verifier`), which is itself kept encrypted under the guardian's secret.
  So one guardian's database can neither be replayed at another nor used to log in at the same
  one, and a copy of it without the guardian's secret holds nothing to test a password guess
  against offline (issue 18): each guess needs an answer from the guardian, which counts them.
  Verifiers stored bare (``SHA-256`` only, before sealing) are sealed when the guardian starts
  (:func:`seal_stored_verifiers`).

Every later request that uses the key (sign, presign, refresh, reshare, repair, export, policy)
carries approvals: device signatures over the injective encoding of (vault, scheme, operation,
SHA-256 of the exact message or transaction, the session nonce, a per-device counter, an
expiry).  A guardian verifies the signatures, that the counter grew (replays refused), that the
approval has not expired, and — for chain transactions — re-derives the hashes it signs from the
transaction itself, so a request whose hash was swapped after approval is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from nacl.signing import VerifyKey

from gridlock.errors import DecodeError
from gridlock.guardian.shares import OwnerPin
from gridlock.wire.approval import Approval, subject_bytes, valid_approvals, verifier_digest
from gridlock.wire.control import Refusal, RequestRefused
from gridlock.wire.identity import Identity

if TYPE_CHECKING:
    from gridlock.guardian.store import ShareStore

__all__ = ["Approval", "OwnerState", "registration", "seal_stored_verifiers", "seal_verifier", "subject_bytes"]
VERIFIER_KEY_LABEL: Final = b"gridlock/password-verifier-key/v1"
SEALED: Final = "hmac-sha256:"  # the prefix of a sealed verifier; a bare one is 64 hex digits
_BARE = re.compile(r"[0-9a-f]{64}")


def seal_verifier(identity: Identity, digest: str) -> str:
    """What a guardian stores of a password verifier whose SHA-256 is ``digest`` (hex): its HMAC
    under a key only this guardian can derive (:meth:`Identity.derive_key`)."""
    key = identity.derive_key(VERIFIER_KEY_LABEL)
    return SEALED + hmac.new(key, bytes.fromhex(digest), hashlib.sha256).hexdigest()


def seal_stored_verifiers(store: ShareStore, identity: Identity) -> int:
    """Seal every verifier ``store`` still keeps bare (written before verifiers were sealed);
    returns how many.  Then the store is checkpointed, so no page of its journal keeps a bare one."""
    sealed = 0
    for vault_id, meta in store.all_metadata().items():
        owner = meta.get("owner")
        bare = owner.get("verifier") if isinstance(owner, dict) else None
        if isinstance(owner, dict) and isinstance(bare, str) and _BARE.fullmatch(bare):
            store.set_metadata(vault_id, {**meta, "owner": {**owner, "verifier": seal_verifier(identity, bare)}})
            sealed += 1
    if sealed:
        store.checkpoint()
    return sealed


@dataclass
class OwnerState:
    """What a guardian knows of a vault's owners (kept in the vault's keystore metadata)."""

    devices: list[bytes]
    required: int
    verifier: str  # this guardian's Argon2id verifier, sealed (seal_verifier)
    counters: dict[str, int]
    notify: list[str]  # client ids of the owner's devices, for recovery notices
    # the verifier the last password change replaced, sealed too ("" before any change): it lets the
    # same change sent again be answered ok (:meth:`password_change`); it proves nothing on its own
    previous: str = ""
    # verifier_digest (hex) of the verifier as registered, in memory only (never in the metadata):
    # what a store that checks the owner itself pins (pin)
    registered: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> OwnerState:
        o = meta.get("owner")
        if not isinstance(o, dict):
            raise RequestRefused(Refusal.NO_OWNER, "this vault has no registered owner")
        return cls(
            [bytes.fromhex(d) for d in o["devices"]],
            int(o["required"]),
            str(o["verifier"]),
            {str(k): int(v) for k, v in o.get("counters", {}).items()},
            list(o.get("notify", [])),
            str(o.get("previous_verifier", "")),
        )

    def to_meta(self) -> dict[str, Any]:
        return {
            "devices": [d.hex() for d in self.devices],
            "required": self.required,
            "verifier": self.verifier,
            "counters": dict(self.counters),
            "notify": list(self.notify),
        } | ({"previous_verifier": self.previous} if self.previous else {})

    def pin(self, recovery_delay: int) -> OwnerPin | None:
        """The owner as a store that checks approvals itself pins it, when this state came from a
        registration (:func:`registration`); ``None`` for one loaded from the metadata."""
        if not self.registered:
            return None
        return OwnerPin(tuple(self.devices), self.required, bytes.fromhex(self.registered), recovery_delay)

    def set_digest(self) -> bytes:
        """Who may approve: the devices and how many must (not the verifier, which is per guardian)."""
        return hashlib.sha256(
            b"gridlock/owner-set/v1" + bytes([self.required]) + b"".join(sorted(self.devices))
        ).digest()

    def check_password(self, verifier: bytes, identity: Identity) -> bool:
        """Whether ``verifier`` is the registered one (``identity``: this guardian's, whose key sealed it)."""
        return hmac.compare_digest(seal_verifier(identity, verifier_digest(verifier)), self.verifier)

    def password_change(self, old: bytes, new: bytes, identity: Identity) -> bool | None:
        """Whether the change from the password of verifier ``old`` to that of ``new`` proves the
        password: ``True`` when ``old`` is the registered verifier (the caller then calls
        :meth:`replace_verifier`), ``False`` when this exact change was made already (``old`` is the
        verifier it replaced and ``new`` the registered one: the owner sent it again), ``None`` when
        neither — a wrong password.  Answering "already" needs both verifiers right, so it is no
        cheaper a guess than the old password alone."""
        if self.check_password(old, identity):
            return True
        if self.previous and self.check_password(new, identity):
            sealed_old = seal_verifier(identity, verifier_digest(old))
            if hmac.compare_digest(sealed_old, self.previous):
                return False
        return None

    def replace_verifier(self, new: bytes, identity: Identity) -> None:
        self.previous = self.verifier
        self.verifier = seal_verifier(identity, verifier_digest(new))

    def authorize(
        self,
        approvals: Sequence[Approval],
        *,
        vault_id: str,
        scheme: str,
        op: str,
        subject: bytes,
        nonce: bytes,
        now: int,
    ) -> list[Approval]:
        """The valid approvals from distinct registered devices; refuses unless ``required`` of them.

        Counters are checked here and advanced by :meth:`consume` only once the request is accepted.
        """
        good, short = valid_approvals(
            approvals,
            devices=self.devices,
            counters=self.counters,
            vault_id=vault_id,
            scheme=scheme,
            op=op,
            subject=subject,
            nonce=nonce,
            now=now,
            required=self.required,
        )
        if short is not None:
            raise RequestRefused(Refusal.UNAUTHORISED, short)
        return good

    def consume(self, approvals: Sequence[Approval]) -> None:
        for a in approvals:
            self.counters[a.device.hex()] = a.counter


def registration(raw: Any, identity: Identity) -> OwnerState:
    """The owner registration a client sends a guardian (at vault creation, or to a new holder);
    ``identity`` is the guardian's, which seals the password verifier."""
    if not isinstance(raw, dict):
        raise RequestRefused(Refusal.NO_OWNER, "the request registers no owner for the vault")
    devices, required, verifier, notify = (
        raw.get("devices"),
        raw.get("required"),
        raw.get("verifier"),
        raw.get("notify"),
    )
    if not (
        isinstance(devices, list)
        and 0 < len(devices) <= 16
        and all(isinstance(d, bytes) and len(d) == 32 for d in devices)
    ):
        raise DecodeError("owner devices must be 1..16 Ed25519 public keys")
    if isinstance(required, bool) or not isinstance(required, int) or not 1 <= required <= len(devices):
        raise DecodeError("owner 'required' must be between 1 and the number of devices")
    if not isinstance(verifier, bytes) or not 16 <= len(verifier) <= 64:
        raise DecodeError("owner password verifier malformed")
    if not isinstance(notify, list) or not all(isinstance(n, str) for n in notify):
        raise DecodeError("owner 'notify' must list client ids")
    for d in devices:
        try:
            VerifyKey(d)
        except (ValueError, TypeError):
            raise DecodeError("owner device key is not an Ed25519 public key") from None
    digest = verifier_digest(verifier)
    return OwnerState(list(devices), required, seal_verifier(identity, digest), {}, list(notify)[:8], registered=digest)
