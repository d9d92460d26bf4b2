"""The strict CBOR decoder refuses semantic tags and other never-used CBOR before building values.

Issue 12 item 10: cbor2 decodes its built-in semantic tags (RFC 8949 §3.4) natively — bignums,
fractions, decimals, regular expressions, sets, dates — and some of those constructions are
super-linear.  Before the structural pre-scan, one 1 MiB fraction of two random bignums inside a
wire envelope took ~15 s in ``decode_envelope`` (measured on the development machine), long
before any signature check; a 4 MiB envelope (the envelope limit) would have taken minutes.  Now
every tag is refused on its head byte, and every decoder of untrusted bytes goes through the same
check.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlock import local
from gridlock.crypto import codec
from gridlock.crypto.frost import SigningCommitments
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_frost_suite
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire import control
from gridlock.wire.envelope import MAX_ENVELOPE, decode_envelope, seal, verify_envelope
from gridlock.wire.identity import Identity, PublicIdentity

FAST = 0.05  # seconds: a refusal must cost next to nothing (it took seconds before)


# --- a tiny CBOR writer for inputs cbor2 would never produce -----------------------------------------
def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError(n)


def uint(n: int) -> bytes:
    return head(0, n)


def bstr(b: bytes) -> bytes:
    return head(2, len(b)) + b


def tstr(s: str) -> bytes:
    b = s.encode()
    return head(3, len(b)) + b


def array(*items: bytes) -> bytes:
    return head(4, len(items)) + b"".join(items)


def cmap(*pairs: tuple[bytes, bytes]) -> bytes:
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def tag(number: int, content: bytes) -> bytes:
    return head(6, number) + content


def bignum(nbytes: int) -> bytes:
    """Tag 2 (RFC 8949 §3.4.3): a positive bignum of ``nbytes`` random bytes (top byte non-zero)."""
    return tag(2, bstr(b"\x01" + os.urandom(nbytes - 1)))


def fraction(nbytes: int) -> bytes:
    """Tag 30 (rational number): two coprime-looking random bignums; gcd on them is quadratic."""
    return tag(30, array(bignum(nbytes), bignum(nbytes)))


TAG_BOMBS: dict[str, bytes] = {
    "tag 30 fraction of 512 KiB bignums": fraction(512 * 1024 - 16),
    "tag 2 bignum": bignum(1 << 19),
    "tag 3 negative bignum": tag(3, bstr(os.urandom(1 << 16))),
    "tag 4 decimal fraction": tag(4, array(uint(2**63), bignum(1 << 12))),
    "tag 5 bigfloat": tag(5, array(uint(2**63), uint(3))),
    "tag 35 regex": tag(35, tstr("(a+)+$" * 1000)),
    "tag 258 set": tag(258, array(*(uint(i) for i in range(1000)))),
    "tag 1 epoch date": tag(1, uint(2**63)),
    "tag 0 date string": tag(0, tstr("2026-01-01T00:00:00Z")),
    "tag 24 embedded CBOR": tag(24, bstr(fraction(64))),
    "tag 28 shareable": tag(28, array()),
    "tag 29 shared reference": tag(29, uint(0)),
    "tag 55799 self-described": tag(55799, uint(1)),
    "unknown tag": tag(2**32 + 5, uint(1)),
    "nested tags": cmap((uint(0), array(uint(1), tag(258, array(tag(30, array(bignum(64), bignum(64)))))))),
    "tag as map key": cmap((tag(1, uint(0)), uint(1))),
}


@pytest.mark.parametrize("label", list(TAG_BOMBS))
def test_every_tag_is_refused_before_decoding(label: str) -> None:
    data = TAG_BOMBS[label]
    t0 = time.perf_counter()
    with pytest.raises(DecodeError, match="tags are not accepted"):
        codec.loads(data)
    assert time.perf_counter() - t0 < FAST, f"{label}: refusal was slow"
    # cbor2 alone would have built the tagged value (or failed in its own way) — the scan is what refuses
    with pytest.raises(DecodeError, match="tags"):
        codec.check_structure(data)


# --- the envelope: the first thing a guardian decodes from the router --------------------------------
@pytest.fixture(scope="module")
def alice() -> Identity:
    return Identity.generate(name="alice")


def _envelope_bomb(sender: Identity, total: int) -> bytes:
    """An envelope map whose session id is a tag-30 fraction filling ``total`` bytes."""
    n = (total - 300) // 2
    items = [
        (0, uint(1)),
        (1, tag(30, array(bignum(n), bignum(n)))),
        (2, tstr("dkg")),
        (3, uint(1)),
        (4, uint(1)),
        (5, tstr(sender.guardian_id)),
        (7, uint(2**40)),
        (8, bstr(b"body")),
        (9, bstr(bytes(64))),
    ]
    return cmap(*((uint(k), v) for k, v in items))


@pytest.mark.parametrize("total", [1 << 20, MAX_ENVELOPE])
def test_tag_bomb_envelope_is_refused_in_microseconds(alice: Identity, total: int) -> None:
    data = _envelope_bomb(alice, total)
    assert total - 400 < len(data) <= total
    directory = {alice.guardian_id: alice.public}
    for decode in (
        lambda: decode_envelope(data),
        lambda: verify_envelope(data, directory),
    ):
        t0 = time.perf_counter()
        with pytest.raises(DecodeError, match="tags are not accepted"):
            decode()
        elapsed = time.perf_counter() - t0
        # before the pre-scan: ~15 s for 1 MiB, minutes for 4 MiB
        assert elapsed < FAST, f"tag-bomb envelope of {len(data)} bytes took {elapsed * 1000:.1f} ms"


def test_envelope_with_a_bool_map_key_is_a_second_encoding_and_refused(alice: Identity) -> None:
    """``true`` == 1 and ``false`` == 0 as Python dict keys: an envelope carrying key ``true``
    instead of 1 used to decode to the very same envelope (and the signature, over the
    re-encoded header, still verified) — a second byte form of one signed envelope."""
    good = seal(
        alice,
        session_id=bytes(32),
        protocol="dkg",
        round=1,
        seq=0,
        recipient=None,
        expires=2**40,
        body=b"commitments",
    )
    env = verify_envelope(good, {alice.guardian_id: alice.public})
    m = cbor2.loads(good)
    forged = cbor2.dumps({(True if k == 1 else k): v for k, v in m.items()}, canonical=True)
    assert forged != good
    assert cbor2.loads(forged) == m  # the same map to Python
    with pytest.raises(DecodeError, match="map keys"):
        verify_envelope(forged, {alice.guardian_id: alice.public})
    assert env.session_id == bytes(32)


# --- every decoder of untrusted bytes goes through the check --------------------------------------
def _decoders() -> dict[str, Callable[[bytes], Any]]:
    suite = get_frost_suite("frost-secp256k1")
    return {
        "envelope": decode_envelope,
        "control request": control.Request.from_bytes,
        "control reply": lambda d: control.decode_reply(d, "g"),
        "public identity": PublicIdentity.from_bytes,
        "identity": Identity.from_bytes,
        "key share": KeyShare.from_bytes,
        "frost commitments": lambda d: SigningCommitments.from_bytes(suite, d),
    }


@pytest.mark.parametrize("name", list(_decoders()))
def test_every_boundary_refuses_a_tag_bomb_quickly(name: str) -> None:
    decode = _decoders()[name]
    bomb = cmap((uint(0), fraction(256 * 1024)), (uint(1), uint(1)))
    t0 = time.perf_counter()
    with pytest.raises(DecodeError):
        decode(bomb)
    assert time.perf_counter() - t0 < FAST


def test_control_request_with_tagged_parameter_is_refused() -> None:
    good = control.Request("ping", {"vault": "v"}).to_bytes()
    assert control.Request.from_bytes(good).params == {"vault": "v"}
    bad = cmap((uint(0), tstr("ping")), (uint(1), cmap((tstr("vault"), tag(35, tstr("(a|a)*b"))))))
    with pytest.raises(DecodeError, match="tags are not accepted"):
        control.Request.from_bytes(bad)


# --- nesting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"\x81" * 100_000 + b"\x00",  # deeply nested arrays
        b"\xa1\x00" * 100_000 + b"\x00",  # deeply nested maps
        b"\x81" * 1_000_000,  # deep and truncated
        (b"\x82\x00") * 200_000 + b"\x00",  # deep, each level with a sibling
    ],
)
def test_deep_nesting_is_refused_quickly_without_recursion(data: bytes) -> None:
    t0 = time.perf_counter()
    with pytest.raises(DecodeError, match="nested deeper"):
        codec.loads(data, max_size=len(data))
    assert time.perf_counter() - t0 < FAST


def test_nesting_limit_is_exact() -> None:
    ok = b"\x81" * codec.MAX_DEPTH + b"\x00"
    assert codec.loads(ok) == cbor2.loads(ok)
    with pytest.raises(DecodeError, match="nested deeper"):
        codec.loads(b"\x81" * (codec.MAX_DEPTH + 1) + b"\x00")
    with pytest.raises(DecodeError, match="nested deeper"):  # an empty container one level too deep
        codec.loads(b"\x81" * codec.MAX_DEPTH + b"\x80")


# --- the rest of what deterministic encoding forbids or the project never sends -----------------------
REFUSED: dict[str, tuple[bytes, str]] = {
    "float16": (b"\xf9\x3c\x00", "floats"),
    "float32": (b"\xfa\x3f\x80\x00\x00", "floats"),
    "float64": (b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00", "floats"),
    "NaN": (b"\xf9\x7e\x00", "floats"),
    "undefined": (b"\xf7", "simple values"),
    "simple 0": (b"\xe0", "simple values"),
    "simple 255": (b"\xf8\xff", "simple values"),
    "break": (b"\xff", "break"),
    "float inside a map": (cmap((uint(0), b"\xfb" + bytes(8))), "floats"),
    "indefinite bytes": (b"\x5f\x41\x00\xff", "indefinite"),
    "indefinite text": (b"\x7f\x61a\xff", "indefinite"),
    "indefinite array": (b"\x9f\x00\xff", "indefinite"),
    "indefinite map": (b"\xbf\x00\x00\xff", "indefinite"),
    "reserved ai 28": (b"\x1c", "reserved"),
    "reserved ai 30 in a map": (b"\xa1\x00\x5e", "reserved"),
    "non-minimal uint": (b"\x18\x05", "shortest"),
    "non-minimal uint16": (b"\x19\x00\xff", "shortest"),
    "non-minimal length": (b"\x58\x01\x00", "shortest"),
    "non-minimal array length": (b"\x9a\x00\x00\x00\x01\x00", "shortest"),
    "truncated head": (b"\x19\x01", "truncated"),
    "truncated string": (b"\x45abc", "truncated"),
    "claims 2^62 bytes": (b"\x5b" + (2**62).to_bytes(8, "big"), "truncated"),
    "claims 2^62 items": (b"\x9b" + (2**62).to_bytes(8, "big"), "truncated"),
    "claims 2^62 map entries": (b"\xbb" + (2**62).to_bytes(8, "big"), "truncated"),
    "empty input": (b"", "truncated"),
    "trailing byte": (b"\x00\x00", "trailing"),
    "two items": (b"\x80\xa0", "trailing"),
    "bool map key": (b"\xa1\xf5\x00", "map keys"),
    "null map key": (b"\xa1\xf6\x00", "map keys"),
    "array map key": (b"\xa1\x80\x00", "map keys"),
    "map map key": (b"\xa1\xa0\x00", "map keys"),
    "too many items": (b"\x9a" + (codec.MAX_ITEMS).to_bytes(4, "big") + bytes(codec.MAX_ITEMS), "items"),
}


@pytest.mark.parametrize("label", list(REFUSED))
def test_never_used_cbor_is_refused(label: str) -> None:
    data, reason = REFUSED[label]
    with pytest.raises(DecodeError, match=reason):
        codec.loads(data, max_size=1 << 22)


def test_what_the_project_uses_still_decodes() -> None:
    values: list[Any] = [
        0,
        23,
        24,
        2**64 - 1,
        -(2**64),
        b"",
        b"x" * 300,
        "",
        "gridlock/keyshare",
        "ünïcödé",
        [],
        {},
        True,
        False,
        None,
        {0: 1, 1: [b"a", "b", None, True], "used": False, "blob": None, b"k": -1},
        {"height": 1, "time": 1_700_000_000_000_000_000, "kind": "genesis", "tx": {"a": [[[{}]]]}},
        [0] * (codec.MAX_ITEMS - 1),
    ]
    for v in values:
        data = codec.dumps(v)
        assert codec.loads(data) == v


def test_real_key_shares_and_envelopes_still_decode(alice: Identity) -> None:
    for share in local.keygen("frost-ed25519", 2, 3):
        assert KeyShare.from_bytes(share.to_bytes()).to_bytes() == share.to_bytes()
    data = seal(
        alice,
        session_id=os.urandom(32),
        protocol="frost-sign",
        round=2,
        seq=7,
        recipient=alice.public,
        expires=2**40,
        body=b"share",
    )
    assert decode_envelope(data).raw == data


# --- properties ---------------------------------------------------------------------------------------
_scalars = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
)
_keys = st.one_of(st.integers(min_value=-(2**64), max_value=2**64 - 1), st.text(max_size=8), st.binary(max_size=8))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_every_value_of_the_project_vocabulary_round_trips(v: Any) -> None:
    data = codec.dumps(v)
    assert codec.loads(data) == v


def test_mutations_are_refused_or_canonical() -> None:
    """No input makes the decoder raise anything but DecodeError, and what it accepts is canonical."""
    rng = random.Random(12)
    seeds = [
        codec.dumps({0: 1, 1: [b"abc", "d", None, True, False], 2: {"x": -5, "y": [[]]}}),
        codec.dumps([2**40, -(2**33), b"\x00" * 30, "t" * 30]),
    ]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            pos = rng.randrange(len(data))
            if op == 0:
                data[pos] = rng.randrange(256)
            elif op == 1:
                del data[pos]
            else:
                data.insert(pos, rng.randrange(256))
        try:
            v = codec.loads(bytes(data))
        except DecodeError:
            continue
        assert cbor2.dumps(v, canonical=True) == bytes(data)


def test_a_request_the_guardian_would_refuse_is_refused_before_it_is_sent() -> None:
    """A float in a policy rule used to go out and be dropped by every guardian (the owner waited for
    a timeout); the sender now gets a typed error at once."""
    with pytest.raises(InvalidParameterError, match="float"):
        control.Request("policy-set", {"vault": "v", "rules": {"period": 60.0}}).to_bytes()
    ok = control.Request("policy-set", {"vault": "v", "rules": {"period": 60}})
    assert control.Request.from_bytes(ok.to_bytes()) == ok


def test_junk_envelopes_are_refused_before_their_items_are_walked() -> None:
    """64 KiB of empty maps cost a guardian ~77 ms each before the signature check; an envelope is one
    flat map of 21 items, so the scan stops at the 22nd."""
    junk = cbor2.dumps([{}] * 65_000)
    start = time.perf_counter()
    for _ in range(20):
        with pytest.raises(DecodeError, match="data items"):
            decode_envelope(junk)
    assert (time.perf_counter() - start) / 20 < 0.005
