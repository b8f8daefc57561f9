"""The crawl stage: discover and fetch article pages from configured sources into the store.

Public face: `probe_sources` / `record_quiet` (which sources have anything new, asked of
their listings directly; see crawler.probe), `start_crawl` (a child process running
Scrapy for the others) and `read_summary` (what a run did, per source, from the `runs`
table).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Sequence


from crawler.probe import ProbeResult, probe_sources, record_quiet
from newsradar.config import Config, Source
from newsradar.store import Database, StoreError


@dataclass(frozen=True)
class SourceRun:
    source: str
    status: str
    discovered: int
    fetched: int
    new: int
    not_modified: int
    skipped: int
    errors: int
    last_error: str | None


EXIT_STORE_ERROR = 3  # crawler.pipelines.EXIT_STORE_ERROR (not imported: that would load Scrapy)
STORE_ERROR_PREFIX = "newsradar-crawl: store-error: "


class CrawlProcess:
    """A running crawl child; `run_group` identifies its rows in `runs`."""

    def __init__(self, popen: subprocess.Popen[bytes], run_group: str, log_file: str | None = None,
                 db_path: str = "") -> None:
        self.popen = popen
        self.run_group = run_group
        self.log_file = log_file
        self.db_path = db_path

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """The child's exit status; a child that could not write the store raises StoreError,
        so the caller fails loudly (exit 1) instead of reporting a run that kept nothing."""
        code = self.popen.wait(timeout)
        if code == EXIT_STORE_ERROR:
            raise StoreError(self.store_error())
        return code

    def store_error(self) -> str:
        reason = f"{self.db_path}: the crawl process could not write to the database"
        if self.log_file:
            try:
                with open(self.log_file, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - 65536))
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                lines = []
            for line in reversed(lines):
                if line.startswith(STORE_ERROR_PREFIX):
                    return line[len(STORE_ERROR_PREFIX):]
            reason += f" (see {self.log_file})"
        return reason

    def stop(self, grace: float = 5.0) -> int:
        """SIGTERM lets Scrapy close the spider and the pipeline flush what it has; a second
        SIGTERM (Scrapy's "force") and then SIGKILL bound the wait. Pages not yet committed
        are simply fetched again next run."""
        for attempt in range(3):
            if not self.running():
                break
            if attempt < 2:
                self.popen.terminate()
            else:
                self.popen.kill()
            try:
                self.popen.wait(grace if attempt == 0 else 2.0)
            except subprocess.TimeoutExpired:
                continue
        return self.popen.wait()


def new_run_group() -> str:
    """The id that ties together the `runs` rows of one run (crawled and probed sources)."""
    return uuid.uuid4().hex[:12]


def start_crawl(config: Config, sources: Sequence[Source], *, log_file: str | None = None,
                run_group: str | None = None) -> CrawlProcess:
    run_group = run_group or new_run_group()
    cmd = [sys.executable, "-m", "crawler.run", str(config.path.resolve()), "--run-group", run_group]
    for source in sources:
        cmd += ["--source", source.name]
    stderr = open(log_file, "ab") if log_file else None
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    if stderr:
        stderr.close()
    return CrawlProcess(popen, run_group, log_file, str(config.storage.path))


def read_summary(db: Database, run_group: str) -> list[SourceRun]:
    rows = db.execute(
        "select r.source, r.status, r.discovered, r.fetched, r.new, r.not_modified, r.skipped, r.errors, "
        "s.last_error from runs r left join sources s on s.name = r.source where r.run_group = ? "
        "order by r.source", [run_group]).fetchall()
    return [SourceRun(source=r[0], status=r[1], discovered=r[2], fetched=r[3], new=r[4], not_modified=r[5],
                      skipped=r[6], errors=r[7], last_error=r[8] if r[7] else None) for r in rows]


__all__ = ["CrawlProcess", "ProbeResult", "SourceRun", "new_run_group", "probe_sources", "read_summary",
           "record_quiet", "start_crawl"]
