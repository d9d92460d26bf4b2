"""Echo broadcast: every party checks that all parties saw the same broadcasts.

A broadcast over point-to-point channels can *equivocate* (send different payloads to different
parties).  Following Goldwasser and Lindell ("Secure Multi-Party Computation without Agreement",
J. Cryptology 2005), every message of the round after a broadcast round carries its sender's
*echo* of that round: for each broadcast it saw, its own included, the broadcaster's index
(8 bytes, big-endian) and the SHA-256 of the payload, in index order.  A party compares every echo
it receives with its own (:class:`~gridlock.protocol.party.RoundProtocol` does, before anything
derived from the broadcast is used; SECURITY #5) and decides whom a disagreement blames here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

__all__ = ["ENTRY", "compare", "digest", "parse", "unexplained"]

ENTRY = 40  # 8-byte index + SHA-256 digest


def digest(seen: Mapping[int, bytes]) -> bytes:
    """The echo of the broadcasts ``seen`` (``{broadcaster: payload}``)."""
    return b"".join(s.to_bytes(8, "big") + hashlib.sha256(seen[s]).digest() for s in sorted(seen))


def parse(echo: bytes) -> dict[int, bytes] | None:
    """An echo as ``{broadcaster: digest}``; None if malformed."""
    if not echo or len(echo) % ENTRY:
        return None
    out = {int.from_bytes(echo[i : i + 8], "big"): echo[i + 8 : i + ENTRY] for i in range(0, len(echo), ENTRY)}
    return out if len(out) * ENTRY == len(echo) else None


def compare(
    mine: bytes, theirs: bytes, *, echoer: int, me: int, signed: bool
) -> tuple[set[int], set[tuple[int, int]], list[int]]:
    """Compare ``echoer``'s echo ``theirs`` with this party's (``me``) complete view ``mine``.

    Returns (culprits, suspect pairs (broadcaster, echoer), broadcasters whose digests differ);
    a pair is "one of these two misbehaved".  The echoer is a culprit when its echo is malformed,
    when it contradicts the echoer's own broadcast as received here, or when it misreports this
    party's own broadcast (signed once, the same bytes for all: only when the echo is ``signed``,
    since on an unsigned network the router could have changed what the echoer got).  About any
    other broadcaster ``k`` it may be ``k`` that equivocated or the echoer that lies: both are
    suspects — only ``k``'s two signed broadcasts could tell.
    """
    ours = parse(mine)
    other = parse(theirs)
    if ours is None or other is None or set(other) != set(ours):
        return {echoer}, set(), []
    disputed = [k for k in sorted(ours) if ours[k] != other[k]]
    culprits: set[int] = set()
    pairs: set[tuple[int, int]] = set()
    for k in disputed:
        if k == echoer or (k == me and signed):
            culprits.add(echoer)
        else:
            pairs.add((k, echoer))
    return culprits, pairs, disputed


def unexplained(pairs: Iterable[tuple[int, int]], culprits: set[int]) -> set[int]:
    """Suspects from echo disputes ``(broadcaster, echoer)``: a dispute about a broadcaster already
    proven to have equivocated is explained by that, and makes the echoer no suspect."""
    return {x for k, echoer in pairs if k not in culprits for x in (k, echoer)}
