"""Repair as a three-round protocol (:mod:`gridlock.crypto.repair`) among ``t`` or more helpers
and the holder ``ℓ`` who lost its share.

1. broadcast (helpers): the key's public package and the published parts ``Δ_{i→k}``;
2. point-to-point, carrying the echo of round 1 (to the lost holder too, so everyone saw the same
   commitments): ``δ_{i→k}`` to each helper ``k``;
3. point-to-point: ``σ_k`` to the lost holder, who checks and rebuilds its share.

For ``ecdsa-secp256k1`` the rebuilt share has no pairwise OT setup (that secret state was lost
with the device): it signs again after the refresh that always follows a repair (DESIGN §1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridlock.crypto import codec
from gridlock.crypto import repair as rp
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import validate_indices
from gridlock.crypto.reshare import PublicPackage, agree_on_public_data
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError, ProtocolAbort
from gridlock.protocol.party import RoundProtocol, RoundSpec


class RepairParty(RoundProtocol[KeyShare | None]):
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
        self.expected_group_key = expected_group_key
        self.share = helper_share
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
            self._parts = rp.split(self.share, self.helpers, self.lost)
            deltas = [g.base_mul(self._parts[k]) for k in self.helpers]
            self._published[self.index] = deltas
            return {None: codec.dumps({0: self._pub.to_bytes(), 1: [d.encode() for d in deltas]})}
        if round_no == 2:
            self._read_round1(inbox)
            if self.share is None:
                return {}
            out: dict[int | None, bytes] = {
                k: codec.dumps({0: g.scalar_to_bytes(self._parts[k])}) for k in self.helpers if k != self.index
            }
            out[self.lost] = codec.dumps({})
            return out
        if round_no == 3:
            if self.share is None:
                return {}
            pos = self.helpers.index(self.index)
            sigma = self._parts[self.index]
            for i, data in inbox.items():
                try:
                    delta = codec.scalar(g, codec.load_map(data, frozenset({0}))[0])
                except DecodeError as exc:
                    raise ProtocolAbort([i], "decode", f"malformed repair part: {exc}") from None
                if g.base_mul(delta) != self._published[i][pos]:
                    raise ProtocolAbort([i], "repair-part", "part received does not match the part published")
                sigma += delta
            self._parts = {}
            return {self.lost: codec.dumps({0: g.scalar_to_bytes(sigma % g.order)})}
        if self.share is not None:
            self._finish(None)
            return {}
        sigmas: dict[int, int] = {}
        assert self._pub is not None
        for k, data in inbox.items():
            try:
                sigmas[k] = codec.scalar(g, codec.load_map(data, frozenset({0}))[0])
            except DecodeError as exc:
                raise ProtocolAbort([k], "decode", f"malformed repair sum: {exc}") from None
            rp.check_sigma(g, k, sigmas[k], self._published, self.helpers.index(k))
        self._finish(rp.rebuild(self._pub, self.lost, sigmas))
        return {}

    def _read_round1(self, inbox: Mapping[int, bytes]) -> None:
        g = self.scheme.group
        packages = {}
        for i, data in inbox.items():
            try:
                m = codec.load_map(data, frozenset({0, 1}))
                packages[i] = codec.get_bytes(m, 0)
                raw = codec.get_list(m, 1, length=len(self.helpers))
                self._published[i] = [codec.point(g, d) for d in raw]
            except DecodeError as exc:
                raise ProtocolAbort([i], "decode", f"malformed repair round-1 message: {exc}") from None
        self._pub = agree_on_public_data(
            packages, self.helpers, self._pub, self.expected_group_key, "repair-public-data"
        )
        for i in self.helpers:
            rp.check_split(g, self._pub, self.helpers, self.lost, i, self._published[i])
