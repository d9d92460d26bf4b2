"""A malicious guardian's export reply ends in a typed error at the owner.

A guardian answers an export with ``share`` empty, a ``sealed`` blob under the owner's device key and
a negative ``index``: the sealed path builds the seal's context from the index, and a bare
``OverflowError`` there would kill ``gridlock vault export`` (which reports ``GridlockError``s) with
a traceback.  The reply is refused when read (an index is 1 or more).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gridlock import local
from gridlock.client.owner import OwnerDevice
from gridlock.client.vault import Vault
from gridlock.errors import DecodeError, GridlockError
from gridlock.wire import ops

SCHEME = "frost-ed25519"
OWNER = OwnerDevice()


class _Guardians:
    """The client's transport, answering every call with the malicious guardians' replies."""

    owner = OWNER

    def __init__(self, replies: dict[str, ops.Reply]) -> None:
        self.replies = replies

    async def call_all(self, guardians: Any, op: Any, timeout: Any = None) -> dict[str, ops.Reply]:
        return dict(self.replies)


def _vault(replies: dict[str, ops.Reply]) -> Vault:
    share = local.keygen(SCHEME, threshold=2, n=3)[0]
    return Vault(_Guardians(replies), "v", SCHEME, share.public_key, 2, {1: "g1", 2: "g2"}, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [-1, -(2**64)])
def test_a_sealed_export_reply_with_a_negative_index_is_a_typed_error(index: int) -> None:
    sealed = {OWNER.public.hex(): b"\x01" * 80}
    with pytest.raises(DecodeError, match="share index"):
        ops.ExportReply.from_result({"index": index, "share": b"", "sealed": sealed})
    evil = ops.ExportReply(2, b"", sealed)  # built past the wire check: the client still ends typed
    object.__setattr__(evil, "index", index)
    honest_looking = ops.ExportReply.from_result({"index": 2, "share": b"\x02" * 32, "sealed": {}})
    vault = _vault({"g1": evil, "g2": honest_looking})
    with pytest.raises(GridlockError):
        asyncio.run(vault.export(guardians=["g1", "g2"]))
