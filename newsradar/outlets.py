"""A small HTTP server on 127.0.0.1 that plays news outlets: the demo's sample outlets and
the test suite's fixture outlets (hostile ones included).

Routes are data: a path maps to a `Route` (status, headers, body) or to a handler
function for behaviour (trickling, Retry-After, redirects). Static routes answer
conditional GETs with 304 like a real outlet, and every request is logged so tests can
assert what was and was not requested.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping
from urllib.parse import urlsplit


@dataclass
class Route:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    gzip: bool = False  # Content-Encoding: gzip
    validators: bool = True  # ETag / Last-Modified + 304 answers

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    at: float


Handler = Callable[["OutletRequestHandler"], None]


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up early (timeouts, size limits) are expected here."""


class OutletServer:
    """Serve routes on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self, routes: Mapping[str, Route | Handler] | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.routes: dict[str, Route | Handler] = dict(routes or {})
        self.log: list[LoggedRequest] = []
        self.lock = threading.Lock()
        self.httpd = QuietHTTPServer((host, port), OutletRequestHandler)
        self.httpd.outlets = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="outlet-server", daemon=True)
        self.last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> "OutletServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "OutletServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requested(self, path: str) -> int:
        """How many times `path` (with its query) was requested."""
        with self.lock:
            return sum(1 for r in self.log if r.path == path)

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.log]


class OutletRequestHandler(BaseHTTPRequestHandler):
    server_version = "outlet/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def outlets(self) -> OutletServer:
        return self.server.outlets  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        outlets = self.outlets
        with outlets.lock:
            outlets.log.append(LoggedRequest("GET", self.path, dict(self.headers.items()), time.monotonic()))
        route = outlets.routes.get(self.path) or outlets.routes.get(urlsplit(self.path).path)
        if route is None:
            self.send_body(404, b"<html><body><h1>Not found</h1></body></html>", "text/html; charset=utf-8")
        elif callable(route):
            route(self)
        else:
            self.send_route(route)

    def send_route(self, route: Route) -> None:
        body = route.payload()
        headers = dict(route.headers)
        if route.validators and route.status == 200:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", self.outlets.last_modified)
            if self.headers.get("If-None-Match") == etag:
                self.send_body(304, b"", None, {"ETag": etag})
                return
        self.send_body(route.status, body, route.content_type, headers, compress=route.gzip)

    def send_body(self, status: int, body: bytes, content_type: str | None,
                  headers: Mapping[str, str] | None = None, *, compress: bool = False) -> None:
        if compress:
            body = gzip.compress(body)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if compress:
            self.send_header("Content-Encoding", "gzip")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)
