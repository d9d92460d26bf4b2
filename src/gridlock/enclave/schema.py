"""The custody contract's messages as JSON Schema: what a CosmWasm port must accept, generated from
the contract's own message tables so the two cannot drift.

The variants and their fields are read from :mod:`gridlock.enclave.contract` (``_EXECUTE_FIELDS``,
``_PRIVATE_QUERY_FIELDS``; the public queries ``info`` and ``vault``); the type of each field comes
from :data:`FIELD_TYPES` (one entry per field *name*: a field means the same thing in every message)
and which fields may be left out from :data:`OPTIONAL`.  The layout is cosmwasm-schema's for a
serde enum: ``oneOf`` objects with exactly one property, the variant, whose value is an object
with ``additionalProperties: false`` (the contract refuses unknown fields too).

Adding a message to the contract: add its handler and its entry in ``_EXECUTE_FIELDS``; give any
new field name a type in :data:`FIELD_TYPES` (and list it in :data:`OPTIONAL` if it may be absent);
then regenerate the files::

    python -m gridlock.enclave.schema docs/enclave-schema

``tests/test_enclave_schema.py`` fails while a field has no type, while the committed files differ
from what this module generates, or while an example built from the schema does not parse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from gridlock.enclave import contract
from gridlock.enclave.custody_state import KINDS
from gridlock.guardian.store import rules

__all__ = ["FIELD_TYPES", "OPTIONAL", "PUBLIC_QUERY_FIELDS", "generate", "schemas"]

_B64: Final = "^[A-Za-z0-9+/]*={0,2}$"


def _binary(description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": _B64, "description": f"base64 (cosmwasm Binary): {description}"}


_UINT64: Final = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def _by_node(value: dict[str, Any], description: str) -> dict[str, Any]:
    """``[[index, value], …]``, each index once."""
    return {
        "type": "array",
        "maxItems": 64,
        "items": {
            "type": "array",
            "prefixItems": [{"type": "integer", "minimum": 1}, value],
            "minItems": 2,
            "maxItems": 2,
        },
        "description": description,
    }


FIELD_TYPES: Final[dict[str, dict[str, Any]]] = {
    "vault_id": {"type": "string", "minLength": 1, "maxLength": rules.MAX_VAULT_ID_CHARS},
    "epoch": {**_UINT64, "description": "the key's epoch (0 at DKG, +1 per refresh or reshare)"},
    "share": _binary("a gridlock KeyShare (its canonical bytes)"),
    "metadata": {"type": "object", "description": f"vault metadata, at most {rules.MAX_METADATA_BYTES} bytes as JSON"},
    "ledger": {
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [
                {"type": "integer"},
                {"type": "string"},
                {"type": "string"},
                {"type": "string"},
                {"type": "string"},
                {"type": "string"},
                {"type": "string", "pattern": "^[0-9]+$"},
            ],
            "minItems": 7,
            "maxItems": 7,
            "description": "[time, kind, tx_hash, chain, destination, asset, amount]",
        },
    },
    "kind": {"enum": list(KINDS)},
    "items": {
        "type": "array",
        "minItems": 1,
        "maxItems": rules.MAX_BATCH,
        "items": {
            "type": "array",
            "prefixItems": [_binary("item id"), _binary("item")],
            "minItems": 2,
            "maxItems": 2,
        },
    },
    "item_id": _binary(f"an item id of at most {rules.MAX_ITEM_ID_BYTES} bytes"),
    "blob": _binary(f"at most {rules.MAX_IDENTITY_BYTES} bytes"),
    "replace": {"type": "boolean", "default": False},
    "key": {"type": "string", "minLength": 16, "maxLength": 256, "description": "a viewing key"},
    "address": {"type": "string", "minLength": 1, "maxLength": 128, "description": "the owner's secret1… address"},
    "since": _UINT64,
    "before": _UINT64,
    "chain": {"type": "string", "minLength": 1, "maxLength": 32},
    "destinations": {"type": "array", "maxItems": 64, "items": {"type": "string"}},
    "path": {"type": "string", "minLength": 1, "maxLength": 256, "description": "a BIP32 path, non-hardened (m/0/7)"},
    "session": _binary("the signing session's id, at most 64 bytes (mixed into the nonce derivation)"),
    "nonce_id": _binary("the id frost_commit answered"),
    "message": _binary("the message to sign, at most 64 KiB"),
    "commitments": {
        "type": "array",
        "minItems": 1,
        "maxItems": 1024,
        "items": _binary("one signer's encoded round-1 commitments (RFC 9591 section 5.1)"),
    },
    "dealings": {
        "type": "array",
        "minItems": 1,
        "maxItems": 1024,
        "items": {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": _binary("a commitment point")},
                _binary("the dealer's sub-share for this guardian"),
            ],
            "minItems": 3,
            "maxItems": 3,
            "description": "[dealer, [Feldman commitment points], sub-share] of a refresh (sharings of zero)",
        },
    },
    "transcript_hash": _binary("32 bytes: the refresh's or reshare's transcript hash"),
    "staged_epoch": {
        **_UINT64,
        "description": "the epoch refresh_share, reshare_combine or repair_rebuild staged (instead of share)",
    },
    "recipients": _by_node(
        _binary("the recipient's public identity (gridlock.wire.identity), at most 4096 bytes"),
        "[index, public identity] of each recipient; its guardian id must be the approved request's",
    ),
    "index": {"type": "integer", "minimum": 1, "description": "this guardian's index in the key change"},
    "threshold": {"type": "integer", "minimum": 2, "description": "the new threshold"},
    "receivers": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "integer", "minimum": 1}},
    "package": _binary("the old epoch's public data (gridlock.crypto.reshare.PublicPackage)"),
    "dealer_commitments": _by_node(
        {"type": "array", "items": _binary("a commitment point")},
        "[dealer, Feldman commitment (constant term first)] of each dealer of a reshare",
    ),
    "sealed": _by_node(
        _binary("a scalar sealed to this guardian's custody key (gridlock.crypto.x25519_seal)"),
        "[sender, sealed value] of each node that sent this guardian one",
    ),
    "published": _by_node(
        {"type": "array", "items": _binary("a point: the image of one part")},
        "[helper, the images of its parts, in helper order] of a repair",
    ),
    "owner": {
        "type": "object",
        "description": "the vault's owner, pinned when the vault is created (contract_owner.parse_pin)",
        "properties": {
            "devices": {"type": "array", "minItems": 1, "maxItems": 16, "items": _binary("an Ed25519 public key")},
            "required": {"type": "integer", "minimum": 1, "description": "how many devices must approve"},
            "verifier_digest": _binary("32 bytes: verifier_digest of this guardian's password verifier"),
            "recovery_delay": {"type": "integer", "minimum": 0, "maximum": 30 * 86400},
        },
        "required": ["devices", "required", "verifier_digest", "recovery_delay"],
        "additionalProperties": False,
    },
    "approval": {
        "type": "object",
        "description": "an owner-approved request: what the devices signed (gridlock.wire.approval)",
        "properties": {
            "op": {"type": "string", "minLength": 1, "maxLength": 64},
            "subject": _binary("the request's parameters as the devices signed them"),
            "nonce": _binary("the request nonce, 1 to 64 bytes"),
            "approvals": {
                "type": "array",
                "minItems": 1,
                "maxItems": 16,
                "items": {
                    "type": "object",
                    "properties": {
                        "device": _binary("an Ed25519 public key"),
                        "counter": _UINT64,
                        "expires": _UINT64,
                        "signature": _binary("64 bytes: Ed25519"),
                    },
                    "required": ["device", "counter", "expires", "signature"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["op", "subject", "nonce", "approvals"],
        "additionalProperties": False,
    },
    "new_device": _binary("32 bytes: the recovering device's Ed25519 public key"),
    "lost_device": _binary("32 bytes: the lost device's Ed25519 public key"),
    "verifier": _binary("this guardian's password verifier, 16 to 64 bytes"),
    "new_verifier": _binary("the new password's verifier, 16 to 64 bytes"),
}
"""The JSON Schema of each field name the contract's messages use."""

OPTIONAL: Final[dict[str, frozenset[str]]] = {
    "store_pending": frozenset({"metadata", "share", "staged_epoch", "owner"}),
    "store_share": frozenset({"metadata", "owner"}),
    "set_metadata": frozenset({"metadata", "ledger"}),
    "put_identity": frozenset({"replace"}),
    "share": frozenset({"epoch", "path"}),
}
"""Per variant, the fields that may be left out (all others are required)."""

PUBLIC_QUERY_FIELDS: Final[dict[str, set[str]]] = {"info": set(), "vault": {"vault_id"}}
"""The queries anyone may send (no viewing key)."""

_VIEWING: Final = frozenset({"address", "key"})


def _variant(name: str, fields: set[str] | frozenset[str]) -> dict[str, Any]:
    missing = sorted(f for f in fields if f not in FIELD_TYPES)
    if missing:
        raise KeyError(f"message {name!r}: no JSON Schema type for field(s) {', '.join(missing)} (FIELD_TYPES)")
    optional = OPTIONAL.get(name, frozenset())
    body = {
        "type": "object",
        "properties": {f: FIELD_TYPES[f] for f in sorted(fields)},
        "required": sorted(f for f in fields if f not in optional),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": [name],
        "properties": {name: body},
        "additionalProperties": False,
    }


def _enum(title: str, target: str, variants: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": f"{target}: one variant per object (serde's enum encoding), as the custody contract parses it",
        "oneOf": [_variant(name, fields) for name, fields in sorted(variants.items())],
    }


def schemas() -> dict[str, dict[str, Any]]:
    """``{file name: schema}`` for the contract's instantiate, execute and query messages."""
    queries: dict[str, set[str] | frozenset[str]] = dict(PUBLIC_QUERY_FIELDS)
    queries.update({q: f | _VIEWING for q, f in contract._PRIVATE_QUERY_FIELDS.items()})
    return {
        "instantiate_msg.json": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "InstantiateMsg",
            "description": "the custody contract is instantiated with {}",
            "type": "object",
            "additionalProperties": False,
        },
        "execute_msg.json": _enum("ExecuteMsg", "gridlock_custody::msg::ExecuteMsg", dict(contract._EXECUTE_FIELDS)),
        "query_msg.json": _enum("QueryMsg", "gridlock_custody::msg::QueryMsg", queries),
    }


def generate() -> dict[str, str]:
    """The files' text (stable: sorted keys, two-space indent, final newline)."""
    return {name: json.dumps(s, indent=2, sort_keys=True) + "\n" for name, s in schemas().items()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gridlock.enclave.schema DIRECTORY", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (out / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
