"""The item pipeline that persists the crawl: batched writes to `pages`, `url_aliases`,
`listings`, `runs`, `sources` and `fetch_log`.

One transaction per batch (not per row): SQLite does ~20,000 rows/s in one transaction
and ~430 rows/s with a commit per row. Batches are small and frequent so the NLP stage,
which reads the same file, sees pages within about a second of their download.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro

from crawler.items import ListingFetched, PageFetched, SourceEvent
from crawler.records import record_listing, record_source_run
from newsradar.store import Database, StoreError, now_iso, open_db

logger = logging.getLogger("newsradar.crawl")

BATCH_PAGES = 25
BATCH_SECONDS = 1.0
EXIT_STORE_ERROR = 3  # the crawl process's exit status when the store cannot be written
STORE_ERROR_PREFIX = "newsradar-crawl: store-error: "

# Set when a write failed (disk full, read-only file): `crawler.run` exits EXIT_STORE_ERROR.
store_failures: list[str] = []


@dataclass
class SourceTally:
    discovered: int = 0
    fetched: int = 0
    new: int = 0
    not_modified: int = 0
    errors: int = 0
    skipped: int = 0
    ok: bool = False
    failed: bool = False
    last_error: str | None = None


@dataclass
class StorePipeline:
    db_path: str
    run_group: str
    source_names: list[str]
    db: Database | None = None
    pages: list[PageFetched] = field(default_factory=list)
    listings: list[ListingFetched] = field(default_factory=list)
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    tallies: dict[str, SourceTally] = field(default_factory=dict)
    started_at: str = field(default_factory=now_iso)
    last_flush: float = field(default_factory=time.monotonic)
    crawler: Crawler | None = None
    failed: str | None = None
    finished: bool = False  # the spider ran out of work (not stopped, not crashed)
    incomplete_listings: set[str] = field(default_factory=set)  # an article they announced failed

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        settings = crawler.settings
        pipeline = cls(db_path=settings.get("NEWSRADAR_DB"), run_group=settings.get("NEWSRADAR_RUN_GROUP"),
                       source_names=list(settings.getlist("NEWSRADAR_SOURCES")), crawler=crawler)
        crawler.signals.connect(pipeline.spider_idle, signal=signals.spider_idle)
        return pipeline

    def spider_idle(self, spider: Spider | None = None) -> None:
        self.finished = True

    def _store_failed(self, exc: StoreError) -> None:
        """A write failed: stop fetching what cannot be kept, and say so (never a silent loss)."""
        if self.failed is None:
            self.failed = str(exc)
            store_failures.append(self.failed)
            logger.error("stage=store event=store-error detail=%s", json.dumps(self.failed))
            engine = self.crawler.engine if self.crawler is not None else None
            if engine is not None and engine.spider is not None:
                deferred_from_coro(engine.close_spider_async(reason="store-error"))

    def open_spider(self, spider: Spider | None = None) -> None:
        self.db = open_db(self.db_path)
        self.tallies = {name: SourceTally() for name in self.source_names}
        spider = spider or (self.crawler.spider if self.crawler is not None else None)
        if spider is not None and hasattr(spider, "record_event"):
            spider.record_event = self._count  # counters bypass the item machinery

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, PageFetched):
            self.pages.append(item)
        elif isinstance(item, ListingFetched):
            self.listings.append(item)
        elif isinstance(item, SourceEvent):
            self._count(item)
        due = len(self.pages) >= BATCH_PAGES or time.monotonic() - self.last_flush > BATCH_SECONDS
        if due and self.failed is None:
            try:
                self.flush()
            except StoreError as exc:
                self._store_failed(exc)
        return item

    def _count(self, event: SourceEvent) -> None:
        tally = self.tallies.setdefault(event.source, SourceTally())
        for name in ("discovered", "fetched", "not_modified", "errors", "skipped"):
            setattr(tally, name, getattr(tally, name) + getattr(event, name))
        tally.ok = tally.ok or event.ok
        tally.failed = tally.failed or event.failed
        self.incomplete_listings.update(event.listings)
        if event.event:
            level = logging.WARNING if event.errors else logging.INFO
            logger.log(level, "source=%s event=%s url=%s detail=%s", event.source, event.event, event.url,
                       json.dumps(event.detail or ""))
            self.log_rows.append({"at": now_iso(), "source": event.source, "url": event.url, "event": event.event,
                                  "status": None, "detail": event.detail})
            if event.errors and event.detail:
                tally.last_error = f"{event.event}: {event.detail} ({event.url})"

    def flush(self) -> None:
        """Write the batch in one transaction; pages already stored are left alone."""
        assert self.db is not None
        self.last_flush = time.monotonic()
        if not (self.pages or self.log_rows):
            return
        now = now_iso()
        new: dict[str, int] = {}
        with self.db.conn:
            urls = list({page.url for page in self.pages})
            stored = {row[0] for row in self.db.execute(
                f"select url from pages where url in ({','.join('?' * len(urls))})", urls)} if urls else set()
            rows: dict[str, dict[str, Any]] = {}
            for page in self.pages:
                if page.url in stored or page.url in rows:
                    continue
                rows[page.url] = {
                    "url": page.url, "fetched_url": page.fetched_url, "source": page.source,
                    "discovered_via": page.discovered_via, "first_seen_at": now, "fetched_at": now,
                    "status": page.status, "content_type": page.content_type, "encoding": page.encoding,
                    "html": page.html, "feed_meta": json.dumps(page.feed_meta), "state": "fetched",
                }
                new[page.source] = new.get(page.source, 0) + 1
            if rows:  # one statement per batch: sqlite-utils inspects the table on every call
                self.db.table("pages").insert_all(rows.values(), pk="url", ignore=True)
            aliases = {alias: page.url for page in self.pages for alias in (page.requested_url, page.url)}
            if aliases:
                self.db.table("url_aliases").insert_all(
                    ({"url": alias, "page_url": target} for alias, target in aliases.items()), pk="url",
                    ignore=True)
            if self.log_rows:
                self.db.table("fetch_log").insert_all(self.log_rows)
        for source, count in new.items():  # counted once committed
            self.tallies.setdefault(source, SourceTally()).new += count
        self.pages.clear()
        self.log_rows.clear()

    def _write_listings(self, now: str) -> None:
        """Listing validators are kept only when the run got to the end.

        A 304 next time means "nothing new since then", which is true only if every article
        that version of the listing announced was requested and stored. A run killed, stopped
        or out of disk space did not get there, and a listing one of whose articles failed
        (a 503, a timeout) still owes it: their validators are not written (a killed run
        writes nothing at all), so the next run reads the listing in full and retries.
        """
        assert self.db is not None
        for listing in self.listings:
            complete = (listing.status == 200 and self.finished and self.failed is None
                        and listing.url not in self.incomplete_listings)
            record_listing(self.db, listing, listing.status, now, keep_validators=complete)
        self.listings.clear()

    def close_spider(self, spider: Spider | None = None) -> None:
        try:
            if self.failed is None:
                self.flush()
            self._write_runs()
        except StoreError as exc:
            self._store_failed(exc)
        finally:
            if self.db is not None:
                self.db.conn.close()

    def _write_runs(self) -> None:
        assert self.db is not None
        now = now_iso()
        with self.db.conn:
            self._write_listings(now)
            for name, tally in self.tallies.items():
                status = "ok" if tally.ok and not tally.failed else ("partial" if tally.ok else "failed")
                record_source_run(self.db, self.run_group, name, started_at=self.started_at, finished_at=now,
                                  status=status, last_error=tally.last_error, counts={
                                      "discovered": tally.discovered, "fetched": tally.fetched, "new": tally.new,
                                      "not_modified": tally.not_modified, "errors": tally.errors,
                                      "skipped": tally.skipped})
                logger.info("source=%s stage=fetch status=%s discovered=%d fetched=%d new=%d not_modified=%d "
                            "skipped=%d errors=%d", name, status, tally.discovered, tally.fetched, tally.new,
                            tally.not_modified, tally.skipped, tally.errors)
