"""The owner's side of a vault's HD root (issue 15): fixed at keygen, checked in every answer.

The untweaked group key and the chain code are public, but whoever chooses them chooses every
child address.  So the SDK takes them once, at keygen, from *every* new holder's stored-epoch reply
(they must all agree and rebuild the vault's key), keeps them with the vault (the CLI's vault
book), derives every child key from that record (:class:`gridlock.crypto.hd.HdRoot`), and treats a
later answer that disagrees — a key change's reply, an ``info`` answer — as a refusal naming the
guardian (:class:`~gridlock.client.errors.RootMismatch`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from gridlock.client.errors import GuardianTimeout, RootMismatch
from gridlock.crypto.hd import HdRoot
from gridlock.errors import GridlockError
from gridlock.wire import ops

__all__ = ["agreed_root", "disagreeing", "root_or_none"]


def root_or_none(scheme: str, key: bytes, chain_code: bytes) -> HdRoot | None:
    """The root these encodings describe, or ``None`` when none is reported (a Taproot share that
    predates keeping its internal key) or they do not decode."""
    if not key or len(chain_code) != 32:
        return None
    try:
        return HdRoot.from_bytes(scheme, key, chain_code)
    except (GridlockError, ValueError):
        return None


def _reported(r: ops.Reply) -> tuple[bytes, bytes] | None:
    if isinstance(r, ops.InfoReply | ops.StoredReply):
        return bytes(r.group_key), bytes(r.chain_code)
    return None


def disagreeing(root: HdRoot, answers: Mapping[str, ops.Reply | BaseException]) -> list[str]:
    """The guardians whose answer reports another root than ``root`` (errors and other replies aside)."""
    mine = (root.key_bytes, root.chain_code)
    out = []
    for g, r in sorted(answers.items()):
        if isinstance(r, BaseException):
            continue
        got = _reported(r)
        if got is not None and got != mine:
            out.append(g)
    return out


def agreed_root(
    vault_id: str,
    scheme: str,
    public_key: bytes,
    answers: Mapping[str, ops.Reply | BaseException],
    holders: Sequence[str],
    what: str,
) -> HdRoot | None:
    """The root every holder reports, which must rebuild ``public_key`` at ``m``; ``None`` when the
    key has none (a Taproot key from before internal keys were kept).  A holder that did not answer
    is a :class:`GuardianTimeout`; holders that disagree with the others (all of them, when there is
    no majority) or a root of another key are a :class:`RootMismatch` naming them."""
    reports: dict[str, tuple[bytes, bytes]] = {}
    missing = []
    for g in holders:
        r = answers.get(g)
        got = None if r is None or isinstance(r, BaseException) else _reported(r)
        if got is None:
            missing.append(g)
        else:
            reports[g] = got
    if missing:
        raise GuardianTimeout(missing, f"{what}: confirming the vault's chain code")
    counts = Counter(reports.values())
    (value, n), *rest = counts.most_common()
    if rest:
        liars = [g for g, v in reports.items() if v != value] if n > len(reports) // 2 else sorted(reports)
        raise RootMismatch(vault_id, liars, what)
    root = root_or_none(scheme, *value)
    if root is None:
        if value[0]:
            raise RootMismatch(vault_id, sorted(reports), what)
        return None
    if root.public_key("m") != public_key:
        raise RootMismatch(vault_id, sorted(reports), what)
    return root
