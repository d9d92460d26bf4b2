"""The policy gate: a guardian's own reading of the transaction it is asked to sign, judged by the
owner's rules (limits, allow-lists, time locks, the watch guardian's hold) before it signs."""

from __future__ import annotations

from gridlock.chains.context import TxContext
from gridlock.crypto.keyshare import KeyShare
from gridlock.guardian import policy as policy_mod
from gridlock.guardian import txcheck
from gridlock.guardian.core import NodeCore
from gridlock.wire import control as ctl


class PolicyGate(NodeCore):
    def _policy_gate(
        self, vault_id: str, share: KeyShare, message: bytes, tx: TxContext | None
    ) -> policy_mod.Spend | None:
        """Re-derive what a chain transaction asks to sign and judge it by this guardian's policy."""
        spend = None
        if tx is not None:
            allowed, spend = txcheck.derive(tx, share.scheme, share.public_key)
            if message not in allowed:
                raise ctl.RequestRefused(
                    ctl.Refusal.HASH_MISMATCH,
                    "the message to sign is not a hash of the transaction shown (refused, logged)",
                )
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(vault_id))
        try:
            pol.check(spend, now=int(self.clock()), watch=self.kind == "watch")
        finally:
            self._save(vault_id, policy=pol.to_meta(int(self.clock())))  # keeps new holds
        return spend

    def _policy_record(self, vault_id: str, spend: policy_mod.Spend | None) -> None:
        pol = policy_mod.PolicyState.from_meta(self.keystore.metadata(vault_id))
        pol.record(spend, int(self.clock()))
        self._save(vault_id, policy=pol.to_meta(int(self.clock())))
