"""A vault as its owner's SDK sees it: sign (messages, chain transactions, Ethereum personal messages and
typed data, presigned), change the key (refresh, reshare, repair — two-phase), export, policy, audit,
cancel a recovery."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gridlock import chains
from gridlock.chains import EthereumMessage, EthereumTypedData, SignedTx, TxContext
from gridlock.client.epochs import EpochChanges, KeptCommit
from gridlock.client.errors import GuardianTimeout, OperationFailed, SpendHeld
from gridlock.client.hdroot import HdKeys, root_or_none
from gridlock.client.owner import OwnerDevice
from gridlock.client.owner_controls import OwnerControls
from gridlock.crypto import hd
from gridlock.errors import InvalidParameterError, SignatureError
from gridlock.local import verify as verify_signature
from gridlock.wire import control as ctl
from gridlock.wire import ops

if TYPE_CHECKING:
    from gridlock.client.client import Client

OpT = TypeVar("OpT", bound=ops.Op)


def _context(tx: TxContext | Mapping[str, Any]) -> TxContext:
    """A sign request's transaction context; a wire map is decoded (and so checked) here, before it is sent."""
    return tx if isinstance(tx, TxContext) else TxContext.from_wire(tx)


@dataclass
class Vault(HdKeys, OwnerControls, EpochChanges):
    client: Client
    vault_id: str
    scheme: str
    public_key: bytes
    threshold: int
    members: dict[int, str]
    epoch: int
    presignatures: list[tuple[bytes, tuple[str, ...], str]] = field(default_factory=list)  # id, signers, path
    required: int = 1
    devices: list[bytes] = field(default_factory=list)
    approvers: list[OwnerDevice] = field(default_factory=list)
    # guardians the owner's policy requires among the signers (its watch rule), learned when set or refused
    required_signers: list[str] = field(default_factory=list)
    # the HD root fixed at keygen (client.hdroot): the untweaked group key (Taproot: internal key) and chain code
    group_key: bytes = b""
    chain_code: bytes = b""
    # the commit of the newest key change if some holder did not confirm it (client.epochs): sent again first
    kept_commit: KeptCommit | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.approvers and self.client.owner is not None:
            self.approvers = [self.client.owner]

    @property
    def guardians(self) -> list[str]:
        return [self.members[i] for i in sorted(self.members)]

    def address(self, chain: str, network: str | None = None, **options: Any) -> str:
        """The vault's address on a chain (``network=`` the Bitcoin network or Cosmos prefix; ``prefix=``
        is accepted for Cosmos too)."""
        return chains.get(chain).address(self.public_key, self.scheme, network or options.get("prefix")).address

    def _approve(self, op: OpT) -> OpT:
        """``op`` with the owner devices' approvals of exactly this request (SECURITY #19)."""
        if not self.approvers:
            raise InvalidParameterError("this operation needs the owner's approval: no owner device key given")
        params = op.to_params()
        return dataclasses.replace(  # type: ignore[type-var]  # every Op subclass is a dataclass
            op, approvals=tuple(d.approve(self.vault_id, self.scheme, op.NAME, params) for d in self.approvers)
        )

    def _approved(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        """Raw ``params`` with approvals: for requests built by hand (tests that play a relay or a
        malicious owner); the SDK's own requests are typed (:meth:`_approve`)."""
        if not self.approvers:
            raise InvalidParameterError("this operation needs the owner's approval: no owner device key given")
        approvals = [d.approve(self.vault_id, self.scheme, op, params).to_wire() for d in self.approvers]
        return {**params, "approvals": approvals}

    async def _register(self, guardians: Sequence[str], password: str | None) -> dict[str, dict[str, Any]]:
        if not guardians:
            return {}
        if password is None:
            raise InvalidParameterError("adding a guardian registers the owner with it: the password is needed")
        return await self.client._registrations(
            self.vault_id, guardians, password, self.devices or [a.public for a in self.approvers], self.required
        )

    async def _pick_signers(self, signers: Sequence[str] | None) -> list[str]:
        """``signers``, or the guardians the policy requires (the watch guardian) and the fastest others
        among those that report this vault's epoch (a guardian left on another one cannot sign with them);
        when fewer than ``t`` do, those on the newest epoch that ``t`` of them report (this object is behind)."""
        await self._heal()
        if signers is not None:
            return list(signers)
        alive = await self.client.ping(self.guardians, enough=self.threshold, vault=self.vault_id, epoch=self.epoch)
        if len(alive) < self.threshold:  # holders left behind catch up; or this object is behind
            epochs = await self.client.epochs(self.guardians, self.vault_id)
            if len(await self.catch_up(epochs)) < len([g for g, e in epochs.items() if e < self.epoch]):
                epochs = await self.client.epochs(self.guardians, self.vault_id)
            usable = [e for e in set(epochs.values()) if e >= 0 and list(epochs.values()).count(e) >= self.threshold]
            if usable:
                alive = [g for g in self.guardians if epochs.get(g) == max(usable)]
        if len(alive) < self.threshold:
            missing = [g for g in self.guardians if g not in alive]
            raise GuardianTimeout(
                missing, f"signing needs {self.threshold} guardians on epoch {self.epoch}, {len(alive)} answered"
            )
        chosen = [g for g in self.required_signers if g in self.guardians][: self.threshold]
        chosen += [g for g in alive if g not in chosen][: self.threshold - len(chosen)]
        return [g for g in self.guardians if g in chosen]

    def _learn_required(self, results: Mapping[str, ops.Reply | BaseException]) -> bool:
        """Remember a guardian the owner's watch rule requires (named by a ``watch-required`` refusal)."""
        learned = False
        for r in results.values():
            if isinstance(r, ctl.RequestRefused) and r.code is ctl.Refusal.WATCH_REQUIRED:
                for g in self.guardians:
                    if g in r.reason and g not in self.required_signers:
                        self.required_signers.append(g)
                        learned = True
        return learned

    @staticmethod
    def _failures(results: Mapping[str, ops.Reply | BaseException], what: str) -> None:
        errors = {g: r for g, r in results.items() if isinstance(r, BaseException)}
        if not errors:
            return
        for g, e in errors.items():
            if isinstance(e, ctl.RequestRefused) and e.code is ctl.Refusal.HELD and e.until is not None:
                raise SpendHeld(what, errors, g, e.until, e.reason)
        timeouts = [g for g, e in errors.items() if isinstance(e, GuardianTimeout)]
        if timeouts and len(timeouts) == len(errors):
            raise GuardianTimeout(timeouts, what)
        raise OperationFailed(what, errors)

    async def sign(
        self,
        message: bytes,
        *,
        signers: Sequence[str] | None = None,
        timeout: float | None = None,
        tx: TxContext | Mapping[str, Any] | None = None,
        path: str = "m",
    ) -> bytes:
        """A signature by ``t`` guardians (the fastest to answer unless ``signers`` is given), verified
        under the key at ``path`` (non-hardened; the owner approves the path with the request).

        With ``tx`` (the chain transaction the message is a hash of: a :class:`TxContext`, or its wire
        map), each guardian re-derives the hashes from the transaction and applies its policy before
        it signs.  To sign a whole transaction use :meth:`sign_transaction`.
        """
        ctx = None if tx is None else _context(tx)
        sig, _ = await self._sign(bytes(message), signers, timeout, ctx, hd.canonical_path(path))
        return sig

    async def _sign(
        self,
        message: bytes,
        signers: Sequence[str] | None,
        timeout: float | None,
        ctx: TxContext | None,
        path: str = "m",
    ) -> tuple[bytes, list[str]]:
        """A signature verified under the key at ``path`` and the guardians that made it, as soon as the
        first one verifies (the other signers are not waited for).  Without ``signers``, a refusal that
        names a guardian the owner's watch rule requires is followed by one more try with it."""
        key = self.key_at(path)
        good: list[bytes] = []

        def verifies(reply: ops.Reply) -> bool:
            if isinstance(reply, ops.SignatureReply) and verify_signature(self.scheme, key, message, reply.signature):
                good.append(bytes(reply.signature))
            return bool(good)

        for _ in range(2):
            async with self.client.signing:  # the client's signing window (client.SIGNING_WINDOW)
                chosen = await self._pick_signers(signers)
                nonce = secrets.token_bytes(32)
                op = self._approve(ops.Sign(self.vault_id, message, tuple(chosen), nonce, ctx, path=path))
                results = await self.client.call_all(
                    chosen, op, timeout, stop_on_refusal=True, stop_when=verifies, renew=self._approve
                )
            if good:
                return good[0], chosen
            if signers is not None or not self._learn_required(results):
                break
        sigs = {r.signature for r in results.values() if isinstance(r, ops.SignatureReply)}
        for sig in sigs:
            if verify_signature(self.scheme, key, message, sig):
                return bytes(sig), chosen
        self._failures(results, "signing")
        raise SignatureError("guardians returned no valid signature")

    async def sign_transaction(
        self,
        chain: str,
        tx: object,
        *,
        network: str | None = None,
        signers: Sequence[str] | None = None,
        timeout: float | None = None,
        on_signature: Callable[[int, int], None] | None = None,
        path: str | None = None,
    ) -> SignedTx:
        """Sign a chain transaction through the guardians and return it with the signatures attached.

        ``tx`` is a :class:`TxContext` of ``chain`` or the chain's native form: a PSBT (BIP174, base64
        or binary) for ``bitcoin`` with ``network=``, an eth-account dict for ``ethereum``, the
        serialised transaction for ``solana``, the SignDoc bytes for ``cosmos`` with ``network=`` its
        bech32 prefix.  Every signature request carries the transaction, so each guardian re-derives
        the hash it signs and applies its policy (SECURITY #19); the same ``t`` guardians sign every
        hash (one per input for Bitcoin).  ``on_signature(done, total)`` follows the progress.

        ``path`` signs with that child key.  Without it, a PSBT whose inputs carry BIP32 / Taproot
        derivation fields for the vault's fingerprint is signed input by input with the child key
        each names (checked by derivation from the recorded root), as a watch-only wallet asks; and
        the PSBT gets the derivation fields and Taproot internal keys of the keys that signed.
        """
        adapter = chains.get(chain)
        adapter.check_scheme(self.scheme)
        ctx = adapter.context(tx, network)
        root = root_or_none(self.scheme, self.group_key, self.chain_code)
        if path is not None:
            paths: tuple[str, ...] = (hd.canonical_path(path),)
        else:
            paths = adapter.signing_paths(ctx, root) if root is not None else ("m",)
        if root is not None:
            ctx = adapter.describe_keys(ctx, root, paths)
        plan = [(p, self.key_at(p)) for p in paths]
        todo = [(p, key, adapter.hashes(ctx, self.scheme, key)) for p, key in plan]
        total = sum(len(h) for _, _, h in todo)
        chosen = signers
        keyed: list[tuple[bytes, dict[bytes, bytes]]] = []
        for p, key, hashes in todo:  # the guardians that made the first signature make the others
            signatures: dict[bytes, bytes] = {}
            for digest in hashes:
                signatures[digest], chosen = await self._sign(digest, chosen, timeout, ctx, p)
                if on_signature is not None:
                    on_signature(sum(len(s) for _, s in keyed) + len(signatures), total)
            keyed.append((key, signatures))
        return adapter.attach_keys(ctx, self.scheme, keyed)

    async def sign_ethereum_message(
        self, message: bytes | str, *, signers: Sequence[str] | None = None, timeout: float | None = None
    ) -> bytes:
        """An EIP-191 ``personal_sign`` signature (65-byte ``r‖s‖v``, v = 27 or 28) of ``message`` (bytes,
        or text signed as UTF-8): each guardian is shown the message, not only its digest."""
        signed = await self.sign_transaction("ethereum", EthereumMessage.of(message), signers=signers, timeout=timeout)
        assert signed.raw is not None
        return signed.raw

    async def sign_typed_data(
        self, typed_data: Mapping[str, Any], *, signers: Sequence[str] | None = None, timeout: float | None = None
    ) -> bytes:
        """An EIP-712 (``eth_signTypedData_v4``) signature, 65-byte ``r‖s‖v``, of ``typed_data`` (``types``,
        ``primaryType``, ``domain``, ``message``): each guardian reads it (a permit is an approval)."""
        ctx = EthereumTypedData.of(typed_data)
        signed = await self.sign_transaction("ethereum", ctx, signers=signers, timeout=timeout)
        assert signed.raw is not None
        return signed.raw

    async def presign(self, count: int = 1, *, signers: Sequence[str] | None = None, path: str = "m") -> list[bytes]:
        """Threshold-ECDSA presignatures for the key at ``path``, stored at the signers (single use),
        for online-only signing (a presignature is bound to its key)."""
        path = hd.canonical_path(path)
        self.key_at(path)  # a child needs the recorded root
        async with self.client.signing:
            chosen = await self._pick_signers(signers)
            op = self._approve(ops.Presign(self.vault_id, count, tuple(chosen), secrets.token_bytes(32), path=path))
            results = await self.client.call_all(chosen, op, renew=self._approve)
        self._failures(results, "presigning")
        ids = ops.expect(next(iter(results.values())), ops.PresignaturesReply).presignatures
        self.presignatures.extend((i, tuple(chosen), path) for i in ids)
        return list(ids)

    async def sign_presigned(
        self, digest: bytes, *, tx: TxContext | Mapping[str, Any] | None = None, path: str = "m"
    ) -> bytes:
        """The online round with a stored presignature for the key at ``path`` (each used once,
        whatever happens)."""
        path = hd.canonical_path(path)
        mine = [p for p in self.presignatures if p[2] == path]
        if not mine:
            raise InvalidParameterError(f"no presignature left for the key at {path}: call presign() first")
        self.presignatures.remove(mine[0])
        presig, chosen, _ = mine[0]
        ctx = None if tx is None else _context(tx)
        nonce = secrets.token_bytes(32)
        async with self.client.signing:  # approved once its turn came: no request approved later ran before it
            op = self._approve(ops.SignPresigned(self.vault_id, presig, bytes(digest), chosen, nonce, ctx, path=path))
            results = await self.client.call_all(list(chosen), op, stop_on_refusal=True, renew=self._approve)
        self._learn_required(results)  # the next presignatures include it
        for r in results.values():
            if isinstance(r, ops.SignatureReply) and verify_signature(
                self.scheme, self.key_at(path), bytes(digest), r.signature
            ):
                return bytes(r.signature)
        self._failures(results, "online signing")
        raise SignatureError("guardians returned no valid signature")

    # --- key changes (two-phase: commit, abort and catching up in client.epochs) -------------------
    async def refresh(self, *, timeout: float | None = None) -> int:
        """Proactive refresh by every holder: same key, all shares new; returns the new epoch.  A holder
        a lost commit left on an older epoch is brought forward first (every holder takes part)."""
        await self.catch_up()  # sends a kept commit again first
        op = self._approve(ops.Refresh(self.vault_id, secrets.token_bytes(32)))
        results = await self.client.call_all(self.guardians, op, timeout)
        return int((await self._commit(results, self.members, "refresh", timeout)).epoch)

    async def reshare(
        self,
        committee: Sequence[str],
        threshold: int | None = None,
        dealers: Sequence[str] | None = None,
        *,
        password: str | None = None,
    ) -> int:
        """Deal the key to a new committee (replace / add / remove guardians, change the threshold).

        Guardians that stay keep their index; new ones get fresh indices.  Returns the new epoch.
        """
        threshold = threshold or self.threshold
        await self._heal()
        if len(set(committee)) != len(committee) or not 2 <= threshold <= len(committee):
            raise InvalidParameterError("need distinct guardians and 2 <= threshold <= their number")
        old_index = {g: i for i, g in self.members.items()}
        dealer_ids = list(dealers) if dealers is not None else await self._pick_signers(None)
        used = set(self.members)
        new_members: dict[int, str] = {}
        for g in committee:
            if g in old_index:
                new_members[old_index[g]] = g
        next_index = max(used) + 1
        for g in committee:
            if g not in old_index:
                new_members[next_index] = g
                next_index += 1
        op = ops.Reshare(
            self.vault_id,
            secrets.token_bytes(32),
            self.scheme,
            self.public_key,
            self.epoch,
            dict(self.members),
            tuple(dealer_ids),
            new_members,
            threshold,
            policy=await self.agreed_policy(dealer_ids),
        )
        everyone = sorted(set(dealer_ids) | set(committee))
        registrations = await self._register([g for g in committee if g not in old_index], password)
        approved = self._approve(op)
        results = await self.client.call_all(
            everyone, approved, each=lambda g: dataclasses.replace(approved, owner=registrations.get(g))
        )
        # a dealer that is not a new holder cannot spoil the result unnoticed: the holders need every
        # dealer's contribution, so its failure shows in theirs, which _commit checks
        return int((await self._commit(results, new_members, "reshare")).epoch)

    async def replace_guardian(self, old: str, new: str, *, password: str | None = None) -> int:
        return await self.reshare([new if g == old else g for g in self.guardians], password=password)

    async def add_guardian(self, new: str, threshold: int | None = None, *, password: str | None = None) -> int:
        return await self.reshare([*self.guardians, new], threshold, password=password)

    async def remove_guardian(self, old: str, threshold: int | None = None) -> int:
        return await self.reshare([g for g in self.guardians if g != old], threshold)

    async def change_threshold(self, threshold: int) -> int:
        return await self.reshare(self.guardians, threshold)

    async def repair(self, lost: str, helpers: Sequence[str] | None = None, *, password: str | None = None) -> int:
        """Rebuild ``lost``'s share from ``t`` helpers, then refresh (after a repair every share changes)."""
        if lost not in self.guardians:
            raise InvalidParameterError(f"{lost} is not a holder of this vault")
        await self._heal()
        helper_ids = list(helpers) if helpers is not None else [g for g in await self._pick_signers_excluding(lost)]
        op = ops.Repair(
            self.vault_id,
            secrets.token_bytes(32),
            self.scheme,
            self.public_key,
            self.epoch,
            dict(self.members),
            tuple(helper_ids),
            lost,
            policy=await self.agreed_policy(helper_ids),
        )
        registrations = await self._register([lost], password)
        approved = self._approve(op)
        results = await self.client.call_all(
            [*helper_ids, lost], approved, each=lambda g: dataclasses.replace(approved, owner=registrations.get(g))
        )
        self._failures(results, "repair")
        rebuilt = ops.expect(results[lost], ops.StoredReply)
        others = [g for g in self.guardians if g != lost]
        acks = await self.client.call_all(others, ops.Ack(self.vault_id, self.epoch))
        self._failures(acks, "repair (acknowledgements)")
        all_acks = {g: r.ack for g, r in acks.items() if isinstance(r, ops.AckReply)} | {lost: rebuilt.ack}
        await self.client.call(lost, ops.Commit(self.vault_id, self.epoch, all_acks))
        return await self.refresh()

    async def _pick_signers_excluding(self, lost: str) -> list[str]:
        others = [g for g in self.guardians if g != lost]
        alive = await self.client.ping(others, enough=self.threshold)
        if len(alive) < self.threshold:
            raise GuardianTimeout([g for g in self.guardians if g not in alive and g != lost], "repair")
        chosen = set(alive[: self.threshold])
        return [g for g in self.guardians if g in chosen]
