"""Shared fixtures. Everything listens on 127.0.0.1 only; nothing touches the internet.

Sections:
  1. store and config  (temporary SQLite store, config from TOML text, article rows)
  2. SMTP server       (aiosmtpd, with on-demand 4xx/5xx answers, stop/start, hold)
  3. webhook receiver  (threaded HTTP server recording JSON bodies, on-demand 4xx/5xx, hold)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from newsradar.config import Config, load_config_text
from newsradar.store import open_db


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll `predicate` until it is truthy or `timeout` passes (then fail the test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# =============================================================== 0. process-wide state

@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`newsradar.cli.main()` configures logging onto the stderr pytest captures for that
    test; later tests (and worker processes they start) must not inherit a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


# =============================================================== 1. store and config

@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    db = open_db(tmp_path / "t.db")
    yield db
    db.conn.close()


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Build a Config from TOML text, as if read from tmp_path/config.toml."""

    def build(text: str = "", env: dict[str, str] | None = None) -> Config:
        return load_config_text(text, path=tmp_path / "config.toml", env=env or {})

    return build


NOW = datetime.now(timezone.utc).replace(microsecond=0)


def article_row(url: str, *, source: str = "outlet", title: str = "A headline", text: str = "",
                fetched_url: str | None = None, published: datetime | str | None = None, score: float = 0.8,
                organisations: list[str] | None = None, countries: list[str] | None = None,
                sentences: list[str] | None = None, kinds: list[str] | None = None,
                processed_at: datetime | None = None) -> dict[str, Any]:
    """An `articles` row as the NLP stage leaves it (analysis JSON included)."""
    if published is None:
        published = NOW - timedelta(hours=2)
    evidence = [{"sentence": s, "index": i, "restriction_terms": ["export controls"], "evasion_cues": ["smuggling"],
                 "negation_cues": [], "negated": False, "weight": 1.0 - i * 0.1} for i, s in enumerate(sentences or [])]
    analysis: dict[str, Any] = {"score": score, "organisations": organisations or [], "countries": countries or [],
                                "restriction_terms": ["export controls"], "evasion_cues": ["smuggling"],
                                "evidence": evidence}
    if kinds is not None:
        analysis["kinds"] = kinds
    normalised = " ".join(text.lower().split())
    return {
        "url": url, "source": source, "fetched_url": fetched_url or url, "title": title,
        "published": published.isoformat() if isinstance(published, datetime) else published,
        "authors": "[]", "language": "en", "text": text, "text_hash": hashlib.sha1(normalised.encode()).hexdigest(),
        "score": score, "analysis": json.dumps(analysis), "story_id": None,
        "processed_at": (processed_at or NOW).isoformat(timespec="seconds"),
    }


@pytest.fixture
def add_article(store: Any) -> Callable[..., dict[str, Any]]:
    """Insert an article row (see `article_row` for the keyword arguments)."""

    def add(url: str, **fields: Any) -> dict[str, Any]:
        row = article_row(url, **fields)
        with store.conn:
            store["articles"].insert(row, pk="url")
        return row

    return add


# =============================================================== 2. SMTP server

class RecordingHandler:
    """aiosmtpd handler: records messages; answers as told (e.g. '451 4.3.0 Try later')."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.hold_at: int | None = None          # hold the n-th DATA (1-based) until released
        self.held = threading.Event()
        self.release = threading.Event()
        self.data_count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.data_count += 1
            count = self.data_count
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.hold_at == count:
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        return "250 Message accepted"


class SMTPServer:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.handler = RecordingHandler()
        self.port = free_port()
        self._controller_cls = Controller
        self.controller: Any = None
        self.start()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self.controller = self._controller_cls(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.handler.release.set()
            self.controller.stop()
            self.controller = None

    def toml(self, name: str = "mail", to: str = "analyst@example.org") -> str:
        return (f'[[channels]]\nname = "{name}"\ntype = "email"\nsmtp_host = "127.0.0.1"\nsmtp_port = {self.port}\n'
                f'starttls = false\nfrom = "newsradar@example.org"\nto = ["{to}"]\ntimeout = 5\n')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    yield server
    server.stop()


# =============================================================== 3. webhook receiver

class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording JSON bodies of POSTs.

    `status` answers every request (200 by default); `hold_at` = n makes the n-th request
    (1-based) be recorded and then wait until `release` is set, so a test can kill the
    client mid-batch at a known point."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.status = 200
        self.response_body = "ok"
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests += 1
                    number = receiver.requests
                    status = receiver.status
                    if status == 200:
                        receiver.bodies.append(json.loads(raw.decode("utf-8")))
                if receiver.hold_at == number:
                    receiver.held.set()
                    receiver.release.wait(30)
                body = (receiver.response_body if status == 200 else f"error {status}").encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (killed): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def toml(self, name: str = "slack") -> str:
        return f'[[channels]]\nname = "{name}"\ntype = "slack"\nwebhook_url = "{self.url}"\ntimeout = 5\n'

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
