"""Signing operations: a signature (FROST or presign + online for threshold ECDSA), presignatures,
the online round with a stored presignature; the vault epoch's shared ban list (SECURITY #13, #27).

Every operation signs with the key at the request's ``path`` (part of what the owner approved):
each guardian derives its own child share (:func:`gridlock.crypto.hd.derive`, non-hardened only)
and judges the transaction with the child's public key, so the signature verifies under the child
key and a child's change is recognised as the vault's.

The steps that need the secret share (deriving the child share, FROST's nonces and signature
share) go through the store's :class:`~gridlock.guardian.shares.ShareBackend`: here for the SQLite
guardian, inside the custody contract for the enclave guardian's FROST shares."""

from __future__ import annotations

from collections.abc import Mapping

from gridlock.crypto.ecdsa.online import Presignature
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import InvalidParameterError, ProtocolAbort
from gridlock.guardian.bans import VaultBans
from gridlock.guardian.core import ECDSA, NodeCore, session_id
from gridlock.guardian.policy_gate import PolicyGate
from gridlock.guardian.shares import ShareBackend, backend_of
from gridlock.guardian.store import ShareStore
from gridlock.protocol.ecdsa import OnlineSignParty, PresignParty
from gridlock.protocol.frost import FrostSignParty
from gridlock.wire import control as ctl
from gridlock.wire import ops


class _StoredPresignatures:
    """One vault epoch's presignatures in the store, as a :class:`~gridlock.crypto.ecdsa.online.PresignatureStore`."""

    def __init__(self, store: ShareStore, vault_id: str, epoch: int) -> None:
        self.store, self.vault_id, self.epoch = store, vault_id, epoch

    def take(self, presig_id: bytes, /) -> bytes:
        return self.store.take_presignature(self.vault_id, self.epoch, presig_id)


class SigningOperations(PolicyGate, NodeCore):
    def _signers(self, vault_id: str, share: KeyShare, signer_ids: tuple[str, ...]) -> tuple[dict[int, str], list[int]]:
        members = self._vault_members(vault_id, share.epoch)
        index = {g: i for i, g in members.items()}
        unknown = [g for g in signer_ids if g not in index]
        if unknown:
            raise ctl.RequestRefused(ctl.Refusal.NOT_A_MEMBER, f"not holders of this vault: {', '.join(unknown)}")
        if self.id not in signer_ids:
            raise ctl.RequestRefused(ctl.Refusal.NOT_A_MEMBER, "this guardian is not among the signers")
        signers = sorted(index[g] for g in signer_ids)
        return {i: members[i] for i in signers}, signers

    @property
    def _shares(self) -> ShareBackend:
        return backend_of(self.keystore)

    def _share_at(self, vault_id: str, share: KeyShare, path: str) -> KeyShare:
        """This guardian's share of the vault's key at ``path`` (its own share at ``"m"``).  The
        request's path was checked non-hardened when it was decoded; a key that cannot derive it
        (a step with ``IL ≥ n``, a Taproot share without its internal key) is refused, saying why."""
        try:
            return self._shares.key_at(vault_id, share, path)
        except InvalidParameterError as exc:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, f"cannot sign with the key at {path}: {exc}") from None

    async def _op_sign(self, op: ops.Sign) -> ops.SignatureReply:
        vault_id, message, nonce = op.vault, op.message, op.nonce
        share = self.keystore.active_share(vault_id)
        members, signers = self._signers(vault_id, share, op.signers)
        key = self._share_at(vault_id, share, op.path)
        await self._policy_gate(vault_id, key, message, op.tx, op.signers, master=share)
        sid = session_id("sign", vault_id, share.epoch, members, nonce)
        if share.scheme == ECDSA:
            pre = await self._presign(vault_id, share, sid + b"p", members, signers, key)
            sig = await self._run(sid + b"o", "online", members, OnlineSignParty(pre, sid + b"o", message))
        else:
            await self._claim(vault_id, share.epoch, sid)
            signer = self._shares.frost_signer(vault_id, key, op.path, sid)
            party = FrostSignParty(key, sid, signers, message, signer=signer)
            sig = await self._run(sid, "frost-sign", members, party)
        return ops.SignatureReply(sig)

    def _vault_bans(self, vault_id: str, share: KeyShare) -> VaultBans:
        """The one ban list of the vault's active epoch (loaded from the share once)."""
        bans = self._bans.get(vault_id)
        if bans is None or bans.epoch != share.epoch:
            bans = VaultBans(self.keystore, vault_id, share.epoch, share.banned, self._stop_sessions_with)
            self._bans[vault_id] = bans
        return bans

    def _stop_sessions_with(self, bans: VaultBans, j: int) -> None:
        """Abort every running session that uses the banned party's OT state with this vault epoch."""
        for session in list(self.sessions.values()):
            if session.bans is bans and j in session.by_index:
                session.stop(ProtocolAbort([j], "banned", f"participant {j} was banned by another session"))

    async def _presign(
        self,
        vault_id: str,
        share: KeyShare,
        sid: bytes,
        members: Mapping[int, str],
        signers: list[int],
        key: KeyShare | None = None,
    ) -> Presignature:
        """One presigning run for ``key`` (the share of the key at the request's path; ``share``, the
        vault's own, by default — its OT setup and bans are the vault epoch's either way).  Its id is
        claimed in the store first: an owner (or anyone) repeating a request nonce is refused for
        good, whatever the in-memory replay guard forgot (the signing session id itself is jointly
        random, so no repeat could make two runs share it anyway)."""
        bans = self._vault_bans(vault_id, share)
        bans.persist()  # a ban that could not be stored yet: no OT-based session until it is
        await self._claim(vault_id, share.epoch, sid)
        party = PresignParty(key or share, sid, signers, bans=bans)
        return await self._run(sid, "presign", members, party, uses_ot_of=bans)

    async def _op_presign(self, op: ops.Presign) -> ops.PresignaturesReply:
        vault_id, count, nonce = op.vault, op.count, op.nonce
        share = self.keystore.active_share(vault_id)
        if share.scheme != ECDSA:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "presignatures exist for ecdsa-secp256k1 vaults only")
        members, signers = self._signers(vault_id, share, op.signers)
        key = self._share_at(vault_id, share, op.path)  # a DKLs23 presignature is bound to its key (v = sk·φ)
        ids = []
        for k in range(count):
            sid = session_id("presign", vault_id, share.epoch, members, nonce + k.to_bytes(4, "big"))
            pre = await self._presign(vault_id, share, sid, members, signers, key)
            ids.append(pre.presig_id)
            self.keystore.add_presignatures(vault_id, share.epoch, [(pre.presig_id, pre.to_bytes())])
        return ops.PresignaturesReply(ids)

    async def _op_sign_presigned(self, op: ops.SignPresigned) -> ops.SignatureReply:
        vault_id, presig_id, digest, nonce = op.vault, op.presignature, op.message, op.nonce
        share = self.keystore.active_share(vault_id)
        members, signers = self._signers(vault_id, share, op.signers)
        key = self._share_at(vault_id, share, op.path)
        await self._policy_gate(vault_id, key, digest, op.tx, op.signers, master=share)
        sid = session_id("online", vault_id, share.epoch, members, nonce)
        await self._claim(vault_id, share.epoch, sid)
        pre = Presignature.take_from(_StoredPresignatures(self.keystore, vault_id, share.epoch), presig_id)
        if list(pre.signers) != signers:
            raise ctl.RequestRefused(ctl.Refusal.BAD_REQUEST, "the request names other signers than the presignature's")
        if pre.group_key != key.group_key:  # spent all the same: a presignature is used once, whatever happens
            raise ctl.RequestRefused(
                ctl.Refusal.BAD_REQUEST, f"the presignature was made for another key than the one at {op.path}"
            )
        sig = await self._run(sid, "online", members, OnlineSignParty(pre, sid, digest))
        return ops.SignatureReply(sig)
