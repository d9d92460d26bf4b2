"""The store contract's rules, as pure functions shared by every share store.

Both the SQLite :class:`~gridlock.guardian.store.sqlite.Keystore` and the enclave's custody
contract (:mod:`gridlock.enclave.contract`) call these, so the two cannot drift: each store reads
its current records, asks a function here for the decision (or the typed error), and writes the
result in one transaction.  Nothing here does I/O.

Epochs (SECURITY #16)
    A vault's share goes through ``pending → active → retired``.  A pending epoch must be newer
    than the active one; storing the identical share again is a no-op (a retried call is safe), a
    different one for the same epoch is an :class:`EpochConflict` — unless it comes from a newer
    owner-approved key change, which first erases the uncommitted one (:func:`replaces_pending`).
    Activating a pending epoch retires the active one *in the same transaction*: its share and
    single-use items are erased and only a public tombstone stays, so the epoch can never be
    stored or used again.  Activation only
    happens after every new holder confirmed the new epoch, so the old share is not needed any
    more, and keeping it would undo the point of a proactive refresh (SECURITY #17).  Pending epochs
    older than the newly active one can never become active and are erased too.  Discarding the
    last live epoch removes the vault (an aborted keygen: it never existed).

Single-use items (SECURITY #9)
    Presignatures and FROST nonces are stored in batches (all or nothing).  A take marks the item
    used and erases its secret in the same committed transaction *before* the secret is returned,
    so a second take raises :class:`AlreadyUsed`, also after a crash.  Used items stay as
    tombstones so their ids can never be added again.  A session claim is an item that is used from
    the start: a session id runs at most once per epoch.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, cast

from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import GridlockError
from gridlock.guardian.store.errors import (
    AlreadyExists,
    AlreadyUsed,
    BadArgument,
    Corrupted,
    EpochConflict,
    NotFound,
    Retired,
    ShareMismatch,
)

__all__ = [
    "KINDS",
    "MAX_BATCH",
    "MAX_IDENTITY_BYTES",
    "MAX_ITEM_BYTES",
    "MAX_ITEM_ID_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_VAULT_ID_CHARS",
    "SESSION",
    "STATES",
    "Activation",
    "Discard",
    "Item",
    "ItemKind",
    "State",
    "activate",
    "active_epoch",
    "check_batch",
    "check_epoch",
    "check_item_id",
    "check_kind",
    "check_same_share",
    "check_share_fits",
    "check_vault_id",
    "claim_session",
    "current_epoch",
    "discard_pending",
    "encode_metadata",
    "item_label",
    "new_items",
    "replaces_pending",
    "require_usable",
    "retired_epochs",
    "store_pending",
    "take",
    "update_bans",
]

State = Literal["pending", "active", "retired"]
ItemKind = Literal["presignature", "nonce"]
STATES: Final = ("pending", "active", "retired")
KINDS: Final = ("presignature", "nonce")
SESSION: Final = "session"
"""The item kind of session claims (stored used; see :func:`claim_session`)."""

Epochs = Mapping[int, str]
"""A vault's epochs and their states, as a store holds them (epoch → ``pending|active|retired``)."""

# --- limits and argument checks (the same bounds in every store) -----------------------------------
MAX_VAULT_ID_CHARS: Final = 128
MAX_ITEM_ID_BYTES: Final = 64
MAX_ITEM_BYTES: Final = 1 << 20
MAX_BATCH: Final = 10_000
MAX_IDENTITY_BYTES: Final = 1 << 20
MAX_METADATA_BYTES: Final = 64 << 10


def check_vault_id(vault_id: object) -> str:
    if not isinstance(vault_id, str) or not 0 < len(vault_id) <= MAX_VAULT_ID_CHARS:
        raise BadArgument(f"a vault id is a non-empty string of at most {MAX_VAULT_ID_CHARS} characters")
    if not vault_id.isprintable():
        raise BadArgument("a vault id must be printable text")
    return vault_id


def check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < 2**63:
        raise BadArgument("an epoch is a non-negative integer")
    return epoch


def check_item_id(item_id: object) -> bytes:
    if not isinstance(item_id, bytes) or not 0 < len(item_id) <= MAX_ITEM_ID_BYTES:
        raise BadArgument(f"an item id is 1 to {MAX_ITEM_ID_BYTES} bytes")
    return item_id


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise BadArgument(f"item kind must be one of {KINDS}")
    assert isinstance(kind, str)
    return kind


def check_batch(items: object) -> list[tuple[bytes, bytes]]:
    """A batch of ``(item_id, secret)`` pairs: 1 to :data:`MAX_BATCH` of them, ids distinct."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence) or not 0 < len(items) <= MAX_BATCH:
        raise BadArgument(f"items must be a list of 1 to {MAX_BATCH} (item_id, secret) pairs")
    batch: list[tuple[bytes, bytes]] = []
    for pair in items:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise BadArgument("each item is an (item_id, secret) pair")
        item_id = check_item_id(pair[0])
        blob = pair[1]
        if not isinstance(blob, bytes) or not 0 < len(blob) <= MAX_ITEM_BYTES:
            raise BadArgument(f"an item's secret is 1 to {MAX_ITEM_BYTES} bytes")
        batch.append((item_id, blob))
    if len({i for i, _ in batch}) != len(batch):
        raise BadArgument("duplicate item ids in one batch")
    return batch


def encode_metadata(metadata: object) -> str:
    """The canonical JSON text of vault metadata (public: never secrets)."""
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise BadArgument("vault metadata must be a mapping with string keys")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise BadArgument("vault metadata must be JSON-serialisable") from None
    if len(text) > MAX_METADATA_BYTES:
        raise BadArgument(f"vault metadata larger than {MAX_METADATA_BYTES} bytes")
    return text


def item_label(item_id: bytes) -> str:
    """How an item is named in messages: a prefix of its id, never its secret."""
    return item_id.hex()[:16]


# --- epochs -----------------------------------------------------------------------------------------
def active_epoch(vault_id: str, epochs: Epochs) -> int | None:
    active = [e for e, s in epochs.items() if s == "active"]
    if len(active) > 1:
        raise Corrupted(f"more than one active epoch stored for vault {vault_id!r}")
    return active[0] if active else None


def current_epoch(vault_id: str, epochs: Epochs) -> int:
    """The epoch a vault's public record describes: the active one, or the newest pending one."""
    active = active_epoch(vault_id, epochs)
    if active is not None:
        return active
    pending = [e for e, s in epochs.items() if s == "pending"]
    if not pending:
        raise Corrupted(f"vault {vault_id!r} has neither an active nor a pending epoch")
    return max(pending)


def retired_epochs(epochs: Epochs) -> list[int]:
    return sorted(e for e, s in epochs.items() if s == "retired")


def require_usable(vault_id: str, epoch: int, state: str | None) -> None:
    """A share or item of ``epoch`` is used only while the epoch is pending or active."""
    if state is None:
        raise NotFound(f"vault {vault_id!r} has no share for epoch {epoch}")
    if state == "retired":
        raise Retired(f"epoch {epoch} of vault {vault_id!r} was retired and erased")


def check_share_fits(vault_id: str, scheme: str, public_key: bytes, share: KeyShare) -> None:
    """Every epoch of a vault holds a share of the same key (refresh and reshare keep the key)."""
    if scheme != share.scheme or public_key != share.public_key:
        raise ShareMismatch(f"the share is for another key or scheme than vault {vault_id!r}")


def store_pending(vault_id: str, epochs: Epochs, epoch: int, *, replace_active: bool = False) -> bool:
    """May a share of ``epoch`` be stored as pending?  Returns whether one is stored already — then
    the caller passes both to :func:`check_same_share` (a retry is a no-op).  ``replace_active``
    admits the active epoch too (the contract's ``store_share``, which activates in the same call)."""
    active = active_epoch(vault_id, epochs)
    if active is not None and epoch <= active and not (replace_active and epoch == active):
        raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} is not newer than the active epoch {active}")
    state = epochs.get(epoch)
    if state == "retired":
        raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} was retired")
    return state is not None


def replaces_pending(vault_id: str, epochs: Epochs, epoch: int) -> bool:
    """Does a new key change's share of ``epoch`` replace a pending share of that epoch left by an
    earlier session that was never committed (a lost reply or abort, issue 18)?

    Only a key-change session that ran from this guardian's active epoch (or, for a holder new to
    the vault, from the dealers' active epoch) reaches its ``epoch``, which is why an older session
    of the same number was never committed by the holders that ran this one.  The caller erases the
    pending share (if it differs from the new one: a retried store stays a no-op) and stores the new
    one; the old session's acknowledgements do not verify against the new share, so it cannot be
    committed afterwards.  Refused like :func:`store_pending` if ``epoch`` is not newer than the
    active one."""
    store_pending(vault_id, epochs, epoch)
    return epochs.get(epoch) == "pending"


def check_same_share(vault_id: str, epoch: int, stored: bytes, new: bytes) -> None:
    if not hmac.compare_digest(stored, new):
        raise EpochConflict(f"a different share is already pending for epoch {epoch} of vault {vault_id!r}")


def _state(s: str) -> State:
    if s not in STATES:
        raise Corrupted("a stored epoch state is damaged")
    return cast(State, s)


@dataclass(frozen=True)
class Activation:
    """What activating ``epoch`` does: ``retire`` (the active epoch) keeps a tombstone with its
    share and items erased; the ``drop`` epochs (older pending ones) are erased entirely."""

    epoch: int
    retire: int | None
    drop: tuple[int, ...]

    def apply(self, epochs: Epochs) -> dict[int, State]:
        """The epochs' states after the activation."""
        out: dict[int, State] = {e: _state(s) for e, s in epochs.items() if e not in self.drop}
        if self.retire is not None:
            out[self.retire] = "retired"
        out[self.epoch] = "active"
        return out


def activate(vault_id: str, epochs: Epochs, epoch: int) -> Activation | None:
    """The transition that makes pending ``epoch`` active; ``None`` if it is already active (a
    retried call).  The caller must check that the pending share opens before applying it."""
    active = active_epoch(vault_id, epochs)
    if active == epoch:
        return None
    if active is not None and epoch < active:
        raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} is older than the active epoch")
    state = epochs.get(epoch)
    if state is None:
        raise NotFound(f"vault {vault_id!r} has no pending epoch {epoch}")
    if state == "retired":
        raise Retired(f"epoch {epoch} of vault {vault_id!r} was retired and erased")
    drop = tuple(sorted(e for e, s in epochs.items() if s == "pending" and e < epoch))
    return Activation(epoch, active, drop)


@dataclass(frozen=True)
class Discard:
    """Discarding pending ``epoch`` erases it; ``remove_vault`` when no live epoch is left."""

    epoch: int
    remove_vault: bool


def discard_pending(vault_id: str, epochs: Epochs, epoch: int) -> Discard:
    state = epochs.get(epoch)
    if state is None:
        raise NotFound(f"vault {vault_id!r} has no pending epoch {epoch}")
    if state == "retired":
        raise Retired(f"epoch {epoch} of vault {vault_id!r} was retired and erased")
    if state == "active":
        raise EpochConflict(f"epoch {epoch} of vault {vault_id!r} is active, not pending")
    live = [e for e, s in epochs.items() if s != "retired" and e != epoch]
    return Discard(epoch, remove_vault=not live)


def update_bans(vault_id: str, epoch: int, old: KeyShare, new: KeyShare) -> bytes:
    """The encoding of ``new`` if it differs from the stored ``old`` share only by a larger ban list
    (bans last until the next refresh replaces the share); :class:`ShareMismatch` otherwise."""
    if new.epoch != epoch or new.index != old.index or new.scheme != old.scheme:
        raise ShareMismatch(f"the share is not vault {vault_id!r}'s share of epoch {epoch}")
    try:
        expected = replace(old, banned=set(new.banned))
    except GridlockError:
        raise ShareMismatch("the ban list names participants that are not counterparties") from None
    plaintext = new.to_bytes()
    if not hmac.compare_digest(expected.to_bytes(), plaintext):
        raise ShareMismatch("update_share may change only the ban list of a share")
    if not old.banned <= new.banned:
        raise ShareMismatch("a ban list only grows until the next refresh")
    return plaintext


# --- single-use items -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One stored single-use item.  ``blob`` is its secret (sealed, as the store keeps it) while
    unused, and ``None`` once used: the secret is erased in the same write that marks it used."""

    used: bool
    blob: bytes | None

    def __post_init__(self) -> None:
        if self.used != (self.blob is None):
            raise Corrupted("a stored single-use item is damaged")

    def __repr__(self) -> str:
        return f"Item(used={self.used})"


USED: Final = Item(True, None)


def claim_session(vault_id: str, epoch: int, session_id: bytes, *, claimed: bool) -> Item:
    """A session id runs once per epoch: its claim is stored as a used item, so a second claim is
    refused — across restarts and whatever happened to in-memory replay guards."""
    if claimed:
        raise AlreadyUsed(
            f"session {item_label(session_id)} already ran with epoch {epoch} of vault {vault_id!r}; "
            "a session id is never run twice"
        )
    return USED


def new_items(
    kind: str, vault_id: str, epoch: int, batch: Sequence[tuple[bytes, bytes]], known: Mapping[bytes, bool]
) -> list[tuple[bytes, Item]]:
    """The records to add for a checked batch (:func:`check_batch`), all or nothing.  ``known``
    maps the batch's ids that are stored already to whether they were used: a used id is never
    stored again (:class:`AlreadyUsed`), an unused one is :class:`AlreadyExists`."""
    out: list[tuple[bytes, Item]] = []
    for item_id, blob in batch:
        used = known.get(item_id)
        if kind == SESSION:
            out.append((item_id, claim_session(vault_id, epoch, item_id, claimed=used is not None)))
            continue
        if used:
            raise AlreadyUsed(f"{kind} {item_label(item_id)} was already used; it is never stored again")
        if used is not None:
            raise AlreadyExists(f"{kind} {item_label(item_id)} is already stored")
        out.append((item_id, Item(False, blob)))
    return out


def take(
    kind: str, vault_id: str, epoch: int, item_id: bytes, item: Item | None, state: str | None
) -> tuple[Item, bytes]:
    """Taking an item: returns the record to write (used, secret erased) and the stored secret,
    which the caller hands out only after that write is committed.  ``state`` is the epoch's."""
    if item is None:
        require_usable(vault_id, epoch, state)
        raise NotFound(f"no {kind} {item_label(item_id)} for epoch {epoch} of vault {vault_id!r}")
    if item.blob is None:
        raise AlreadyUsed(f"{kind} {item_label(item_id)} was already used; it is never used twice")
    return USED, item.blob
