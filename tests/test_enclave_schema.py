"""docs/enclave-schema/*.json against the custody contract's actual message parser.

The schema is generated from the contract's message tables (:mod:`gridlock.enclave.schema`); these
tests fail when the committed files are stale, when the contract accepts a variant or field the
schema lacks, or when the schema's required/optional split disagrees with what the parser does.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from gridlock import local
from gridlock.crypto.reshare import PublicPackage
from gridlock.enclave import contract, schema
from gridlock.enclave.contract import CustodyContract, Env, MessageInfo, StdError
from gridlock.wire import Identity

DOCS = Path(__file__).resolve().parent.parent / "docs" / "enclave-schema"
SENDER = "secret1owner"
VIEWING_KEY = "a viewing key 0123456789"
DEVICE = SigningKey(bytes([1]) * 32)
OWNER = {
    "devices": [base64.b64encode(bytes(DEVICE.verify_key)).decode()],
    "required": 1,
    "verifier_digest": base64.b64encode(bytes(32)).decode(),
    "recovery_delay": 0,
}


class DictStorage:
    def __init__(self) -> None:
        self.d: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.d.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.d[key] = value

    def remove(self, key: bytes) -> None:
        self.d.pop(key, None)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def setup() -> tuple[DictStorage, dict[str, Any]]:
    """A contract holding one active vault "v" of the sender, with a viewing key; example values."""
    share = local.keygen("frost-ed25519", threshold=2, n=3)[0]
    st, c = DictStorage(), CustodyContract()
    env = Env("chain", 5, 1_000, "secret1contract")
    c.instantiate(st, env, MessageInfo(SENDER), b"{}")
    for msg in (
        {"store_share": {"vault_id": "v", "share": b64(share.to_bytes()), "owner": OWNER}},
        {"set_viewing_key": {"key": VIEWING_KEY}},
        {"add_items": {"vault_id": "v", "epoch": 0, "kind": "nonce", "items": [[b64(b"n1"), b64(b"x")]]}},
    ):
        c.execute(st, env, MessageInfo(SENDER), json.dumps(msg).encode())
    values = {
        "vault_id": "v",
        "epoch": 0,
        "share": b64(share.to_bytes()),
        "metadata": {},
        "ledger": [],
        "kind": "nonce",
        "items": [[b64(b"n2"), b64(b"y")]],
        "item_id": b64(b"n1"),
        "blob": b64(b"identity"),
        "replace": True,
        "key": VIEWING_KEY,
        "address": SENDER,
        "since": 0,
        "before": 0,
        "chain": "bitcoin",
        "destinations": [],
        "path": "m",
        "session": b64(b"session"),
        "nonce_id": b64(b"n1"),
        "message": b64(b"message"),
        "commitments": [b64(b"c")],
        "dealings": [[1, [b64(b"p")], b64(b"s")]],
        "transcript_hash": b64(bytes(32)),
        "staged_epoch": 1,
        "owner": OWNER,
        "approval": {
            "op": "export",
            "subject": b64(b"subject"),
            "nonce": b64(b"nonce"),
            "approvals": [{"device": OWNER["devices"][0], "counter": 1, "expires": 3, "signature": b64(bytes(64))}],
        },
        "new_device": b64(bytes(SigningKey(bytes([2]) * 32).verify_key)),
        "lost_device": OWNER["devices"][0],
        "verifier": b64(bytes(32)),
        "new_verifier": b64(bytes(range(32))),
        "recipients": [[2, b64(Identity.generate().public.to_bytes())]],
        "index": 1,
        "threshold": 2,
        "receivers": [1, 2],
        "package": b64(PublicPackage.of(share).to_bytes()),
        "dealer_commitments": [[1, [b64(share.group_key.encode()), b64(share.group_key.encode())]]],
        "sealed": [[2, b64(bytes(48))]],
        "published": [[2, [b64(share.group_key.encode())]]],
    }
    assert set(values) == set(schema.FIELD_TYPES), "give every field of FIELD_TYPES an example value"
    return st, values


def variants(name: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for v in schema.schemas()[name]["oneOf"]:
        ((variant, body),) = v["properties"].items()
        out.append((variant, body))
    return out


def run(storage: DictStorage, kind: str, msg: dict[str, Any]) -> Any:
    st = copy.deepcopy(storage)  # every message against the same starting state
    c, env = CustodyContract(), Env("chain", 6, 2_000, "secret1contract", random=bytes(range(32)))
    raw = json.dumps(msg).encode()
    if kind == "execute_msg.json":
        return c.execute(st, env, MessageInfo(SENDER), raw)
    return c.query(st, env, raw)


SEMANTIC: dict[str, str] = {
    "reshare_combine": "bad-argument: this holder deals here (reshare_deal) exactly when it is among the dealers",
    "repair_rebuild": "bad-argument: published: the images of at least 2 helpers, holders of the key",
    "refresh_share": "bad-argument: a refresh has a dealing from every holder",
    "store_share": "bad-argument: a vault's owner is pinned when the vault is created, not later",
    "store_pending": "bad-argument: a vault's owner is pinned when the vault is created, not later",
}
"""Variants whose example values parse but cannot be meaningful (a refresh needs every holder's real
dealing): the refusal they get is the one after parsing."""


def parses(storage: DictStorage, kind: str, msg: dict[str, Any]) -> None:
    """The message is well formed: it runs, or fails only by the store's rules (e.g. the epoch is
    already active) — never as unparsable or as a bad argument."""
    try:
        run(storage, kind, msg)
    except StdError as exc:
        ((variant,),) = (msg.keys(),)
        if variant in SEMANTIC:
            assert str(exc) == SEMANTIC[variant], (msg, str(exc))
            return
        assert exc.variant == "generic_err" and not str(exc).startswith("bad-argument"), (msg, str(exc))


def test_committed_files_are_what_the_contract_generates() -> None:
    for name, text in schema.generate().items():
        assert (DOCS / name).read_text() == text, f"regenerate: python -m gridlock.enclave.schema {DOCS}"
    assert sorted(p.name for p in DOCS.glob("*.json")) == sorted(schema.generate())


@pytest.mark.parametrize("kind", ["execute_msg.json", "query_msg.json"])
def test_every_variant_parses_as_the_schema_says(setup: tuple[DictStorage, dict[str, Any]], kind: str) -> None:
    storage, values = setup
    for variant, body in variants(kind):
        fields = body["properties"]
        full = {f: values[f] for f in fields if (variant, f) != ("store_pending", "staged_epoch")}
        parses(storage, kind, {variant: full})  # all fields (store_pending: share or staged_epoch)
        minimal = {f: values[f] for f in body["required"]}
        if variant not in ("set_metadata", "store_pending"):  # one of two fields needed: checked below
            parses(storage, kind, {variant: minimal})  # the optional fields may be left out
        for f in body["required"]:  # each required field is needed
            with pytest.raises(StdError):
                run(storage, kind, {variant: {k: v for k, v in full.items() if k != f}})
        with pytest.raises(StdError) as ei:  # additionalProperties: false, as the parser
            run(storage, kind, {variant: {**full, "unexpected": 1}})
        assert ei.value.variant == "parse_err" and "unknown field" in str(ei.value)


@pytest.mark.parametrize("kind", ["execute_msg.json", "query_msg.json"])
def test_no_variant_outside_the_schema(setup: tuple[DictStorage, dict[str, Any]], kind: str) -> None:
    storage, _ = setup
    with pytest.raises(StdError) as ei:
        run(storage, kind, {"no_such_variant": {}})
    assert ei.value.variant == "parse_err" and "unknown variant" in str(ei.value)
    with pytest.raises(StdError):  # two variants in one object
        run(storage, kind, {"info": {}, "vault": {"vault_id": "v"}})


def test_set_metadata_needs_metadata_or_ledger(setup: tuple[DictStorage, dict[str, Any]]) -> None:
    storage, _ = setup
    with pytest.raises(StdError):
        run(storage, "execute_msg.json", {"set_metadata": {"vault_id": "v"}})
    run(storage, "execute_msg.json", {"set_metadata": {"vault_id": "v", "ledger": []}})


def test_store_pending_needs_a_share_or_a_staged_epoch(setup: tuple[DictStorage, dict[str, Any]]) -> None:
    storage, values = setup
    with pytest.raises(StdError, match="missing or malformed field 'share'"):
        run(storage, "execute_msg.json", {"store_pending": {"vault_id": "v"}})
    with pytest.raises(StdError, match="a share or a staged epoch, not both"):
        run(
            storage,
            "execute_msg.json",
            {"store_pending": {"vault_id": "v", "share": values["share"], "staged_epoch": 1}},
        )
    with pytest.raises(StdError, match="no staged share"):
        run(storage, "execute_msg.json", {"store_pending": {"vault_id": "v", "staged_epoch": 1}})


def test_a_field_without_a_type_fails_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the merger sees when a new message brings a field name the schema does not know."""
    monkeypatch.setitem(contract._EXECUTE_FIELDS, "new_message", {"vault_id", "novel_field"})
    with pytest.raises(KeyError, match="novel_field"):
        schema.generate()
