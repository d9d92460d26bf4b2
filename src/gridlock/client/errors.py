"""The SDK's errors for what happened at the guardians: no answer in time, or a failure at some."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridlock.errors import GridlockError


class GuardianTimeout(GridlockError):
    """Guardians that did not answer in time (``missing``)."""

    def __init__(self, missing: Sequence[str], what: str) -> None:
        self.missing = tuple(missing)
        super().__init__(f"{what}: no answer in time from guardian(s) {', '.join(self.missing)}")


class OperationFailed(GridlockError):
    """An operation failed at one or more guardians; ``errors`` maps guardian id → its error."""

    def __init__(self, what: str, errors: Mapping[str, BaseException]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{g}: {e}" for g, e in sorted(self.errors.items()))
        super().__init__(f"{what} failed — {detail}")


class SpendHeld(OperationFailed):
    """A guardian holds the spend (a time lock or the watch guardian): it signs after ``until``
    (Unix time) if the owner does not object; ``reason`` says why.  The owner's devices were told."""

    def __init__(self, what: str, errors: Mapping[str, BaseException], guardian: str, until: int, reason: str) -> None:
        super().__init__(what, errors)
        self.guardian, self.until, self.reason = guardian, until, reason


class RootMismatch(GridlockError):
    """Guardians (``guardians``) that report another HD root — untweaked key and chain code — for a
    vault than the one fixed at keygen: their answer is not believed, and derived keys come from
    the owner's record only (a guardian choosing the chain code would choose the owner's addresses)."""

    def __init__(self, vault_id: str, guardians: Sequence[str], what: str) -> None:
        self.vault_id = vault_id
        self.guardians = tuple(guardians)
        super().__init__(
            f"{what}: guardian(s) {', '.join(self.guardians)} report another chain code or key for vault "
            f"{vault_id} than the one fixed at its creation (refused; child keys come from the vault book)"
        )
