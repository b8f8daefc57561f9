"""Shared helpers of the robustness tests (this module has no tests of its own).

Hostile fixture outlets, a crawl run that reports the child's peak memory, a dump of the
whole database for grepping, and a test-only fault injector: a `sitecustomize` written
into a temporary directory on PYTHONPATH that pauses a chosen stage at a known point,
so a test can SIGKILL the process group there.
"""

from __future__ import annotations

import html
import os
import signal
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import crawler
from newsradar.config import Config
from newsradar.store import open_db

REPO = Path(__file__).resolve().parents[1]

STORY_TEXT = (
    "Chinese technology companies barred from buying advanced Nvidia processors are renting remote access to "
    "the same chips in data centres in Malaysia, sidestepping US export controls, people familiar with the "
    "arrangements said. The leases are signed through a shell company, so the Chinese customers never appear "
    "on the contracts. US officials said they were studying the loophole and could move to close it."
)


def page(title: str, body: str = STORY_TEXT, head: str = "") -> str:
    return (f"<html><head><title>{title}</title>{head}</head><body><article><h1>{title}</h1>"
            f"<p>{body}</p></article></body></html>")


def rss_items(base: str, links: list[str], pubdate: str = "") -> str:
    """RSS items; links starting with one '/' are made absolute on `base`, others kept as given."""
    date = f"<pubDate>{pubdate}</pubDate>" if pubdate else ""
    full = [base + link if link.startswith("/") and not link.startswith("//") else link for link in links]
    return "".join(f"<item><title>Item {i}</title><link>{html.escape(link)}</link>{date}</item>"
                   for i, link in enumerate(full))


def rss(base: str, links: list[str], pubdate: str = "") -> str:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{rss_items(base, links, pubdate)}'
            "</channel></rss>")


def gzip_bomb(inflated_mb: int) -> bytes:
    """A gzip stream of `inflated_mb` MiB of zeros (about 1 KiB per MiB on the wire)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    return b"".join([c.compress(chunk) for _ in range(inflated_mb)] + [c.flush()])


MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_crawl_measured(config: Config, log: Path, timeout: float = 60) -> tuple[list[crawler.SourceRun], float, int]:
    """Run the crawl child like `crawler.start_crawl`; return summary, seconds and its peak RSS (KiB).

    The child is started by a small wrapper that reports RUSAGE_CHILDREN: measured from
    this (large) test process, the peak would include the pages a fork shares with us.
    """
    run_group = uuid.uuid4().hex[:12]
    cmd = [sys.executable, "-m", "crawler.run", str(config.path.resolve()), "--run-group", run_group]
    started = time.monotonic()
    with log.open("ab") as err:
        try:
            result = subprocess.run([sys.executable, "-c", MEASURE, *cmd], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err, cwd=str(REPO), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"crawl did not finish within {timeout}s:\n{log.read_text()[-3000:]}") from None
    seconds = time.monotonic() - started
    assert result.returncode == 0, log.read_text()[-3000:]
    db = open_db(config.storage.path)
    try:
        return crawler.read_summary(db, run_group), seconds, int(result.stdout.decode().strip().splitlines()[-1])
    finally:
        db.conn.close()


def dump_database(path: Path) -> str:
    """Every row of every table as text (for grepping secrets and markers)."""
    db = open_db(path, migrate_schema=False)
    try:
        out = []
        for table in db.table_names():
            for row in db.execute(f"select * from [{table}]"):
                out.append(f"{table}: " + " | ".join("" if v is None else (v.decode("latin-1") if isinstance(v, bytes)
                                                                               else str(v)) for v in row))
        return "\n".join(out)
    finally:
        db.conn.close()


# ----------------------------------------------------------------- fault injection

SITECUSTOMIZE = r'''
"""Test-only fault injection (written by tests/test_robustness_helpers.py).

NR_TEST_FAULT=<point>:<n> pauses the n-th time <point> is reached: the process writes
NR_TEST_FAULT_MARKER and sleeps, so the test can SIGKILL it there. Points:
  crawl-flush  crawler.pipelines: inside the batch transaction, pages inserted, not committed
  nlp-tag      nlp.detect.Detector.analyse_many: a batch extracted, being tagged
  nlp-write    nlp.mention_rows: inside the NLP batch transaction, the batch's articles written
"""
import importlib.abc, importlib.util, os, sys, time

_FAULT = os.environ.get("NR_TEST_FAULT", "")
_POINT, _, _N = _FAULT.partition(":")
_COUNT = [0]


def _pause_if_due():
    _COUNT[0] += 1
    if _COUNT[0] == int(_N or 1):
        with open(os.environ["NR_TEST_FAULT_MARKER"], "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(1)


def _patch_pipelines(module):
    import sqlite_utils.db as sdb

    original = sdb.Table.insert_all

    def insert_all(self, records, *args, **kwargs):
        result = original(self, records, *args, **kwargs)
        if self.name == "url_aliases":  # called inside StorePipeline.flush's transaction
            _pause_if_due()
        return result

    sdb.Table.insert_all = insert_all


def _patch_detect(module):
    original = module.Detector.analyse_many

    def analyse_many(self, docs, batch_size=32):
        _pause_if_due()
        return original(self, docs, batch_size)

    module.Detector.analyse_many = analyse_many


def _patch_nlp(module):
    original = module.mention_rows

    def mention_rows(*args, **kwargs):
        rows = original(*args, **kwargs)
        _pause_if_due()
        return rows

    module.mention_rows = mention_rows


_TARGETS = {"crawl-flush": ("crawler.pipelines", _patch_pipelines), "nlp-tag": ("nlp.detect", _patch_detect),
            "nlp-write": ("nlp", _patch_nlp)}


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name, patch):
        self.name, self.patch = name, patch

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        exec_module = spec.loader.exec_module
        patch = self.patch

        def patched(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = patched
        return spec


if _POINT in _TARGETS:
    sys.meta_path.insert(0, _Finder(*_TARGETS[_POINT]))
'''


def fault_env(tmp_path: Path, point: str | None, n: int = 1) -> tuple[dict[str, str], Path]:
    """Environment for a subprocess with the fault injector; returns (env, marker path)."""
    directory = tmp_path / "faults"
    directory.mkdir(exist_ok=True)
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE)
    marker = tmp_path / f"fault-{point}-{n}.marker"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(directory), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                       else []))
    env.pop("NR_TEST_FAULT", None)
    if point:
        env["NR_TEST_FAULT"] = f"{point}:{n}"
        env["NR_TEST_FAULT_MARKER"] = str(marker)
    env["PYTHONUNBUFFERED"] = "1"
    return env, marker


def start_cli(args: list[str], env: dict[str, str] | None, out: Path) -> subprocess.Popen[bytes]:
    """`python -m newsradar ARGS` in its own session (so its crawl child can be killed with it)."""
    env = env if env is not None else {**os.environ, "PYTHONUNBUFFERED": "1"}
    with out.open("ab") as f:
        return subprocess.Popen([sys.executable, "-m", "newsradar", *args], stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, env=env, cwd=str(REPO), start_new_session=True)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def integrity_ok(path: Path) -> bool:
    db = open_db(path, migrate_schema=False)
    try:
        return db.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        db.conn.close()


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def any_with(rows: Any, needle: str) -> bool:
    return any(needle in str(r) for r in rows)
