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
    def _policy_gate(self, vault_id: str, share: KeyShare, message: bytes, tx: TxContext | None) -> None:
        """Re-derive what a chain transaction asks to sign, judge it by this guardian's policy, and
        count it."""
        spend = None
        if tx is not None:
            allowed, spend = txcheck.derive(tx, share.scheme, share.public_key)
            if message not in allowed:
                raise ctl.RequestRefused(
                    ctl.Refusal.HASH_MISMATCH,
                    "the message to sign is not a hash of the transaction shown (refused, logged)",
                )
        now = int(self.clock())
        pol = policy_mod.PolicyState.from_meta(self._state().get(vault_id))
        try:
            pol.check(spend, now=now, watch=self.kind == "watch")
            # counted when it passes, before the run: a signing run that fails at this guardian may
            # still hand the signature to a co-signer (DKLs23's last round is not fair), so a spend
            # the guardian agreed to is a spend; the same transaction counts once however it ends
            pol.record(spend, now)
        finally:
            self._save(vault_id, policy=pol.to_meta(now))  # new holds too
