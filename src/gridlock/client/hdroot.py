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
from typing import TYPE_CHECKING

from gridlock.client.errors import GuardianTimeout, RootMismatch
from gridlock.crypto.hd import HdRoot, canonical_path, parse_path
from gridlock.errors import GridlockError, InvalidParameterError
from gridlock.wire import ops

if TYPE_CHECKING:
    from gridlock.client.client import Client

__all__ = ["HdKeys", "agreed_root", "disagreeing", "root_or_none"]


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


class HdKeys:
    """The child keys of a :class:`~gridlock.client.vault.Vault` (which it is mixed into): all
    derived from the root recorded at keygen (``group_key``, ``chain_code``)."""

    client: Client
    vault_id: str
    scheme: str
    public_key: bytes
    members: dict[int, str]
    group_key: bytes
    chain_code: bytes

    def _holders(self) -> list[str]:
        return [self.members[i] for i in sorted(self.members)]

    @property
    def root(self) -> HdRoot:
        """The vault's HD root as recorded at keygen (:mod:`gridlock.client.hdroot`)."""
        root = root_or_none(self.scheme, self.group_key, self.chain_code)
        if root is None:
            raise InvalidParameterError(
                f"vault {self.vault_id} has no recorded chain code (a record from before HD wallets, or a Taproot "
                "key that predates keeping its internal key): learn_root() records it when every holder agrees"
            )
        return root

    def key_at(self, path: str) -> bytes:
        """The public key at ``path`` (``"m"``: the vault's own), from the recorded root only."""
        return self.public_key if canonical_path(path) == "m" else self.root.public_key(path)

    async def child_public_key(self, path: str) -> bytes:
        """The public key at the non-hardened ``path`` (``m/0/1``; BIP32 ``CKDpub``, BIP86 at the leaf
        for Taproot, :mod:`gridlock.crypto.hd`), for a child address: ``chains.get(c).address(key, scheme)``.
        Computed from the root recorded at keygen; no guardian is asked (one that lies could not
        choose the address)."""
        parse_path(path)
        return self.key_at(path)

    async def learn_root(self, *, timeout: float = 10.0) -> HdRoot:
        """For a vault whose record lacks the root: ask *every* holder; they must all answer, agree
        and rebuild the vault's key (one that lies is named, :class:`RootMismatch`); then record it.
        With a recorded root, the holders that report another one are named instead."""
        answers = await self.client.call_all(self._holders(), ops.Info(self.vault_id), timeout)
        if self.group_key:
            liars = disagreeing(self.root, answers)
            if liars:
                raise RootMismatch(self.vault_id, liars, "checking the chain code")
            return self.root
        root = agreed_root(self.vault_id, self.scheme, self.public_key, answers, self._holders(), "learning the root")
        if root is None:
            raise InvalidParameterError("this vault's key keeps no HD root (a Taproot key from before BIP86)")
        self.group_key, self.chain_code = root.key_bytes, root.chain_code
        return root

    def xpub(self, network: str = "mainnet") -> str:
        """The root xpub (``tpub`` on test networks) a watch-only wallet imports (secp256k1 vaults)."""
        return self.root.xpub(network)

    def descriptors(self, network: str = "mainnet") -> dict[str, str]:
        """The vault's checksummed receive / change descriptors and xpub (``wpkh`` for ECDSA, ``tr``
        for Taproot vaults; :mod:`gridlock.chains.bitcoin.descriptors`)."""
        from gridlock.chains.bitcoin.descriptors import vault_descriptors  # noqa: PLC0415

        return vault_descriptors(self.root, network).as_dict()
