"""The owner's controls over a vault, mixed into :class:`~gridlock.client.vault.Vault`: the emergency
export, the spending policy (set, read, agree, cancel a waiting loosening), the audit log,
cancelling a device recovery, and changing the password the guardians know."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gridlock.client.audit import fetch_audit
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.crypto import device_seal
from gridlock.crypto.polynomial import interpolate
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError, SignatureError
from gridlock.policy import Policy
from gridlock.wire import ops

if TYPE_CHECKING:
    from gridlock.client.client import Client

OpT = TypeVar("OpT", bound=ops.Op)

__all__ = ["OwnerControls", "PasswordChangeReport"]


@dataclass(frozen=True)
class PasswordChangeReport:
    """What each guardian of a password change answered: ``changed`` replaced its verifier now,
    ``already`` held the new one (the same change, run before), ``failed`` refused or did not answer
    (guardian id → the error).  ``complete`` when no guardian failed; until then, run the same change
    again (the guardians done answer ``already``)."""

    changed: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    failed: Mapping[str, BaseException] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = [*self.changed, *self.already, *self.failed]
        if len(set(named)) != len(named):
            raise InvalidParameterError("a guardian is reported twice in a password change")

    @property
    def complete(self) -> bool:
        return not self.failed


class OwnerControls:
    """What the owner does with a vault besides signing and key changes (module doc)."""

    client: Client
    vault_id: str
    scheme: str
    public_key: bytes
    required_signers: list[str]
    approvers: list[OwnerDevice]

    if TYPE_CHECKING:  # the Vault's own (the class this is mixed into)

        @property
        def guardians(self) -> list[str]: ...
        def _approve(self, op: OpT) -> OpT: ...
        async def _pick_signers(self, signers: Sequence[str] | None) -> list[str]: ...
        @staticmethod
        def _failures(results: Mapping[str, ops.Reply | BaseException], what: str) -> None: ...

    async def export(self, guardians: Sequence[str] | None = None) -> bytes:
        """The emergency exit: ``t`` guardians hand their shares to the owner, who rebuilds the key."""
        chosen = list(guardians) if guardians is not None else await self._pick_signers(None)
        results = await self.client.call_all(chosen, self._approve(ops.Export(self.vault_id, secrets.token_bytes(32))))
        self._failures(results, "export")
        group = get_scheme(self.scheme).group
        points = {
            r.index: group.decode_scalar(self._opened(r)) for r in results.values() if isinstance(r, ops.ExportReply)
        }
        secret = interpolate(points, group.order)
        public = group.base_mul(secret).encode()
        if self.public_key not in (public, public[1:]):
            raise SignatureError("the exported shares do not rebuild the vault's key")
        return group.scalar_to_bytes(secret)

    def _opened(self, reply: ops.ExportReply) -> bytes:
        """A guardian's exported share: as sent, or opened with the approving device's key (a
        guardian whose store keeps the share sealed it to the owner's devices, not to itself)."""
        if reply.share:
            return reply.share
        for device in self.approvers:
            blob = reply.sealed.get(device.public.hex())
            if blob is not None:
                context = device_seal.export_context(self.vault_id, reply.index, device.public)
                return device.open_sealed(blob, context)
        raise DecodeError("the exported share is sealed to none of this client's owner devices")

    async def set_policy(
        self, rules: Policy | Mapping[str, Any], guardians: Sequence[str] | None = None
    ) -> dict[str, ops.PolicyReply]:
        """Ask every guardian to enforce ``rules`` (a :class:`~gridlock.policy.Policy` or its document),
        replacing the policy it has: what tightens applies at once, what loosens waits the policy's
        ``loosen_delay`` (each reply's ``pending`` / ``unlock_at``) and the owner's devices are told.
        Checked here first, so a bad value is an error before any guardian is asked."""
        policy = rules if isinstance(rules, Policy) else Policy.from_doc(rules)
        op = self._approve(ops.PolicySet(self.vault_id, policy.to_doc(), secrets.token_bytes(32)))
        results = await self.client.call_all(list(guardians or self.guardians), op)
        self._failures(results, "policy")
        if policy.watch is not None and policy.watch.guardian not in self.required_signers:
            self.required_signers.append(policy.watch.guardian)
        return {g: ops.expect(r, ops.PolicyReply) for g, r in results.items()}

    async def agreed_policy(self, guardians: Sequence[str] | None = None) -> dict[str, Any]:
        """The policy document ``guardians`` all enforce, to hand to a new holder; an error naming
        the fingerprints when they differ (the owner settles that first, with ``set_policy``)."""
        results = await self.client.call_all(list(guardians or self.guardians), ops.PolicyShow(self.vault_id))
        self._failures(results, "reading the policy")
        replies = {g: ops.expect(r, ops.PolicyReply) for g, r in results.items()}
        prints = {r.fingerprint for r in replies.values()}
        if len(prints) != 1:
            detail = ", ".join(f"{g}: {r.fingerprint[:16]}" for g, r in sorted(replies.items()))
            raise InvalidParameterError(f"the guardians enforce different policies ({detail}); set one first")
        return next(iter(replies.values())).rules

    async def cancel_policy_change(self, guardians: Sequence[str] | None = None) -> None:
        """Drop a waiting policy loosening at every guardian (or the given ones)."""
        op = self._approve(ops.PolicyCancel(self.vault_id, secrets.token_bytes(32)))
        self._failures(await self.client.call_all(list(guardians or self.guardians), op), "policy cancel")

    async def policy(self, guardian: str) -> ops.PolicyReply:
        """A guardian's policy for this vault: its rules and fingerprint, its role, a waiting change."""
        return ops.expect(await self.client.call(guardian, ops.PolicyShow(self.vault_id)), ops.PolicyReply)

    async def audit(self, guardian: str) -> list[dict[str, Any]]:
        """A guardian's log of this vault: every entry signed by the guardian and chained, and still
        holding the head seen last time (:class:`~gridlock.wire.audit.AuditTampered` names the guardian
        whose log was cut short, rewritten or reset); the new head is kept (``client.audit_heads``)."""
        return await fetch_audit(self.client, guardian, self.vault_id)

    async def change_password(
        self, old: str, new: str, guardians: Sequence[str] | None = None, timeout: float | None = None
    ) -> PasswordChangeReport:
        """Replace the password verifier every guardian of the vault's current epoch (or ``guardians``)
        keeps for device recovery: the old password proves it (a wrong one counts against the
        password's rate limit) and the owner's devices approve it.  Refused while a device recovery is
        open (cancel it first).  Never raises for one guardian: see the report, and run the same
        change again for those that failed.  Each guardian gets verifiers salted for it
        (:func:`~gridlock.client.owner.password_verifier`)."""
        if old == new:
            raise InvalidParameterError("the new password is the old one")
        chosen = list(guardians) if guardians is not None else self.guardians
        vid = self.vault_id
        verifiers = await asyncio.to_thread(
            lambda: {g: (password_verifier(old, g, vid), password_verifier(new, g, vid)) for g in chosen}
        )
        if not chosen:
            raise InvalidParameterError("a password change needs at least one guardian")
        # one approval for all: what it signs leaves the verifiers out (they differ per guardian)
        op = self._approve(ops.PasswordChange(vid, *verifiers[chosen[0]], secrets.token_bytes(32)))

        def each(g: str) -> ops.Op:
            return dataclasses.replace(op, verifier=verifiers[g][0], new_verifier=verifiers[g][1])

        results = await self.client.call_all(chosen, op, timeout, each=each)
        replies = {g: results.get(g) for g in chosen}
        done = {g: r for g, r in replies.items() if isinstance(r, ops.PasswordReply)}
        return PasswordChangeReport(
            changed=tuple(g for g, r in done.items() if r.changed),
            already=tuple(g for g, r in done.items() if not r.changed),
            failed={
                g: r if isinstance(r, BaseException) else DecodeError(f"guardian {g} sent no password-change answer")
                for g, r in replies.items()
                if g not in done
            },
        )

    async def recovery_cancel(self) -> None:
        """From a registered device: stop a device recovery during its time lock."""
        op = self._approve(ops.RecoveryCancel(self.vault_id, secrets.token_bytes(32)))
        results = await self.client.call_all(self.guardians, op)
        self._failures(results, "recovery cancel")
