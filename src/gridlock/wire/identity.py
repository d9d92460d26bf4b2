"""Long-term identities of guardians and clients (DESIGN §3 "Identifiers").

An :class:`Identity` holds two secret keys:

* an Ed25519 signing key (libsodium via PyNaCl) that signs every envelope the
  holder sends, and
* an HPKE (RFC 9180) key pair that point-to-point bodies are encrypted to.  The
  default KEM is the hybrid ML-KEM-768 + X25519 of ``cryptography``'s ``hpke``
  module, so a share recorded in transit today stays secret against a future
  quantum adversary; plain DHKEM(X25519, HKDF-SHA256) can be chosen instead.
  Both use HKDF-SHA256 and ChaCha20-Poly1305.

Its :class:`PublicIdentity` is what other parties store in their directory; its
short, stable name is :attr:`PublicIdentity.guardian_id`: the lowercase hex of
the first 16 bytes of SHA-256 over the canonical public key bytes (the
:meth:`PublicIdentity.to_bytes` encoding *without* the display name, so renaming
a guardian does not change its id).

A guardian whose shares a custody contract keeps (the enclave guardian) has a third public key in
its identity, the contract's X25519 *custody key* (:attr:`PublicIdentity.custody_key`; its private
half never leaves the contract): what a reshare or repair sends it is sealed to that key
(:mod:`gridlock.protocol.custody`).  It is among the keys :attr:`PublicIdentity.guardian_id`
hashes, so a host that later swaps it names another guardian, not this one.

Both byte formats are strict, versioned, deterministic CBOR maps (see
:mod:`gridlock.crypto.codec`).  The secret format is what the guardian layer
encrypts at rest; it holds the 32-byte Ed25519 seed, the 32-byte X25519 secret
and, for the hybrid KEM, the 64-byte ML-KEM-768 seed (FIPS 203 ``d‖z``).
Reprs and error messages never show secret key material (SECURITY #24).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridlock.crypto import codec, transcript, x25519_seal
from gridlock.errors import DecodeError, InvalidParameterError
from gridlock.wire.errors import DecryptionFailed, WireError

KEM_HYBRID: Final = "mlkem768-x25519"
KEM_X25519: Final = "x25519"
KEMS: Final = (KEM_HYBRID, KEM_X25519)
DEFAULT_KEM: Final = KEM_HYBRID

_ED25519_LEN = 32
_X25519_LEN = 32
_MLKEM768_PK_LEN = 1184
_MLKEM768_SEED_LEN = 64
HPKE_PUBLIC_LEN: Final = {KEM_HYBRID: _MLKEM768_PK_LEN + _X25519_LEN, KEM_X25519: _X25519_LEN}
SIGNATURE_LEN: Final = 64
MAX_NAME_LEN: Final = 64
GUARDIAN_ID_LEN: Final = 32  # hex characters (16 bytes)
_GUARDIAN_ID_RE = re.compile(r"[0-9a-f]{32}")

_SUITES: Final = {
    KEM_HYBRID: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305),
    KEM_X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305),
}

PUBLIC_MAGIC: Final = "gridlock/identity-public"
IDENTITY_MAGIC: Final = "gridlock/identity"
FORMAT_VERSION: Final = 1
MAX_PUBLIC_BYTES: Final = 4096
MAX_SECRET_BYTES: Final = 1024

# Signature labels under this prefix belong to the wire layer (envelopes); Identity.sign refuses them.
RESERVED_LABEL_PREFIX: Final = b"gridlock/wire/"

# CBOR map keys, format version 1.
_P_MAGIC, _P_VERSION, _P_KEM, _P_VERIFY, _P_HPKE, _P_NAME, _P_CUSTODY = 0, 1, 2, 3, 4, 5, 6
_P_REQUIRED = frozenset(range(5))
_P_OPTIONAL = frozenset({_P_NAME, _P_CUSTODY})
_S_MAGIC, _S_VERSION, _S_KEM, _S_ED25519, _S_X25519, _S_MLKEM, _S_NAME, _S_CUSTODY = 0, 1, 2, 3, 4, 5, 6, 7
_S_REQUIRED = frozenset(range(5))
_S_OPTIONAL = frozenset({_S_MLKEM, _S_NAME, _S_CUSTODY})

# A throwaway key used only to reject low-order X25519 public keys (their shared secret is all zero).
_PROBE = x25519.X25519PrivateKey.generate()

HpkePublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
HpkePrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


def is_guardian_id(value: object) -> bool:
    """True for a well-formed guardian id: 32 lowercase hex characters."""
    return isinstance(value, str) and _GUARDIAN_ID_RE.fullmatch(value) is not None


def _check_name(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LEN or not name.isprintable():
        raise InvalidParameterError(f"identity name must be 1..{MAX_NAME_LEN} printable characters or None")
    return name


def _check_kem(kem: object) -> str:
    if not isinstance(kem, str) or kem not in KEMS:
        raise InvalidParameterError(f"unknown HPKE KEM (expected one of {', '.join(KEMS)})")
    return kem


def _parse_hpke_public(kem: str, data: bytes) -> HpkePublicKey:
    try:
        x_pub = x25519.X25519PublicKey.from_public_bytes(data[-_X25519_LEN:])
        _PROBE.exchange(x_pub)  # raises ValueError for a low-order point
        if kem == KEM_X25519:
            return x_pub
        m_pub = mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PK_LEN])  # FIPS 203 modulus check
        return hpke.MLKEM768X25519PublicKey(m_pub, x_pub)
    except ValueError:
        raise InvalidParameterError("invalid HPKE public key") from None


def _check_custody_key(key: object) -> bytes | None:
    if key is None:
        return None
    if not isinstance(key, bytes) or len(key) != _X25519_LEN:
        raise InvalidParameterError("a custody key is a 32-byte X25519 public key")
    try:
        _PROBE.exchange(x25519.X25519PublicKey.from_public_bytes(key))  # ValueError for a low-order point
    except ValueError:
        raise InvalidParameterError("invalid custody key") from None
    return key


def _label_input(label: bytes, data: bytes) -> bytes:
    return transcript.encode(b"gridlock/identity/sign", label, data)


@dataclass(frozen=True, repr=False)
class PublicIdentity:
    """The public half of an :class:`Identity`: what a directory stores about a guardian.

    ``verify_key`` is the 32-byte Ed25519 public key (a valid, non-small-order
    point); ``hpke_public`` is the HPKE public key, ``ML-KEM-768 pk (1184 B) ‖
    X25519 pk (32 B)`` for the hybrid KEM or the 32-byte X25519 key; its length
    determines :attr:`kem`.  ``name`` is an optional display label; ``custody_key`` the X25519
    key of the custody contract that keeps this guardian's shares, if one does.
    """

    verify_key: bytes
    hpke_public: bytes
    name: str | None = None
    custody_key: bytes | None = None
    _hpke_key: HpkePublicKey = field(init=False, compare=False, repr=False)
    _verifier: Any = field(init=False, compare=False, repr=False)
    _guardian_id: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.verify_key, bytes) or len(self.verify_key) != _ED25519_LEN:
            raise InvalidParameterError("verify key must be 32 bytes")
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(self.verify_key):
            raise InvalidParameterError("verify key is not a valid Ed25519 point (or has small order)")
        if not isinstance(self.hpke_public, bytes):
            raise InvalidParameterError("HPKE public key must be bytes")
        kems = [k for k, n in HPKE_PUBLIC_LEN.items() if n == len(self.hpke_public)]
        if len(kems) != 1:
            raise InvalidParameterError("HPKE public key has the length of no supported KEM")
        _check_name(self.name)
        _check_custody_key(self.custody_key)
        object.__setattr__(self, "_hpke_key", _parse_hpke_public(kems[0], self.hpke_public))
        object.__setattr__(self, "_verifier", nacl.signing.VerifyKey(self.verify_key))
        # read several times per message (seal, open, routing): hash the keys once
        object.__setattr__(self, "_guardian_id", hashlib.sha256(self.key_bytes()).digest()[:16].hex())

    @property
    def kem(self) -> str:
        return KEM_X25519 if len(self.hpke_public) == _X25519_LEN else KEM_HYBRID

    def _map(self, *, with_name: bool) -> dict[int, Any]:
        m: dict[int, Any] = {
            _P_MAGIC: PUBLIC_MAGIC,
            _P_VERSION: FORMAT_VERSION,
            _P_KEM: self.kem,
            _P_VERIFY: self.verify_key,
            _P_HPKE: self.hpke_public,
        }
        if with_name and self.name is not None:
            m[_P_NAME] = self.name
        if self.custody_key is not None:
            m[_P_CUSTODY] = self.custody_key
        return m

    def to_bytes(self) -> bytes:
        """Canonical CBOR encoding (keys and name)."""
        return codec.dumps(self._map(with_name=True))

    def key_bytes(self) -> bytes:
        """Canonical CBOR encoding of the keys only: what :attr:`guardian_id` hashes."""
        return codec.dumps(self._map(with_name=False))

    @property
    def guardian_id(self) -> str:
        return self._guardian_id

    @property
    def seal_key(self) -> bytes:
        """The X25519 key a custody contract seals this guardian's key-change values to
        (:mod:`gridlock.crypto.x25519_seal`): its custody key if it has one, else the X25519 part
        of its HPKE key (opened by :meth:`Identity.open_sealed`)."""
        return self.custody_key if self.custody_key is not None else self.hpke_public[-_X25519_LEN:]

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicIdentity:
        """Strict decoding: exact schema, canonical encoding, keys validated.  Raises :class:`DecodeError`."""
        try:
            m = codec.load_format(
                data,
                PUBLIC_MAGIC,
                FORMAT_VERSION,
                "public identity",
                _P_REQUIRED,
                _P_OPTIONAL,
                max_size=MAX_PUBLIC_BYTES,
            )
            kem = _check_kem(m[_P_KEM])
            name = m.get(_P_NAME)
            pub = cls(
                verify_key=codec.get_bytes(m, _P_VERIFY, _ED25519_LEN),
                hpke_public=codec.get_bytes(m, _P_HPKE, HPKE_PUBLIC_LEN[kem]),
                name=_check_name(name),
                custody_key=codec.get_bytes(m, _P_CUSTODY, _X25519_LEN) if _P_CUSTODY in m else None,
            )
            return pub
        except DecodeError:
            raise
        except (InvalidParameterError, KeyError, TypeError, ValueError) as exc:
            raise codec.reraise_as_decode(exc) from None

    # --- operations -------------------------------------------------------------------
    def verify(self, label: bytes, data: bytes, signature: bytes) -> bool:
        """Check a signature made by :meth:`Identity.sign` with the same label."""
        if not isinstance(label, bytes) or not isinstance(data, bytes):
            raise InvalidParameterError("label and data must be bytes")
        return self._verify_raw(_label_input(label, data), signature)

    def _verify_raw(self, message: bytes, signature: bytes) -> bool:
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LEN:
            return False
        try:
            self._verifier.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
            return False
        return True

    def encrypt(self, plaintext: bytes, *, info: bytes) -> bytes:
        """HPKE base-mode single-shot encryption to this identity; ``info`` binds the context.

        The result is ``enc ‖ ciphertext ‖ tag`` as produced by ``cryptography``'s
        ``Suite.encrypt`` (1120 + len + 16 bytes for the hybrid KEM, 32 + len + 16 for X25519).
        """
        try:
            return _SUITES[self.kem].encrypt(plaintext, self._hpke_key, info=info)
        except (ValueError, TypeError):
            raise WireError("HPKE encryption failed") from None

    def __repr__(self) -> str:
        return f"PublicIdentity(guardian_id={self.guardian_id}, kem={self.kem}, name={self.name!r})"

    __str__ = __repr__


class Identity:
    """A guardian's (or client's) long-term secret keys; see the module docstring.

    Create with :meth:`generate` or :meth:`from_bytes`.  The secret keys live only in
    library key objects; ``repr``/``str`` show the guardian id, the KEM and the name.
    """

    __slots__ = ("_custody", "_hpke_private", "_mlkem", "_name", "_public", "_signing", "_x25519")

    def __init__(
        self,
        *,
        ed25519_seed: bytes,
        x25519_secret: bytes,
        mlkem_seed: bytes | None,
        name: str | None = None,
        custody_key: bytes | None = None,
    ) -> None:
        if not isinstance(ed25519_seed, bytes) or len(ed25519_seed) != _ED25519_LEN:
            raise InvalidParameterError("Ed25519 seed must be 32 bytes")
        if not isinstance(x25519_secret, bytes) or len(x25519_secret) != _X25519_LEN:
            raise InvalidParameterError("X25519 secret must be 32 bytes")
        if mlkem_seed is not None and (not isinstance(mlkem_seed, bytes) or len(mlkem_seed) != _MLKEM768_SEED_LEN):
            raise InvalidParameterError("ML-KEM-768 seed must be 64 bytes")
        self._name = _check_name(name)
        self._custody = _check_custody_key(custody_key)
        self._signing: Any = nacl.signing.SigningKey(ed25519_seed)
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(x25519_secret)
        self._mlkem: mlkem.MLKEM768PrivateKey | None = None
        self._hpke_private: HpkePrivateKey
        if mlkem_seed is None:
            self._hpke_private = self._x25519
            hpke_public = self._x25519.public_key().public_bytes_raw()
        else:
            self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
            self._hpke_private = hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x25519)
            hpke_public = self._mlkem.public_key().public_bytes_raw() + self._x25519.public_key().public_bytes_raw()
        self._public = PublicIdentity(bytes(self._signing.verify_key), hpke_public, self._name, self._custody)

    @classmethod
    def generate(cls, *, kem: str = DEFAULT_KEM, name: str | None = None, custody_key: bytes | None = None) -> Identity:
        """Fresh keys from the operating system's CSPRNG (via libsodium and OpenSSL); ``custody_key``
        for a guardian whose shares a custody contract keeps (the contract's public key)."""
        kem = _check_kem(kem)
        mlkem_seed = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() if kem == KEM_HYBRID else None
        return cls(
            ed25519_seed=nacl.signing.SigningKey.generate().encode(),
            x25519_secret=x25519.X25519PrivateKey.generate().private_bytes_raw(),
            mlkem_seed=mlkem_seed,
            name=name,
            custody_key=custody_key,
        )

    # --- public view ------------------------------------------------------------------
    @property
    def public(self) -> PublicIdentity:
        return self._public

    @property
    def guardian_id(self) -> str:
        return self._public.guardian_id

    @property
    def kem(self) -> str:
        return self._public.kem

    @property
    def name(self) -> str | None:
        return self._name

    # --- secret serialisation ---------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The secret keys as a strict versioned CBOR map.  Encrypt before storing (SECURITY #23)."""
        m: dict[int, Any] = {
            _S_MAGIC: IDENTITY_MAGIC,
            _S_VERSION: FORMAT_VERSION,
            _S_KEM: self.kem,
            _S_ED25519: self._signing.encode(),
            _S_X25519: self._x25519.private_bytes_raw(),
        }
        if self._mlkem is not None:
            m[_S_MLKEM] = self._mlkem.private_bytes_raw()
        if self._name is not None:
            m[_S_NAME] = self._name
        if self._custody is not None:
            m[_S_CUSTODY] = self._custody
        return codec.dumps(m)

    @classmethod
    def from_bytes(cls, data: bytes) -> Identity:
        """Strict decoding of :meth:`to_bytes`.  Raises :class:`DecodeError` (never shows the bytes)."""
        try:
            m = codec.load_format(
                data, IDENTITY_MAGIC, FORMAT_VERSION, "identity", _S_REQUIRED, _S_OPTIONAL, max_size=MAX_SECRET_BYTES
            )
            kem = _check_kem(m[_S_KEM])
            if (kem == KEM_HYBRID) != (_S_MLKEM in m):
                raise DecodeError("the ML-KEM seed must be present exactly for the hybrid KEM")
            mlkem_seed = codec.get_bytes(m, _S_MLKEM, _MLKEM768_SEED_LEN) if kem == KEM_HYBRID else None
            return cls(
                ed25519_seed=codec.get_bytes(m, _S_ED25519, _ED25519_LEN),
                x25519_secret=codec.get_bytes(m, _S_X25519, _X25519_LEN),
                mlkem_seed=mlkem_seed,
                name=_check_name(m.get(_S_NAME)),
                custody_key=codec.get_bytes(m, _S_CUSTODY, _X25519_LEN) if _S_CUSTODY in m else None,
            )
        except DecodeError:
            raise
        except (InvalidParameterError, KeyError, TypeError, ValueError) as exc:
            raise codec.reraise_as_decode(exc) from None

    # --- operations -------------------------------------------------------------------
    def sign(self, label: bytes, data: bytes) -> bytes:
        """Ed25519 signature over the injective encoding of (label, data).

        For the layers above (e.g. epoch acknowledgements).  Labels starting with
        ``gridlock/wire/`` are reserved for envelopes and refused, and the encoding
        differs from the envelope signing input, so no call here can yield an
        envelope signature.
        """
        if not isinstance(label, bytes) or not isinstance(data, bytes):
            raise InvalidParameterError("label and data must be bytes")
        if not label or label.startswith(RESERVED_LABEL_PREFIX):
            raise InvalidParameterError("signature label is empty or reserved for the wire layer")
        return self._sign_raw(_label_input(label, data))

    def _sign_raw(self, message: bytes) -> bytes:
        sig: bytes = self._signing.sign(message).signature
        return sig

    def derive_key(self, label: bytes) -> bytes:
        """A 32-byte key for one local use of the holder, named by ``label`` (``gridlock/…``):
        HKDF-SHA256 (RFC 5869) over the Ed25519 seed, ``info`` = label.  As secret as the identity and
        stable while it lasts (renaming does not change it); another label gives an independent key."""
        if not isinstance(label, bytes) or not label.startswith(b"gridlock/"):
            raise InvalidParameterError("a derived key's label is bytes starting with gridlock/")
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(self._signing.encode())

    def decrypt(self, ciphertext: bytes, *, info: bytes) -> bytes:
        """Open an HPKE ciphertext made by :meth:`PublicIdentity.encrypt` with the same ``info``.

        Raises :class:`DecryptionFailed` (without detail) when it does not open.
        """
        try:
            return _SUITES[self.kem].decrypt(ciphertext, self._hpke_private, info=info)
        except Exception:  # InvalidTag, ValueError on short input, ...: all mean "does not open"
            raise DecryptionFailed("encrypted body does not open for this recipient and header") from None

    def open_sealed(self, sealed: bytes, *, context: bytes) -> bytes:
        """Open what a custody contract sealed to this identity's :attr:`PublicIdentity.seal_key`
        (:func:`gridlock.crypto.x25519_seal.seal`, its X25519 part) under ``context``.

        Raises :class:`DecodeError` when it does not open."""
        if self._custody is not None:
            raise InvalidParameterError("values to this guardian are sealed to its custody key, opened in its contract")
        return x25519_seal.open_sealed(self._x25519.private_bytes_raw(), sealed, context)

    def __repr__(self) -> str:
        return f"Identity(guardian_id={self.guardian_id}, kem={self.kem}, name={self._name!r}, secret=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Identity holds secret keys and cannot be pickled; use to_bytes() and encrypt it")
