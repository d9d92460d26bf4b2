"""The Secret Network encryption protocol, as the enclave code and the official clients implement it.

Pure functions: no I/O, no clocks (nonces and seeds come from the caller or ``os.urandom``).
Sources are the enclave's Rust code (``cosmwasm/enclaves/shared/crypto`` and ``contract-engine``)
and the clients ``secret-sdk``, ``secretjs`` and ``secretcli``, which agree with it; the old
published spec differs in several places and is *not* followed (see ``research/secret-network.md``).

Key derivation (``kdf.rs``, ``consts.rs``)
    HKDF-SHA256 with the 32-byte salt :data:`HKDF_SALT` (a Bitcoin halving block hash), 32-byte
    output.  From a seed: ``HKDF(seed ‖ u32_be(n), info="seed")`` for ``n`` = 1 seed exchange,
    2 io exchange, 3 state IKM, 4 callback secret.  From a key: ``HKDF(key ‖ data, info="")``.
    Private keys are the raw 32-byte outputs used as X25519 scalars (clamped when used).

Transaction input (``types.rs``, ``io.rs``)
    ``tx_key = HKDF(X25519(client_priv, io_pub) ‖ nonce, info="")``; plaintext = 64 lowercase hex
    characters of ``sha256(contract code)`` followed by the JSON message; AES-128-SIV (RFC 5297,
    a 32-byte key) with associated data **exactly one empty string** ``[b""]`` — not "no associated
    data", which gives another ciphertext; wire = ``nonce(32) ‖ client_pub(32) ‖ tag(16) ‖ ct``.
    Outputs, query results and errors are encrypted with the same key and nonce, AD ``[b""]``;
    a query result or ``data`` field is encrypted as the *base64 text* of its bytes.

Seed sharing (``seed_exchange.rs``)
    Each seed is ``AES-128-SIV(X25519(seed_exchange_priv, registration_pub), seed,
    AD=[registration_pub])`` — the raw shared secret is the key, no HKDF, no nonce — 48 bytes per
    seed, concatenated (genesis seed first, then the current one).

Contract key and state (``contract_validation.rs``, ``db.rs``)
    ``contract_key = sender_id ‖ HMAC-SHA256(HKDF(state_ikm[0] ‖ sender_id), sender_id ‖ code_hash ‖
    contract_address)`` with ``sender_id = sha256(sender ‖ u64_be(height))``.  A state key is
    encrypted deterministically, ``SIV(HKDF(state_ikm[1] ‖ contract_key), key, AD=none)``, and
    wrapped as ``bincode{"secret", u16 2, u32 3, enc_key}``; a value is
    ``SIV(HKDF(state_ikm[last] ‖ contract_key), value, AD=[enc_key, salt])`` with
    ``salt = u64_be(block time) ‖ u64_be(height) ‖ u64_be(message counter)``, stored as
    ``bincode{salt, data}``, followed by ``u16_le(seed id)`` (the 1-based index of the seed whose
    IKM encrypted it) once there are more than two seeds; a record without it is of seed 2.  Only
    the enclave holds the state IKMs, so everything stored outside
    it is ciphertext.  (The bincode layout assumes bincode 1.x defaults — little-endian fixed-width
    integers and u64 length prefixes; no client can observe it, it only has to be self-consistent.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.enclave.errors import CodeHashMismatch, DecryptionFailed, InvalidKey, MalformedMessage

__all__ = [
    "CODE_HASH_HEX_SIZE",
    "ENCRYPTED_SEED_SIZE",
    "HKDF_SALT",
    "IO_AD",
    "KEY_SIZE",
    "MIN_MESSAGE_SIZE",
    "NONCE_SIZE",
    "ClientEncryption",
    "DecryptedMessage",
    "KeyChain",
    "KeyOrder",
    "SecretMessage",
    "code_hash_hex",
    "contract_key",
    "decrypt_message",
    "decrypt_output",
    "decrypt_seeds",
    "decrypt_state_value",
    "derive_from_key",
    "derive_from_seed",
    "encrypt_binary",
    "encrypt_error",
    "encrypt_message",
    "encrypt_output",
    "encrypt_seeds",
    "encrypt_state_key",
    "encrypt_state_value",
    "encryption_salt",
    "hkdf_sha256",
    "siv_decrypt",
    "siv_encrypt",
    "tx_encryption_key",
    "validate_code_hash",
    "verify_contract_key",
    "x25519_public_key",
    "x25519_shared_secret",
]

HKDF_SALT: Final = bytes.fromhex("000000000000000000024bead8df69990852c202db0e0097c1a12ea637d7e96d")
KEY_SIZE: Final = 32
SEED_SIZE: Final = 32
NONCE_SIZE: Final = 32
PUBKEY_SIZE: Final = 32
SIV_TAG_SIZE: Final = 16
ENCRYPTED_SEED_SIZE: Final = SEED_SIZE + SIV_TAG_SIZE  # SINGLE_ENCRYPTED_SEED_SIZE = 48
MIN_MESSAGE_SIZE: Final = 82  # SecretMessage::from_slice rejects shorter messages
CODE_HASH_HEX_SIZE: Final = 64
CONTRACT_KEY_SIZE: Final = 64
IO_AD: Final[tuple[bytes, ...]] = (b"",)  # encrypt_siv(x, None) in the enclave: ONE empty AD string
ENCRYPTED_KEY_MAGIC: Final = b"secret"
CONSENSUS_SEED_VERSION: Final = 2
STATE_ENCRYPTION_VERSION: Final = 3
MAX_MESSAGE_SIZE: Final = 4 << 20


class KeyOrder(IntEnum):
    """Derive orders of ``consts.rs`` (u32, big-endian)."""

    SEED_EXCHANGE = 1
    IO_EXCHANGE = 2
    STATE_IKM = 3
    CALLBACK_SECRET = 4
    RANDOM_ENCRYPTION_KEY = 5
    INITIAL_RANDOMNESS = 6
    ADMIN_PROOF = 7
    CONTRACT_KEY_PROOF = 8


# --- primitives ------------------------------------------------------------------------------------
def _need(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != size:
        raise InvalidKey(f"{what} must be {size} bytes")
    return bytes(value)


def hkdf_sha256(ikm: bytes, info: bytes = b"") -> bytes:
    """HKDF-SHA256 with the Secret Network salt, 32 bytes of output."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=HKDF_SALT, info=info).derive(bytes(ikm))


def derive_from_seed(seed: bytes, order: int) -> bytes:
    """``Seed::derive_key_from_this``: ``HKDF(seed ‖ u32_be(order), info="seed")``."""
    return hkdf_sha256(_need(seed, SEED_SIZE, "a seed") + struct.pack(">I", order), b"seed")


def derive_from_key(key: bytes, data: bytes) -> bytes:
    """``AESKey::derive_key_from_this``: ``HKDF(key ‖ data, info="")``."""
    return hkdf_sha256(_need(key, KEY_SIZE, "a key") + bytes(data), b"")


def x25519_public_key(private_key: bytes) -> bytes:
    priv = X25519PrivateKey.from_private_bytes(_need(private_key, KEY_SIZE, "an X25519 private key"))
    return priv.public_key().public_bytes_raw()


def x25519_shared_secret(private_key: bytes, public_key: bytes) -> bytes:
    """X25519 (RFC 7748); a small-order public key (all-zero result) raises :class:`InvalidKey`."""
    priv = X25519PrivateKey.from_private_bytes(_need(private_key, KEY_SIZE, "an X25519 private key"))
    pub = X25519PublicKey.from_public_bytes(_need(public_key, PUBKEY_SIZE, "an X25519 public key"))
    try:
        shared = priv.exchange(pub)
    except ValueError:
        raise InvalidKey("the X25519 public key is of small order") from None
    if not any(shared):
        raise InvalidKey("the X25519 public key is of small order")
    return shared


def siv_encrypt(key: bytes, plaintext: bytes, ad: Sequence[bytes] | None) -> bytes:
    """AES-128-SIV (a 32-byte key): ``tag(16) ‖ ciphertext``.  ``ad=None`` means *no* AD strings,
    which is not the same as ``[b""]``."""
    return AESSIV(_need(key, KEY_SIZE, "an AES-SIV key")).encrypt(bytes(plaintext), None if ad is None else list(ad))


def siv_decrypt(key: bytes, ciphertext: bytes, ad: Sequence[bytes] | None) -> bytes:
    if not isinstance(ciphertext, bytes | bytearray) or len(ciphertext) < SIV_TAG_SIZE:
        raise DecryptionFailed("failed to decrypt data")
    try:
        return AESSIV(_need(key, KEY_SIZE, "an AES-SIV key")).decrypt(
            bytes(ciphertext), None if ad is None else list(ad)
        )
    except InvalidTag:
        raise DecryptionFailed("failed to decrypt data") from None


# --- the consensus key chain -------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class KeyChain:
    """Every key the enclave derives from the consensus seeds (``generate_consensus_master_keys``).

    ``seeds[0]`` is the genesis seed, ``seeds[-1]`` the current one; the exchange keys and the
    callback secret come from the current seed, ``state_ikm[i]`` from seed ``i``.
    """

    seeds: tuple[bytes, ...]
    seed_exchange_private: bytes
    seed_exchange_public: bytes
    io_private: bytes
    io_public: bytes
    state_ikm: tuple[bytes, ...]
    callback_secret: bytes

    @classmethod
    def from_seeds(cls, seeds: Sequence[bytes]) -> KeyChain:
        if not 1 <= len(seeds) <= 64:
            raise InvalidKey("a key chain needs 1 to 64 consensus seeds")
        checked = tuple(_need(s, SEED_SIZE, "a consensus seed") for s in seeds)
        last = checked[-1]
        exchange = derive_from_seed(last, KeyOrder.SEED_EXCHANGE)
        io = derive_from_seed(last, KeyOrder.IO_EXCHANGE)
        return cls(
            seeds=checked,
            seed_exchange_private=exchange,
            seed_exchange_public=x25519_public_key(exchange),
            io_private=io,
            io_public=x25519_public_key(io),
            state_ikm=tuple(derive_from_seed(s, KeyOrder.STATE_IKM) for s in checked),
            callback_secret=derive_from_seed(last, KeyOrder.CALLBACK_SECRET),
        )

    @classmethod
    def generate(cls, count: int = 2) -> KeyChain:
        """A bootstrap enclave's fresh seeds (current code makes two: genesis and current)."""
        return cls.from_seeds([os.urandom(SEED_SIZE) for _ in range(count)])

    def __repr__(self) -> str:
        return f"KeyChain(seeds={len(self.seeds)}, io_public={self.io_public.hex()}, secrets=<redacted>)"

    __str__ = __repr__


# --- seed sharing ---------------------------------------------------------------------------------------
def encrypt_seeds(seed_exchange_private: bytes, registration_public: bytes, seeds: Sequence[bytes]) -> bytes:
    """What a registered enclave gives a newly attested node: 48 bytes per seed, concatenated."""
    key = x25519_shared_secret(seed_exchange_private, registration_public)
    return b"".join(
        siv_encrypt(key, _need(s, SEED_SIZE, "a consensus seed"), [bytes(registration_public)]) for s in seeds
    )


def decrypt_seeds(registration_private: bytes, seed_exchange_public: bytes, blob: bytes) -> tuple[bytes, ...]:
    """The new node's side: ``X25519(registration_priv, seed_exchange_pub)``, AD = its own public key."""
    if not isinstance(blob, bytes | bytearray) or not blob or len(blob) % ENCRYPTED_SEED_SIZE:
        raise MalformedMessage(f"an encrypted seed blob is a non-empty multiple of {ENCRYPTED_SEED_SIZE} bytes")
    key = x25519_shared_secret(registration_private, seed_exchange_public)
    own_public = x25519_public_key(registration_private)
    return tuple(
        siv_decrypt(key, bytes(blob[i : i + ENCRYPTED_SEED_SIZE]), [own_public])
        for i in range(0, len(blob), ENCRYPTED_SEED_SIZE)
    )


# --- transaction input / output -----------------------------------------------------------------------
def code_hash_hex(code: bytes) -> str:
    """The lowercase hex sha256 of contract code — what clients put in front of every message."""
    return hashlib.sha256(code).hexdigest()


def tx_encryption_key(private_key: bytes, public_key: bytes, nonce: bytes) -> bytes:
    """``HKDF(X25519(priv, pub) ‖ nonce, info="")`` — the client (its key, the io public key) and the
    enclave (the io private key, the client's public key) compute the same key."""
    shared = x25519_shared_secret(private_key, public_key)
    return hkdf_sha256(shared + _need(nonce, NONCE_SIZE, "a nonce"), b"")


@dataclass(frozen=True)
class SecretMessage:
    """``nonce(32) ‖ user_public_key(32) ‖ AES-SIV ciphertext`` — ``MsgExecuteContract.msg`` and the
    base64-decoded ``query`` parameter."""

    nonce: bytes
    user_public_key: bytes
    ciphertext: bytes

    @classmethod
    def from_bytes(cls, blob: bytes) -> SecretMessage:
        """Split a message.  Only the 64-byte prefix is required here (an output key can be derived
        from it); :meth:`decrypt` applies the enclave's 82-byte minimum."""
        if not isinstance(blob, bytes | bytearray) or not NONCE_SIZE + PUBKEY_SIZE <= len(blob) <= MAX_MESSAGE_SIZE:
            raise MalformedMessage("an encrypted message is nonce(32) ‖ public key(32) ‖ ciphertext")
        blob = bytes(blob)
        return cls(blob[:NONCE_SIZE], blob[NONCE_SIZE : NONCE_SIZE + PUBKEY_SIZE], blob[NONCE_SIZE + PUBKEY_SIZE :])

    def to_bytes(self) -> bytes:
        return self.nonce + self.user_public_key + self.ciphertext

    def encryption_key(self, io_private: bytes) -> bytes:
        return tx_encryption_key(io_private, self.user_public_key, self.nonce)

    def decrypt(self, key: bytes) -> DecryptedMessage:
        """Decrypt with this message's :meth:`encryption_key` (the enclave side of :func:`decrypt_message`)."""
        if NONCE_SIZE + PUBKEY_SIZE + len(self.ciphertext) < MIN_MESSAGE_SIZE:
            raise DecryptionFailed("failed to decrypt data")
        plaintext = siv_decrypt(key, self.ciphertext, IO_AD)
        if len(plaintext) < CODE_HASH_HEX_SIZE:
            raise DecryptionFailed("failed to decrypt data")
        try:
            prefix = plaintext[:CODE_HASH_HEX_SIZE].decode("ascii")
        except UnicodeDecodeError:
            prefix = ""
        return DecryptedMessage(self.nonce, self.user_public_key, key, prefix, plaintext[CODE_HASH_HEX_SIZE:])


@dataclass(frozen=True, repr=False)
class DecryptedMessage:
    """A decrypted input: the key that encrypts every output of this call, and the message."""

    nonce: bytes
    user_public_key: bytes
    key: bytes
    code_hash: str  # the 64-character prefix as sent
    msg: bytes

    def __repr__(self) -> str:
        return f"DecryptedMessage(nonce={self.nonce.hex()}, code_hash={self.code_hash}, key=<redacted>)"


def encrypt_message(
    io_public: bytes,
    client_private: bytes,
    code_hash: str,
    msg: bytes | str,
    nonce: bytes | None = None,
) -> bytes:
    """The client side (what ``EncryptionUtils.encrypt`` does): ``nonce ‖ client_pub ‖ SIV``."""
    if not isinstance(code_hash, str) or len(code_hash) != CODE_HASH_HEX_SIZE:
        raise InvalidKey("a code hash is 64 hex characters")
    nonce = os.urandom(NONCE_SIZE) if nonce is None else _need(nonce, NONCE_SIZE, "a nonce")
    key = tx_encryption_key(client_private, io_public, nonce)
    body = msg.encode() if isinstance(msg, str) else bytes(msg)
    ciphertext = siv_encrypt(key, code_hash.lower().removeprefix("0x").encode() + body, IO_AD)
    return nonce + x25519_public_key(client_private) + ciphertext


def decrypt_message(io_private: bytes, blob: bytes) -> DecryptedMessage:
    """The enclave side: split, derive the key, decrypt with AD ``[b""]``, split off the code hash.

    :class:`MalformedMessage` below 64 bytes (no key can be derived); :class:`DecryptionFailed` below
    the enclave's 82-byte minimum, on a failed SIV check, or when the plaintext is shorter than the
    64-character code hash.
    """
    msg = SecretMessage.from_bytes(blob)
    return msg.decrypt(msg.encryption_key(io_private))


def validate_code_hash(message: DecryptedMessage, expected_hex: str) -> bytes:
    """The enclave's code-hash check (hex decode accepts either case); returns the message body."""
    try:
        sent = bytes.fromhex(message.code_hash)
    except ValueError:
        raise CodeHashMismatch("failed to validate transaction: malformed code hash") from None
    if len(sent) != 32 or not hmac.compare_digest(sent, bytes.fromhex(expected_hex)):
        raise CodeHashMismatch("failed to validate transaction: the code hash does not match the contract")
    return message.msg


def encrypt_output(key: bytes, plaintext: bytes) -> bytes:
    """Any output of a call, encrypted with the call's key and AD ``[b""]``."""
    return siv_encrypt(key, plaintext, IO_AD)


def decrypt_output(key: bytes, ciphertext: bytes) -> bytes:
    return siv_decrypt(key, ciphertext, IO_AD)


def encrypt_binary(key: bytes, data: bytes) -> bytes:
    """A query result or an execute ``data`` field: the *base64 text* of the bytes is encrypted
    (the enclave serialises ``Binary`` to a JSON string and trims the quotes)."""
    return encrypt_output(key, base64.b64encode(data))


def encrypt_error(key: bytes, error: dict[str, Any]) -> bytes:
    """A contract error: its ``StdError`` serde JSON, e.g. ``{"generic_err":{"msg":"..."}}``."""
    return encrypt_output(key, json.dumps(error, separators=(",", ":"), ensure_ascii=False).encode())


class ClientEncryption:
    """The client side in one object, as ``secret-sdk``'s ``EncryptionUtils`` (no SDK needed).

    ``seed`` is the 32-byte X25519 private key (random when omitted), as in the SDKs.
    """

    def __init__(self, io_public: bytes, seed: bytes | None = None) -> None:
        self.io_public = _need(io_public, PUBKEY_SIZE, "the consensus io public key")
        self._private = os.urandom(KEY_SIZE) if seed is None else _need(seed, KEY_SIZE, "an encryption seed")
        self.public_key = x25519_public_key(self._private)

    def encrypt(self, code_hash: str, msg: bytes | str, nonce: bytes | None = None) -> bytes:
        return encrypt_message(self.io_public, self._private, code_hash, msg, nonce)

    def key_for(self, nonce: bytes) -> bytes:
        return tx_encryption_key(self._private, self.io_public, nonce)

    def decrypt(self, ciphertext: bytes, nonce: bytes) -> bytes:
        return decrypt_output(self.key_for(nonce), ciphertext)

    def __repr__(self) -> str:
        return f"ClientEncryption(public_key={self.public_key.hex()}, private=<redacted>)"


# --- contract key --------------------------------------------------------------------------------------
def _sender_id(sender: bytes, height: int) -> bytes:
    return hashlib.sha256(bytes(sender) + struct.pack(">Q", height)).digest()


def _contract_id(state_ikm0: bytes, sender_id: bytes, code_hash: bytes, contract_address: bytes) -> bytes:
    auth_key = derive_from_key(state_ikm0, sender_id)
    return hmac.new(auth_key, sender_id + bytes(code_hash) + bytes(contract_address), hashlib.sha256).digest()


def contract_key(state_ikm0: bytes, sender: bytes, height: int, code_hash: bytes, contract_address: bytes) -> bytes:
    """``generate_contract_key`` at instantiation: ``sender_id ‖ contract_id`` (64 bytes)."""
    sid = _sender_id(sender, height)
    return sid + _contract_id(state_ikm0, sid, _need(code_hash, 32, "a code hash"), contract_address)


def verify_contract_key(state_ikm0: bytes, key: bytes, code_hash: bytes, contract_address: bytes) -> bool:
    """``validate_contract_key`` on every call: the key belongs to this code at this address."""
    if not isinstance(key, bytes) or len(key) != CONTRACT_KEY_SIZE:
        return False
    expected = _contract_id(state_ikm0, key[:32], _need(code_hash, 32, "a code hash"), contract_address)
    return hmac.compare_digest(expected, key[32:])


# --- contract state (v3 scheme) ------------------------------------------------------------------------
def _bincode_bytes(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


def _bincode_read_bytes(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 8 > len(blob):
        raise DecryptionFailed("failed to decrypt data: truncated state record")
    (n,) = struct.unpack_from("<Q", blob, offset)
    end = offset + 8 + n
    if end > len(blob):
        raise DecryptionFailed("failed to decrypt data: truncated state record")
    return blob[offset + 8 : end], end


def block_random(state_ikm: bytes, height: int, time_ns: int, tx_nonce: bytes) -> bytes:
    """The emulation's ``env.block.random`` for one execute: keyed by the current seed's state key
    (so no host can predict it), bound to the block and to the transaction's encryption nonce (so two
    executes of one block differ; the real chain gives one value per block and contracts mix in their
    own inputs, as the custody contract does too).  Every node derives the same value, as consensus needs."""
    data = b"gridlock/env.block.random" + struct.pack(">QQ", height, time_ns) + bytes(tx_nonce)
    return derive_from_key(_need(state_ikm, KEY_SIZE, "a state key"), data)


def encryption_salt(block_time: int, height: int, msg_counter: int) -> bytes:
    """``get_encryption_salt``: ``u64_be(block time) ‖ u64_be(height) ‖ u64_be(message counter)``."""
    return struct.pack(">QQQ", block_time, height, msg_counter)


def _state_ikm_for_keys(state_ikm: Sequence[bytes]) -> bytes:
    if len(state_ikm) < 2:
        raise InvalidKey("state encryption v3 needs at least two consensus seeds")
    return state_ikm[1]


def encrypt_state_key(state_ikm: Sequence[bytes], contract_key_: bytes, key: bytes) -> tuple[bytes, bytes]:
    """``(enc_key, db_key)``: the deterministic SIV of the plaintext key and its stored wrapper."""
    k_key = derive_from_key(_state_ikm_for_keys(state_ikm), contract_key_)
    enc_key = siv_encrypt(k_key, key, None)
    db_key = (
        _bincode_bytes(ENCRYPTED_KEY_MAGIC)
        + struct.pack("<H", CONSENSUS_SEED_VERSION)
        + struct.pack("<I", STATE_ENCRYPTION_VERSION)
        + _bincode_bytes(enc_key)
    )
    return enc_key, db_key


def encrypt_state_value(
    state_ikm: Sequence[bytes], contract_key_: bytes, enc_key: bytes, value: bytes, salt: bytes
) -> bytes:
    """``bincode(EncryptedValue { salt, data })`` under the current seed's state key; once the
    network holds more than two seeds, followed by ``u16_le(seed id)`` (the 1-based index of the
    seed that encrypted it), as ``contract-engine/src/db.rs`` writes it."""
    k_val = derive_from_key(state_ikm[-1], contract_key_)
    data = siv_encrypt(k_val, value, [enc_key, salt])
    record = _bincode_bytes(salt) + _bincode_bytes(data)
    if len(state_ikm) > 2:
        record += struct.pack("<H", len(state_ikm))
    return record


def decrypt_state_value(state_ikm: Sequence[bytes], contract_key_: bytes, enc_key: bytes, db_value: bytes) -> bytes:
    """The inverse of :func:`encrypt_state_value`: a record without a seed id was written while the
    network had two seeds (seed id 2); a seed id the enclave does not hold fails."""
    salt, offset = _bincode_read_bytes(db_value, 0)
    data, end = _bincode_read_bytes(db_value, offset)
    if end == len(db_value):
        seed_id = 2
    elif end + 2 == len(db_value):
        (seed_id,) = struct.unpack_from("<H", db_value, end)
    else:
        raise DecryptionFailed("failed to decrypt data: trailing bytes in a state record")
    if not 1 <= seed_id <= len(state_ikm):
        raise DecryptionFailed("failed to decrypt data: a state record of an unknown seed")
    k_val = derive_from_key(state_ikm[seed_id - 1], contract_key_)
    return siv_decrypt(k_val, data, [enc_key, salt])
