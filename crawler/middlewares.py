"""Downloader middlewares: the crawl's safety and politeness rules, built `from_crawler`."""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Response

from crawler.listings import robots_crawl_delay
from crawler.urls import allowed_hosts, canonicalize, host_key

logger = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
LISTING_TYPES = HTML_TYPES + ("xml", "rss", "atom", "text/plain", "application/octet-stream", "gzip")


class SourceHostsMiddleware:
    """Only the hosts of a request's own source are fetched (redirects included).

    Scrapy's OffsiteMiddleware allows subdomains and knows one allow-list per spider;
    here each request carries its source, and host *and* port must match exactly.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "SourceHostsMiddleware":
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        hosts = request.meta.get("allowed_hosts")
        if hosts is None:
            if request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt"):
                return  # robots.txt of a host the triggering request was already allowed to reach
            raise IgnoreRequest(f"request without a source refused: {request.url}")
        if host_key(request.url) not in hosts:
            on_refused = request.meta.get("on_refused")
            if on_refused:
                on_refused(request)
            raise IgnoreRequest(f"off-site request refused: {request.url}")


class LoopAwareRedirectMiddleware(RedirectMiddleware):
    """Scrapy's redirects, with loops reported instead of silently dropped.

    A redirect back to a URL of its own chain is a duplicate request to Scrapy's
    scheduler, which drops it without calling the errback: the article would vanish
    without a word. Here the loop fails the request, so the source records why.
    """

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        chain = {canonicalize(u) for u in [*request.meta.get("redirect_urls", []), request.url]}
        if canonicalize(redirected.url) in chain:
            raise IgnoreRequest(f"redirect loop: {redirected.url} redirects back into its own chain")
        return super()._redirect(redirected, request, reason)


class RetryAfterMiddleware(RetryMiddleware):
    """Bounded retries with exponential backoff that honours Retry-After.

    Scrapy's RetryMiddleware retries at once; a server answering 503 or 429 asks us to
    wait, and retrying immediately is both impolite and useless.
    """

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base_delay = settings.getfloat("NEWSRADAR_RETRY_BASE_DELAY", 1.0)
        self.max_delay = settings.getfloat("NEWSRADAR_RETRY_MAX_DELAY", 60.0)

    def _retry_with_delay(self, request: Request, reason: Any, spider: Spider | None,
                          retry_after: float | None) -> Request | None:
        attempt = request.meta.get("retry_times", 0)
        new = get_retry_request(request, spider=spider or self.crawler.spider,  # type: ignore[arg-type]
                                reason=reason,
                                max_retry_times=self.max_retry_times)
        if new is not None:
            wait = retry_after if retry_after is not None else self.base_delay * (2 ** attempt)
            new.meta["not_before"] = time.monotonic() + min(max(wait, 0.0), self.max_delay)
        return new

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Any:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        new = self._retry_with_delay(request, f"HTTP {response.status}", spider,
                                     parse_retry_after(response.headers.get(b"Retry-After")))
        return new or response

    def process_exception(self, request: Request, exception: Exception, spider: Spider | None = None) -> Any:
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry"):
            return self._retry_with_delay(request, exception.__class__.__name__, spider, None)
        return None


def parse_retry_after(value: bytes | None) -> float | None:
    """Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PolitenessMiddleware:
    """Waits a retried request's backoff and applies robots.txt Crawl-delay.

    Waiting in `process_request` happens before the request takes a download slot, so a
    request sleeping on its Retry-After does not block other requests to the host.
    Crawl-delay is applied to the host's download slot when larger than the configured
    delay (AutoThrottle is not allowed to go below it).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.crawl_delays: dict[str, float] = {}
        self.user_agent = crawler.settings.get("USER_AGENT", "")
        crawler.signals.connect(self.robots_parsed, signal=signals.robots_parsed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "PolitenessMiddleware":
        return cls(crawler)

    def robots_parsed(self, robotparser: Any, request: Request) -> None:
        rp = getattr(robotparser, "rp", None)
        delay = robots_crawl_delay(rp, self.user_agent) if rp is not None and hasattr(rp, "crawl_delay") else 0.0
        if delay:
            key = host_key(request.url)
            if key:
                self.crawl_delays[key[0]] = delay

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        not_before = request.meta.get("not_before")
        if not_before:
            wait = not_before - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        key = host_key(request.url)
        delay = self.crawl_delays.get(key[0]) if key else None
        engine = self.crawler.engine
        if delay and engine is not None:
            downloader = engine.downloader
            slot_key = downloader.get_slot_key(request)
            slot = downloader.slots.get(slot_key)
            if slot is not None and slot.delay < delay:
                slot.delay = delay


class ContentTypeGuard:
    """Stops downloads whose headers say they are not what we want (PDF, images, video).

    Uses the `headers_received` signal so the body of a 50 MB PDF is never read.
    """

    def __init__(self, crawler: Crawler) -> None:
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "ContentTypeGuard":
        return cls(crawler)

    def headers_received(self, headers: Any, body_length: int, request: Request, spider: Spider) -> None:
        kind = request.meta.get("kind")
        if kind is None:
            return
        ctype = (headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if not ctype:
            return
        wanted = HTML_TYPES if kind == "article" else LISTING_TYPES
        if not any(t in ctype for t in wanted):
            request.meta["stopped_reason"] = f"unwanted content type {ctype.split(';')[0]}"
            raise StopDownload(fail=False)


__all__ = ["SourceHostsMiddleware", "LoopAwareRedirectMiddleware", "RetryAfterMiddleware", "PolitenessMiddleware",
           "ContentTypeGuard", "allowed_hosts", "parse_retry_after"]
