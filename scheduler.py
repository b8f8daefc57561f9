"""The newsradar service: `python scheduler.py -c config.toml` is `newsradar run`.

Design (why it looks like this):
- Twisted's reactor cannot be restarted within a process, so each poll runs Scrapy in a
  child process (`crawler.start_crawl`). This process stays long-lived and keeps the
  spaCy pipeline loaded, so a poll pays ~1 s of child start-up instead of reloading NLP.
- APScheduler 3.x: one interval job per source (with jitter, coalesced, one instance at a
  time), a delivery-retry job, a maintenance job and a heartbeat. Polls share one worker
  thread (one crawl at a time per database, as `newsradar crawl` does); deliveries and
  upkeep have their own thread, so a slow crawl never holds back an alert.
- State lives in SQLite: after a restart each source's first poll follows from its last
  run; pages fetched but not analysed, and deliveries pending, are picked up.
- SIGINT/SIGTERM: stop scheduling, ask the running crawl child to stop (it flushes what it
  has), finish the current transaction, exit 0. A second signal exits at once; SQLite's
  WAL keeps the file consistent.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import random
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger("newsradar.service")

HEARTBEAT_SECONDS = 30
STOP_GRACE_SECONDS = 20
MAX_BACKOFF_FACTOR = 8


class Service:
    """Owns the scheduler, the stop flag and the per-job store connections."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.active = 0  # jobs running now; guarded by `idle`
        self.idle = threading.Condition()
        self.scheduler = BackgroundScheduler(
            executors={"polls": ThreadPoolExecutor(1), "upkeep": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )

    # -- jobs -------------------------------------------------------------------------

    @contextlib.contextmanager
    def job(self) -> Iterator[bool]:
        """Counts running jobs so a stop can wait for them *before* shutting APScheduler down
        (its shutdown holds the job-store lock that a finishing job may still need)."""
        with self.idle:
            if self.stopping.is_set():
                yield False
                return
            self.active += 1
        try:
            yield True
        finally:
            with self.idle:
                self.active -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.active == 0, timeout)

    def poll_source(self, name: str) -> None:
        """discover -> fetch -> extract -> tag -> score -> alert for one source."""
        with self.job() as go:
            if go:
                self._poll_source(name)

    def _poll_source(self, name: str) -> None:
        from newsradar.pipeline import crawl_lock, run_pipeline
        from newsradar.store import open_db

        started = time.monotonic()
        source = self.config.source(name)
        db = open_db(self.config.storage.path)
        try:
            with crawl_lock(self.config.storage.path,
                            on_wait=lambda m: logger.info("source=%s event=waiting detail=%r", name, m)):
                report = run_pipeline(self.config, db, [source], stop=self.stopping, workers=0,
                                      crawl_log=str(self.config.storage.path) + ".crawl.log")
            runs = {r.source: r for r in report.sources}
            run = runs.get(name)
            logger.info(
                "source=%s stage=poll status=%s new=%s analysed=%d alerts=%d duration=%.2f", name,
                run.status if run else "failed", run.new if run else 0, report.nlp.processed,
                len(getattr(report.alerts, "alerts", None) or ()), time.monotonic() - started)
            if not self.stopping.is_set():
                self.after_poll(db, name)
        except Exception:
            logger.exception("source=%s stage=poll status=error", name)
        finally:
            db.conn.close()

    def after_poll(self, db: Any, name: str) -> None:
        """Back off a failing source (it never blocks the others) and record its next run."""
        row = db.execute("select consecutive_failures from sources where name = ?", [name]).fetchone()
        failures = row[0] if row and row[0] else 0
        job = self.scheduler.get_job(f"poll:{name}")
        if job is None:
            return
        interval = self.config.source(name).interval
        next_run = job.next_run_time
        if failures >= 2:
            factor = min(2 ** (failures - 1), MAX_BACKOFF_FACTOR)
            next_run = datetime.now(timezone.utc) + timedelta(seconds=interval * factor)
            job.modify(next_run_time=next_run)
            logger.warning("source=%s event=backoff consecutive_failures=%d next_run=%s", name, failures,
                           next_run.isoformat(timespec="seconds"))
        if next_run is not None:
            with db.conn:
                db.table("sources").upsert({"name": name, "next_run_at": next_run.isoformat(timespec="seconds")},
                                     pk="name")

    def deliver(self) -> None:
        import alerts
        from newsradar.store import open_db

        with self.job() as go:
            if not go:
                return
            db = open_db(self.config.storage.path)
            try:
                report = alerts.deliver_pending(self.config, db)
                logger.info("stage=deliver %s", report)
            except Exception:
                logger.exception("stage=deliver status=error")
            finally:
                db.conn.close()

    def maintain(self) -> None:
        """Checkpoint the WAL and prune the fetch log, so the file doesn't grow for months."""
        from newsradar.store import open_db

        db = open_db(self.config.storage.path)
        try:
            cutoff = (datetime.now(timezone.utc) - timedelta(days=self.config.scheduler.keep_fetch_log_days))
            with db.conn:
                pruned = db.execute("delete from fetch_log where at < ?",
                                    [cutoff.isoformat(timespec="seconds")]).rowcount
            db.execute("pragma wal_checkpoint(truncate)")
            logger.info("stage=maintenance pruned_fetch_log=%d", pruned)
        finally:
            db.conn.close()

    def heartbeat(self) -> None:
        from newsradar.store import now_iso, open_db, set_meta

        db = open_db(self.config.storage.path)
        try:
            set_meta(db, "heartbeat", f"{now_iso()} pid={os.getpid()}")
        finally:
            db.conn.close()

    # -- life cycle -------------------------------------------------------------------

    def first_run(self, last_run_at: str | None, interval: float) -> datetime:
        """After a restart a source's next poll follows from its last run, not from zero."""
        now = datetime.now(timezone.utc)
        if not last_run_at:
            return now + timedelta(seconds=random.uniform(0, min(self.config.scheduler.jitter, interval / 4)))
        try:
            last = datetime.fromisoformat(last_run_at)
        except ValueError:
            return now
        return max(now, last + timedelta(seconds=interval))

    def schedule(self) -> None:
        from newsradar.store import open_db

        db = open_db(self.config.storage.path)
        try:
            last_runs = {row[0]: row[1] for row in db.execute("select name, last_run_at from sources")}
            for source in self.config.sources:
                first = self.first_run(last_runs.get(source.name), source.interval)
                self.scheduler.add_job(
                    self.poll_source, "interval", args=[source.name], id=f"poll:{source.name}",
                    seconds=source.interval, jitter=min(self.config.scheduler.jitter, source.interval / 4),
                    next_run_time=first, executor="polls", name=f"poll {source.name}")
                with db.conn:
                    db.table("sources").upsert({"name": source.name, "next_run_at": first.isoformat(timespec="seconds")},
                                         pk="name")
        finally:
            db.conn.close()
        now = datetime.now(timezone.utc)
        self.scheduler.add_job(self.deliver, "interval", seconds=self.config.scheduler.delivery_interval,
                               id="deliver", executor="upkeep", next_run_time=now)
        self.scheduler.add_job(self.maintain, "interval", seconds=self.config.scheduler.maintenance_interval,
                               id="maintain", executor="upkeep")
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat",
                               executor="upkeep", next_run_time=now)

    def run(self) -> int:
        """Block until SIGINT/SIGTERM; exit 0 after a clean stop."""
        signals_seen = 0

        def on_signal(signum: int, frame: Any) -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen > 1:
                logger.warning("event=second-signal action=exit-now")
                os._exit(1)
            logger.info("event=stop signal=%s", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` shows where it is stuck
        self.schedule()
        self.scheduler.start()
        logger.info("event=started sources=%d db=%s pid=%d", len(self.config.sources), self.config.storage.path,
                    os.getpid())
        while not self.stopping.wait(1.0):
            pass
        self.scheduler.pause()
        if not self.wait_idle(STOP_GRACE_SECONDS):  # running steps see `stopping` and wind down
            logger.warning("event=stop-timeout detail=%r", "a job did not finish; exiting anyway")
        self.scheduler.shutdown(wait=False)
        logger.info("event=stopped")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    from newsradar.cli import fail, setup_logging
    from newsradar.config import ConfigError, load_config
    from newsradar.store import StoreError, open_db

    parser = argparse.ArgumentParser(prog="scheduler.py", description="the newsradar service (newsradar run)")
    parser.add_argument("-c", "--config", default="config.toml")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        config = load_config(Path(args.config))
        open_db(config.storage.path).conn.close()  # fail early on an unwritable store
    except ConfigError as exc:
        fail(str(exc))
        return 2
    except StoreError as exc:
        fail(f"error: {exc}")
        return 1
    return Service(config).run()


if __name__ == "__main__":
    sys.exit(main())
