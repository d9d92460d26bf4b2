"""A guardian's own reading of a chain transaction (SECURITY #19).

The client shows the guardian the transaction itself; the guardian re-derives, with
``gridlock.chains``, every hash it may be asked to sign for it and what the transaction spends.
A request to sign anything else is refused — a router or client that swaps the hash after the
owner approved the transaction gets nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gridlock.chains import bitcoin, cosmos, ethereum, solana
from gridlock.errors import DecodeError, GridlockError
from gridlock.guardian.policy import Spend, spend_of


def tx_digest(tx: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_plain(tx), sort_keys=True).encode()).hexdigest()


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def derive(tx: Any, scheme: str, public_key: bytes) -> tuple[set[bytes], Spend]:
    """The messages a signer may sign for ``tx`` and what it spends; typed errors for bad input."""
    if not isinstance(tx, dict) or not isinstance(tx.get("chain"), str):
        raise DecodeError("the transaction must be a map with a 'chain'")
    chain = tx["chain"]
    digest = tx_digest(tx)
    try:
        if chain == "bitcoin":
            psbt, network = tx.get("psbt"), tx.get("network", "mainnet")
            if not isinstance(psbt, str) or not isinstance(network, str):
                raise DecodeError("bitcoin: 'psbt' (base64 text) and 'network' expected")
            reqs = bitcoin.sighashes(psbt, scheme, public_key, allow_foreign_inputs=True)
            summary = bitcoin.summarize(psbt, network)
            kind = "p2tr" if scheme == "frost-taproot" else "p2wpkh"
            mine = bitcoin.address(public_key, kind=kind, network=network)
            outs = [(r.address or r.script_pubkey.hex(), r.amount) for r in summary.recipients if r.address != mine]
            return {r.sighash for r in reqs}, spend_of("bitcoin", outs, digest)
        if chain == "ethereum":
            raw = tx.get("json")
            if not isinstance(raw, str):
                raise DecodeError("ethereum: 'json' (the transaction dict as JSON) expected")
            d = json.loads(raw)
            s = ethereum.summarize(d)
            outs = [(a, v) for a, v in s.recipients]
            if s.token_transfer is not None:
                outs.append((f"{s.token_transfer.token}:{s.token_transfer.recipient}", s.token_transfer.amount))
            return {s.signing_hash}, spend_of("ethereum", outs, digest)
        if chain == "solana":
            data = tx.get("tx")
            if not isinstance(data, bytes):
                raise DecodeError("solana: 'tx' (serialised transaction bytes) expected")
            ss = solana.summarize(data)
            me = solana.address(public_key)
            souts = [(d or "?", amount) for d, amount in ss.recipients if d != me]
            return {ss.signing_payload}, spend_of("solana", souts, digest)
        if chain == "cosmos":
            doc, prefix = tx.get("sign_doc"), tx.get("prefix", "secret")
            if not isinstance(doc, bytes) or not isinstance(prefix, str):
                raise DecodeError("cosmos: 'sign_doc' (SignDoc bytes) expected")
            cs = cosmos.summarize(doc, prefix)
            couts = [(r, sum(c.amount for c in coins)) for r, coins in cs.recipients]
            return {cs.signing_hash}, spend_of("cosmos", couts, digest)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"{chain}: malformed transaction ({exc})") from None
    except GridlockError:
        raise
    raise DecodeError(f"unknown chain {chain!r}")
