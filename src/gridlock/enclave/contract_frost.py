"""FROST signing inside the custody contract: the share and the nonces never leave it (issue 17 #4).

For the FROST schemes (``frost-ed25519`` and ``frost-secp256k1``, RFC 9591; ``frost-taproot``,
its BIP-340 variant) the guardian process keeps running the network protocol
(:class:`gridlock.protocol.frost.FrostSignParty`) with the share's public data only
(:class:`gridlock.crypto.sealed.SealedShare`); the two steps that need the secret happen here, with
the same pure functions a local signer uses (:mod:`gridlock.crypto.frost`, :mod:`gridlock.crypto.hd`):

* ``frost_commit`` — RFC 9591 §5.1 ``commit`` for the key at ``path`` (BIP32 non-hardened
  derivation, and for Taproot the BIP-86 tweak, both applied to the share in here).  The nonce
  randomness is the enclave's (``env.block.random``, mixed with a per-contract counter and the
  request), hedged with the secret share as RFC 9591 §4.1 ``nonce_generate`` does.  The nonces are
  stored as a single-use item of their own kind (:data:`NONCE_KIND`, which ``add_items`` cannot
  write: a guardian host cannot plant nonces it knows; at most :data:`MAX_OUTSTANDING` unused per
  epoch); only the commitments are answered.
* ``frost_sign`` — RFC 9591 §5.2 ``sign`` over the signing package (message and every signer's
  commitments) with the stored nonces, which are erased in the same transaction that makes the
  signature share ``z_i``; a second ``frost_sign`` with them is refused (``not-found``: no
  unused nonces by that id), and one after a detected rollback too (``already-used``: the network
  burns every single-use item, issue 17 #3).  ``z_i`` is kept and read by the ``signature_share``
  query once the transaction is committed, not answered by the execute (:func:`sign`: a simulated
  execute must not yield it).  Answers, like every execute and query answer, are encrypted to the
  sending guardian (Secret Network's transaction encryption).
* ``frost_discard`` — a run that stopped before signing burns its nonces.

Refresh (``refresh_share``).  A proactive refresh deals sharings of zero, which the guardian
process deals and checks itself (:class:`gridlock.protocol.reshare.ReshareParty`); the one step
that needs the old share — adding the sub-shares every dealer sent to it — runs here, with
:func:`gridlock.crypto.reshare.finalize` (Feldman-checking each sub-share against its dealer's
commitment) on the stored share and its own public data, never on a description the guardian
sends.  The new share is kept *staged* and becomes the pending epoch with ``store_pending
{"staged_epoch"}`` (the guardian's usual two-phase commit follows); the answer is its sealed view.

A ``frost_sign`` that fails (a package without this signer's commitment, one that does not
decode) answers nothing and, like every failed transaction, writes nothing: its nonces stay
unused until signed with or discarded — no ``z_i`` was made with them.

``z_i`` alone reveals nothing of the share: it is what the protocol broadcasts anyway, and with
single-use nonces FROST's unforgeability holds whatever signing package the (untrusted) guardian
host hands in (RFC 9591 §7: the coordinator is not trusted).

Reshare and repair use the share here too (:mod:`gridlock.enclave.contract_keychange`), and an
export leaves it sealed to the owner's device (:mod:`gridlock.enclave.contract_owner`): no execute
answers a FROST share's secret (docs/SECURITY.md row 38).

Threshold ECDSA (DKLs23) shares are not sealed: its presigning runs oblivious-transfer extensions
whose per-counterparty state (~12 KB of OT setup per pair, megabytes of traffic per presignature)
and round trips would each be a transaction here; see docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from gridlock.crypto import codec, frost, hd
from gridlock.crypto import reshare as rs
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite, get_scheme
from gridlock.crypto.sealed import seal
from gridlock.enclave.contract_msg import Args, b64_decode, b64s, sealed_view
from gridlock.enclave.custody_state import NONCE_KIND, CustodyState, VaultState, decode_share, own, storage_key
from gridlock.errors import GridlockError
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument, NotFound
from gridlock.protocol.custody import CUSTODY_SCHEMES

__all__ = [
    "MAX_MESSAGE_BYTES",
    "FrostExecutes",
    "commit",
    "discard",
    "public_share",
    "refresh",
    "sign",
]

MAX_MESSAGE_BYTES: Final = 1 << 16  # the guardian protocol's own bound on a message to sign
MAX_PATH_CHARS: Final = 256
MAX_OUTSTANDING: Final = 1024
"""Nonce pairs of one epoch made and neither used nor discarded (concurrent signatures), at most."""
_NONCE_LABEL: Final = b"gridlock/custody/frost-nonce/v1"


def check_path(path: str) -> str:
    if len(path) > MAX_PATH_CHARS:
        raise BadArgument(f"a derivation path has at most {MAX_PATH_CHARS} characters")
    try:
        return hd.canonical_path(path)
    except GridlockError as exc:
        raise BadArgument(f"bad derivation path: {exc}") from None


def _sealed(v: VaultState) -> None:
    if v.scheme not in CUSTODY_SCHEMES:
        raise BadArgument(f"{v.scheme} shares are not signed with inside the contract")


def _usable(v: VaultState, epoch: int) -> None:
    r = v.epochs.get(epoch)
    rules.require_usable(v.vault_id, epoch, None if r is None else r.state)


def key_at(st: CustodyState, v: VaultState, epoch: int, path: str) -> KeyShare:
    """The share of the vault's key at ``path`` (BIP32 from the stored share; its own at ``m``)."""
    share = decode_share(st.share_bytes(v.vault_id, epoch))
    try:
        return hd.derive(share, path)
    except GridlockError as exc:
        raise BadArgument(f"cannot derive the key at {path}: {exc}") from None


def public_share(st: CustodyState, v: VaultState, epoch: int, path: str) -> bytes:
    """The sealed view (public data, no secret) of the share of the key at ``path``."""
    _sealed(v)
    _usable(v, epoch)
    return seal(key_at(st, v, epoch, check_path(path)))


def commit(st: CustodyState, v: VaultState, epoch: int, path: str, session: bytes) -> dict[str, Any]:
    """``frost_commit``: fresh nonces for one signature by the key at ``path``, kept here; their
    commitments and the id to sign with."""
    _sealed(v)
    _usable(v, epoch)
    if st.random is None or len(st.random) != 32:
        raise BadArgument("no enclave randomness in this call")
    path = check_path(path)
    key = key_at(st, v, epoch, path)
    suite = get_frost_suite(key.scheme)
    seed = hashlib.sha256(
        codec.dumps([_NONCE_LABEL, st.random, st.next_counter(), v.vault_id, epoch, path, session])
    ).digest()
    nonces = frost.commit(
        suite,
        key,
        hiding_randomness=hashlib.sha256(seed + b"\x00").digest(),
        binding_randomness=hashlib.sha256(seed + b"\x01").digest(),
    )
    d, e = nonces.take()
    commitments = nonces.commitments.to_bytes()
    nonce_id = hashlib.sha256(b"nonce id" + seed).digest()[:32]
    g = suite.group
    blob = codec.dumps({0: path, 1: g.scalar_to_bytes(d), 2: g.scalar_to_bytes(e), 3: commitments})
    index = st.item_index(v.vault_id, epoch, NONCE_KIND)
    if len(index["ids"]) >= MAX_OUTSTANDING:
        raise BadArgument(f"{MAX_OUTSTANDING} nonce pairs of this epoch are outstanding: sign with or discard some")
    st.put_item(v.vault_id, epoch, NONCE_KIND, nonce_id, rules.Item(False, blob))
    _set_outstanding(st, v.vault_id, epoch, [*index["ids"], nonce_id])
    return {"nonce_id": b64s(nonce_id), "commitments": b64s(commitments)}


def _set_outstanding(st: CustodyState, vault_id: str, epoch: int, ids: list[bytes]) -> None:
    """The index of an epoch's nonce records (what erasing the epoch removes), ``ids`` unused."""
    st.s.set(storage_key("items", vault_id, epoch, NONCE_KIND), codec.dumps({"ids": ids, "unused": len(ids)}))


def _take(st: CustodyState, v: VaultState, epoch: int, nonce_id: bytes) -> bytes:
    """The stored nonces, erased in this transaction.  A used nonce pair leaves no record (the
    state stays as small as the number of outstanding pairs, however long the vault signs), so
    used, discarded and never-made nonces are all refused alike: none is held unused here.  One
    burned by a detected rollback still has its record and is refused as used."""
    rules.require_usable(v.vault_id, epoch, None if epoch not in v.epochs else v.epochs[epoch].state)
    item = st.item(v.vault_id, epoch, NONCE_KIND, nonce_id)
    if item is None:
        raise NotFound(f"no unused contract nonces {rules.item_label(nonce_id)}: used, discarded or never made here")
    _, blob = rules.take("nonce", v.vault_id, epoch, nonce_id, item, v.epochs[epoch].state)
    st.s.remove(storage_key("item", v.vault_id, epoch, NONCE_KIND, nonce_id))
    ids = st.item_index(v.vault_id, epoch, NONCE_KIND)["ids"]
    _set_outstanding(st, v.vault_id, epoch, [i for i in ids if i != nonce_id])
    return blob


def sign(
    st: CustodyState,
    v: VaultState,
    epoch: int,
    nonce_id: bytes,
    path: str,
    message: bytes,
    commitments: list[bytes],
) -> dict[str, Any]:
    """``frost_sign``: this signer's share ``z_i`` over (``message``, ``commitments``) with the
    nonces ``nonce_id``, which are used up here.  The answer does not carry ``z_i``: it is kept,
    and the ``signature_share`` query reads it once this transaction is committed.  A sender who
    could run the execute without committing it (Secret Network's transaction simulation) would
    otherwise get ``z_i`` while the nonces stay unused, and with a second package solve for the
    share."""
    _sealed(v)
    _usable(v, epoch)
    path = check_path(path)
    if len(message) > MAX_MESSAGE_BYTES:
        raise BadArgument(f"a message to sign has at most {MAX_MESSAGE_BYTES} bytes")
    blob = _take(st, v, epoch, nonce_id)
    try:
        stored = codec.load_map(blob, frozenset({0, 1, 2, 3}))
        if stored[0] != path:
            raise BadArgument("these nonces were made for the key at another path")
        key = key_at(st, v, epoch, path)
        suite = get_frost_suite(key.scheme)
        g = suite.group
        own = frost.SigningCommitments.from_bytes(suite, codec.get_bytes(stored, 3))
        nonces = frost.SigningNonces(codec.scalar(g, stored[1]), codec.scalar(g, stored[2]), own)
        package = frost.SigningPackage.build(
            [frost.SigningCommitments.from_bytes(suite, c) for c in commitments], message
        )
        z = frost.sign(suite, key, nonces, package)
    except GridlockError as exc:
        if isinstance(exc, BadArgument):
            raise
        raise BadArgument(f"cannot sign this package: {exc}") from None
    st.keep_answer(v.vault_id, epoch, nonce_id, g.scalar_to_bytes(z))
    return {"signed": b64s(nonce_id)}


def signature_share(st: CustodyState, v: VaultState, epoch: int, nonce_id: bytes) -> dict[str, Any]:
    """The ``signature_share`` query: the ``z_i`` that a committed ``frost_sign`` made with the
    nonces ``nonce_id`` (the newest :data:`~gridlock.enclave.custody_state.ANSWER_SLOTS` of the
    epoch are kept)."""
    z = st.s.get(storage_key("answer", v.vault_id, epoch, nonce_id))
    if z is None:
        raise NotFound(f"no signature share with nonces {rules.item_label(nonce_id)} in this epoch")
    return {"signature_share": b64s(z)}


def discard(st: CustodyState, v: VaultState, epoch: int, nonce_id: bytes) -> dict[str, Any]:
    """``frost_discard``: burn unused nonces (a run that stopped); nonces already used stay so."""
    item = st.item(v.vault_id, epoch, NONCE_KIND, nonce_id)
    if item is None or item.used:  # nothing unused to burn
        return {"discarded": False}
    _take(st, v, epoch, nonce_id)
    return {"discarded": True}


def refresh(
    st: CustodyState, v: VaultState, epoch: int, dealings: dict[int, tuple[list[bytes], bytes]], th: bytes
) -> dict[str, Any]:
    """``refresh_share``: this holder's share of epoch ``epoch + 1`` from the refresh's dealings
    (dealer → its commitment without the zero constant term, and the sub-share it sent this
    holder), kept staged; its sealed view."""
    _sealed(v)
    r = v.epochs.get(epoch)
    if r is None or r.state != "active":
        raise BadArgument(f"epoch {epoch} of vault {v.vault_id!r} is not the active one")
    old = decode_share(st.share_bytes(v.vault_id, epoch))
    if sorted(dealings) != list(old.participants):
        raise BadArgument("a refresh has a dealing from every holder")
    if len(th) != 32:
        raise BadArgument("a transcript hash is 32 bytes")
    scheme = get_scheme(old.scheme)
    g = scheme.group
    package = rs.PublicPackage.of(old)
    try:
        commitments = {}
        shares = {}
        for d, (sent, sub) in dealings.items():
            points = rs.decode_commitment(scheme, list(sent), old.threshold, refresh=True)
            commitments[d] = rs.full_commitment(scheme, package, d, old.participants, points, refresh=True)
            shares[d] = codec.scalar(g, sub)
        new = rs.finalize(
            scheme,
            package,
            old.index,
            old.threshold,
            old.participants,
            commitments,
            shares,
            th,
            old_secret=old.secret,
        )
    except GridlockError as exc:
        raise BadArgument(f"the refresh does not combine: {exc}") from None
    st.stage(v.owner, v.vault_id, new)
    return sealed_view(new)


# --- the execute messages (their handlers in the contract; the message list is in contract.py) --------------
def _b64_list(raw: object, key: str, max_items: int, max_len: int) -> list[bytes]:
    """A list of 1 to ``max_items`` base64 strings of at most ``max_len`` bytes each."""
    if not isinstance(raw, list) or not 0 < len(raw) <= max_items or not all(isinstance(x, str) for x in raw):
        raise BadArgument(f"{key}: a list of 1 to {max_items} base64 strings")
    out = []
    for text in raw:
        data = b64_decode(text, key)
        if len(data) > max_len:
            raise BadArgument(f"an entry of {key!r} is larger than {max_len} bytes")
        out.append(data)
    return out


class FrostExecutes:
    """The custody contract's executes that use a FROST share inside it (sender = the vault's owner)."""

    def _x_frost_commit(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        return commit(st, v, a.epoch(), a.string("path", MAX_PATH_CHARS), a.binary("session", 64))

    def _x_frost_sign(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        comms = _b64_list(a.body.get("commitments"), "commitments", 1024, 256)
        message = a.binary("message", MAX_MESSAGE_BYTES)
        path = a.string("path", MAX_PATH_CHARS)
        return sign(st, v, a.epoch(), a.binary("nonce_id", rules.MAX_ITEM_ID_BYTES), path, message, comms)

    def _x_frost_discard(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        return discard(st, v, a.epoch(), a.binary("nonce_id", rules.MAX_ITEM_ID_BYTES))

    def _x_refresh_share(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        v = own(st.need_vault(a.vault_id()), sender)
        raw = a.body.get("dealings")
        shape = "dealings: a list of [dealer, [commitment points], sub-share], one per dealer"
        if not isinstance(raw, list) or not 0 < len(raw) <= 1024:
            raise BadArgument(shape)
        dealings: dict[int, tuple[list[bytes], bytes]] = {}
        for item in raw:
            if not (isinstance(item, list) and len(item) == 3 and codec.is_int(item[0]) and item[0] not in dealings):
                raise BadArgument(shape)
            (sub,) = _b64_list([item[2]], "dealings", 1, 64)
            dealings[item[0]] = (_b64_list(item[1], "dealings", 1024, 128), sub)
        return refresh(st, v, a.epoch(), dealings, a.binary("transcript_hash", 32))
