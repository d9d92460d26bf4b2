"""The owner gate: approvals bound to the request, the password check and its rate limit, device
recovery (a time-locked state machine), the password change, the owner's policy settings and the
audit log (SECURITY #19, #21)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gridlock.guardian import audit as audit_mod
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.core import APPROVED, INTRO, REQUESTER, NodeCore
from gridlock.guardian.shares import Approved, backend_of
from gridlock.guardian.vault_state import OWNER, STRANGERS, Recovery
from gridlock.wire import control as ctl
from gridlock.wire import ops

PASSWORD_WINDOW = 3600  # wrong passwords are counted over the last hour
STRANGER_FAILURES = 50  # wrong passwords an hour from all requesters that are not the owner's devices
T = TypeVar("T")


class OwnerGate(NodeCore):
    def _approve(self, op: Any, subject: bytes) -> None:
        """Owner approvals for a key-using request, bound to every parameter of it (SECURITY #19).

        ``subject`` is the request's wire form without the approvals (what the devices signed).  A
        guardian that holds nothing of the vault yet (a new holder in a reshare, the lost holder in
        a repair) checks them against the registration that comes with the request.
        """
        vault_id, nonce = op.vault, op.nonce
        vault = self._vault(vault_id) if self._knows(vault_id) else None
        if vault is not None and vault.owner is not None:
            state = vault.owner
            scheme = self.keystore.vault(vault_id).scheme
        elif isinstance(op, ops.Reshare | ops.Repair):
            state = owner_mod.registration(op.owner, self.identity)
            scheme = op.scheme
        else:
            raise ctl.RequestRefused(ctl.Refusal.NO_OWNER, "this vault has no registered owner")
        if vault is not None and vault.recovery.open and not isinstance(op, ops.RecoveryCancel):
            raise ctl.RequestRefused(
                ctl.Refusal.RECOVERY_PENDING, "a device recovery is open on this vault; cancel it first"
            )
        if not op.approvals:
            raise ctl.RequestRefused(ctl.Refusal.UNAUTHORISED, "the request carries no owner approval")
        good = state.authorize(
            op.approvals,
            vault_id=vault_id,
            scheme=scheme,
            op=op.NAME,
            subject=subject,
            nonce=nonce,
            now=int(self.clock()),
        )
        if vault is not None and vault.owner is state:
            state.consume(good)
            self._save(vault_id)
        APPROVED.set(Approved(op.NAME, subject, nonce, tuple(op.approvals)))

    def _check_password(self, vault_id: str, verifier: bytes) -> owner_mod.OwnerState:
        """Argon2id verifier check, rate-limited per vault at this guardian (:meth:`_password_attempt`)."""
        self._password_attempt(vault_id, lambda state: state.check_password(verifier, self.identity) or None)
        return self._owner(vault_id)

    def _password_attempt(
        self, vault_id: str, test: Callable[[owner_mod.OwnerState], T | None], *, owner_approved: bool = False
    ) -> T:
        """``test(owner state)`` — a password check, ``None`` for a wrong password — rate-limited per
        vault at this guardian (SECURITY #21); its answer.

        The owner's registered devices have a budget of their own, so strangers cannot lock them out.
        Every other requester (a new device recovering the vault is one) has a budget per identity and
        all of them together :data:`STRANGER_FAILURES` an hour: guessing stays bounded however many
        identities a guesser makes, and one stranger's guesses do not lock out another.  A request an
        owner device approved (``owner_approved``) spends the devices' budget whoever sends it: stolen
        device keys sent from a stranger's client do not reach the strangers' budgets, which a new
        device recovering the vault needs."""
        vault, state = self._vault(vault_id), self._owner(vault_id)
        requester = REQUESTER.get()
        now = int(self.clock())
        if owner_approved or requester in state.notify or requester in vault.clients:
            budgets = {OWNER: self.password_attempts}
        else:
            budgets = {f"{STRANGERS}:{requester}": self.password_attempts, STRANGERS: STRANGER_FAILURES}
        if any(len(vault.recent_failures(who, now, PASSWORD_WINDOW)) >= n for who, n in budgets.items()):
            raise ctl.RequestRefused(
                ctl.Refusal.RATE_LIMITED, "too many wrong passwords for this vault; try again later"
            )
        answer = test(state)
        if answer is None:
            vault.forget_failures_before(now - PASSWORD_WINDOW)  # what is kept is bounded by the budgets
            for who in budgets:
                vault.password_failures.setdefault(who, []).append(now)
            self._save(vault_id)
            raise ctl.RequestRefused(ctl.Refusal.WRONG_PASSWORD, "the password does not match")
        return answer

    async def _op_password_change(self, op: ops.PasswordChange) -> ops.PasswordReply:
        """Replace the vault's password verifier (the owner changed the password).

        Two proofs: the owner's approvals (checked by :meth:`_approve` before this runs; a replayed
        or missing approval never reaches the password check) and the old password, under the
        requester's failure budget — a thief holding an unlocked device cannot set a password of
        their own, which would lock the owner out of device recovery, and each wrong guess counts.
        The owner's devices spend their own budget, so such guesses do not lock out a recovery
        started from a new device.  Refused while a device recovery is open (:meth:`_approve`): a
        thief with the device and the password could otherwise race the owner's recovery by
        changing the password under it; the owner cancels the recovery first (``recovery-cancel``).
        The same change sent again (an interrupted run) is answered ``changed=False``.
        """
        outcome = self._password_attempt(
            op.vault,
            lambda state: state.password_change(op.verifier, op.new_verifier, self.identity),
            owner_approved=True,
        )
        backend_of(self.keystore).owner_password(op.vault, APPROVED.get(), op.verifier, op.new_verifier)
        if not outcome:
            return ops.PasswordReply(changed=False)
        state = self._owner(op.vault)
        state.replace_verifier(op.new_verifier, self.identity)
        self._save(op.vault)
        await self._notify(state, {"vault": op.vault, "event": "password-changed", "guardian": self.id})
        return ops.PasswordReply(changed=True)

    async def _op_recovery_start(self, op: ops.RecoveryStart) -> ops.RecoveryReply:
        vault_id, new_device, lost_device = op.vault, op.new_device, op.lost_device
        state = self._check_password(vault_id, op.verifier)
        if lost_device not in state.devices:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "the lost device is not a registered owner device")
        if new_device in state.devices:  # it would take the lost device's place twice: k of m could never be met
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "the new device is already a registered owner device")
        vault = self._vault(vault_id)
        if vault.recovery.open:
            raise ctl.RequestRefused(ctl.Refusal.RECOVERY_PENDING, "a recovery is already open on this vault")
        now = int(self.clock())
        # a store that follows the owner keeps its own time lock: this one ends no earlier
        kept = backend_of(self.keystore).owner_recovery_start(vault_id, new_device, lost_device, op.verifier)
        unlock = max(now + int(self.recovery_delay), kept)
        vault.recovery = Recovery("open", new_device, lost_device, now, unlock)
        self._save(vault_id)
        await self._notify(
            state, {"vault": vault_id, "event": "recovery-started", "unlock_at": unlock, "guardian": self.id}
        )
        return ops.RecoveryReply("open", unlock)

    async def _op_recovery_status(self, op: ops.RecoveryStatus) -> ops.RecoveryReply:
        rec = self._vault(op.vault).recovery
        return ops.RecoveryReply(rec.state, rec.unlock_at)

    async def _op_recovery_cancel(self, op: ops.RecoveryCancel) -> ops.RecoveryStateReply:
        vault = self._vault(op.vault)
        # the store first, whatever this guardian knows: a start whose reply was lost leaves a
        # recovery open there only, which would hold every share in the store until cancelled
        in_store = backend_of(self.keystore).owner_recovery_cancel(op.vault, APPROVED.get())
        if not vault.recovery.open:
            if in_store:
                return ops.RecoveryStateReply("cancelled")
            raise ctl.RequestRefused(ctl.Refusal.NO_RECOVERY, "no recovery is open on this vault")
        vault.recovery.state = "cancelled"
        self._save(op.vault)
        return ops.RecoveryStateReply("cancelled")

    async def _op_recovery_finish(self, op: ops.RecoveryFinish) -> ops.RecoveryStateReply:
        vault_id, notify = op.vault, op.notify
        state = self._check_password(vault_id, op.verifier)
        vault = self._vault(vault_id)
        rec = vault.recovery
        if not rec.open:
            raise ctl.RequestRefused(ctl.Refusal.NO_RECOVERY, f"no open recovery (state: {rec.state})")
        if int(self.clock()) < rec.unlock_at:
            raise ctl.RequestRefused(ctl.Refusal.TIME_LOCKED, f"the recovery time lock ends at {rec.unlock_at}")
        backend_of(self.keystore).owner_recovery_finish(vault_id, rec.new_device, rec.lost_device, op.verifier)
        state.devices = [rec.new_device if d == rec.lost_device else d for d in state.devices]
        state.counters.pop(rec.lost_device.hex(), None)
        state.notify = [notify]
        rec.state = "finished"
        pub = INTRO.get()
        if pub is not None and pub.guardian_id == notify:  # the new device may now talk to us directly
            vault.clients[notify] = pub.to_bytes().hex()
            self.directory[notify] = pub
            self.known_clients.add(notify)
        self._save(vault_id)
        return ops.RecoveryStateReply("finished")

    async def _op_audit(self, op: ops.Audit) -> ops.AuditReply:
        return audit_mod.audit_reply(self.audit, self.identity, op.vault, op.since)
