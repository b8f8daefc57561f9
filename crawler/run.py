"""The crawl process: `python -m crawler.run CONFIG --run-group ID [--source NAME ...]`.

Twisted's reactor cannot be restarted within a process, so every crawl run is a child
process. That also keeps fetching (one core, the reactor) apart from extraction and
tagging (the parent, the other core), which read the pages this process stores.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scrapy.crawler import CrawlerProcess

from crawler.probe import known_urls, listing_validators
from crawler.pipelines import EXIT_STORE_ERROR, STORE_ERROR_PREFIX, store_failures
from crawler.settings import build_settings
from crawler.spiders import CrawlPlan, NewsSpider
from newsradar.config import ConfigError, load_config
from newsradar.store import StoreError, open_db


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
    process = CrawlerProcess(build_settings(config, sources, args.run_group))
    for noisy in ("scrapy", "twisted", "asyncio", "protego"):  # our own lines say what happened
        logging.getLogger(noisy).setLevel(logging.WARNING)
    process.crawl(NewsSpider, plan=plan)
    process.start()
    if store_failures:  # the last line of the log names the cause; the parent reads it
        print(STORE_ERROR_PREFIX + store_failures[0], file=sys.stderr)
        return EXIT_STORE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
