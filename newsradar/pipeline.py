"""One run of the whole pipeline: crawl (child process) overlapped with NLP, then alerts.

The crawl child fetches and stores pages while this process extracts, tags and scores
them as they land, so fetching and NLP use both cores. The store is the only hand-off.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import crawler
import nlp
from newsradar.config import Config, Source
from newsradar.store import Database

logger = logging.getLogger("newsradar.run")

POLL_SECONDS = 0.25
# analysed articles between story-grouping passes during a crawl: each pass re-reads the
# story window (~0.1 s); the pass after the last page groups at most this many
ASSIGN_EVERY = 400


class BusyError(Exception):
    """Another newsradar process holds the crawl lock of this database."""


@contextlib.contextmanager
def crawl_lock(db_path: Path, *, wait: bool = True, on_wait: Callable[[str], None] | None = None,
               timeout: float | None = None) -> Iterator[None]:
    """One crawl at a time per database: two would fetch and store the same articles."""
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            message = f"another newsradar process (pid {holder}) is crawling {db_path}"
            if not wait:
                raise BusyError(message) from None
            if on_wait:
                on_wait(message + "; waiting for it to finish")
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        raise BusyError(message) from None
                    time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@dataclass
class RunReport:
    sources: list[crawler.SourceRun] = field(default_factory=list)
    nlp: nlp.StageReport = field(default_factory=nlp.StageReport)
    alerts: Any = None
    alert_seconds: float = 0.0
    seconds: float = 0.0
    crawl_exit: int = 0
    probe: crawler.ProbeResult | None = None


def run_pipeline(config: Config, db: Database, sources: Sequence[Source], *, send_alerts: bool = True,
                 on_progress: Callable[[Database, RunReport], None] | None = None,
                 crawl_log: str | None = None, stop: threading.Event | None = None,
                 workers: int | None = None, probe: bool = True) -> RunReport:
    """discover -> fetch -> extract -> tag -> score -> alert, for the given sources.

    Sources whose listings show nothing new (crawler.probe) are recorded without starting
    the crawler; `probe=False` sends every source to it. `workers` processes extract and
    tag (default: `detection.workers`; the service passes 0 to keep its own warm
    pipeline). `stop` (the service's shutdown flag) ends the run early: the crawl child is
    asked to stop, finished batches are written, and what is left waits in the store.
    """
    started = time.monotonic()
    report = RunReport()
    stage = nlp.NlpStage(config, workers=config.detection.workers if workers is None else workers,
                         report=report.nlp)
    run_group = crawler.new_run_group()
    report.probe = crawler.probe_sources(config, db, sources) if probe else None
    busy = [s for s in sources if report.probe is None or s.name in report.probe.busy]
    if report.probe is not None:
        crawler.record_quiet(db, run_group, report.probe)
        logger.debug("stage=run event=probed quiet=%d busy=%d seconds=%.2f", len(report.probe.quiet), len(busy),
                     report.probe.seconds)
    child = crawler.start_crawl(config, busy, log_file=crawl_log, run_group=run_group) if busy else None
    if child is not None:
        logger.debug("stage=run event=crawl-started sources=%d workers=%d", len(busy), stage.workers)
        if report.probe is None or report.probe.expects_articles:  # else at the first page, if any
            stage.start_workers()  # pages are coming: load spaCy while the crawler starts up
    unassigned = 0

    def group_stories(written: int) -> None:
        """Group stories while pages are still being analysed (this process would wait
        anyway), so the alert step after the last page has little left to do."""
        nonlocal unassigned
        unassigned += written
        if send_alerts and unassigned >= ASSIGN_EVERY:
            import alerts

            alerts.assign_stories(config, db)
            unassigned = 0

    try:
        while child is not None and child.running():
            if stop is not None and stop.is_set():
                break
            written = stage.pump(db, wait=POLL_SECONDS, more_coming=True)
            group_stories(written)
            if on_progress:
                on_progress(db, report)
            if not written and not stage.in_flight:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=POLL_SECONDS)
        stopping = stop is not None and stop.is_set()
        if child is not None:
            report.crawl_exit = child.stop() if stopping else child.wait()
        logger.debug("stage=run event=crawl-finished exit=%d analysed=%d", report.crawl_exit, report.nlp.processed)
        report.sources = crawler.read_summary(db, run_group)
        for run in report.sources:
            logger.info("source=%s stage=fetch status=%s discovered=%d fetched=%d new=%d not_modified=%d "
                        "errors=%d", run.source, run.status, run.discovered, run.fetched, run.new,
                        run.not_modified, run.errors)
        if stopping:
            report.seconds = time.monotonic() - started
            return report
        stage.drain(db, on_written=group_stories)
        logger.debug("stage=run event=nlp-finished analysed=%d", report.nlp.processed)
    finally:
        if child is not None:
            child.stop()
        stage.close()
    if on_progress:
        on_progress(db, report)
    if send_alerts:
        import alerts

        alert_started = time.process_time()
        report.alerts = alerts.process_alerts(config, db)
        report.alert_seconds = time.process_time() - alert_started
        logger.debug("stage=run event=alerts-finished alerts=%d", len(report.alerts.alerts))
    report.seconds = time.monotonic() - started
    return report
