"""The custody contract's state: one record per vault (its epochs), shares and items by key.

Everything here runs inside the enclave on plaintext; the enclave encrypts every key and value
before the host stores them.  What may change is decided by :mod:`gridlock.guardian.store.rules`
(the SQLite keystore's rules too); this module only reads and writes the records.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.crypto.keyshare import KeyShare
from gridlock.enclave.cosmwasm import Storage, fail
from gridlock.errors import GridlockError
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument

__all__ = ["KINDS", "NONCE_KIND", "CustodyState", "EpochRecord", "VaultState", "decode_share", "own", "storage_key"]

KINDS: Final = (*rules.KINDS, rules.SESSION)  # a "session" item is a claim: used from the start
NONCE_KIND: Final = "contract-nonce"
ANSWER_SLOTS: Final = 128
"""Signature shares kept per epoch for the ``signature_share`` query, the newest (a guardian reads
its own right after ``frost_sign``, with at most 32 signatures in flight)."""
"""FROST nonces the contract made itself (:mod:`gridlock.enclave.contract_frost`): not one of
:data:`KINDS`, so no ``add_items`` can store one and no ``take_item`` can hand one out."""


def storage_key(*parts: object) -> bytes:
    """A storage key: the contract's namespace, then the record's kind and identity."""
    return codec.dumps(["gridlock-custody/v1", *parts])


@dataclass
class EpochRecord:
    state: str  # pending | active | retired
    index: int
    threshold: int
    participants: list[int]
    transcript_hash: bytes
    vshares: list[bytes]  # verifying shares in participant order

    def to_obj(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "index": self.index,
            "threshold": self.threshold,
            "participants": self.participants,
            "transcript_hash": self.transcript_hash,
            "vshares": self.vshares,
        }

    @classmethod
    def from_obj(cls, o: dict[str, Any]) -> EpochRecord:
        return cls(o["state"], o["index"], o["threshold"], list(o["participants"]), o["transcript_hash"], o["vshares"])

    @classmethod
    def of(cls, share: KeyShare, state: str) -> EpochRecord:
        return cls(
            state,
            share.index,
            share.threshold,
            list(share.participants),
            share.transcript_hash,
            [share.verifying_shares[i].encode() for i in share.participants],
        )


@dataclass
class VaultState:
    vault_id: str
    owner: str
    scheme: str
    public_key: bytes
    metadata: str
    epochs: dict[int, EpochRecord]
    instance: int = 0
    """Which creation of this vault id this is (:meth:`CustodyState.new_instance`): a vault deleted
    and created again is another instance, and nothing staged for the old one reaches it."""

    def to_bytes(self) -> bytes:
        return codec.dumps(
            {
                "vault_id": self.vault_id,
                "owner": self.owner,
                "scheme": self.scheme,
                "public_key": self.public_key,
                "metadata": self.metadata,
                "epochs": {e: r.to_obj() for e, r in self.epochs.items()},
                "instance": self.instance,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> VaultState:
        o = codec.loads(data)
        return cls(
            o["vault_id"],
            o["owner"],
            o["scheme"],
            o["public_key"],
            o["metadata"],
            {int(e): EpochRecord.from_obj(r) for e, r in o["epochs"].items()},
            int(o.get("instance", 0)),
        )

    def states(self) -> dict[int, str]:
        """The rules' view of this vault's epochs."""
        return {e: r.state for e, r in self.epochs.items()}

    def active(self) -> int | None:
        return rules.active_epoch(self.vault_id, self.states())

    def current(self) -> int:
        """The active epoch, or the newest pending one while none is active."""
        return rules.current_epoch(self.vault_id, self.states())

    def record(self) -> dict[str, Any]:
        cur = self.current()
        ep = self.epochs[cur]
        vshares = dict(zip(ep.participants, ep.vshares, strict=True))
        return {
            "vault_id": self.vault_id,
            "scheme": self.scheme,
            "public_key": self.public_key.hex(),
            "verifying_share": vshares[ep.index].hex(),
            "verifying_shares": {str(i): v.hex() for i, v in vshares.items()},
            "index": ep.index,
            "threshold": ep.threshold,
            "participants": ep.participants,
            "epoch": cur,
            "transcript_hash": ep.transcript_hash.hex(),
            "active_epoch": self.active(),
            "pending_epochs": sorted(e for e, r in self.epochs.items() if r.state == "pending"),
            "retired_epochs": rules.retired_epochs(self.states()),
        }


class CustodyState:
    """Typed access to the contract's storage."""

    def __init__(self, storage: Storage, height: int = 0, random: bytes | None = None, time: int = 0) -> None:
        self.s = storage
        self.height = height  # the block being executed (0 in a query): new items record it
        self.random = random  # env.block.random of an execute (None in a query)
        self.time = time  # the block's time, whole seconds since the epoch (0 in a query)

    # rollback
    def burned_before(self) -> int:
        """Items stored before this height are used: a rollback was detected at that height
        (:meth:`burn_items`); 0 if none was."""
        raw = self.s.get(storage_key("burned_before"))
        return 0 if raw is None else int(codec.loads(raw))

    def burn_items(self) -> None:
        """Burn every single-use item stored so far (after a restored backup, any of them may have
        been used since the backup was taken): one write, checked by :meth:`item`."""
        self.s.set(storage_key("burned_before"), codec.dumps(self.height))

    def keep_answer(self, vault_id: str, epoch: int, nonce_id: bytes, z: bytes) -> None:
        """Keep ``z`` (a signature share) under ``nonce_id`` among the epoch's newest
        :data:`ANSWER_SLOTS`: a ring of slots in order of making, each its own record (a write per
        signature, not the whole set), the oldest erased when its slot is taken."""
        seq = self._answers_made(vault_id, epoch)
        slot = storage_key("answer_slot", vault_id, epoch, seq % ANSWER_SLOTS)
        old = self.s.get(slot)
        if old is not None:
            self.s.remove(storage_key("answer", vault_id, epoch, bytes(codec.loads(old))))
        self.s.set(slot, codec.dumps(nonce_id))
        self.s.set(storage_key("answer", vault_id, epoch, nonce_id), z)
        self.s.set(storage_key("answer_seq", vault_id, epoch), codec.dumps(seq + 1))

    def _answers_made(self, vault_id: str, epoch: int) -> int:
        raw = self.s.get(storage_key("answer_seq", vault_id, epoch))
        return 0 if raw is None else int(codec.loads(raw))

    def erase_answers(self, vault_id: str, epoch: int) -> None:
        """Erase the epoch's kept signature shares (only the slots ever filled are read)."""
        for n in range(min(self._answers_made(vault_id, epoch), ANSWER_SLOTS)):
            slot = storage_key("answer_slot", vault_id, epoch, n)
            old = self.s.get(slot)
            if old is not None:
                self.s.remove(storage_key("answer", vault_id, epoch, bytes(codec.loads(old))))
                self.s.remove(slot)
        self.s.remove(storage_key("answer_seq", vault_id, epoch))

    def next_counter(self) -> int:
        """A number this contract never gave before (its nonce counter): mixed into every seed
        made from ``env.block.random``, so no two of them are alike even if that value repeats."""
        key = storage_key("nonce_counter")
        raw = self.s.get(key)
        n = 0 if raw is None else int(codec.loads(raw))
        self.s.set(key, codec.dumps(n + 1))
        return n

    # vaults
    def new_instance(self) -> int:
        """A number no vault of this contract had before (a counter in its state)."""
        raw = self.s.get(storage_key("instances"))
        n = 1 + (0 if raw is None else int(codec.loads(raw)))
        self.s.set(storage_key("instances"), codec.dumps(n))
        return n

    def vault(self, vault_id: str) -> VaultState | None:
        raw = self.s.get(storage_key("vault", vault_id))
        return None if raw is None else VaultState.from_bytes(raw)

    def need_vault(self, vault_id: str) -> VaultState:
        v = self.vault(vault_id)
        if v is None:
            raise fail("not-found", f"no vault {vault_id!r} in this contract")
        return v

    def put_vault(self, v: VaultState) -> None:
        self.s.set(storage_key("vault", v.vault_id), v.to_bytes())

    def vaults_of(self, owner: str) -> list[str]:
        raw = self.s.get(storage_key("vaults_of", owner))
        return [] if raw is None else list(codec.loads(raw))

    def set_vaults_of(self, owner: str, ids: list[str]) -> None:
        if ids:
            self.s.set(storage_key("vaults_of", owner), codec.dumps(sorted(set(ids))))
        else:
            self.s.remove(storage_key("vaults_of", owner))

    # shares
    def share_bytes(self, vault_id: str, epoch: int) -> bytes:
        raw = self.s.get(storage_key("share", vault_id, epoch))
        if raw is None:
            raise fail("not-found", f"vault {vault_id!r} has no share for epoch {epoch}")
        return raw

    def put_share(self, vault_id: str, epoch: int, data: bytes) -> None:
        self.s.set(storage_key("share", vault_id, epoch), data)

    # items
    def item_index(self, vault_id: str, epoch: int, kind: str) -> dict[str, Any]:
        raw = self.s.get(storage_key("items", vault_id, epoch, kind))
        return {"ids": [], "unused": 0} if raw is None else dict(codec.loads(raw))

    def item(self, vault_id: str, epoch: int, kind: str, item_id: bytes) -> rules.Item | None:
        raw = self.s.get(storage_key("item", vault_id, epoch, kind, item_id))
        if raw is None:
            return None
        rec = codec.loads(raw)
        if int(rec.get("h", 0)) < self.burned_before():
            return rules.USED  # burned after a rollback: it may have been used since the backup
        return rules.Item(bool(rec["used"]), rec["blob"])

    def used(self, vault_id: str, epoch: int, kind: str, item_id: bytes) -> bool:
        item = self.item(vault_id, epoch, kind, item_id)
        return item is None or item.used  # an indexed id without a record counts as used

    def put_item(self, vault_id: str, epoch: int, kind: str, item_id: bytes, item: rules.Item) -> None:
        self.s.set(
            storage_key("item", vault_id, epoch, kind, item_id),
            codec.dumps({"used": item.used, "blob": item.blob, "h": self.height}),
        )

    def erase_epoch(self, vault_id: str, epoch: int) -> None:
        """Erase the share and every single-use item of one epoch."""
        self.s.remove(storage_key("share", vault_id, epoch))
        self.s.remove(storage_key("staged", vault_id, epoch))
        self.erase_answers(vault_id, epoch)
        for kind in (*KINDS, NONCE_KIND):
            index = self.item_index(vault_id, epoch, kind)
            for item_id in index["ids"]:
                self.s.remove(storage_key("item", vault_id, epoch, kind, item_id))
            self.s.remove(storage_key("items", vault_id, epoch, kind))

    # shares made here (refresh, reshare, repair), until store_pending {"staged_epoch"} stores them
    def _made_for(self, sender: str, vault_id: str) -> list[Any]:
        """Whom a staged share is for: this instance of the vault, or — for a vault new to this
        contract — the sender that will create it."""
        v = self.vault(vault_id)
        if v is None:
            return ["new", sender]
        own(v, sender)
        return ["instance", v.instance]

    def stage(self, sender: str, vault_id: str, share: KeyShare) -> None:
        self.s.set(
            storage_key("staged", vault_id, share.epoch),
            codec.dumps([self._made_for(sender, vault_id), share.to_bytes()]),
        )

    def take_staged(self, sender: str, vault_id: str, epoch: int) -> bytes:
        """The share of ``epoch`` staged for vault ``vault_id`` as it is now, taken out of staging.
        One staged for an earlier instance of the vault id (deleted since and created again) is not
        this vault's, nor is one staged for a new vault once a vault of that id exists."""
        key = storage_key("staged", vault_id, epoch)
        data = self.s.get(key)
        made_for, share = (None, b"") if data is None else codec.loads(data)
        if made_for != self._made_for(sender, vault_id):
            raise BadArgument(f"no staged share of epoch {epoch} for vault {vault_id!r}")
        self.s.remove(key)
        return bytes(share)

    # owners
    def check_viewing_key(self, address: str, key: str) -> None:
        stored = self.s.get(storage_key("viewing_key", address))
        given = hashlib.sha256(key.encode()).digest()
        if stored is None or not hmac.compare_digest(stored, given):
            raise fail("unauthorized", "wrong viewing key for this address, or none set")


def decode_share(data: bytes) -> KeyShare:
    try:
        return KeyShare.from_bytes(data)
    except GridlockError as exc:
        raise fail("bad-argument", f"not a valid key share ({exc})") from None


def own(v: VaultState, sender: str) -> VaultState:
    if not hmac.compare_digest(v.owner.encode(), sender.encode()):
        raise fail("unauthorized", f"vault {v.vault_id!r} belongs to another sender")
    return v
