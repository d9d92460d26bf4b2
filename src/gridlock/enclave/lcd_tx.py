"""The JSON the LCD (grpc-gateway) renders for transactions and accounts, as Secret Network's does.

What the clients read of it: ``secretjs``'s ``decodeTxResponse`` takes ``tx.body.messages[i].msg``
(base64; its first 32 bytes are the nonce it decrypts with), ``data`` (hex of ``TxMsgData``, whose
``MsgExecuteContractResponse.data`` is the encrypted output), the ``wasm`` event's attributes
(base64 of AES-SIV ciphertexts) grouped by their ``msg_index`` attribute (cosmos-sdk 0.50 events,
``raw_log`` empty on success), and on failure ``raw_log``'s ``encrypted: <base64>: execute contract
failed``.  ``/cosmos/auth/v1beta1/accounts/{address}`` answers a ``BaseAccount`` whose
``account_number`` and ``sequence`` (strings, as grpc-gateway renders ``uint64``) the signer puts
in its ``SignDoc`` and ``SignerInfo``.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from gridlock.enclave.cosmos_tx import EXECUTE_TYPE, PUBKEY_TYPE, SignedExecute, execute_response_data
from gridlock.enclave.transactions import TxResult

__all__ = ["account_json", "tx_json", "tx_response_json"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _time(time_ns: int) -> str:
    t = datetime.datetime.fromtimestamp(time_ns / 1e9, tz=datetime.UTC)
    return t.isoformat().replace("+00:00", "Z")


def account_json(address: str, account_number: int, sequence: int, public_key: bytes | None) -> dict[str, Any]:
    pub = None if public_key is None else {"@type": PUBKEY_TYPE, "key": _b64(public_key)}
    return {
        "account": {
            "@type": "/cosmos.auth.v1beta1.BaseAccount",
            "address": address,
            "pub_key": pub,
            "account_number": str(account_number),
            "sequence": str(sequence),
        }
    }


def tx_json(tx: SignedExecute) -> dict[str, Any]:
    """``cosmos.tx.v1beta1.Tx`` as JSON (the sender and contract as bech32, as the gateway shows them)."""
    return {
        "body": {
            "messages": [
                {
                    "@type": EXECUTE_TYPE,
                    "sender": tx.sender,
                    "contract": tx.contract,
                    "msg": _b64(tx.msg),
                    "callback_code_hash": "",
                    "sent_funds": [],
                    "callback_sig": None,
                }
            ],
            "memo": tx.memo,
            "timeout_height": "0",
            "extension_options": [],
            "non_critical_extension_options": [],
        },
        "auth_info": {
            "signer_infos": [
                {
                    "public_key": {"@type": PUBKEY_TYPE, "key": _b64(tx.public_key)},
                    "mode_info": {"single": {"mode": "SIGN_MODE_DIRECT"}},
                    "sequence": str(tx.sequence),
                }
            ],
            "fee": {
                "amount": [{"denom": d, "amount": a} for d, a in tx.fee],
                "gas_limit": str(tx.gas_limit),
                "payer": "",
                "granter": "",
            },
            "tip": None,
        },
        "signatures": [_b64(tx.signature)],
    }


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": value, "index": True}


def _events(result: TxResult, tx: SignedExecute) -> list[dict[str, Any]]:
    index = _attr("msg_index", "0")
    wasm = [_attr("contract_address", tx.contract)]
    wasm += [_attr(_b64(k), _b64(v)) for k, v in result.attributes]
    return [
        {"type": "tx", "attributes": [_attr("fee", "".join(a + d for d, a in tx.fee)), _attr("fee_payer", tx.sender)]},
        {"type": "tx", "attributes": [_attr("acc_seq", f"{tx.sender}/{tx.sequence}")]},
        {
            "type": "message",
            "attributes": [
                _attr("action", EXECUTE_TYPE),
                _attr("sender", tx.sender),
                _attr("module", "compute"),
                index,
            ],
        },
        {"type": "execute", "attributes": [_attr("contract_address", tx.contract), index]},
        {"type": "wasm", "attributes": [*wasm, index]},
    ]


def tx_response_json(result: TxResult, tx: SignedExecute | None, time_ns: int | None) -> dict[str, Any]:
    """``TxResponse``: a committed transaction when ``time_ns`` is given (with its ``tx``, ``data``
    and events), otherwise a CheckTx answer to ``BROADCAST_MODE_SYNC``."""
    committed = time_ns is not None and tx is not None
    ok = result.code == 0
    return {
        "height": str(result.height if committed else 0),
        "txhash": result.txhash,
        "codespace": result.codespace,
        "code": result.code,
        "data": execute_response_data(result.data).hex().upper() if committed and ok else "",
        "raw_log": "" if ok else result.raw_log,
        "logs": [],
        "info": "",
        "gas_wanted": str(result.gas_wanted),
        "gas_used": str(result.gas_used),
        "tx": {"@type": "/cosmos.tx.v1beta1.Tx", **tx_json(tx)} if committed and tx is not None else None,
        "timestamp": _time(time_ns) if committed and time_ns is not None else "",
        "events": _events(result, tx) if committed and ok and tx is not None else [],
    }
