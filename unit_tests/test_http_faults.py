"""The connector against a misbehaving Harvest, through the real `read` (and `check`).

A small server on raw sockets answers the way no HTTP server library would: twice, with bytes after
the body, with absurd lengths, compressed in odd ways, cut off by a reset, over TLS from a throwaway
CA. Each test proves what reaches the records (each payment attached to its own invoice), that a
broken answer becomes a retried transient error that the API budget counted like every request that
reached the server, and that bad trust-store settings or header values fail at once, clearly.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
import trustme
from airbyte_cdk.models import Status
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from source_harvest import SourceHarvest
from source_harvest.budget import HarvestBudget
from source_harvest.network import CA_BUNDLE_VARIABLES
from unit_tests.conftest import API, harvest_page, record, records_of, run_read

INVOICE_IDS = (1, 2, 3, 4, 5)
EXPECTED_PAYMENTS = [(10 * n, n) for n in INVOICE_IDS]  # (payment id, invoice_id): payment 10n belongs to invoice n
SERVER_LIFETIME_SECONDS = 60  # the server stops accepting by itself after this, whatever the test does
SOCKET_TIMEOUT_SECONDS = 5
LEAKY_ACCESS_TOKEN = "leaky-access-token-31337"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

KEEP, CLOSE, RESET = "keep", "close", "reset"


@dataclass(frozen=True)
class Reply:
    data: bytes
    then: str = KEEP  # keep the connection open, CLOSE it (FIN), or RESET it (RST, as a crashed peer does)


@dataclass(frozen=True)
class Received:
    connection: int  # accepted connection number
    order: int  # the request's rank on its connection: 1 on a new connection, 2+ on a reused one
    method: str
    path: str  # without the query string
    head: bytes  # request line and header lines, as received


Fault = Callable[[bytes], Reply]  # the proper answer's body -> what is sent instead
Encoding = Callable[[bytes], tuple[bytes, str]]  # body -> (encoded body, Content-Encoding)


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(body: bytes, **headers: str) -> bytes:
    return head(Content_Length=str(len(body)), **headers) + body


def proper_body(method: str, path: str, token_answer: dict[str, Any]) -> bytes:
    """What Harvest answers: five invoices, payment 10n on invoice n, /users/me, the OAuth token."""
    if method == "POST" and path == "/api/v2/oauth2/token":
        return json.dumps(token_answer).encode()
    if path == "/v2/users/me":
        return json.dumps({"id": 1, "access_roles": ["administrator"]}).encode()
    if path == "/v2/invoices":
        return json.dumps(harvest_page("invoices", [record(n) for n in INVOICE_IDS])).encode()
    payments = re.fullmatch(r"/v2/invoices/(\d+)/payments", path)
    if payments:
        invoice = int(payments.group(1))
        return json.dumps(harvest_page("invoice_payments", [record(10 * invoice, amount=float(invoice))])).encode()
    return json.dumps(harvest_page(path.rstrip("/").rsplit("/", 1)[-1], [])).encode()


class RawHarvest:
    """A Harvest API on 127.0.0.1 over raw sockets. A path's first attempts get the replies listed in
    `faults`, later ones the proper answer (encoded by `encoding`, if given). Bounded: it stops
    accepting after SERVER_LIFETIME_SECONDS, and every socket times out after SOCKET_TIMEOUT_SECONDS."""

    def __init__(self, faults: dict[str, list[Fault]] | None = None, encoding: Encoding | None = None,
                 tls: ssl.SSLContext | None = None, token_answer: dict[str, Any] | None = None) -> None:
        self.faults = {path: list(replies) for path, replies in (faults or {}).items()}
        self.encoding = encoding
        self.tls = tls
        self.token_answer = token_answer or {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def api_requests(self) -> list[str]:
        return [r.path for r in self.received if r.path.startswith("/v2/")]

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        deadline = time.monotonic() + SERVER_LIFETIME_SECONDS
        connections = 0
        with self._listener:
            while not self._stopped.is_set() and time.monotonic() < deadline:
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                connections += 1
                conn.settimeout(SOCKET_TIMEOUT_SECONDS)
                with self._lock:
                    self._sockets.append(conn)
                threading.Thread(target=self._converse, args=(conn, connections), daemon=True).start()

    def _converse(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buffer, order = b"", 0
            while not self._stopped.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                order += 1
                reply = self._reply(number, order, request)
                conn.sendall(reply.data)
                if reply.then == RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if reply.then == CLOSE:
                    return
        except OSError:  # ssl.SSLError included: a client that refused our certificate
            return
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buffer += chunk
        request_head, buffer = buffer.split(b"\r\n\r\n", 1)
        length = re.search(rb"(?im)^content-length:\s*(\d+)", request_head)
        while length and len(buffer) < int(length.group(1)):
            buffer += conn.recv(65536)
        body_length = int(length.group(1)) if length else 0
        return request_head, buffer[body_length:]

    def _reply(self, number: int, order: int, request_head: bytes) -> Reply:
        method, target = request_head.split(b" ", 2)[:2]
        path = target.decode().split("?", 1)[0]
        with self._lock:
            self.received.append(Received(number, order, method.decode(), path, request_head))
            fault = self.faults[path].pop(0) if self.faults.get(path) else None
        body = proper_body(method.decode(), path, self.token_answer)
        if fault is not None:
            return fault(body)
        if self.encoding is not None:
            encoded, content_encoding = self.encoding(body)
            return Reply(answer(encoded, Content_Encoding=content_encoding))
        return Reply(answer(body))


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 go straight to the test server, whatever proxy this machine sets."""
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every request the API budget granted (one grant per attempt sent)."""
    granted: list[str] = []
    acquire_call = HarvestBudget.acquire_call

    def counting(self: HarvestBudget, request: Any, block: bool = True, timeout: float | None = None) -> None:
        acquire_call(self, request, block, timeout)
        granted.append(request.path_url.split("?", 1)[0])

    monkeypatch.setattr(HarvestBudget, "acquire_call", counting)
    return granted


@pytest.fixture
def harvest() -> Iterator[Callable[..., RawHarvest]]:
    servers: list[RawHarvest] = []

    def start(**kwargs: Any) -> RawHarvest:
        servers.append(RawHarvest(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def read_invoices_and_payments(config: dict[str, Any], server: RawHarvest) -> EntrypointOutput:
    config["api_url"] = server.url + "/v2/"
    return run_read(config, ["invoices", "invoice_payments"])


def payments(output: EntrypointOutput) -> list[tuple[int, int]]:
    return [(row["id"], row["invoice_id"]) for row in records_of(output, "invoice_payments")]


def assert_every_record_exact(output: EntrypointOutput) -> None:
    assert not output.errors, [e.trace.error.message for e in output.errors]
    assert [row["id"] for row in records_of(output, "invoices")] == list(INVOICE_IDS)
    assert payments(output) == EXPECTED_PAYMENTS


def retries_logged(output: EntrypointOutput) -> list[str]:
    return [m.log.message for m in output.logs if m.log.message.startswith("retrying:")]


def everything_said(output: EntrypointOutput, *more: str) -> str:
    return "\n".join([*(str(message) for message in output.get_message_iterator()), output.stderr or "", *more])


def assert_budget_counted_every_request(server: RawHarvest, granted: list[str]) -> None:
    assert Counter(granted) == Counter(server.api_requests())


def test_every_stream_shares_one_adapter_that_never_sends_again_by_itself(config) -> None:
    streams = SourceHarvest().streams(config)
    adapter = streams[0].context.adapter  # type: ignore[attr-defined]
    sessions = [stream._http_client._session for stream in streams]  # type: ignore[attr-defined]
    assert all(session.get_adapter(url) is adapter for session in sessions for url in (API, "http://127.0.0.1/v2/"))
    assert adapter.max_retries.total == 0  # every attempt goes through the CDK's HttpClient and the budget
    assert not any(session.trust_env for session in sessions)  # settings come from network.request_settings, once


# --- (a) bytes after an answer ---------------------------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param(lambda body: Reply(answer(body) * 2), id="answer sent twice"),
    pytest.param(lambda body: Reply(answer(body) + b"\r\n"), id="stray CRLF after the body"),
    pytest.param(lambda body: Reply(answer(body) + b'{"invoice_payments": [{"id": 666}]}'), id="extra body after Content-Length"),
])
def test_bytes_after_an_answer_are_never_read_as_the_next_answer(config, harvest, grants, fault: Fault) -> None:
    server = harvest(faults={"/v2/invoices/2/payments": [fault]})
    output = read_invoices_and_payments(config, server)
    assert_every_record_exact(output)  # payment 30 is invoice 3's, not invoice 2's answer read again
    assert Counter(server.api_requests()) == Counter(["/v2/invoices"] + [f"/v2/invoices/{n}/payments" for n in INVOICE_IDS])
    assert_budget_counted_every_request(server, grants)


# --- (b) absurd and malformed lengths --------------------------------------------------------------
def cut(body: bytes) -> bytes:
    return body[: len(body) // 2]


@pytest.mark.parametrize("fault", [
    pytest.param(lambda body: Reply(head(Content_Length="10000000000000") + cut(body), CLOSE), id="Content-Length 10**13"),
    pytest.param(lambda body: Reply(head(Content_Length=str(2**63)) + cut(body), CLOSE), id="Content-Length 2**63"),
    pytest.param(lambda body: Reply(head(Content_Length="9" * 5000) + cut(body), CLOSE), id="Content-Length of 5,000 digits"),
    pytest.param(lambda body: Reply(head(Content_Length="²") + cut(body), CLOSE), id="Content-Length superscript two"),
    pytest.param(lambda body: Reply(head(Transfer_Encoding="chunked") + f"{2**80:x}\r\n".encode() + cut(body), CLOSE),
                 id="chunk size 2**80"),
    pytest.param(lambda body: Reply(head(Content_Length=f"{len(body)}, {len(body) + 1}") + body, CLOSE), id="conflicting lengths"),
])
def test_absurd_lengths_are_retried_transient_errors(config, harvest, grants, fault: Fault) -> None:
    server = harvest(faults={"/v2/invoices/3/payments": [fault]})
    output = read_invoices_and_payments(config, server)
    assert_every_record_exact(output)  # no MemoryError, OverflowError or ValueError: the retry got the proper answer
    assert server.api_requests().count("/v2/invoices/3/payments") == 2
    assert any("invoice_payments: GET /invoices/{id}/payments" in line for line in retries_logged(output))
    assert_budget_counted_every_request(server, grants)


# --- (c) compressed bodies -------------------------------------------------------------------------
def two_gzip_members(body: bytes) -> tuple[bytes, str]:
    middle = len(body) // 2
    return gzip.compress(body[:middle]) + gzip.compress(body[middle:]), "gzip"


@pytest.mark.parametrize("encoding", [
    pytest.param(two_gzip_members, id="multi-member gzip"),
    pytest.param(lambda body: (gzip.compress(body), "x-gzip"), id="x-gzip"),
    pytest.param(lambda body: (gzip.compress(gzip.compress(body)), "gzip, gzip"), id="gzip, gzip"),
])
def test_compressed_answers_are_decoded_whole(config, harvest, grants, encoding: Encoding) -> None:
    server = harvest(encoding=encoding)
    output = read_invoices_and_payments(config, server)
    assert_every_record_exact(output)
    assert not retries_logged(output)
    assert_budget_counted_every_request(server, grants)


# --- (d) header injection --------------------------------------------------------------------------
def test_an_access_token_with_a_line_break_never_reaches_the_wire(config, harvest, grants, capsys) -> None:
    server = harvest(token_answer={"access_token": f"{LEAKY_ACCESS_TOKEN}\r\nX-Injected: yes", "expires_in": 3600,
                                   "token_type": "bearer", "refresh_token": "refresh-1"})
    config["credentials"] = {"auth_type": "Client", "client_id": "cid", "client_secret": "csecret", "refresh_token": "refresh-1"}
    config["id_url"] = server.url + "/api/v2/"
    output = read_invoices_and_payments(config, server)
    assert [r.path for r in server.received] == ["/api/v2/oauth2/token"]  # the refresh happened; no API request followed
    assert not any(b"x-injected" in r.head.lower() for r in server.received)
    assert output.errors and not output.records  # not green
    assert any("access token holding a line break" in e.trace.error.message for e in output.errors)
    assert LEAKY_ACCESS_TOKEN not in everything_said(output, capsys.readouterr().out)
    assert grants == []


# --- (e) a reset on a reused connection --------------------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param(lambda body: Reply(answer(body)[: len(answer(body)) - len(body) // 2], RESET), id="reset mid-body"),
    pytest.param(lambda body: Reply(b"", RESET), id="reset before any byte of the answer"),
])
def test_a_reset_on_a_reused_connection_is_retried_through_the_budget(config, harvest, grants, fault: Fault) -> None:
    server = harvest(faults={"/v2/invoices/1/payments": [fault]})
    output = read_invoices_and_payments(config, server)
    assert_every_record_exact(output)
    reset = [r for r in server.received if r.path == "/v2/invoices/1/payments"]
    assert len(reset) == 2 and reset[0].order >= 2  # the first attempt went on a reused keep-alive connection
    assert any("connection error" in line for line in retries_logged(output))  # retried by the CDK, not by urllib3
    assert_budget_counted_every_request(server, grants)


# --- (f) the trust store ---------------------------------------------------------------------------
@pytest.mark.parametrize("variable", CA_BUNDLE_VARIABLES)
def test_a_missing_ca_bundle_fails_check_and_read_at_once(config, harvest, grants, monkeypatch, tmp_path, variable: str) -> None:
    missing = str(tmp_path / "no-such-ca-bundle.pem")
    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, missing)
    server = harvest()
    config["api_url"] = server.url + "/v2/"
    status = SourceHarvest().check(logging.getLogger("airbyte"), config)
    output = read_invoices_and_payments(config, server)
    assert status.status == Status.FAILED
    assert f"{variable} is set to {missing}" in status.message and f"Point {variable} at a PEM bundle" in status.message
    errors = [e.trace.error for e in output.errors]
    assert len(errors) == 1 and errors[0].failure_type.value == "config_error"
    assert errors[0].message == status.message
    assert server.received == [] and grants == []  # failed before any request: nothing retried


@pytest.fixture
def throwaway_ca(tmp_path) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    bundle = tmp_path / "throwaway-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, str(bundle)


def test_check_and_read_trust_the_same_certificates(config, harvest, monkeypatch, throwaway_ca) -> None:
    ca, bundle = throwaway_ca
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(tls)
    server = harvest(tls=tls)
    config["api_url"] = server.url + "/v2/"
    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The operating system's trust store (OpenSSL's default paths) holds the throwaway CA; certifi's does not.
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    logger = logging.getLogger("airbyte")

    # Without a CA bundle variable both verify against certifi's bundle, so both refuse the server.
    refused = SourceHarvest().check(logger, config)
    assert refused.status == Status.FAILED and "SSLError" in refused.message
    output = read_invoices_and_payments(config, server)
    assert output.errors and not output.records and server.api_requests() == []

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    assert SourceHarvest().check(logger, config).status == Status.SUCCEEDED
    assert_every_record_exact(read_invoices_and_payments(config, server))
