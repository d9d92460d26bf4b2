"""The format of a guardian's audit log, shared by the guardian (which writes it) and the owner (who
fetches and verifies it).

Each vault has its own chain at a guardian: entry ``n`` (from 1) holds a body — ``seq`` (the order
of writing across the guardian's log), ``n``, time, vault, operation, requester, decision, reason,
a digest of the request — and its hash ``H(label, hash of entry n-1, canonical JSON of the body)``
(:data:`GENESIS` before entry 1).  The guardian signs every entry's hash with its Ed25519 identity
when it writes it, so nobody without the guardian's identity key — someone editing ``audit.db`` —
can change, remove, insert or re-chain an entry without the owner noticing (:func:`verify_log`).

What signatures cannot show is entries *missing at the end*, or a whole log replaced by a fresh one.
For that the owner keeps the last head it verified, per guardian and vault (:class:`AuditHead`,
signed by the guardian as it answers), and later requires it to still be in the chain: a log
shorter than that head is *truncated*, a different entry at its place is *rewritten*, a different
first entry is a *reset* chain (:class:`AuditTampered`, naming the guardian).  Entries written and
then cut off before the owner next looked are beyond this check.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gridlock.crypto import transcript
from gridlock.errors import GridlockError
from gridlock.wire.identity import PublicIdentity

__all__ = [
    "ENTRY_LABEL",
    "GENESIS",
    "HEAD_LABEL",
    "AuditError",
    "AuditHead",
    "AuditProblem",
    "AuditTampered",
    "entry_hash",
    "head_statement",
    "verify_chain",
    "verify_log",
]

GENESIS: Final = "0" * 64
ENTRY_LABEL: Final = b"gridlock/audit-entry/v2"  # what the guardian signs: the entry's hash
HEAD_LABEL: Final = b"gridlock/audit-head/v2"  # what the guardian signs as it answers: (vault, n, hash)
_HASH_LABEL: Final = b"gridlock/audit/v2"
_HEX64 = re.compile(r"[0-9a-f]{64}")
BODY_FIELDS: Final = frozenset({"seq", "n", "time", "vault", "op", "requester", "decision", "reason", "digest"})


class AuditError(GridlockError):
    """The audit log is unreadable or unwritable, or a reply about it is malformed."""


class AuditProblem(enum.StrEnum):
    TRUNCATED = "truncated"  # shorter than a head the owner saw
    REWRITTEN = "rewritten"  # an entry changed, removed, inserted or not signed by the guardian
    RESET = "reset"  # a different chain from its first entry on (a deleted or replaced log)


class AuditTampered(AuditError):
    """A guardian's log of a vault is not the one it signed: ``guardian``, ``vault``, ``problem``."""

    def __init__(self, guardian: str, vault: str, problem: AuditProblem, detail: str) -> None:
        self.guardian, self.vault, self.problem = guardian, vault, problem
        super().__init__(f"guardian {guardian}'s audit log of vault {vault} was {problem.value}: {detail}")


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(prev: str, body: Mapping[str, Any]) -> str:
    """The hash of an entry whose predecessor's hash is ``prev`` (hex)."""
    return hashlib.sha256(_HASH_LABEL + bytes.fromhex(prev) + _canonical(body)).hexdigest()


def head_statement(vault: str, n: int, head: str) -> bytes:
    """What a guardian signs when it reports a vault's chain ends at entry ``n`` with hash ``head``."""
    return transcript.encode(HEAD_LABEL, vault.encode(), transcript.int_field(n), bytes.fromhex(head))


@dataclass(frozen=True)
class AuditHead:
    """The last verified state of one guardian's chain of one vault, as the owner keeps it:
    ``n`` entries ending with hash ``hash``, first entry ``first`` (both :data:`GENESIS` when
    empty), and the guardian's signature of :func:`head_statement` (hex)."""

    vault: str
    n: int
    hash: str
    first: str
    signature: str

    def __post_init__(self) -> None:
        if not isinstance(self.vault, str) or len(self.vault) > 256:
            raise AuditError("an audit head names a vault (text)")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise AuditError("an audit head's length is a whole number")
        for value in (self.hash, self.first):
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise AuditError("an audit head's hashes are 64 hex digits")
        if (self.n == 0) != (self.hash == GENESIS) or (self.n == 0) != (self.first == GENESIS):
            raise AuditError("an empty audit head has the genesis hashes, and only it")
        if not isinstance(self.signature, str) or not re.fullmatch(r"([0-9a-f]{2})*", self.signature):
            raise AuditError("an audit head's signature is hex")

    def to_json(self) -> dict[str, Any]:
        return {"vault": self.vault, "n": self.n, "hash": self.hash, "first": self.first, "signature": self.signature}

    @classmethod
    def from_json(cls, doc: Any) -> AuditHead:
        if not isinstance(doc, dict) or set(doc) != {"vault", "n", "hash", "first", "signature"}:
            raise AuditError("a stored audit head is malformed")
        return cls(doc["vault"], doc["n"], doc["hash"], doc["first"], doc["signature"])


def _entry(e: Any, guardian: str, vault: str) -> tuple[dict[str, Any], str, str, bytes]:
    """One reported entry's parts, shape-checked (a malformed one is a rewritten log)."""
    ok = isinstance(e, dict) and set(e) == {"body", "hash", "prev", "signature"}
    body, h, prev, sig = (e.get("body"), e.get("hash"), e.get("prev"), e.get("signature")) if ok else (None,) * 4
    if not (
        isinstance(body, dict)
        and set(body) == BODY_FIELDS
        and type(body["n"]) is int
        and body["vault"] == vault
        and isinstance(h, str)
        and _HEX64.fullmatch(h)
        and isinstance(prev, str)
        and _HEX64.fullmatch(prev)
        and isinstance(sig, str)
        and re.fullmatch(r"[0-9a-f]{128}", sig)
    ):
        raise AuditTampered(guardian, vault, AuditProblem.REWRITTEN, "an entry is malformed")
    return body, h, prev, bytes.fromhex(sig)


def verify_chain(entries: Sequence[Any], key: PublicIdentity, *, guardian: str, vault: str) -> list[dict[str, Any]]:
    """A vault's whole chain at one guardian, from entry 1: every hash recomputes, links to the one
    before, carries the guardian's signature, and the entries are numbered 1, 2, ….  Returns the bodies."""
    prev, bodies = GENESIS, []
    for i, e in enumerate(entries, start=1):
        body, h, link, sig = _entry(e, guardian, vault)
        if body["n"] != i or link != prev:
            raise AuditTampered(guardian, vault, AuditProblem.REWRITTEN, f"entry {i} does not follow entry {i - 1}")
        if entry_hash(prev, body) != h or not key.verify(ENTRY_LABEL, bytes.fromhex(h), sig):
            raise AuditTampered(guardian, vault, AuditProblem.REWRITTEN, f"entry {i} is not as the guardian signed it")
        prev = h
        bodies.append(body)
    return bodies


def verify_log(
    entries: Sequence[Any],
    head: Sequence[Any],
    signature: bytes,
    key: PublicIdentity,
    *,
    guardian: str,
    vault: str,
    known: AuditHead | None,
) -> tuple[list[dict[str, Any]], AuditHead]:
    """Check a guardian's answer for a vault's whole log — ``entries`` (decoded JSON), the reported
    ``head`` ``[n, hash]`` and its ``signature`` — against its key and the head the owner ``known``
    from before.  Returns the entries' bodies and the head to keep instead of ``known``."""
    bodies = verify_chain(entries, key, guardian=guardian, vault=vault)
    hashes = [e["hash"] for e in entries]
    n, last = len(hashes), hashes[-1] if hashes else GENESIS
    if list(head) != [n, last]:
        raise AuditError(f"guardian {guardian} reported an audit head that is not the end of the entries it sent")
    if not key.verify(HEAD_LABEL, head_statement(vault, n, last), signature):
        raise AuditError(f"guardian {guardian} did not sign the audit head it reported")
    if known is not None and known.n > 0:
        if n == 0 or hashes[0] != known.first:
            raise AuditTampered(
                guardian, vault, AuditProblem.RESET, f"it no longer starts with the entry seen before ({n} entries now)"
            )
        if n < known.n:
            raise AuditTampered(
                guardian, vault, AuditProblem.TRUNCATED, f"{n} entries, after {known.n} were seen and signed"
            )
        if hashes[known.n - 1] != known.hash:
            raise AuditTampered(
                guardian, vault, AuditProblem.REWRITTEN, f"entry {known.n} is not the one seen and signed before"
            )
    return bodies, AuditHead(vault, n, last, hashes[0] if hashes else GENESIS, signature.hex())
