"""Where an owner command runs: a local devnet, or a deployment profile for guardians on other hosts.

Both are a directory with the same owner files (:class:`gridlock.devnet.layout.Paths`): the
owner's encrypted keyring (``keyring.json``), the directory of public identities
(``directory.json``), the vault book (``vaults.json``) and the audit heads.  They differ in what
else is there and in how a command reaches the guardians — that is all a :class:`Profile` says:

* :class:`DevnetProfile` — ``devnet.json`` (:mod:`gridlock.devnet.layout`): the guardians are the
  devnet's, reached through the devnet host (its bridge socket, or its NATS server).  Its keyring
  also holds every guardian's key-encryption secret under the owner's one password: a devnet is
  for trying Gridlock, **not for real funds**.
* :class:`DeploymentProfile` — ``profile.json`` (written by ``gridlock init``)::

      {"format": "gridlock-profile/1", "created": 1700000000, "client_id": "<owner client id>",
       "router": "nats://host:4222", "nats_key": "nats.nkey" | "/abs/path" | null,
       "session_timeout": 30.0}

  The guardians are those of ``directory.json`` (the operator's file, copied in by ``init``), named
  by the display name each guardian's identity carries; the owner's NATS user key (an NKEY seed,
  :class:`gridlock.transport.nats_auth.NkeySeed`) is ``nats_key`` (relative to the directory).  Its
  keyring holds the owner's identity and device keys only — no guardian secret.

:func:`load_profile` picks the kind from the files present; every owner command works the same
on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gridlock.cli.errors import CliError, usage
from gridlock.cli.state import Paths, load_state, running_info
from gridlock.devnet.layout import read_json
from gridlock.errors import GridlockError, InvalidParameterError

PROFILE_FORMAT = "gridlock-profile/1"
PROFILE_FILE = "profile.json"


def profile_file(paths: Paths) -> Path:
    return paths.root / PROFILE_FILE


@dataclass(frozen=True)
class Route:
    """How an owner command reaches the guardians: the devnet host's bridge socket (``bridge``) or
    a NATS server (``router``, with the owner's NATS user key when the server checks access)."""

    router: str
    bridge: bool = False
    nkey: Path | None = None
    session_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.router, str) or not self.router:
            raise InvalidParameterError("a route needs a router address")
        if not self.bridge and not self.router.startswith(("nats://", "tls://")):
            raise InvalidParameterError(f"the router must be a nats:// or tls:// URL, not {self.router!r}")
        if not isinstance(self.session_timeout, float) or not 0 < self.session_timeout <= 3600:
            raise InvalidParameterError("session_timeout must be a number of seconds in (0, 3600]")


def find_guardian(guardians: list[dict[str, Any]], ref: str, where: str) -> dict[str, Any]:
    """A guardian by name, id or unique id prefix (at least 4 characters)."""
    for g in guardians:
        if ref == g["id"]:
            return dict(g)
    named = [g for g in guardians if g["name"] == ref]
    if len(named) > 1:  # display names come from each guardian's identity: two may share one
        raise usage(f"guardian name {ref!r} is ambiguous", hint=f"use an id: {', '.join(g['id'] for g in named)}")
    if named:
        return dict(named[0])
    hits = [g for g in guardians if len(ref) >= 4 and g["id"].startswith(ref)]
    if len(hits) == 1:
        return dict(hits[0])
    known = ", ".join(g["name"] for g in guardians) or "none"
    raise usage(f"unknown guardian {ref!r}", hint=f"{where}'s guardians: {known}")


class Profile(ABC):
    """What an owner command needs to know about where it runs (see the module documentation)."""

    kind: ClassVar[str]
    for_real_funds: ClassVar[bool]

    def __init__(self, paths: Paths, doc: dict[str, Any]) -> None:
        self.paths = paths
        self.doc = doc

    @property
    def client_id(self) -> str:
        return str(self.doc.get("client_id", ""))

    @property
    @abstractmethod
    def label(self) -> str:
        """``devnet DIR`` or ``profile DIR``: how messages name it."""

    @property
    @abstractmethod
    def guardians(self) -> list[dict[str, Any]]:
        """``[{"name", "id", "spare"}, …]``: the guardians a vault can be given."""

    @abstractmethod
    def route(self) -> Route:
        """How to reach the guardians now (a :class:`CliError`, exit code 3, when there is no way)."""

    def names(self) -> dict[str, str]:
        """guardian id → name (and the owner's client)."""
        names = {g["id"]: g["name"] for g in self.guardians}
        if self.client_id:
            names[self.client_id] = "owner"
        return names

    def resolve_guardian(self, ref: str) -> dict[str, Any]:
        return find_guardian(self.guardians, ref, f"the {self.kind}")

    def explain(self, err: CliError) -> CliError:
        """``err`` with a hint that fits this kind of profile (the generic ones speak of a devnet)."""
        return err

    def default_committee(self) -> list[dict[str, Any]]:
        """The guardians ``vault create`` uses without ``--guardians``."""
        return [g for g in self.guardians if not g.get("spare")]


class DevnetProfile(Profile):
    kind = "devnet"
    for_real_funds = False

    @property
    def label(self) -> str:
        return f"devnet {self.paths.root}"

    @property
    def guardians(self) -> list[dict[str, Any]]:
        return [dict(g) for g in self.doc.get("guardians", [])]

    def route(self) -> Route:
        running = running_info(self.paths, self.doc)
        if running is None:
            raise CliError(
                f"the devnet in {self.paths.root} is not running",
                hint="start it with `gridlock devnet up --detach`",
                exit_code=3,
                code="devnet-down",
            )
        timeout = float(running.get("session_timeout", 30.0))
        if running["mode"] == "embedded":
            return Route(str(running["socket"]), bridge=True, session_timeout=timeout)
        key = self.paths.client_nkey(self.client_id)  # the devnet made it (its NATS access)
        return Route(str(running["router"]), nkey=key if key.exists() else None, session_timeout=timeout)


class DeploymentProfile(Profile):
    kind = "profile"
    for_real_funds = True

    def __init__(self, paths: Paths, doc: dict[str, Any]) -> None:
        super().__init__(paths, doc)
        self._guardians: list[dict[str, Any]] | None = None

    @property
    def label(self) -> str:
        return f"profile {self.paths.root}"

    @property
    def guardians(self) -> list[dict[str, Any]]:
        if self._guardians is None:
            from gridlock.guardian.config import Directory  # noqa: PLC0415 -- kept off start-up

            try:
                directory = Directory.load(self.paths.directory)
            except GridlockError as exc:
                hint = "`gridlock init --directory FILE` copies it in"
                raise CliError(str(exc), hint=hint, code="bad-directory") from None
            listed = [{"name": pub.name or gid, "id": gid, "spare": False} for gid, pub in directory.guardians.items()]
            self._guardians = sorted(listed, key=lambda g: (g["name"], g["id"]))
        return self._guardians

    def explain(self, err: CliError) -> CliError:
        if err.code == "router-unavailable":
            err.hint = (
                f"is {self.doc.get('router')} reachable, and does the server admit this owner's NATS key "
                "(`gridlock init --json` printed it as nats_public)? Ask the guardians' operator"
            )
        elif err.code == "guardians-unreachable":
            err.hint = "the guardians named run on their operators' hosts: ask them to start those guardians"
        return err

    def nkey_path(self) -> Path | None:
        key = self.doc.get("nats_key")
        return None if not key else (self.paths.root / str(key))

    def route(self) -> Route:
        try:
            return Route(
                str(self.doc.get("router", "")),
                nkey=self.nkey_path(),
                session_timeout=float(self.doc.get("session_timeout", 30.0)),
            )
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise CliError(f"{profile_file(self.paths)}: {exc}", exit_code=2, code="profile-corrupt") from None


def read_profile_doc(paths: Paths) -> dict[str, Any] | None:
    """``profile.json``, or None when the directory holds no deployment profile."""
    try:
        doc = read_json(profile_file(paths))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {profile_file(paths)}: {exc}", exit_code=5, code="profile-corrupt") from None
    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise CliError(f"{profile_file(paths)} is not a gridlock profile", exit_code=5, code="profile-corrupt")
    return doc


def find_profile(paths: Paths) -> Profile | None:
    """The devnet or deployment profile in ``paths``, or None when there is neither."""
    state = load_state(paths)
    if state is not None:
        return DevnetProfile(paths, state)
    doc = read_profile_doc(paths)
    return None if doc is None else DeploymentProfile(paths, doc)


def load_profile(paths: Paths) -> Profile:
    profile = find_profile(paths)
    if profile is None:
        raise CliError(
            f"no devnet or profile in {paths.root}",
            hint=(
                "start a local devnet with `gridlock devnet up`, or set up your own guardians with "
                "`gridlock init --router nats://… --directory directory.json` (point --dir, --profile "
                "or $GRIDLOCK_HOME at it)"
            ),
            exit_code=3,
            code="no-devnet",
        )
    return profile
