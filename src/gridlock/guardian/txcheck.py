"""A guardian's own reading of a chain transaction (SECURITY #19).

The client shows the guardian the transaction itself (a :class:`gridlock.chains.TxContext`); the
guardian re-derives, with the chain's adapter (``gridlock.chains.get``), every hash it may be asked
to sign for it and what the transaction spends.  A request to sign anything else is refused — a
router or client that swaps the hash after the owner approved the transaction gets nothing.
"""

from __future__ import annotations

from gridlock import chains
from gridlock.chains import TxContext
from gridlock.errors import DecodeError, GridlockError
from gridlock.guardian.policy import Spend, spend_of


def derive(ctx: TxContext, scheme: str, public_key: bytes) -> tuple[set[bytes], Spend]:
    """The messages a signer may sign for ``ctx`` and what it spends; typed errors (:class:`DecodeError`)
    for a transaction the chain library cannot read.  (A malformed context never gets here: the
    request that carries it is refused when it is decoded, :mod:`gridlock.wire.ops`.)"""
    adapter = chains.get(ctx.chain)
    try:
        derived = adapter.derive(ctx, scheme, public_key)
    except GridlockError:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # a library's own error for input it cannot read
        raise DecodeError(f"{ctx.chain}: malformed transaction ({exc})") from None
    return set(derived.hashes), spend_of(ctx.chain, derived.movements, ctx.digest())
