"""One spider for all sources: feeds, sitemaps and section pages -> article pages.

A single spider (rather than one per source) shares Scrapy's per-host download slots, so
politeness holds even when two sources live on one host. Every request carries its
source's name and host allow-list; the spider never follows a link more than one hop
from a listing, and never fetches an article URL the store already has.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import ListingFetched, PageFetched, SourceEvent
from crawler.listings import (Entry, ListingError, body_digest, conditional_headers, entry_verdict,
                              listing_context, parse_feed, parse_sitemap, validators_for)
from crawler.urls import allowed_hosts, canonicalize, host_key, looks_like_article
from newsradar.config import Source

logger = logging.getLogger(__name__)

MAX_SITEMAP_DEPTH = 2
MAX_REDIRECTS = 5  # REDIRECT_MAX_TIMES in crawler.settings
LINKS_PER_SECTION_PAGE = 300


@dataclass
class CrawlPlan:
    """What one crawl run does, decided before the reactor starts."""

    sources: list[Source]
    max_age_days: float
    max_page_bytes: int
    known_urls: set[str] = field(default_factory=set)            # canonical URLs already stored
    validators: dict[str, dict[str, str]] = field(default_factory=dict)  # listing url -> etag / last_modified


@dataclass
class Announced:
    """An article requested in this run: what feeds/sitemaps said about it (title, date,
    authors: the extraction's fallback), and every listing that announced it (should it
    fail, none of them is revalidated)."""

    meta: dict[str, Any]
    listings: set[str]


class NewsSpider(scrapy.Spider):
    name = "newsradar"
    custom_settings: dict[str, Any] = {}

    def __init__(self, plan: CrawlPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.record_event: Callable[[SourceEvent], None] | None = None
        self.hosts = {s.name: allowed_hosts(s.urls) for s in plan.sources}
        # canonical article URL requested in this run -> what the listings said about it
        self.requested: dict[str, Announced] = {}
        self.failed: set[str] = set()  # canonical article URLs whose fetch failed in this run
        self.link_extractor = LinkExtractor(tags=("a", "area"), attrs=("href",), unique=True,
                                            deny_extensions=[])

    async def start(self) -> AsyncIterator[Any]:
        for source in self.plan.sources:
            for url in source.feeds:
                yield self.listing_request(url, source.name, "feed")
            for url in source.sitemaps:
                yield self.listing_request(url, source.name, "sitemap")
            for url in source.pages:
                yield self.listing_request(url, source.name, "section")

    # -- requests ---------------------------------------------------------------------

    def _meta(self, source: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {"source": source, "kind": kind, "allowed_hosts": self.hosts[source],
                "on_refused": self._refused, **extra}

    def _context(self, source: str, kind: str) -> str:
        return listing_context(self.hosts[source], kind, self.plan.max_age_days)

    def _validators(self, listing: str, source: str, kind: str) -> dict[str, str]:
        return validators_for(self.plan.validators.get(listing, {}), self._context(source, kind))

    def listing_request(self, url: str, source: str, kind: str, depth: int = 0) -> scrapy.Request:
        headers = conditional_headers(self._validators(canonicalize(url), source, kind))
        return scrapy.Request(
            url, callback=self.parse_listing, errback=self.listing_failed, headers=headers, dont_filter=True,
            priority=10,
            meta=self._meta(source, "listing", listing_kind=kind, depth=depth, handle_httpstatus_list=[304]),
        )

    def article_requests(self, entries: Iterable[Entry], source: str, via: str,
                         listing: str) -> Iterator[Any]:
        cutoff = datetime.now(timezone.utc) - timedelta(days=self.plan.max_age_days)
        for entry in entries:
            yield from self._source_event(source, discovered=1)
            url = entry.url
            verdict, canonical = entry_verdict(entry, self.hosts[source], self.plan.known_urls, via, cutoff)
            if verdict in ("off-site", "not-a-page"):
                yield from self._source_event(source, skipped=1, event=verdict, url=url)
                continue
            if verdict == "known":
                yield from self._source_event(source, skipped=1)
                continue
            if canonical in self.failed:  # failed earlier in this run: this listing owes it too
                yield from self._source_event(source, skipped=1, listings=(listing,))
                continue
            if canonical in self.requested:  # already requested this run: keep what this listing adds
                announced = self.requested[canonical]
                for key, value in entry.meta().items():
                    announced.meta.setdefault(key, value)
                announced.listings.add(listing)
                yield from self._source_event(source, skipped=1)
                continue
            if verdict == "too-old":
                yield from self._source_event(source, skipped=1, event="too-old", url=url)
                continue
            self.requested[canonical] = Announced(entry.meta(), {listing})
            yield scrapy.Request(
                url, callback=self.parse_article, errback=self.article_failed,
                meta=self._meta(source, "article", via=via, canonical=canonical),
            )

    # -- callbacks --------------------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        source, kind = meta["source"], meta["listing_kind"]
        listing = canonicalize(response.request.url if response.request else response.url)
        fetched = ListingFetched(url=listing, source=source, status=response.status,
                                 etag=_header(response, b"ETag"), last_modified=_header(response, b"Last-Modified"),
                                 body_hash=body_digest(response.body) if response.status == 200 else None,
                                 context=self._context(source, kind))
        if response.status == 304 or (
                fetched.body_hash and fetched.body_hash == self._validators(listing, source, kind).get("body_hash")):
            yield fetched
            yield from self._source_event(source, not_modified=1, ok=True)
            return
        # No validators are kept for a listing that could not be read (the error shows again
        # next run, until it is fixed) nor for a sitemap index: its children change while
        # it stays the same, and an unchanged index must not hide them.
        no_validators = ListingFetched(url=listing, source=source, status=response.status)
        try:
            if kind == "feed":
                entries = parse_feed(response.body, response.url)
            elif kind == "sitemap":
                sitemap = parse_sitemap(self._sitemap_body(response), response.url)
                entries = sitemap.entries
                if sitemap.sitemaps:
                    fetched = no_validators
                depth = meta.get("depth", 0)
                for child in sitemap.sitemaps:
                    if depth >= MAX_SITEMAP_DEPTH:
                        break
                    if host_key(child) in self.hosts[source]:
                        yield self.listing_request(child, source, "sitemap", depth + 1)
                    else:
                        yield from self._source_event(source, skipped=1, event="off-site", url=child)
            else:
                entries = self.section_links(response)
        except ListingError as exc:
            yield no_validators
            yield from self._source_event(source, errors=1, event=f"{kind}-error", url=response.url,
                                          detail=str(exc), failed=True)
            return
        yield fetched
        yield from self._source_event(source, ok=True)
        yield from self.article_requests(entries, source, "page" if kind == "section" else kind, listing)

    def section_links(self, response: Response) -> list[Entry]:
        if not isinstance(response, TextResponse):
            raise ListingError("section page is not HTML")
        links = self.link_extractor.extract_links(response)[:LINKS_PER_SECTION_PAGE]
        # Link text is often "Read more" or a teaser: not kept as a title fallback.
        return [Entry(url=link.url) for link in links if looks_like_article(link.url, response.url)]

    def _sitemap_body(self, response: Response) -> bytes:
        """Sitemaps may be served gzipped as files (not Content-Encoding): inflate with a cap."""
        body = response.body
        if body[:2] != b"\x1f\x8b":
            return body
        limit = self.plan.max_page_bytes
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
                data = f.read(limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise ListingError(f"broken gzip: {exc}") from None
        if len(data) > limit:
            raise ListingError(f"gzipped sitemap inflates past {limit} bytes")
        return data

    def parse_article(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        source = meta["source"]
        stopped = meta.get("stopped_reason")
        if stopped or not isinstance(response, TextResponse):
            yield from self._source_event(source, skipped=1, event="not-html", url=response.url,
                                          detail=stopped or "not a text response")
            return
        ctype = _header(response, b"Content-Type") or ""
        if ctype and "html" not in ctype.lower():
            yield from self._source_event(source, skipped=1, event="not-html", url=response.url, detail=ctype)
            return
        final = canonicalize(response.url)
        redirected = response.request is not None and meta.get("redirect_urls")
        requested = canonicalize(meta["redirect_urls"][0]) if redirected else meta["canonical"]
        html, encoding = page_text(response)
        announced = self.requested.get(meta["canonical"])
        yield PageFetched(
            url=final, fetched_url=response.url, requested_url=requested, source=source,
            discovered_via=meta.get("via", "feed"), status=response.status, content_type=ctype,
            encoding=encoding, html=html, feed_meta=announced.meta if announced else {},
        )
        yield from self._source_event(source, fetched=1)

    # -- failures ---------------------------------------------------------------------

    def listing_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        source = request.meta["source"]
        yield from self._source_event(source, errors=1, event="listing-error", url=request.url,
                                      detail=describe_failure(failure), failed=True)

    def article_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        source = request.meta["source"]
        url = (request.meta.get("redirect_urls") or [request.url])[0]  # as the listing announced it
        # HttpError and Scrapy's size / redirect limits are IgnoreRequest subclasses or
        # instances too, but they are failures of the page, reported as errors.
        if failure.check(IgnoreRequest) and not failure.check(HttpError) and not _is_limit(failure):
            # robots.txt or an off-site redirect: a decision, not an error
            yield from self._source_event(source, skipped=1, event="refused", url=url,
                                          detail=str(failure.value))
            return
        canonical = request.meta.get("canonical", "")
        # retried on a later run: every listing that announced it (before this failure, or after
        # it: see `failed` in article_requests) keeps no validator, so next time it is read in full
        self.failed.add(canonical)
        announced = self.requested.get(canonical)
        yield from self._source_event(source, errors=1, event="article-error", url=url,
                                      detail=describe_failure(failure),
                                      listings=tuple(sorted(announced.listings)) if announced else ())

    def _refused(self, request: scrapy.Request) -> None:
        logger.info("source=%s event=off-site-refused url=%s", request.meta.get("source"), request.url)

    def _source_event(self, source: str, **counts: Any) -> Iterator[SourceEvent]:
        """Count or record something about a source.

        Handed straight to the store pipeline (`record_event`, set when it opens) rather
        than yielded as an item: an item per counter costs Scrapy a task and a trip
        through every middleware, which was a third of the crawl's CPU per page."""
        event = SourceEvent(source=source, **counts)
        if self.record_event is not None:
            self.record_event(event)
            return iter(())
        return iter((event,))


def describe_failure(failure: Failure) -> str:
    """One line a user understands: 'HTTP 500', 'DNS lookup failed', 'connection refused'...

    Matched on class names because Twisted, Scrapy (2.19 wraps them) and the aiohttp
    handler (Scrapy's CannotResolveHostError, DownloadTimeoutError...) all name them.
    """
    exc = failure.value
    if isinstance(exc, HttpError):
        status = exc.response.status
        if 300 <= status < 400:  # Scrapy hands back redirects it will not follow (file:, data:, ...)
            location = (exc.response.headers.get(b"Location") or b"").decode("latin-1")
            scheme = location.split(":", 1)[0][:20] if ":" in location else "?"
            return f"HTTP {status}: redirect to a {scheme}: URL not followed"
        return f"HTTP {status}"
    text = " ".join(str(exc).split())
    if "max redirections" in text:
        return f"too many redirects (a chain longer than {MAX_REDIRECTS})"
    if text.startswith("redirect loop"):
        return text
    if "DOWNLOAD_MAXSIZE" in text and "decompress" in text:
        return "page larger than max_page_bytes after decompression"
    if _TLS_TROUBLE.search(text):  # aiohttp reports these as a refused connection
        return f"TLS error: {text}"[:300]
    names = " ".join(cls.__name__ for cls in type(exc).__mro__).lower()
    for needle, said in (("dnslookup", "DNS lookup failed"), ("cannotresolvehost", "DNS lookup failed"),
                         ("connectionrefused", "connection refused"),
                         ("timeout", "timed out"), ("timedout", "timed out")):
        if needle in names:
            return said
    if "maxsize" in text.lower() or "max size" in text.lower() or "cancelled" in text.lower() and "size" in text:
        return "page larger than max_page_bytes"
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


# certificate and handshake failures, as OpenSSL, Python's ssl module and aiohttp word them
# (not "ssl:default", which every aiohttp connection error names)
_TLS_TROUBLE = re.compile(r"certificate|\[SSL[:\]]|SSL routines|SSLError|SSLCertVerification|handshake", re.I)


def _is_limit(failure: Failure) -> bool:
    """Scrapy's redirect limit and decompression limit raise a plain IgnoreRequest."""
    text = str(failure.value)
    return ("max redirections" in text or text.startswith("redirect loop")
            or ("DOWNLOAD_MAXSIZE" in text and "decompress" in text))


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")


def page_text(response: TextResponse) -> tuple[str, str]:
    """The page as text and the encoding it was read with.

    A header saying UTF-8 over bytes that are not UTF-8 and hold no UTF-8 multi-byte
    sequence at all is the classic lie of a legacy (Windows-1252) page behind a
    misconfigured server: read as cp1252 it is the text its author wrote, read as UTF-8
    every accented letter becomes U+FFFD. Bytes that are mostly UTF-8 with a few
    invalid ones stay UTF-8 (invalid bytes become U+FFFD). NUL and other C0 control
    characters, which HTML forbids and XML tools reject, are removed.
    """
    text, encoding = response.text, response.encoding
    codec = codecs.lookup(encoding).name
    if "\ufffd" in text and codec == "utf-8":
        body = response.body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            if not _UTF8_MULTIBYTE.search(body):
                text, encoding, codec = body.decode("cp1252", errors="replace"), "cp1252", "cp1252"
    if codec in _CONTROL_FREE_CODECS and _has_no_control_bytes(response.body):
        return text, encoding  # the regex over the whole text was ~0.15 ms per page
    return _CONTROL_CHARS.sub("", text), encoding


# Codecs in which a control character (or U+FFFE/U+FFFF) in the text comes only from the
# same control byte (or, in UTF-8, the noncharacter's own sequence) in the body.
_CONTROL_FREE_CODECS = frozenset({"utf-8", "cp1252", "iso8859-1", "ascii", "iso8859-15", "cp1250", "cp1251"})
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F])  # the bytes of _CONTROL_CHARS


def _has_no_control_bytes(body: bytes) -> bool:
    """No byte that decodes to a character `_CONTROL_CHARS` removes (C speed: translate, find)."""
    return (len(body.translate(None, _CONTROL_BYTES)) == len(body)
            and b"\xef\xbf\xbe" not in body and b"\xef\xbf\xbf" not in body)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
