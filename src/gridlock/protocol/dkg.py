"""The DKG as a three-round protocol on the round engine.

1. broadcast: Feldman commitment, proof of knowledge, chain-code commitment
   (:func:`gridlock.crypto.dkg.part1`) and the digest of the parameters this party was given
   (scheme, threshold, participants), compared first: parties given different parameters
   abort naming nobody (``inputs-mismatch``), before any check that could blame;
2. point-to-point (confidential in the wire layer): each holder's share and the
   chain-code opening, carrying the echo of round 1 — so a forked round 1 is
   caught before any share is used (SECURITY #5);
3. broadcast: the hash of the whole transcript.  A party outputs its key share
   only when every participant confirmed the same hash, so no party ever holds a
   key that another participant computed differently (ZF issue #577; ChillDKG's
   CertEq).  A confirmation lost in this last round can still leave one party
   without the key that the others hold: that is settled above this layer, where
   a vault becomes active only when every guardian has stored and acknowledged it.

Blame (SECURITY #4, #28): a bad share to one party is named by that party, and its complaint
carries the dealer's signed round-1 and round-2 messages; every other party re-runs the Feldman
check on them (:meth:`DkgParty._audit`) and names the dealer too — or the complainer, if the
share was good (Pedersen's complaint step as in Gennaro et al., J. Cryptology 2007, made
non-interactive by the signed envelopes).  Without signatures (in-memory runs) the others only
suspect both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from gridlock.crypto import dkg
from gridlock.crypto.keyshare import KeyShare, validate_threshold
from gridlock.crypto.polynomial import validate_indices
from gridlock.crypto.scheme import Scheme
from gridlock.errors import ProtocolAbort
from gridlock.protocol.message import Message
from gridlock.protocol.party import CannotJudge, RoundProtocol, RoundSpec, inputs_mismatch

DKG_ROUNDS = (RoundSpec(broadcast=True), RoundSpec(broadcast=False), RoundSpec(broadcast=True))
ECDSA = "ecdsa-secp256k1"  # its keygen (protocol.ecdsa) wraps round 2 with the OT setup


class DkgParty(RoundProtocol[KeyShare]):
    AUDITED = frozenset(
        {"decode", "dkg-proof-of-knowledge", "dkg-chain-code-opening", "dkg-share-feldman", "dkg-confirmation"}
    )

    def __init__(
        self, scheme: Scheme, session_id: bytes, index: int, participants: Sequence[int], threshold: int
    ) -> None:
        participants = tuple(sorted(validate_indices(participants, scheme.group.order)))
        validate_threshold(threshold, len(participants))
        super().__init__(session_id, index, participants, DKG_ROUNDS)
        self.scheme = scheme
        self.threshold = threshold
        self._inputs = dkg.inputs_digest(scheme, threshold, participants)
        self._secret: dkg.DealerSecret | None = None
        self._round1: dict[int, dkg.Round1Package] = {}
        self._round1_bytes: dict[int, bytes] = {}
        self._share: KeyShare | None = None

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            self._secret, pkg = dkg.part1(self.scheme, self.index, self.threshold, self.session_id, self._inputs)
            data = pkg.to_bytes(self.scheme)
            self._round1[self.index], self._round1_bytes[self.index] = pkg, data
            return {None: data}
        if round_no == 2:
            read = {j: self.decode(j, partial(dkg.read_context, data)) for j, data in inbox.items()}
            differ = [j for j, (context, _) in read.items() if context != self._inputs]
            if differ:  # before any check that can blame (SECURITY #28)
                raise inputs_mismatch(differ)
            for j, (_, m) in read.items():
                self._round1[j] = self.decode(j, partial(dkg.Round1Package.from_map, self.scheme, m, self.threshold))
                self._round1_bytes[j] = inbox[j]
            others = {j: p for j, p in self._round1.items() if j != self.index}
            dkg.check_round1(self.scheme, self.session_id, others)
            assert self._secret is not None
            outgoing = dkg.part2(self._secret, self.participants)
            self._own_share = outgoing.pop(self.index)
            return {j: pkg.to_bytes(self.scheme) for j, pkg in outgoing.items()}
        if round_no == 3:
            received = {
                j: self.decode(j, partial(dkg.Round2Package.from_bytes, self.scheme, data)) for j, data in inbox.items()
            }
            received[self.index] = self._own_share
            self._secret = None  # the dealer polynomial is no longer needed
            self._share = dkg.finalize(
                self.scheme,
                self.session_id,
                self.index,
                self.threshold,
                self.participants,
                self._round1,
                self._round1_bytes,
                received,
            )
            return {None: self._share.transcript_hash}
        assert self._share is not None
        disagree = [j for j, h in inbox.items() if h != self._share.transcript_hash]
        if disagree:
            raise ProtocolAbort(disagree, "dkg-confirmation", "participants confirmed a different DKG transcript")
        self._finish(self._share)
        return {}

    def _audit(self, accused: int, proofs: Mapping[int, Message]) -> None:
        """Re-run, on ``accused``'s signed messages, the checks :meth:`_step` makes on them."""
        pkg1: dkg.Round1Package | None = None
        r1, r2, r3 = proofs.get(1), proofs.get(2), proofs.get(3)
        if r1 is not None:
            context, m = dkg.read_context(r1.payload)
            if context != self._inputs:
                raise CannotJudge  # given other parameters: not a fault this party can prove
            pkg1 = dkg.Round1Package.from_map(self.scheme, m, self.threshold)
            dkg.check_round1(self.scheme, self.session_id, {accused: pkg1})
        if r2 is not None and r2.recipient is not None:
            if self.scheme.name == ECDSA:
                raise CannotJudge  # round 2 also carries the OT setup, checked in protocol.ecdsa
            pkg2 = dkg.Round2Package.from_bytes(self.scheme, r2.payload)
            if pkg1 is not None:
                dkg.check_dealing(self.scheme, self.session_id, accused, r2.recipient, pkg1, pkg2)
        if r3 is not None:
            if self._share is None:
                raise CannotJudge
            if r3.payload != self._share.transcript_hash:
                raise ProtocolAbort([accused], "dkg-confirmation", "confirmed a different DKG transcript")
