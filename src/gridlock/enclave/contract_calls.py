"""The custody contract's own steps, beyond the keystore interface: the FROST rounds and refresh done
inside it (:mod:`gridlock.enclave.contract_frost`), reshare and repair
(:mod:`gridlock.enclave.contract_keychange`), and what the vault's owner approves of there
(:mod:`gridlock.enclave.contract_owner`) — an export sealed to the owner's device, the owner's
device recovery and password change.

:class:`ContractSteps` is mixed into :class:`gridlock.enclave.keystore.EnclaveKeystore`: each step is
one of its encrypted executes.
"""

from __future__ import annotations

import abc
import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from gridlock.crypto.keyshare import KeyShare
from gridlock.crypto.sealed import SealedShare
from gridlock.enclave.errors import WrongPassword
from gridlock.guardian.shares import Approved
from gridlock.guardian.store import rules
from gridlock.guardian.store.errors import Corrupted

__all__ = ["ContractSteps"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise Corrupted("the custody contract answered with a malformed value")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Corrupted("the custody contract answered with malformed base64") from None


def _epoch_args(vault_id: object, epoch: object) -> dict[str, Any]:
    """Checked as the SQLite keystore checks them (the contract checks again)."""
    return {"vault_id": rules.check_vault_id(vault_id), "epoch": rules.check_epoch(epoch)}


def _approval_arg(approved: Approved) -> dict[str, Any]:
    return {
        "op": approved.op,
        "subject": _b64(approved.subject),
        "nonce": _b64(approved.nonce),
        "approvals": [
            {"device": _b64(a.device), "counter": a.counter, "expires": a.expires, "signature": _b64(a.signature)}
            for a in approved.approvals
        ],
    }


def _by_node(raw: object) -> dict[int, bytes]:
    """``[[index, base64], …]`` → ``{index: bytes}``."""
    if not isinstance(raw, list):
        raise Corrupted("the custody contract answered malformed sealed values")
    out = {}
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int):
            raise Corrupted("the custody contract answered malformed sealed values")
        out[item[0]] = _unb64(item[1])
    return out


def _wire(value: Any) -> Any:
    """A key-change argument as JSON: bytes base64, ``{index: …}`` as ``[[index, …], …]``."""
    if isinstance(value, bytes):
        return _b64(value)
    if isinstance(value, Mapping):
        return [[k, _wire(v)] for k, v in sorted(value.items())]
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _keychange_body(vault_id: str, session: bytes, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "vault_id": rules.check_vault_id(vault_id),
        "session": _b64(session),
        **{k: _wire(v) for k, v in body.items()},
    }


class ContractSteps(abc.ABC):
    """The custody contract's executes that use or guard a share inside it."""

    @abc.abstractmethod
    def _execute(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One encrypted execute; its decrypted answer."""

    @abc.abstractmethod
    def _query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """One query with the viewing key; its decrypted answer."""

    @abc.abstractmethod
    def _load_share(self, answer: dict[str, Any]) -> KeyShare:
        """A share, or its sealed view, from an answer."""

    # -- reshare and repair (gridlock.enclave.contract_keychange) -------------------------------------------
    def custody_key(self) -> bytes:
        """This guardian's custody key (the contract makes it on first use and keeps its private half)."""
        return _unb64(self._execute({"custody_key": {}}).get("custody_key"))

    def _sealed_view(self, answer: dict[str, Any]) -> SealedShare:
        share = self._load_share(answer)
        if not isinstance(share, SealedShare):
            raise Corrupted("the custody contract answered a share where a sealed view was asked for")
        return share

    def reshare_deal(
        self, vault_id: str, epoch: int, approved: Approved, session: bytes, recipients: Mapping[int, bytes]
    ) -> tuple[list[bytes], dict[int, bytes]]:
        """The contract deals this holder's part of the owner-approved reshare: the commitment
        (encoded points) and the sub-share sealed to each recipient (``recipients``: index → its
        public identity bytes)."""
        body = {
            **_epoch_args(vault_id, epoch),
            "approval": _approval_arg(approved),
            "session": _b64(session),
            "recipients": [[j, _b64(p)] for j, p in sorted(recipients.items())],
        }
        answer = self._execute({"reshare_deal": body})
        commitment = answer.get("commitment")
        if not isinstance(commitment, list):
            raise Corrupted("the custody contract answered a dealing without its commitment")
        return [_unb64(c) for c in commitment], _by_node(answer.get("sealed"))

    def reshare_combine(self, vault_id: str, session: bytes, body: Mapping[str, Any]) -> SealedShare:
        """The contract's new share from the sub-shares sealed to it (``body``: package, index,
        threshold, receivers, commitments, sealed, transcript hash — bytes, encoded here); staged."""
        return self._sealed_view(self._execute({"reshare_combine": _keychange_body(vault_id, session, body)}))

    def repair_split(
        self, vault_id: str, epoch: int, approved: Approved, session: bytes, recipients: Mapping[int, bytes]
    ) -> tuple[list[bytes], dict[int, bytes]]:
        """The contract's parts for the owner-approved repair: the published images (encoded points,
        in helper order) and each other helper's part sealed to it."""
        body = {
            **_epoch_args(vault_id, epoch),
            "approval": _approval_arg(approved),
            "session": _b64(session),
            "recipients": [[k, _b64(p)] for k, p in sorted(recipients.items())],
        }
        answer = self._execute({"repair_split": body})
        published = answer.get("published")
        if not isinstance(published, list):
            raise Corrupted("the custody contract answered a split without its published parts")
        return [_unb64(d) for d in published], _by_node(answer.get("sealed"))

    def repair_sum(self, vault_id: str, session: bytes, body: Mapping[str, Any]) -> bytes:
        """The contract's sum of the parts sealed to it, sealed to the holder being repaired."""
        return _unb64(self._execute({"repair_sum": _keychange_body(vault_id, session, body)}).get("sealed"))

    def repair_rebuild(self, vault_id: str, session: bytes, body: Mapping[str, Any]) -> SealedShare:
        """The contract's rebuilt share from the sums sealed to it; staged."""
        return self._sealed_view(self._execute({"repair_rebuild": _keychange_body(vault_id, session, body)}))

    def export_share(self, vault_id: str, epoch: int, approved: Approved) -> tuple[int, dict[bytes, bytes]]:
        """The owner's approved export of a FROST share: its index and the scalar sealed to each
        approving device (:mod:`gridlock.crypto.device_seal`), which this process cannot open."""
        body = {**_epoch_args(vault_id, epoch), "approval": _approval_arg(approved)}
        answer = self._execute({"export_share": body})
        index, sealed = answer.get("index"), answer.get("sealed")
        if isinstance(index, bool) or not isinstance(index, int) or not isinstance(sealed, list):
            raise Corrupted("the custody contract answered an export without its index or sealed shares")
        out = {}
        for item in sealed:
            if not (isinstance(item, list) and len(item) == 2):
                raise Corrupted("the custody contract answered a malformed sealed share")
            out[_unb64(item[0])] = _unb64(item[1])
        return index, out

    # -- the owner pinned in the contract (gridlock.enclave.contract_owner) ---------------------------------
    def _owner_execute(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._execute({name: {"vault_id": rules.check_vault_id(body.pop("vault_id")), **body}})

    def owner_status(self, vault_id: str) -> dict[str, Any]:
        """The pinned owner as committed (an execute in a later block than a password check):
        ``devices``, ``recovery`` (``None`` or its ``new_device``, ``lost_device``, ``unlock_at``) and
        ``last_check_ok``, decoded."""
        raw = self._owner_execute("owner_status", {"vault_id": vault_id})
        devices, rec = raw.get("devices"), raw.get("recovery")
        if not isinstance(devices, list) or not (rec is None or isinstance(rec, dict)):
            raise Corrupted("the custody contract answered a malformed owner")
        status: dict[str, Any] = {
            "devices": [_unb64(d) for d in devices],
            "recovery": None,
            "last_check_ok": raw.get("last_check_ok") is True,
        }
        if rec is not None:
            unlock = rec.get("unlock_at")
            if isinstance(unlock, bool) or not isinstance(unlock, int):
                raise Corrupted("the custody contract answered a recovery without its end time")
            status["recovery"] = {
                "new_device": _unb64(rec.get("new_device")),
                "lost_device": _unb64(rec.get("lost_device")),
                "unlock_at": unlock,
            }
        return status

    def _checked(self, vault_id: str) -> dict[str, Any]:
        """The owner after a password-checked execute; :class:`WrongPassword` if the check failed."""
        status = self.owner_status(vault_id)
        if not status["last_check_ok"]:
            raise WrongPassword("the custody contract's pinned password verifier is another")
        return status

    def owner_recovery_start(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> int:
        """Open the device recovery in the contract; its time lock's end (block time, seconds).
        Whether the password was right is read in the next block (:meth:`owner_status`)."""
        body = {"vault_id": vault_id, "new_device": _b64(new_device), "lost_device": _b64(lost_device)}
        self._owner_execute("owner_recovery_start", {**body, "verifier": _b64(verifier)})
        rec = self._checked(vault_id)["recovery"]
        if rec is None or (rec["new_device"], rec["lost_device"]) != (new_device, lost_device):
            raise Corrupted("the custody contract accepted the password but opened no such recovery")
        return int(rec["unlock_at"])

    def owner_recovery_finish(self, vault_id: str, new_device: bytes, lost_device: bytes, verifier: bytes) -> None:
        """End the recovery in the contract (the pinned devices follow); checked in the next block."""
        body = {"vault_id": vault_id, "new_device": _b64(new_device), "lost_device": _b64(lost_device)}
        self._owner_execute("owner_recovery_finish", {**body, "verifier": _b64(verifier)})
        devices = self._checked(vault_id)["devices"]
        if new_device not in devices or lost_device in devices:
            raise Corrupted("the custody contract accepted the password but did not move the devices")

    def owner_recovery_cancel(self, vault_id: str, approved: Approved) -> bool:
        """Cancel the device recovery open in the contract; whether one was."""
        body = {"vault_id": vault_id, "approval": _approval_arg(approved)}
        return self._owner_execute("owner_recovery_cancel", body).get("state") == "cancelled"

    def owner_password(self, vault_id: str, approved: Approved, verifier: bytes, new_verifier: bytes) -> None:
        """The owner-approved password change in the contract (the same change sent again changes
        nothing); checked in the next block."""
        body = {"vault_id": vault_id, "approval": _approval_arg(approved), "verifier": _b64(verifier)}
        self._owner_execute("owner_password", {**body, "new_verifier": _b64(new_verifier)})
        self._checked(vault_id)

    def frost_commit(self, vault_id: str, epoch: int, path: str, session: bytes) -> tuple[bytes, bytes]:
        """The contract makes and keeps one signature's nonces: (nonce id, encoded commitments)."""
        body = {**_epoch_args(vault_id, epoch), "path": str(path), "session": _b64(session)}
        out = self._execute({"frost_commit": body})
        return _unb64(out.get("nonce_id")), _unb64(out.get("commitments"))

    def frost_sign(
        self, vault_id: str, epoch: int, nonce_id: bytes, path: str, message: bytes, commitments: Sequence[bytes]
    ) -> bytes:
        """The contract's signature share over (``message``, ``commitments``) with the nonces
        ``nonce_id``, which it uses up; the encoded scalar ``z_i``, read back by a query once the
        execute is committed (:func:`gridlock.enclave.contract_frost.sign`)."""
        body = {
            **_epoch_args(vault_id, epoch),
            "nonce_id": _b64(nonce_id),
            "path": str(path),
            "message": _b64(message),
            "commitments": [_b64(c) for c in commitments],
        }
        self._execute({"frost_sign": body})
        answer = self._query("signature_share", {**_epoch_args(vault_id, epoch), "nonce_id": _b64(nonce_id)})
        return _unb64(answer.get("signature_share"))

    def refresh_share(
        self,
        vault_id: str,
        epoch: int,
        dealings: Mapping[int, tuple[Sequence[bytes], bytes]],
        transcript_hash: bytes,
    ) -> SealedShare:
        """The contract adds a refresh's sub-shares to the share of ``epoch`` (each checked against its
        dealer's commitment, given without the zero constant term) and stages the new share; its view."""
        body = {
            **_epoch_args(vault_id, epoch),
            "dealings": [[d, [_b64(p) for p in sent], _b64(sub)] for d, (sent, sub) in sorted(dealings.items())],
            "transcript_hash": _b64(transcript_hash),
        }
        return self._sealed_view(self._execute({"refresh_share": body}))

    def frost_discard(self, vault_id: str, epoch: int, nonce_id: bytes) -> None:
        """Burn nonces a stopped run did not use."""
        self._execute({"frost_discard": {**_epoch_args(vault_id, epoch), "nonce_id": _b64(nonce_id)}})
