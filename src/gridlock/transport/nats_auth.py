"""Who may use the NATS router, and for what: one NKEY per endpoint, receiving only on its own subject.

The router is not trusted with secrets (envelopes are signed and encrypted, :mod:`gridlock.wire`), but
an open router lets anyone who reaches it flood a guardian, subscribe to its subject or learn the
subjects in use.  So the server itself enforces access, with its own mechanisms:

* **Authentication: NKEYs.**  Every guardian and client has its own NATS user key (Ed25519, the
  NKEY encoding: a seed ``SU…`` kept secret by its owner, a public key ``U…`` in the server's
  configuration).  The server sends a nonce, the client signs it; a connection without a listed key
  is refused ("Authorization Violation").  The NATS key is separate from the endpoint's Gridlock
  identity: the NATS server asks for signatures over nonces *it* chooses, which must never be
  signatures a peer could take for an envelope.
* **Authorization: subject permissions.**  Endpoint ``N`` may subscribe only to its own inbox
  ``PREFIX.inbox.N``; it may publish only to the inboxes of the endpoints it must reach (and its own,
  where :class:`~gridlock.transport.nats.NatsTransport` probes its subscription): a guardian to every
  guardian and client, a client to every guardian.  Nothing else — no wildcards, no ``_INBOX`` —
  so an endpoint cannot listen to another's traffic or learn which subjects exist.

:meth:`NatsAccess.config` is the ``authorization { users = [...] }`` block of a ``nats-server``
configuration file (https://docs.nats.io/running-a-nats-service/configuration/securing_nats/auth_intro/nkey_auth
and .../securing_nats/authorization); :class:`~gridlock.transport.server.NatsServer` and the devnet
write it, an operator includes it in the configuration of their own server.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nkeys

from gridlock.errors import InvalidParameterError
from gridlock.transport.base import check_address

__all__ = ["NatsAccess", "NatsUser", "NkeySeed", "inbox_subject"]

_USER_PUBLIC = re.compile(r"U[A-Z2-7]{55}")
_SEED = re.compile(r"SU[A-Z2-7]{56}")


def _checksum_ok(text: str) -> bool:
    """The CRC-16 that ends every NKEY (little-endian, over the decoded bytes before it)."""
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error:
        return False
    return len(raw) > 2 and int(nkeys.crc16(bytearray(raw[:-2]))) == int.from_bytes(raw[-2:], "little")


def inbox_subject(prefix: str, name: str) -> str:
    """The NATS subject of endpoint ``name``'s inbox."""
    return f"{prefix}.inbox.{check_address(name, 'destination')}"


@dataclass(frozen=True, repr=False)
class NkeySeed:
    """A NATS user key: ``seed`` (secret, ``SU…``) and its public key (``U…``).  The repr shows only
    the public key."""

    seed: str

    def __post_init__(self) -> None:
        if not isinstance(self.seed, str) or _SEED.fullmatch(self.seed) is None:
            raise InvalidParameterError("a NATS user seed is 58 base32 characters starting with SU")
        if not _checksum_ok(self.seed):
            raise InvalidParameterError("not a valid NATS user seed (checksum)")

    @classmethod
    def generate(cls) -> NkeySeed:
        """A fresh user key from the operating system's CSPRNG."""
        return cls(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode())

    @property
    def public(self) -> str:
        return str(nkeys.from_seed(bytearray(self.seed.encode())).public_key.decode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NkeySeed:
        """The seed kept in ``path`` (one line)."""
        try:
            text = Path(path).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(f"cannot read the NATS key file {path}: {exc}") from None
        return cls(text)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> NkeySeed:
        """The seed in ``path``, made (readable by its owner only) if the file does not exist yet."""
        p = Path(path)
        if p.exists():
            return cls.load(p)
        key = cls.generate()
        key.save(p)
        return key

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the seed to a new file only its owner can read (an existing file is not replaced)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.seed + "\n")

    def __repr__(self) -> str:
        return f"NkeySeed(public={self.public})"

    __str__ = __repr__


@dataclass(frozen=True)
class NatsUser:
    """One endpoint's entry: its name, its public NATS key, the endpoints it may send to."""

    endpoint: str
    nkey: str
    sends_to: tuple[str, ...]

    def __post_init__(self) -> None:
        check_address(self.endpoint)
        if not isinstance(self.nkey, str) or _USER_PUBLIC.fullmatch(self.nkey) is None or not _checksum_ok(self.nkey):
            raise InvalidParameterError(f"{self.nkey!r} is not a NATS user public key (U…)")
        if not isinstance(self.sends_to, tuple):
            raise InvalidParameterError("sends_to must be a tuple of endpoint names")
        for name in self.sends_to:
            check_address(name)


@dataclass(frozen=True)
class NatsAccess:
    """Every endpoint's NATS key and permissions (see the module documentation)."""

    users: tuple[NatsUser, ...]
    prefix: str = "gridlock"

    def __post_init__(self) -> None:
        if not isinstance(self.users, tuple) or not all(isinstance(u, NatsUser) for u in self.users):
            raise InvalidParameterError("users must be a tuple of NatsUser")
        for what, values in (("endpoint", [u.endpoint for u in self.users]), ("key", [u.nkey for u in self.users])):
            if len(set(values)) != len(values):
                raise InvalidParameterError(f"two NATS users share one {what}")
        inbox_subject(self.prefix, "probe")  # the prefix makes valid subjects

    @classmethod
    def for_network(
        cls, guardians: Mapping[str, str], clients: Mapping[str, str], *, prefix: str = "gridlock"
    ) -> NatsAccess:
        """Access for guardians and clients (endpoint name → public NATS key): a guardian may send to
        every guardian and client, a client to every guardian (each also to itself)."""
        gids = tuple(sorted(guardians))
        users = [NatsUser(g, key, tuple(sorted({*gids, *clients}))) for g, key in sorted(guardians.items())]
        users += [NatsUser(c, key, tuple(sorted({*gids, c}))) for c, key in sorted(clients.items())]
        return cls(tuple(users), prefix)

    def user(self, endpoint: str) -> NatsUser:
        for u in self.users:
            if u.endpoint == endpoint:
                return u
        raise InvalidParameterError(f"no NATS user for endpoint {endpoint}")

    def config(self) -> str:
        """The ``authorization`` block of a ``nats-server`` configuration file."""
        lines = ["authorization {", "  users = ["]
        for u in self.users:
            publish = json.dumps([inbox_subject(self.prefix, n) for n in sorted({*u.sends_to, u.endpoint})])
            subscribe = json.dumps([inbox_subject(self.prefix, u.endpoint)])
            lines.append(
                f'    {{ nkey: "{u.nkey}", permissions: {{ publish: {{ allow: {publish} }}, '
                f"subscribe: {{ allow: {subscribe} }} }} }}"
            )
        lines += ["  ]", "}"]
        return "\n".join(lines) + "\n"
