"""``KeyShare.from_bytes`` is strict: one byte form per share, and no share whose fields contradict.

Issue 12 item 9.  Every forged byte string below is canonical CBOR (so the codec's canonical check
alone lets it through) and loaded before the fix — silently dropping a field, normalising it, or
accepting a share whose threshold, extension or ban list contradicts the rest.  Each must now be a
:class:`DecodeError`.  And every real share — all four schemes; DKG, imported, derived, refreshed,
reshared, repaired, with bans — still round-trips byte-identically.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from gridlock import local
from gridlock.crypto import keyimport
from gridlock.crypto.ecdsa import setup as ecdsa_setup
from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, InvalidParameterError

SCHEMES = ["frost-ed25519", "frost-secp256k1", "frost-taproot", "ecdsa-secp256k1"]
FROST = SCHEMES[:3]
ECDSA = "ecdsa-secp256k1"
K_THRESHOLD, K_PARTICIPANTS, K_VSHARES = 4, 5, 7
K_EPOCH, K_EXT, K_BANNED, K_HD = 10, 13, 14, 15


@pytest.fixture(scope="module")
def keys() -> dict[str, list[KeyShare]]:
    return {name: local.keygen(name, 3, 5) for name in SCHEMES}


@pytest.fixture(scope="module")
def derived(keys: dict[str, list[KeyShare]]) -> dict[str, list[KeyShare]]:
    return {name: local.derive(keys[name], "m/0/7") for name in SCHEMES}


def forge(share: KeyShare, edit: Callable[[dict[int, Any]], None]) -> bytes:
    """The share's map, edited, re-encoded canonically (so only the key share reader can refuse it)."""
    m = cbor2.loads(share.to_bytes())
    edit(m)
    return cbor2.dumps(m, canonical=True)


def setitem(key: int, value: Any) -> Callable[[dict[int, Any]], None]:
    def edit(m: dict[int, Any]) -> None:
        m[key] = value

    return edit


def refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        KeyShare.from_bytes(data)


# ===================================================================================================
# every real share round-trips byte-identically
# ===================================================================================================
def _assert_round_trip(share: KeyShare) -> None:
    data = share.to_bytes()
    back = KeyShare.from_bytes(data)
    assert back.to_bytes() == data
    assert back.secret == share.secret and back.index == share.index
    assert back.public_fingerprint() == share.public_fingerprint()
    assert (back.depth, back.parent_fingerprint, back.child_number) == (
        share.depth,
        share.parent_fingerprint,
        share.child_number,
    )
    assert back.banned == share.banned and dict(back.ext) == dict(share.ext) and back.origin == share.origin


@pytest.mark.parametrize("name", SCHEMES)
def test_real_shares_round_trip_byte_identically(
    name: str, keys: dict[str, list[KeyShare]], derived: dict[str, list[KeyShare]]
) -> None:
    shares = keys[name]
    secret = bytes(31) + b"\x2a" if name != "frost-ed25519" else bytes(32)
    cases: dict[str, list[KeyShare]] = {
        "dkg": shares,
        "derived m/0/7": derived[name],
        "derived m/5": local.derive(shares, "m/5"),
        "imported": local.import_key(name, secret, 2, 3),
        "refreshed": local.refresh(shares),
        "reshared 2-of-4": local.reshare(shares[:3], 2, 4),
        "repaired": [local.repair(shares[1:4], 1)],
        "n = t": local.keygen(name, 2, 2),
    }
    for label, group in cases.items():
        for share in group:
            try:
                _assert_round_trip(share)
            except DecodeError as exc:  # pragma: no cover - the failure being tested for
                pytest.fail(f"{name} {label} share {share.index} does not load: {exc}")
    if name == ECDSA:
        _assert_round_trip(dataclasses.replace(shares[0], banned={2, 5}))
        _assert_round_trip(dataclasses.replace(derived[name][2], banned={1}))
        for share in keyimport.split(name, secret, 3, 5):  # an imported key before its OT setup
            assert not share.ext
            _assert_round_trip(share)


# ===================================================================================================
# one byte form per share
# ===================================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_explicit_default_hd_field_is_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """A master share encodes no HD field; ``[0, 00000000, 0]`` spelled out used to load and drop."""
    share = keys[name][0]
    assert share.depth == 0
    refused(forge(share, setitem(K_HD, [0, bytes(4), 0])))


@pytest.mark.parametrize("name", SCHEMES)
def test_master_depth_with_parent_or_child_number_is_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """Depth 0 with a parent fingerprint or child number contradicts itself (BIP32: the master has
    neither), and ``to_bytes`` dropped both — the share changed on its next save."""
    share = keys[name][0]
    refused(forge(share, setitem(K_HD, [0, b"\x01\x02\x03\x04", 0])))
    refused(forge(share, setitem(K_HD, [0, bytes(4), 7])))
    with pytest.raises(InvalidParameterError):
        dataclasses.replace(share, parent_fingerprint=b"\x01\x02\x03\x04")
    with pytest.raises(InvalidParameterError):
        dataclasses.replace(share, child_number=7)


@pytest.mark.parametrize("name", SCHEMES)
def test_hd_integers_are_integers(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """CBOR ``true``/``false`` where the depth or child number is expected (``isinstance(True, int)``)."""
    one = local.derive(keys[name][:1], "m/1")[0]  # depth 1, child number 1
    assert (one.depth, one.child_number) == (1, 1)
    fp = one.parent_fingerprint
    refused(forge(one, setitem(K_HD, [True, fp, 1])))
    refused(forge(one, setitem(K_HD, [1, fp, True])))
    zero = local.derive(keys[name][:1], "m/0")[0]
    refused(forge(zero, setitem(K_HD, [1, fp, False])))


@pytest.mark.parametrize("name", SCHEMES)
def test_hardened_child_number_is_refused(name: str, derived: dict[str, list[KeyShare]]) -> None:
    """Threshold keys derive non-hardened only (gridlock.crypto.hd); a hardened child number claims
    a derivation that needed the whole private key."""
    share = derived[name][0]
    refused(forge(share, lambda m: m.__setitem__(K_HD, [m[K_HD][0], m[K_HD][1], 2**31 + 7])))


@pytest.mark.parametrize("name", SCHEMES)
def test_malformed_hd_field_is_refused(name: str, derived: dict[str, list[KeyShare]]) -> None:
    share = derived[name][0]
    fp = share.parent_fingerprint
    for hd in ([2, fp], [2, fp, 7, 0], [2, fp.hex(), 7], [256, fp, 7], [2, fp + b"\x00", 7], {0: 2}, [2, fp, -1]):
        refused(forge(share, setitem(K_HD, hd)))


def test_unsorted_participants_are_refused(keys: dict[str, list[KeyShare]]) -> None:
    """Participants (and verifying shares with them) in another order: the same share, another encoding."""
    for name in SCHEMES:
        share = keys[name][0]

        def reverse(m: dict[int, Any]) -> None:
            m[K_PARTICIPANTS] = m[K_PARTICIPANTS][::-1]
            m[K_VSHARES] = m[K_VSHARES][::-1]

        refused(forge(share, reverse))


# ===================================================================================================
# ext only where the scheme defines it, exact and bounded
# ===================================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_explicit_empty_ext_and_ban_list_are_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    share = keys[name][0]
    refused(forge(share, setitem(K_EXT, {})))
    refused(forge(share, setitem(K_BANNED, [])))


@pytest.mark.parametrize("name", FROST)
def test_frost_shares_carry_no_ext(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """FROST defines no extension: any ``ext`` (here small, and 900 KB) used to load and be kept."""
    share = keys[name][0]
    refused(forge(share, setitem(K_EXT, {1: b"ot-setup", 2: [1, 2, 3]})))
    refused(forge(share, setitem(K_EXT, {0: bytes(900_000)})))
    refused(forge(share, setitem(K_EXT, {0: 1, 1: {}})))


def _ecdsa_edit(fn: Callable[[dict[Any, Any]], None]) -> Callable[[dict[int, Any]], None]:
    def edit(m: dict[int, Any]) -> None:
        ext = copy.deepcopy(m[K_EXT])
        fn(ext)
        m[K_EXT] = ext

    return edit


def _rekey(d: dict[Any, Any], old: Any, new: Any) -> None:
    d[new] = d.pop(old)


def _rekey_bools(entry: dict[Any, Any]) -> None:
    _rekey(entry, 0, False)
    _rekey(entry, 1, True)


ECDSA_EXT_ATTACKS: dict[str, Callable[[dict[Any, Any]], None]] = {
    "version true": lambda e: e.__setitem__(0, True),
    "version 2": lambda e: e.__setitem__(0, 2),
    "version missing": lambda e: e.pop(0),
    "table not a map": lambda e: e.__setitem__(1, [e[1][1]]),
    "extra top-level field": lambda e: e.__setitem__(2, b"junk" * 1000),
    "counterparty key true": lambda e: _rekey(e[1], 1, True),
    "entry keys false/true": lambda e: _rekey_bools(e[1][3]),
    "counterparty missing": lambda e: e[1].pop(4),
    "entry for own index": lambda e: e[1].__setitem__(2, copy.deepcopy(e[1][1])),
    "entry for a stranger": lambda e: e[1].__setitem__(9, copy.deepcopy(e[1][1])),
    "entry field missing": lambda e: e[1][3].pop(4),
    "entry extra field": lambda e: e[1][3].__setitem__(5, b""),
    "delta short": lambda e: e[1][3].__setitem__(0, e[1][3][0][:-1]),
    "seed block long": lambda e: e[1][3].__setitem__(1, e[1][3][1] + bytes(32)),
    "seed block text": lambda e: e[1][3].__setitem__(2, "x" * len(e[1][3][2])),
    "zero seed short": lambda e: e[1][3].__setitem__(4, bytes(31)),
    "entry not a map": lambda e: e[1].__setitem__(3, [e[1][3][k] for k in range(5)]),
}


@pytest.mark.parametrize("label", list(ECDSA_EXT_ATTACKS))
def test_ecdsa_ext_is_exactly_the_ot_setup(label: str, keys: dict[str, list[KeyShare]]) -> None:
    share = keys[ECDSA][1]  # index 2: counterparties 1, 3, 4, 5
    assert ecdsa_setup.pair_setups(share)  # control: the real one is valid
    refused(forge(share, _ecdsa_edit(ECDSA_EXT_ATTACKS[label])))


def test_ecdsa_ban_list_is_strict(keys: dict[str, list[KeyShare]]) -> None:
    share = keys[ECDSA][0]  # index 1
    assert KeyShare.from_bytes(forge(share, setitem(K_BANNED, [2, 3]))).banned == {2, 3}  # control
    refused(forge(share, setitem(K_BANNED, [3, 2])))  # unsorted: a second form of {2, 3}
    refused(forge(share, setitem(K_BANNED, [2, 2])))  # duplicate
    refused(forge(share, setitem(K_BANNED, [True])))  # true is not participant 1 (nor 1 itself: own index)
    refused(forge(share, setitem(K_BANNED, [1])))  # itself
    refused(forge(share, setitem(K_BANNED, [6])))  # a stranger


# ===================================================================================================
# the Feldman commitment degree is exactly threshold - 1
# ===================================================================================================
@pytest.mark.parametrize("name", SCHEMES)
def test_raising_the_threshold_on_load_is_refused(name: str, keys: dict[str, list[KeyShare]]) -> None:
    """The verifying shares of a 3-of-5 key lie on a degree-2 polynomial, which is also "degree < 4"
    and "degree < 5": threshold 4 or 5 used to load, so a share claimed a policy its key lacks."""
    share = keys[name][0]
    for t in (4, 5):
        refused(forge(share, setitem(K_THRESHOLD, t)))
        with pytest.raises(InvalidParameterError):
            dataclasses.replace(share, threshold=t)
    two = local.keygen(name, 2, 3)[0] if name != ECDSA else None
    if two is not None:
        refused(forge(two, setitem(K_THRESHOLD, 3)))
    refused(forge(share, setitem(K_THRESHOLD, 2)))  # lowering was refused before and still is


@pytest.mark.parametrize("name", FROST)
def test_degenerate_polynomial_is_refused(name: str) -> None:
    """Verifying shares all equal to the group key (a constant polynomial) claim threshold 2."""
    g = get_scheme(name).group
    base = local.keygen(name, 2, 3)[0]
    s = base.secret
    with pytest.raises(InvalidParameterError):
        dataclasses.replace(
            base,
            verifying_shares={i: g.base_mul(s) for i in base.participants},
            group_key=g.base_mul(s),
        )


# ===================================================================================================
# integers are integers everywhere
# ===================================================================================================
@pytest.mark.parametrize("key", [1, 3, K_THRESHOLD, K_EPOCH])
def test_bool_is_not_an_integer(key: int, keys: dict[str, list[KeyShare]]) -> None:
    share = keys["frost-secp256k1"][0]  # index 1, epoch 0
    refused(forge(share, setitem(key, True)))
    refused(forge(share, setitem(key, False)))


def test_bool_map_key_is_refused(keys: dict[str, list[KeyShare]]) -> None:
    """``{true: 1}`` for ``{1: 1}`` (format version) — equal as Python dict keys."""
    share = keys["frost-secp256k1"][0]
    refused(forge(share, lambda m: _rekey(m, 1, True)))
    refused(forge(share, lambda m: _rekey(m, 0, False)))
