"""The policy gate and the owner's policy operations at one guardian (SECURITY #18–19).

Before it signs, a guardian reads the transaction it was shown itself (:mod:`gridlock.chains`),
judges it by its own copy of the owner's policy over its own ledger (:mod:`gridlock.policy`), and
counts it — the ledger entries go into the same store transaction as the session claim.  A hold is
recorded and the owner's devices told at once; the client gets a ``held`` refusal with its end time.
"""

from __future__ import annotations

from collections.abc import Sequence

from gridlock import chains
from gridlock.chains.context import TxContext
from gridlock.crypto.hd import HdRoot
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import DecodeError, GridlockError
from gridlock.guardian.core import NodeCore
from gridlock.guardian.policy import VaultPolicy
from gridlock.policy import Policy, Spend, horizon, judge
from gridlock.policy.rules import DAY
from gridlock.wire import control as ctl
from gridlock.wire import ops

WATCH = "watch"


def read_spend(
    ctx: TxContext, scheme: str, public_key: bytes, roots: Sequence[HdRoot] = ()
) -> tuple[frozenset[bytes], Spend]:
    """Every hash a signer of ``public_key`` (the vault's key at the request's path) may sign for
    ``ctx`` and what it moves, by the chain's adapter (``roots``: the vault's HD root and the
    owner's other vaults', for a chain whose transactions name child keys); typed errors for a
    transaction the chain library cannot read (a malformed *context* never gets here: the request
    carrying it is refused when decoded, :mod:`gridlock.wire.ops`)."""
    adapter = chains.get(ctx.chain)
    try:
        derived = adapter.derive_with_roots(ctx, scheme, public_key, roots)
    except GridlockError:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # a library's own error for input it cannot read
        raise DecodeError(f"{ctx.chain}: malformed transaction ({exc})") from None
    return derived.hashes, Spend(ctx.chain, derived.movements, ctx.digest(), derived.blind)


class PolicyGate(NodeCore):
    def _policy(self, vault_id: str) -> VaultPolicy:
        """The vault's policy state now (a loosening whose time came is applied, and saved)."""
        vault = self._vault(vault_id)
        now = vault.policy.current(int(self.clock()))
        if now is not vault.policy:
            vault.policy = now
            self._save(vault_id)
        return now

    def _hd_roots(self, vault_id: str, master: KeyShare, *, others: bool) -> tuple[HdRoot, ...]:
        """The vault's HD root, then (``others``) those of the owner's other vaults this guardian holds
        (same owner devices): whose coins a transaction may spend beside the vault's
        (chains.bitcoin.reading).  None at all for a Taproot share that predates keeping its internal key."""
        if not master.untweaked_key_bytes:
            return ()
        roots = [HdRoot.of(master)]
        if not others:
            return tuple(roots)
        devices = set(self._owner(vault_id).devices)
        for rec in self.keystore.vaults():
            if rec.vault_id == vault_id or rec.active_epoch is None:
                continue
            try:
                if set(self._owner(rec.vault_id).devices) != devices:
                    continue
                other = self.keystore.active_share(rec.vault_id)
                if other.untweaked_key_bytes:
                    roots.append(HdRoot.of(other))
            except GridlockError:  # no owner recorded, a share that does not load: not the owner's
                continue
        return tuple(roots)

    async def _policy_gate(
        self,
        vault_id: str,
        share: KeyShare,
        message: bytes,
        tx: TxContext | None,
        signers: tuple[str, ...],
        master: KeyShare | None = None,
    ) -> None:
        """Judge one signature request by ``share``, the share of the key at the request's path
        (``master``: the vault's own, when that is a child); count it or refuse it."""
        spend = None
        if tx is not None:
            names_keys = chains.get(tx.chain).names_child_keys
            roots = self._hd_roots(vault_id, master or share, others=False) if names_keys else ()
            try:
                allowed, spend = read_spend(tx, share.scheme, share.public_key, roots)
            except chains.ForeignSpendError:
                if not names_keys:
                    raise
                # only then are the owner's other vaults looked at (their records and shares): the
                # common transaction, spending the vault's own coins, costs no other vault's state
                others = self._hd_roots(vault_id, master or share, others=True)
                allowed, spend = read_spend(tx, share.scheme, share.public_key, others)
            if message not in allowed:
                raise ctl.RequestRefused(
                    ctl.Refusal.HASH_MISMATCH,
                    "the message to sign is not a hash of the transaction shown (refused, logged)",
                )
        policy = self._policy(vault_id).active
        watching = self.kind == WATCH
        now = int(self.clock())
        span = horizon(policy, watching)
        ledger = self.keystore.ledger(vault_id, now - span) if span else []
        paid: frozenset[str] = frozenset()
        if watching and spend is not None:
            # a destination counts as known once it was paid a whole hold ago: a dust payment made
            # just before cannot make a large one to the same address pass unheld
            hold = policy.watch.hold if policy.watch else DAY
            paid = self.keystore.paid_before(vault_id, spend.chain, spend.destinations, now - hold)
        decision = judge(policy, spend, signers=signers, ledger=ledger, now=now, watching=watching, paid_before=paid)
        # counted when it passes, before the run: a signing run that fails at this guardian may
        # still hand the signature to a co-signer (DKLs23's last round is not fair), so a spend the
        # guardian agreed to is a spend; the same transaction counts once however it ends
        self._state().record(vault_id, decision.record)
        if decision.notice is not None:
            await self._notify(self._owner(vault_id), {"vault": vault_id, "guardian": self.id, **decision.notice})
        if decision.refusal is not None:
            raise decision.refusal

    # --- the owner's operations ----------------------------------------------------------------------
    async def _op_policy_set(self, op: ops.PolicySet) -> ops.PolicyReply:
        requested = Policy.from_doc(op.rules)
        before = self._policy(op.vault)
        after = before.request(requested, int(self.clock()))
        self._vault(op.vault).policy = after
        self._save(op.vault)
        if after.pending is not None:
            await self._notify(
                self._owner(op.vault),
                {
                    "vault": op.vault,
                    "event": "policy-loosening",
                    "unlock_at": after.pending.unlock_at,
                    "reasons": list(after.pending.reasons),
                    "guardian": self.id,
                },
            )
        return self._policy_reply(after)

    async def _op_policy_cancel(self, op: ops.PolicyCancel) -> ops.PolicyReply:
        state = self._policy(op.vault)
        if state.pending is None:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "no policy change is waiting on this vault")
        after = VaultPolicy(state.active)
        self._vault(op.vault).policy = after
        self._save(op.vault)
        return self._policy_reply(after)

    async def _op_policy_show(self, op: ops.PolicyShow) -> ops.PolicyReply:
        return self._policy_reply(self._policy(op.vault))

    def _policy_reply(self, state: VaultPolicy) -> ops.PolicyReply:
        p = state.pending
        return ops.PolicyReply(
            rules=state.active.to_doc(),
            fingerprint=state.active.fingerprint(),
            kind=self.kind,
            pending={} if p is None else p.policy.to_doc(),
            unlock_at=0 if p is None else p.unlock_at,
            reasons=[] if p is None else list(p.reasons),
        )
