"""Reshare and repair with holders whose shares a custody contract keeps (issue 17 #4).

A *custody holder* (the enclave guardian) keeps its share in a contract that its own host cannot
read; the host runs the protocol rounds and carries messages.  For a reshare or repair not to hand
the share to that host, every value computed from the share is computed in the contract, and every
value meant for a holder travels sealed to a key of that holder's that the host cannot swap:

* what the contract sends (a dealer's sub-share, a repair helper's parts and sum) is sealed in the
  contract (:func:`gridlock.crypto.x25519_seal.seal`) to the recipient's
  :attr:`~gridlock.wire.identity.PublicIdentity.seal_key` — the X25519 part of an ordinary
  guardian's identity, the custody key of another custody holder.  The contract takes those keys
  from the recipients' public identities, checked against the guardian ids of the request the owner
  approved, so the host cannot substitute its own;
* what an ordinary holder sends to a custody holder is sealed, in the sender's process, to the
  custody key in the custody holder's identity (part of what its guardian id hashes), and opened
  only in the contract;
* between ordinary holders nothing changes: the value goes in the clear inside the
  point-to-point envelope, itself encrypted to the recipient.

A message field is :data:`PLAIN` (the scalar) or :data:`SEALED` (the sealed scalar), never both.
Every sealed value is bound (:func:`context`) to the session, the protocol step, the sender and
the recipient, so the host cannot move one to another place.

A value that does not open, or opens to one that fails its check, came in an envelope its sender
signed: the recipient names the sender (it found the fault on its own authenticated channel); the
others cannot open it to re-check, so for them the sender stays a suspect.

The contract's side is :class:`CustodyReshare` / :class:`CustodyRepair`, given to the protocol
party of a custody holder by its guardian (:mod:`gridlock.guardian.shares`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from gridlock.crypto import transcript, x25519_seal
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.reshare import PublicPackage
from gridlock.errors import DecodeError, ProtocolAbort

__all__ = [
    "CUSTODY_SCHEMES",
    "PLAIN",
    "SEALED",
    "Channel",
    "CustodyRepair",
    "CustodyReshare",
    "context",
]

CUSTODY_SCHEMES: Final = frozenset({"frost-ed25519", "frost-secp256k1", "frost-taproot"})
"""The schemes a custody contract keeps and uses shares of (threshold ECDSA's presigning state is
too large for it: docs/SECURITY.md row 38); for the others nothing is sealed."""
SEAL_LABEL: Final = b"gridlock/key-change/sealed/v1"
PLAIN: Final = 0
SEALED: Final = 2
Opener = Callable[[bytes, bytes], bytes]
"""``(sealed, context) → plaintext``: an ordinary holder opening what a contract sealed to its
identity (:meth:`gridlock.wire.identity.Identity.open_sealed`); raises ``DecodeError``."""


def context(session_id: bytes, vault_id: str, step: str, sender: int, recipient: int) -> bytes:
    """What one sealed value is bound to: the session, the vault (which a contract can check: a
    value sealed for one vault opens into no other), the step (``reshare``, ``repair-part``,
    ``repair-sum``), who sent it and to whom."""
    return transcript.encode(
        SEAL_LABEL,
        session_id,
        vault_id.encode(),
        step.encode(),
        transcript.int_field(sender),
        transcript.int_field(recipient),
    )


@dataclass(frozen=True)
class Channel:
    """How this node's key-change values reach the custody holders, and how it reads the values
    sent to it.  ``custody_keys``: node index → custody key, for the nodes that are custody holders
    (from their public identities); ``opener``: this node's, for values a contract sealed to it."""

    session_id: bytes
    vault_id: str
    me: int
    custody_keys: Mapping[int, bytes] = field(default_factory=dict)
    opener: Opener | None = None

    def to(self, step: str, recipient: int, value: bytes) -> dict[int, bytes]:
        """The message fields carrying ``value`` to ``recipient``: sealed to its custody key if it
        has one (fresh ephemeral key from the OS), else in the clear."""
        key = self.custody_keys.get(recipient)
        if key is None:
            return {PLAIN: value}
        ctx = context(self.session_id, self.vault_id, step, self.me, recipient)
        return {SEALED: x25519_seal.seal(key, value, ctx, _seed())}

    def sealed_from(self, step: str, sender: int, m: Mapping[int, Any]) -> bytes:
        """The sealed value ``sender`` sent this custody holder in ``m`` (the contract opens it).  A
        value in the clear was shown to this node's host: the sender broke the protocol."""
        if set(m) & {PLAIN, SEALED} != {SEALED} or not isinstance(m[SEALED], bytes):
            raise ProtocolAbort([sender], "decode", "a value for a custody holder must come sealed, and only sealed")
        return m[SEALED]

    def read(self, step: str, sender: int, m: Mapping[int, Any], length: int) -> bytes:
        """The value ``sender`` sent this ordinary node in ``m``: in the clear, or sealed to it by a
        contract and opened here."""
        fields = [m[k] for k in (PLAIN, SEALED) if k in m]
        if len(fields) != 1 or not isinstance(fields[0], bytes):
            raise ProtocolAbort([sender], "decode", "a value comes either in the clear or sealed")
        if PLAIN in m:
            value: bytes = fields[0]
        else:
            if self.opener is None:
                raise ProtocolAbort([sender], "decode", "a sealed value to a node that cannot open one")
            try:
                value = self.opener(fields[0], context(self.session_id, self.vault_id, step, sender, self.me))
            except DecodeError:
                raise ProtocolAbort([sender], "sealed-value", "the sealed value does not open for this node") from None
        if len(value) != length:
            raise ProtocolAbort([sender], "decode", f"a value of {len(value)} bytes where {length} were due")
        return value


def _seed() -> bytes:
    return secrets.token_bytes(32)


class CustodyReshare(Protocol):
    """A custody holder's reshare steps, run in its contract."""

    def deal(
        self, dealers: Sequence[int], receivers: Sequence[int], threshold: int
    ) -> tuple[list[Point], dict[int, bytes]]:
        """Deal ``λ_i·s_i`` (over ``dealers``) to ``receivers`` with degree ``threshold − 1``: the
        commitment and the sub-share sealed to each receiver but this holder (whose own is kept)."""
        ...

    def combine(
        self,
        old: PublicPackage,
        receivers: Sequence[int],
        threshold: int,
        commitments: Mapping[int, Sequence[Point]],
        sealed: Mapping[int, bytes],
        transcript_hash: bytes,
    ) -> KeyShare:
        """This holder's new share from every dealer's (full) commitment and the sub-shares sealed
        to it (its own dealing's kept in the contract): staged there; its public view."""
        ...


class CustodyRepair(Protocol):
    """A custody holder's repair steps, run in its contract."""

    def split(self, helpers: Sequence[int], lost: int) -> tuple[list[Point], dict[int, bytes]]:
        """Helper: random parts of ``ζ_i·s_i``; the published ``Δ`` (in helper order) and each
        other helper's part sealed to it (this holder's own part is kept)."""
        ...

    def sum(self, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]) -> bytes:
        """Helper: ``σ`` (its kept part plus the parts sealed to it, each checked against its
        published ``Δ``), sealed to the lost holder."""
        ...

    def rebuild(
        self, old: PublicPackage, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]
    ) -> KeyShare:
        """Lost holder: the share from the sums sealed to it, staged in the contract; its public view."""
        ...
