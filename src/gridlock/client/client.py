"""The asynchronous client SDK: the owner's side of every guardian operation.

The client never holds a share.  It asks guardians to run protocols among themselves over the
router and collects what they answer: public keys, signed epoch acknowledgements, signatures.
Every request and reply is an envelope signed by its sender and encrypted to its recipient.

* Signing asks the guardians that answer a ping first, so an offline guardian does not stop a
  vault that still has ``t`` reachable holders; a timeout names the guardians that did not answer.
* Key changes (creation, refresh, reshare, repair) are two-phase: every new holder stores the new
  epoch as pending and signs an acknowledgement; only with all of them does the client ask the
  holders to activate it — until then the old epoch signs (SECURITY #16).

The reader opens only what it waits for: a reply to a request in flight (from the guardian it was
sent to) or a notification; anything else is dropped before it costs replay-guard memory, and a
reply's replay state is finished as soon as it arrived, so the client keeps hearing after any
number of requests, and a guardian that floods it fills only its own budget (issue 18).  A guardian
that answers ``busy`` (its quota of requests in flight is full) is asked again after its retry hint,
with a growing, jittered pause, until the request's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gridlock.client.audit import AuditHeads
from gridlock.client.errors import GuardianTimeout, OperationFailed
from gridlock.client.hdroot import agreed_root
from gridlock.client.owner import OwnerDevice, password_verifier
from gridlock.client.vault import Vault
from gridlock.crypto import codec
from gridlock.crypto.schemes import get_scheme
from gridlock.errors import DecodeError, GridlockError, InvalidParameterError
from gridlock.transport.base import Transport
from gridlock.transport.errors import RecvTimeout, TransportClosed
from gridlock.wire import Identity, PublicIdentity, ReplayGuard, WireError, decode_envelope, open_envelope, ops, seal
from gridlock.wire import control as ctl

log = logging.getLogger("gridlock.client")

NOTIFY = "notify"
MAX_BACKOFF = 5.0  # seconds: the longest pause between two tries of a request a guardian found busy
SIGNING_WINDOW = 32
"""Signatures one client runs at once; more wait their turn in the client.  It is the guardians' default
quota of requests in flight per client (``GuardianNode(per_client_requests=32)``): a signing run needs
every chosen signer at once, and a guardian answering ``busy`` while its co-signers already run the
session would hold them up, so the client does not send more than a guardian takes.  A guardian with a
smaller quota still answers ``busy`` and the request is sent again."""


class Client:
    def __init__(
        self,
        identity: Identity,
        transport: Transport,
        directory: Mapping[str, PublicIdentity],
        *,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        owner: OwnerDevice | None = None,
        audit_heads: AuditHeads | None = None,
        signing_window: int = SIGNING_WINDOW,
    ) -> None:
        if signing_window < 1:
            raise InvalidParameterError("the signing window is at least one signature")
        self.signing = asyncio.Semaphore(signing_window)
        """Held by each signing run of this client's vaults (:data:`SIGNING_WINDOW`)."""
        self.identity = identity
        self.owner = owner
        self.audit_heads = audit_heads if audit_heads is not None else AuditHeads()
        """The last audit head verified per guardian and vault (:meth:`Vault.audit`); in memory unless given a file."""
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        self.transport = transport
        self.directory = dict(directory)
        self.timeout = timeout
        self.clock = clock
        self._guard = ReplayGuard()
        self._waiting: dict[tuple[bytes, str], asyncio.Future[bytes]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.busy_answers = 0
        """How many ``busy`` answers (back-pressure: the request did not run, it is sent again) came so far."""

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def _read(self) -> None:
        while True:
            try:
                data = await self.transport.recv(timeout=1.0)
            except RecvTimeout:
                continue
            except TransportClosed:
                return
            try:
                head = decode_envelope(data)  # structure only: is it something we wait for?
                waiting = self._waiting.get((head.session_id, head.sender))
                if head.protocol != NOTIFY and (head.protocol != ctl.REPLY or waiting is None or waiting.done()):
                    continue
                env = open_envelope(
                    data, me=self.identity, directory=self.directory, now=int(self.clock()), guard=self._guard
                )
            except (WireError, DecodeError, InvalidParameterError) as exc:
                log.info("client: rejected an envelope: %s", exc)
                continue
            self._guard.finish(env.session_id)  # one envelope per reply or notification: nothing follows
            if env.protocol == NOTIFY:
                with contextlib.suppress(DecodeError, asyncio.QueueFull):
                    note = codec.loads(env.body)
                    if isinstance(note, dict):
                        self.notifications.put_nowait({"from": env.sender, **note})
                continue
            fut = self._waiting.get((env.session_id, env.sender))
            if fut is not None and not fut.done():
                fut.set_result(env.body)

    # --- requests ----------------------------------------------------------------------------------
    async def request(
        self,
        guardian: str,
        op: str,
        params: Mapping[str, Any],
        timeout: float | None = None,
        *,
        introduce: bool = False,
        renew: Callable[[], Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One control request; the guardian's result, :class:`RequestRefused` or :class:`GuardianTimeout`.

        A ``busy`` refusal with a retry hint (the request did not run) is followed by another try after
        a jittered pause that grows each time, as long as the timeout allows.  ``renew`` gives the
        parameters of each new try: owner approvals made afresh, since a guardian accepts an owner
        device's approval counters only increasing and requests approved after this one may have run
        meanwhile."""
        if guardian not in self.directory:
            raise InvalidParameterError(f"unknown guardian {guardian}")
        if self._reader is None:
            await self.start()
        wait = timeout or self.timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        pause = 0.0
        while True:
            body = await self._request_once(guardian, op, params, deadline - loop.time(), introduce)
            try:
                return ctl.decode_reply(body, guardian)
            except ctl.RequestRefused as exc:
                if exc.code is not ctl.Refusal.BUSY or exc.retry_after is None:
                    raise
                self.busy_answers += 1
                pause = min(MAX_BACKOFF, max(exc.retry_after, 2 * pause))
                delay = pause * (0.5 + random.random())  # noqa: S311 -- jitter, not a secret
                if loop.time() + delay >= deadline:
                    raise
                log.debug("client: guardian %s is busy; %s again in %.2f s", guardian, op, delay)
                await asyncio.sleep(delay)
                if renew is not None:
                    params = renew()

    async def _request_once(
        self, guardian: str, op: str, params: Mapping[str, Any], wait: float, introduce: bool
    ) -> bytes:
        """Send the request once (a fresh request id) and wait ``wait`` seconds for the reply's body."""
        rid = secrets.token_bytes(16)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[(rid, guardian)] = fut
        try:
            data = seal(
                self.identity,
                session_id=rid,
                protocol=ctl.CONTROL,
                round=0,
                seq=0,
                recipient=self.directory[guardian],
                # it only has to reach the guardian; the guardian refuses more than MAX_REQUEST_TTL
                expires=int(self.clock()) + min(ctl.REQUEST_TTL, int(wait) + 5),
                body=ctl.Request(op, dict(params)).to_bytes(),
            )
            if introduce:  # a device the guardians do not know yet (recovery): show our public keys
                data = codec.dumps({"intro": self.identity.public.to_bytes(), "envelope": data})
            await self.transport.send(guardian, data)
            return await asyncio.wait_for(fut, max(0.0, wait))
        except TimeoutError:
            raise GuardianTimeout([guardian], op) from None
        finally:
            self._waiting.pop((rid, guardian), None)

    async def fanout(
        self,
        guardians: Sequence[str],
        op: str,
        params: Callable[[str], Mapping[str, Any]] | Mapping[str, Any],
        timeout: float | None = None,
    ) -> dict[str, dict[str, Any] | BaseException]:
        """The same operation at several guardians at once; each result or exception."""

        async def one(g: str) -> dict[str, Any] | BaseException:
            try:
                return await self.request(g, op, params(g) if callable(params) else params, timeout)
            except GridlockError as exc:
                return exc

        results = await asyncio.gather(*(one(g) for g in guardians))
        return dict(zip(guardians, results, strict=True))

    async def call(
        self,
        guardian: str,
        op: ops.Op,
        timeout: float | None = None,
        *,
        introduce: bool = False,
        renew: Callable[[ops.Op], ops.Op] | None = None,
    ) -> ops.Reply:
        """One typed operation at one guardian, and its typed reply (see :mod:`gridlock.wire.ops`).
        ``renew``: the operation with fresh owner approvals, for a try after a ``busy`` answer."""
        again = None if renew is None else (lambda: renew(op).to_params())
        params = op.to_params()
        return ops.read_reply(
            op, await self.request(guardian, op.NAME, params, timeout, introduce=introduce, renew=again)
        )

    async def call_all(
        self,
        guardians: Sequence[str],
        op: ops.Op,
        timeout: float | None = None,
        *,
        each: Callable[[str], ops.Op] | None = None,
        stop_on_refusal: bool = False,
        stop_when: Callable[[ops.Reply], bool] | None = None,
        renew: Callable[[ops.Op], ops.Op] | None = None,
    ) -> dict[str, ops.Reply | BaseException]:
        """``op`` at several guardians at once (``each(g)``: the variant for guardian ``g``, e.g. with
        its owner registration); each typed reply or exception.  ``stop_on_refusal``: return as soon
        as one guardian refuses (a signing run cannot finish without it); ``stop_when``: return as
        soon as one reply satisfies it (a signature that verifies).  The guardians not waited for are
        absent from the result."""

        async def one(g: str) -> ops.Reply | BaseException:
            try:
                return await self.call(g, each(g) if each is not None else op, timeout, renew=renew)
            except GridlockError as exc:
                return exc

        tasks = {g: asyncio.ensure_future(one(g)) for g in guardians}
        pending: set[asyncio.Future[ops.Reply | BaseException]] = set(tasks.values())
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if stop_on_refusal and any(isinstance(t.result(), ctl.RequestRefused) for t in done):
                    break
                if stop_when is not None and any(
                    isinstance(r, ops.Reply) and stop_when(r) for r in (t.result() for t in done)
                ):
                    break
        finally:
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return {g: t.result() for g, t in tasks.items() if t.done() and not t.cancelled()}

    async def ping(
        self,
        guardians: Sequence[str],
        timeout: float = 3.0,
        *,
        enough: int | None = None,
        vault: str | None = None,
        epoch: int | None = None,
    ) -> list[str]:
        """The guardians that answer within ``timeout``, fastest first; with ``enough``, returns as
        soon as that many answered (an offline guardian then costs nothing).  With ``vault`` and
        ``epoch``, only guardians that report that vault's active epoch as ``epoch`` count: one left
        on another epoch (a lost commit) would make a signing run fail."""
        order: list[str] = []
        done = asyncio.Event()

        async def one(g: str) -> None:
            with contextlib.suppress(GridlockError):
                reply = ops.expect(await self.call(g, ops.Ping(vault), timeout), ops.PingReply)
                if epoch is not None and reply.epoch != epoch:
                    log.info("client: guardian %s is on epoch %d of vault %s, not %d", g, reply.epoch, vault, epoch)
                    return
                order.append(g)
                if enough is not None and len(order) >= enough:
                    done.set()

        tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(one(g)) for g in guardians]
        waiter: asyncio.Future[Any] = asyncio.ensure_future(done.wait())
        pending: set[asyncio.Future[Any]] = {*tasks, waiter}
        while not waiter.done() and not all(t.done() for t in tasks):
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return list(order)

    async def epochs(self, guardians: Sequence[str], vault: str, timeout: float = 3.0) -> dict[str, int]:
        """Each answering guardian's active epoch of ``vault`` (-1: it holds none)."""

        async def one(g: str) -> tuple[str, int] | None:
            with contextlib.suppress(GridlockError):
                return g, ops.expect(await self.call(g, ops.Ping(vault), timeout), ops.PingReply).epoch
            return None

        return dict(r for r in await asyncio.gather(*(one(g) for g in guardians)) if r is not None)

    # --- vaults ------------------------------------------------------------------------------------
    async def create_vault(
        self,
        scheme: str,
        guardians: Sequence[str],
        threshold: int = 3,
        vault_id: str | None = None,
        *,
        password: str,
        owners: Sequence[bytes] | None = None,
        required: int = 1,
        timeout: float | None = None,
    ) -> Vault:
        """DKG among ``guardians`` (indices 1..n in the given order); active once every one stored it."""
        scheme = get_scheme(scheme).name
        if len(set(guardians)) != len(guardians) or not 2 <= threshold <= len(guardians):
            raise InvalidParameterError("need distinct guardians and 2 <= threshold <= their number")
        vault_id = vault_id or secrets.token_hex(8)
        members = {i + 1: g for i, g in enumerate(guardians)}
        if self.owner is None:
            raise InvalidParameterError("creating a vault needs the owner's device key (Client(owner=...))")
        devices = list(owners) if owners is not None else [self.owner.public]
        if self.owner.public not in devices or not 1 <= required <= len(devices):
            raise InvalidParameterError("the owner devices must include this device and 1 <= required <= their number")
        op = ops.Keygen(vault_id, scheme, threshold, members, secrets.token_bytes(32))
        registrations = await self._registrations(vault_id, list(guardians), password, devices, required)
        results = await self.call_all(
            list(guardians), op, timeout, each=lambda g: dataclasses.replace(op, owner=registrations[g])
        )
        vault = Vault(self, vault_id, scheme, b"", threshold, members, 0, required=required, devices=devices)
        vault.public_key = (await vault._commit(results, members, "vault creation", timeout)).public_key
        return vault

    async def _registrations(
        self, vault_id: str, guardians: Sequence[str], password: str, devices: Sequence[bytes], required: int
    ) -> dict[str, dict[str, Any]]:
        """Per guardian: the owner's devices and the Argon2id verifier salted for that guardian."""

        def compute() -> dict[str, dict[str, Any]]:
            return {
                g: {
                    "devices": list(devices),
                    "required": required,
                    "verifier": password_verifier(password, g, vault_id),
                    "notify": [self.identity.guardian_id],
                }
                for g in guardians
            }

        return await asyncio.to_thread(compute)

    async def list_vaults(self, guardians: Sequence[str]) -> list[dict[str, Any]]:
        """Vaults the given guardians hold (public data), merged by id."""
        answers = await self.call_all(list(guardians), ops.ListVaults(), timeout=10)
        merged: dict[str, dict[str, Any]] = {}
        for g, r in answers.items():
            if isinstance(r, ops.VaultsReply):
                for v in r.vaults:
                    entry = merged.setdefault(v["vault"], {**v, "guardians": []})
                    entry["guardians"].append(g)
                    entry["epoch"] = max(entry["epoch"], v["epoch"])
        return sorted(merged.values(), key=lambda v: str(v["vault"]))

    async def open_vault(self, vault_id: str, guardians: Sequence[str], *, timeout: float = 10.0) -> Vault:
        """A vault by id, from what its reachable guardians report (they must agree)."""
        answers = await self.call_all(list(guardians), ops.Info(vault_id), timeout=timeout)
        return self.vault_from_info(vault_id, answers)

    def vault_from_info(self, vault_id: str, answers: Mapping[str, ops.Reply | BaseException]) -> Vault:
        """The vault as the guardians' ``info`` answers describe it: the newest epoch wins."""
        good = [r for r in answers.values() if isinstance(r, ops.InfoReply)]
        if not good:
            raise OperationFailed("open vault", {g: e for g, e in answers.items() if isinstance(e, BaseException)})
        best = max(good, key=lambda r: r.epoch)
        vault = Vault(self, vault_id, best.scheme, best.public_key, best.threshold, best.member_map, best.epoch)
        with contextlib.suppress(GridlockError):  # the HD root only when every holder reports the same
            root = agreed_root(vault_id, vault.scheme, vault.public_key, answers, vault.guardians, "open vault")
            if root is not None:
                vault.group_key, vault.chain_code = root.key_bytes, root.chain_code
        return vault
