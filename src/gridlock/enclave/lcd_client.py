"""The enclave guardian's way to a Secret Network: an LCD (grpc-gateway) URL and signed transactions.

:class:`LcdClient` is the :class:`~gridlock.enclave.keystore.SecretChain` the enclave guardian
uses: it reaches the network only over HTTP, exactly as ``secretjs`` does —

* reads: ``GET /compute/v1beta1/query/{contract}?query=<base64>`` (a ``POST`` with the same body
  when the URL would be long), ``GET /compute/v1beta1/code_hash/by_contract_address/{contract}``,
  ``GET /registration/v1beta1/tx-key``;
* writes: ``GET /cosmos/auth/v1beta1/accounts/{address}`` for the account number and sequence, a
  ``TxRaw`` with one ``MsgExecuteContract`` signed in SIGN_MODE_DIRECT with the guardian's account
  key (:func:`gridlock.enclave.cosmos_tx.make_execute_tx`), ``POST /cosmos/tx/v1beta1/txs``
  (``BROADCAST_MODE_SYNC``), then ``GET /cosmos/tx/v1beta1/txs/{hash}`` until the block holds it; the
  encrypted output is ``MsgExecuteContractResponse.data`` inside the response's ``TxMsgData``.

The sender is whoever signs: the network authenticates it from the signature, so this client
executes only as its own account (:attr:`LcdClient.address`).  What the guardian trusts is pinned in
its configuration (:class:`SecretNetworkEndpoint`): the custody contract's address and code hash
and the network's io public key — a network answering with another io key, or a contract with
another code hash, is refused before any message is encrypted to it.  Pointing the guardian at
another network (a testnet, ``secret-4``) is a different endpoint file, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gridlock.chains.cosmos import address
from gridlock.chains.cosmos_proto import decode
from gridlock.enclave import cosmos_tx, gas
from gridlock.enclave.address import canonical
from gridlock.enclave.errors import ContractError, EnclaveError, NetworkError
from gridlock.errors import DecodeError, InvalidParameterError

__all__ = ["LcdClient", "SecretNetworkEndpoint", "UntrustedNetwork"]

_ENCRYPTED: Final = re.compile(r"encrypted: ([A-Za-z0-9+/=]+): (?:execute|query) contract failed")
_CODE_HASH: Final = re.compile(r"[0-9a-f]{64}")
MAX_GET_QUERY_CHARS: Final = 6000  # longer queries go in a POST body (proxies limit URLs near 8 KiB)
CODE_OUT_OF_GAS: Final = 11


class UntrustedNetwork(NetworkError):
    """The network's io public key is not the one pinned in the guardian's configuration."""


@dataclass(frozen=True)
class SecretNetworkEndpoint:
    """Where the enclave guardian's custody contract is, and what it pins about it.

    A TOML file (:meth:`load`)::

        url = "https://lcd.example:1317"      # the LCD / grpc-gateway
        chain_id = "secret-4"
        contract = "secret1…"                 # the custody contract's address
        code_hash = "…64 hex…"                # the custody contract's code hash (sha256 of its wasm)
        io_key = "…64 hex…"                   # GET /registration/v1beta1/tx-key, checked once by hand
        gas_price = 0.1                       # uscrt per gas (optional)

    The account key is not here: it derives from the guardian's secret
    (:func:`gridlock.enclave.guardian.account_key`)."""

    url: str
    chain_id: str
    contract: str
    code_hash: str
    io_key: bytes
    gas_price: float = gas.DEFAULT_GAS_PRICE
    fee_denom: str = "uscrt"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidParameterError("url: an http:// or https:// LCD address")
        if not isinstance(self.chain_id, str) or not 0 < len(self.chain_id) <= 64:
            raise InvalidParameterError("chain_id: 1 to 64 characters")
        try:
            canonical(self.contract)
        except EnclaveError:
            raise InvalidParameterError("contract: a secret1… contract address") from None
        if not isinstance(self.code_hash, str) or not _CODE_HASH.fullmatch(self.code_hash):
            raise InvalidParameterError("code_hash: 64 lower-case hex digits")
        if not isinstance(self.io_key, bytes) or len(self.io_key) != 32:
            raise InvalidParameterError("io_key: 32 bytes")
        if isinstance(self.gas_price, bool) or not isinstance(self.gas_price, int | float) or not self.gas_price >= 0:
            raise InvalidParameterError("gas_price: a non-negative number")
        if not 0 < self.timeout <= 600:
            raise InvalidParameterError("timeout: 0 to 600 seconds")

    @classmethod
    def load(cls, path: str | Path) -> SecretNetworkEndpoint:
        try:
            raw: dict[str, Any] = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidParameterError(f"cannot read the Secret Network endpoint {path}: {exc}") from None
        known = {"url", "chain_id", "contract", "code_hash", "io_key", "gas_price", "fee_denom", "timeout"}
        if set(raw) - known or not {"url", "chain_id", "contract", "code_hash", "io_key"} <= set(raw):
            raise InvalidParameterError(f"{path}: settings are {', '.join(sorted(known))} (the first five needed)")
        try:
            io_key = bytes.fromhex(str(raw.pop("io_key")))
        except ValueError:
            raise InvalidParameterError(f"{path}: io_key is 64 hex digits") from None
        return cls(io_key=io_key, **raw)


class LcdClient:
    """A :class:`~gridlock.enclave.keystore.SecretChain` over an LCD URL, signing as one account."""

    def __init__(self, endpoint: SecretNetworkEndpoint, account_key: bytes) -> None:
        self.endpoint = endpoint
        self._key = bytes(account_key)
        self.address = address(cosmos_tx.public_key_of(self._key))
        self._lock = threading.Lock()  # one transaction at a time: each spends the next sequence
        self._tx_size = 0
        local = urllib.parse.urlsplit(endpoint.url).hostname in ("127.0.0.1", "localhost", "::1")
        # the guardian's own emulated network is never reached through an HTTP proxy
        self._opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if local else []))
        self.last_gas: tuple[int, int, int] | None = None  # (gas used, gas wanted, tx bytes) of the last execute

    def __repr__(self) -> str:
        return f"LcdClient({self.endpoint.url!r}, address={self.address!r}, account_key=<redacted>)"

    @classmethod
    def connect(cls, endpoint: SecretNetworkEndpoint, account_key: bytes) -> LcdClient:
        """A client whose network serves the pinned io key (:class:`UntrustedNetwork` otherwise)."""
        client = cls(endpoint, account_key)
        served = base64.b64decode(client._get("/registration/v1beta1/tx-key").get("key", ""))
        if not hmac.compare_digest(served, endpoint.io_key):
            raise UntrustedNetwork(f"{endpoint.url} serves another io public key than the pinned one")
        return client

    # -- HTTP ----------------------------------------------------------------------------------------
    def _request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 (the scheme is checked to be http or https)
            self.endpoint.url.rstrip("/") + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with self._opener.open(req, timeout=self.endpoint.timeout) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise NetworkError(f"cannot reach the LCD at {self.endpoint.url}: {exc}") from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise NetworkError(f"the LCD answered HTTP {status} without JSON") from None
        if not isinstance(answer, dict):
            raise NetworkError(f"the LCD answered HTTP {status} with a malformed body")
        return status, answer

    def _get(self, path: str) -> dict[str, Any]:
        status, answer = self._request(path)
        if status != 200:
            raise NetworkError(f"GET {path.split('?', maxsplit=1)[0]}: HTTP {status}: {answer.get('message', '')}")
        return answer

    # -- SecretChain -----------------------------------------------------------------------------------
    @property
    def consensus_io_pubkey(self) -> bytes:
        return self.endpoint.io_key

    @property
    def custody_address(self) -> str:
        return self.endpoint.contract

    def code_hash(self, contract: str) -> str:
        answer = self._get(f"/compute/v1beta1/code_hash/by_contract_address/{urllib.parse.quote(contract)}")
        return str(answer.get("code_hash", "")).lower()

    def query(self, contract: str, encrypted_query: bytes) -> bytes:
        text = base64.b64encode(encrypted_query).decode()
        path = f"/compute/v1beta1/query/{urllib.parse.quote(contract)}"
        if len(text) <= MAX_GET_QUERY_CHARS:
            status, answer = self._request(f"{path}?query={urllib.parse.quote(text, safe='')}")
        else:
            status, answer = self._request(path, {"query": text})
        if status != 200:
            raise self._error("query", str(answer.get("message", "")), encrypted_query[:32], 4)
        return _b64(answer.get("data"))

    def execute(self, sender: str, contract: str, encrypted_msg: bytes) -> bytes:
        """Sign and broadcast one ``MsgExecuteContract``; the encrypted output.  A failed message
        raises :class:`ContractError` (its encrypted error, for the caller to decrypt)."""
        if sender != self.address:
            raise NetworkError(f"this client signs as {self.address} only, not as {sender}")
        msg = bytes(encrypted_msg)
        with self._lock:
            limit = None
            for _ in range(3):  # out of gas: again with a larger limit (the message is reverted whole)
                tx_response, limit = self._broadcast(contract, msg, limit)
                if tx_response["code"] != CODE_OUT_OF_GAS:
                    break
                limit *= 4
        self.last_gas = (int(tx_response.get("gas_used", 0)), int(tx_response.get("gas_wanted", 0)), self._tx_size)
        code = int(tx_response["code"])
        if code != 0:
            raise self._error("execute", str(tx_response.get("raw_log", "")), msg[:32], code)
        return _execute_output(str(tx_response.get("data", "")))

    def _broadcast(self, contract: str, msg: bytes, limit: int | None) -> tuple[dict[str, Any], int]:
        account = self._get(f"/cosmos/auth/v1beta1/accounts/{self.address}").get("account") or {}
        try:
            number, sequence = int(account["account_number"]), int(account["sequence"])
        except (KeyError, TypeError, ValueError):
            raise NetworkError(f"the LCD returned no usable account for {self.address}") from None
        ep = self.endpoint
        if limit is None:
            limit = gas.estimate_execute_gas(len(msg) + 400, len(msg))
        tx = cosmos_tx.make_execute_tx(
            self._key,
            contract=contract,
            msg=msg,
            chain_id=ep.chain_id,
            account_number=number,
            sequence=sequence,
            gas_limit=limit,
            fee_amount=int(limit * ep.gas_price + 0.999999),
            fee_denom=ep.fee_denom,
        )
        self._tx_size = len(tx)
        status, answer = self._request(
            "/cosmos/tx/v1beta1/txs", {"tx_bytes": base64.b64encode(tx).decode(), "mode": "BROADCAST_MODE_SYNC"}
        )
        checked = answer.get("tx_response")
        if status != 200 or not isinstance(checked, dict):
            raise NetworkError(f"the LCD refused the transaction: HTTP {status}: {answer.get('message', '')}")
        if checked.get("code", 0) != 0:  # CheckTx: a bad signature, sequence or account
            raise NetworkError(f"the network refused the transaction: {checked.get('raw_log', '')}")
        return self._wait(cosmos_tx.tx_hash(tx)), limit

    def _wait(self, txhash: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.endpoint.timeout
        delay = 0.01
        while True:
            status, answer = self._request(f"/cosmos/tx/v1beta1/txs/{txhash}")
            if status == 200 and isinstance(answer.get("tx_response"), dict):
                response: dict[str, Any] = answer["tx_response"]
                return response
            if status != 404:
                raise NetworkError(f"looking up transaction {txhash}: HTTP {status}: {answer.get('message', '')}")
            if time.monotonic() > deadline:
                raise NetworkError(f"transaction {txhash} was broadcast but is in no block yet")
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    @staticmethod
    def _error(operation: str, log: str, nonce: bytes, code: int) -> ContractError:
        m = _ENCRYPTED.search(log)
        if m is None:
            return ContractError(operation=operation, plaintext=log or "error", code=code)
        try:
            encrypted = base64.b64decode(m.group(1), validate=True)
        except (binascii.Error, ValueError):
            return ContractError(operation=operation, plaintext=log, code=code)
        return ContractError(operation=operation, encrypted=encrypted, nonce=nonce, code=code)


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise NetworkError("the LCD answered without data")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NetworkError("the LCD answered with malformed base64") from None


def _execute_output(data_hex: str) -> bytes:
    """The encrypted output in a committed transaction's ``data``: ``TxMsgData.msg_responses[0]``,
    a ``MsgExecuteContractResponse``."""
    try:
        msg_data = decode("TxMsgData", bytes.fromhex(data_hex))
        responses: Sequence[dict[str, Any]] = msg_data["msg_responses"]
        if len(responses) != 1 or responses[0]["type_url"] != cosmos_tx.EXECUTE_RESPONSE_TYPE:
            raise DecodeError("one MsgExecuteContractResponse expected")
        data: bytes = decode("MsgExecuteContractResponse", responses[0]["value"])["data"]
    except (DecodeError, ValueError) as exc:
        raise NetworkError(f"the transaction's data does not decode: {exc}") from None
    return data
