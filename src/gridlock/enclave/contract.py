"""The custody contract: one guardian share per vault, kept in a secret contract's encrypted state.

It runs *inside* the enclave boundary: it sees decrypted messages and plaintext storage keys and
values; the enclave encrypts every key and value before the host stores them (see
:mod:`gridlock.enclave.enclave`), and every answer before it leaves.  The interface mirrors the
guardian keystore (:class:`gridlock.guardian.store.Keystore`): epoch-versioned shares
(``pending → active → retired``), vault metadata, single-use items, the guardian identity — and
it decides every transition with the same pure functions (:mod:`gridlock.guardian.store.rules`),
so the two stores cannot drift; a rule's typed error is returned as its stable ``code``.

Authorisation.  Every execute message is authenticated by the chain (the transaction's signer is
``info.sender``).  The first sender that stores a share for a vault owns it; only the owner may
change it (so the contract never holds two shares of one vault — one principal, one share).
Queries carry no authenticated sender on Secret Network, so private reads (the share, metadata,
identity, item counts) need the owner's *viewing key* (SNIP-20 style: set by an execute message,
stored as its sha256, checked in constant time).  The public query ``{"vault": {"vault_id": …}}``
answers what every participant of the vault already knows: the public key and this share's
verifying share.

Messages are JSON objects with exactly one key (serde's enum encoding); byte strings are base64
(cosmwasm ``Binary``); epochs are integers.  Errors are ``cosmwasm_std::StdError`` JSON:
``{"parse_err": {...}}`` for a message that does not parse, otherwise
``{"generic_err": {"msg": "<code>: <text>"}}`` with a stable ``code`` (``not-found``, ``retired``,
``epoch-conflict``, ``share-mismatch``, ``already-exists``, ``already-used``, ``bad-argument``,
``unauthorized``; for the owner pin ``no-owner``, ``owner-mismatch``, ``time-locked``, ``rate-limited``,
``busy``; for key changes ``culprit`` — ``"<nodes>: <text>"``, the nodes whose sealed values failed —
and ``no-custody-key``) that a client maps to its own exceptions.

Execute messages (sender = the owner)::

    {"store_pending":   {"vault_id", "share" | "staged_epoch", "metadata"?}}   -> {"vault_id", "epoch", "public_key",
                                                         "verifying_share"}; staged_epoch: a share made
                                                         here (refresh_share, reshare_combine, repair_rebuild)
    {"store_share":     {"vault_id", "share", "metadata"?}}   store and activate at once (replace the share)
    {"activate":        {"vault_id", "epoch"}}
    {"discard_pending": {"vault_id", "epoch"}}
    {"update_share":    {"vault_id", "epoch", "share"}}       only the ban list may change, and only grow
    {"delete_vault":    {"vault_id"}}
    {"purge_retired":   {"vault_id"}}
    {"set_metadata":    {"vault_id", "metadata"}}
    {"add_items":       {"vault_id", "epoch", "kind", "items": [[id, blob], ...]}}   kind "session": a claim,
                                                         stored as already used (a second claim fails)
    {"take_item":       {"vault_id", "epoch", "kind", "item_id"}}   -> {"blob"}; marked used first
    {"put_identity":    {"blob", "replace"?}}
    {"set_viewing_key": {"key"}}
    {"frost_commit":    {"vault_id", "epoch", "path", "session"}}   -> {"nonce_id", "commitments"}
    {"frost_sign":      {"vault_id", "epoch", "nonce_id", "path", "message", "commitments": [...]}}
                                                          -> {"signed"}; the nonces are used up, z_i kept
    {"frost_discard":   {"vault_id", "epoch", "nonce_id"}}   -> {"discarded"}
    {"refresh_share":   {"vault_id", "epoch", "dealings": [[dealer, [point...], sub_share]...], "transcript_hash"}}
                                                          -> {"epoch", "share", "sealed"}: the new share, staged
    {"custody_key":     {}}                            -> {"custody_key"}: the sender's, made on first use
    {"reshare_deal":    {"vault_id", "epoch", "approval", "session", "recipients": [[index, identity]...]}}
                                                          -> {"commitment", "sealed": [[index, blob]...]}
    {"reshare_combine": {"vault_id", "session", "package", "index", "threshold", "receivers",
                         "dealer_commitments": [[dealer, [point...]]...], "sealed": [[dealer, blob]...],
                         "transcript_hash"}}              -> {"epoch", "share", "sealed"}: staged
    {"repair_split":    {"vault_id", "epoch", "approval", "session", "recipients"}}
                                                          -> {"published": [point...], "sealed"}
    {"repair_sum":      {"vault_id", "session", "published": [[helper, [point...]]...], "sealed"}}
                                                          -> {"epoch", "sealed"}: σ to the lost holder
    {"repair_rebuild":  {"vault_id", "session", "package", "index", "published", "sealed"}}
                                                          -> {"epoch", "share", "sealed"}: staged
    {"export_share":    {"vault_id", "epoch", "approval"}} -> {"epoch", "index", "sealed": [[device, blob]...]}:
                                                         the share sealed to each approving device
    {"owner_recovery_start":  {"vault_id", "new_device", "lost_device", "verifier"}} -> {"state": "recorded"}
    {"owner_recovery_finish": {"vault_id", "new_device", "lost_device", "verifier"}} -> {"state": "recorded"}: the
                                                         pinned devices follow
    {"owner_recovery_cancel": {"vault_id", "approval"}}     -> {"state"}
    {"owner_password":  {"vault_id", "approval", "verifier", "new_verifier"}}  -> {"state": "recorded"}
    {"owner_status":    {"vault_id"}}                   -> {"devices", "required", "recovery", "failures",
                                                         "last_check_ok"}: refused in a password check's block

The vault's creating ``store_pending``/``store_share`` may pin its owner (``owner``: devices,
required, verifier digest, recovery delay); what the owner must approve is then checked here
(:mod:`gridlock.enclave.contract_owner`), not left to the host that holds the sending account.

FROST shares (``frost-*`` schemes) are used inside the contract (:mod:`gridlock.enclave.contract_frost`):
the ``share`` query answers their sealed view (public data, ``"sealed": true``), of the key at
``path`` if given.  Their reshare and repair run here too (:mod:`gridlock.enclave.contract_keychange`):
what leaves is sealed to the guardian it is for.  No execute answers a FROST share's secret; only
``export_share`` hands it out, sealed to the owner's devices.

Queries::

    {"info": {}}                                         public
    {"vault": {"vault_id"}}                              public: public_key, verifying_share, epochs, …
    {"vaults":      {"address", "key"}}                  the owner's vaults (records)
    {"record":      {"vault_id", "address", "key"}}     one of the owner's vaults (its record)
    {"share":       {"vault_id", "epoch"?, "path"?, "address", "key"}}   the share (base64 KeyShare bytes)
    {"metadata":    {"vault_id", "address", "key"}}
    {"items":       {"vault_id", "epoch", "kind", "address", "key"}}   unused item ids and count
    {"signature_share": {"vault_id", "epoch", "nonce_id", "address", "key"}}   z_i of a committed frost_sign

Secret Network lets a sender simulate a transaction (several messages on one state, each answered,
nothing committed), so no answer depends on a write its own transaction makes as a guard: a
signature share is read by the ``signature_share`` query once ``frost_sign`` (which used the nonces
up) is committed, and a password check's outcome by ``owner_status`` in a later block.
    {"identity":    {"address", "key"}}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.enclave import contract_frost, contract_keychange, contract_owner, custody_ledger
from gridlock.enclave.contract_msg import (
    EXEC_TARGET,
    INIT_TARGET,
    QUERY_TARGET,
    Args,
    b64_field,
    b64s,
    parse,
    to_json,
)
from gridlock.enclave.cosmwasm import Contract, Env, MessageInfo, Response, StdError, Storage, fail
from gridlock.enclave.custody_state import CustodyState, EpochRecord, VaultState, decode_share, own, storage_key
from gridlock.enclave.measure import contract_code
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument, KeystoreError
from gridlock.protocol.custody import CUSTODY_SCHEMES

__all__ = [
    "CUSTODY_CODE",
    "CUSTODY_CODE_HASH",
    "Contract",
    "CustodyContract",
    "Env",
    "MessageInfo",
    "Response",
    "StdError",
    "Storage",
]
# --- the "wasm" ------------------------------------------------------------------------------------
CUSTODY_CODE: Final = contract_code()
"""The custody contract's code as stored on the emulated chain (the stand-in for its wasm binary):
the source of the modules that implement it (:data:`gridlock.enclave.measure.CONTRACT_MODULES`), so
its sha256 — the code hash clients put in front of every message — names the code that runs."""
CUSTODY_CODE_HASH: Final = hashlib.sha256(CUSTODY_CODE).hexdigest()
CONTRACT_NAME: Final = "gridlock-custody"
CONTRACT_VERSION: Final = 1

MAX_SHARE_BYTES: Final = 4 << 20


_EXECUTE_FIELDS: Final[dict[str, set[str]]] = {
    "store_pending": {"vault_id", "share", "staged_epoch", "metadata", "owner"},
    "store_share": {"vault_id", "share", "metadata", "owner"},
    "activate": {"vault_id", "epoch"},
    "discard_pending": {"vault_id", "epoch"},
    "update_share": {"vault_id", "epoch", "share"},
    "delete_vault": {"vault_id"},
    "purge_retired": {"vault_id"},
    "set_metadata": {"vault_id", "metadata", "ledger"},
    "add_items": {"vault_id", "epoch", "kind", "items"},
    "take_item": {"vault_id", "epoch", "kind", "item_id"},
    "put_identity": {"blob", "replace"},
    "set_viewing_key": {"key"},
    "frost_commit": {"vault_id", "epoch", "path", "session"},
    "frost_sign": {"vault_id", "epoch", "nonce_id", "path", "message", "commitments"},
    "frost_discard": {"vault_id", "epoch", "nonce_id"},
    "custody_key": set(),
    "reshare_deal": {"vault_id", "epoch", "approval", "session", "recipients"},
    "reshare_combine": {
        "vault_id",
        "session",
        "package",
        "index",
        "threshold",
        "receivers",
        "dealer_commitments",
        "sealed",
        "transcript_hash",
    },
    "repair_split": {"vault_id", "epoch", "approval", "session", "recipients"},
    "repair_sum": {"vault_id", "session", "published", "sealed"},
    "repair_rebuild": {"vault_id", "session", "package", "index", "published", "sealed"},
    "export_share": {"vault_id", "epoch", "approval"},
    "owner_recovery_start": {"vault_id", "new_device", "lost_device", "verifier"},
    "owner_recovery_finish": {"vault_id", "new_device", "lost_device", "verifier"},
    "owner_recovery_cancel": {"vault_id", "approval"},
    "owner_password": {"vault_id", "approval", "verifier", "new_verifier"},
    "owner_status": {"vault_id"},
    "refresh_share": {"vault_id", "epoch", "dealings", "transcript_hash"},
}

_PRIVATE_QUERY_FIELDS: Final[dict[str, set[str]]] = {
    "vaults": set(),
    "share": {"vault_id", "epoch", "path"},
    "record": {"vault_id"},
    "metadata": {"vault_id"},
    "ledger": {"vault_id", "since"},
    "paid": {"vault_id", "chain", "destinations", "before"},
    "items": {"vault_id", "epoch", "kind"},
    "identity": set(),
    "signature_share": {"vault_id", "epoch", "nonce_id"},
}
"""The queries that need the owner's viewing key (each also takes ``address`` and ``key``)."""


# --- the contract --------------------------------------------------------------------------------------
class CustodyContract(contract_frost.FrostExecutes, contract_keychange.KeyChangeExecutes, contract_owner.OwnerExecutes):
    """Holds one guardian share per vault.  Stateless: everything lives in the storage it is given.
    The FROST executes (signing and refresh inside the contract) come from
    :class:`~gridlock.enclave.contract_frost.FrostExecutes`, reshare and repair from
    :class:`~gridlock.enclave.contract_keychange.KeyChangeExecutes`, the owner's (device recovery,
    password change) from :class:`~gridlock.enclave.contract_owner.OwnerExecutes`."""

    code: bytes = CUSTODY_CODE

    def instantiate(self, storage: Storage, env: Env, info: MessageInfo, msg: bytes) -> Response:
        try:
            body = json.loads(msg.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise StdError.parse_err(INIT_TARGET, "the message is not JSON") from None
        if body != {}:
            raise StdError.parse_err(INIT_TARGET, "the custody contract is instantiated with {}")
        storage.set(
            storage_key("config"),
            codec.dumps({"name": CONTRACT_NAME, "version": CONTRACT_VERSION, "creator": info.sender}),
        )
        return Response(data=to_json({"name": CONTRACT_NAME, "version": CONTRACT_VERSION}))

    # -- execute -----------------------------------------------------------------------------------------
    def execute(self, storage: Storage, env: Env, info: MessageInfo, msg: bytes) -> Response:
        name, body = parse(msg, EXEC_TARGET)
        allowed = _EXECUTE_FIELDS.get(name)
        if allowed is None:
            raise StdError.parse_err(EXEC_TARGET, f"unknown variant {name!r}")
        args = Args(name, body, allowed, EXEC_TARGET)
        handler: Callable[[CustodyState, str, Args], dict[str, Any]] = getattr(self, "_x_" + name)
        try:
            st = CustodyState(storage, env.block_height, env.random, env.block_time // 1_000_000_000)
            data = handler(st, info.sender, args)
        except KeystoreError as exc:  # the shared rules' errors, reported by their stable code
            raise fail(exc.code, str(exc)) from None
        return Response(data=to_json(data), attributes=[("action", name)])

    def _store(self, st: CustodyState, sender: str, a: Args, *, activate: bool) -> dict[str, Any]:
        vault_id = a.vault_id()
        if "staged_epoch" in a.body:  # a share the contract made itself (refresh, reshare, repair)
            if "share" in a.body:
                raise BadArgument("store_pending takes a share or a staged epoch, not both")
            data = st.take_staged(sender, vault_id, a.integer("staged_epoch") or 0)
        else:
            data = a.binary("share", MAX_SHARE_BYTES)
        meta = a.metadata(optional=True)
        share = decode_share(data)
        plaintext = share.to_bytes()
        epoch = share.epoch
        v = st.vault(vault_id)
        if v is None:
            v = VaultState(vault_id, sender, share.scheme, share.public_key, meta or "{}", {}, st.new_instance())
            st.set_vaults_of(sender, [*st.vaults_of(sender), vault_id])
            if "owner" in a.body:  # a vault id pinned before keeps its owner (contract_owner)
                contract_owner.pin_new(st, v, contract_owner.parse_pin(a.body["owner"]))
        else:
            own(v, sender)
            if "owner" in a.body:
                raise BadArgument("a vault's owner is pinned when the vault is created, not later")
        rules.check_share_fits(vault_id, v.scheme, v.public_key, share)
        if rules.store_pending(vault_id, v.states(), epoch, replace_active=activate):
            rules.check_same_share(vault_id, epoch, st.share_bytes(vault_id, epoch), plaintext)
        else:
            v.epochs[epoch] = EpochRecord.of(share, "pending")
            st.put_share(vault_id, epoch, plaintext)
        if meta is not None:
            v.metadata = meta
        if activate:
            self._activate(st, v, epoch)
        st.put_vault(v)
        return {
            "vault_id": vault_id,
            "epoch": epoch,
            "public_key": share.public_key.hex(),
            "verifying_share": share.verifying_shares[share.index].encode().hex(),
        }

    def _x_store_pending(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return self._store(st, sender, a, activate=False)

    def _x_store_share(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return self._store(st, sender, a, activate=True)

    @staticmethod
    def _activate(st: CustodyState, v: VaultState, epoch: int) -> None:
        plan = rules.activate(v.vault_id, v.states(), epoch)
        if plan is None:
            return
        decode_share(st.share_bytes(v.vault_id, epoch))  # never activate a share we could not use
        if plan.retire is not None:
            st.erase_epoch(v.vault_id, plan.retire)
        for e in plan.drop:
            st.erase_epoch(v.vault_id, e)
            del v.epochs[e]
        for e, state in plan.apply(v.states()).items():
            v.epochs[e].state = state

    def _x_activate(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch = a.epoch()
        self._activate(st, v, epoch)
        st.put_vault(v)
        return {"vault_id": v.vault_id, "epoch": epoch}

    def _x_discard_pending(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch = a.epoch()
        plan = rules.discard_pending(v.vault_id, v.states(), epoch)
        st.erase_epoch(v.vault_id, epoch)
        del v.epochs[epoch]
        if plan.remove_vault:
            self._delete(st, v)
        else:
            st.put_vault(v)
        return {"vault_id": v.vault_id, "epoch": epoch}

    def _x_update_share(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch = a.epoch()
        share = decode_share(a.binary("share", MAX_SHARE_BYTES))
        self._usable(v, epoch)
        old = decode_share(st.share_bytes(v.vault_id, epoch))
        st.put_share(v.vault_id, epoch, rules.update_bans(v.vault_id, epoch, old, share))
        return {"vault_id": v.vault_id, "epoch": epoch}

    @staticmethod
    def _delete(st: CustodyState, v: VaultState) -> None:
        for e in list(v.epochs):
            st.erase_epoch(v.vault_id, e)
        if v.epochs:  # what a refresh staged for the epoch after the newest
            st.s.remove(storage_key("staged", v.vault_id, max(v.epochs) + 1))
        custody_ledger.erase(st, v.vault_id)  # the owner pin stays (contract_owner)
        st.s.remove(storage_key("vault", v.vault_id))
        st.set_vaults_of(v.owner, [x for x in st.vaults_of(v.owner) if x != v.vault_id])

    def _x_delete_vault(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        self._delete(st, v)
        return {"vault_id": v.vault_id}

    def _x_purge_retired(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        retired = rules.retired_epochs(v.states())
        for e in retired:
            del v.epochs[e]
        st.put_vault(v)
        return {"vault_id": v.vault_id, "purged": len(retired)}

    def _x_set_metadata(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        meta = a.metadata(optional="ledger" in a.body)
        entries = custody_ledger.decode_entries(a.body.get("ledger", []))
        if meta is not None:
            v.metadata = meta
            st.put_vault(v)
        custody_ledger.append(st, v.vault_id, entries)
        return {"vault_id": v.vault_id}

    @staticmethod
    def _usable(v: VaultState, epoch: int) -> None:
        r = v.epochs.get(epoch)
        rules.require_usable(v.vault_id, epoch, None if r is None else r.state)

    def _x_add_items(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch, kind = a.epoch(), a.kind()
        self._usable(v, epoch)
        raw = a.body.get("items")
        if not isinstance(raw, list) or not 0 < len(raw) <= rules.MAX_BATCH:
            raise BadArgument(f"items must be a list of 1 to {rules.MAX_BATCH} [item_id, blob] pairs")
        pairs: list[tuple[bytes, bytes]] = []
        for pair in raw:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise BadArgument("each item is an [item_id, blob] pair of base64 strings")
            item_id = b64_field(pair[0], "item_id", rules.MAX_ITEM_ID_BYTES, EXEC_TARGET)
            pairs.append((item_id, b64_field(pair[1], "blob", rules.MAX_ITEM_BYTES, EXEC_TARGET)))
        batch = rules.check_batch(pairs)
        index = st.item_index(v.vault_id, epoch, kind)
        stored = set(index["ids"])
        known = {i: st.used(v.vault_id, epoch, kind, i) for i, _ in batch if i in stored}
        added = rules.new_items(kind, v.vault_id, epoch, batch, known)
        for item_id, item in added:
            st.put_item(v.vault_id, epoch, kind, item_id, item)
        index["ids"] = [*index["ids"], *(i for i, _ in added)]
        index["unused"] = index["unused"] + sum(not item.used for _, item in added)
        st.s.set(storage_key("items", v.vault_id, epoch, kind), codec.dumps(index))
        return {"vault_id": v.vault_id, "epoch": epoch, "added": len(batch)}

    def _x_take_item(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        epoch, kind = a.epoch(), a.kind()
        item_id = rules.check_item_id(a.binary("item_id", rules.MAX_ITEM_ID_BYTES))
        r = v.epochs.get(epoch)
        item = st.item(v.vault_id, epoch, kind, item_id)
        used, blob = rules.take(kind, v.vault_id, epoch, item_id, item, None if r is None else r.state)
        st.put_item(v.vault_id, epoch, kind, item_id, used)  # one transaction with the answer
        index = st.item_index(v.vault_id, epoch, kind)
        index["unused"] = index["unused"] - 1
        st.s.set(storage_key("items", v.vault_id, epoch, kind), codec.dumps(index))
        return {"blob": b64s(blob)}

    def _x_put_identity(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        blob = a.binary("blob", rules.MAX_IDENTITY_BYTES)
        if not blob:
            raise BadArgument(f"an identity is 1 to {rules.MAX_IDENTITY_BYTES} bytes")
        replace = a.boolean("replace")
        if st.s.get(storage_key("identity", sender)) is not None and not replace:
            raise fail("already-exists", "this sender already stored an identity")
        st.s.set(storage_key("identity", sender), blob)
        return {"stored": True}

    def _x_set_viewing_key(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        key = a.string("key", 256)
        if len(key) < 16:
            raise fail("bad-argument", "a viewing key has at least 16 characters")
        st.s.set(storage_key("viewing_key", sender), hashlib.sha256(key.encode()).digest())
        return {"viewing_key": "set"}

    def burn_items(self, storage: Storage, env: Env) -> None:
        """The enclave's answer to a detected rollback (not an execute message: only the network's
        ``rollback`` transaction reaches it): every single-use item stored so far counts as used."""
        CustodyState(storage, env.block_height).burn_items()

    # -- query ---------------------------------------------------------------------------------------------
    def query(self, storage: Storage, env: Env, msg: bytes) -> bytes:
        try:
            return self._query(storage, msg)
        except KeystoreError as exc:
            raise fail(exc.code, str(exc)) from None

    def _query(self, storage: Storage, msg: bytes) -> bytes:
        name, body = parse(msg, QUERY_TARGET)
        st = CustodyState(storage)
        if name == "info":
            Args(name, body, set(), QUERY_TARGET)
            return to_json({"name": CONTRACT_NAME, "version": CONTRACT_VERSION})
        if name == "vault":
            a = Args(name, body, {"vault_id"}, QUERY_TARGET)
            return to_json(st.need_vault(a.vault_id()).record())
        if name not in _PRIVATE_QUERY_FIELDS:
            raise StdError.parse_err(QUERY_TARGET, f"unknown variant {name!r}")
        a = Args(name, body, _PRIVATE_QUERY_FIELDS[name] | {"address", "key"}, QUERY_TARGET)
        owner = a.string("address", 128)
        st.check_viewing_key(owner, a.string("key", 256))
        if name == "vaults":
            return to_json({"vaults": [st.need_vault(vid).record() for vid in st.vaults_of(owner)]})
        if name == "identity":
            blob = st.s.get(storage_key("identity", owner))
            return to_json({"blob": None if blob is None else b64s(blob)})
        v = own(st.need_vault(a.vault_id()), owner)
        if name == "record":
            return to_json(v.record())
        if name == "metadata":
            return to_json({"metadata": json.loads(v.metadata)})
        if name == "ledger":
            return to_json({"entries": custody_ledger.since(st, v.vault_id, a.integer("since") or 0)})
        if name == "paid":
            dests = a.body.get("destinations")
            if not isinstance(dests, list) or len(dests) > 64 or not all(isinstance(d, str) for d in dests):
                raise fail("bad-argument", "destinations: a list of at most 64 strings")
            before = a.integer("before") or 0
            return to_json({"paid": custody_ledger.paid(st, v.vault_id, a.string("chain", 32), dests, before)})
        if name == "signature_share":
            nonce_id = a.binary("nonce_id", rules.MAX_ITEM_ID_BYTES)
            return to_json(contract_frost.signature_share(st, v, a.epoch(), nonce_id))
        if name == "share":
            epoch = a.integer("epoch", optional=True)
            if epoch is None:
                epoch = v.active()
                if epoch is None:
                    raise fail("not-found", f"vault {v.vault_id!r} has no active epoch")
            if v.scheme in CUSTODY_SCHEMES:
                path = a.string("path", contract_frost.MAX_PATH_CHARS) if "path" in a.body else "m"
                sealed = contract_frost.public_share(st, v, epoch, path)
                return to_json({"epoch": epoch, "share": b64s(sealed), "sealed": True})
            if "path" in a.body:
                raise fail("bad-argument", f"{v.scheme} shares are answered at m only")
            self._usable(v, epoch)
            return to_json({"epoch": epoch, "share": b64s(st.share_bytes(v.vault_id, epoch))})
        epoch, kind = a.epoch(), a.kind()  # a retired or unknown epoch has no unused items (as in SQLite)
        index = st.item_index(v.vault_id, epoch, kind)
        unused = []
        for item_id in index["ids"]:
            item = st.item(v.vault_id, epoch, kind, item_id)
            if item is not None and not item.used:
                unused.append(item_id)
        return to_json({"unused": len(unused), "ids": [b64s(i) for i in sorted(unused)]})
