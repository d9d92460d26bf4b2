"""A key share's public data, for a process that must not hold the secret share itself.

The enclave guardian's FROST shares stay inside the custody contract (issue 17 point 4): the
guardian process still needs everything *around* the secret — its index, the threshold, every
verifying share, the group key, the chain code, the epoch and transcript hash — to run the
network protocol, check the owner's requests and judge the other signers' shares.
:class:`SealedShare` is that view.  It is a :class:`~gridlock.crypto.keyshare.KeyShare` (so every
consumer of public data takes it unchanged) whose ``secret`` cannot be read: reading it, encoding
the share (:meth:`~KeyShare.to_bytes`) or deriving a child share from it
(:func:`gridlock.crypto.hd.derive`, which needs the secret) raises :class:`SealedShareError`, so a
code path that would need the secret fails loudly instead of computing with a stand-in.

Wire form (:func:`seal`, :meth:`SealedShare.from_bytes`): the key-share format with the secret
field replaced by the scalar 1, which no verifying share is checked against.  A plain
:meth:`KeyShare.from_bytes` refuses it (the stand-in does not match the verifying share), so a
sealed view can never be taken for a usable share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gridlock.crypto import codec
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import InvalidParameterError

__all__ = ["SealedShare", "SealedShareError", "seal"]

_STAND_IN: Final = 1
"""The value kept in a sealed share's ``secret`` field (never read: see :class:`SealedShare`)."""
_K_SECRET: Final = 6  # the key-share format's secret field (gridlock.crypto.keyshare)


class SealedShareError(InvalidParameterError):
    """The secret share of a sealed view was asked for: it is held elsewhere (the custody contract)."""


@dataclass(frozen=True, eq=False, repr=False)
class SealedShare(KeyShare):
    """A share's public data; its secret lives elsewhere (see the module docstring)."""

    def _check_secret(self) -> None:
        if object.__getattribute__(self, "secret") != _STAND_IN:
            raise InvalidParameterError("a sealed share carries no secret")

    def __getattribute__(self, name: str) -> Any:
        if name == "secret":
            raise SealedShareError("this share is sealed: its secret stays where it is kept")
        return super().__getattribute__(name)

    @classmethod
    def of(cls, share: KeyShare) -> SealedShare:
        """The sealed view of ``share`` (made where the secret is, e.g. inside the contract)."""
        return cls.from_sealed(seal(share))

    @classmethod
    def from_sealed(cls, data: bytes) -> SealedShare:
        """Decode a sealed view (:func:`seal`'s output), checked as strictly as a share
        (:meth:`KeyShare.from_bytes`) except for the secret.  Raises ``DecodeError``."""
        share = cls.from_bytes(data)
        assert isinstance(share, SealedShare)  # from_bytes builds ``cls``
        return share

    def same_public_data(self, other: KeyShare) -> bool:
        """Whether ``other`` is a share (sealed or not) of the same holder, key and epoch."""
        return self.index == other.index and self.public_fingerprint() == other.public_fingerprint()


def seal(share: KeyShare) -> bytes:
    """The wire form of ``share``'s sealed view (see the module docstring)."""
    if isinstance(share, SealedShare):
        raise SealedShareError("the share is sealed already")
    fields: dict[int, Any] = dict(codec.loads(share.to_bytes()))
    fields[_K_SECRET] = get_scheme(share.scheme).group.scalar_to_bytes(_STAND_IN)
    return codec.dumps(fields)
