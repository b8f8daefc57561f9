"""The database under stress: a full disk, a read-only file, two crawls at once.

Tests run as root, for whom chmod changes nothing, so faults are made in ways that bind
root too: RLIMIT_FSIZE (writes past the limit fail with EFBIG, as on a full disk, and
SIGXFSZ is ignored so SQLite sees the error), the immutable attribute (`chattr +i`: even
root cannot write the file; SQLite opens it read-only), and a directory where the file
should be.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from conftest import wait_until
from newsradar.outlets import OutletRequestHandler, OutletServer, Route
from newsradar.store import SCHEMA_VERSION, open_db
from test_robustness_helpers import REPO, STORY_TEXT, page, rss, start_cli


def outlet(server: OutletServer, n: int, body: str = STORY_TEXT) -> None:
    for i in range(n):
        server.routes[f"/news/story-{i}"] = Route(page(f"Story number {i}", body))
    server.routes["/feed.xml"] = Route(rss(server.base, [f"/news/story-{i}" for i in range(n)]),
                                       content_type="application/rss+xml")


def flat(path: Path) -> str:
    """A console output file with Rich's line wrapping undone."""
    return " ".join(path.read_text().split())


def write_config(tmp_path: Path, base: str, db: str = "t.db") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\npath = "{db}"\n[crawl]\ndelay = 0\ntimeout = 5\n'
                    f'[[sources]]\nname = "wire"\nfeeds = ["{base}/feed.xml"]\n')
    return path


def run_cli(args: list[str], preexec: Callable[[], None] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsradar", *args], capture_output=True, text=True, cwd=str(REPO),
                          preexec_fn=preexec, timeout=timeout)


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited through exec: writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_disk_full_during_a_crawl_is_a_clear_error_and_a_failed_exit(tmp_path: Path) -> None:
    with OutletServer() as server:
        outlet(server, 10, (STORY_TEXT + " ") * 300)  # ~10 x 120 KB: more than the 400 KB the disk holds
        config = write_config(tmp_path, server.base)
        result = run_cli(["crawl", "-c", str(config), "--no-alerts"], preexec=file_size_limit(400_000))
    line = assert_one_clear_error(result, str(tmp_path / "t.db"), "cannot write to the database")
    assert "disk" in line
    log = (tmp_path / "t.db.crawl.log").read_text()
    assert "event=store-error" in log and "Traceback" not in log
    # what was committed before the disk filled is intact
    db = open_db(tmp_path / "t.db")
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_disk_already_full_at_start_is_a_clear_error(tmp_path: Path) -> None:
    with OutletServer() as server:
        outlet(server, 1)
        config = write_config(tmp_path, server.base)
        result = run_cli(["crawl", "-c", str(config), "--no-alerts"], preexec=file_size_limit(8192))
    assert_one_clear_error(result, "cannot open database")
    assert server.paths() == []  # nothing fetched that could not be kept


def test_read_only_database_refuses_the_crawl_loudly_but_still_reads(tmp_path: Path) -> None:
    with OutletServer() as server:
        outlet(server, 3)
        config = write_config(tmp_path, server.base)
        db_path = tmp_path / "t.db"
        open_db(db_path).conn.close()
        if subprocess.run(["chattr", "+i", str(db_path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available on this file system")
        try:
            crawl = run_cli(["crawl", "-c", str(config), "--no-alerts"])
            stories = run_cli(["stories", "-c", str(config), "--json"])
        finally:
            subprocess.run(["chattr", "-i", str(db_path)], check=True)
    assert_one_clear_error(crawl, str(db_path), "read-only")
    assert stories.returncode == 0 and stories.stdout.strip() == "[]", stories.stderr


def test_storage_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "t.db").mkdir()
    config = write_config(tmp_path, "http://127.0.0.1:9")
    result = run_cli(["crawl", "-c", str(config)])
    assert result.returncode == 2
    assert result.stderr.strip() == f'{config}: storage.path: "t.db" is a directory, not a database file'


def test_many_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    code = f"from newsradar.store import open_db; open_db({str(path)!r}).conn.close()"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=str(REPO), stderr=subprocess.PIPE)
             for _ in range(6)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    db = open_db(path)
    assert db.execute("select value from meta where key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_two_crawls_started_at_once_one_waits_and_nothing_is_duplicated(tmp_path: Path) -> None:
    first_feed, release = threading.Event(), threading.Event()
    feed = {"route": None}

    def hold_first_feed(handler: OutletRequestHandler) -> None:
        if not first_feed.is_set():
            first_feed.set()
            release.wait(30)
        handler.send_route(feed["route"])

    with OutletServer() as server:
        outlet(server, 6)
        feed["route"] = server.routes["/feed.xml"]
        server.routes["/feed.xml"] = hold_first_feed
        config = write_config(tmp_path, server.base)
        outs = [tmp_path / "a.out", tmp_path / "b.out"]
        procs = [start_cli(["crawl", "-c", str(config), "--no-alerts"], None, out) for out in outs]
        try:
            wait_until(first_feed.is_set, timeout=60)
            waiting = wait_until(lambda: [o for o in outs if "waiting for it to finish" in flat(o)],
                                 timeout=30, interval=0.05)
            release.set()
            codes = [p.wait(timeout=90) for p in procs]
        finally:
            release.set()
            for p in procs:
                if p.poll() is None:
                    p.kill()
        requests = Counter(server.paths())
    assert codes == [0, 0], [o.read_text()[-2000:] for o in outs]
    assert len(waiting) == 1
    assert f"another newsradar process (pid {procs[outs.index(waiting[0]) ^ 1].pid}) is crawling" in flat(waiting[0])
    assert all(requests[f"/news/story-{i}"] == 1 for i in range(6)), requests  # fetched once, by the first
    db = open_db(tmp_path / "t.db")
    assert db.execute("select count(*), count(distinct fetched_url) from pages").fetchone() == (6, 6)
    assert db.execute("select count(*) from articles").fetchone()[0] == 6
    assert "Traceback" not in "".join(o.read_text() for o in outs)
