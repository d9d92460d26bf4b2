"""DKLs23 Protocol 3.6: threshold ECDSA signing as message-independent presigning plus one online round.

Per signer ``i`` (signing set S, |S| ≥ t):

* the additive key share ``sk_i = λ_i·s_i + ζ_i``, re-randomised for every signature by the
  zero-sharing ``ζ_i = Σ_{j<i} H(seed_ij) − Σ_{j>i} H(seed_ij)`` (Functionality 3.4), ``pk_i = sk_i·G``;
* an instance key ``r_i`` (``R_i = r_i·G``, committed in round 1, opened in round 2) and an
  inversion mask ``φ_i``;
* with every other signer ``j``, one random VOLE in each direction (Protocol 5.2): as sender with
  input ``(r_i, sk_i)``, as receiver with random input ``χ_ij``; ``ψ_ij = φ_i − χ_ij`` turns the
  VOLE with ``j`` into shares of ``r_j·φ_i`` and ``sk_j·φ_i``.

Rounds (``sid`` binds the caller's session id, the key's transcript hash — so shares of different
epochs never combine — and the signing set):

1. p2p: commitment to ``R_i``, the key's transcript hash, the VOLE receiver message.
2. p2p: echo of the commitments, the VOLE sender reply, ``Γ_u = c_u·G``, ``Γ_v = c_v·G``, ``ψ``,
   the opening of ``R_i``, ``pk_i`` and this party's zero-share points ``ζ_{ij}·G``.
   Receivers check (and **ban** the sender on failure, SECURITY #13): the VOLE check,
   ``χ·R_j = d_u·G + Γ_u`` and ``χ·pk_j = d_v·G + Γ_v``; they also check the opening, that
   ``pk_j = λ_j·Y_j + Σ ±ζ_{jm}·G`` with their own pairwise term, and ``Σ pk_j = Y``.
3. broadcast: echo of the round-2 public values and ``Φ_i = φ_i·G``, ``U_i = u_i·G``,
   ``X_i = r_x·v_i·G`` — commitments that make every online share checkable, so a bad final
   share names its sender (an addition to the paper, which only detects it).

The presignature ``(R, u_i, v_i, φ_i)`` with ``u = Σu_i = r·φ`` and ``v = Σv_i = sk·φ`` is single
use.  Online: ``w_i = H(m)·φ_i + r_x·v_i``; ``s = Σw / Σu = (H(m) + r_x·sk)/r``, normalised to low S
and verified against the group key by libsecp256k1 before it is released.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gridlock.crypto import codec, transcript
from gridlock.crypto.ecdsa import vole
from gridlock.crypto.ecdsa.setup import PairSetup, pair_setups
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.polynomial import lagrange_coefficient
from gridlock.crypto.secp256k1 import SECP256K1, N, Secp256k1Point
from gridlock.errors import DecodeError, InvalidParameterError, NonceReuseError, ProtocolAbort, SignatureError

SIGN_LABEL = b"gridlock/dkls23/sign/v1"
VOLE_LABEL = b"gridlock/dkls23/sign/vole/v1"
COMMIT_LABEL = b"gridlock/dkls23/sign/commit/v1"
ZERO_LABEL = b"gridlock/dkls23/sign/zero/v1"
DIGEST_LABEL = b"gridlock/dkls23/sign/digest/v1"
PRESIG_LABEL = b"gridlock/dkls23/presignature/v1"
BAN_CHECKS = frozenset({"ote-consistency", "vole-consistency", "vole-gamma"})
G = SECP256K1


def signing_sid(session_id: bytes, share: KeyShare, signers: Sequence[int]) -> bytes:
    return transcript.digest(
        SIGN_LABEL, session_id, share.transcript_hash, transcript.seq(transcript.int_field(s) for s in signers)
    )


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


@dataclass(repr=False)
class Presignature:
    """One signer's single-use presignature (the output of the three presigning rounds)."""

    presig_id: bytes
    index: int
    signers: tuple[int, ...]
    group_key: Point
    R: Point
    r_x: int
    commitments: dict[int, tuple[Point, Point, Point]]  # j -> (Φ_j, U_j, X_j)
    _secrets: tuple[int, int, int] | None  # (φ_i, u_i, v_i)

    @property
    def used(self) -> bool:
        return self._secrets is None

    def take(self) -> tuple[int, int, int]:
        """Hand out the secret part and erase it in the same step (SECURITY #9)."""
        if self._secrets is None:
            raise NonceReuseError("this presignature was already used; a presignature is never used twice")
        s, self._secrets = self._secrets, None
        return s

    def __repr__(self) -> str:
        state = "used" if self.used else "fresh"
        return f"Presignature(id={self.presig_id.hex()[:16]}, index={self.index}, {state}, <redacted>)"

    def to_bytes(self) -> bytes:
        """Secret serialisation (store it encrypted, and delete it when taken: single use)."""
        if self._secrets is None:
            raise NonceReuseError("a used presignature cannot be stored")
        return codec.dumps(
            {
                0: self.presig_id,
                1: self.index,
                2: list(self.signers),
                3: self.group_key.encode(),
                4: self.R.encode(),
                5: [[j, *(p.encode() for p in c)] for j, c in sorted(self.commitments.items())],
                6: [G.scalar_to_bytes(x) for x in self._secrets],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Presignature:
        m = codec.load_map(data, frozenset(range(7)))
        signers = tuple(codec.get_list(m, 2, max_len=1024))
        if not all(isinstance(j, int) and not isinstance(j, bool) and 0 < j < N for j in signers):
            raise DecodeError("malformed signer list")
        index = codec.get_int(m, 1, 1, N - 1)
        R = _pt(m[4])
        assert isinstance(R, Secp256k1Point)
        commitments: dict[int, tuple[Point, Point, Point]] = {}
        for entry in codec.get_list(m, 5, length=len(signers)):
            if not isinstance(entry, list) or len(entry) != 4 or entry[0] not in signers:
                raise DecodeError("malformed presignature commitments")
            commitments[entry[0]] = (_pt(entry[1]), _pt(entry[2]), _pt(entry[3]))
        secrets_ = codec.get_list(m, 6, length=3)
        phi, u, v = (_sc(x) for x in secrets_)
        if index not in signers or set(commitments) != set(signers):
            raise DecodeError("presignature does not cover its signers")
        return cls(
            codec.get_bytes(m, 0, 32),
            index,
            signers,
            _pt(m[3]),
            R,
            int.from_bytes(R.x_bytes(), "big") % N,
            commitments,
            (phi, u, v),
        )


class Presigner:
    """Sans-IO presigning for one signer: ``round1() → round2(inbox) → round3(inbox) → finish(inbox)``."""

    def __init__(self, share: KeyShare, session_id: bytes, signers: Sequence[int]) -> None:
        if share.scheme != "ecdsa-secp256k1":
            raise InvalidParameterError("presigning needs an ecdsa-secp256k1 key share")
        signers = tuple(sorted(signers))
        if len(set(signers)) != len(signers) or len(signers) < share.threshold:
            raise InvalidParameterError(f"need at least {share.threshold} distinct signers")
        if share.index not in signers or any(s not in share.participants for s in signers):
            raise InvalidParameterError("signers must be participants of the key, this one included")
        banned = share.banned & set(signers)
        if banned:
            raise InvalidParameterError(
                f"participant(s) {sorted(banned)} failed an OT/VOLE check and are banned until the next refresh"
            )
        self.share = share
        self.me = share.index
        self.signers = signers
        self.others = [j for j in signers if j != self.me]
        self.sid = signing_sid(session_id, share, signers)
        self._pairs: dict[int, PairSetup] = {j: p for j, p in pair_setups(share).items() if j in self.others}
        q = N
        self._r = G.random_scalar()
        self._R = G.base_mul(self._r)
        self._phi = G.random_scalar()
        self._blind = secrets.token_bytes(32)
        zeta = 0
        self._zero_terms: dict[int, int] = {}
        for j in self.others:
            z = zero_term(self._pairs[j].zero_seed, self.sid)
            self._zero_terms[j] = z if self.me < j else -z % q
            zeta += self._zero_terms[j]
        self._sk = (lagrange_coefficient(self.me, signers, q) * share.secret + zeta) % q
        self._pk = G.base_mul(self._sk)
        self._receivers: dict[int, vole.VoleReceiver] = {}
        self._commits: dict[int, bytes] = {}
        self._c: dict[int, list[int]] = {}
        self._round2_public: dict[int, bytes] = {}

    def _commit(self, j: int, R: Point, blind: bytes) -> bytes:
        return transcript.digest(COMMIT_LABEL, self.sid, transcript.int_field(j), R.encode(), blind)

    def _abort(self, j: int, check: str, reason: str) -> ProtocolAbort:
        exc = ProtocolAbort([j], check, reason)
        if check in BAN_CHECKS:
            self.share.banned.add(j)
        return exc

    # --- round 1 -------------------------------------------------------------------------------
    def round1(self) -> dict[int, bytes]:
        self._commits[self.me] = self._commit(self.me, self._R, self._blind)
        out = {}
        for j in self.others:
            rcv = vole.VoleReceiver(self._pairs[j].as_receiver, vole_sid(self.sid, j, self.me))
            self._receivers[j] = rcv
            out[j] = codec.dumps({0: self._commits[self.me], 1: self.share.transcript_hash, 2: rcv.message})
        return out

    # --- round 2 -------------------------------------------------------------------------------
    def round2(self, inbox: Mapping[int, bytes]) -> dict[int, bytes]:
        vole_msgs = {}
        for j, data in inbox.items():
            try:
                m = codec.load_map(data, frozenset({0, 1, 2}))
                self._commits[j] = codec.get_bytes(m, 0, 32)
                epoch = codec.get_bytes(m, 1, 32)
                vole_msgs[j] = codec.get_bytes(m, 2, vole.SENDER_MSG_LEN)
            except DecodeError as exc:
                raise ProtocolAbort([j], "decode", f"malformed presign round-1 message: {exc}") from None
            if not hmac.compare_digest(epoch, self.share.transcript_hash):
                raise ProtocolAbort([j], "epoch-mismatch", "signer holds a share of another key epoch")
        echo = [self._commits[j] for j in self.signers]
        zero_points = [G.base_mul(self._zero_terms[m]) for m in self.others]  # the same for every recipient
        out = {}
        for j in self.others:
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
        self._round2_public[self.me] = self._public_part(self._R, self._pk, zero_points)
        return out

    @staticmethod
    def _public_part(R: Point, pk: Point, zs: Sequence[Point]) -> bytes:
        return transcript.encode(b"round2", R.encode(), pk.encode(), *(z.encode() for z in zs))

    # --- round 3 -------------------------------------------------------------------------------
    def _check_echo(self, j: int, echo: list[Any]) -> None:
        """Round-1 commitments as ``j`` saw them must equal ours; name whoever equivocated."""
        if len(echo) != len(self.signers) or not all(isinstance(c, bytes) for c in echo):
            raise ProtocolAbort([j], "decode", "malformed commitment echo")
        differ = [k for k, c in zip(self.signers, echo, strict=True) if not hmac.compare_digest(c, self._commits[k])]
        if differ:
            culprits = [j] if self.me in differ else differ
            raise ProtocolAbort(culprits, "echo-mismatch", f"signer {j} saw different round-1 commitments")

    def _check_round2(self, j: int, data: bytes) -> tuple[Point, Point, int, list[int]]:
        """Every check on signer ``j``'s round-2 message; returns ``(R_j, pk_j, ψ_j, d)``."""
        q = N
        try:
            m = codec.load_map(data, frozenset(range(9)))
            echo = codec.get_list(m, 0)
            reply = codec.get_bytes(m, 1)
            gamma_u, gamma_v = _pt(m[2]), _pt(m[3])
            psi = _sc(m[4])
            R_j, blind_j, pk_j = _pt(m[5]), codec.get_bytes(m, 6, 32), _pt(m[7])
            zs = [_pt(z) for z in codec.get_list(m, 8, length=len(self.signers) - 1)]
        except DecodeError as exc:
            raise ProtocolAbort([j], "decode", f"malformed presign round-2 message: {exc}") from None
        self._check_echo(j, echo)
        if not hmac.compare_digest(self._commit(j, R_j, blind_j), self._commits[j]):
            raise ProtocolAbort([j], "presign-decommit", "opening of R_j does not match its commitment")
        rcv = self._receivers[j]
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
        self._round2_public[j] = self._public_part(R_j, pk_j, zs)
        return R_j, pk_j, psi, d

    def round3(self, inbox: Mapping[int, bytes]) -> bytes:
        q = N
        R_all: dict[int, Point] = {self.me: self._R}
        pk_all: dict[int, Point] = {self.me: self._pk}
        psi_sum = u_cross = v_cross = 0
        for j in self.others:
            R_all[j], pk_all[j], psi, d = self._check_round2(j, inbox[j])
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
        self._own3 = {
            0: transcript.digest(DIGEST_LABEL, *(self._round2_public[j] for j in self.signers)),
            1: G.base_mul(self._phi).encode(),
            2: G.base_mul(self._u).encode(),
            3: G.base_mul(self._r_x * self._v % q).encode(),
        }
        return codec.dumps(self._own3)

    # --- finish --------------------------------------------------------------------------------
    def finish(self, inbox: Mapping[int, bytes]) -> Presignature:
        commitments = {self.me: (_pt(self._own3[1]), _pt(self._own3[2]), _pt(self._own3[3]))}
        for j in self.others:
            try:
                m = codec.load_map(inbox[j], frozenset({0, 1, 2, 3}))
                echo = codec.get_bytes(m, 0, 32)
                commitments[j] = (_pt(m[1]), _pt(m[2]), _pt(m[3]))
            except DecodeError as exc:
                raise ProtocolAbort([j], "decode", f"malformed presign round-3 message: {exc}") from None
            if not hmac.compare_digest(echo, self._own3[0]):
                raise ProtocolAbort([j], "echo-mismatch", "signer saw different round-2 public values")
        # The id names the session, not the round-3 values: a signer that equivocated in round 3 is
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


# --- online round ------------------------------------------------------------------------------------
def digest_scalar(digest: bytes) -> int:
    """SEC 1 §4.1.3 step 5 for a 32-byte digest and a 256-bit order: the integer, reduced."""
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise InvalidParameterError("ECDSA signs a 32-byte message digest")
    return int.from_bytes(digest, "big") % N


def online_message(presig: Presignature, digest: bytes) -> tuple[bytes, tuple[int, int]]:
    """Consume the presignature and produce this signer's online share ``(w_i, u_i)``."""
    e = digest_scalar(digest)
    phi, u, v = presig.take()
    w = (e * phi + presig.r_x * v) % N
    payload = codec.dumps({0: presig.presig_id, 1: bytes(digest), 2: G.scalar_to_bytes(w), 3: G.scalar_to_bytes(u)})
    return payload, (w, u)


def combine(presig: Presignature, digest: bytes, own: tuple[int, int], inbox: Mapping[int, bytes]) -> bytes:
    """Check every online share against its presigning commitments, combine, normalise, verify."""
    e = digest_scalar(digest)
    shares = {presig.index: own}
    for j, data in inbox.items():
        try:
            m = codec.load_map(data, frozenset({0, 1, 2, 3}))
            pid, dig = codec.get_bytes(m, 0, 32), codec.get_bytes(m, 1, 32)
            w, u = _sc(m[2]), _sc(m[3])
        except DecodeError as exc:
            raise ProtocolAbort([j], "decode", f"malformed online share: {exc}") from None
        if not hmac.compare_digest(pid, presig.presig_id) or not hmac.compare_digest(dig, digest):
            raise ProtocolAbort([j], "presignature-mismatch", "signer used another presignature or message")
        phi_j, u_j, x_j = presig.commitments[j]
        if G.base_mul(u) != u_j or G.base_mul(w) != e * phi_j + x_j:
            raise ProtocolAbort([j], "ecdsa-final-share", "online share inconsistent with its presigning commitments")
        shares[j] = (w, u)
    w_sum = sum(s[0] for s in shares.values()) % N
    u_sum = sum(s[1] for s in shares.values()) % N
    if u_sum == 0:
        raise ProtocolAbort([], "ecdsa-combine", "degenerate presignature")
    s = w_sum * pow(u_sum, -1, N) % N
    s = min(s, N - s)  # low S (BIP62 / EIP-2)
    r = presig.r_x
    if r == 0 or s == 0:
        raise ProtocolAbort([], "ecdsa-combine", "degenerate signature")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if not verify(presig.group_key.encode(), bytes(digest), sig):
        raise SignatureError("combined ECDSA signature does not verify")
    return sig


def verify(public_key: bytes, digest: bytes, sig: bytes) -> bool:
    """ECDSA verification of a 64-byte ``r‖s`` (low S required) over a 32-byte digest, by libsecp256k1."""
    if len(sig) != 64 or len(digest) != 32:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s <= N // 2):
        return False
    try:
        return bool(PublicKey(public_key).verify(encode_dss_signature(r, s), digest, hasher=None))
    except (ValueError, TypeError):
        return False
