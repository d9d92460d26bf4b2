"""Key operations: vault listings, keygen, the two-phase commit, refresh, reshare, repair, export.

Every change of a vault's key material is two-phase (SECURITY #16): the new epoch is stored as
*pending*, the guardian answers with a signed acknowledgement of (vault, epoch, public key,
transcript hash), and only a ``commit`` carrying the acknowledgements of **every** new holder makes
it active and retires the old epoch.  Until then the old epoch keeps signing.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.crypto.sealed import SealedShare
from gridlock.errors import DecodeError
from gridlock.guardian import owner as owner_mod
from gridlock.guardian.core import APPROVED, ECDSA, INTRO, NodeCore, session_id
from gridlock.guardian.policy import VaultPolicy
from gridlock.guardian.policy_gate import PolicyGate
from gridlock.guardian.session import participants_of
from gridlock.guardian.shares import KeyChange, backend_of
from gridlock.guardian.store import KeystoreError
from gridlock.guardian.store import rules as store_rules
from gridlock.policy import Policy
from gridlock.protocol.custody import CUSTODY_SCHEMES, Channel
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.ecdsa import EcdsaKeygenParty
from gridlock.protocol.party import RoundProtocol
from gridlock.protocol.repair import RepairParty
from gridlock.protocol.reshare import ReshareParty
from gridlock.wire import control as ctl
from gridlock.wire import ops

log = logging.getLogger("gridlock.guardian")
_C = TypeVar("_C")


class KeyOperations(PolicyGate, NodeCore):
    async def _op_ping(self, op: ops.Ping) -> ops.PingReply:
        """With a vault: its active epoch here, for identities of the directory (an unknown device learns
        nothing about vaults)."""
        active = None
        if op.vault is not None and INTRO.get() is None:
            with contextlib.suppress(KeystoreError):
                active = self.keystore.vault(op.vault).active_epoch
        return ops.PingReply(self.id, int(self.clock()), -1 if active is None else active)

    async def _op_list(self, op: ops.ListVaults) -> ops.VaultsReply:
        """The vaults this guardian holds an active share of (public data only)."""
        out = []
        for rec in self.keystore.vaults():
            if rec.active_epoch is None:
                continue
            out.append(
                {
                    "vault": rec.vault_id,
                    "scheme": rec.scheme,
                    "public_key": rec.public_key,
                    "threshold": rec.threshold,
                    "epoch": rec.active_epoch,
                }
            )
        return ops.VaultsReply(out)

    async def _op_info(self, op: ops.Info) -> ops.InfoReply:
        vault_id = op.vault
        share = self.keystore.active_share(vault_id)
        return ops.InfoReply(
            share.scheme,
            share.public_key,
            share.threshold,
            share.epoch,
            [[i, g] for i, g in sorted(self._vault_members(vault_id, share.epoch).items())],
            share.untweaked_key_bytes,
            share.chain_code,
        )

    async def _op_keygen(self, op: ops.Keygen) -> ops.StoredReply:
        vault_id, scheme, threshold = op.vault, get_scheme(op.scheme), op.threshold
        members, nonce = dict(op.members), op.nonce
        me = self._my_index(members)
        sid = session_id("keygen", vault_id, 0, members, nonce)
        ids = sorted(members)
        party: RoundProtocol[KeyShare]
        if scheme.name == ECDSA:
            party = EcdsaKeygenParty(sid, me, ids, threshold)
        else:
            party = DkgParty(scheme, sid, me, ids, threshold)
        owner = owner_mod.registration(op.owner, self.identity)
        share = await self._run(sid, "keygen", members, party)
        return self._store_pending(vault_id, share, members, owner=owner)

    async def _op_commit(self, op: ops.Commit) -> ops.EpochReply:
        vault_id, epoch, acks = op.vault, op.epoch, op.acks
        share = self.keystore.share(vault_id, epoch)
        members = self._vault_members(vault_id, epoch)
        statement = ctl.ack_statement(vault_id, epoch, share.public_key, share.transcript_hash)
        missing = [g for g in members.values() if not isinstance(acks.get(g), bytes)]
        bad = [
            g
            for g in members.values()
            if g not in missing and not self.directory[g].verify(ctl.ACK_LABEL, statement, acks[g])
        ]
        if missing or bad:
            raise ctl.RequestRefused(
                ctl.Refusal.ACK_MISSING, f"epoch {epoch} lacks valid acknowledgements from: {', '.join(missing + bad)}"
            )
        self.keystore.activate(vault_id, epoch)
        # the retired epochs' tombstones go (their secrets went at activation): a vault refreshed daily
        # for years keeps the same small state; an older epoch stays unusable (it is below the active one)
        self.keystore.purge_retired(vault_id)
        return ops.EpochReply(epoch)

    async def _op_ack(self, op: ops.Ack) -> ops.AckReply:
        """Acknowledge an epoch this guardian already holds (repair: the holders that did not change)."""
        vault_id, epoch = op.vault, op.epoch
        share = self.keystore.share(vault_id, epoch)
        statement = ctl.ack_statement(vault_id, epoch, share.public_key, share.transcript_hash)
        return ops.AckReply(self.identity.sign(ctl.ACK_LABEL, statement), epoch)

    async def _op_abort(self, op: ops.AbortEpoch) -> ops.EpochReply:
        vault_id, epoch = op.vault, op.epoch
        self.keystore.discard_pending(vault_id, epoch)
        return ops.EpochReply(epoch)

    async def _op_export(self, op: ops.Export) -> ops.ExportReply:
        """The emergency exit: hand this guardian's share to the owner (approved, encrypted to it).

        Exporting the key walks around every rule, so a vault whose policy has any chain rule exports
        only if the policy allows it (``export``: turning it on is a loosening, so it waits the
        loosening delay, and the owner's devices are told of it and of the export itself)."""
        share = self.keystore.active_share(op.vault)
        if share.depth:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "only master keys are exported")
        policy = self._policy(op.vault).active
        if policy.restricts_chains and not policy.export:
            raise ctl.RequestRefused(
                ctl.Refusal.POLICY, "this vault's policy does not allow exporting the key (set export: true; it waits)"
            )
        await self._notify(self._owner(op.vault), {"vault": op.vault, "event": "export", "guardian": self.id})
        exported = backend_of(self.keystore).export(op.vault, share, APPROVED.get())
        return ops.ExportReply(exported.index, exported.share, dict(exported.sealed))

    async def _op_refresh(self, op: ops.Refresh) -> ops.StoredReply:
        vault_id, nonce = op.vault, op.nonce
        share = self.keystore.active_share(vault_id)
        members = self._vault_members(vault_id, share.epoch)
        sid = session_id("refresh", vault_id, share.epoch, members, nonce)
        await self._claim(vault_id, share.epoch, sid)
        party = ReshareParty.for_refresh(sid, share, backend_of(self.keystore).refresher(vault_id, share))
        new = await self._run(sid, "refresh", members, party)
        assert new is not None
        self._replace_uncommitted(vault_id, new)
        return self._store_pending(vault_id, new, members)

    async def _op_reshare(self, op: ops.Reshare) -> ops.StoredReply | ops.DealtReply:
        """Deal to a new committee: replace, add or remove guardians, change the threshold.

        ``dealers`` are current holders by guardian id; ``committee`` gives the new indices.  A
        guardian that stays keeps its index, so one node index never names two guardians.
        """
        vault_id, nonce, new_threshold, committee = op.vault, op.nonce, op.threshold, dict(op.committee)
        scheme, expected_key, epoch = get_scheme(op.scheme), op.public_key, op.epoch
        old_members, dealer_ids = dict(op.old_members), op.dealers
        old_index = {g: i for i, g in old_members.items()}
        if any(g not in old_index for g in dealer_ids):
            raise DecodeError("every dealer must be a current holder")
        dealers = sorted(old_index[g] for g in dealer_ids)
        nodes: dict[int, str] = {}
        for i in dealers:
            nodes[i] = old_members[i]
        for i, g in committee.items():
            if nodes.get(i, g) != g or (g in old_index and old_index[g] != i and old_index[g] in nodes):
                raise DecodeError(f"index {i} would name two guardians; a staying guardian keeps its index")
            nodes[i] = g
        old_share: KeyShare | None = None
        if self.id in dealer_ids:
            old_share = self.keystore.active_share(vault_id)
            if self._vault_members(vault_id, old_share.epoch) != old_members or old_share.epoch != epoch:
                raise ctl.RequestRefused(ctl.Refusal.STALE, "the request describes another epoch of this vault")
        policy = self._carried_policy(vault_id, op.policy)
        me = self._my_index(nodes)
        sid = session_id("reshare", vault_id, epoch, nodes, nonce)
        if old_share is not None:
            await self._claim(vault_id, epoch, sid)
        change = self._key_change(vault_id, scheme.name, old_share, sid, me, nodes)
        party = ReshareParty(
            sid,
            me,
            scheme=scheme.name,
            old_share=old_share,
            dealers=dealers,
            new_participants=sorted(committee),
            new_threshold=new_threshold,
            refresh=False,
            expected_group_key=_decode_public_key(scheme.name, expected_key),
            context=self._key_change_context(vault_id, op.owner, policy),
            custody=self._custody(change, backend_of(self.keystore).resharer),
            channel=self._channel(change),
        )
        new = await self._run(sid, "reshare", nodes, party)
        if new is None:
            return ops.DealtReply()
        return self._store_new(vault_id, new, expected_key, committee, op.owner, policy)

    async def _op_repair(self, op: ops.Repair) -> ops.StoredReply | ops.HelpedReply:
        vault_id, nonce, members, epoch = op.vault, op.nonce, dict(op.members), op.epoch
        scheme, expected_key, helper_ids, lost_id = get_scheme(op.scheme), op.public_key, op.helpers, op.lost
        index = {g: i for i, g in members.items()}
        if lost_id not in index or any(g not in index for g in helper_ids):
            raise DecodeError("helpers and the lost holder must be holders of the vault")
        helpers = sorted(index[g] for g in helper_ids)
        nodes = {i: members[i] for i in [*helpers, index[lost_id]]}
        sid = session_id("repair", vault_id, epoch, nodes, nonce)
        helper_share: KeyShare | None = None
        if self.id in helper_ids:
            helper_share = self.keystore.active_share(vault_id)
            if self._vault_members(vault_id, helper_share.epoch) != members or helper_share.epoch != epoch:
                raise ctl.RequestRefused(ctl.Refusal.STALE, "the request describes another epoch of this vault")
        elif self.id != lost_id:
            raise ctl.RequestRefused(ctl.Refusal.NOT_A_MEMBER, "this guardian is neither a helper nor the lost holder")
        policy = self._carried_policy(vault_id, op.policy)
        if helper_share is not None:
            await self._claim(vault_id, epoch, sid)
        change = self._key_change(vault_id, scheme.name, helper_share, sid, index[self.id], nodes)
        party = RepairParty(
            sid,
            index[self.id],
            scheme=scheme.name,
            helper_share=helper_share,
            helpers=helpers,
            lost=index[lost_id],
            expected_group_key=None if helper_share else _decode_public_key(scheme.name, expected_key),
            context=self._key_change_context(vault_id, op.owner, policy),
            custody=self._custody(change, backend_of(self.keystore).repairer),
            channel=self._channel(change),
        )
        one = await self._run(sid, "repair", nodes, party)
        if one is None:
            return ops.HelpedReply()
        return self._store_new(vault_id, one, expected_key, members, op.owner, policy)

    def _key_change(
        self, vault_id: str, scheme: str, share: KeyShare | None, sid: bytes, me: int, nodes: Mapping[int, str]
    ) -> KeyChange:
        return KeyChange(vault_id, scheme, share, APPROVED.get(), sid, me, participants_of(self.directory, nodes))

    def _custody(self, change: KeyChange, steps: Callable[[KeyChange], _C | None]) -> _C | None:
        """This guardian's steps with its share where its store keeps it, for a scheme a store
        keeps (``None``: in this process).  Values for this guardian are sealed to the custody key
        in its identity; a store that keeps shares with an identity that has none cannot take part
        (what it received would reach this process in the clear)."""
        if change.scheme not in CUSTODY_SCHEMES:
            return None
        custody = steps(change)
        if (custody is None) != (self.identity.public.custody_key is None):
            raise ctl.RequestRefused(
                ctl.Refusal.BAD_REQUEST,
                "this guardian's store keeps its shares but its identity has no custody key (it needs a new "
                "identity to take part in a reshare or repair)"
                if custody is not None
                else "this guardian's identity has a custody key its store lacks",
            )
        return custody

    def _channel(self, change: KeyChange) -> Channel:
        """How this guardian's key-change values reach the custody holders (FROST schemes only)."""
        keys = {}
        if change.scheme in CUSTODY_SCHEMES:
            keys = {i: p.custody_key for i, p in change.identities.items() if p.custody_key is not None}
        opener = None if self.identity.public.custody_key is not None else self._open_sealed
        return Channel(change.session_id, change.vault_id, change.me, keys, opener)

    def _open_sealed(self, sealed: bytes, context: bytes) -> bytes:
        return self.identity.open_sealed(sealed, context=context)

    def _replace_uncommitted(self, vault_id: str, share: KeyShare) -> None:
        """Erase a pending share of ``share``'s epoch that an earlier, never committed key change left
        here (its reply or its abort was lost, issue 18): the owner-approved session that just ended
        replaces it (:func:`~gridlock.guardian.store.rules.replaces_pending`).  Without this, every
        later refresh, reshare or repair was refused ("a different share is already pending") until
        someone aborted by hand.  A vault known only from that pending epoch (a new holder of a
        reshare that failed) goes with it and is stored again from this request."""
        if not self._knows(vault_id):
            return
        rec = self.keystore.vault(vault_id)
        states = dict.fromkeys(rec.pending_epochs, "pending")
        if rec.active_epoch is not None:
            states[rec.active_epoch] = "active"
        if not store_rules.replaces_pending(vault_id, states, share.epoch):
            return
        stored = self.keystore.share(vault_id, share.epoch)
        if isinstance(stored, SealedShare):  # kept by the store, not here: the same share has the same public data
            if stored.same_public_data(share):
                return
        elif hmac.compare_digest(stored.to_bytes(), share.to_bytes()):
            return  # the same share again: storing it is a no-op
        log.warning("guardian %s: vault %s: replacing uncommitted pending epoch %d", self.id, vault_id, share.epoch)
        self.keystore.discard_pending(vault_id, share.epoch)

    def _store_new(
        self, vault_id: str, share: KeyShare, expected_key: bytes, members: dict[int, str], owner: Any, policy: Policy
    ) -> ops.StoredReply:
        """Store a reshared or repaired share — of the vault's key, in place of a pending epoch never
        committed; a guardian new to the vault also gets the owner's registration and the vault's
        policy that came with the request."""
        if share.public_key != expected_key:
            raise ctl.RequestRefused(ctl.Refusal.WRONG_KEY, "the new share is not of the vault's key")
        self._replace_uncommitted(vault_id, share)
        if self._knows(vault_id):
            return self._store_pending(vault_id, share, members)
        registration = owner_mod.registration(owner, self.identity)
        return self._store_pending(vault_id, share, members, owner=registration, policy=VaultPolicy(policy))

    def _key_change_context(self, vault_id: str, owner: Any, policy: Policy) -> bytes:
        """What every node of a reshare or repair must agree on besides the key: the owner set (a
        holder's own; a new holder's from the registration the request brought) and the policy.  A
        thief approving a replacement cannot register their own device, or another policy, with the
        new guardian: its round-1 digest differs from the dealers' and the run aborts."""
        vault = self._vault(vault_id) if self._knows(vault_id) else None
        state = (
            vault.owner
            if vault is not None and vault.owner is not None
            else owner_mod.registration(owner, self.identity)
        )
        return state.set_digest() + bytes.fromhex(policy.fingerprint())

    def _carried_policy(self, vault_id: str, doc: Mapping[str, Any] | None) -> Policy:
        """The policy a reshare or repair carries for new holders.  A guardian that holds the vault
        refuses one that is not the policy it enforces: a thief approving a replacement cannot hand
        the new guardian a weaker (or empty) policy."""
        policy = Policy.from_doc(doc if doc is not None else {}, validate_addresses=False)
        if self._knows(vault_id):
            mine = self._policy(vault_id).active
            if mine.fingerprint() != policy.fingerprint():
                raise ctl.RequestRefused(
                    ctl.Refusal.POLICY_MISMATCH,
                    f"the request carries another policy ({policy.fingerprint()[:16]}) than the one this "
                    f"guardian enforces ({mine.fingerprint()[:16]})",
                )
        return policy


def _decode_public_key(scheme: str, public_key: bytes) -> Any:
    """The group element for a vault's public key as the client knows it (x-only for Taproot)."""
    group = get_scheme(scheme).group
    if scheme == "frost-taproot":
        return None  # x-only: parity unknown to the client; the result is checked against it instead
    return group.decode(public_key)
