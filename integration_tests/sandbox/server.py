"""HTTP transport: a threading HTTP/1.1 server with keep-alive, faults, stats and the control API.

``/v2/*`` and ``/api/v2/*`` go to ``HarvestApi`` after a fault draw and are counted in the stats;
``/_sandbox/*`` is the control API (no auth, never counted, faulted or throttled). Accepted sockets
get ``TCP_NODELAY``: ``http.server`` writes headers and body separately, and without it each
response waits for the peer's delayed ACK (~40 ms).
"""

from __future__ import annotations

import json
import socket
import sys
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .api import API_PREFIX, HTML_TYPE, IDENTITY_PREFIX, JSON_TYPE, HarvestApi, Request, Response, json_response
from .limits import FaultInjector
from .mutations import MutationError, Mutator, records
from .stats import Stats
from .store import Store

CONTROL_PREFIX = "/_sandbox/"
KEEP_ALIVE_IDLE_SECONDS = 120
DROPPED_STATUS = "dropped"  # by_status key of faults that close the connection without a response
FAULT_STATUS_TEXT = {"500": "Internal Server Error", "502": "Bad Gateway", "503": "Service Unavailable"}
MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>Harvest is down for maintenance</title></head>"
    "<body><h1>We'll be right back</h1><p>Harvest is undergoing scheduled maintenance.</p></body></html>"
)


def error_page(status: str) -> bytes:
    text = FAULT_STATUS_TEXT[status]
    return (
        f"<!DOCTYPE html><html><head><title>{status} {text}</title></head><body><h1>{status} {text}</h1></body></html>".encode()
    )


class SandboxApp:
    """Everything the handler needs: the API, the writer, stats, faults, and the info document."""

    def __init__(
        self,
        store: Store,
        api: HarvestApi,
        mutator: Mutator,
        faults: FaultInjector,
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self.store = store
        self.api = api
        self.mutator = mutator
        self.faults = faults
        self.stats = Stats()
        self.info = info

    def control(self, method: str, path: str, body: bytes) -> Response:
        route = [segment for segment in path[len(CONTROL_PREFIX) :].split("/") if segment]
        try:
            payload = json.loads(body or b"{}") if method in ("POST", "PATCH") else {}
        except ValueError:
            return json_response(400, {"message": "body must be JSON"})
        if not isinstance(payload, dict):
            return json_response(400, {"message": "body must be a JSON object"})
        try:
            if route == ["info"] and method == "GET":
                return json_response(200, self.info())
            if route == ["stats"] and method == "GET":
                return json_response(200, self.stats.snapshot())
            if route == ["stats", "reset"] and method == "POST":
                self.stats.reset()
                return json_response(200, self.stats.snapshot())
            if route == ["faults"] and method == "POST":
                self.faults.configure(float(payload.get("rate", 0.0)), payload.get("kinds"))
                return json_response(200, {"rate": self.faults.rate, "kinds": list(self.faults.kinds)})
            if len(route) == 2 and route[0] == "records":
                if method == "GET":
                    return json_response(200, records(self.store, route[1]))
                if method == "POST":
                    return json_response(201, self.mutator.create(route[1], payload))
            if len(route) == 3 and route[0] == "records" and route[2].isdigit():
                if method == "PATCH":
                    return json_response(200, self.mutator.update(route[1], int(route[2]), payload))
                if method == "DELETE":
                    self.mutator.delete(route[1], int(route[2]))
                    return Response(204, b"")
        except MutationError as error:
            return json_response(error.status, {"message": error.message})
        except (ValueError, TypeError) as error:
            return json_response(422, {"message": str(error)})
        return json_response(404, {"status": 404, "error": "Not Found"})


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, SandboxHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HarvestSandbox/1.0"
    timeout = KEEP_ALIVE_IDLE_SECONDS
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Quiet: the sandbox serves thousands of requests per test run."""

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def dispatch(self) -> None:
        app = self.server.app
        body = self.read_body()
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith(CONTROL_PREFIX):
            self.send(app.control(self.command, path, body))
            return
        params = parse_qsl(parts.query, keep_blank_values=True)
        per_page_text = next((value for key, value in reversed(params) if key == "per_page"), "")
        per_page = int(per_page_text) if per_page_text.isdigit() else None
        counted = path.startswith(API_PREFIX) or path.startswith(IDENTITY_PREFIX)
        fault = app.faults.draw() if counted else None
        request = Request(
            method=self.command,
            path=path,
            params=params,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            host=self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}",
        )
        if fault is None:
            try:
                response = app.api.handle(request)
            except Exception:  # a sandbox bug must not look like a dropped connection
                traceback.print_exc(file=sys.stderr)
                response = json_response(500, {"message": "Sandbox internal error (a bug in the sandbox, not a fault)."})
            if counted:
                app.stats.record(self.command, path, str(response.status), per_page=per_page)
            self.send(response)
            return
        self.send_fault(fault, request, per_page)

    def send_fault(self, fault: str, request: Request, per_page: int | None) -> None:
        app = self.server.app
        if fault == "drop":
            app.stats.record(self.command, request.path, DROPPED_STATUS, fault=True, per_page=per_page)
            self.close_connection = True
            return
        if fault in FAULT_STATUS_TEXT:
            app.stats.record(self.command, request.path, fault, fault=True, per_page=per_page)
            self.send(Response(int(fault), error_page(fault), HTML_TYPE))
            return
        app.stats.record(self.command, request.path, "200", fault=True, per_page=per_page)
        if fault == "html200":
            self.send(Response(200, MAINTENANCE_PAGE.encode(), HTML_TYPE))
            return
        # truncate: the real response's headers and Content-Length, half its body, then close.
        real = app.api.handle(request, rate_limited=False)
        self.send_response(200)
        self.send_header("Content-Type", real.content_type)
        self.send_header("Content-Length", str(len(real.body)))
        self.end_headers()
        self.wfile.write(real.body[: len(real.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.status != 204 or response.body:
            self.send_header("Content-Type", response.content_type or JSON_TYPE)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)


__all__ = ["SandboxApp", "SandboxHTTPServer"]
