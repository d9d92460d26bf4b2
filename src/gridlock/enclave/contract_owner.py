"""The vault owner's authority, checked by the custody contract itself (issue 17 #4, SECURITY row 38).

The guardian host holds the contract account that owns a vault's share (``info.sender``), so the
sender check alone cannot tell the host's own requests from the owner's.  What only the owner can
produce is an approval: an owner device's Ed25519 signature over the exact request
(:mod:`gridlock.wire.approval`).  So when a vault is created in the contract the guardian pins its
owner (:class:`OwnerPin`: the device keys, how many must approve, the digest of this guardian's
password verifier, the device-recovery time lock), and from then on the contract, not the host,
decides:

* a reshare or repair that uses the share (:mod:`gridlock.enclave.contract_keychange`: dealt and
  split in here, every value sealed to its recipient) needs ``required`` valid approvals of the
  pinned devices for that request on this vault (:func:`approve_key_change`), unexpired at the
  block's time, each device's counter above the last one the contract saw (an approval is used
  once); the request's committee or helpers are read from what the owner signed.
* ``export_share`` — the owner's emergency exit — answers the share sealed to each approving
  device's key (:mod:`gridlock.crypto.device_seal`, the ephemeral key from ``env.block.random``):
  the host that carries the answer to the owner cannot read it.
* The device set follows the owner's device recovery, checked here as the guardians check it:
  ``owner_recovery_start`` and ``owner_recovery_finish`` prove the password (the verifier, against
  the pinned digest; wrong ones are counted, at most :data:`PASSWORD_FAILURES` an hour) and the
  finish waits out the pinned time lock in block time; ``owner_recovery_cancel`` needs the current
  devices' approval.  ``owner_password`` (a password change) needs both the approval and the old
  verifier.  While a recovery is open no key change or export is made (as the guardians refuse
  approved requests then).  A password check answers the same whatever its outcome, which ``owner_status``
  reads in a later block (:func:`_load`, :func:`_password`: a simulated transaction must not tell a
  right guess from a wrong one).

What this does not stop: a host that learns the password (it sees the verifier when the owner
recovers or changes the password through it) can recover the vault to a device of its own in the
contract after the time lock, which the owner is not told of unless another guardian is asked too.

A pin outlives its vault: a vault deleted here and created again (by the host, or by a later
reshare that brings it back) under another owner is refused (``owner-mismatch``) — otherwise a host
could delete a vault during an approved reshare and take the sub-shares sealed to it into a vault of
the same id pinned to a device of its own.  Pins are kept per sender: another account's vault of the
same id leaves none.  A vault new to the contract is pinned from the registration that comes with it
(the DKG, or the reshare or repair that makes this guardian a holder): the host is trusted at that
moment, as it is for the DKG.  A vault that comes back after the owner's devices changed elsewhere is
refused by this guardian until its pin is the owner's again (the owner reshares it to another).
See docs/SECURITY.md row 38.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Final

from gridlock.crypto import codec, device_seal
from gridlock.enclave.contract_msg import Args, b64_decode, b64s
from gridlock.enclave.cosmwasm import fail
from gridlock.enclave.custody_state import CustodyState, VaultState, decode_share, own, storage_key
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument
from gridlock.wire.approval import Approval, valid_approvals, verifier_digest

__all__ = [
    "PASSWORD_FAILURES",
    "PASSWORD_WINDOW",
    "OwnerExecutes",
    "OwnerPin",
    "approve_key_change",
    "authorize",
    "cancel_recovery",
    "change_password",
    "export",
    "finish_recovery",
    "parse_approval",
    "parse_pin",
    "pin",
    "pin_new",
    "start_recovery",
]

EXPORT_LABEL: Final = b"gridlock/enclave-export/v1"  # domain of the per-device ephemeral seeds
PASSWORD_WINDOW: Final = 3600
PASSWORD_FAILURES: Final = 10
"""Wrong verifiers a vault's pin takes per hour (block time) before refusing every check: the
only sender is the guardian host, so this bounds a compromised host's online guessing."""
MAX_DEVICES: Final = 16
MAX_RECOVERY_DELAY: Final = 30 * 86400


@dataclass
class OwnerPin:
    """What the contract knows of a vault's owner (encrypted state, never answered by a query)."""

    devices: list[bytes]
    required: int
    verifier: str = field(repr=False)  # verifier_digest of this guardian's password verifier (hex)
    delay: int
    counters: dict[str, int] = field(default_factory=dict)
    recovery: dict[str, Any] | None = None  # {"new", "lost", "unlock_at"} while one is open
    failures: list[int] = field(default_factory=list)
    previous: str = field(default="", repr=False)  # the digest the last password change replaced
    checked: int = 0  # the block of the last password check (see _load)
    last_ok: bool = False  # whether that check found the password right

    def to_bytes(self) -> bytes:
        return codec.dumps(
            {
                "devices": self.devices,
                "required": self.required,
                "verifier": self.verifier,
                "delay": self.delay,
                "counters": self.counters,
                "recovery": self.recovery,
                "failures": self.failures,
                "previous": self.previous,
                "checked": self.checked,
                "last_ok": self.last_ok,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> OwnerPin:
        d = codec.loads(raw)
        return cls(
            list(d["devices"]),
            int(d["required"]),
            str(d["verifier"]),
            int(d["delay"]),
            {str(k): int(v) for k, v in d["counters"].items()},
            d["recovery"],
            [int(t) for t in d["failures"]],
            str(d["previous"]),
            int(d["checked"]),
            bool(d["last_ok"]),
        )


def _b64(value: object, what: str, sizes: range) -> bytes:
    if not isinstance(value, str):
        raise BadArgument(f"{what}: a base64 string")
    raw = b64_decode(value, what)
    if len(raw) not in sizes:
        raise BadArgument(f"{what}: {sizes.start} to {sizes.stop - 1} bytes")
    return raw


def _uint(value: object, what: str, top: int = 2**63) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < top:
        raise BadArgument(f"{what}: an integer from 0 to {top - 1}")
    return value


def parse_pin(raw: object) -> OwnerPin:
    """The ``owner`` field of the message that creates a vault: ``{"devices": [b64 Ed25519 key…],
    "required", "verifier_digest": b64 (32 bytes), "recovery_delay": seconds}``."""
    shape = "owner: {devices, required, verifier_digest, recovery_delay}"
    if not isinstance(raw, dict) or set(raw) != {"devices", "required", "verifier_digest", "recovery_delay"}:
        raise BadArgument(shape)
    devices = raw["devices"]
    if not isinstance(devices, list) or not 0 < len(devices) <= MAX_DEVICES:
        raise BadArgument(f"owner devices: 1 to {MAX_DEVICES} Ed25519 public keys")
    keys = [_b64(d, "owner devices", range(32, 33)) for d in devices]
    if len(set(keys)) != len(keys):
        raise BadArgument("owner devices: each key once")
    required = _uint(raw["required"], "owner required")
    if not 1 <= required <= len(keys):
        raise BadArgument("owner required: between 1 and the number of devices")
    digest = _b64(raw["verifier_digest"], "verifier_digest", range(32, 33))
    delay = _uint(raw["recovery_delay"], "recovery_delay", MAX_RECOVERY_DELAY + 1)
    return OwnerPin(keys, required, digest.hex(), delay)


def parse_approval(raw: object) -> tuple[str, bytes, bytes, list[Approval]]:
    """The ``approval`` field: ``{"op", "subject": b64, "nonce": b64, "approvals": [{"device",
    "counter", "expires", "signature"}…]}`` — the request the owner approved, as the guardian got
    it (the contract reads nothing in ``subject``: the signatures bind its hash)."""
    shape = "approval: {op, subject, nonce, approvals}"
    if not isinstance(raw, dict) or set(raw) != {"op", "subject", "nonce", "approvals"}:
        raise BadArgument(shape)
    op = raw["op"]
    if not isinstance(op, str) or not 0 < len(op) <= 64:
        raise BadArgument("approval op: a request name")
    subject = _b64(raw["subject"], "approval subject", range(1 << 20))
    nonce = _b64(raw["nonce"], "approval nonce", range(1, 65))
    items = raw["approvals"]
    if not isinstance(items, list) or not 0 < len(items) <= MAX_DEVICES:
        raise BadArgument(f"approval approvals: 1 to {MAX_DEVICES}")
    approvals = []
    for a in items:
        if not isinstance(a, dict) or set(a) != {"device", "counter", "expires", "signature"}:
            raise BadArgument("an approval is {device, counter, expires, signature}")
        approvals.append(
            Approval(
                _b64(a["device"], "approval device", range(32, 33)),
                _uint(a["counter"], "approval counter"),
                _uint(a["expires"], "approval expiry"),
                _b64(a["signature"], "approval signature", range(64, 65)),
            )
        )
    return op, subject, nonce, approvals


# --- storage ----------------------------------------------------------------------------------------
def _pin_key(v: VaultState) -> bytes:
    """Where vault ``v``'s pin lives: under its sender and id (another account's vault of the same id,
    deleted since, leaves it nothing)."""
    return storage_key("owner", v.owner, v.vault_id)


def pin(st: CustodyState, v: VaultState, owner: OwnerPin) -> None:
    st.s.set(_pin_key(v), owner.to_bytes())


def pin_new(st: CustodyState, v: VaultState, owner: OwnerPin) -> None:
    """Pin the owner of vault ``v``, created just now.  A pin left by an earlier vault of this sender
    and id stays (see the module docstring); one of another owner is refused (``owner-mismatch``)
    rather than silently kept."""
    raw = st.s.get(_pin_key(v))
    if raw is None:
        pin(st, v, owner)
        return
    kept = OwnerPin.from_bytes(raw)
    if (sorted(kept.devices), kept.required, kept.verifier, kept.delay) != (
        sorted(owner.devices),
        owner.required,
        owner.verifier,
        owner.delay,
    ):
        raise fail("owner-mismatch", f"vault {v.vault_id!r} was pinned to another owner here, which it keeps")


def _load(st: CustodyState, v: VaultState) -> OwnerPin:
    """The vault's pin, for an execute — refused in the block of a password check on it.

    A password check's outcome changes what later messages see (a recovery opens, devices
    change), and a transaction can carry several messages that run on one state: simulated
    (Secret Network runs a transaction without committing it and answers each message, or the
    first error), ``[check(guess), anything that reads the pin]`` would tell a right guess from a
    wrong one with nothing counted.  So nothing reads the pin in the block that checked a
    password; the outcome is read in a later one (``owner_status``), after the check was
    committed and counted."""
    raw = st.s.get(_pin_key(v))
    if raw is None:
        raise fail("no-owner", f"vault {v.vault_id!r} has no owner pinned in the contract")
    owner = OwnerPin.from_bytes(raw)
    if st.height and owner.checked == st.height:
        raise fail("busy", "this vault's owner had a password check in this block: ask in the next one")
    return owner


# --- checks -----------------------------------------------------------------------------------------
def authorize(
    st: CustodyState, v: VaultState, approval: object, ops: frozenset[str]
) -> tuple[OwnerPin, list[Approval]]:
    """Check an owner approval for one of ``ops`` on vault ``v`` against its pin and use it up
    (the devices' counters advance, in this transaction); the pin, to be saved by the caller, and
    the approvals that held."""
    owner = _load(st, v)
    op, subject, nonce, approvals = parse_approval(approval)
    if op not in ops:
        raise fail("unauthorized", f"an approval of {op!r} does not allow this (needs {', '.join(sorted(ops))})")
    good, short = valid_approvals(
        approvals,
        devices=owner.devices,
        counters=owner.counters,
        vault_id=v.vault_id,
        scheme=v.scheme,
        op=op,
        subject=subject,
        nonce=nonce,
        now=st.time,
        required=owner.required,
    )
    if short is not None:
        raise fail("unauthorized", short)
    for a in good:
        owner.counters[a.device.hex()] = a.counter
    return owner, good


def approve_key_change(st: CustodyState, v: VaultState, approval: object, op: str) -> bytes:
    """Allow one step of an owner-approved ``op`` (``reshare`` or ``repair``) of vault ``v`` that
    uses its share, with no device recovery open; the approved request's subject bytes."""
    owner, _ = authorize(st, v, approval, frozenset({op}))
    if owner.recovery is not None:
        raise fail("unauthorized", "a device recovery is open on this vault; the share stays as it is")
    pin(st, v, owner)
    return parse_approval(approval)[1]


def export(st: CustodyState, v: VaultState, epoch: int, approval: object) -> dict[str, Any]:
    """``export_share``: on the owner's approval of an export, the share's scalar sealed to each
    approving device (the host carries it; only the device opens it)."""
    owner, good = authorize(st, v, approval, frozenset({"export"}))
    if owner.recovery is not None:
        raise fail("unauthorized", "a device recovery is open on this vault; the share stays in the contract")
    if st.random is None:
        raise fail("bad-argument", "an export needs the block's randomness (an execute)")
    share = decode_share(st.share_bytes(v.vault_id, epoch))
    if share.depth:
        raise BadArgument("only master keys are exported")
    scalar = share.scheme_obj.group.scalar_to_bytes(share.secret)
    sealed = []
    for a in good:
        # the contract's counter too: a repeated env.block.random never seals two shares under one key
        mixed = [EXPORT_LABEL, st.random, st.next_counter(), v.vault_id, epoch, a.device]
        seed = hashlib.sha256(codec.dumps(mixed)).digest()
        context = device_seal.export_context(v.vault_id, share.index, a.device)
        blob = device_seal.seal(a.device, scalar, context, seed)
        sealed.append([b64s(a.device), b64s(blob)])
    pin(st, v, owner)
    return {"epoch": epoch, "index": share.index, "sealed": sealed}


def _limited(st: CustodyState, owner: OwnerPin) -> None:
    """Refuse every password check after :data:`PASSWORD_FAILURES` wrong ones in the last hour."""
    owner.failures = [t for t in owner.failures if t > st.time - PASSWORD_WINDOW]
    if len(owner.failures) >= PASSWORD_FAILURES:
        raise fail("rate-limited", "too many wrong passwords for this vault in the last hour")


def _password(st: CustodyState, owner: OwnerPin, verifier: bytes) -> bool:
    """Whether ``verifier`` is the pinned one; a wrong one is counted (the caller saves the pin).

    Nothing a caller answers or refuses after this depends on the outcome, and nothing reads the
    pin again in this block (:func:`_load`): whether the password was right shows only in a later
    block (``owner_status``), so a sender that runs the transaction without committing it (Secret
    Network's simulation) learns nothing, and one that commits it has it counted."""
    right = hmac.compare_digest(verifier_digest(verifier), owner.verifier)
    if not right:
        owner.failures.append(st.time)
    owner.checked, owner.last_ok = st.height, right
    return right


RECORDED: Final = {"state": "recorded"}
"""The answer of a password-checked execute, whatever the outcome: see :func:`_password`."""


def start_recovery(st: CustodyState, v: VaultState, new: bytes, lost: bytes, verifier: bytes) -> dict[str, Any]:
    """Open a recovery from ``lost`` to ``new`` if ``verifier`` is right (the time lock starts);
    the same start sent again changes nothing."""
    owner = _load(st, v)
    _limited(st, owner)
    if owner.recovery is None:
        if lost not in owner.devices:
            raise BadArgument("the lost device is not a pinned owner device")
        if new in owner.devices:
            raise BadArgument("the new device is already a pinned owner device")
    elif owner.recovery["new"] != new or owner.recovery["lost"] != lost:
        raise fail("already-exists", "another device recovery is open on this vault")
    if _password(st, owner, verifier) and owner.recovery is None:
        owner.recovery = {"new": new, "lost": lost, "unlock_at": st.time + owner.delay}
    pin(st, v, owner)
    return RECORDED


def finish_recovery(st: CustodyState, v: VaultState, new: bytes, lost: bytes, verifier: bytes) -> dict[str, Any]:
    """End the open recovery from ``lost`` to ``new`` once its time lock is over, if ``verifier`` is
    right; the same finish sent again (the guardian's reply was lost) changes nothing."""
    owner = _load(st, v)
    _limited(st, owner)
    rec = owner.recovery
    if rec is None and new in owner.devices and lost not in owner.devices:
        return RECORDED
    if rec is None or rec["new"] != new or rec["lost"] != lost:
        raise fail("not-found", "no device recovery from that device to that one is open on this vault")
    if st.time < rec["unlock_at"]:
        raise fail("time-locked", f"the recovery time lock ends at {rec['unlock_at']}")
    if _password(st, owner, verifier):
        owner.devices = [rec["new"] if d == rec["lost"] else d for d in owner.devices]
        owner.counters.pop(rec["lost"].hex(), None)
        owner.recovery = None
    pin(st, v, owner)
    return RECORDED


def status(st: CustodyState, v: VaultState) -> dict[str, Any]:
    """``owner_status``: the pinned devices, the open recovery, how many wrong passwords count and
    whether the last password check found it right — an execute, refused in the block of a check
    (:func:`_load`), so the outcome of a check is read only once it is committed and counted."""
    owner = _load(st, v)
    rec = owner.recovery
    return {
        "devices": [b64s(d) for d in owner.devices],
        "required": owner.required,
        "recovery": None
        if rec is None
        else {
            "new_device": b64s(rec["new"]),
            "lost_device": b64s(rec["lost"]),
            "unlock_at": rec["unlock_at"],
        },
        "failures": len([t for t in owner.failures if t > st.time - PASSWORD_WINDOW]),
        "last_check_ok": owner.last_ok,
    }


def cancel_recovery(st: CustodyState, v: VaultState, approval: object) -> dict[str, Any]:
    owner, _ = authorize(st, v, approval, frozenset({"recovery-cancel"}))
    cancelled = owner.recovery is not None
    owner.recovery = None
    pin(st, v, owner)
    return {"state": "cancelled" if cancelled else "none"}


def change_password(st: CustodyState, v: VaultState, approval: object, old: bytes, new: bytes) -> dict[str, Any]:
    """An owner-approved password change that also proves the old password (its outcome is read with
    ``owner_status``, as every password check's).  The same change sent again (``old`` the verifier
    it replaced, ``new`` the pinned one: an interrupted run) is a right check that changes nothing;
    it needs both right, so it is no cheaper a guess than ``old`` alone."""
    owner, _ = authorize(st, v, approval, frozenset({"password-change"}))
    if owner.recovery is not None:
        raise fail("unauthorized", "a device recovery is open on this vault; cancel it first")
    _limited(st, owner)
    again = owner.previous and hmac.compare_digest(verifier_digest(old), owner.previous)
    if again and hmac.compare_digest(verifier_digest(new), owner.verifier):
        owner.checked, owner.last_ok = st.height, True  # this change, sent again: both verifiers right
    elif _password(st, owner, old):
        owner.previous, owner.verifier = owner.verifier, verifier_digest(new)
    pin(st, v, owner)
    return RECORDED


# --- the executes -----------------------------------------------------------------------------------
VERIFIER_BYTES: Final = 64  # an Argon2id verifier is 16 to 64 bytes (gridlock.guardian.owner)


class OwnerExecutes:
    """The custody contract's executes on a vault's owner pin (sender = the vault's account)."""

    def _x_export_share(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch = a.epoch()
        r = v.epochs.get(epoch)
        rules.require_usable(v.vault_id, epoch, None if r is None else r.state)
        return export(st, v, epoch, a.body.get("approval"))

    def _x_owner_recovery_start(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        new, lost = _key(a, "new_device"), _key(a, "lost_device")
        return start_recovery(st, v, new, lost, a.binary("verifier", VERIFIER_BYTES))

    def _x_owner_recovery_finish(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        new, lost = _key(a, "new_device"), _key(a, "lost_device")
        return finish_recovery(st, v, new, lost, a.binary("verifier", VERIFIER_BYTES))

    def _x_owner_recovery_cancel(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        return cancel_recovery(st, v, a.body.get("approval"))

    def _x_owner_status(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return status(st, own(st.need_vault(a.vault_id()), sender))

    def _x_owner_password(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        old, new = a.binary("verifier", VERIFIER_BYTES), a.binary("new_verifier", VERIFIER_BYTES)
        return change_password(st, v, a.body.get("approval"), old, new)


def _key(a: Args, name: str) -> bytes:
    key = a.binary(name, 32)
    if len(key) != 32:
        raise BadArgument(f"{name}: an Ed25519 public key (32 bytes)")
    return key
