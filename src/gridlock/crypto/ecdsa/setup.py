"""The pairwise setup threshold-ECDSA signing needs, made once at keygen (DKLs23 §3, Protocol 3.6 setup).

For every ordered pair (s → r) — "s is the VOLE sender, r the receiver" — 128 base OTs
(:mod:`.base_ot`) in which **s is the base-OT receiver** with random choice bits ``Δ`` and r the
base-OT sender: s keeps ``(Δ, k_i^{Δ_i})`` (:class:`ExtSenderSetup`), r keeps ``(k_i^0, k_i^1)``
(:class:`ExtReceiverSetup`).  For every unordered pair a 32-byte seed for the zero-sharing of
DKLs23 Functionality 3.4, derived from a fresh contribution of each side.

Every instance has its own session id ``H(label, keygen session, s, r)``, so pairs and directions
never share one (DKLs23 / TOB-SILA-5).  The whole setup lives in ``KeyShare.ext``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gridlock.crypto import codec, transcript
from gridlock.crypto.ecdsa.base_ot import POINT_LEN, BaseOtReceiver, BaseOtSender
from gridlock.crypto.ecdsa.ot_extension import KAPPA, ExtReceiverSetup, ExtSenderSetup
from gridlock.errors import DecodeError, InvalidParameterError

BASE_OT_LABEL = b"gridlock/dkls23/setup/base-ot/v1"
ZERO_SEED_LABEL = b"gridlock/dkls23/setup/zero-seed/v1"
EXT_VERSION = 1
_SEED = 32


def base_ot_sid(session_id: bytes, sender: int, receiver: int) -> bytes:
    """Session id of the base OTs of the VOLE pair (sender → receiver)."""
    return transcript.digest(BASE_OT_LABEL, session_id, transcript.int_field(sender), transcript.int_field(receiver))


@dataclass(frozen=True, repr=False)
class PairSetup:
    """This party's long-term state towards one counterparty."""

    as_sender: ExtSenderSetup  # for VOLEs where this party is the sender
    as_receiver: ExtReceiverSetup  # for VOLEs where this party is the receiver
    zero_seed: bytes

    def __repr__(self) -> str:
        return "PairSetup(<redacted>)"


class SetupRound:
    """One party's side of the setup with all counterparties: one outgoing message each, then finish."""

    def __init__(self, session_id: bytes, me: int, others: list[int]) -> None:
        self.session_id = session_id
        self.me = me
        self._delta: dict[int, bytes] = {}
        self._receivers: dict[int, BaseOtReceiver] = {}
        self._senders: dict[int, BaseOtSender] = {}
        self._contrib: dict[int, bytes] = {}
        for j in others:
            delta = secrets.token_bytes(KAPPA // 8)
            bits = np.unpackbits(np.frombuffer(delta, np.uint8), bitorder="little")
            self._delta[j] = delta
            self._receivers[j] = BaseOtReceiver(base_ot_sid(session_id, me, j), [int(b) for b in bits])
            self._senders[j] = BaseOtSender(base_ot_sid(session_id, j, me), KAPPA)
            self._contrib[j] = secrets.token_bytes(_SEED)

    def message_for(self, j: int) -> bytes:
        return codec.dumps({0: self._receivers[j].message, 1: self._senders[j].message, 2: self._contrib[j]})

    def finish(self, j: int, data: bytes) -> PairSetup:
        """Combine counterparty ``j``'s message with ours; raises :class:`DecodeError` if malformed."""
        m = codec.load_map(data, frozenset({0, 1, 2}))
        their_receiver_msg = codec.get_bytes(m, 0, KAPPA * 2 * POINT_LEN)
        their_sender_msg = codec.get_bytes(m, 1, POINT_LEN)
        their_contrib = codec.get_bytes(m, 2, _SEED)
        pairs = self._senders.pop(j).finish(their_receiver_msg)
        chosen = self._receivers.pop(j).finish(their_sender_msg)
        lo, hi = (self.me, j) if self.me < j else (j, self.me)
        mine = self._contrib.pop(j)
        c_lo, c_hi = (mine, their_contrib) if self.me < j else (their_contrib, mine)
        seed = transcript.digest(
            ZERO_SEED_LABEL, self.session_id, transcript.int_field(lo), transcript.int_field(hi), c_lo, c_hi
        )
        return PairSetup(
            ExtSenderSetup(self._delta.pop(j), tuple(chosen)),
            ExtReceiverSetup(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)),
            seed,
        )


# --- storage in KeyShare.ext ------------------------------------------------------------------------
def to_ext(pairs: Mapping[int, PairSetup]) -> dict[int, Any]:
    return {
        0: EXT_VERSION,
        1: {
            j: {
                0: p.as_sender.delta,
                1: b"".join(p.as_sender.seeds),
                2: b"".join(p.as_receiver.seeds0),
                3: b"".join(p.as_receiver.seeds1),
                4: p.zero_seed,
            }
            for j, p in pairs.items()
        },
    }


def _split(blob: Any) -> tuple[bytes, ...]:
    if not isinstance(blob, bytes) or len(blob) != KAPPA * _SEED:
        raise DecodeError("OT seed block has the wrong size")
    return tuple(blob[i : i + _SEED] for i in range(0, len(blob), _SEED))


class _ShareWithSetup(Protocol):
    """What :func:`pair_setups` reads of a :class:`~gridlock.crypto.keyshare.KeyShare`."""

    @property
    def scheme(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def participants(self) -> tuple[int, ...]: ...
    @property
    def ext(self) -> Mapping[int, Any]: ...


def pair_setups(share: _ShareWithSetup) -> dict[int, PairSetup]:
    """The OT setup of an ``ecdsa-secp256k1`` share, strictly decoded (:func:`decode_ext`)."""
    if share.scheme != "ecdsa-secp256k1":
        raise InvalidParameterError("not a threshold-ECDSA key share")
    return decode_ext(share.ext, share.index, share.participants)


def decode_ext(ext: Mapping[Any, Any], me: int, participants: Sequence[int]) -> dict[int, PairSetup]:
    """``KeyShare.ext`` as :func:`to_ext` writes it, strictly: exactly ``{0: version, 1: {j: {0: Δ,
    1: seeds, 2: seeds0, 3: seeds1, 4: zero seed}}}`` for every other participant ``j``, integer keys
    (not ``true``/``false``), byte strings of exact sizes.  Raises :class:`DecodeError`.

    The one reader of the field: a key share checks it when loaded (through its scheme) and a
    signer when it starts, so the field is bounded by the number of participants."""
    if not ext:
        raise DecodeError("threshold-ECDSA key share lacks its OT setup")
    if not codec.has_int_keys(ext, {0, 1}) or not codec.is_int(ext[0]) or not isinstance(ext[1], dict):
        raise DecodeError("extension field is not a threshold-ECDSA OT setup")
    if ext[0] != EXT_VERSION:
        raise DecodeError("threshold-ECDSA key share lacks its OT setup")
    table = ext[1]
    if not codec.has_int_keys(table, set(participants) - {me}):
        raise DecodeError("OT setup must cover exactly the other participants")
    out = {}
    for j, entry in table.items():
        if not isinstance(entry, dict) or not codec.has_int_keys(entry, set(range(5))):
            raise DecodeError("malformed OT setup entry")
        if not all(isinstance(v, bytes) for v in entry.values()):
            raise DecodeError("OT setup entries hold byte strings")
        delta = codec.get_bytes(entry, 0, KAPPA // 8)
        out[j] = PairSetup(
            ExtSenderSetup(delta, _split(entry[1])),
            ExtReceiverSetup(_split(entry[2]), _split(entry[3])),
            codec.get_bytes(entry, 4, _SEED),
        )
    return out
