"""Anything new? A conditional GET of each listing before the crawler is started.

Most runs of a tracker find nothing new: every feed answers 304, or lists only articles
the store already has. Starting Scrapy to learn that costs a process and ~1 s of CPU per
run (per poll, in the service); asking the listings directly costs one small request each.
A source is *quiet* when every one of its listings is unchanged (304) or announces only
known, skipped or too-old articles; the crawler then does not visit it at all, and this
module records the run for it (`record_quiet`) as the crawler would have. Everything else
is *busy* and goes to the crawler, which alone fetches articles, retries, follows
sitemap indexes and section pages, and records errors.

The probe is deliberately timid: anything it cannot judge with certainty (a listing never
read successfully, a redirect, an error, a sitemap index, a section page that changed, a
compressed body, robots.txt trouble, a proxy in the environment) makes the source busy.
(Starting the NLP workers as soon as the probe sees new articles was tried: it made the
first run slower, the workers crowding the crawler as it starts.) It obeys
robots.txt (Protego, as Scrapy does), sends one request at a time per host with the
configured delay, and never follows a redirect.
"""

from __future__ import annotations

import concurrent.futures as futures
import http.client
import logging
import os
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence
from urllib.parse import urlsplit


from crawler.listings import (Entry, ListingError, body_digest, conditional_headers, entry_verdict,
                              listing_context, parse_feed, parse_sitemap, robots_crawl_delay, validators_for)
from crawler.records import known_urls, listing_validators, record_listing, record_source_run
from crawler.urls import allowed_hosts, canonicalize, host_key
from newsradar.config import Config, Source
from newsradar.store import Database, now_iso

logger = logging.getLogger("newsradar.crawl")

PROBE_TIMEOUT = 10.0    # seconds per request, at most (crawl.timeout when lower), whole body included
PROBE_THREADS = 8       # hosts probed at once
PROBE_HOST_BUDGET = 10.0  # seconds of politeness delay a host may cost; more, and the crawler goes instead
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class ListingCheck:
    """What one listing said: `changed` means the crawler must read it."""

    source: str
    url: str                      # canonical, the key of the `listings` table
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    context: str | None = None
    changed: bool = True
    reason: str = ""
    entries: int = 0              # articles announced
    new: int = 0                  # of which the crawler would fetch


@dataclass
class ProbeResult:
    quiet: list[str] = field(default_factory=list)   # sources the crawler need not visit
    busy: list[str] = field(default_factory=list)    # sources it must visit
    checks: list[ListingCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def new_articles(self) -> int:
        """Articles the listings announce that the store does not have: work is coming."""
        return sum(c.new for c in self.checks)

    @property
    def expects_articles(self) -> bool:
        """Pages are surely coming: a listing announced new articles, or a busy source was not
        probed at all (never read before: a first run). A source that is busy for what the
        probe cannot judge (a sitemap index, a changed section page, an error) may bring none."""
        probed = {c.source for c in self.checks}
        return self.new_articles > 0 or any(name not in probed for name in self.busy)


def probe_sources(config: Config, db: Database, sources: Sequence[Source]) -> ProbeResult:
    """Quiet and busy sources (see the module docstring); never raises for network trouble."""
    started = time.monotonic()
    result = ProbeResult()
    if any(os.environ.get(v) for v in PROXY_VARIABLES):  # Scrapy would use the proxy; we cannot judge
        result.busy = [s.name for s in sources]
        return result
    validators = listing_validators(db)
    by_host: dict[tuple[str, int | None], list[tuple[Source, str, str]]] = {}
    undecided: set[str] = set()
    for source in sources:
        if not source.urls or any(
                validators.get(canonicalize(u), {}).get("last_status") not in (200, 304) for u in source.urls):
            continue  # a listing never read successfully: the crawler's job (no request spent here)
        undecided.add(source.name)
        for kind, urls in (("feed", source.feeds), ("sitemap", source.sitemaps), ("section", source.pages)):
            for url in urls:
                key = host_key(url)
                if key is not None:
                    by_host.setdefault(key, []).append((source, url, kind))
    checks: list[ListingCheck] = []
    known = known_urls(db) if by_host else set()  # every stored URL: read only when a listing is probed
    with futures.ThreadPoolExecutor(min(PROBE_THREADS, max(1, len(by_host)))) as pool:
        jobs = {pool.submit(_probe_host, config, host, items, validators, known): items
                for host, items in by_host.items()}
        for job, items in jobs.items():
            try:
                checks.extend(job.result())
            except Exception as exc:  # anything unexpected: that host's sources go to the crawler
                checks.extend(ListingCheck(source=s.name, url=canonicalize(u), reason=f"probe failed: {exc!r}"[:200])
                              for s, u, _ in items)
    changed = {c.source for c in checks if c.changed}
    for source in sources:
        quiet = source.name in undecided and source.name not in changed
        (result.quiet if quiet else result.busy).append(source.name)
    result.checks = checks
    result.seconds = time.monotonic() - started
    for check in checks:
        logger.debug("source=%s stage=probe url=%s status=%s changed=%s reason=%s", check.source, check.url,
                     check.status, check.changed, check.reason)
    return result


def _probe_host(config: Config, host: tuple[str, int | None], items: list[tuple[Source, str, str]],
                validators: dict[str, dict[str, str]], known: set[str]) -> list[ListingCheck]:
    """The listings of one host, one request at a time (robots.txt first)."""
    crawl = config.crawl
    timeout = min(crawl.timeout, PROBE_TIMEOUT)
    checks = [ListingCheck(source=s.name, url=canonicalize(url)) for s, url, _ in items]
    delay = crawl.delay
    robots = None
    if crawl.obey_robots:
        first = urlsplit(items[0][1])
        try:
            status, _, body = _get(f"{first.scheme}://{first.netloc}/robots.txt", {}, crawl.user_agent, timeout,
                                   crawl.max_page_bytes)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _all_changed(checks, f"robots.txt: {type(exc).__name__}")
        if status == 200:
            from protego import Protego

            robots = Protego.parse(body.decode("utf-8", "replace"))
            delay = max(delay, robots_crawl_delay(robots, crawl.user_agent))
        elif not 400 <= status < 500:  # 4xx: no rules (as Scrapy); 5xx and others: cannot judge
            return _all_changed(checks, f"robots.txt: HTTP {status}")
    if delay * (len(items) - 1) > PROBE_HOST_BUDGET:  # politeness would stall the run: let the crawler pace it
        return _all_changed(checks, f"crawl delay {delay:g} s")
    for n, ((source, url, kind), check) in enumerate(zip(items, checks)):
        if robots is not None and not robots.can_fetch(url, crawl.user_agent):
            check.reason = "disallowed by robots.txt"
            continue
        if n and delay:
            time.sleep(delay)
        _probe_listing(config, source, url, kind, check, validators.get(check.url, {}), known, timeout)
    return checks


def _all_changed(checks: list[ListingCheck], reason: str) -> list[ListingCheck]:
    for check in checks:
        check.changed, check.reason = True, reason
    return checks


def _probe_listing(config: Config, source: Source, url: str, kind: str, check: ListingCheck,
                   stored: dict[str, str], known: set[str], timeout: float) -> None:
    check.context = listing_context(allowed_hosts(source.urls), kind, config.crawl.max_age_days)
    validators = validators_for(stored, check.context)
    headers = conditional_headers(validators)
    try:
        status, response_headers, body = _get(url, headers, config.crawl.user_agent, timeout,
                                              config.crawl.max_page_bytes)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        check.reason = f"{type(exc).__name__}: {exc}"[:200]
        return
    check.status = status
    check.etag, check.last_modified = response_headers.get("etag"), response_headers.get("last-modified")
    if status == 304:
        check.changed, check.reason = False, "not modified"
        return
    if status != 200:
        check.reason = f"HTTP {status}"
        return
    check.body_hash = body_digest(body)
    if check.body_hash == validators.get("body_hash"):  # the bytes the last complete read judged
        check.changed, check.reason = False, "unchanged body"
        return
    if response_headers.get("content-encoding", "identity").lower() != "identity" or body[:2] == b"\x1f\x8b":
        check.reason = "compressed body"
        return
    if kind not in ("feed", "sitemap"):
        check.reason = "section page changed"
        return
    try:
        if kind == "feed":
            entries = parse_feed(body, url)
        else:
            sitemap = parse_sitemap(body, url)
            if sitemap.sitemaps:
                check.reason = "sitemap index"
                return
            entries = sitemap.entries
        new = new_entries(entries, source, kind, known, config.crawl.max_age_days)
    except ListingError as exc:  # unreadable: the crawler reads it too, and reports it
        check.reason = f"unreadable: {type(exc).__name__}: {exc}"[:200]
        return
    check.entries = len(entries)
    check.new = len(new)
    if new:
        check.reason = f"{len(new)} new, e.g. {new[0]}"[:300]
        return
    check.changed, check.reason = False, "nothing new"


def new_entries(entries: Iterable[Entry], source: Source, kind: str, known: set[str],
                max_age_days: float) -> list[str]:
    """The entries the crawler would request (`entry_verdict`, as the spider decides)."""
    hosts = allowed_hosts(source.urls)
    cutoff = datetime.now(timezone.utc) - timedelta(days=max_age_days)
    out: dict[str, str] = {}
    for entry in entries:
        if entry.url in known:  # already canonical and stored: the common case, and no parsing
            continue
        verdict, canonical = entry_verdict(entry, hosts, known, kind, cutoff)
        if verdict == "new":
            out.setdefault(canonical, entry.url)
    return list(out.values())


def _get(url: str, headers: dict[str, str], user_agent: str, timeout: float,
         limit: int) -> tuple[int, dict[str, str], bytes]:
    """One GET without redirects; the body is read up to `limit` bytes (a longer one raises)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    deadline = time.monotonic() + timeout  # the whole request, not each socket operation
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"User-Agent": user_agent, "Accept-Encoding": "identity",
                                                 **headers})
        response = connection.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"listing larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"listing not read within {timeout:g} s")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, b"".join(chunks)
    finally:
        connection.close()


def record_quiet(db: Database, run_group: str, result: ProbeResult) -> None:
    """Write what a crawler run would have written for the quiet sources: a `runs` row each,
    the source's last run and success, and the listings' fresh validators."""
    if not result.quiet:
        return
    now = now_iso()
    quiet = set(result.quiet)
    with db.conn:
        for check in result.checks:
            if check.source not in quiet or check.status is None:
                continue
            # a 200 here announced only known articles: safe to revalidate next time
            record_listing(db, check, check.status, now, keep_validators=check.status == 200)
        for name in result.quiet:
            mine = [c for c in result.checks if c.source == name]
            entries = sum(c.entries for c in mine)
            record_source_run(db, run_group, name, started_at=now, finished_at=now, status="ok", counts={
                "discovered": entries, "fetched": 0, "new": 0, "errors": 0, "skipped": entries,
                "not_modified": sum(1 for c in mine if c.status == 304)})
