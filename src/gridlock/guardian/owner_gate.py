"""The owner gate: approvals bound to the request, the password check and its rate limit, device
recovery (a time-locked state machine), the owner's policy settings and the audit log (SECURITY #19, #21)."""

from __future__ import annotations

from typing import Any

from gridlock.guardian import audit as audit_mod
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.core import INTRO, NodeCore
from gridlock.wire import control as ctl
from gridlock.wire import ops


class OwnerGate(NodeCore):
    def _approve(self, op: Any, subject: bytes) -> None:
        """Owner approvals for a key-using request, bound to every parameter of it (SECURITY #19).

        ``subject`` is the request's wire form without the approvals (what the devices signed).  A
        guardian that holds nothing of the vault yet (a new holder in a reshare, the lost holder in
        a repair) checks them against the registration that comes with the request.
        """
        vault_id, nonce = op.vault, op.nonce
        if self._knows(vault_id) and "owner" in self._state().get(vault_id):
            state = self._owner(vault_id)
            scheme = self.keystore.vault(vault_id).scheme
            registered = True
        elif isinstance(op, ops.Reshare | ops.Repair):
            state = owner_mod.registration(op.owner, self.identity)
            scheme = op.scheme
            registered = False
        else:
            raise ctl.RequestRefused(ctl.Refusal.NO_OWNER, "this vault has no registered owner")
        recovery = self._state().get(vault_id).get("recovery", {}) if self._knows(vault_id) else {}
        if recovery.get("state") == "open" and not isinstance(op, ops.RecoveryCancel):
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
        if registered:
            state.consume(good)
            self._save(vault_id, owner=state.to_meta())

    def _check_password(self, vault_id: str, state: owner_mod.OwnerState, verifier: bytes) -> None:
        """Argon2id verifier check, rate-limited per vault at this guardian (SECURITY #21)."""
        meta = self._state().get(vault_id)
        now = int(self.clock())
        failures = [t for t in meta.get("password_failures", []) if t > now - 3600]
        if len(failures) >= self.password_attempts:
            raise ctl.RequestRefused(
                ctl.Refusal.RATE_LIMITED, "too many wrong passwords for this vault; try again later"
            )
        if not state.check_password(verifier, self.identity):
            self._save(vault_id, password_failures=[*failures, now])
            raise ctl.RequestRefused(ctl.Refusal.WRONG_PASSWORD, "the password does not match")

    async def _op_recovery_start(self, op: ops.RecoveryStart) -> ops.RecoveryReply:
        vault_id, new_device, lost_device, verifier = op.vault, op.new_device, op.lost_device, op.verifier
        state = self._owner(vault_id)
        self._check_password(vault_id, state, verifier)
        if lost_device not in state.devices:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "the lost device is not a registered owner device")
        if new_device in state.devices:  # it would take the lost device's place twice: k of m could never be met
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "the new device is already a registered owner device")
        meta = self._state().get(vault_id)
        if meta.get("recovery", {}).get("state") == "open":
            raise ctl.RequestRefused(ctl.Refusal.RECOVERY_PENDING, "a recovery is already open on this vault")
        now = int(self.clock())
        unlock = now + int(self.recovery_delay)
        self._save(
            vault_id,
            recovery={
                "state": "open",
                "new_device": new_device.hex(),
                "lost_device": lost_device.hex(),
                "opened": now,
                "unlock_at": unlock,
            },
        )
        await self._notify(
            state, {"vault": vault_id, "event": "recovery-started", "unlock_at": unlock, "guardian": self.id}
        )
        return ops.RecoveryReply("open", unlock)

    async def _op_recovery_status(self, op: ops.RecoveryStatus) -> ops.RecoveryReply:
        rec = self._state().get(op.vault).get("recovery", {})
        return ops.RecoveryReply(str(rec.get("state", "none")), int(rec.get("unlock_at", 0)))

    async def _op_recovery_cancel(self, op: ops.RecoveryCancel) -> ops.RecoveryStateReply:
        vault_id = op.vault
        rec = dict(self._state().get(vault_id).get("recovery", {}))
        if rec.get("state") != "open":
            raise ctl.RequestRefused(ctl.Refusal.NO_RECOVERY, "no recovery is open on this vault")
        rec["state"] = "cancelled"
        self._save(vault_id, recovery=rec)
        return ops.RecoveryStateReply("cancelled")

    async def _op_recovery_finish(self, op: ops.RecoveryFinish) -> ops.RecoveryStateReply:
        vault_id, verifier, notify = op.vault, op.verifier, op.notify
        state = self._owner(vault_id)
        self._check_password(vault_id, state, verifier)
        rec = dict(self._state().get(vault_id).get("recovery", {}))
        if rec.get("state") != "open":
            raise ctl.RequestRefused(ctl.Refusal.NO_RECOVERY, f"no open recovery (state: {rec.get('state', 'none')})")
        now = int(self.clock())
        if now < rec["unlock_at"]:
            raise ctl.RequestRefused(ctl.Refusal.TIME_LOCKED, f"the recovery time lock ends at {rec['unlock_at']}")
        lost, new = bytes.fromhex(rec["lost_device"]), bytes.fromhex(rec["new_device"])
        state.devices = [new if d == lost else d for d in state.devices]
        state.counters.pop(lost.hex(), None)
        state.notify = [notify]
        rec["state"] = "finished"
        clients = dict(self._state().get(vault_id).get("clients", {}))
        pub = INTRO.get()
        if pub is not None and pub.guardian_id == notify:  # the new device may now talk to us directly
            clients[notify] = pub.to_bytes().hex()
            self.directory[notify] = pub
            self.known_clients.add(notify)
        self._save(vault_id, owner=state.to_meta(), recovery=rec, clients=clients)
        return ops.RecoveryStateReply("finished")

    async def _op_audit(self, op: ops.Audit) -> ops.AuditReply:
        return audit_mod.audit_reply(self.audit, self.identity, op.vault, op.since)
