"""The crawl process: `python -m crawler.run CONFIG --run-group ID [--source NAME ...]`.

Every crawl run is a child process: Twisted's reactor (`crawl.http_client = "twisted"`)
cannot be restarted within a process, and a process per run keeps fetching (one core, the
event loop) apart from extraction and tagging (the parent and its workers, the other
core), which read the pages this process stores.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scrapy.crawler import AsyncCrawlerProcess

from crawler.records import known_urls, listing_validators
from crawler.pipelines import EXIT_STORE_ERROR, STORE_ERROR_PREFIX, store_failures
from crawler.settings import build_settings
from crawler.spiders import CrawlPlan, NewsSpider
from newsradar.config import ConfigError, load_config
from newsradar.store import StoreError, open_db


EXPERIMENTAL_NOTICE_LOGGER = "scrapy.core.downloader.handlers._base_streaming"


class DropExperimentalNotice(logging.Filter):
    """Scrapy warns on every start that its aiohttp handler "is experimental and is not
    recommended for production use". The choice is made once, in `crawl.http_client`
    (documented there, with "twisted" as the fallback), not per crawl in the user's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is experimental" not in record.getMessage()


def load_plan_state(db_path: str, plan: CrawlPlan) -> None:
    """Known article URLs and listing validators, read once so the spider never asks SQLite per link."""
    db = open_db(db_path)
    plan.known_urls = known_urls(db)
    plan.validators = listing_validators(db)
    db.conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run")
    parser.add_argument("config")
    parser.add_argument("--run-group", required=True)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        sources = list(config.select_sources(args.source))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    plan = CrawlPlan(sources=sources, max_age_days=config.crawl.max_age_days,
                     max_page_bytes=config.crawl.max_page_bytes)
    try:
        load_plan_state(str(config.storage.path), plan)
    except StoreError as exc:
        print(STORE_ERROR_PREFIX + str(exc), file=sys.stderr)
        return EXIT_STORE_ERROR
    process = AsyncCrawlerProcess(build_settings(config, sources, args.run_group))
    for noisy in ("scrapy", "twisted", "asyncio", "protego"):  # our own lines say what happened
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger(EXPERIMENTAL_NOTICE_LOGGER).addFilter(DropExperimentalNotice())
    process.crawl(NewsSpider, plan=plan)
    process.start()
    if store_failures:  # the last line of the log names the cause; the parent reads it
        print(STORE_ERROR_PREFIX + store_failures[0], file=sys.stderr)
        return EXIT_STORE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
