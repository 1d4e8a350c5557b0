"""KeepAliveAdapter against real local HTTP(S) servers: reuse, decoding, failures, TLS, fallback."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
import requests
import trustme

from source_harvest import transport
from source_harvest.transport import KeepAliveAdapter

Handler = Callable[[BaseHTTPRequestHandler], None]


def pause(seconds: float) -> None:
    """A real wait: unit tests patch time.sleep away (conftest.py)."""
    threading.Event().wait(seconds)


class Server:
    """A threaded HTTP/1.1 server whose every request is answered by `handle`; counts connections."""

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None = None) -> None:
        owner = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with owner.lock:
                    owner.connections += 1

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner.paths.append(self.path)
                handle(self)

            do_POST = do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.connections = 0
        self.paths: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict[str, str] | None = None,
          close: bool = False) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
    if close:  # close without announcing it, as an idle keep-alive timeout does
        handler.close_connection = True


def echo(handler: BaseHTTPRequestHandler) -> None:
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    document = {"path": handler.path, "method": handler.command, "body": body.decode(),
                "accept_encoding": handler.headers.get("Accept-Encoding"), "authorization": handler.headers.get("Authorization")}
    reply(handler, json.dumps(document).encode())


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handle: Handler, tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(handle, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    adapter = KeepAliveAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    yield session
    session.close()


def test_one_connection_serves_every_request_and_responses_are_complete(serve, session) -> None:
    server = serve(echo)
    for page in range(20):
        response = session.get(f"{server.url}/v2/invoices", params={"page": page}, headers={"Authorization": "Bearer t"})
        assert response.status_code == 200 and response.ok
        assert response.json() == {"path": f"/v2/invoices?page={page}", "method": "GET", "body": "", "accept_encoding": "gzip, deflate",
                                   "authorization": "Bearer t"}
        assert response.headers["content-type"] == "application/json"
        assert response.url == f"{server.url}/v2/invoices?page={page}"
        assert response.request.method == "GET" and response.elapsed.total_seconds() > 0
    assert server.connections == 1


def test_post_bodies_are_sent(serve, session) -> None:
    server = serve(echo)
    response = session.post(f"{server.url}/oauth2/token", data={"grant_type": "refresh_token"})
    assert response.json()["body"] == "grant_type=refresh_token"
    assert response.json()["method"] == "POST"


def test_repeated_headers_are_joined_as_requests_joins_them(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.send_header("Link", "<a>; rel=next")
        handler.send_header("Link", "<b>; rel=last")
        handler.end_headers()
        handler.wfile.write(b"{}")

    response = session.get(serve(handle).url)
    assert response.headers["link"] == "<a>; rel=next, <b>; rel=last"


@pytest.mark.parametrize("encoding,encode", [("gzip", gzip.compress), ("deflate", zlib.compress),
                                             ("deflate", lambda data: zlib.compress(data)[2:-4])])
def test_compressed_bodies_are_decoded(serve, session, encoding: str, encode: Callable[[bytes], bytes]) -> None:
    document = {"time_entries": [{"id": n, "notes": "x" * 50} for n in range(100)]}
    server = serve(lambda handler: reply(handler, encode(json.dumps(document).encode()), headers={"Content-Encoding": encoding}))
    assert session.get(server.url).json() == document


def test_encodings_it_cannot_decode_are_not_asked_for(serve, session) -> None:
    server = serve(echo)
    assert session.get(server.url, headers={"Accept-Encoding": "br, zstd, gzip"}).json()["accept_encoding"] == "gzip, deflate"


def test_chunked_bodies_are_read_whole(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for part in (b'{"users": [', b'{"id": 1}', b"]}"):
            handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    assert session.get(serve(handle).url).json() == {"users": [{"id": 1}]}


def test_a_connection_the_server_closed_while_idle_is_replaced(serve, session) -> None:
    server = serve(lambda handler: reply(handler, b"{}", close=True))
    for _ in range(10):
        assert session.get(server.url).status_code == 200
        pause(0.01)  # let the close arrive, as it would between two of a sync's requests
    assert server.connections == 10


def test_a_close_that_races_the_next_request_is_retried_once_on_a_new_connection(serve, monkeypatch) -> None:
    server = serve(lambda handler: reply(handler, b"{}", close=True))
    adapter = KeepAliveAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    assert session.get(server.url).status_code == 200
    pause(0.05)
    # The server has closed; pretend the idle check did not see it (the close is still in flight).
    monkeypatch.setattr(transport, "_dropped", lambda sock: False)
    assert session.get(server.url).status_code == 200
    assert server.connections == 2


def test_a_body_cut_short_is_a_retryable_requests_error(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b'{"invoices": [')
        handler.close_connection = True

    server = serve(handle)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(server.url)
    assert server.connections == 1


def test_a_dropped_connection_is_a_connection_error(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True  # answer nothing

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(serve(handle).url)


def test_a_refused_connection_is_a_connection_error(session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"http://127.0.0.1:{port}/v2/users")


def test_a_stalled_answer_is_a_read_timeout(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        pause(1.0)
        reply(handler, b"{}")

    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(serve(handle).url, timeout=(5, 0.2))
    assert time.monotonic() - started < 0.9


def test_requests_it_does_not_handle_go_to_the_fallback(serve) -> None:
    server = serve(echo)
    calls: list[dict[str, Any]] = []

    class Recording(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            calls.append(kwargs)
            return super().send(request, **kwargs)

    session = requests.Session()
    session.trust_env = False
    session.mount("http://", KeepAliveAdapter(fallback=Recording()))
    assert session.get(server.url).status_code == 200
    assert calls == []
    assert session.get(server.url, stream=True).status_code == 200
    proxied = session.get(server.url, proxies={"http": server.url})  # the echo server plays the proxy
    assert proxied.json()["path"] == server.url + "/"  # a proxy gets the absolute URL
    assert len(calls) == 2 and calls[1]["proxies"] == {"http": server.url}
    session.get(server.url, proxies={"https": "http://127.0.0.1:9"})  # a proxy for the other scheme does not apply
    assert len(calls) == 2


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def tls_server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("localhost").configure_cert(context)
    return context


def test_https_verifies_against_the_given_ca_bundle(serve, session, certificate_authority, tmp_path) -> None:
    server = serve(echo, tls_server_context(certificate_authority))
    bundle = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(bundle))
    for _ in range(3):
        assert session.get(server.url, verify=str(bundle)).json()["method"] == "GET"
    assert server.connections == 1


def test_https_refuses_a_certificate_it_cannot_verify(serve, session, certificate_authority) -> None:
    server = serve(echo, tls_server_context(certificate_authority))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(server.url)  # the system's CAs do not include this one
    assert session.get(server.url, verify=False).status_code == 200  # unless told not to verify


def raw_answer(data: bytes, close: bool = True) -> Handler:
    """A handler that writes `data` as the whole answer, byte for byte, then closes unless told not to."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(data)
        handler.wfile.flush()
        handler.close_connection = close

    return handle


def test_interim_answers_are_skipped(serve, session) -> None:
    server = serve(raw_answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", close=False))
    response = session.get(server.url)
    assert (response.status_code, response.content) == (200, b"{}")


@pytest.mark.parametrize("status", [204, 304])
def test_answers_without_a_body_leave_the_connection_usable(serve, session, status: int) -> None:
    server = serve(raw_answer(f"HTTP/1.1 {status} Nothing\r\nETag: x\r\n\r\n".encode(), close=False))
    for _ in range(3):
        response = session.get(server.url)
        assert (response.status_code, response.content, response.reason) == (status, b"", "Nothing")
    assert server.connections == 1


def test_a_head_request_reads_no_body_even_with_a_length(serve, session) -> None:
    server = serve(raw_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", close=False))
    assert session.head(server.url).headers["content-length"] == "1234"
    assert session.head(server.url).status_code == 200
    assert server.connections == 1


def test_a_body_without_length_ends_when_the_server_closes(serve, session) -> None:
    server = serve(raw_answer(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"company": 1}'))
    assert session.get(server.url).json() == {"company": 1}
    assert session.get(server.url).json() == {"company": 1}
    assert server.connections == 2


def test_http_1_0_and_connection_close_answers_close_the_connection(serve, session) -> None:
    server = serve(raw_answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", close=False))
    assert session.get(server.url).content == b"{}"
    assert session.get(server.url).content == b"{}"
    assert server.connections == 2
    server = serve(raw_answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", close=False))
    assert session.get(server.url).content == b"{}"
    assert session.get(server.url).content == b"{}"
    assert server.connections == 2


def test_folded_header_lines_are_joined(serve, session) -> None:
    server = serve(raw_answer(b"HTTP/1.1 200 OK\r\nX-Note: first\r\n  second\r\nContent-Length: 0\r\n\r\n"))
    assert session.get(server.url).headers["x-note"] == "first second"


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"Content-Length: 0\r\n\r\n",
])
def test_malformed_answers_are_connection_errors(serve, session, answer: bytes) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(serve(raw_answer(answer)).url)


def test_a_chunked_body_cut_short_is_a_retryable_requests_error(serve, session) -> None:
    server = serve(raw_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"users\""))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(server.url)


def test_the_host_header_and_bytes_header_values_are_sent_as_given(serve, session) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, json.dumps({"host": handler.headers["Host"], "x": handler.headers["X-Bytes"]}).encode())

    server = serve(handle)
    port = server.url.rsplit(":", 1)[1]
    assert session.get(server.url, headers={"X-Bytes": b"raw"}).json() == {"host": f"localhost:{port}", "x": "raw"}
