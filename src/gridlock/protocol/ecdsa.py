"""Threshold ECDSA (DKLs23) on the round engine: keygen, presigning and the online round.

* :class:`EcdsaKeygenParty` — the DKG of :mod:`gridlock.protocol.dkg` with the pairwise OT setup and
  zero-sharing seeds (:mod:`gridlock.crypto.ecdsa.setup`) carried in its point-to-point round, so
  keygen stays three rounds.
* :class:`PresignParty` — DKLs23 Protocol 3.6 presigning: broadcast (contributions to the jointly
  random session id), p2p, p2p, broadcast; message independent.
* :class:`OnlineSignParty` — the one online round: every signer broadcasts its share; every signer
  checks each share, combines, and verifies the signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from gridlock.crypto import codec
from gridlock.crypto.ecdsa import online, setup, signing
from gridlock.crypto.ecdsa.scheme import ECDSA_SECP256K1
from gridlock.crypto.keyshare import KeyShare
from gridlock.errors import InvalidParameterError, blame_malformed
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.party import RoundProtocol, RoundSpec


class EcdsaKeygenParty(DkgParty):
    def __init__(self, session_id: bytes, index: int, participants: Sequence[int], threshold: int) -> None:
        super().__init__(ECDSA_SECP256K1, session_id, index, participants, threshold)
        self._setup: setup.SetupRound | None = None

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 2:
            out = super()._step(2, inbox)
            self._setup = setup.SetupRound(
                self.session_id, self.index, [j for j in self.participants if j != self.index]
            )
            return {
                j: codec.dumps({0: data, 1: self._setup.message_for(j)}) for j, data in out.items() if j is not None
            }
        if round_no == 3:
            assert self._setup is not None
            dkg_inbox, pairs = {}, {}
            for j, data in inbox.items():
                with blame_malformed(j, "keygen round-2 message"):
                    m = codec.load_map(data, frozenset({0, 1}))
                    dkg_inbox[j] = codec.get_bytes(m, 0)
                    pairs[j] = self._setup.finish(j, codec.get_bytes(m, 1))
            out = super()._step(3, dkg_inbox)
            assert self._share is not None
            self._share = replace(self._share, ext=setup.to_ext(pairs))
            self._setup = None
            return out
        return super()._step(round_no, inbox)


PRESIGN_ROUNDS = (
    RoundSpec(broadcast=True),
    RoundSpec(broadcast=False),
    RoundSpec(broadcast=False),
    RoundSpec(broadcast=True),
)


class PresignParty(RoundProtocol[online.Presignature]):
    """Presigning on the round engine; the engine's echo of round 1 in round 2 makes a contribution
    sent differently to different signers abort before any OT state is used."""

    def __init__(
        self, share: KeyShare, session_id: bytes, signers: Sequence[int], *, bans: signing.BanList | None = None
    ) -> None:
        self._presigner = signing.Presigner(share, session_id, signers, bans=bans)
        super().__init__(session_id, share.index, self._presigner.signers, PRESIGN_ROUNDS)

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        p = self._presigner
        out: dict[int | None, bytes] = {}
        if round_no == 1:
            out[None] = p.round1()
        elif round_no in (2, 3):
            out.update((j, v) for j, v in (p.round2(inbox) if round_no == 2 else p.round3(inbox)).items())
        elif round_no == 4:
            out[None] = p.round4(inbox)
        else:
            self._finish(p.finish(inbox))
        return out


ONLINE_ROUNDS = (RoundSpec(broadcast=True),)


class OnlineSignParty(RoundProtocol[bytes]):
    """The online round for one presignature and one 32-byte digest; consumes the presignature."""

    def __init__(self, presignature: online.Presignature, session_id: bytes, digest: bytes) -> None:
        if presignature.used:
            raise InvalidParameterError("this presignature was already used; a presignature is never used twice")
        online.digest_scalar(digest)
        super().__init__(session_id, presignature.index, presignature.signers, ONLINE_ROUNDS)
        self.presignature = presignature
        self.digest = bytes(digest)
        self._own: tuple[int, int] | None = None

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            payload, self._own = online.online_message(self.presignature, self.digest)
            return {None: payload}
        assert self._own is not None
        self._finish(online.combine(self.presignature, self.digest, self._own, inbox))
        return {}


SETUP_ROUNDS = (RoundSpec(broadcast=False),)


class EcdsaSetupParty(RoundProtocol[KeyShare]):
    """The pairwise OT setup alone, among all holders of a share set that has none (an imported key)."""

    def __init__(self, share: KeyShare, session_id: bytes) -> None:
        if share.scheme != ECDSA_SECP256K1.name:
            raise InvalidParameterError("OT setup is for ecdsa-secp256k1 shares")
        super().__init__(session_id, share.index, share.participants, SETUP_ROUNDS)
        self.share = share
        self._setup = setup.SetupRound(session_id, share.index, [j for j in share.participants if j != share.index])

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            return {j: self._setup.message_for(j) for j in self.participants if j != self.index}
        pairs = {}
        for j, data in inbox.items():
            with blame_malformed(j, "OT setup message"):
                pairs[j] = self._setup.finish(j, data)
        self._finish(replace(self.share, ext=setup.to_ext(pairs), banned=set()))
        return {}
