"""FROST signing (RFC 9591) as a two-round peer-to-peer protocol among the signers.

1. broadcast: each signer's nonce commitments ``(D_i, E_i)`` (fresh, or taken
   from a batch made ahead of time);
2. broadcast: each signer's signature share, carrying the echo of round 1, so
   every signer is known to have signed the same commitment list (SECURITY #11);
then every signer verifies every share, names cheaters, aggregates and checks
the final signature.  The nonces are consumed in round 2 whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import NoReturn

from gridlock.crypto import codec, frost
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.errors import InvalidParameterError, ProtocolAbort
from gridlock.protocol.message import Message
from gridlock.protocol.party import RoundProtocol, RoundSpec

FROST_ROUNDS = (RoundSpec(broadcast=True), RoundSpec(broadcast=True))


class FrostSignParty(RoundProtocol[bytes]):
    def __init__(
        self,
        share: KeyShare,
        session_id: bytes,
        signers: Sequence[int],
        message: bytes,
        nonces: frost.SigningNonces | None = None,
    ) -> None:
        if len(set(signers)) != len(signers) or len(signers) < share.threshold:
            raise InvalidParameterError(f"need at least {share.threshold} distinct signers")
        if any(s not in share.participants for s in signers):
            raise InvalidParameterError("every signer must be a participant of the key")
        super().__init__(session_id, share.index, tuple(sorted(signers)), FROST_ROUNDS)
        self.suite = get_frost_suite(share.scheme)
        self.share = share
        self.message = bytes(message)
        if nonces is not None and (nonces.used or nonces.commitments.identifier != share.index):
            raise InvalidParameterError("the given nonces are used or belong to another signer")
        self._nonces = nonces
        self._package: frost.SigningPackage | None = None
        self._z: int | None = None

    def _burn_nonces(self) -> None:
        """An aborted run consumes its nonces whenever it stops (SECURITY #9), not only after signing."""
        if self._nonces is not None and not self._nonces.used:
            self._nonces.take()

    def _abort(self, exc: ProtocolAbort, evidence: Iterable[bytes] | None = None) -> NoReturn:
        self._burn_nonces()
        super()._abort(exc, evidence)

    def _on_abort_notice(self, msg: Message) -> NoReturn:
        self._burn_nonces()
        super()._on_abort_notice(msg)

    def _read_commitments(self, data: bytes) -> tuple[frost.SigningCommitments, bytes]:
        m = codec.load_map(data, frozenset({0, 1}))
        return frost.SigningCommitments.from_bytes(self.suite, codec.get_bytes(m, 0)), codec.get_bytes(m, 1, 32)

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            if self._nonces is None:
                self._nonces = frost.commit(self.suite, self.share)
            return {None: codec.dumps({0: self._nonces.commitments.to_bytes(), 1: self.share.transcript_hash})}
        if round_no == 2:
            assert self._nonces is not None
            comms = [self._nonces.commitments]
            for j, data in inbox.items():
                c, epoch = self.decode(j, partial(self._read_commitments, data))
                if epoch != self.share.transcript_hash:
                    raise ProtocolAbort([j], "epoch-mismatch", "signer holds a share of another key epoch")
                if c.identifier != j:
                    raise ProtocolAbort([j], "frost-commitment-identifier", "commitment carries another identifier")
                comms.append(c)
            self._package = frost.SigningPackage.build(comms, self.message)
            self._z = frost.sign(self.suite, self.share, self._nonces, self._package)
            return {None: self.suite.group.scalar_to_bytes(self._z)}
        assert self._package is not None and self._z is not None
        shares = {j: self.decode(j, partial(frost.decode_share, self.suite, data)) for j, data in inbox.items()}
        shares[self.index] = self._z
        self._finish(frost.aggregate(self.suite, self.share, self._package, shares, own=self.index))
        return {}
