"""An LCD-compatible HTTP endpoint (the grpc-gateway REST paths) that secret-sdk and secretjs use.

Serves, on ``127.0.0.1`` (a free port by default) from a background thread, exactly the paths,
field names and encodings of Secret Network's gRPC gateway that ``secret-sdk``'s ``LCDClient``
and ``secretjs``'s ``SecretNetworkClient`` call, so both work unpatched — queries, and executes
signed and broadcast by the client (``tx.compute.executeContract``):

====================================================================  ==========================================
``GET /registration/v1beta1/tx-key``                                  ``{"key": base64(io public key)}``
``GET /registration/v1beta1/registration-key``                        ``{"key": base64(seed exchange key)}``
``GET /registration/v1beta1/encrypted-seed/{pub_key}``                ``{"encrypted_seed": base64}`` (hex or base64 key)
``GET /compute/v1beta1/code_hash/by_contract_address/{address}``      ``{"code_hash": hex}``
``GET /compute/v1beta1/code_hash/by_code_id/{code_id}``               ``{"code_hash": hex}``
``GET /compute/v1beta1/query/{address}?query=base64(msg)``            ``{"data": base64(encrypted result)}``
``POST /compute/v1beta1/query/{address}`` ``{"query": base64}``       the same, for queries too long for a URL
``POST /cosmos/tx/v1beta1/txs`` ``{"tx_bytes"|"txBytes", "mode"}``    ``{"tx_response"}``: CheckTx's verdict (SYNC,
                                                                      ASYNC) or the committed result (BLOCK)
``GET /cosmos/tx/v1beta1/txs/{hash}``                                 ``{"tx", "tx_response"}`` (lcd_tx.py)
``GET /cosmos/auth/v1beta1/accounts/{address}``                       ``{"account": BaseAccount}``
``GET /compute/v1beta1/info/{address}``, ``/contracts/{code_id}``,
``/codes``, ``/code/{code_id}``, ``/label/{address}``,
``/contract_address/{label}``, ``/cosmos/base/tendermint/v1beta1/node_info``, ``.../blocks/latest``
====================================================================  ==========================================

A failed contract query answers HTTP 500 with the gateway's error body
``{"code": 2, "message": "encrypted: <base64>: query contract failed", "details": []}``, which
``secret-sdk`` matches with ``encrypted: (.+?):`` and decrypts with the query's nonce; an enclave
error (decryption, code hash) is plaintext there.  Integers are JSON strings where the gateway
renders ``uint64``/``int64`` as strings.  A request line may be up to ``MAX_QUERY_CHARS`` long (the
standard library's server stops at 64 KiB).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from gridlock.enclave.cosmos_tx import decode_execute_tx
from gridlock.enclave.errors import ContractError, ContractNotFound, EnclaveError
from gridlock.enclave.lcd_tx import account_json, tx_json, tx_response_json
from gridlock.enclave.network import LocalSecretNetwork
from gridlock.errors import GridlockError

__all__ = ["LcdServer"]

log = logging.getLogger("gridlock.enclave.lcd")

# grpc status code -> HTTP status, as grpc-gateway maps them
_GRPC_UNKNOWN: Final = 2
_GRPC_INVALID_ARGUMENT: Final = 3
_GRPC_NOT_FOUND: Final = 5
_GRPC_UNIMPLEMENTED: Final = 12
_HTTP: Final = {
    _GRPC_UNKNOWN: HTTPStatus.INTERNAL_SERVER_ERROR,
    _GRPC_INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    _GRPC_NOT_FOUND: HTTPStatus.NOT_FOUND,
    _GRPC_UNIMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
}
MAX_QUERY_CHARS: Final = 8 << 20
MAX_BODY_BYTES: Final = 16 << 20
MAX_CONNECTIONS: Final = 32
"""Connections served at once; one more is closed at once (each may hold a request of up to
``MAX_QUERY_CHARS`` + ``MAX_BODY_BYTES`` in memory)."""
READ_TIMEOUT: Final = 15.0
"""Seconds a connection may stay silent in the middle of a request (a half-sent request is dropped)."""
_BROADCAST_MODES: Final = {"BROADCAST_MODE_SYNC", "BROADCAST_MODE_ASYNC", "BROADCAST_MODE_BLOCK", "1", "2", "3"}


class _GatewayError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        # secret-sdk parses the body with json.loads(str(body).replace("'", '"')): no quotes inside
        self.message = message.replace("'", "").replace('"', "")
        super().__init__(self.message)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode_b64(text: str, what: str) -> bytes:
    """Standard or URL-safe base64, padded or not (grpc-gateway accepts both); a ``+`` that a form
    decoder turned into a space is put back."""
    t = text.strip().replace(" ", "+")
    t += "=" * (-len(t) % 4)
    try:
        if "-" in t or "_" in t:
            return base64.urlsafe_b64decode(t)
        return base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        raise _GatewayError(_GRPC_INVALID_ARGUMENT, f"{what}: illegal base64 data") from None


def _uint(text: str, what: str) -> int:
    if not text.isdigit():
        raise _GatewayError(_GRPC_INVALID_ARGUMENT, f"{what}: not an unsigned integer")
    return int(text)


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most :data:`MAX_CONNECTIONS` at once: held-open or half-sent
    requests cannot take every thread and the memory of the host."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class LcdServer:
    """The HTTP server; :meth:`start` runs it in a daemon thread, :meth:`stop` shuts it down."""

    def __init__(self, net: LocalSecretNetwork, host: str = "127.0.0.1", port: int = 0) -> None:
        self.net = net
        self._routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(r"/registration/v1beta1/tx-key"), self._tx_key),
            (re.compile(r"/registration/v1beta1/registration-key"), self._registration_key),
            (re.compile(r"/registration/v1beta1/encrypted-seed/([^/]+)"), self._encrypted_seed),
            (re.compile(r"/compute/v1beta1/code_hash/by_contract_address/([^/]+)"), self._code_hash_by_address),
            (re.compile(r"/compute/v1beta1/code_hash/by_code_id/([^/]+)"), self._code_hash_by_id),
            (re.compile(r"/compute/v1beta1/query/([^/]+)"), self._query),
            (re.compile(r"/compute/v1beta1/info/([^/]+)"), self._contract_info),
            (re.compile(r"/compute/v1beta1/contracts/([^/]+)"), self._contracts_by_code),
            (re.compile(r"/compute/v1beta1/codes"), self._codes),
            (re.compile(r"/compute/v1beta1/code/([^/]+)"), self._code),
            (re.compile(r"/compute/v1beta1/label/([^/]+)"), self._label),
            (re.compile(r"/compute/v1beta1/contract_address/([^/]+)"), self._address_by_label),
            (re.compile(r"/cosmos/base/tendermint/v1beta1/node_info"), self._node_info),
            (re.compile(r"/cosmos/base/tendermint/v1beta1/blocks/latest"), self._latest_block),
            (re.compile(r"/cosmos/auth/v1beta1/accounts/([^/]+)"), self._account),
            (re.compile(r"/cosmos/tx/v1beta1/txs/([0-9A-Fa-f]{64})"), self._get_tx),
        ]
        self._post_routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(r"/cosmos/tx/v1beta1/txs"), self._broadcast),
            (re.compile(r"/compute/v1beta1/query/([^/]+)"), self._post_query),
        ]
        handler = self._handler_class()
        self._server = _BoundedServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="gridlock-lcd", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    # -- dispatch ----------------------------------------------------------------------------------------
    def handle(self, path: str, params: dict[str, Any], method: str = "GET") -> tuple[int, dict[str, Any]]:
        """Answer one request: ``params`` are the query string's (GET) or the JSON body (POST)."""
        for pattern, fn in self._post_routes if method == "POST" else self._routes:
            m = pattern.fullmatch(path.rstrip("/") or "/")
            if m is not None:
                try:
                    with self.net._lock:
                        return HTTPStatus.OK, fn(params, *(unquote(g) for g in m.groups()))
                except _GatewayError as exc:
                    return _HTTP.get(exc.code, HTTPStatus.INTERNAL_SERVER_ERROR), {
                        "code": exc.code,
                        "message": exc.message,
                        "details": [],
                    }
        return HTTPStatus.NOT_IMPLEMENTED, {"code": _GRPC_UNIMPLEMENTED, "message": "Not Implemented", "details": []}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = READ_TIMEOUT

            def handle_one_request(self) -> None:
                """As the standard library's, but a request line may be as long as a large query
                (``MAX_QUERY_CHARS``; the standard library answers 414 above 64 KiB)."""
                try:
                    self.raw_requestline = self.rfile.readline(MAX_QUERY_CHARS + 1024)
                    if len(self.raw_requestline) > MAX_QUERY_CHARS + 1023:
                        self.requestline, self.request_version, self.command = "", "", ""
                        self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                        return
                    if not self.raw_requestline:
                        self.close_connection = True
                        return
                    if not self.parse_request():
                        return
                    method = getattr(self, "do_" + self.command, None)
                    if method is None:
                        self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
                        return
                    method()
                    self.wfile.flush()
                except TimeoutError as exc:
                    self.log_error("Request timed out: %r", exc)
                    self.close_connection = True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if len(parts.query) > MAX_QUERY_CHARS:
                    self._answer(HTTPStatus.REQUEST_URI_TOO_LONG, {"code": 8, "message": "too long", "details": []})
                    return
                self._serve(parts.path, parse_qs(parts.query, keep_blank_values=True), "GET")

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length", "")
                if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._answer(
                        HTTPStatus.BAD_REQUEST, {"code": 3, "message": "a JSON body of known length", "details": []}
                    )
                    return
                try:
                    params = json.loads(self.rfile.read(int(length)) or b"{}")
                except ValueError:
                    params = None
                if not isinstance(params, dict):
                    self._answer(
                        HTTPStatus.BAD_REQUEST, {"code": 3, "message": "the body is not a JSON object", "details": []}
                    )
                    return
                self._serve(urlsplit(self.path).path, params, "POST")

            def _serve(self, path: str, params: dict[str, Any], method: str) -> None:
                status: int
                body: dict[str, Any]
                try:
                    status, body = server.handle(path, params, method)
                except Exception:  # never let one request take the server down
                    log.exception("LCD request failed")
                    status, body = (
                        HTTPStatus.INTERNAL_SERVER_ERROR,
                        {
                            "code": _GRPC_UNKNOWN,
                            "message": "internal error",
                            "details": [],
                        },
                    )
                self._answer(status, body)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if self.close_connection:  # the client asked to close: say so, or it may reuse the socket
                    self.send_header("Connection", "close")
                with contextlib.suppress(GridlockError, OSError):
                    self.send_header("Grpc-Metadata-X-Cosmos-Block-Height", str(server.net.height))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("lcd: " + format, *args)

        return Handler

    # -- routes --------------------------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return fn()
        except ContractNotFound as exc:
            raise _GatewayError(_GRPC_NOT_FOUND, str(exc)) from None
        except ContractError as exc:
            raise _GatewayError(_GRPC_UNKNOWN, exc.raw_log) from None
        except (EnclaveError, GridlockError) as exc:
            raise _GatewayError(_GRPC_INVALID_ARGUMENT, str(exc)) from None

    def _tx_key(self, params: dict[str, list[str]]) -> dict[str, Any]:
        return self._guard(lambda: {"key": _b64(self.net.consensus_io_pubkey)})

    def _registration_key(self, params: dict[str, list[str]]) -> dict[str, Any]:
        return self._guard(lambda: {"key": _b64(self.net.registration_pubkey)})

    def _encrypted_seed(self, params: dict[str, list[str]], pub_key: str) -> dict[str, Any]:
        raw = bytes.fromhex(pub_key) if re.fullmatch(r"[0-9a-fA-F]{64}", pub_key) else _decode_b64(pub_key, "pub_key")
        seed = self._guard(lambda: {"s": self.net.encrypted_seed(raw)})["s"]
        if seed is None:
            raise _GatewayError(_GRPC_NOT_FOUND, "no encrypted seed for this registration key")
        return {"encrypted_seed": _b64(seed)}

    def _code_hash_by_address(self, params: dict[str, list[str]], address: str) -> dict[str, Any]:
        return self._guard(lambda: {"code_hash": self.net.code_hash(address)})

    def _code_hash_by_id(self, params: dict[str, list[str]], code_id: str) -> dict[str, Any]:
        cid = _uint(code_id, "code_id")
        for c in self._guard(lambda: {"c": self.net._any_node().codes()})["c"]:
            if c["code_id"] == cid:
                return {"code_hash": c["code_hash"]}
        raise _GatewayError(_GRPC_NOT_FOUND, f"code id {cid}: not found")

    def _query(self, params: dict[str, list[str]], address: str) -> dict[str, Any]:
        values = params.get("query")
        if not values or not values[0]:
            raise _GatewayError(_GRPC_INVALID_ARGUMENT, "query: missing")
        msg = _decode_b64(values[0], "query")
        return self._guard(lambda: {"data": _b64(self.net.query(address, msg))})

    def _info(self, address: str) -> dict[str, Any]:
        info = self.net.contract_info(address)
        return {
            "code_id": str(info["code_id"]),
            "creator": info["creator"],
            "label": info["label"],
            "created": {"block_height": str(info["height"]), "tx_index": "0"},
            "ibc_port_id": "",
            "admin": "",
            "admin_proof": None,
            "require_governance": False,
        }

    def _contract_info(self, params: dict[str, list[str]], address: str) -> dict[str, Any]:
        return self._guard(lambda: {"contract_address": address, "contract_info": self._info(address)})

    def _contracts_by_code(self, params: dict[str, list[str]], code_id: str) -> dict[str, Any]:
        cid = _uint(code_id, "code_id")
        return self._guard(
            lambda: {
                "contract_infos": [
                    {"contract_address": a, "contract_info": self._info(a)}
                    for a in self.net._any_node().contracts_by_code(cid)
                ]
            }
        )

    @staticmethod
    def _code_info(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "code_id": str(c["code_id"]),
            "creator": c["creator"],
            "code_hash": c["code_hash"],
            "source": "",
            "builder": "",
        }

    def _codes(self, params: dict[str, list[str]]) -> dict[str, Any]:
        return self._guard(lambda: {"code_infos": [self._code_info(c) for c in self.net._any_node().codes()]})

    def _code(self, params: dict[str, list[str]], code_id: str) -> dict[str, Any]:
        cid = _uint(code_id, "code_id")
        node = self._guard(lambda: {"n": self.net._any_node()})["n"]
        for c in node.codes():
            if c["code_id"] == cid:
                row = node.db.execute("SELECT code FROM codes WHERE code_id = ?", (cid,)).fetchone()
                return {"code_info": self._code_info(c), "wasm": _b64(bytes(row[0]))}
        raise _GatewayError(_GRPC_NOT_FOUND, f"code id {cid}: not found")

    def _label(self, params: dict[str, list[str]], address: str) -> dict[str, Any]:
        return self._guard(lambda: {"label": self.net.contract_info(address)["label"]})

    def _address_by_label(self, params: dict[str, list[str]], label: str) -> dict[str, Any]:
        node = self._guard(lambda: {"n": self.net._any_node()})["n"]
        row = node.db.execute("SELECT address FROM contracts WHERE label = ?", (label,)).fetchone()
        if row is None:
            raise _GatewayError(_GRPC_NOT_FOUND, f"label {label}: not found")
        return {"contract_address": row[0]}

    def _node_info(self, params: dict[str, list[str]]) -> dict[str, Any]:
        return {
            "default_node_info": {"network": self.net.chain_id, "moniker": "gridlock-local-secret", "version": ""},
            "application_version": {"name": "secret", "app_name": "secretd", "version": "gridlock-emulated"},
        }

    def _latest_block(self, params: dict[str, list[str]]) -> dict[str, Any]:
        node = self._guard(lambda: {"n": self.net._any_node()})["n"]
        t = datetime.datetime.fromtimestamp(node.last_time() / 1e9, tz=datetime.UTC)
        header = {
            "chain_id": self.net.chain_id,
            "height": str(node.height),
            "time": t.isoformat().replace("+00:00", "Z"),
        }
        return {"block": {"header": header}, "sdk_block": {"header": header}}

    # -- accounts and transactions ---------------------------------------------------------------------------
    def _account(self, params: dict[str, Any], address: str) -> dict[str, Any]:
        found = self._guard(lambda: {"a": self.net.account(address)})["a"]
        if found is None:
            raise _GatewayError(_GRPC_NOT_FOUND, f"account {address} not found")
        return account_json(address, *found)

    def _broadcast(self, params: dict[str, Any]) -> dict[str, Any]:
        """``BroadcastTx``: ``{"tx_bytes" (or secretjs's "txBytes"): base64, "mode"}``.  SYNC and ASYNC
        answer CheckTx's verdict (the block follows at once here); BLOCK answers the committed result."""
        text = params.get("tx_bytes", params.get("txBytes"))
        mode = str(params.get("mode", "BROADCAST_MODE_SYNC"))
        if not isinstance(text, str) or not text:
            raise _GatewayError(_GRPC_INVALID_ARGUMENT, "invalid empty tx")
        if mode not in _BROADCAST_MODES:
            raise _GatewayError(_GRPC_INVALID_ARGUMENT, f"unknown broadcast mode {mode}")
        tx_bytes = _decode_b64(text, "tx_bytes")
        result = self._guard(lambda: {"r": self.net.broadcast_tx(tx_bytes)})["r"]
        if result.height == 0 or mode not in ("BROADCAST_MODE_BLOCK", "3"):  # CheckTx's answer
            checked = result if result.height == 0 else dataclasses.replace(result, code=0, codespace="", raw_log="")
            return {"tx_response": tx_response_json(checked, None, None)}
        found = self.net.lookup_tx(result.txhash)
        assert found is not None
        return {"tx_response": tx_response_json(found[0], decode_execute_tx(found[1]), found[2])}

    def _get_tx(self, params: dict[str, Any], txhash: str) -> dict[str, Any]:
        found = self._guard(lambda: {"t": self.net.lookup_tx(txhash)})["t"]
        if found is None:
            raise _GatewayError(_GRPC_NOT_FOUND, f"tx not found: {txhash}")
        result, tx_bytes, time_ns = found
        tx = decode_execute_tx(tx_bytes)
        return {"tx": tx_json(tx), "tx_response": tx_response_json(result, tx, time_ns)}

    def _post_query(self, params: dict[str, Any], address: str) -> dict[str, Any]:
        """A query in a POST body (``{"query": base64}``), for messages longer than a URL may be."""
        query = params.get("query")
        if not isinstance(query, str):
            raise _GatewayError(_GRPC_INVALID_ARGUMENT, "query: missing")
        return self._query({"query": [query]}, address)
