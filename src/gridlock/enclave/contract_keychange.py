"""Reshare and repair inside the custody contract: the share's arithmetic never leaves it (issue 17 #4).

The guardian process runs the protocol rounds (:class:`gridlock.protocol.reshare.ReshareParty`,
:class:`gridlock.protocol.repair.RepairParty`) with the share's public data; every step that needs
the secret share, or a value that would reveal it, runs here, and every such value leaves sealed
(:mod:`gridlock.crypto.x25519_seal`) to the guardian it is meant for — see
:mod:`gridlock.protocol.custody` for the whole scheme.

* ``custody_key`` — the sender's X25519 custody key (made once from ``env.block.random``; its
  private half stays here): what other guardians seal to this one.  Its public half goes into the
  guardian's identity (:attr:`gridlock.wire.identity.PublicIdentity.custody_key`), whose guardian
  id hashes it.  One per sender: a value sealed to one guardian opens in no other's vault.
* ``reshare_deal`` — a dealer's ``λ_i·s_i`` dealt to the new committee (Desmedt–Jajodia; see
  :mod:`gridlock.crypto.reshare`): the commitment, and each receiver's sub-share sealed to it.
* ``reshare_combine`` — a receiver's new share from the sub-shares sealed to it, each
  Feldman-checked against its dealer's commitment; staged, as a refresh's is.
* ``repair_split`` / ``repair_sum`` — a repair helper's parts of ``ζ_i·s_i`` (Laing–Stinson, see
  :mod:`gridlock.crypto.repair`), each sealed to its helper; then its sum ``σ`` of the parts sealed
  to it, each checked against its published image, sealed to the holder being repaired.
* ``repair_rebuild`` — the holder being repaired: its share from the sums sealed to it; staged.

What the host cannot do with these.  Dealing and splitting use the share, so they need the owner's
approval of that reshare or repair of this vault, checked against the pinned owner
(:func:`gridlock.enclave.contract_owner.approve_key_change`); the dealers, committee, helpers, lost
holder and threshold are the approved request's, not the host's.  The recipients' keys are read
from their public identities, each of which must hash to the guardian id the approved request
names — the host cannot slip in a key of its own.  Every sealed value is bound to the vault, the
session, the step, its sender and its recipient (:func:`gridlock.protocol.custody.context`), so a
value sealed for one vault opens into no other.  The randomness (polynomial coefficients, parts,
ephemeral keys) is drawn from ``env.block.random`` with the contract's counter and hashed with the
share and every input: a simulated execute answers the same sealed values for the same inputs, and
unrelated ones for any other.  What the host gets back is commitments, published images and
ciphertexts, and the new share's public view.

What the host can do: withhold, or feed wrong values — which at worst leaves this guardian with a
share that does not fit the key (the run fails its checks), never with one the host knows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from gridlock.crypto import codec, vss, x25519_seal
from gridlock.crypto import repair as rp
from gridlock.crypto import reshare as rs
from gridlock.crypto.group import Group, Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import Polynomial, lagrange_coefficient
from gridlock.crypto.schemes import get_scheme
from gridlock.enclave import contract_owner
from gridlock.enclave.contract_msg import Args, b64_decode, b64s, sealed_view
from gridlock.enclave.cosmwasm import StdError, fail
from gridlock.enclave.custody_state import CustodyState, VaultState, decode_share, own, storage_key
from gridlock.errors import GridlockError, ProtocolAbort
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import BadArgument, KeystoreError
from gridlock.protocol.custody import CUSTODY_SCHEMES, context
from gridlock.wire import ops
from gridlock.wire.identity import PublicIdentity

__all__ = ["KeyChangeExecutes"]

_LABEL: Final = b"gridlock/custody/key-change/v1"
_CUSTODY_LABEL: Final = b"gridlock/custody/custody-key/v1"
MAX_NODES: Final = 64
MAX_IDENTITY_BYTES: Final = 4096


# --- the custody key ------------------------------------------------------------------------------
def _custody_private(st: CustodyState, sender: str) -> bytes:
    raw = st.s.get(storage_key("custody_key", sender))
    if raw is None:
        raise fail("no-custody-key", "this sender has no custody key: execute custody_key first")
    return raw


def custody_key(st: CustodyState, sender: str) -> dict[str, Any]:
    """The sender's custody key, made on first use from the block's randomness."""
    key = storage_key("custody_key", sender)
    private = st.s.get(key)
    if private is None:
        if st.random is None:
            raise BadArgument("a custody key is made by an execute (it needs the block's randomness)")
        private = hashlib.sha256(codec.dumps([_CUSTODY_LABEL, st.random, st.next_counter(), sender])).digest()
        st.s.set(key, private)
    return {"custody_key": b64s(x25519_seal.public_key(private))}


# --- reading the request ----------------------------------------------------------------------------
def _frost(v: VaultState) -> None:
    if v.scheme not in CUSTODY_SCHEMES:
        raise BadArgument(f"{v.scheme} shares are not reshared inside the contract")


def _approved(
    st: CustodyState, v: VaultState, epoch: int, approval: object, op: str
) -> tuple[ops.Reshare | ops.Repair, bytes]:
    """The owner-approved request for ``op`` of epoch ``epoch`` (typed, decoded as the guardians
    decode it), and its subject bytes."""
    subject = contract_owner.approve_key_change(st, v, approval, op)
    try:
        req = ops.decode(op, codec.loads(subject))
    except (GridlockError, ValueError) as exc:
        raise BadArgument(f"the approved request does not decode: {exc}") from None
    if not isinstance(req, ops.Reshare | ops.Repair):
        raise BadArgument("not a key change")
    if (req.vault, req.scheme, req.epoch) != (v.vault_id, v.scheme, epoch):
        raise fail("unauthorized", "the approval is for another vault, scheme or epoch")
    return req, subject


def _holding(
    st: CustodyState, sender: str, a: Args, op: str
) -> tuple[VaultState, KeyShare, tuple[ops.Reshare | ops.Repair, bytes]]:
    """What a step with the share starts from: the sender's vault, its share of the request's
    epoch, and the owner-approved request (used up here)."""
    v = own(st.need_vault(a.vault_id()), sender)
    _frost(v)
    epoch = a.epoch()
    rules.require_usable(v.vault_id, epoch, v.epochs[epoch].state if epoch in v.epochs else None)
    approved = _approved(st, v, epoch, a.body.get("approval"), op)
    return v, decode_share(st.share_bytes(v.vault_id, epoch)), approved


def _recipients(raw: object, ids: Mapping[int, str]) -> dict[int, bytes]:
    """``[[index, public identity (base64)], …]`` for exactly the nodes ``ids``: each identity's
    guardian id must be the one the approved request gives that index; their seal keys."""
    shape = "recipients: a list of [index, public identity], one per recipient"
    if not isinstance(raw, list) or len(raw) > MAX_NODES:
        raise BadArgument(shape)
    keys: dict[int, bytes] = {}
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and codec.is_int(item[0]) and isinstance(item[1], str)):
            raise BadArgument(shape)
        j = item[0]
        if j not in ids or j in keys:
            raise BadArgument(f"recipient {j} is not one of the request's, or is given twice")
        data = b64_decode(item[1], "recipients")
        if len(data) > MAX_IDENTITY_BYTES:
            raise BadArgument("a public identity is at most 4096 bytes")
        try:
            public = PublicIdentity.from_bytes(data)
        except GridlockError:
            raise BadArgument(f"recipient {j}: not a public identity") from None
        if public.guardian_id != ids[j]:
            raise fail("unauthorized", f"recipient {j}'s identity is not guardian {ids[j]} of the approved request")
        keys[j] = public.seal_key
    if set(keys) != set(ids):
        raise BadArgument(f"recipients: one identity for each of {sorted(ids)}")
    return keys


def _indices(members: Mapping[int, str], ids: Sequence[str], what: str) -> list[int]:
    index = {g: i for i, g in members.items()}
    if any(g not in index for g in ids):
        raise BadArgument(f"every one of the {what} must be a holder of the vault")
    return sorted(index[g] for g in ids)


class _Randomness:
    """The scalars and ephemeral seeds of one step: ``env.block.random`` and the contract's counter,
    hashed with the share and every input (``bound``)."""

    def __init__(self, st: CustodyState, group: Group, share: KeyShare, bound: list[Any]) -> None:
        if st.random is None:
            raise BadArgument("this step needs the block's randomness (an execute)")
        secret = group.scalar_to_bytes(share.secret)
        self._seed = hashlib.sha256(codec.dumps([_LABEL, st.random, st.next_counter(), secret, *bound])).digest()
        self._group = group

    def scalar(self, label: str, n: int) -> int:
        for attempt in range(256):
            h = hashlib.sha512(codec.dumps([self._seed, label, n, attempt])).digest()
            k = int.from_bytes(h, "big") % self._group.order
            if k:
                return k
        raise AssertionError("unreachable: 256 zero scalars in a row")

    def ephemeral(self, label: str, n: int) -> bytes:
        return hashlib.sha256(codec.dumps([self._seed, "ephemeral", label, n])).digest()


def _points(group: Group, raw: object, what: str, length: int) -> list[Point]:
    if not isinstance(raw, list) or len(raw) != length or not all(isinstance(p, str) for p in raw):
        raise BadArgument(f"{what}: a list of {length} base64 points")
    try:
        return [codec.point(group, b64_decode(p, what)) for p in raw]
    except GridlockError:
        raise BadArgument(f"{what}: not points of the group") from None


def _by_node(raw: object, what: str) -> dict[int, object]:
    """``[[index, value], …]`` with distinct indices → ``{index: value}``."""
    if not isinstance(raw, list) or len(raw) > MAX_NODES:
        raise BadArgument(f"{what}: a list of [index, value]")
    out: dict[int, object] = {}
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and codec.is_int(item[0]) and item[0] not in out):
            raise BadArgument(f"{what}: a list of [index, value], each index once")
        out[item[0]] = item[1]
    return out


def _open_all(
    st: CustodyState, sender: str, group: Group, sealed: Mapping[int, object], ctx: Callable[[int], bytes]
) -> dict[int, int]:
    """The scalars each node sealed to the sender's custody key (``ctx``: the context of node
    ``i``'s); those that do not open are their senders' fault, refused naming them all."""
    private = _custody_private(st, sender)
    out, bad = {}, []
    for i, blob in sorted(sealed.items()):
        if not isinstance(blob, str):
            raise BadArgument("a sealed value is base64")
        try:
            out[i] = codec.scalar(group, x25519_seal.open_sealed(private, b64_decode(blob, "sealed"), ctx(i)))
        except GridlockError:
            bad.append(i)
    if bad:
        raise _blame(ProtocolAbort(bad, "sealed-value", "what it sealed to this guardian does not open to a scalar"))
    return out


def _seal(
    key: bytes, value: bytes, session: bytes, v: VaultState, step: str, me: int, to: int, ephemeral: bytes
) -> bytes:
    """``value`` sealed to node ``to``'s ``key``, bound to its place (:func:`gridlock.protocol.custody.context`)."""
    return x25519_seal.seal(key, value, context(session, v.vault_id, step, me, to), ephemeral)


def _package(raw: object) -> rs.PublicPackage:
    if not isinstance(raw, str):
        raise BadArgument("package: the key's public data, base64")
    try:
        return rs.PublicPackage.from_bytes(b64_decode(raw, "package"))
    except GridlockError as exc:
        raise BadArgument(f"package: {exc}") from None


def _check_package(st: CustodyState, v: VaultState | None, package: rs.PublicPackage) -> None:
    """A vault this contract holds at the package's epoch is described by its own share's data."""
    if v is None or package.epoch not in v.epochs:
        return
    mine = decode_share(st.share_bytes(v.vault_id, package.epoch))
    if rs.PublicPackage.of(mine).to_bytes() != package.to_bytes():
        raise BadArgument("package: not the public data of the share this contract holds")


def _blame(exc: ProtocolAbort) -> Exception:
    """A check of what the named nodes sealed to this guardian failed: refused naming them all."""
    if exc.culprits:
        return fail("culprit", f"{','.join(str(i) for i in sorted(exc.culprits))}: {exc.reason}")
    return BadArgument(f"{exc.check}: {exc.reason}")


# --- reshare ------------------------------------------------------------------------------------------
def deal(st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
    """``reshare_deal``: this dealer's sharing of ``λ_i·s_i`` for the approved reshare."""
    v, share, (req, subject) = _holding(st, sender, a, "reshare")
    assert isinstance(req, ops.Reshare)
    me, epoch = share.index, share.epoch
    if req.old_members.get(me) not in req.dealers:
        raise fail("unauthorized", "this holder is not a dealer of the approved reshare")
    if me in req.committee and req.committee[me] != req.old_members[me]:
        raise BadArgument("a staying holder keeps its index")
    dealers = _indices(req.old_members, req.dealers, "dealers")
    if len(dealers) < share.threshold or not set(dealers) <= set(share.participants):
        raise BadArgument(f"a reshare has at least {share.threshold} dealers, holders of the key")
    keys = _recipients(a.body.get("recipients"), {j: g for j, g in req.committee.items() if j != me})
    session = a.binary("session", 64)
    group = share.scheme_obj.group
    rnd = _Randomness(st, group, share, ["reshare", v.vault_id, epoch, session, subject])
    constant = lagrange_coefficient(me, dealers, group.order) * share.secret % group.order
    poly = Polynomial([constant, *(rnd.scalar("coefficient", k) for k in range(1, req.threshold))], group.order)
    commitment = vss.commit(group, poly)
    sealed = [
        [j, b64s(_seal(key, group.scalar_to_bytes(poly(j)), session, v, "reshare", me, j, rnd.ephemeral("reshare", j)))]
        for j, key in sorted(keys.items())
    ]
    if me in req.committee:  # its own sub-share waits here for reshare_combine
        record = [v.instance, group.scalar_to_bytes(poly(me)), [c.encode() for c in commitment]]
        st.s.set(storage_key("dealt", v.vault_id, session), codec.dumps(record))
    return {"commitment": [b64s(c.encode()) for c in commitment], "sealed": sealed}


def combine(st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
    """``reshare_combine``: this receiver's share of the new epoch, staged."""
    vault_id, v, session, package, me = _receiving(st, sender, a, "reshared")
    scheme = get_scheme(package.scheme)
    group = scheme.group
    threshold = a.integer("threshold") or 0
    receivers = _node_list(a.body.get("receivers"), "receivers")
    if me not in receivers:
        raise BadArgument("this holder is not among the receivers")
    raw_commitments = _by_node(a.body.get("dealer_commitments"), "dealer_commitments")
    dealers = sorted(raw_commitments)
    sealed = _by_node(a.body.get("sealed"), "sealed")
    dealt = st.s.get(storage_key("dealt", vault_id, session))
    own_dealing = None if dealt is None else codec.loads(dealt)
    if (me in dealers) != (own_dealing is not None):
        raise BadArgument("this holder deals here (reshare_deal) exactly when it is among the dealers")
    if own_dealing is not None and (v is None or own_dealing[0] != v.instance):
        raise BadArgument("the kept sub-share is of another instance of this vault")
    if set(sealed) != set(dealers) - {me}:
        raise BadArgument("sealed: one sub-share from each dealer but this holder, whose own is kept here")
    th = a.binary("transcript_hash", 32)
    if len(th) != 32:
        raise BadArgument("a transcript hash is 32 bytes")
    if not 2 <= threshold <= len(receivers):
        raise BadArgument("threshold: between 2 and the number of receivers")
    if len(dealers) < package.threshold or not set(dealers) <= set(package.participants):
        raise BadArgument(f"dealer_commitments: at least {package.threshold} dealers, holders of the key")
    try:
        commitments: dict[int, list[Point]] = {}
        for d in dealers:
            points = _points(group, raw_commitments[d], "dealer_commitments", threshold)
            commitments[d] = rs.full_commitment(scheme, package, d, dealers, points, refresh=False)
        shares = _open_all(st, sender, group, sealed, lambda d: context(session, vault_id, "reshare", d, me))
        if own_dealing is not None:
            if [c.encode() for c in commitments[me]] != list(own_dealing[2]):
                raise BadArgument("the commitment given for this holder's own dealing is not the one it made")
            shares[me] = codec.scalar(group, own_dealing[1])
        new = rs.finalize(scheme, package, me, threshold, receivers, commitments, shares, th, old_secret=None)
    except ProtocolAbort as exc:
        raise _blame(exc) from None
    except (StdError, KeystoreError):  # refusals made here, as they are
        raise
    except GridlockError as exc:
        raise BadArgument(f"the reshare does not combine: {exc}") from None
    st.s.remove(storage_key("dealt", vault_id, session))
    st.stage(sender, vault_id, new)
    return sealed_view(new)


def _receiving(
    st: CustodyState, sender: str, a: Args, what: str
) -> tuple[str, VaultState | None, bytes, rs.PublicPackage, int]:
    """What a receiving step starts from: the vault (``None`` if new to this contract), the session,
    the key's public data (this contract's own if it holds that epoch) and this holder's index."""
    vault_id = a.vault_id()
    v = st.vault(vault_id)
    if v is not None:
        own(v, sender)
        _frost(v)
    session = a.binary("session", 64)
    package = _package(a.body.get("package"))
    _check_package(st, v, package)
    if package.scheme not in CUSTODY_SCHEMES:
        raise BadArgument(f"{package.scheme} shares are not {what} inside the contract")
    return vault_id, v, session, package, a.integer("index") or 0


def _node_list(raw: object, what: str) -> list[int]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_NODES or not all(codec.is_int(i) for i in raw):
        raise BadArgument(f"{what}: a list of node indices")
    if sorted(set(raw)) != raw:
        raise BadArgument(f"{what}: distinct indices in increasing order")
    return list(raw)


# --- repair ---------------------------------------------------------------------------------------------
def split(st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
    """``repair_split``: this helper's parts of ``ζ_i·s_i`` for the approved repair."""
    v, share, (req, subject) = _holding(st, sender, a, "repair")
    assert isinstance(req, ops.Repair)
    me, epoch = share.index, share.epoch
    if req.members.get(me) not in req.helpers:
        raise fail("unauthorized", "this holder is not a helper of the approved repair")
    helpers = _indices(req.members, req.helpers, "helpers")
    (lost,) = _indices(req.members, [req.lost], "lost holder")
    if lost in helpers or len(helpers) < share.threshold:
        raise BadArgument(f"a repair has at least {share.threshold} helpers, the lost holder not among them")
    keys = _recipients(a.body.get("recipients"), {k: req.members[k] for k in [*helpers, lost] if k != me})
    session = a.binary("session", 64)
    group = share.scheme_obj.group
    rnd = _Randomness(st, group, share, ["repair", v.vault_id, epoch, session, subject])
    value = lagrange_coefficient(me, helpers, group.order, at=lost) * share.secret % group.order
    parts = {k: rnd.scalar("part", k) for k in helpers[:-1]}
    parts[helpers[-1]] = (value - sum(parts.values())) % group.order
    sealed = []
    for k in helpers:
        if k != me:
            blob = _seal(
                keys[k], group.scalar_to_bytes(parts[k]), session, v, "repair-part", me, k, rnd.ephemeral("part", k)
            )
            sealed.append([k, b64s(blob)])
    record = [
        v.instance,
        epoch,
        me,
        lost,
        helpers,
        group.scalar_to_bytes(parts[me]),
        keys[lost],
        rnd.ephemeral("sum", lost),  # hashed with the parts summed: a sum of other parts gets another key
    ]
    st.s.set(storage_key("split", v.vault_id, session), codec.dumps(record))
    return {"published": [b64s(group.base_mul(parts[k]).encode()) for k in helpers], "sealed": sealed}


def sum_parts(st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
    """``repair_sum``: this helper's ``σ``, sealed to the holder being repaired; the split's record goes."""
    v = own(st.need_vault(a.vault_id()), sender)
    session = a.binary("session", 64)
    raw = st.s.get(storage_key("split", v.vault_id, session))
    if raw is None:
        raise fail("not-found", "no repair split of this session here (or its sum was made)")
    instance, epoch, me, lost, helpers, mine, lost_key, ephemeral = codec.loads(raw)
    if instance != v.instance:
        raise BadArgument("the split was made for another instance of this vault")
    group = get_scheme(v.scheme).group
    published = _by_node(a.body.get("published"), "published")
    sealed = _by_node(a.body.get("sealed"), "sealed")
    others = [k for k in helpers if k != me]
    if set(sealed) != set(others) or not set(others) <= set(published):
        raise BadArgument("sealed / published: a part and the published images of every other helper")
    pos = helpers.index(me)
    images = {i: _points(group, published[i], "published", len(helpers))[pos] for i in others}
    deltas = _open_all(st, sender, group, sealed, lambda i: context(session, v.vault_id, "repair-part", i, me))
    wrong = [i for i in others if group.base_mul(deltas[i]) != images[i]]
    if wrong:
        raise _blame(
            ProtocolAbort(wrong, "repair-part", "the part it sealed to this helper is not the one it published")
        )
    sigma = (codec.scalar(group, mine) + sum(deltas.values())) % group.order
    st.s.remove(storage_key("split", v.vault_id, session))
    ephemeral = hashlib.sha256(codec.dumps([ephemeral, sorted(sealed.items()), sorted(published.items())])).digest()
    blob = _seal(lost_key, group.scalar_to_bytes(sigma), session, v, "repair-sum", me, lost, ephemeral)
    return {"epoch": epoch, "sealed": b64s(blob)}


def rebuild(st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
    """``repair_rebuild``: the repaired holder's share from the sums sealed to it, staged."""
    vault_id, _, session, package, me = _receiving(st, sender, a, "repaired")
    group = get_scheme(package.scheme).group
    if me not in package.participants:
        raise BadArgument(f"{me} is not a holder of this key")
    raw_published = _by_node(a.body.get("published"), "published")
    helpers = sorted(raw_published)
    if me in helpers or len(helpers) < package.threshold or not set(helpers) <= set(package.participants):
        raise BadArgument(f"published: the images of at least {package.threshold} helpers, holders of the key")
    published = {i: _points(group, raw_published[i], "published", len(helpers)) for i in helpers}
    sealed = _by_node(a.body.get("sealed"), "sealed")
    if set(sealed) != set(helpers):
        raise BadArgument("sealed: one sum from each helper")
    try:
        for i in helpers:
            rp.check_split(group, package, helpers, me, i, published[i])
        sigmas = _open_all(st, sender, group, sealed, lambda k: context(session, vault_id, "repair-sum", k, me))
        wrong = [k for k in helpers if _fails(rp.check_sigma, group, k, sigmas[k], published, helpers.index(k))]
        if wrong:
            raise ProtocolAbort(wrong, "repair-sum", "its sum does not match the published parts")
        one = rp.rebuild(package, me, sigmas)
    except ProtocolAbort as exc:
        raise _blame(exc) from None
    except (StdError, KeystoreError):  # refusals made here, as they are
        raise
    except GridlockError as exc:
        raise BadArgument(f"the repair does not rebuild: {exc}") from None
    st.stage(sender, vault_id, one)
    return sealed_view(one)


def _fails(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except ProtocolAbort:
        return True
    return False


# --- the execute messages (their handlers in the contract; the message list is in contract.py) --------------
class KeyChangeExecutes:
    """The custody contract's reshare and repair executes (sender = the vault's owner)."""

    def _x_custody_key(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return custody_key(st, sender)

    def _x_reshare_deal(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return deal(st, sender, a)

    def _x_reshare_combine(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return combine(st, sender, a)

    def _x_repair_split(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return split(st, sender, a)

    def _x_repair_sum(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return sum_parts(st, sender, a)

    def _x_repair_rebuild(self, st: CustodyState, sender: str, a: Args) -> dict[str, Any]:
        return rebuild(st, sender, a)
