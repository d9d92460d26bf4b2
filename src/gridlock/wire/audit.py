"""The format of a guardian's audit log, shared by the guardian (which writes it) and the owner
(who fetches and verifies it): entries chained by SHA-256 over their canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from gridlock.errors import GridlockError

GENESIS = "0" * 64
HEAD_LABEL = b"gridlock/audit-head/v1"


class AuditError(GridlockError):
    """The audit log is unreadable, or a chain of entries does not verify."""


def entry_hash(prev: str, body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(b"gridlock/audit/v1" + bytes.fromhex(prev) + data).hexdigest()


def verify_chain(entries: Sequence[dict[str, Any]]) -> None:
    """Every entry's hash recomputes, and entries link to each other where they are consecutive."""
    last: tuple[int, str] | None = None
    for e in entries:
        body, h, prev = e["body"], e["hash"], e["prev"]
        if entry_hash(prev, body) != h:
            raise AuditError(f"audit entry {body.get('seq')} does not match its hash")
        if last is not None and body["seq"] == last[0] + 1 and prev != last[1]:
            raise AuditError(f"audit entry {body['seq']} does not follow entry {last[0]}")
        last = (body["seq"], h)
