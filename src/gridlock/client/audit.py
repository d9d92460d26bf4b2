"""The owner's side of the guardians' audit logs: fetch a vault's log from a guardian, verify it, and
remember its signed head so a later log that was cut short, rewritten or replaced is noticed.

:class:`AuditHeads` keeps the last verified head per guardian and vault — in memory, and in a JSON
file when given one (the CLI keeps ``audit-heads.json`` in the devnet directory); a head only moves
forward, also when several processes of the owner share the file.  The checks themselves are
:func:`gridlock.wire.audit.verify_log`'s.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gridlock.wire import ops
from gridlock.wire.audit import AuditError, AuditHead, verify_log

if TYPE_CHECKING:
    from gridlock.client.client import Client

__all__ = ["AuditHeads", "fetch_audit"]

FORMAT: Final = "gridlock-audit-heads/1"
MAX_LOG: Final = 10_000_000  # entries of one vault's log the owner is willing to fetch


class AuditHeads:
    """The last signed audit head the owner verified, per guardian and vault."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._heads: dict[tuple[str, str], AuditHead] = {}
        if self.path is not None:
            self._heads = self._load()

    def get(self, guardian: str, vault: str) -> AuditHead | None:
        if self.path is not None:
            self._heads = self._merge(self._load())
        return self._heads.get((guardian, vault))

    def put(self, guardian: str, head: AuditHead) -> None:
        """Keep ``head`` unless a longer one of the same chain is kept already."""
        if self.path is None:
            self._heads = self._merge({(guardian, head.vault): head})
            return
        with self._locked():
            self._heads = self._merge({**self._load(), (guardian, head.vault): head})
            self._save()

    def _merge(self, other: dict[tuple[str, str], AuditHead]) -> dict[tuple[str, str], AuditHead]:
        out = dict(self._heads)
        for key, head in other.items():
            if key not in out or head.n >= out[key].n:
                out[key] = head
        return out

    # --- the file --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _load(self) -> dict[tuple[str, str], AuditHead]:
        assert self.path is not None
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AuditError(f"cannot read the audit heads in {self.path}: {type(exc).__name__}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("heads"), dict):
            raise AuditError(f"{self.path} does not hold audit heads")
        heads: dict[tuple[str, str], AuditHead] = {}
        for guardian, per_vault in doc["heads"].items():
            if not isinstance(per_vault, dict):
                raise AuditError(f"{self.path} does not hold audit heads")
            for vault, head in per_vault.items():
                heads[(guardian, vault)] = AuditHead.from_json(head)
        return heads

    def _save(self) -> None:
        assert self.path is not None
        doc: dict[str, Any] = {"format": FORMAT, "heads": {}}
        for (guardian, vault), head in sorted(self._heads.items()):
            doc["heads"].setdefault(guardian, {})[vault] = head.to_json()
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)


async def fetch_audit(client: Client, guardian: str, vault_id: str) -> list[dict[str, Any]]:
    """``guardian``'s whole log of ``vault_id`` (the entries' bodies), verified against its key and
    the head kept from before (:class:`~gridlock.wire.audit.AuditTampered` naming the guardian
    otherwise); the new head is kept."""
    entries: list[Any] = []
    while True:
        reply = ops.expect(await client.call(guardian, ops.Audit(vault_id, len(entries))), ops.AuditReply)
        try:
            page = [json.loads(e) for e in reply.entries]
        except (ValueError, RecursionError):
            raise AuditError(f"guardian {guardian} sent audit entries that are not JSON") from None
        entries += page
        if reply.head[0] > MAX_LOG:
            raise AuditError(f"guardian {guardian} reports an audit log of {reply.head[0]} entries: too long to fetch")
        if not page or len(entries) >= reply.head[0]:
            break
    bodies, head = verify_log(
        entries,
        reply.head,
        reply.signature,
        client.directory[guardian],
        guardian=guardian,
        vault=vault_id,
        known=client.audit_heads.get(guardian, vault_id),
    )
    client.audit_heads.put(guardian, head)
    return bodies
