"""KeepAliveAdapter: the transport under every stream's `requests` session.

A full sync is mostly small per-parent GETs (one per invoice, estimate and user), and on those the
CPU goes to urllib3's pool and requests' adapter glue, not to Harvest's bytes: ~0.7 ms of a ~1.7 ms
request on a 2-core build machine (README, "Benchmark"). This adapter keeps one `http.client`
connection per host and thread open across requests and builds the `requests.Response` itself.
Everything above the transport is unchanged: the CDK's HttpClient, its retries and backoff, our
error handler, the API budget and the authenticator still see ordinary requests and responses.

What it does not do it hands to requests' own HTTPAdapter: proxied requests, client certificates
and streamed bodies. Failures are raised as the exceptions requests raises (ConnectionError,
ConnectTimeout, ReadTimeout, SSLError, ChunkedEncodingError), so the error handler retries them.
Cookies are not kept: Harvest's API sets none.
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
from typing import Any, Mapping, NoReturn, Optional, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, select_proxy

Timeout = Union[None, float, tuple[Optional[float], Optional[float]]]

# The encodings this adapter decodes; a request asking for others gets these instead.
DECODABLE_ENCODINGS = ("gzip", "deflate")
ACCEPT_ENCODING = ", ".join(DECODABLE_ENCODINGS)
# A reused connection that fails before any byte of the answer arrived was closed by the server
# while idle; an idempotent request is sent again once on a new connection (as urllib3 does).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class KeepAliveAdapter(BaseAdapter):
    """A `requests` transport adapter on persistent `http.client` connections."""

    def __init__(self, fallback: Optional[BaseAdapter] = None) -> None:
        super().__init__()
        self.fallback = fallback or HTTPAdapter()
        self._local = threading.local()
        self._tls_contexts: dict[Any, ssl.SSLContext] = {}

    # --- requests' adapter interface -------------------------------------------------------------
    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Optional[Mapping[str, str]] = None) -> requests.Response:
        url = request.url or ""
        if stream or cert or select_proxy(url, dict(proxies or {})) or not _plain_timeout(timeout):
            return self.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return self.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        key = (parts.scheme, parts.hostname, parts.port, verify if parts.scheme == "https" else None)
        headers = dict(request.headers)
        if not _decodable(headers.get("Accept-Encoding")):
            headers["Accept-Encoding"] = ACCEPT_ENCODING
        method = (request.method or "GET").upper()
        path = request.path_url
        while True:
            connection, reused = self._connection(key, request, connect_timeout, read_timeout)
            try:
                connection.request(method, path, body=request.body, headers=headers)
                answer = connection.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self._discard(key)
                if reused and method in IDEMPOTENT_METHODS:
                    continue
                _raise(error, request, connecting=False)
            except BaseException as error:
                self._discard(key)
                _raise(error, request, connecting=False)
        try:
            body = answer.read()
        except BaseException as error:
            self._discard(key)
            _raise(error, request, connecting=False)
        if answer.will_close:
            self._discard(key)
        return self._response(request, answer, body)

    def close(self) -> None:
        for connection in getattr(self._local, "connections", {}).values():
            connection.close()
        self._local.connections = {}
        self.fallback.close()

    # --- connections ---------------------------------------------------------------------------
    def _connection(self, key: tuple[Any, ...], request: requests.PreparedRequest, connect_timeout: Optional[float],
                    read_timeout: Optional[float]) -> tuple[http.client.HTTPConnection, bool]:
        connections: dict[tuple[Any, ...], http.client.HTTPConnection] = self._local.__dict__.setdefault("connections", {})
        connection = connections.get(key)
        if connection is not None and connection.sock is not None and _dropped(connection.sock):
            self._discard(key)
            connection = None
        reused = connection is not None and connection.sock is not None
        if connection is None:
            scheme, host, port, verify = key
            if scheme == "https":
                connection = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self._tls_context(verify))
            else:
                connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
            connections[key] = connection
        if connection.sock is None:
            connection.timeout = connect_timeout
            try:
                connection.connect()
            except BaseException as error:
                self._discard(key)
                _raise(error, request, connecting=True)
            connection.sock.settimeout(read_timeout)
        return connection, reused

    def _discard(self, key: tuple[Any, ...]) -> None:
        connection = self._local.__dict__.setdefault("connections", {}).pop(key, None)
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
    def _response(self, request: requests.PreparedRequest, answer: http.client.HTTPResponse, body: bytes) -> requests.Response:
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in answer.getheaders():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
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
        response.raw = io.BytesIO(body)
        response.connection = self
        response._content = body
        response._content_consumed = True
        return response


def _plain_timeout(timeout: Any) -> bool:
    if timeout is None or isinstance(timeout, (int, float)):
        return True
    return isinstance(timeout, tuple) and len(timeout) == 2 and all(part is None or isinstance(part, (int, float)) for part in timeout)


def _decodable(accept_encoding: Optional[str]) -> bool:
    if accept_encoding is None:
        return True  # http.client then sends "identity"
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
