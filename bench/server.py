"""A fast loopback HTTP/1.1 server for pre-rendered pages, in its own process, and a
plain concurrent fetcher (asyncio streams, keep-alive) for the bound.

The server is an asyncio Protocol answering from a dict of complete response bytes, so a
request costs a dict lookup and a write; it runs in a forked process so its CPU never
competes with the measured process's GIL. Conditional GETs get 304 on a matching
If-None-Match while `validators` is on (switch with GET /__bench/validators/0|1);
GET /__bench/stats returns requests served and the server process's CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import time
from typing import Awaitable, Callable, Iterable

from corpus import Page

LAST_MODIFIED = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


def _response(status: bytes, ctype: str | None, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status.decode()}\r\nServer: bench\r\nContent-Length: {len(body)}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return (head + extra + "\r\n").encode("latin-1") + body


class _Routes:
    def __init__(self, pages: dict[str, Page]) -> None:
        self.ok: dict[bytes, bytes] = {}
        self.etag: dict[bytes, bytes] = {}
        self.not_modified: dict[bytes, bytes] = {}
        for path, page in pages.items():
            key = path.encode()
            self.ok[key] = _response(b"200 OK", page.content_type, page.body,
                                     f"ETag: {page.etag}\r\nLast-Modified: {LAST_MODIFIED}\r\n")
            self.etag[key] = page.etag.encode()
            self.not_modified[key] = _response(b"304 Not Modified", None, b"", f"ETag: {page.etag}\r\n")
        self.not_found = _response(b"404 Not Found", "text/html", b"<html><body>Not found</body></html>")
        self.validators = True
        self.requests = 0
        self.bytes = 0


def _make_protocol(routes: _Routes) -> type[asyncio.Protocol]:
    class HTTP(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport  # type: ignore[assignment]
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end], self.buf[end + 4:]
                lines = head.split(b"\r\n")
                parts = lines[0].split(b" ")
                path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b"/"
                inm = None
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"if-none-match":
                        inm = value.strip()
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                routes.requests += 1
                if path.startswith(b"/__bench/"):
                    out = self.control(path)
                elif path in routes.ok:
                    if routes.validators and inm is not None and inm == routes.etag[path]:
                        out = routes.not_modified[path]
                    else:
                        out = routes.ok[path]
                else:
                    out = routes.not_found
                routes.bytes += len(out)
                self.t.write(out)  # type: ignore[attr-defined]
                if close:
                    self.t.close()
                    return

        def control(self, path: bytes) -> bytes:
            if path.startswith(b"/__bench/validators/"):
                routes.validators = path.endswith(b"/1")
            stats = {"requests": routes.requests, "bytes": routes.bytes, "cpu": time.process_time(),
                     "validators": routes.validators}
            return _response(b"200 OK", "application/json", json.dumps(stats).encode())

    return HTTP


def _serve(sock: socket.socket, pages: dict[str, Page]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    routes = _Routes(pages)
    del pages

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_make_protocol(routes), sock=sock, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class BenchServer:
    """The server process: `with BenchServer(render) as srv:` where render(base) -> pages."""

    def __init__(self, render: Callable[[str], dict[str, Page]], host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.base = f"http://{host}:{self.port}"
        t = time.perf_counter()
        self.pages = render(self.base)
        self.render_seconds = time.perf_counter() - t
        self.proc = mp.get_context("fork").Process(target=_serve, args=(self.sock, self.pages), daemon=True)

    def __enter__(self) -> "BenchServer":
        self.proc.start()
        self.sock.close()  # the child owns it now
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)

    def control(self, what: str = "stats") -> dict:
        with socket.create_connection((self.host, self.port), timeout=5) as s:
            s.sendall(f"GET /__bench/{what} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    def set_validators(self, on: bool) -> None:
        self.control(f"validators/{1 if on else 0}")


# -- the plain fetcher -----------------------------------------------------------------


async def fetch_all(host: str, port: int, paths: Iterable[str], concurrency: int,
                    on_page: Callable[[str, int, bytes], Awaitable[None] | None], deadline: float) -> int:
    """GET every path over `concurrency` keep-alive connections; returns bytes received."""
    queue = list(paths)
    queue.reverse()
    received = 0

    async def worker() -> None:
        nonlocal received
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                if time.monotonic() > deadline:
                    raise TimeoutError("fetch deadline passed")
                path = queue.pop()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench-fetcher\r\n"
                             "Accept-Encoding: identity\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                received += len(head) + length
                result = on_page(path, status, body)
                if result is not None:
                    await result
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return received


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
