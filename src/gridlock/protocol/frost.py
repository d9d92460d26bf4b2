"""FROST signing (RFC 9591) as a two-round peer-to-peer protocol among the signers.

1. broadcast: each signer's nonce commitments ``(D_i, E_i)`` (fresh, or taken
   from a batch made ahead of time), the transcript hash of its key epoch, and a
   digest of the signer set and the message it was asked to sign;
2. broadcast: each signer's signature share, carrying the echo of round 1;
then every signer verifies every share (RFC 9591 §5.4), names cheaters, aggregates
and checks the final signature.  The nonces are consumed in round 2 whatever happens.

**Inputs first** (SECURITY #28).  Before anything that can blame or sign, each signer compares
the other signers' epoch and (signers, message) digest with its own: signers on different key
epochs, or handed different messages or signer sets by the coordinator, all abort with
``epoch-mismatch`` / ``inputs-mismatch`` naming nobody — and sign nothing.

**What the echo does and does not do** (SECURITY #11, corrected).  A signer builds its signing
package from the round-1 broadcasts it received and signs it in the same step that sends the
echo; the echo is checked when the shares arrive, *after* every signer released its share.  So a
signer that was given a different commitment list (a party that equivocated in round 1) does
sign that list, once, with fresh single-use nonces — it is not refused beforehand.  That is safe
by RFC 9591's design: there the coordinator hands each signer the list it signs (§5.2) and is not
trusted for unforgeability (§7); the binding factors ``ρ_i = H1(Y, H4(msg), H5(commitment
list), i)`` (§4.4) tie each share to its exact list and message, FROST is unforgeable when the
adversary picks the commitment list each honest signer sees (Komlo–Goldberg, SAC 2020; Bellare,
Crites, Komlo, Maller, Tessaro, Zhu, CRYPTO 2022), and shares over different lists do not
combine.  What the echo adds is agreement: every honest signer then aborts before aggregating,
and no signature over a forked list is output.  Checking the echo first would cost a third round
on every signature for no unforgeability gain.

**Blame** (SECURITY #12, #28).  A bad share is seen by every signer it reached; a signer it
reached alone complains with the sender's signed round-1 and round-2 broadcasts, and the others
re-run the share check on them against their own package (same package: the sender's signed
echo shows it saw the same commitments).

**Where the secrets are.**  The party runs the network protocol on the share's public data; the
two steps that need the secret share — making the round-1 nonces and computing the signature
share — go through a :class:`NonceSigner`.  :class:`LocalSigner` does them here with the share in
this process; the enclave guardian's signer has the custody contract do them, so its share and
nonces never enter the guardian process (:mod:`gridlock.enclave.signer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import NoReturn, Protocol

from gridlock.crypto import codec, frost, transcript
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.errors import InvalidParameterError, ProtocolAbort
from gridlock.protocol.message import Message
from gridlock.protocol.party import CannotJudge, RoundProtocol, RoundSpec, inputs_mismatch

FROST_ROUNDS = (RoundSpec(broadcast=True), RoundSpec(broadcast=True))
INPUTS_LABEL = b"gridlock/frost/inputs/v1"


def inputs_digest(signers: Sequence[int], message: bytes) -> bytes:
    """What every signer must have been asked: the signer set and the exact message."""
    return transcript.digest(
        INPUTS_LABEL, transcript.seq(transcript.int_field(i) for i in sorted(signers)), bytes(message)
    )


class NonceSigner(Protocol):
    """The secret half of one FROST signer for one signature (RFC 9591 §5.1 ``commit``, §5.2 ``sign``)."""

    def commit(self) -> frost.SigningCommitments:
        """Make this signature's single-use nonces (kept where the share is); their commitments."""
        ...

    def sign(self, package: frost.SigningPackage) -> int:
        """The signature share ``z_i`` over ``package``; consumes the nonces whatever happens."""
        ...

    def burn(self) -> None:
        """The run stopped: make the nonces unusable if they were not used (idempotent)."""
        ...


class LocalSigner:
    """A :class:`NonceSigner` with the share in this process (nonces fresh, or from a batch)."""

    def __init__(self, share: KeyShare, nonces: frost.SigningNonces | None = None) -> None:
        if nonces is not None and (nonces.used or nonces.commitments.identifier != share.index):
            raise InvalidParameterError("the given nonces are used or belong to another signer")
        self.suite = get_frost_suite(share.scheme)
        self._share = share
        self._nonces = nonces

    def commit(self) -> frost.SigningCommitments:
        if self._nonces is None:
            self._nonces = frost.commit(self.suite, self._share)
        return self._nonces.commitments

    def sign(self, package: frost.SigningPackage) -> int:
        if self._nonces is None:
            raise InvalidParameterError("sign before commit")
        return frost.sign(self.suite, self._share, self._nonces, package)

    def burn(self) -> None:
        if self._nonces is not None and not self._nonces.used:
            self._nonces.take()


class FrostSignParty(RoundProtocol[bytes]):
    AUDITED = frozenset({"decode", "frost-commitment-identifier", "frost-signature-share"})

    def __init__(
        self,
        share: KeyShare,
        session_id: bytes,
        signers: Sequence[int],
        message: bytes,
        nonces: frost.SigningNonces | None = None,
        *,
        signer: NonceSigner | None = None,
    ) -> None:
        """``share`` gives the signer's public data (a :class:`~gridlock.crypto.sealed.SealedShare`
        will do when ``signer`` holds the secret); without ``signer``, a :class:`LocalSigner` of
        ``share`` (with ``nonces``, made ahead of time, if given)."""
        if len(set(signers)) != len(signers) or len(signers) < share.threshold:
            raise InvalidParameterError(f"need at least {share.threshold} distinct signers")
        if any(s not in share.participants for s in signers):
            raise InvalidParameterError("every signer must be a participant of the key")
        super().__init__(session_id, share.index, tuple(sorted(signers)), FROST_ROUNDS)
        self.suite = get_frost_suite(share.scheme)
        self.share = share
        self.message = bytes(message)
        self._inputs = inputs_digest(self.participants, self.message)
        if signer is not None and nonces is not None:
            raise InvalidParameterError("nonces come from the signer when one is given")
        self._signer: NonceSigner = signer if signer is not None else LocalSigner(share, nonces)
        self._commitments: frost.SigningCommitments | None = None
        self._package: frost.SigningPackage | None = None
        self._z: int | None = None

    def _burn_nonces(self) -> None:
        """An aborted run consumes its nonces whenever it stops (SECURITY #9), not only after signing."""
        self._signer.burn()

    def _abort(self, exc: ProtocolAbort, evidence: Iterable[bytes] | None = None) -> NoReturn:
        self._burn_nonces()
        super()._abort(exc, evidence)

    def _on_abort_notice(self, msg: Message) -> NoReturn:
        self._burn_nonces()
        super()._on_abort_notice(msg)

    def round1_payload(self, commitments: frost.SigningCommitments) -> bytes:
        """This signer's round-1 message for ``commitments``."""
        return codec.dumps({0: commitments.to_bytes(), 1: self.share.transcript_hash, 2: self._inputs})

    @staticmethod
    def _read_round1(data: bytes) -> tuple[bytes, bytes, bytes]:
        m = codec.load_map(data, frozenset({0, 1, 2}))
        return codec.get_bytes(m, 0), codec.get_bytes(m, 1, 32), codec.get_bytes(m, 2, 32)

    def _commitments_of(self, j: int, raw: bytes) -> frost.SigningCommitments:
        c = frost.SigningCommitments.from_bytes(self.suite, raw)
        if c.identifier != j:
            raise ProtocolAbort([j], "frost-commitment-identifier", "commitment carries another identifier")
        return c

    def _step(self, round_no: int, inbox: Mapping[int, bytes]) -> Mapping[int | None, bytes]:
        if round_no == 1:
            self._commitments = self._signer.commit()
            if self._commitments.identifier != self.share.index:
                raise InvalidParameterError("the signer committed for another identifier")
            return {None: self.round1_payload(self._commitments)}
        if round_no == 2:
            assert self._commitments is not None
            read = {j: self.decode(j, partial(self._read_round1, data)) for j, data in inbox.items()}
            # compare the inputs before any check that can blame (and before signing anything)
            other_epoch = [j for j, (_, epoch, _) in read.items() if epoch != self.share.transcript_hash]
            if other_epoch:
                raise ProtocolAbort(
                    [], "epoch-mismatch", f"signers {sorted(other_epoch)} hold shares of another key epoch"
                )
            differ = [j for j, (_, _, inputs) in read.items() if inputs != self._inputs]
            if differ:
                raise inputs_mismatch(differ, "messages or signer sets")
            comms = [self._commitments]
            for j, (raw, _, _) in read.items():
                comms.append(self.decode(j, partial(self._commitments_of, j, raw)))
            self._package = frost.SigningPackage.build(comms, self.message)
            self._z = self._signer.sign(self._package)
            return {None: self.suite.group.scalar_to_bytes(self._z)}
        assert self._package is not None and self._z is not None
        shares = {j: self.decode(j, partial(frost.decode_share, self.suite, data)) for j, data in inbox.items()}
        shares[self.index] = self._z
        self._finish(frost.aggregate(self.suite, self.share, self._package, shares, own=self.index))
        return {}

    def _audit(self, accused: int, proofs: Mapping[int, Message]) -> None:
        """Re-run on ``accused``'s signed broadcasts the checks of :meth:`_step`: its commitment,
        and its share against this signer's own package — which is the complainer's too when the
        accused's signed echo equals this signer's view of round 1."""
        r1, r2 = proofs.get(1), proofs.get(2)
        if r1 is not None:
            raw, epoch, inputs = self._read_round1(r1.payload)
            if epoch != self.share.transcript_hash or inputs != self._inputs:
                raise CannotJudge
            self._commitments_of(accused, raw)
        if r2 is not None:
            z = frost.decode_share(self.suite, r2.payload)
            if self._package is None or r2.echo != self._echo_of(1):
                raise CannotJudge
            ctx = frost.signing_context(self.suite, self.share.group_key, self._package)
            vs = self.share.verifying_shares[accused]
            if not frost.verify_share(self.suite, self._package, accused, z, vs, ctx):
                raise ProtocolAbort([accused], "frost-signature-share", "signature share fails verification")
