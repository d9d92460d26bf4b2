"""DKLs23 Protocol 3.6: threshold ECDSA signing as message-independent presigning plus one online round.

Per signer ``i`` (signing set S, |S| ≥ t):

* the additive key share ``sk_i = λ_i·s_i + ζ_i``, re-randomised for every signature by the
  zero-sharing ``ζ_i = Σ_{j<i} H(seed_ij) − Σ_{j>i} H(seed_ij)`` (Functionality 3.4), ``pk_i = sk_i·G``;
* an instance key ``r_i`` (``R_i = r_i·G``, committed in round 1, opened in round 2) and an
  inversion mask ``φ_i``;
* with every other signer ``j``, one random VOLE in each direction (Protocol 5.2): as sender with
  input ``(r_i, sk_i)``, as receiver with random input ``χ_ij``; ``ψ_ij = φ_i − χ_ij`` turns the
  VOLE with ``j`` into shares of ``r_j·φ_i`` and ``sk_j·φ_i``.

Rounds:

1. broadcast: a fresh 32-byte contribution and the digest of the *context* — the caller's session
   id, the key's transcript hash (so shares of different epochs never combine), the group key
   (so an HD child key, which keeps its parent's OT setup, never shares a session with its
   parent), and the signing set.  A context that differs from ours aborts here, before any secret
   is used, blaming nobody (the coordinator gave the signers different inputs, or the sender lies:
   only a suspicion).  The
   per-signature session id is ``sid = H(context, every contribution)``: **jointly random**, so no
   signer and no coordinator can make two runs share one.  Everything per signature (OT-extension
   expansion, VOLE pads, zero shares) derives from ``sid``; a repeated sid would let a co-signer
   that merely changes its OT choices subtract two runs and learn every honest ``sk_i``.
2. p2p: commitment to ``R_i``, ``sid``, the VOLE receiver message (the engine echoes round 1 in
   this round, so a contribution sent differently to different signers aborts before round 3).
3. p2p: echo of the commitments, the VOLE sender reply, ``Γ_u = c_u·G``, ``Γ_v = c_v·G``, ``ψ``,
   the opening of ``R_i``, ``pk_i`` and this party's zero-share points ``ζ_{ij}·G``.
   Receivers check (and **ban** the sender on failure, SECURITY #13): the VOLE check,
   ``χ·R_j = d_u·G + Γ_u`` and ``χ·pk_j = d_v·G + Γ_v``; they also check the opening, that
   ``pk_j = λ_j·Y_j + Σ ±ζ_{jm}·G`` with their own pairwise term, and ``Σ pk_j = Y``.
4. broadcast: echo of the round-3 public values and ``Φ_i = φ_i·G``, ``U_i = u_i·G``,
   ``X_i = r_x·v_i·G`` — commitments that make every online share checkable, so a bad final
   share names its sender (an addition to the paper, which only detects it).

Bans (selective failure, KOS15 §4 / DKLs23 §5): a failed OT-extension, VOLE or Γ check may have
told the counterparty one bit of our long-term correlation Δ, so the counterparty is banned until
the next refresh.  The ban list is shared by every session of the key (``bans``) and re-checked
immediately before every use of the pairwise OT state — the sender side (:func:`vole.vole_send`)
and the receiver side (:meth:`vole.VoleReceiver.finish`) — so sessions opened before a ban learn
nothing more after it.

What is *not* attributable: a signer whose round-4 commitments ``(Φ_j, U_j, X_j)`` are false but
the same for everyone, with online shares that match them, passes every per-share check; the
combined signature then fails its final verification and nobody can tell which signer lied (the
commitments are sums of pairwise VOLE outputs no single party can recompute).  That abort reports
every other signer as a *suspect*, never a culprit; the liar can compute the valid signature from
the honest shares (a fairness loss, not a forgery: every signer had agreed to sign that digest).

The presignature ``(R, u_i, v_i, φ_i)`` with ``u = Σu_i = r·φ`` and ``v = Σv_i = sk·φ`` is single
use.  Online: ``w_i = H(m)·φ_i + r_x·v_i``; ``s = Σw / Σu = (H(m) + r_x·sk)/r``, normalised to low S
and verified against the group key by libsecp256k1 before it is released.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gridlock.crypto import codec, transcript
from gridlock.crypto.ecdsa import vole
from gridlock.crypto.ecdsa.online import Presignature
from gridlock.crypto.ecdsa.setup import PairSetup, pair_setups
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import lagrange_coefficient
from gridlock.crypto.secp256k1 import SECP256K1, N, Secp256k1Point
from gridlock.errors import DecodeError, InvalidParameterError, ProtocolAbort, blame_malformed

SIGN_LABEL = b"gridlock/dkls23/sign/v2"
CONTEXT_LABEL = b"gridlock/dkls23/sign/context/v1"
VOLE_LABEL = b"gridlock/dkls23/sign/vole/v1"
COMMIT_LABEL = b"gridlock/dkls23/sign/commit/v1"
ZERO_LABEL = b"gridlock/dkls23/sign/zero/v1"
DIGEST_LABEL = b"gridlock/dkls23/sign/digest/v1"
PRESIG_LABEL = b"gridlock/dkls23/presignature/v1"
BAN_CHECKS = frozenset({"ote-consistency", "vole-consistency", "vole-gamma"})
CONTRIBUTION_LEN = 32
G = SECP256K1


class BanList(Protocol):
    """The counterparties this key share no longer runs OT-based protocols with (until a refresh).

    A plain ``set[int]`` (``KeyShare.banned``) serves one process; a guardian passes one object per
    key epoch, shared by all its sessions, whose ``add`` persists the ban before it returns.
    """

    def __contains__(self, j: object, /) -> bool: ...

    def add(self, j: int, /) -> None: ...


def signing_context(session_id: bytes, share: KeyShare, signers: Sequence[int]) -> bytes:
    """What every signer must agree on before it contributes to the session id (round 1).

    The group key is bound because an HD child share (:mod:`gridlock.crypto.hd`) keeps its parent's
    OT setup: the child's group key ``Y + tweak·G`` binds the derivation tweak, so a child and its
    parent never run a session under one id.
    """
    return transcript.digest(
        CONTEXT_LABEL,
        session_id,
        share.transcript_hash,
        share.group_key.encode(),
        transcript.seq(transcript.int_field(s) for s in signers),
    )


def signing_sid(context: bytes, contributions: Sequence[bytes]) -> bytes:
    """The jointly random per-signature session id: the context and every signer's contribution."""
    return transcript.digest(SIGN_LABEL, context, transcript.seq(contributions))


def vole_sid(sid: bytes, sender: int, receiver: int) -> bytes:
    return transcript.digest(VOLE_LABEL, sid, transcript.int_field(sender), transcript.int_field(receiver))


def zero_term(seed: bytes, sid: bytes) -> int:
    return (
        int.from_bytes(
            transcript.digest(ZERO_LABEL, seed, sid) + transcript.digest(ZERO_LABEL + b"2", seed, sid), "big"
        )
        % N
    )


def _pt(data: object) -> Point:
    return codec.point(G, data)


def _sc(data: object) -> int:
    return codec.scalar(G, data)


@dataclass(frozen=True)
class _Round3:
    """A decoded round-3 message (DKLs23 Protocol 3.6 round 2 in the paper's numbering)."""

    echo: list[Any]  # the round-2 commitments as the sender saw them
    reply: bytes  # its VOLE sender reply to us
    gamma_u: Point
    gamma_v: Point
    psi: int
    R: Point  # the opening of its nonce commitment
    blind: bytes
    pk: Point
    zero_points: list[Point]


class Presigner:
    """Sans-IO presigning for one signer: ``round1() → round2(inbox) → round3(inbox) → round4(inbox)
    → finish(inbox)``.

    ``bans`` is the key's ban list (default: ``share.banned``); it is read before every use of the
    pairwise OT state and written on every OT/VOLE/Γ failure.
    """

    def __init__(
        self, share: KeyShare, session_id: bytes, signers: Sequence[int], *, bans: BanList | None = None
    ) -> None:
        if share.scheme != "ecdsa-secp256k1":
            raise InvalidParameterError("presigning needs an ecdsa-secp256k1 key share")
        signers = tuple(sorted(signers))
        if len(set(signers)) != len(signers) or len(signers) < share.threshold:
            raise InvalidParameterError(f"need at least {share.threshold} distinct signers")
        if share.index not in signers or any(s not in share.participants for s in signers):
            raise InvalidParameterError("signers must be participants of the key, this one included")
        self.bans: BanList = share.banned if bans is None else bans
        banned = sorted(j for j in signers if j in self.bans)
        if banned:
            raise InvalidParameterError(
                f"participant(s) {banned} failed an OT/VOLE check and are banned until the next refresh"
            )
        self.share = share
        self.me = share.index
        self.signers = signers
        self.others = [j for j in signers if j != self.me]
        self.context = signing_context(session_id, share, signers)
        self._contribution = secrets.token_bytes(CONTRIBUTION_LEN)
        self.sid = b""  # known after round 1
        self._pairs: dict[int, PairSetup] = {j: p for j, p in pair_setups(share).items() if j in self.others}
        self._r = G.random_scalar()
        self._R = G.base_mul(self._r)
        self._phi = G.random_scalar()
        self._blind = secrets.token_bytes(32)
        self._zero_terms: dict[int, int] = {}
        self._sk = 0
        self._pk: Point = G.identity
        self._receivers: dict[int, vole.VoleReceiver] = {}
        self._commits: dict[int, bytes] = {}
        self._c: dict[int, list[int]] = {}
        self._round3_public: dict[int, bytes] = {}

    def _commit(self, j: int, R: Point, blind: bytes) -> bytes:
        return transcript.digest(COMMIT_LABEL, self.sid, transcript.int_field(j), R.encode(), blind)

    def _abort(self, j: int, check: str, reason: str) -> ProtocolAbort:
        exc = ProtocolAbort([j], check, reason)
        if check in BAN_CHECKS:
            self.bans.add(j)
        return exc

    def _refuse_banned(self, j: int) -> None:
        """Called immediately before the OT state shared with ``j`` is used (SECURITY #13)."""
        if j in self.bans:
            raise ProtocolAbort(
                [j], "banned", f"participant {j} failed an OT/VOLE check and is banned until the next refresh"
            )

    # --- round 1 -------------------------------------------------------------------------------
    def round1(self) -> bytes:
        return codec.dumps({0: self._contribution, 1: self.context})

    # --- round 2 -------------------------------------------------------------------------------
    def round2(self, inbox: Mapping[int, bytes]) -> dict[int, bytes]:
        contributions = {self.me: self._contribution}
        for j in self.others:
            with blame_malformed(j, "presign round-1 message"):
                m = codec.load_map(inbox[j], frozenset({0, 1}))
                contributions[j] = codec.get_bytes(m, 0, CONTRIBUTION_LEN)
                context = codec.get_bytes(m, 1, 32)
            if not hmac.compare_digest(context, self.context):
                # Either the coordinator gave us different inputs (session, signers) or j lies about
                # them, or j holds another epoch's share: no evidence against anyone, and no ban.
                raise ProtocolAbort(
                    [],
                    "presign-context",
                    f"signer {j} presigns for another session, signer set, key or epoch",
                    suspects=[j],
                )
        self.sid = signing_sid(self.context, [contributions[j] for j in self.signers])
        q = N
        zeta = 0
        for j in self.others:
            z = zero_term(self._pairs[j].zero_seed, self.sid)
            self._zero_terms[j] = z if self.me < j else -z % q
            zeta += self._zero_terms[j]
        self._sk = (lagrange_coefficient(self.me, self.signers, q) * self.share.secret + zeta) % q
        self._pk = G.base_mul(self._sk)
        self._commits[self.me] = self._commit(self.me, self._R, self._blind)
        out = {}
        for j in self.others:
            rcv = vole.VoleReceiver(self._pairs[j].as_receiver, vole_sid(self.sid, j, self.me))
            self._receivers[j] = rcv
            out[j] = codec.dumps({0: self._commits[self.me], 1: self.sid, 2: rcv.message})
        return out

    # --- round 3 -------------------------------------------------------------------------------
    def round3(self, inbox: Mapping[int, bytes]) -> dict[int, bytes]:
        vole_msgs = {}
        for j, data in inbox.items():
            with blame_malformed(j, "presign round-2 message"):
                m = codec.load_map(data, frozenset({0, 1, 2}))
                self._commits[j] = codec.get_bytes(m, 0, 32)
                sid = codec.get_bytes(m, 1, 32)
                vole_msgs[j] = codec.get_bytes(m, 2, vole.SENDER_MSG_LEN)
            if not hmac.compare_digest(sid, self.sid):
                # The round-1 echo makes this unreachable for a consistent broadcast; checked anyway
                # before the OT state is touched, so a mismatch never turns into a ban.
                raise ProtocolAbort([j], "presign-session", "signer derived another session id")
        echo = [self._commits[j] for j in self.signers]
        zero_points = [G.base_mul(self._zero_terms[m]) for m in self.others]  # the same for every recipient
        out = {}
        for j in self.others:
            self._refuse_banned(j)
            try:
                c, reply = vole.vole_send(
                    self._pairs[j].as_sender, vole_sid(self.sid, self.me, j), vole_msgs[j], (self._r, self._sk), j
                )
            except DecodeError as exc:
                raise ProtocolAbort([j], "decode", f"malformed OT-extension message: {exc}") from None
            except ProtocolAbort as exc:
                raise self._abort(j, exc.check, exc.reason) from None
            self._c[j] = c
            psi = (self._phi - self._receivers[j].b) % N
            out[j] = codec.dumps(
                {
                    0: echo,
                    1: reply,
                    2: G.base_mul(c[0]).encode(),
                    3: G.base_mul(c[1]).encode(),
                    4: G.scalar_to_bytes(psi),
                    5: self._R.encode(),
                    6: self._blind,
                    7: self._pk.encode(),
                    8: [z.encode() for z in zero_points],
                }
            )
        self._round3_public[self.me] = self._public_part(self._R, self._pk, zero_points)
        return out

    @staticmethod
    def _public_part(R: Point, pk: Point, zs: Sequence[Point]) -> bytes:
        return transcript.encode(b"round3", R.encode(), pk.encode(), *(z.encode() for z in zs))

    # --- round 4 -------------------------------------------------------------------------------
    def _echo_finding(self, j: int, echo: list[Any]) -> ProtocolAbort | None:
        """Compare the round-2 commitments as ``j`` saw them with ours.

        ``j`` misreporting *our* commitment or *its own* is evidence against ``j`` (we hold what it
        sent us); a difference in a third signer's commitment means that signer sent different ones
        (point to point, unprovable) or ``j`` lies: both are suspects.
        """
        if len(echo) != len(self.signers) or not all(isinstance(c, bytes) for c in echo):
            return ProtocolAbort([j], "decode", "malformed commitment echo")
        differ = [k for k, c in zip(self.signers, echo, strict=True) if not hmac.compare_digest(c, self._commits[k])]
        if self.me in differ or j in differ:
            return ProtocolAbort([j], "echo-mismatch", f"signer {j} misreports a commitment it knows")
        if differ:
            return ProtocolAbort(
                [], "echo-mismatch", f"signer {j} saw different round-2 commitments", suspects=[j, *differ]
            )
        return None

    def _check_echoes(self, messages: Mapping[int, _Round3]) -> None:
        """Every signer's commitment echo, before anything else in round 4: evidence beats suspicion."""
        findings = [f for j, m in messages.items() if (f := self._echo_finding(j, m.echo)) is not None]
        proven = [f for f in findings if f.culprits]
        if proven:
            raise proven[0]
        if findings:
            suspects = frozenset().union(*(f.suspects for f in findings))
            raise ProtocolAbort([], "echo-mismatch", findings[0].reason, suspects=suspects)

    def _decode_round3(self, j: int, data: bytes) -> _Round3:
        with blame_malformed(j, "presign round-3 message"):
            m = codec.load_map(data, frozenset(range(9)))
            return _Round3(
                codec.get_list(m, 0),
                codec.get_bytes(m, 1),
                _pt(m[2]),
                _pt(m[3]),
                _sc(m[4]),
                _pt(m[5]),
                codec.get_bytes(m, 6, 32),
                _pt(m[7]),
                [_pt(z) for z in codec.get_list(m, 8, length=len(self.signers) - 1)],
            )

    def _check_round3(self, j: int, m: _Round3) -> tuple[Point, Point, int, list[int]]:
        """Every check on signer ``j``'s decoded round-3 message but the echo; returns
        ``(R_j, pk_j, ψ_j, d)``."""
        q = N
        reply, gamma_u, gamma_v, psi, R_j, blind_j, pk_j, zs = (
            m.reply,
            m.gamma_u,
            m.gamma_v,
            m.psi,
            m.R,
            m.blind,
            m.pk,
            m.zero_points,
        )
        if not hmac.compare_digest(self._commit(j, R_j, blind_j), self._commits[j]):
            raise ProtocolAbort([j], "presign-decommit", "opening of R_j does not match its commitment")
        rcv = self._receivers[j]
        self._refuse_banned(j)
        try:
            d = rcv.finish(reply, j)
        except DecodeError as exc:
            raise ProtocolAbort([j], "decode", f"malformed VOLE reply: {exc}") from None
        except ProtocolAbort as exc:
            raise self._abort(j, exc.check, exc.reason) from None
        chi = rcv.b
        if chi * R_j != G.base_mul(d[0]) + gamma_u or chi * pk_j != G.base_mul(d[1]) + gamma_v:
            raise self._abort(j, "vole-gamma", "VOLE output inconsistent with the sender's R_j or pk_j")
        my_pos = [m_ for m_ in self.signers if m_ != j].index(self.me)
        if zs[my_pos] != G.base_mul(-self._zero_terms[j] % q):
            raise ProtocolAbort([j], "presign-zero-share", "pairwise zero-share term does not match")
        lam = lagrange_coefficient(j, self.signers, q)
        if pk_j != lam * self.share.verifying_shares[j] + G.sum(zs):
            raise ProtocolAbort([j], "presign-key-share", "pk_j is not λ_j·Y_j plus its zero-share terms")
        self._round3_public[j] = self._public_part(R_j, pk_j, zs)
        return R_j, pk_j, psi, d

    def round4(self, inbox: Mapping[int, bytes]) -> bytes:
        q = N
        R_all: dict[int, Point] = {self.me: self._R}
        pk_all: dict[int, Point] = {self.me: self._pk}
        psi_sum = u_cross = v_cross = 0
        messages = {j: self._decode_round3(j, inbox[j]) for j in self.others}
        self._check_echoes(messages)
        for j in self.others:
            R_all[j], pk_all[j], psi, d = self._check_round3(j, messages[j])
            psi_sum += psi
            u_cross += self._c[j][0] + d[0]
            v_cross += self._c[j][1] + d[1]
        if G.sum(pk_all.values()) != self.share.group_key:
            raise ProtocolAbort([], "presign-group-key", "the signers' key shares do not add up to the group key")
        R = G.sum(R_all.values())
        if R.is_identity():
            raise ProtocolAbort([], "presign-nonce", "the combined nonce is the identity")
        assert isinstance(R, Secp256k1Point)
        self._R_sum = R
        self._r_x = int.from_bytes(R.x_bytes(), "big") % q
        phi_prime = (self._phi + psi_sum) % q
        self._u = (self._r * phi_prime + u_cross) % q
        self._v = (self._sk * phi_prime + v_cross) % q
        self._r = self._sk = 0
        self._own4 = {
            0: transcript.digest(DIGEST_LABEL, *(self._round3_public[j] for j in self.signers)),
            1: G.base_mul(self._phi).encode(),
            2: G.base_mul(self._u).encode(),
            3: G.base_mul(self._r_x * self._v % q).encode(),
        }
        return codec.dumps(self._own4)

    # --- finish --------------------------------------------------------------------------------
    def finish(self, inbox: Mapping[int, bytes]) -> Presignature:
        commitments = {self.me: (_pt(self._own4[1]), _pt(self._own4[2]), _pt(self._own4[3]))}
        for j in self.others:
            with blame_malformed(j, "presign round-4 message"):
                m = codec.load_map(inbox[j], frozenset({0, 1, 2, 3}))
                echo = codec.get_bytes(m, 0, 32)
                commitments[j] = (_pt(m[1]), _pt(m[2]), _pt(m[3]))
            if not hmac.compare_digest(echo, self._own4[0]):
                # some signer sent different public values to different signers (point to point),
                # or j misreports them: nobody can tell which
                raise ProtocolAbort(
                    [], "echo-mismatch", f"signer {j} saw different round-3 public values", suspects=self.others
                )
        # The id names the session, not the round-4 values: a signer that equivocated in round 4 is
        # then caught by the online check against the commitments each party holds, never an honest one.
        presig_id = transcript.digest(PRESIG_LABEL, self.sid)
        return Presignature(
            presig_id,
            self.me,
            self.signers,
            self.share.group_key,
            self._R_sum,
            self._r_x,
            commitments,
            (self._phi, self._u, self._v),
        )
