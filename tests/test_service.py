"""`newsradar run` as users run it: a subprocess, fixture outlets, a real SMTP server and webhook.

A story published mid-run must reach both receivers within the source's interval plus
15 s; SIGTERM must stop the service cleanly; a restart must send nothing again.
"""

from __future__ import annotations

import html
import os
import signal
import subprocess
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from conftest import wait_until
from newsradar.outlets import OutletServer, Route
from newsradar.store import open_db

INTERVAL = 3.0
LATENCY_BUDGET = INTERVAL + 15

STORIES = [
    ("chip-rental-loophole-malaysia",
     "Chinese AI firms rent restricted Nvidia chips in Malaysian data centres to get around export controls",
     ["Chinese technology companies barred from buying advanced Nvidia processors are renting remote access to "
      "the same chips in data centres in Malaysia, sidestepping US export controls, people familiar with the "
      "arrangements said.",
      "The leases are signed through a shell company, so the Chinese customers never appear on the contracts.",
      "US officials said they were studying the loophole and could move to close it."]),
    ("singapore-server-diversion-charges",
     "Singapore charges three men with diverting servers to China in breach of US export controls",
     ["Prosecutors in Singapore charged three men with fraud on Thursday, accusing them of diverting servers "
      "with restricted processors to buyers in China in violation of US export controls.",
      "The men allegedly lied to suppliers about the end users, and the equipment was transshipped through "
      "Malaysia, investigators said.",
      "The case is part of a wider crackdown on chip smuggling through third countries."]),
    ("hong-kong-front-companies-fpga",
     "Hong Kong front companies bought US chips for a sanctioned drone maker, indictment says",
     ["Federal prosecutors charged two businessmen with running front companies in Hong Kong that bought "
      "American programmable chips for a Chinese drone manufacturer on the Entity List.",
      "The indictment says the parts were smuggled to the mainland to evade the licence requirement that "
      "applies to the sanctioned company.",
      "The Justice Department said the scheme moved millions of dollars of controlled components."]),
]


class Newsroom:
    """A fixture outlet whose RSS feed can gain stories while the service runs."""

    def __init__(self, server: OutletServer) -> None:
        self.server = server
        self.items: list[str] = []
        self.publish_feed()

    def publish_feed(self) -> None:
        self.server.routes["/feed.xml"] = Route(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>' + "".join(self.items)
            + "</channel></rss>", content_type="application/rss+xml")

    def publish(self, slug: str, title: str, paragraphs: list[str]) -> None:
        now = datetime.now(timezone.utc)
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        self.server.routes[f"/news/{slug}"] = Route(
            f"<html><head><title>{html.escape(title)}</title></head><body><article><h1>{html.escape(title)}</h1>"
            f"{body}</article></body></html>")
        self.items.insert(0, f"<item><title>{html.escape(title)}</title><link>{self.server.base}/news/{slug}</link>"
                             f"<pubDate>{format_datetime(now)}</pubDate></item>")
        self.publish_feed()


def start_service(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "newsradar", "run", "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"), stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_service(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("service did not stop within 20 s of SIGTERM\n" + log.read_text()[-3000:])
    assert code == 0, log.read_text()[-3000:]


def last_run(db_path: Path, name: str) -> str | None:
    if not db_path.exists():
        return None
    db = open_db(db_path)
    try:
        row = db.execute("select last_run_at from sources where name = ?", [name]).fetchone()
        return row[0] if row else None
    finally:
        db.conn.close()


def titles_mailed(smtp_server: Any) -> list[str]:
    return [str(m["Subject"]) for m in smtp_server.messages]


def titles_posted(webhook: Any) -> list[str]:
    return [b.get("text", "") for b in webhook.bodies]


def test_service_alerts_within_interval_and_restarts_without_resending(tmp_path: Path, smtp_server: Any,
                                                                          webhook: Any) -> None:
    with OutletServer() as server:
        newsroom = Newsroom(server)
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\npath = "svc.db"\n[crawl]\ndelay = 0\ntimeout = 5\n'
            f'[scheduler]\ndelivery_interval = "2s"\njitter = 0\n'
            f'[[sources]]\nname = "wire"\nfeeds = ["{server.base}/feed.xml"]\ninterval = "{int(INTERVAL)}s"\n'
            + smtp_server.toml() + webhook.toml())
        db_path = tmp_path / "svc.db"
        log = tmp_path / "service.log"
        proc = start_service(config, log)
        try:
            wait_until(lambda: last_run(db_path, "wire"), timeout=60, interval=0.1)
            latencies = []
            for slug, title, paragraphs in STORIES:
                published = time.monotonic()
                newsroom.publish(slug, title, paragraphs)
                wait_until(lambda: any(title in t for t in titles_mailed(smtp_server))
                           and any(title in t for t in titles_posted(webhook)), timeout=LATENCY_BUDGET + 30,
                           interval=0.05)
                latencies.append(time.monotonic() - published)
            print(f"alert latency seconds: {[round(x, 2) for x in latencies]}")
            assert max(latencies) <= LATENCY_BUDGET, latencies
        finally:
            stop_service(proc, log)
        mailed, posted = len(smtp_server.messages), len(webhook.bodies)
        assert mailed == 3 and posted == 3, (titles_mailed(smtp_server), titles_posted(webhook))

        # restart: polls happen again, nothing is re-sent
        before = last_run(db_path, "wire")
        proc = start_service(config, log)
        try:
            wait_until(lambda: (last_run(db_path, "wire") or "") > (before or ""), timeout=60, interval=0.1)
            deliveries_done = open_db(db_path).execute(
                "select count(*) from deliveries where state != 'sent'").fetchone()[0]
            assert deliveries_done == 0
        finally:
            stop_service(proc, log)
        assert len(smtp_server.messages) == mailed and len(webhook.bodies) == posted
        text = log.read_text()
        assert "event=stopped" in text and "Traceback" not in text, text[-3000:]


def test_second_signal_exits_at_once_and_database_stays_sound(tmp_path: Path) -> None:
    with OutletServer() as server:
        server.routes["/feed.xml"] = Route('<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>',
                                           content_type="application/rss+xml")
        config = tmp_path / "config.toml"
        config.write_text(f'[storage]\npath = "svc.db"\n[crawl]\ndelay = 0\n[[sources]]\nname = "w"\n'
                          f'feeds = ["{server.base}/feed.xml"]\ninterval = "1h"\n')
        log = tmp_path / "service.log"
        proc = start_service(config, log)
        wait_until(lambda: last_run(tmp_path / "svc.db", "w"), timeout=60, interval=0.1)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    db = open_db(tmp_path / "svc.db")
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_next_run_follows_from_last_run_and_failing_sources_back_off(tmp_path: Path) -> None:
    from datetime import timedelta

    import scheduler
    from newsradar.config import load_config

    config_path = tmp_path / "config.toml"
    config_path.write_text('[storage]\npath = "svc.db"\n[scheduler]\njitter = 0\n'
                           '[[sources]]\nname = "a"\nfeeds = ["https://a.example/feed"]\ninterval = "10m"\n'
                           '[[sources]]\nname = "b"\nfeeds = ["https://b.example/feed"]\ninterval = "10m"\n')
    config = load_config(config_path)
    db = open_db(config.storage.path)
    now = datetime.now(timezone.utc)
    with db.conn:
        db["sources"].insert_all([
            {"name": "a", "last_run_at": (now - timedelta(minutes=4)).isoformat(timespec="seconds"),
             "consecutive_failures": 0},
            {"name": "b", "last_run_at": (now - timedelta(hours=3)).isoformat(timespec="seconds"),
             "consecutive_failures": 3},
        ], pk="name")
    service = scheduler.Service(config)
    service.schedule()
    first_a = service.scheduler.get_job("poll:a").next_run_time
    first_b = service.scheduler.get_job("poll:b").next_run_time
    # a ran 4 minutes ago: its next poll is about 6 minutes away, not 10 and not now
    assert timedelta(minutes=5) < first_a - now < timedelta(minutes=7)
    # b is overdue: it runs now
    assert first_b - now < timedelta(seconds=5)
    # b has failed 3 times in a row: after a poll it backs off to 4x its interval
    service.after_poll(db, "b")
    backoff = service.scheduler.get_job("poll:b").next_run_time - datetime.now(timezone.utc)
    assert timedelta(minutes=39) < backoff <= timedelta(minutes=40)
    assert open_db(config.storage.path)["sources"].get("b")["next_run_at"]
