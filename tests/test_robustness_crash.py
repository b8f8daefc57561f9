"""SIGKILL at known points of `newsradar crawl`, then restarts: nothing lost, nothing twice.

`python -m newsradar crawl` runs in its own session and its crawl child with it, so
`os.killpg` kills both, like a power cut or the OOM killer. The kill points are made
deterministic: the fixture server holds one article request open (fetching), and a
test-only fault injector (see `test_robustness_helpers.SITECUSTOMIZE`) pauses the
crawl child inside its batch transaction, the NLP stage while tagging a batch, and the
NLP stage inside its write transaction. After each kill the database must pass
`PRAGMA integrity_check`; after the last, uninterrupted run every article is stored
and processed exactly once and every alert was posted to the webhook exactly once.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import wait_until
from newsradar.outlets import OutletRequestHandler, OutletServer, Route
from newsradar.store import open_db
from test_robustness_helpers import fault_env, integrity_ok, kill_group, page, rss, start_cli

COMPANIES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper", "Larch",
             "Maple", "Oak", "Pine"]
COUNTRIES = ["Malaysia", "Singapore", "Thailand", "Vietnam", "Indonesia", "the United Arab Emirates", "India",
             "Kazakhstan", "Turkey", "Armenia", "Georgia", "Mexico", "Brazil", "Kenya"]


def story(i: int) -> tuple[str, str]:
    company, country = COMPANIES[i], COUNTRIES[i]
    title = f"{company} Compute smuggled restricted Nvidia chips through {country} to evade export controls"
    body = (f"{company} Compute, a shell company registered in {country}, bought restricted Nvidia processors and "
            f"shipped them to China in breach of US export controls, prosecutors said in case number {1000 + i}. "
            f"The chips were smuggled through {country} to get around the licence requirement, the indictment says. "
            f"Officials in {country} said they would move to close the loophole.")
    return title, body


N = len(COMPANIES)
HOLD = "/news/story-4"


def count(db_path: Path, sql: str) -> int:
    db = open_db(db_path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.conn.close()



def kill_at_fault(tmp_path: Path, fault: str, nth: int, args: list[str], out: Path) -> None:
    """Run the CLI until it reaches the fault point (it writes a marker and waits), then SIGKILL it."""
    env, marker = fault_env(tmp_path, fault, nth)
    proc = start_cli(args, env, out)
    try:
        wait_until(marker.exists, timeout=60, interval=0.02)
    finally:
        kill_group(proc)

def test_sigkill_at_every_stage_then_restart_loses_nothing_and_repeats_nothing(tmp_path: Path,
                                                                               webhook: Any) -> None:
    held, release = threading.Event(), threading.Event()

    def hold(handler: OutletRequestHandler) -> None:
        if not release.is_set():
            held.set()
            release.wait(30)  # answered only after the client is dead
        title, body = story(4)
        try:
            handler.send_route(Route(page(title, body)))
        except OSError:
            pass

    with OutletServer() as server:
        for i in range(N):
            title, body = story(i)
            server.routes[f"/news/story-{i}"] = Route(page(title, body))
        server.routes[HOLD] = hold
        server.routes["/feed.xml"] = Route(rss(server.base, [f"/news/story-{i}" for i in range(N)]),
                                           content_type="application/rss+xml")
        config = tmp_path / "config.toml"
        config.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\ntimeout = 20\nconcurrency_per_host = 2\n'
                          f'[detection]\nbatch_size = 3\n'
                          f'[[sources]]\nname = "wire"\nfeeds = ["{server.base}/feed.xml"]\n' + webhook.toml())
        db_path = tmp_path / "t.db"
        out = tmp_path / "cli.out"
        args = ["crawl", "-c", str(config)]

        # 1. killed while fetching: the server holds one article request open
        proc = start_cli(args, fault_env(tmp_path, None)[0], out)
        try:
            assert wait_until(held.is_set, timeout=60)
        finally:
            kill_group(proc)
        release.set()
        assert integrity_ok(db_path)
        after_fetch_kill = count(db_path, "select count(*) from pages")
        assert after_fetch_kill < N
        # the feed's ETag is not kept from a run that did not finish: a 304 next time would
        # hide the articles this run never got to
        assert count(db_path, "select count(*) from listings where etag is not null") == 0

        # 2. killed inside the crawl child's batch transaction (pages inserted, not committed)
        stored_before = count(db_path, "select count(*) from pages")
        kill_at_fault(tmp_path, "crawl-flush", 1, args, out)
        assert integrity_ok(db_path)
        assert count(db_path, "select count(*) from pages") == stored_before  # the open batch rolled back

        # 3. killed while the NLP stage tags a batch (extracted, nothing written)
        kill_at_fault(tmp_path, "nlp-tag", 1, args, out)
        assert integrity_ok(db_path)
        processed_before = count(db_path, "select count(*) from articles")

        # 4. killed inside the NLP write transaction (two articles written, not committed)
        kill_at_fault(tmp_path, "nlp-write", 2, args, out)
        assert integrity_ok(db_path)
        assert count(db_path, "select count(*) from articles") == processed_before  # rolled back
        assert count(db_path, "select count(*) from deliveries") == 0  # no alert could be sent yet

        # 5. the restart runs to the end
        proc = start_cli(args, fault_env(tmp_path, None)[0], out)
        assert proc.wait(timeout=120) == 0, out.read_text()[-3000:]
        # 6. and a second run finds nothing new to send
        proc = start_cli(args, fault_env(tmp_path, None)[0], out)
        assert proc.wait(timeout=120) == 0, out.read_text()[-3000:]
        requests = Counter(server.paths())

    assert integrity_ok(db_path)
    db = open_db(db_path)
    try:
        pages = dict(db.execute("select url, state from pages").fetchall())
        assert len(pages) == N and set(pages.values()) == {"processed"}, pages  # none lost
        assert db.execute("select count(*), count(distinct fetched_url) from articles").fetchone() == (N, N)
        assert db.execute("select count(*) from mentions m left join articles a on a.url = m.article_url "
                          "where a.url is null").fetchone()[0] == 0
        alerts = db.execute("select count(*) from alerts").fetchone()[0]
        states = Counter(s for (s,) in db.execute("select state from deliveries"))
    finally:
        db.conn.close()
    assert alerts >= 1 and states == Counter({"sent": alerts}), states
    # every alert reached the webhook exactly once, across all the kills and restarts
    texts = [b["text"] for b in webhook.bodies]
    assert len(texts) == alerts and len(set(texts)) == alerts, texts
    # an article stored before a kill is never fetched again (held / rolled-back ones are retried)
    assert all(requests[f"/news/story-{i}"] <= 4 for i in range(N)), requests
    assert "Traceback" not in out.read_text()
