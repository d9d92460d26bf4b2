"""Repair as a three-round protocol (:mod:`gridlock.crypto.repair`) among ``t`` or more helpers
and the holder ``ℓ`` who lost its share.

1. broadcast (helpers): the key's public package, the published parts ``Δ_{i→k}`` and the digest
   of the parameters the helper was given (scheme, helpers, lost holder) — compared first, so a
   coordinator that hands out different parameters gets an abort naming nobody (SECURITY #28);
2. point-to-point, carrying the echo of round 1 (to the lost holder too, so everyone saw the same
   commitments): ``δ_{i→k}`` to each helper ``k``;
3. point-to-point: ``σ_k`` to the lost holder, who checks and rebuilds its share.

For ``ecdsa-secp256k1`` the rebuilt share has no pairwise OT setup (that secret state was lost
with the device): it signs again after the refresh that always follows a repair (DESIGN §1).

Blame: a helper that gets a part other than the one published names its sender, and the
complaint carries the sender's signed round-1 and round-2 messages; the others re-check
``δ·G = Δ`` on them (:meth:`RepairParty._audit`).  A wrong sum reaches only the lost holder, which
names the helper itself (the helpers have finished by then).

A holder whose share a custody contract keeps (the enclave guardian) passes ``custody``
(:class:`~gridlock.protocol.custody.CustodyRepair`): its split, its sum and, when it is the one
repaired, the rebuilding run in its contract, and every part and sum to or from it travels sealed
(``channel``, :mod:`gridlock.protocol.custody`; a sealed part cannot be re-checked by the others,
whose audit then leaves its sender a suspect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridlock.crypto import codec, transcript
from gridlock.crypto import repair as rp
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import validate_indices
from gridlock.crypto.reshare import PublicPackage, agree_on_public_data
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError, ProtocolAbort, blame_malformed
from gridlock.protocol.custody import SEALED, Channel, CustodyRepair
from gridlock.protocol.message import Message
from gridlock.protocol.party import CannotJudge, RoundProtocol, RoundSpec, inputs_mismatch

INPUTS_LABEL = b"gridlock/repair/inputs/v1"


def inputs_digest(scheme: str, helpers: Sequence[int], lost: int, context: bytes = b"") -> bytes:
    """The parameters every node must have been given; ``context`` as in the reshare's."""
    return transcript.digest(
        INPUTS_LABEL,
        scheme.encode(),
        transcript.seq(transcript.int_field(i) for i in sorted(helpers)),
        transcript.int_field(lost),
        context,
    )


class RepairParty(RoundProtocol[KeyShare | None]):
    AUDITED = frozenset({"decode", "repair-public-data", "repair-split", "repair-part"})

    def __init__(
        self,
        session_id: bytes,
        node: int,
        *,
        scheme: str,
        helper_share: KeyShare | None,
        helpers: Sequence[int],
        lost: int,
        expected_group_key: Point | None = None,
        context: bytes = b"",
        custody: CustodyRepair | None = None,
        channel: Channel | None = None,
    ) -> None:
        self.scheme = get_scheme(scheme)
        self.helpers = tuple(sorted(validate_indices(helpers, self.scheme.group.order)))
        if lost in self.helpers:
            raise InvalidParameterError("the holder being repaired cannot be its own helper")
        if helper_share is not None:
            if helper_share.index != node or node not in self.helpers or helper_share.scheme != self.scheme.name:
                raise InvalidParameterError("a helper's share must be its own, of this scheme")
            if len(self.helpers) < helper_share.threshold or not set(self.helpers) <= set(helper_share.participants):
                raise InvalidParameterError(f"repair needs at least {helper_share.threshold} holders as helpers")
            if lost not in helper_share.participants:
                raise InvalidParameterError(f"{lost} is not a holder of this key")
        elif node != lost:
            raise InvalidParameterError("only helpers and the holder being repaired take part")
        self.lost = lost
        self._inputs = inputs_digest(self.scheme.name, self.helpers, lost, context)
        self.expected_group_key = expected_group_key
        self.share = helper_share
        self._custody = custody
        self._channel = channel if channel is not None else Channel(session_id, "", node)
        self._sealed_out: dict[int, bytes] = {}
        rounds = (
            RoundSpec(broadcast=True, senders=frozenset(self.helpers)),
            RoundSpec(broadcast=False, senders=frozenset(self.helpers)),
            RoundSpec(broadcast=False, senders=frozenset(self.helpers)),
        )
        super().__init__(session_id, node, sorted({*self.helpers, lost}), rounds)
        self._pub: PublicPackage | None = PublicPackage.of(helper_share) if helper_share else None
        self._parts: dict[int, int] = {}
        self._published: dict[int, list[Point]] = {}

    def _receives_p2p(self, round_no: int, sender: int) -> bool:
        return self.index == self.lost if round_no == 3 else True

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        g = self.scheme.group
        if round_no == 1:
            if self.share is None:
                return {}
            assert self._pub is not None
            if self._custody is not None:
                deltas, self._sealed_out = self._custody.split(self.helpers, self.lost)
            else:
                self._parts = rp.split(self.share, self.helpers, self.lost)
                deltas = [g.base_mul(self._parts[k]) for k in self.helpers]
            self._published[self.index] = deltas
            return {None: codec.dumps({0: self._pub.to_bytes(), 1: [d.encode() for d in deltas], 2: self._inputs})}
        if round_no == 2:
            self._read_round1(inbox)
            if self.share is None:
                return {}
            out: dict[int | None, bytes] = {}
            for k in self.helpers:
                if k == self.index:
                    continue
                if self._custody is not None:
                    out[k] = codec.dumps({SEALED: self._sealed_out[k]})
                else:
                    out[k] = codec.dumps(self._channel.to("repair-part", k, g.scalar_to_bytes(self._parts[k])))
            out[self.lost] = codec.dumps({})
            return out
        if round_no == 3:
            if self.share is None:
                return {}
            if self._custody is not None:
                sealed = {
                    i: self._channel.sealed_from("repair-part", i, self._load(i, data)) for i, data in inbox.items()
                }
                return {self.lost: codec.dumps({SEALED: self._custody.sum(self._published, sealed)})}
            pos = self.helpers.index(self.index)
            sigma = self._parts[self.index]
            for i, data in inbox.items():
                sigma += self._check_part(i, data, self._published[i][pos])
            self._parts = {}
            return {
                self.lost: codec.dumps(self._channel.to("repair-sum", self.lost, g.scalar_to_bytes(sigma % g.order)))
            }
        if self.share is not None:
            self._finish(None)
            return {}
        assert self._pub is not None
        if self._custody is not None:
            sealed = {k: self._channel.sealed_from("repair-sum", k, self._load(k, data)) for k, data in inbox.items()}
            one = self._custody.rebuild(self._pub, self._published, sealed)
            if (one.index, one.epoch, one.group_key) != (self.lost, self._pub.epoch, self._pub.group_key):
                raise InvalidParameterError("the rebuilt share is not this holder's share of the key")
            self._finish(one)
            return {}
        sigmas: dict[int, int] = {}
        for k, data in inbox.items():
            raw = self._channel.read("repair-sum", k, self._load(k, data), g.scalar_len)
            with blame_malformed(k, "repair sum"):
                sigmas[k] = codec.scalar(g, raw)
            rp.check_sigma(g, k, sigmas[k], self._published, self.helpers.index(k))
        self._finish(rp.rebuild(self._pub, self.lost, sigmas))
        return {}

    @staticmethod
    def _load(sender: int, data: bytes) -> dict[int, object]:
        with blame_malformed(sender, "repair message"):
            return codec.load_map(data, frozenset(), frozenset({0, SEALED}))

    def _check_part(self, i: int, data: bytes, published: Point) -> int:
        g = self.scheme.group
        raw = self._channel.read("repair-part", i, self._load(i, data), g.scalar_len)
        with blame_malformed(i, "repair part"):
            delta = codec.scalar(g, raw)
        if g.base_mul(delta) != published:
            raise ProtocolAbort([i], "repair-part", "part received does not match the part published")
        return delta

    @staticmethod
    def _parse_round1(i: int, data: bytes) -> tuple[bytes, list[object], bytes]:
        """The parts of a round-1 message whose form does not depend on the parameters."""
        with blame_malformed(i, "repair round-1 message"):
            m = codec.load_map(data, frozenset({0, 1, 2}))
            return codec.get_bytes(m, 0), codec.get_list(m, 1), codec.get_bytes(m, 2, 32)

    def _deltas(self, i: int, raw: list[object]) -> list[Point]:
        with blame_malformed(i, "repair round-1 message"):
            if len(raw) != len(self.helpers):
                raise DecodeError(f"{len(raw)} published parts for {len(self.helpers)} helpers")
            return [codec.point(self.scheme.group, d) for d in raw]

    def _read_round1(self, inbox: Mapping[int, bytes]) -> None:
        g = self.scheme.group
        read = {i: self._parse_round1(i, data) for i, data in inbox.items()}
        differ = [i for i, (_, _, inputs) in read.items() if inputs != self._inputs]
        if differ:  # before any check that can blame (SECURITY #28)
            raise inputs_mismatch(differ)
        packages = {}
        for i, (package, raw, _) in read.items():
            packages[i] = package
            self._published[i] = self._deltas(i, raw)
        self._pub = agree_on_public_data(
            packages, self.helpers, self._pub, self.expected_group_key, "repair-public-data"
        )
        for i in self.helpers:
            rp.check_split(g, self._pub, self.helpers, self.lost, i, self._published[i])

    def _audit(self, accused: int, proofs: Mapping[int, Message]) -> None:
        """Re-run on a helper's signed messages the checks of round 2 (its public data when this
        party holds the key, its split) and of round 3 (the part it sent to another helper)."""
        g = self.scheme.group
        r1, r2 = proofs.get(1), proofs.get(2)
        deltas: list[Point] | None = None
        if r1 is not None:
            package, raw, inputs = self._parse_round1(accused, r1.payload)
            if inputs != self._inputs or self._pub is None:
                raise CannotJudge
            deltas = self._deltas(accused, raw)
            if package != self._pub.to_bytes():
                if self.share is None:
                    raise CannotJudge
                agree_on_public_data({accused: package}, self.helpers, self._pub, None, "repair-public-data")
                raise CannotJudge
            rp.check_split(g, self._pub, self.helpers, self.lost, accused, deltas)
        if r2 is not None and r2.recipient in self.helpers and deltas is not None:
            m = self._load(accused, r2.payload)
            if r2.recipient in self._channel.custody_keys:
                self._channel.sealed_from("repair-part", accused, m)  # in the clear to a custody holder: a fault
            if SEALED in m:
                raise CannotJudge  # sealed to the recipient: only it (or its contract) can open it
            self._check_part(accused, r2.payload, deltas[self.helpers.index(r2.recipient)])
