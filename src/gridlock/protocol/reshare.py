"""Refresh and reshare as one three-round protocol on the round engine (:mod:`gridlock.crypto.reshare`).

Nodes are numbered by share index: a node may be a *dealer* (holds a share of the old epoch and
is among ``dealers``), a *receiver* (in ``new_participants``), or both — "guardian 4 keeps its
seat" in a reshare, everyone in a refresh.

1. broadcast (dealers): the old epoch's public package, the dealer's Feldman commitment, and the
   digest of the parameters it was given (scheme, refresh or reshare, dealers, new committee, new
   threshold) — compared first by every node, so nodes given different parameters abort with
   ``inputs-mismatch`` naming nobody (SECURITY #28), and dealers of different epochs with
   ``epoch-mismatch``;
2. point-to-point, carrying the echo of round 1: each dealer's share for each receiver and, for
   ``ecdsa-secp256k1``, a fresh pairwise OT setup among the receivers (refresh renews it too: a
   full re-run of the base OTs, so no correlation of the old epoch survives);
3. broadcast (receivers): the new epoch's transcript hash.  Everyone — dealers that leave
   included — finishes only when every receiver confirmed the same hash.

Receivers output their new :class:`KeyShare` (epoch + 1); nodes that only deal output ``None``.

Where the old secret is used.  A refresh deals a sharing of zero (no secret in it); only the last
step, adding the Feldman-checked sub-shares to the old share, needs the secret.  A holder whose
share is kept elsewhere (the enclave guardian's custody contract) passes ``combine``
(:data:`RefreshCombiner`): it does that step where the share is and returns the new share's public
view (:class:`~gridlock.crypto.sealed.SealedShare`).  A reshare's dealing carries ``λ_i·s_i``, and a
receiver's new share is the sum of what it receives: such a holder passes ``custody``
(:class:`~gridlock.protocol.custody.CustodyReshare`), which deals and combines in its contract, and
every sub-share to or from it travels sealed (``channel``, :mod:`gridlock.protocol.custody`).

Blame: a receiver that gets a bad share names the dealer and its complaint carries the dealer's
signed commitment and share; every other node re-runs the Feldman check (:meth:`ReshareParty._audit`)
— the complaint step of Pedersen's VSS/DKG (Gennaro et al., J. Cryptology 2007) on signed messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

from gridlock.crypto import codec, transcript, vss
from gridlock.crypto import reshare as rs
from gridlock.crypto.ecdsa import setup as ecdsa_setup
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare, validate_threshold
from gridlock.crypto.polynomial import validate_indices
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError, ProtocolAbort, blame_malformed
from gridlock.protocol.custody import SEALED, Channel, CustodyReshare
from gridlock.protocol.message import Message
from gridlock.protocol.party import CannotJudge, RoundProtocol, RoundSpec, inputs_mismatch

ECDSA = "ecdsa-secp256k1"
INPUTS_LABEL = b"gridlock/reshare/inputs/v1"


def inputs_digest(
    scheme: str,
    refresh: bool,
    dealers: Sequence[int],
    receivers: Sequence[int],
    new_threshold: int,
    context: bytes = b"",
) -> bytes:
    """The parameters every node of a refresh/reshare must have been given (the old epoch itself
    is compared through the dealers' public packages); ``context`` is what the caller binds to the
    key change besides (a guardian: the vault's owner set and policy, so a new holder given another
    owner or policy than the dealers hold is an abort before anything is dealt)."""
    return transcript.digest(
        INPUTS_LABEL,
        scheme.encode(),
        b"refresh" if refresh else b"reshare",
        transcript.seq(transcript.int_field(d) for d in sorted(dealers)),
        transcript.seq(transcript.int_field(j) for j in sorted(receivers)),
        transcript.int_field(new_threshold),
        context,
    )


RefreshCombiner = Callable[[Mapping[int, Sequence[Point]], Mapping[int, int], bytes], KeyShare]
"""The refresh's last step where the old share is: (every dealer's full commitment, the sub-share
each dealer sent this holder, the new epoch's transcript hash) → the new share (or its public view).
It must check the sub-shares against the commitments as :func:`gridlock.crypto.reshare.finalize` does."""


class ReshareParty(RoundProtocol[KeyShare | None]):
    AUDITED = frozenset(
        {"decode", "reshare-old-epoch", "reshare-constant", "reshare-share-feldman", "reshare-confirmation"}
    )

    def __init__(
        self,
        session_id: bytes,
        node: int,
        *,
        scheme: str,
        old_share: KeyShare | None,
        dealers: Sequence[int],
        new_participants: Sequence[int],
        new_threshold: int,
        refresh: bool,
        expected_group_key: Point | None = None,
        context: bytes = b"",
        combine: RefreshCombiner | None = None,
        custody: CustodyReshare | None = None,
        channel: Channel | None = None,
    ) -> None:
        self.scheme = get_scheme(scheme)
        order = self.scheme.group.order
        self.dealers = tuple(sorted(validate_indices(dealers, order)))
        self.receivers = tuple(sorted(validate_indices(new_participants, order)))
        validate_threshold(new_threshold, len(self.receivers))
        self.new_threshold = new_threshold
        self.refresh = refresh
        self.expected_group_key = expected_group_key
        if old_share is not None:
            if old_share.scheme != self.scheme.name or old_share.index != node:
                raise InvalidParameterError("the old share must be this node's share of this scheme")
            if node not in self.dealers:
                raise InvalidParameterError("a node holding an old share must be among the dealers")
            if len(self.dealers) < old_share.threshold or not set(self.dealers) <= set(old_share.participants):
                raise InvalidParameterError(
                    f"at least {old_share.threshold} holders of the old epoch must deal, all of them holders"
                )
            if old_share.depth:
                raise InvalidParameterError("reshare the master key, not a derived child key")
        elif node in self.dealers:
            raise InvalidParameterError("a dealer needs its share of the old epoch")
        if refresh:
            if old_share is None or self.dealers != self.receivers or new_threshold != old_share.threshold:
                raise InvalidParameterError("refresh: every current holder deals and receives, same threshold")
            if self.dealers != tuple(old_share.participants):
                raise InvalidParameterError("refresh needs all current holders; use reshare to change the committee")
        if combine is not None and not refresh:
            raise InvalidParameterError("only a refresh combines its sub-shares where the old share is")
        if custody is not None and (refresh or self.scheme.name == ECDSA):
            raise InvalidParameterError("a custody contract reshares FROST shares; a refresh passes combine")
        self.old_share = old_share
        self._combine = combine
        self._custody = custody
        self._channel = channel if channel is not None else Channel(session_id, "", node)
        self._inputs = inputs_digest(self.scheme.name, refresh, self.dealers, self.receivers, new_threshold, context)
        nodes = sorted(set(self.dealers) | set(self.receivers))
        p2p_senders = set(self.dealers) | (set(self.receivers) if self.scheme.name == ECDSA else set())
        rounds = (
            RoundSpec(broadcast=True, senders=frozenset(self.dealers)),
            RoundSpec(broadcast=False, senders=frozenset(p2p_senders)),
            RoundSpec(broadcast=True, senders=frozenset(self.receivers)),
        )
        super().__init__(session_id, node, nodes, rounds)
        self._dealing: rs.Dealing | None = None
        self._own_commitment: list[Point] | None = None
        self._sealed_out: dict[int, bytes] = {}
        self._old: rs.PublicPackage | None = rs.PublicPackage.of(old_share) if old_share else None
        self._raw_commitments: dict[int, object] = {}
        self._commitments: dict[int, list[Point]] = {}
        self._round1: dict[int, bytes] = {}
        self._setup: ecdsa_setup.SetupRound | None = None
        self._th: bytes | None = None
        self._new: KeyShare | None = None

    @classmethod
    def for_refresh(cls, session_id: bytes, share: KeyShare, combine: RefreshCombiner | None = None) -> ReshareParty:
        """A holder's party in a proactive refresh: every current holder deals and receives."""
        ids = list(share.participants)
        return cls(
            session_id,
            share.index,
            scheme=share.scheme,
            old_share=share,
            dealers=ids,
            new_participants=ids,
            new_threshold=share.threshold,
            refresh=True,
            combine=combine,
        )

    @property
    def is_receiver(self) -> bool:
        return self.index in self.receivers

    def _receives_p2p(self, round_no: int, sender: int) -> bool:
        if not self.is_receiver:
            return False
        return sender in self.dealers or (self.scheme.name == ECDSA and sender in self.receivers)

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            if self.old_share is None:
                return {}
            if self._custody is not None:
                commitment, self._sealed_out = self._custody.deal(self.dealers, self.receivers, self.new_threshold)
            else:
                self._dealing = rs.deal(self.old_share, self.dealers, self.new_threshold, refresh=self.refresh)
                commitment = self._dealing.commitment
            self._own_commitment = list(commitment)
            payload = self.round1_payload(commitment)
            self._round1[self.index] = payload
            return {None: payload}
        if round_no == 2:
            return self._round2(inbox)
        if round_no == 3:
            return self._round3(inbox)
        assert self._th is not None
        bad = [j for j, h in inbox.items() if h != self._th]
        if bad:
            raise ProtocolAbort(bad, "reshare-confirmation", "receivers confirmed a different transcript")
        self._finish(self._new)
        return {}

    def _audit(self, accused: int, proofs: Mapping[int, Message]) -> None:
        """Re-run on a dealer's signed messages the checks of :meth:`_round2` and :meth:`_round3`:
        its description of the old epoch (when this node holds it), its commitment's length and
        constant term, the Feldman check of the share it sent, its confirmation."""
        r1, r2, r3 = proofs.get(1), proofs.get(2), proofs.get(3)
        full: list[Point] | None = None
        if r1 is not None:
            package, raw, inputs = self._read_round1(accused, r1.payload)
            if inputs != self._inputs or self._old is None:
                raise CannotJudge
            if package != self._old.to_bytes():
                if self.old_share is None:
                    raise CannotJudge  # a node without the old epoch cannot tell who describes it right
                rs.agree_on_public_data({accused: package}, self.dealers, self._old, None, "reshare-old-epoch")
                raise CannotJudge  # another epoch: not a provable fault
            sent = rs.decode_commitment(self.scheme, raw, self.new_threshold, refresh=self.refresh)
            full = rs.full_commitment(self.scheme, self._old, accused, self.dealers, sent, refresh=self.refresh)
        if r2 is not None and self.scheme.name == ECDSA:
            raise CannotJudge  # round 2 also carries the OT setup, checked by its own code
        if r2 is not None and r2.recipient is not None and accused in self.dealers:
            m = codec.load_map(r2.payload, frozenset(), frozenset({0, 1, SEALED}))
            if r2.recipient in self._channel.custody_keys:
                self._channel.sealed_from("reshare", accused, m)  # in the clear to a custody holder: a fault
            if SEALED in m:
                raise CannotJudge  # sealed to the recipient: only it (or its contract) can open it
            if 0 not in m:
                raise DecodeError("a dealer's round-2 message lacks the share")
            share = codec.scalar(self.scheme.group, m[0])
            if full is not None and not vss.verify(self.scheme.group, full, r2.recipient, share):
                raise ProtocolAbort(
                    [accused], "reshare-share-feldman", f"share sent to {r2.recipient} fails Feldman verification"
                )
        if r3 is not None:
            if self._th is None:
                raise CannotJudge
            if r3.payload != self._th:
                raise ProtocolAbort([accused], "reshare-confirmation", "confirmed a different transcript")

    def round1_payload(self, commitment: Sequence[Point]) -> bytes:
        """A dealer's round-1 message: the old epoch's public data, its commitment, the inputs."""
        assert self._old is not None
        return codec.dumps({0: self._old.to_bytes(), 1: [c.encode() for c in commitment], 2: self._inputs})

    @staticmethod
    def _read_round1(d: int, data: bytes) -> tuple[bytes, object, bytes]:
        with blame_malformed(d, "reshare round-1 message"):
            m = codec.load_map(data, frozenset({0, 1, 2}))
            return codec.get_bytes(m, 0), m[1], codec.get_bytes(m, 2, 32)

    def _round2(self, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        packages: dict[int, bytes] = {}
        read = {d: self._read_round1(d, data) for d, data in inbox.items()}
        differ = [d for d, (_, _, inputs) in read.items() if inputs != self._inputs]
        if differ:  # before any check that can blame (SECURITY #28)
            raise inputs_mismatch(differ)
        for d, (package, raw, _) in read.items():
            self._round1[d] = inbox[d]
            packages[d] = package
            self._raw_commitments[d] = raw
        self._old = rs.agree_on_public_data(
            packages, self.dealers, self._old, self.expected_group_key, "reshare-old-epoch"
        )
        for d in self.dealers:
            if d == self.index:
                assert self._own_commitment is not None
                sent = self._own_commitment
            else:
                sent = self.decode(
                    d,
                    partial(
                        rs.decode_commitment,
                        self.scheme,
                        self._raw_commitments[d],
                        self.new_threshold,
                        refresh=self.refresh,
                    ),
                )
            self._commitments[d] = rs.full_commitment(
                self.scheme, self._old, d, self.dealers, sent, refresh=self.refresh
            )
        self._th = rs.transcript_hash(
            self.session_id, self._old, self.new_threshold, self.receivers, self._round1, refresh=self.refresh
        )
        out: dict[int | None, bytes] = {}
        if self.is_receiver and self.scheme.name == ECDSA:
            self._setup = ecdsa_setup.SetupRound(
                self.session_id, self.index, [j for j in self.receivers if j != self.index]
            )
        for j in self.receivers:
            if j == self.index:
                continue
            msg: dict[int, bytes] = {}
            if self._dealing is not None:
                msg.update(
                    self._channel.to("reshare", j, self.scheme.group.scalar_to_bytes(self._dealing.polynomial(j)))
                )
            elif j in self._sealed_out:
                msg[SEALED] = self._sealed_out[j]
            if self._setup is not None:
                msg[1] = self._setup.message_for(j)
            if msg:
                out[j] = codec.dumps(msg)
        return out

    def _round3(self, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if not self.is_receiver:
            return {}
        assert self._old is not None and self._th is not None
        g = self.scheme.group
        shares: dict[int, int] = {}
        sealed: dict[int, bytes] = {}
        pairs = {}
        for j, data in inbox.items():
            with blame_malformed(j, "reshare round-2 message", also=(KeyError,)):
                m = codec.load_map(data, frozenset(), frozenset({0, 1, SEALED}))
                if j in self.dealers and self._custody is not None:
                    sealed[j] = self._channel.sealed_from("reshare", j, m)
                elif j in self.dealers:
                    shares[j] = codec.scalar(g, self._channel.read("reshare", j, m, g.scalar_len))
                if self._setup is not None and j in self.receivers:
                    pairs[j] = self._setup.finish(j, codec.get_bytes(m, 1))
        if self._dealing is not None:
            shares[self.index] = self._dealing.polynomial(self.index)
            self._dealing = None
        commitments = {d: self._commitments[d] for d in self.dealers}
        if self._combine is not None or self._custody is not None:
            if self._combine is not None:
                new = self._combine(commitments, shares, self._th)
            else:
                assert self._custody is not None
                new = self._custody.combine(
                    self._old, self.receivers, self.new_threshold, commitments, sealed, self._th
                )
            if (new.index, new.epoch, new.transcript_hash) != (self.index, self._old.epoch + 1, self._th):
                raise InvalidParameterError("the new share is not this holder's share of the new epoch")
            if new.group_key != self._old.group_key:
                raise InvalidParameterError("the new share is not of the same key")
            self._new = new
            return {None: self._th}
        new = rs.finalize(
            self.scheme,
            self._old,
            self.index,
            self.new_threshold,
            self.receivers,
            commitments,
            shares,
            self._th,
            old_secret=self.old_share.secret if self.refresh and self.old_share else None,
        )
        if self._setup is not None:
            new = replace(new, ext=ecdsa_setup.to_ext(pairs), banned=set())
            self._setup = None
        self._new = new
        return {None: self._th}
