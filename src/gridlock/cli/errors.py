"""What can go wrong in a command, and the exit code that says so.

Exit codes (a contract for scripts, also listed in ``gridlock --help``):

====  ==========================================================================================
0     success
1     the operation failed or a guardian refused it (protocol abort, policy, bad signature, …)
2     bad usage or bad input: unknown option, unknown vault or guardian, malformed file, wrong
      chain for the vault's scheme (Typer's own usage errors are 2 as well)
3     unavailable: no devnet is running (or there is no devnet or profile), the router cannot be
      reached, or too few guardians answered (the message names the ones that did not)
4     authentication: wrong password, or no password available to unlock the owner's keyring
5     conflict: a devnet is already running in that directory (or its state is inconsistent), or the
      directory already holds a devnet, a profile or other files where a new profile is made
130   interrupted (Ctrl-C)
====  ==========================================================================================

Every error prints ``error: …`` and, when there is something to do about it, ``hint: …`` on
stderr; with ``--json`` the same is also printed on stdout as ``{"error": {…}}`` so a script
always gets exactly one JSON document.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridlock.errors import DecodeError, GridlockError, InvalidParameterError, SignatureError
from gridlock.transport.errors import RouterUnavailable, TransportError, UnsafeSocket
from gridlock.wire.audit import AuditTampered
from gridlock.wire.control import RequestRefused

OK = 0
FAILED = 1
USAGE = 2
UNAVAILABLE = 3
AUTH = 4
CONFLICT = 5
INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 operation failed or refused · 2 bad usage or input · "
    "3 devnet not running / guardians unreachable · 4 wrong or missing password · "
    "5 devnet already running or directory taken · 130 interrupted."
)


class CliError(Exception):
    """An error for the person at the terminal: what happened, what to do, and the exit code."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = FAILED, code: str = "failed") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.code = code

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "hint": self.hint, "exit_code": self.exit_code}


def usage(message: str, hint: str | None = None) -> CliError:
    return CliError(message, hint=hint, exit_code=USAGE, code="bad-input")


def _refusal_code(exc: BaseException) -> str | None:
    """The stable code of a guardian's refusal."""
    return exc.code if isinstance(exc, RequestRefused) else None


def _named(text: str, names: Mapping[str, str]) -> str:
    for gid, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        if gid and gid != name:
            text = text.replace(gid, f"{name}")
    return text


def _explained() -> tuple[tuple[type[BaseException], str, str], ...]:
    """Failures that need a sentence of explanation: (type, code, hint)."""
    from gridlock.client.errors import RootMismatch  # noqa: PLC0415 -- kept off start-up

    return (
        (
            RootMismatch,
            "root-mismatch",
            "derived addresses come from the vault book's chain code; the named guardian(s) report another",
        ),
        (
            AuditTampered,
            "audit-tampered",
            "someone with that guardian's disk changed its log since you last read it; ask its operator",
        ),
    )


def classify(exc: BaseException, names: Mapping[str, str] | None = None, what: str = "") -> CliError:
    """An SDK / transport / chain exception as a :class:`CliError` (guardian ids shown by name)."""
    from gridlock.client.errors import GuardianTimeout, OperationFailed  # noqa: PLC0415 -- kept off start-up

    names = names or {}
    prefix = f"{what}: " if what else ""
    text = _named(str(exc), names)
    kind = type(exc).__name__
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, GuardianTimeout):
        missing = [names.get(g, g) for g in exc.missing]
        return CliError(
            prefix + text,
            hint=(
                f"guardian(s) not answering: {', '.join(missing)}; check `gridlock devnet status` "
                "and start them (`gridlock guardian start NAME`)"
            ),
            exit_code=UNAVAILABLE,
            code="guardians-unreachable",
        )
    if isinstance(exc, UnsafeSocket):
        return CliError(
            prefix + text,
            hint="another user may have made it to intercept your requests: check who did, remove it, start again",
            exit_code=FAILED,
            code="unsafe-socket",
        )
    if isinstance(exc, RouterUnavailable | TransportError):
        return CliError(
            prefix + text,
            hint="is the devnet running? `gridlock devnet status` / `gridlock devnet up`",
            exit_code=UNAVAILABLE,
            code="router-unavailable",
        )
    refused = _refusal_code(exc)
    if refused is not None:
        if refused in ("wrong-password", "rate-limited"):
            return CliError(prefix + text, exit_code=AUTH, code=refused)
        return CliError(prefix + text, exit_code=FAILED, code=f"refused:{refused}")
    if isinstance(exc, OperationFailed):
        errors = exc.errors
        codes = {_refusal_code(e) for e in errors.values()}
        if errors and codes <= {"wrong-password", "rate-limited"}:
            return CliError(prefix + text, exit_code=AUTH, code="wrong-password")
        if errors and all(isinstance(e, GuardianTimeout) for e in errors.values()):
            return CliError(prefix + text, exit_code=UNAVAILABLE, code="guardians-unreachable")
        return CliError(prefix + text, exit_code=FAILED, code="operation-failed")
    for explained, code, hint in _explained():
        if isinstance(exc, explained):
            return CliError(prefix + text, hint=hint, exit_code=FAILED, code=code)
    if isinstance(exc, SignatureError):
        return CliError(prefix + text, exit_code=FAILED, code="bad-signature")
    if isinstance(exc, DecodeError | InvalidParameterError):
        return CliError(prefix + text, exit_code=USAGE, code="bad-input")
    if isinstance(exc, GridlockError):
        return CliError(prefix + text, exit_code=FAILED, code="failed")
    if isinstance(exc, OSError):
        return CliError(
            prefix + f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), code="os-error"
        )
    return CliError(prefix + f"{kind}: {text}", code="internal")
