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


def derive(tx: object, scheme: str, public_key: bytes) -> tuple[set[bytes], Spend]:
    """The messages a signer may sign for ``tx`` and what it spends; typed errors (:class:`DecodeError`)
    for bad input.  ``tx`` is a :class:`TxContext` or a sign request's ``tx`` field, decoded here with
    :meth:`TxContext.from_wire`."""
    ctx = tx if isinstance(tx, TxContext) else TxContext.from_wire(tx)
    adapter = chains.get(ctx.chain)
    try:
        derived = adapter.derive(ctx, scheme, public_key)
    except GridlockError:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # a library's own error for input it cannot read
        raise DecodeError(f"{ctx.chain}: malformed transaction ({exc})") from None
    return set(derived.hashes), spend_of(ctx.chain, derived.outputs, ctx.digest())
