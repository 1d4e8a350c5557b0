"""KeepAliveAdapter: the transport under every stream's `requests` session.

A full sync is mostly small per-parent GETs (one per invoice, estimate and user), and on those the
CPU went to the layers under requests, not to Harvest's bytes: urllib3's pool and http.client's
header parsing (the `email` package) took about 0.8 ms of a 1.7 ms request on the 2-core build
machine (README, "Request budget and performance"). This adapter keeps one connection per host and thread open across
requests, writes HTTP/1.1 requests and reads the answers itself (status line, headers, a
Content-Length, chunked or read-to-close body), and builds the `requests.Response`. Everything
above the transport is unchanged: the CDK's HttpClient, its retries and backoff, our error
handler, the API budget and the authenticator still see ordinary requests and responses.

What it does not do it hands to requests' own HTTPAdapter: proxied requests, client certificates,
streamed bodies and uploads from files. Failures are raised as the exceptions requests raises
(ConnectionError, ConnectTimeout, ReadTimeout, SSLError, ChunkedEncodingError), so the error
handler retries them. Cookies are not kept: Harvest's API sets none.
"""

from __future__ import annotations

import http.client
import io
import os
import select
import socket
import ssl
import threading
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Mapping, NoReturn, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, select_proxy

# The encodings this adapter decodes; a request asking for others gets these instead.
DECODABLE_ENCODINGS = ("gzip", "deflate")
ACCEPT_ENCODING = ", ".join(DECODABLE_ENCODINGS)
# A reused connection that fails before any byte of the answer arrived was closed by the server
# while idle; an idempotent request is sent again once on a new connection (as urllib3 does).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# http.client's limits on an answer's head.
MAX_LINE = 65536
MAX_HEADERS = 100
NO_BODY_STATUSES = frozenset({204, 304})


class KeepAliveAdapter(BaseAdapter):
    """A `requests` transport adapter on persistent HTTP/1.1 connections."""

    def __init__(self, fallback: Optional[BaseAdapter] = None) -> None:
        super().__init__()
        self.fallback = fallback or HTTPAdapter()
        self._local = threading.local()
        self._tls_contexts: dict[Any, ssl.SSLContext] = {}

    # --- requests' adapter interface -------------------------------------------------------------
    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Optional[Mapping[str, str]] = None) -> requests.Response:
        url = request.url or ""
        parts = urlsplit(url)
        if (stream or cert or not _plain_timeout(timeout) or not isinstance(request.body, (bytes, str, type(None)))
                or parts.scheme not in ("http", "https") or not parts.hostname or select_proxy(url, dict(proxies or {}))):
            return self.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        timeouts = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        key = (parts.scheme, parts.hostname, parts.port, verify if parts.scheme == "https" else None)
        method = (request.method or "GET").upper()
        message = _request_bytes(method, request.path_url, parts.netloc.rpartition("@")[2], request.headers, request.body)
        while True:
            connection, reused = self._connection(key, request, timeouts)
            try:
                connection.sock.sendall(message)
                answer = connection.read_answer(method)
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self._discard(key)
                if reused and method in IDEMPOTENT_METHODS:
                    continue
                _raise(error, request, connecting=False)
            except BaseException as error:
                self._discard(key)
                _raise(error, request, connecting=False)
        if answer.will_close:
            self._discard(key)
        return self._response(request, answer)

    def close(self) -> None:
        for connection in self._connections().values():
            connection.close()
        self._connections().clear()
        self.fallback.close()

    # --- connections ---------------------------------------------------------------------------
    def _connections(self) -> dict[tuple[Any, ...], _Connection]:
        return self._local.__dict__.setdefault("connections", {})

    def _connection(self, key: tuple[Any, ...], request: requests.PreparedRequest,
                    timeouts: tuple[Optional[float], Optional[float]]) -> tuple[_Connection, bool]:
        connection = self._connections().get(key)
        if connection is not None and not _dropped(connection.sock):
            connection.sock.settimeout(timeouts[1])
            return connection, True
        if connection is not None:
            self._discard(key)
        scheme, host, port, verify = key
        try:
            connection = _Connection.open(host, port or (443 if scheme == "https" else 80), timeouts,
                                          self._tls_context(verify) if scheme == "https" else None)
        except BaseException as error:
            _raise(error, request, connecting=True)
        self._connections()[key] = connection
        return connection, False

    def _discard(self, key: tuple[Any, ...]) -> None:
        connection = self._connections().pop(key, None)
        if connection is not None:
            connection.close()

    def _tls_context(self, verify: Any) -> ssl.SSLContext:
        """One TLS context per `verify` value: True (the system's CAs), a CA bundle path, or False."""
        context = self._tls_contexts.get(verify)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                context = ssl.create_default_context(capath=verify) if os.path.isdir(verify) else ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            self._tls_contexts[verify] = context
        return context

    # --- responses -----------------------------------------------------------------------------
    def _response(self, request: requests.PreparedRequest, answer: _Answer) -> requests.Response:
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        headers._store.update(answer.fields)  # {lowercased name: (name, value)}: CaseInsensitiveDict's own layout
        body = answer.body
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding in DECODABLE_ENCODINGS and body:
            try:
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
            except zlib.error:
                try:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)  # deflate sent raw, as some servers do
                except zlib.error as error:
                    raise requests.exceptions.ContentDecodingError(f"cannot decode a {encoding} body: {error}", request=request) from error
        response = requests.Response()
        response.status_code = answer.status
        response.reason = answer.reason
        response.headers = headers
        response.encoding = get_encoding_from_headers(headers)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        response.raw = io.BytesIO(body)
        response._content = body
        response._content_consumed = True
        return response


@dataclass
class _Answer:
    status: int
    reason: str
    fields: dict[str, tuple[str, str]]  # lowercased name -> (name as sent, value); repeated fields joined by ", "
    body: bytes
    will_close: bool


@dataclass
class _Connection:
    """One open socket and its buffered reader: requests out, answers in, HTTP/1.1 (RFC 9112)."""

    sock: socket.socket
    reader: BinaryIO

    @classmethod
    def open(cls, host: str, port: int, timeouts: tuple[Optional[float], Optional[float]], tls: Optional[ssl.SSLContext]) -> _Connection:
        sock = socket.create_connection((host, port), timeout=timeouts[0])
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(timeouts[1])
        except BaseException:
            sock.close()
            raise
        return cls(sock, sock.makefile("rb"))

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def read_answer(self, method: str) -> _Answer:
        while True:
            version, status, reason = self._status_line()
            fields = self._fields()
            if not 100 <= status < 200:
                break  # an interim 1xx answer (100 Continue, 103 Early Hints) is followed by the real one
        connection = fields.get("connection")
        tokens = {token.strip().lower() for token in connection[1].split(",")} if connection else set()
        will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        transfer_encoding = fields.get("transfer-encoding")
        content_length = fields.get("content-length")
        if method == "HEAD" or status in NO_BODY_STATUSES:
            body = b""
        elif transfer_encoding and "chunked" in transfer_encoding[1].lower():
            body = self._chunked()
        elif content_length:
            body = self._exactly(_content_length(content_length[1]))
        else:
            body, will_close = self.reader.read(), True  # the body ends when the server closes
        return _Answer(status, reason, fields, body, will_close)

    def _line(self) -> bytes:
        line = self.reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        return line

    def _status_line(self) -> tuple[str, int, str]:
        line = self._line()
        if not line:
            raise http.client.RemoteDisconnected("the server closed the connection without an answer")
        version, _, rest = line.decode("iso-8859-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
            raise http.client.BadStatusLine(line.decode("iso-8859-1", "replace")[:100])
        return version, int(code), reason.strip()

    def _fields(self) -> dict[str, tuple[str, str]]:
        fields: dict[str, tuple[str, str]] = {}
        last = ""
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if line == b"\r\n" or line == b"\n":
                return fields
            if not line:
                raise http.client.IncompleteRead(b"", None)
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[0] in " \t" and last:  # an obsolete folded continuation line
                name, value = fields[last]
                fields[last] = (name, f"{value} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if not colon:
                raise http.client.HTTPException(f"a header line without a colon: {text[:100]!r}")
            name, value, last = name.strip(), value.strip(), name.strip().lower()
            seen = fields.get(last)
            fields[last] = (seen[0], f"{seen[1]}, {value}") if seen else (name, value)  # repeated: joined, as requests does
        raise http.client.HTTPException(f"more than {MAX_HEADERS} headers")

    def _exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if len(data) < size:
            raise http.client.IncompleteRead(data, size - len(data))
        return data

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self._line()
            if not line:
                raise http.client.IncompleteRead(b"".join(parts), None)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise http.client.HTTPException(f"a bad chunk size line: {line[:100]!r}") from None
            if size == 0:
                break
            parts.append(self._exactly(size))
            self._line()  # the CRLF that ends the chunk
        while self._line() not in (b"\r\n", b"\n", b""):
            pass  # trailer fields
        return b"".join(parts)


def _request_bytes(method: str, path: str, host: str, headers: Mapping[Any, Any], body: bytes | str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    has_length = False
    for raw_name, raw_value in headers.items():
        name = raw_name.decode("iso-8859-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("iso-8859-1") if isinstance(raw_value, bytes) else raw_value
        lowered = name.lower()
        if lowered == "host":
            lines[1] = f"Host: {value}"
            continue
        if lowered == "accept-encoding" and not _decodable(value):
            value = ACCEPT_ENCODING
        has_length = has_length or lowered in ("content-length", "transfer-encoding")
        lines.append(f"{name}: {value}")
    payload = body.encode("iso-8859-1") if isinstance(body, str) else (body or b"")
    if body is not None and not has_length:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + payload


def _content_length(value: str) -> int:
    if value.isdigit():
        return int(value)
    lengths = {part.strip() for part in value.split(",")}  # repeated equal values are allowed
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise http.client.HTTPException(f"a bad Content-Length: {value[:100]!r}")
    return int(lengths.pop())


def _plain_timeout(timeout: Any) -> bool:
    if timeout is None or isinstance(timeout, (int, float)):
        return True
    return isinstance(timeout, tuple) and len(timeout) == 2 and all(part is None or isinstance(part, (int, float)) for part in timeout)


def _decodable(accept_encoding: str) -> bool:
    offered = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    return offered <= {*DECODABLE_ENCODINGS, "identity", ""}


def _dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or sent something unasked)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _raise(error: BaseException, request: requests.PreparedRequest, connecting: bool) -> NoReturn:
    """Raise what requests would have raised for this failure; anything else (a bug, Ctrl-C) as it is."""
    if isinstance(error, ssl.SSLError):
        raise requests.exceptions.SSLError(error, request=request) from error
    if isinstance(error, TimeoutError):
        if connecting:
            raise requests.exceptions.ConnectTimeout(error, request=request) from error
        raise requests.exceptions.ReadTimeout(error, request=request) from error
    if isinstance(error, http.client.IncompleteRead):
        raise requests.exceptions.ChunkedEncodingError(
            f"the connection closed after {len(error.partial)} bytes of the body", request=request) from error
    if isinstance(error, (OSError, http.client.HTTPException)):
        raise requests.exceptions.ConnectionError(error, request=request) from error
    raise error
