"""A guardian's reading of a Cosmos SDK SignDoc (SECURITY #19): every message as the
:mod:`gridlock.chains.movement` s it makes, and the fee.

Messages are decoded with the strict reader of :mod:`gridlock.chains.cosmos_proto` (a duplicated or
unknown critical field refuses the whole transaction).  Coin amounts keep their denomination as the
movement's asset.

* ``/cosmos.bank.v1beta1.MsgSend``: a ``TRANSFER`` of each coin to ``to_address``;
  ``MsgMultiSend``: a ``TRANSFER`` of each coin of each output to its address.
* ``/ibc.applications.transfer.v1.MsgTransfer`` (ICS-20): a ``TRANSFER`` of ``token`` to
  ``<source_port>/<source_channel>/<receiver>`` — the receiver is an account of the chain at the
  other end of the channel, so the channel is part of where the coins go.  A non-empty ``memo`` is
  read by middleware on the other chain (packet forwarding, IBC hooks) that may send the coins on to
  someone else: it adds a ``CALL`` to ``<source_port>/<source_channel>``, which an allow-list must
  then name as well.
* ``/cosmwasm.wasm.v1.MsgExecuteContract`` and Secret Network's
  ``/secret.compute.v1beta1.MsgExecuteContract``: a ``CALL`` to the contract and a ``TRANSFER`` of
  each coin of its funds to it.
* ``/cosmos.authz.v1beta1.MsgGrant`` and ``/cosmos.feegrant.v1beta1.MsgGrantAllowance``: a ``GRANT``
  of :data:`UNBOUNDED` to the grantee (standing rights, whatever the authorization's own limits say).
* ``/cosmos.authz.v1beta1.MsgExec``: its messages, read by these same rules (nested at most
  :data:`MAX_EXEC_DEPTH` deep); ``MsgRevoke`` and ``MsgRevokeAllowance`` take rights away and move
  nothing.
* any other message: a ``CALL`` to its type URL.

The fee (``AuthInfo.fee.amount``) and a tip (``AuthInfo.tip``, older SDKs) are a ``FEE`` per coin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridlock.chains.cosmos import Coin, _bech32_or_hex, _coins, _parse
from gridlock.chains.cosmos_proto import decode
from gridlock.chains.movement import UNBOUNDED, Kind, Movement
from gridlock.errors import DecodeError

__all__ = ["MAX_EXEC_DEPTH", "read"]

MAX_EXEC_DEPTH = 3  # an authz MsgExec inside a MsgExec inside a MsgExec, and no deeper


def _transfers(to: str, coins: tuple[Coin, ...]) -> list[Movement]:
    return [Movement.transfer(to, c.amount, c.denom) for c in coins]


def _grant(grantee: str) -> Movement:
    return Movement(Kind.GRANT, grantee, UNBOUNDED)


def _send(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    return _transfers(m["to_address"], _coins(m["amount"]))


def _multi_send(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    return [t for out in m["outputs"] for t in _transfers(out["address"], _coins(out["coins"]))]


def _ibc_transfer(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    channel = f"{m['source_port']}/{m['source_channel']}"
    token = _coins([m["token"]]) if m["token"] is not None else ()
    out = _transfers(f"{channel}/{m['receiver']}", token)
    if m["memo"]:
        out.append(Movement.call(channel))
    return out


def _wasm_execute(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    return [Movement.call(m["contract"]), *_transfers(m["contract"], _coins(m["funds"]))]


def _secret_execute(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    contract = _bech32_or_hex(m["contract"], prefix)
    return [Movement.call(contract), *_transfers(contract, _coins(m["sent_funds"]))]


def _authz_grant(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    return [_grant(m["grantee"])]


def _exec(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    if depth >= MAX_EXEC_DEPTH:
        raise DecodeError(f"authz MsgExec nested more than {MAX_EXEC_DEPTH} deep")
    return [t for inner in m["msgs"] for t in _message(inner, prefix, depth + 1)]


def _revoke(m: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    return []


_Reader = Callable[[dict[str, Any], str, int], list[Movement]]
_MESSAGES: dict[str, tuple[str, _Reader]] = {  # type URL -> (cosmos_proto schema, reading)
    "/cosmos.bank.v1beta1.MsgSend": ("MsgSend", _send),
    "/cosmos.bank.v1beta1.MsgMultiSend": ("MsgMultiSend", _multi_send),
    "/ibc.applications.transfer.v1.MsgTransfer": ("MsgTransfer", _ibc_transfer),
    "/cosmwasm.wasm.v1.MsgExecuteContract": ("WasmMsgExecuteContract", _wasm_execute),
    "/secret.compute.v1beta1.MsgExecuteContract": ("SecretMsgExecuteContract", _secret_execute),
    "/cosmos.authz.v1beta1.MsgGrant": ("MsgGrant", _authz_grant),
    "/cosmos.authz.v1beta1.MsgExec": ("MsgExec", _exec),
    "/cosmos.authz.v1beta1.MsgRevoke": ("MsgRevoke", _revoke),
    "/cosmos.feegrant.v1beta1.MsgGrantAllowance": ("MsgGrantAllowance", _authz_grant),
    "/cosmos.feegrant.v1beta1.MsgRevokeAllowance": ("MsgRevokeAllowance", _revoke),
}


def _message(any_msg: dict[str, Any], prefix: str, depth: int) -> list[Movement]:
    known = _MESSAGES.get(any_msg["type_url"])
    if known is None:
        return [Movement.call(any_msg["type_url"])]
    schema, reader = known
    return reader(decode(schema, any_msg["value"]), prefix, depth)


def read(sign_doc: bytes, prefix: str) -> tuple[Movement, ...]:
    """Every movement of a SIGN_MODE_DIRECT SignDoc, message by message, then the fee (module doc);
    ``prefix`` spells Secret Network contract addresses (bytes on the wire) in bech32."""
    _, body, auth = _parse(sign_doc)
    movements = [m for any_msg in body["messages"] for m in _message(any_msg, prefix, 0)]
    for part in (auth["fee"], auth["tip"]):
        if part is not None:
            movements.extend(Movement.fee(c.amount, c.denom) for c in _coins(part["amount"]))
    return tuple(movements)
