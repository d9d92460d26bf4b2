"""The in-process façade: every participant in this process, on the in-memory network.

This is the contract acceptance tests call (keep the names stable)::

    shares = local.keygen(scheme, threshold=3, n=5)
    sig = local.sign(shares_subset, message)
    local.verify(scheme, public_key, message, sig)

Each call runs the real multi-party protocol — one state machine per
participant exchanging serialised messages — not a shortcut through a dealer.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from gridlock.crypto import hd, keyimport
from gridlock.crypto.ecdsa import online as ecdsa_online
from gridlock.crypto.ecdsa.online import Presignature
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite, get_scheme
from gridlock.errors import InvalidParameterError
from gridlock.protocol.dkg import DkgParty
from gridlock.protocol.ecdsa import EcdsaKeygenParty, EcdsaSetupParty, OnlineSignParty, PresignParty
from gridlock.protocol.frost import FrostSignParty
from gridlock.protocol.party import RoundProtocol
from gridlock.protocol.repair import RepairParty
from gridlock.protocol.reshare import ReshareParty
from gridlock.protocol.runner import run

__all__ = [
    "KeyShare",
    "LocalSigner",
    "Presignature",
    "derive",
    "export_key",
    "import_key",
    "keygen",
    "presign",
    "refresh",
    "repair",
    "reshare",
    "sign",
    "sign_with_presignatures",
    "signer",
    "verify",
]
ECDSA = "ecdsa-secp256k1"


def _session_id() -> bytes:
    return secrets.token_bytes(32)


def keygen(scheme: str, threshold: int = 3, n: int = 5) -> list[KeyShare]:
    """Distributed key generation among ``n`` in-memory parties with indices ``1..n``."""
    sch = get_scheme(scheme)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidParameterError("n must be an integer of at least 2")
    ids = list(range(1, n + 1))
    sid = _session_id()
    parties: dict[int, RoundProtocol[KeyShare]]
    if sch.name == ECDSA:
        parties = {i: EcdsaKeygenParty(sid, i, ids, threshold) for i in ids}
    else:
        parties = {i: DkgParty(sch, sid, i, ids, threshold) for i in ids}
    results = run(parties)
    return [results[i] for i in ids]


def check_same_key(shares: Sequence[KeyShare]) -> None:
    """All shares belong to one key and one epoch, with distinct holders, and are enough to sign."""
    if not shares:
        raise InvalidParameterError("no key shares given")
    if not all(isinstance(s, KeyShare) for s in shares):
        raise InvalidParameterError("expected KeyShare objects")
    first = shares[0]
    if any(s.public_fingerprint() != first.public_fingerprint() for s in shares[1:]):
        if any(s.group_key != first.group_key or s.scheme != first.scheme for s in shares[1:]):
            raise InvalidParameterError("the shares belong to different keys")
        raise InvalidParameterError("the shares belong to different epochs of the key (refresh mixes are refused)")
    if len({s.index for s in shares}) != len(shares):
        raise InvalidParameterError("two shares have the same index")
    if len(shares) < first.threshold:
        raise InvalidParameterError(f"{len(shares)} shares given, but {first.threshold} are needed to sign")


def sign(shares: Sequence[KeyShare], message: bytes) -> bytes:
    """Sign ``message`` with the given shares (at least the threshold); every signer takes part.

    For ``ecdsa-secp256k1`` the message is the 32-byte digest to sign (presign + online round).
    """
    shares = list(shares)
    check_same_key(shares)
    if not isinstance(message, bytes | bytearray):
        raise InvalidParameterError("message must be bytes")
    if shares[0].scheme == ECDSA:
        ecdsa_online.digest_scalar(bytes(message))
        return sign_with_presignatures(presign(shares), message)
    get_frost_suite(shares[0].scheme)
    signers = [s.index for s in shares]
    sid = _session_id()
    parties = {s.index: FrostSignParty(s, sid, signers, bytes(message)) for s in shares}
    results = run(parties)
    sigs = set(results.values())
    if len(sigs) != 1:  # every signer aggregates and verifies; they must agree
        raise InvalidParameterError("signers produced different signatures")
    return sigs.pop()


def presign(shares: Sequence[KeyShare]) -> list[Presignature]:
    """Threshold-ECDSA presigning (message independent); one single-use presignature per signer."""
    shares = list(shares)
    check_same_key(shares)
    if shares[0].scheme != ECDSA:
        raise InvalidParameterError("presignatures exist for ecdsa-secp256k1 keys only")
    signers = [s.index for s in shares]
    sid = _session_id()
    results = run({s.index: PresignParty(s, sid, signers) for s in shares})
    return [results[s.index] for s in shares]


def sign_with_presignatures(presignatures: Sequence[Presignature], digest: bytes) -> bytes:
    """The online round: sign a 32-byte digest with one presignature per signer; 64-byte ``r‖s``, low S.

    Each presignature is consumed, also when the round fails; a second use is refused.
    """
    pres = list(presignatures)
    if not pres or not all(isinstance(p, Presignature) for p in pres):
        raise InvalidParameterError("expected the presignatures returned by presign()")
    if len({p.presig_id for p in pres}) != 1 or sorted(p.index for p in pres) != list(pres[0].signers):
        raise InvalidParameterError("presignatures must come from one presigning run, one per signer")
    if isinstance(digest, bytearray):
        digest = bytes(digest)
    sid = _session_id()
    parties = {p.index: OnlineSignParty(p, sid, digest) for p in pres}
    results = run(parties)
    sigs = set(results.values())
    if len(sigs) != 1:
        raise InvalidParameterError("signers produced different signatures")
    return sigs.pop()


def verify(scheme: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Standard single-signer verification: RFC 8032 (libsodium), RFC 9591 Schnorr, BIP340 or ECDSA
    (libsecp256k1; ``message`` is the 32-byte digest for ECDSA)."""
    if get_scheme(scheme).name == ECDSA:
        return ecdsa_online.verify(bytes(public_key), bytes(message), bytes(signature))
    return get_frost_suite(scheme).verify(bytes(public_key), bytes(message), bytes(signature))


class LocalSigner:
    """The signer seam chain code signs through: ``.scheme``, ``.public_key``, ``.sign(message)``.

    Here every signature runs the full threshold protocol among the given in-process shares; the
    networked ``Vault`` offers the same three members.  For ``ecdsa-secp256k1`` ``sign`` takes the
    32-byte digest and returns 64-byte low-S ``r‖s``; for FROST schemes the message itself.
    """

    def __init__(self, shares: Sequence[KeyShare]) -> None:
        shares = list(shares)
        check_same_key(shares)
        self._shares = shares
        self.scheme: str = shares[0].scheme
        self.public_key: bytes = shares[0].public_key

    def sign(self, message: bytes) -> bytes:
        return sign(self._shares, message)

    def __repr__(self) -> str:
        return f"LocalSigner(scheme={self.scheme!r}, public_key={self.public_key.hex()}, signers={len(self._shares)})"


def signer(shares: Sequence[KeyShare]) -> LocalSigner:
    """A façade signer over at least ``t`` shares of one key."""
    return LocalSigner(shares)


# --- share lifecycle -------------------------------------------------------------------------------
def refresh(shares: Sequence[KeyShare]) -> list[KeyShare]:
    """Proactive refresh by all current holders: same key and threshold, every share new, epoch + 1."""
    shares = list(shares)
    check_same_key(shares)
    first = shares[0]
    if sorted(s.index for s in shares) != list(first.participants):
        raise InvalidParameterError("refresh needs every current holder; use reshare to change the committee")
    sid = _session_id()
    ids = list(first.participants)
    parties = {s.index: ReshareParty.for_refresh(sid, s) for s in shares}
    results = run(parties)
    return [_share(results[i]) for i in ids]


def reshare(shares: Sequence[KeyShare], threshold: int, n: int) -> list[KeyShare]:
    """At least ``t`` holders deal the key to a new committee ``1..n`` with a new threshold.

    Node ``i`` of the new committee is the guardian that held share ``i`` before, where there was
    one: ``3-of-5 → 4-of-7`` keeps holders 1–5 and adds 6 and 7.  The old shares cannot sign with
    the new ones (another epoch) nor combine with them to anything.
    """
    shares = list(shares)
    check_same_key(shares)
    first = shares[0]
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidParameterError("n must be an integer of at least 2")
    dealers = sorted(s.index for s in shares)
    new_ids = list(range(1, n + 1))
    sid = _session_id()
    by_index = {s.index: s for s in shares}
    parties = {
        node: ReshareParty(
            sid,
            node,
            scheme=first.scheme,
            old_share=by_index.get(node),
            dealers=dealers,
            new_participants=new_ids,
            new_threshold=threshold,
            refresh=False,
            expected_group_key=first.group_key,
        )
        for node in sorted(set(dealers) | set(new_ids))
    }
    results = run(parties)
    return [_share(results[i]) for i in new_ids]


def repair(helper_shares: Sequence[KeyShare], lost_index: int) -> KeyShare:
    """``t`` or more helpers rebuild the share of holder ``lost_index``, checked against its verifying share.

    For ``ecdsa-secp256k1`` the rebuilt share signs after a :func:`refresh` (its pairwise OT setup
    was lost with it; a refresh always follows a repair).
    """
    shares = list(helper_shares)
    check_same_key(shares)
    first = shares[0]
    if lost_index not in first.participants:
        raise InvalidParameterError(f"{lost_index} is not a holder of this key")
    helpers = [s.index for s in shares]
    sid = _session_id()
    parties = {
        s.index: RepairParty(sid, s.index, scheme=s.scheme, helper_share=s, helpers=helpers, lost=lost_index)
        for s in shares
    }
    parties[lost_index] = RepairParty(
        sid,
        lost_index,
        scheme=first.scheme,
        helper_share=None,
        helpers=helpers,
        lost=lost_index,
        expected_group_key=first.group_key,
    )
    return _share(run(parties)[lost_index])


def import_key(
    scheme: str, secret: bytes, threshold: int = 3, n: int = 5, chain_code: bytes | None = None
) -> list[KeyShare]:
    """Split an existing key among ``n`` holders (recorded as ``origin="import"``, never DKG-born)."""
    shares = keyimport.split(scheme, secret, threshold, n, chain_code)
    if get_scheme(scheme).name == ECDSA:
        sid = _session_id()
        results = run({s.index: EcdsaSetupParty(s, sid) for s in shares})
        shares = [results[s.index] for s in shares]
    return shares


def export_key(shares: Sequence[KeyShare]) -> bytes:
    """The emergency exit: ``t`` holders reconstruct the key for its owner (master keys only)."""
    shares = list(shares)
    check_same_key(shares)
    return keyimport.reconstruct(shares)


def derive(shares: Sequence[KeyShare], path: str) -> list[KeyShare]:
    """Child shares at a non-hardened path (``"m/0/1"``): same holders, threshold and epoch."""
    shares = list(shares)
    if not shares:
        raise InvalidParameterError("no key shares given")
    if any(s.public_fingerprint() != shares[0].public_fingerprint() for s in shares[1:]):
        raise InvalidParameterError("the shares belong to different keys or epochs")
    return [hd.derive(s, path) for s in shares]


def _share(result: KeyShare | None) -> KeyShare:
    if result is None:  # pragma: no cover - receivers always output a share
        raise InvalidParameterError("protocol ended without a share")
    return result
