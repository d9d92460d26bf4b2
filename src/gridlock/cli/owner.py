"""Owner security from the command line: ``policy``, ``audit`` and ``recover``.

The commands call the guardians' owner-security control operations (``gridlock.wire.control``)
through the SDK: ``Vault.set_policy`` / ``Vault.policy`` (policy-set / policy-show), ``Vault.audit``
(audit; each entry's signature, the chain and the head kept from the last audit are verified), and
``gridlock.client.client``'s ``recovery_start`` / ``recovery_status`` / ``recovery_finish`` with
``Vault.recovery_cancel``; ``keyring password`` calls ``Vault.change_password`` (password-change).

Policy documents are :mod:`gridlock.policy.rules`'s; the options that build them are in
:mod:`gridlock.cli.policy_options`.

Recovery in a devnet (``gridlock.client.devices.DeviceKeys`` in the keyring): ``recover start
VAULT`` opens the vault's recovery with the password onto the recovery's new key (made by the
first start and saved before any guardian hears of it; every other vault's start reuses it),
``recover cancel VAULT`` (approved by the key the vault answers to: the old device can cancel)
stops it, ``recover finish VAULT`` (after the time lock) makes the new key that vault's — and the
current device key — while every other vault of the vault book keeps the key it still answers to
until its own recovery finishes.  Recover every vault: until then the lost device still approves
for the vaults not recovered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from gridlock.cli.sdk import OwnerSession
from gridlock.cli.state import load_vaults
from gridlock.client import DeviceKeys, PasswordChangeReport, Vault
from gridlock.client import recovery as sdk
from gridlock.errors import GridlockError


# --- operations -------------------------------------------------------------------------------------
class OwnerOps:
    def __init__(self, session: OwnerSession) -> None:
        self.s = session

    def _per_guardian(
        self, guardians: Sequence[str], call: Callable[[str], dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for g in guardians:
            try:
                out[self.s.name(g)] = {"ok": True, **call(g)}
            except GridlockError as exc:
                err = self.s.error(exc)
                out[self.s.name(g)] = {"ok": False, "error": err.message, "code": err.code}
        return out

    def policy_now(self, vault: Vault) -> dict[str, Any]:
        """The policy document the vault's guardians agree they enforce (an error when they differ)."""
        return self.s.run(vault.agreed_policy(vault.guardians))

    def policy_set(self, vault: Vault, rules: dict[str, Any], guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        replies = self.s.run(vault.set_policy(rules, list(guardians)))
        return {self.s.name(g): r.to_result() for g, r in replies.items()}

    def policy_cancel(self, vault: Vault, guardians: Sequence[str]) -> None:
        self.s.run(vault.cancel_policy_change(list(guardians)))

    def policy_show(self, vault: Vault, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._per_guardian(guardians, lambda g: self.s.run(vault.policy(g)).to_result())

    def audit(self, vault: Vault, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._per_guardian(guardians, lambda g: {"entries": self.s.run(vault.audit(g)), "verified": True})

    def change_password(
        self, entries: Sequence[dict[str, Any]], old: str, new: str, timeout: float
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """The password change at every guardian of the vault-book ``entries``, all at once
        (``Vault.change_password``): per vault id and guardian name ``{"ok": True, "changed": bool}``
        (false: it held the new password already) or ``{"ok": False, "error", "code", "exit_code"}``
        (``"*"`` for a vault that could not be asked at all)."""

        async def one(entry: dict[str, Any]) -> PasswordChangeReport | BaseException:
            try:
                return await self.s.open_vault(entry).change_password(old, new, timeout=timeout)
            except GridlockError as exc:
                return exc

        async def every() -> list[PasswordChangeReport | BaseException]:
            return list(await asyncio.gather(*(one(e) for e in entries)))

        def failure(exc: BaseException) -> dict[str, Any]:
            err = self.s.error(exc)
            return {"ok": False, "error": err.message, "code": err.code, "exit_code": err.exit_code}

        out: dict[str, dict[str, dict[str, Any]]] = {}
        for entry, report in zip(entries, self.s.run(every()), strict=True):
            if isinstance(report, BaseException):
                out[str(entry["id"])] = {"*": failure(report)}
                continue
            answers = {self.s.name(g): {"ok": True, "changed": True} for g in report.changed}
            answers |= {self.s.name(g): {"ok": True, "changed": False} for g in report.already}
            out[str(entry["id"])] = answers | {self.s.name(g): failure(e) for g, e in report.failed.items()}
        return out

    def _keep(self, keys: DeviceKeys) -> None:
        """Save the keyring's new device keys (before the guardians act on them)."""
        self.s.keyring.keys = keys
        self.s.keyring.save(self.s.paths.keyring)

    def recovery_start(self, vault_id: str, guardians: Sequence[str], password: str) -> dict[str, int]:
        """Open the recovery of ``vault_id`` onto the recovery's new key (the same for every vault)."""
        keys = self.s.keyring.keys.start(vault_id)
        if keys is not self.s.keyring.keys:
            self._keep(keys)
        call = sdk.recovery_start(
            self.s.c,
            vault_id,
            list(guardians),
            lost_device=keys.lost_device(vault_id),
            password=password,
            new_device=keys.new_device(vault_id),
        )
        return {self.s.name(g): int(t) for g, t in self.s.run(call).items()}

    def recovery_status(self, vault_id: str, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        result = self.s.run(sdk.recovery_status(self.s.c, vault_id, list(guardians)))
        return {self.s.name(g): dict(r) for g, r in result.items()}

    def recovery_cancel(self, vault: Vault) -> None:
        self.s.run(vault.recovery_cancel())
        self._keep(self.s.keyring.keys.cancel(vault.vault_id))

    def recovery_finish(self, vault_id: str, guardians: Sequence[str], password: str) -> list[str]:
        """Finish the recovery of ``vault_id``; the vault book's vaults still on the old key."""
        keys = self.s.keyring.keys
        new = keys.new_device(vault_id)
        book = [str(v["id"]) for v in load_vaults(self.s.paths)]  # read before the guardians switch keys
        self.s.run(sdk.recovery_finish(self.s.c, vault_id, list(guardians), password=password, new_device=new))
        keys = keys.finish(vault_id, book)
        self._keep(keys)
        return [v for v in book if v in keys.held]
