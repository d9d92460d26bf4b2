"""The enclave guardian's reshare and repair steps, each one custody-contract execute.

:class:`ContractReshare` and :class:`ContractRepair` are what the protocol parties of a custody
holder call where an ordinary holder computes with its share
(:class:`gridlock.protocol.custody.CustodyReshare`, :class:`~gridlock.protocol.custody.CustodyRepair`);
the contract side is :mod:`gridlock.enclave.contract_keychange`.  This process passes the
recipients' public identities (the contract checks each against the owner-approved request) and
carries commitments, published images and sealed values; it never sees a value it could open.

A contract refusal that names a node (``culprit``: what that node sealed to this guardian does not
open, or fails its check) becomes the protocol's abort naming it: this guardian found it on its own
authenticated channel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from gridlock.crypto import codec
from gridlock.crypto.group import Point
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.reshare import PublicPackage
from gridlock.crypto.schemes import get_scheme
from gridlock.enclave.errors import Culprit
from gridlock.errors import DecodeError, ProtocolAbort

if TYPE_CHECKING:
    from gridlock.enclave.keystore import EnclaveKeystore
    from gridlock.guardian.shares import Approved, KeyChange

__all__ = ["ContractRepair", "ContractReshare"]


@contextlib.contextmanager
def _blamed(check: str) -> Iterator[None]:
    try:
        yield
    except Culprit as exc:
        raise ProtocolAbort(exc.nodes, check, f"the custody contract: {exc.reason}") from None


class _Steps:
    """One key change of ``store``'s vault (:class:`~gridlock.guardian.shares.KeyChange`)."""

    def __init__(self, store: EnclaveKeystore, change: KeyChange) -> None:
        self.store, self.change = store, change
        self.vault_id, self.session, self.me = change.vault_id, change.session_id, change.me
        self.group = get_scheme(change.scheme).group

    def _recipients(self, nodes: Sequence[int]) -> dict[int, bytes]:
        return {j: self.change.identities[j].to_bytes() for j in nodes if j != self.me}

    def _points(self, raw: Sequence[bytes]) -> list[Point]:
        try:
            return [codec.point(self.group, p) for p in raw]
        except DecodeError:
            raise ProtocolAbort([self.me], "decode", "the custody contract answered malformed points") from None

    def _holding(self) -> tuple[int, Approved]:
        share, approved = self.change.share, self.change.approved
        if share is None or approved is None:
            raise ProtocolAbort([], "custody", "a step with the share needs the held epoch and the owner's approval")
        return share.epoch, approved


class ContractReshare(_Steps):
    """A reshare's dealing and combining, in the contract."""

    def deal(
        self, dealers: Sequence[int], receivers: Sequence[int], threshold: int
    ) -> tuple[list[Point], dict[int, bytes]]:
        epoch, approved = self._holding()
        raw, sealed = self.store.reshare_deal(self.vault_id, epoch, approved, self.session, self._recipients(receivers))
        return self._points(raw), sealed

    def combine(
        self,
        old: PublicPackage,
        receivers: Sequence[int],
        threshold: int,
        commitments: Mapping[int, Sequence[Point]],
        sealed: Mapping[int, bytes],
        transcript_hash: bytes,
    ) -> KeyShare:
        body = {
            "package": old.to_bytes(),
            "index": self.me,
            "threshold": threshold,
            "receivers": list(receivers),
            "dealer_commitments": {d: [p.encode() for p in c] for d, c in commitments.items()},
            "sealed": dict(sealed),
            "transcript_hash": transcript_hash,
        }
        with _blamed("reshare-share-feldman"):
            return self.store.reshare_combine(self.vault_id, self.session, body)


class ContractRepair(_Steps):
    """A repair's split, sum and rebuilding, in the contract."""

    def split(self, helpers: Sequence[int], lost: int) -> tuple[list[Point], dict[int, bytes]]:
        epoch, approved = self._holding()
        raw, sealed = self.store.repair_split(
            self.vault_id, epoch, approved, self.session, self._recipients([*helpers, lost])
        )
        return self._points(raw), sealed

    def sum(self, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]) -> bytes:
        body = {"published": _encoded(published), "sealed": dict(sealed)}
        with _blamed("repair-part"):
            return self.store.repair_sum(self.vault_id, self.session, body)

    def rebuild(
        self, old: PublicPackage, published: Mapping[int, Sequence[Point]], sealed: Mapping[int, bytes]
    ) -> KeyShare:
        body = {"package": old.to_bytes(), "index": self.me, "published": _encoded(published), "sealed": dict(sealed)}
        with _blamed("repair-sum"):
            return self.store.repair_rebuild(self.vault_id, self.session, body)


def _encoded(points: Mapping[int, Sequence[Point]]) -> dict[int, list[bytes]]:
    return {i: [p.encode() for p in ps] for i, ps in points.items()}
