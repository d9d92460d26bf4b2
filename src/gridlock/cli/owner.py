"""Owner security from the command line: ``policy``, ``audit`` and ``recover`` (issue 7).

The guardian side (approvals, policy, audit log, time-locked recovery) is being built alongside
the CLI.  The commands call it only through this module, and this module calls only these
**control operations** of the guardians (``gridlock.wire.control``), through the SDK's methods
when the installed SDK has them:

=================  ==========================================================  =======================
op                 params (CBOR map)                                           SDK call used
=================  ==========================================================  =======================
``policy-set``     vault, rules, nonce, approvals (owner device signatures)    ``Vault.set_policy``
``policy-show``    vault                          → {rules, kind}              ``Vault.policy``
``audit``          vault  → {entries: [JSON], head: [seq, hash], signature}    ``Vault.audit`` (verifies
                                                                               chain and signed head)
``recovery-start`` vault, new_device, lost_device, verifier (per guardian)     ``client.recovery_start``
                   — from a device the guardians do not know yet → {unlock_at}
``recovery-status`` vault → {state, unlock_at, …}                              ``client.recovery_status``
``recovery-cancel`` vault, nonce, approvals (from a registered device)         ``Vault.recovery_cancel``
``recovery-finish`` vault, verifier, notify → then the new device is the       ``client.recovery_finish``
                   vault's registered device
=================  ==========================================================  =======================

Read-only operations fall back to a plain ``Client.request`` when the SDK lacks the method; the
others need the SDK's approvals and otherwise fail with a clear "not supported yet" (exit code 1).

Policy rules (``gridlock.guardian.policy``)::

    {"limits": {CHAIN: {"amount": N, "period": S}}, "allow": {CHAIN: [ADDRESS, …]},
     "timelock": {CHAIN: {"above": N, "delay": S}}, "rate": {"max": N, "period": S}}

Amounts are in the chain's base unit (satoshi, wei, lamport, uscrt).

Recovery in a devnet: the keyring holds the owner's device key; ``recover start`` makes a new
(pending) device key and opens the recovery with the password, ``recover cancel`` (from the
current device) stops it, ``recover finish`` (after the time lock) makes the pending key the
device key.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gridlock.cli.chains import CHAINS
from gridlock.cli.errors import FAILED, CliError, usage
from gridlock.cli.sdk import OwnerSession
from gridlock.client.client import Vault
from gridlock.errors import GridlockError

OP_POLICY_SET = "policy-set"
OP_POLICY_SHOW = "policy-show"
OP_AUDIT = "audit"
OP_RECOVERY_START = "recovery-start"
OP_RECOVERY_STATUS = "recovery-status"
OP_RECOVERY_CANCEL = "recovery-cancel"
OP_RECOVERY_FINISH = "recovery-finish"
DAY = 86400


def unsupported(what: str) -> CliError:
    return CliError(
        f"{what} is not supported by the installed Gridlock SDK yet",
        hint="owner security (issue 7) adds it to gridlock.client",
        exit_code=FAILED,
        code="unsupported",
    )


def _unsupported_by_guardians(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == "bad-request" and "unknown operation" in str(exc)


# --- policy rules from options ----------------------------------------------------------------------
def _int(text: str, what: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise usage(f"{what}: {text!r} is not a whole number") from None
    if value < 0:
        raise usage(f"{what}: must not be negative")
    return value


def _chain(text: str, what: str) -> str:
    if text not in CHAINS:
        raise usage(f"{what}: unknown chain {text!r}", hint=f"one of: {', '.join(CHAINS)}")
    return text


def build_rules(
    limits: Sequence[str],
    allow: Sequence[str],
    timelocks: Sequence[str],
    rate: str | None,
    rules_file: Path | None,
) -> dict[str, Any]:
    """``--limit CHAIN:AMOUNT[/SECONDS]``, ``--allow CHAIN:ADDRESS``, ``--timelock CHAIN:ABOVE:SECONDS``,
    ``--rate MAX/SECONDS``, or a JSON ``--rules FILE`` (options override the file)."""
    rules: dict[str, Any] = {"limits": {}, "allow": {}, "timelock": {}, "rate": {}}
    if rules_file is not None:
        try:
            loaded = json.loads(rules_file.read_text())
        except (OSError, ValueError) as exc:
            raise usage(f"cannot read the rules file {rules_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise usage(f"{rules_file}: the rules must be a JSON object")
        rules.update(loaded)
    for item in limits:
        chain, _, rest = item.partition(":")
        amount, _, period = rest.partition("/")
        if not amount:
            raise usage(f"--limit {item!r}: expected CHAIN:AMOUNT[/SECONDS]")
        rules["limits"][_chain(chain, "--limit")] = {
            "amount": _int(amount, "--limit"),
            "period": _int(period, "--limit period") if period else DAY,
        }
    for item in allow:
        chain, _, addr = item.partition(":")
        if not addr:
            raise usage(f"--allow {item!r}: expected CHAIN:ADDRESS")
        rules["allow"].setdefault(_chain(chain, "--allow"), []).append(addr)
    for item in timelocks:
        parts = item.split(":")
        if len(parts) != 3:
            raise usage(f"--timelock {item!r}: expected CHAIN:ABOVE:SECONDS")
        rules["timelock"][_chain(parts[0], "--timelock")] = {
            "above": _int(parts[1], "--timelock"),
            "delay": _int(parts[2], "--timelock"),
        }
    if rate is not None:
        count, _, period = rate.partition("/")
        rules["rate"] = {"max": _int(count, "--rate"), "period": _int(period, "--rate") if period else 3600}
    return rules


# --- operations -------------------------------------------------------------------------------------
class OwnerOps:
    def __init__(self, session: OwnerSession) -> None:
        self.s = session

    def _per_guardian(self, guardians: Sequence[str], call: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for g in guardians:
            try:
                out[self.s.name(g)] = {"ok": True, **call(g)}
            except GridlockError as exc:
                if _unsupported_by_guardians(exc):
                    raise CliError(
                        f"guardian {self.s.name(g)} does not implement this operation yet",
                        hint="owner security (issue 7) adds it to the guardians",
                        code="unsupported",
                    ) from None
                err = self.s.error(exc)
                out[self.s.name(g)] = {"ok": False, "error": err.message, "code": err.code}
        return out

    def policy_set(self, vault: Vault, rules: dict[str, Any], guardians: Sequence[str]) -> None:
        if not hasattr(vault, "set_policy"):
            raise unsupported("setting a policy")
        try:
            self.s.run(vault.set_policy(rules, list(guardians)))
        except GridlockError as exc:
            if _unsupported_by_guardians(exc):
                raise unsupported("setting a policy") from None
            raise

    def policy_show(self, vault: Vault, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        def one(g: str) -> dict[str, Any]:
            if hasattr(vault, "policy"):
                return dict(self.s.run(vault.policy(g)))
            return self.s.run(self.s.c.request(g, OP_POLICY_SHOW, {"vault": vault.vault_id}))

        return self._per_guardian(guardians, one)

    def audit(self, vault: Vault, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        def one(g: str) -> dict[str, Any]:
            if hasattr(vault, "audit"):
                return {"entries": list(self.s.run(vault.audit(g))), "verified": True}
            answer = self.s.run(self.s.c.request(g, OP_AUDIT, {"vault": vault.vault_id}))
            return {"entries": [json.loads(e)["body"] for e in answer.get("entries", [])], "verified": False}

        return self._per_guardian(guardians, one)

    def _fn(self, name: str) -> Any:
        fn = getattr(importlib.import_module("gridlock.client.client"), name, None)
        if fn is None:
            raise unsupported("device recovery")
        return fn

    def recovery_start(
        self, vault_id: str, guardians: Sequence[str], lost_device: bytes, password: str
    ) -> dict[str, int]:
        fn = self._fn("recovery_start")
        result = self.s.run(fn(self.s.c, vault_id, list(guardians), lost_device=lost_device, password=password))
        return {self.s.name(g): int(t) for g, t in dict(result).items()}

    def recovery_status(self, vault_id: str, guardians: Sequence[str]) -> dict[str, dict[str, Any]]:
        fn = getattr(importlib.import_module("gridlock.client.client"), "recovery_status", None)
        if fn is not None:
            result = self.s.run(fn(self.s.c, vault_id, list(guardians)))
            return {self.s.name(g): dict(r) for g, r in dict(result).items()}
        return self._per_guardian(
            guardians, lambda g: self.s.run(self.s.c.request(g, OP_RECOVERY_STATUS, {"vault": vault_id}))
        )

    def recovery_cancel(self, vault: Vault) -> None:
        if not hasattr(vault, "recovery_cancel"):
            raise unsupported("cancelling a recovery")
        self.s.run(vault.recovery_cancel())

    def recovery_finish(self, vault_id: str, guardians: Sequence[str], password: str) -> Vault:
        fn = self._fn("recovery_finish")
        vault: Vault = self.s.run(fn(self.s.c, vault_id, list(guardians), password=password))
        return vault
