"""Parse the listings a source publishes: RSS 2.0 / Atom feeds and sitemaps.

The XML comes from strangers, so the parser never resolves entities, never loads a DTD
and never touches the network; a listing that is not what it claims raises
`ListingError`, which the spider records against the source.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Iterable, Iterator
from urllib.parse import urljoin

from lxml import etree

from crawler.urls import canonicalize, host_key, looks_like_document

MAX_ENTRIES = 5000
MAX_FUTURE = timedelta(days=1)


class ListingError(Exception):
    """The body is not a feed / sitemap we can read."""


@dataclass(frozen=True)
class Entry:
    """An article URL announced by a listing, with what the listing said about it."""

    url: str
    title: str | None = None
    published: str | None = None  # ISO 8601, timezone-aware
    summary: str | None = None
    authors: tuple[str, ...] = ()

    def meta(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.title:
            out["title"] = self.title
        if self.published:
            out["date"] = self.published
        if self.summary:
            out["summary"] = self.summary
        if self.authors:
            out["authors"] = list(self.authors)
        return out


@dataclass
class Sitemap:
    entries: list[Entry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # children of a sitemap index


def body_digest(body: bytes) -> str:
    """A validator of our own: many feeds and sitemaps come without ETag or Last-Modified,
    and an unchanged body announces nothing the last complete read did not judge (kept and
    cleared exactly like the server's validators). ~0.1 ms for a 100 kB listing, against
    ~10 ms to parse it and check its entries."""
    return hashlib.sha1(body).hexdigest()


def listing_context(hosts: Iterable[tuple[str, int | None]], kind: str, max_age_days: float) -> str:
    """What a listing's validators (ETag, Last-Modified, body digest) were earned under.

    "Nothing new since" is judged per source and configuration: which hosts count as the
    source's own, whether the listing is a feed or a sitemap, how old an entry may be. A
    validator stored under other rules (another source reading the same listing, a larger
    `max_age_days`) must not make this one skip the listing: it is used only where the
    context matches, and a mismatch means one full read."""
    data = json.dumps([sorted(f"{h}:{p}" for h, p in hosts), kind, float(max_age_days)])
    return hashlib.sha1(data.encode("utf-8")).hexdigest()[:16]


def validators_for(stored: dict[str, str], context: str) -> dict[str, str]:
    """The stored validators if they were earned under this context, else none: the
    listing is then read in full."""
    return stored if stored.get("context") == context else {}


def conditional_headers(validators: dict[str, str]) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for a listing's (context-checked) validators."""
    headers = {}
    if validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    return headers


#: robots.txt Crawl-delay is capped here, by the probe and by the crawler alike.
MAX_CRAWL_DELAY = 60.0


def robots_crawl_delay(robots: Any, user_agent: str) -> float:
    """The Crawl-delay a parsed robots.txt (Protego) asks of us: our group's, else the "*"
    group's, capped at MAX_CRAWL_DELAY; 0 when none (Protego drops unreadable values)."""
    delay = robots.crawl_delay(user_agent) or robots.crawl_delay("*")
    return min(float(delay), MAX_CRAWL_DELAY) if delay else 0.0


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, recover=True, remove_comments=True, remove_pis=True)


DTD_REFUSED = "XML with an internal DTD or entity declarations is refused"


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML; entity declarations make it unreadable rather than expanded.

    The quick look at the first 4 KiB refuses the common case before parsing; the check
    on the parsed document catches a DOCTYPE pushed further down (padding) or hidden by
    an encoding the byte test cannot read (UTF-16). The parser itself never substitutes
    entities, never loads a DTD and never touches the network, so neither path reads a
    file or a URL.
    """
    head = body[:4096].lower()
    if b"<!entity" in head or (b"<!doctype" in head and b"[" in head.split(b"<!doctype", 1)[1][:2048]):
        raise ListingError(DTD_REFUSED)
    parser = _parser()
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ListingError(f"malformed XML: {exc}") from None
    if root is None:
        raise ListingError("empty or unreadable XML")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and (any(True for _ in dtd.iterentities()) or any(True for _ in dtd.elements())):
        raise ListingError(DTD_REFUSED)
    if any(e.level >= etree.ErrorLevels.ERROR and "amplification" in e.message for e in parser.error_log):
        raise ListingError(DTD_REFUSED)
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    if errors:  # recovered: usable entries are kept, the fault is still reported
        root.set("{urn:newsradar}malformed", f"line {errors[0].line}: {errors[0].message}")
    return root


def malformation(root: etree._Element) -> str | None:
    """The first XML error a recovered listing had, if any."""
    return root.get("{urn:newsradar}malformed")


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return _local_name(tag)


@functools.lru_cache(maxsize=1024)
def _local_name(tag: str) -> str:
    """'{namespace}Name' -> 'name' (a feed repeats the same few tags thousands of times)."""
    return tag.rsplit("}", 1)[-1].lower()


class _Kids:
    """An element's children by local name, first occurrence first: one pass over the
    children instead of one per field asked for."""

    def __init__(self, el: etree._Element) -> None:
        self.first: dict[str, tuple[int, etree._Element]] = {}
        for position, child in enumerate(el):
            self.first.setdefault(_local(child.tag), (position, child))

    def get(self, *names: str) -> etree._Element | None:
        """The first child (in document order) with any of these names, like `_child`."""
        found = [self.first[n] for n in names if n in self.first]
        return min(found, key=lambda pc: pc[0])[1] if found else None


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    return " ".join(text.split()) or None


def _child(el: etree._Element, *names: str) -> etree._Element | None:
    for child in el:
        if _local(child.tag) in names:
            return child
    return None


def _children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in el if _local(child.tag) == name)


def normalise_date(text: str | None) -> str | None:
    """RFC 822 (RSS) or ISO 8601 (Atom, sitemaps) -> ISO 8601 with a timezone (UTC if none given).

    Dates before 1990, after 2100 or more than a day in the future (time zones and clock
    skew aside, nothing is published tomorrow) are dropped: None, as if the listing had
    given no date, so the page's own metadata decides."""
    if not text:
        return None
    text = text.strip()
    parsed: datetime | None = None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        if not (1990 <= parsed.year <= 2100) or parsed > datetime.now(timezone.utc) + MAX_FUTURE:
            return None  # the year 10000, or "published" next month: a wrong date is worse than none
        return parsed.isoformat()
    except OverflowError:  # an offset pushing the instant outside datetime's range
        return None


def _resolve_link(base_url: str, link: str | None) -> str | None:
    """The link made absolute; None for none, or for one urllib cannot parse
    ("http://[oops/x"): that entry is unusable, the listing's others are not."""
    if not link or not link.strip():
        return None
    try:
        return urljoin(base_url, link.strip())
    except ValueError:
        return None


def parse_feed(body: bytes, base_url: str) -> list[Entry]:
    """Entries of an RSS 2.0 / RSS 1.0 / Atom feed, links resolved against the feed URL."""
    root = parse_xml(body)
    kind = _local(root.tag)
    entries: list[Entry] = []
    if kind == "feed":  # Atom
        for item in _children(root, "entry"):
            link = None
            for candidate in _children(item, "link"):
                if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                    link = candidate.get("href")
                    break
            url = _resolve_link(base_url, link)
            if not url:
                continue
            author_names = [_text(_child(a, "name")) for a in _children(item, "author")]
            kids = _Kids(item)
            entries.append(Entry(
                url=url,
                title=_text(kids.get("title")),
                published=normalise_date(_text(kids.get("published")) or _text(kids.get("updated"))),
                summary=_text(kids.get("summary", "content")),
                authors=tuple(a for a in author_names if a),
            ))
    elif kind in ("rss", "rdf"):
        channel = _child(root, "channel")
        items = list(_children(root, "item"))  # RSS 1.0 puts items beside the channel
        if channel is not None:
            items += list(_children(channel, "item"))
        for item in items:
            kids = _Kids(item)
            link = _text(kids.get("link"))
            guid = kids.get("guid")
            if not link and guid is not None and guid.get("isPermaLink", "true") == "true":
                link = _text(guid)
            url = _resolve_link(base_url, link)
            if not url:
                continue
            author = _text(kids.get("creator")) or _text(kids.get("author"))
            entries.append(Entry(
                url=url,
                title=_text(kids.get("title")),
                published=normalise_date(_text(kids.get("pubdate")) or _text(kids.get("date"))),
                summary=_text(kids.get("description")),
                authors=(author,) if author else (),
            ))
    else:
        raise ListingError(f"not a feed (root element <{_local(root.tag) or '?'}>)")
    problem = malformation(root)
    if problem and not entries:
        raise ListingError(f"malformed XML: {problem}")
    return entries[:MAX_ENTRIES]


def parse_sitemap(body: bytes, base_url: str) -> Sitemap:
    """A sitemap index (children to fetch) or a urlset, Google News extensions included."""
    root = parse_xml(body)
    kind = _local(root.tag)
    result = Sitemap()
    if kind == "sitemapindex":
        for sm in _children(root, "sitemap"):
            child = _resolve_link(base_url, _text(_child(sm, "loc")))
            if child:
                result.sitemaps.append(child)
    elif kind == "urlset":
        for node in _children(root, "url"):
            url = _resolve_link(base_url, _text(_child(node, "loc")))
            if not url:
                continue
            news = _child(node, "news")
            title = published = None
            if news is not None:
                title = _text(_child(news, "title"))
                published = normalise_date(_text(_child(news, "publication_date")))
            published = published or normalise_date(_text(_child(node, "lastmod")))
            result.entries.append(Entry(url=url, title=title, published=published))
    else:
        raise ListingError(f"not a sitemap (root element <{kind or '?'}>)")
    problem = malformation(root)
    if problem and not (result.entries or result.sitemaps):
        raise ListingError(f"malformed XML: {problem}")
    result.entries = result.entries[:MAX_ENTRIES]
    result.sitemaps = result.sitemaps[:MAX_ENTRIES]
    return result


def entry_verdict(entry: Entry, hosts: frozenset[tuple[str, int | None]], known: set[str], kind: str,
                  cutoff: datetime) -> tuple[str, str]:
    """What the crawler does with an announced article, and its canonical URL: "off-site",
    "not-a-page", "known" (stored already), "too-old" (a sitemap entry older than the
    cut-off) or "new". The spider and the listing probe both decide by this."""
    url = entry.url
    if host_key(url) not in hosts:
        return "off-site", url
    if not looks_like_document(url):
        return "not-a-page", url
    canonical = canonicalize(url)
    if canonical in known:
        return "known", canonical
    if kind == "sitemap" and entry.published and parse_iso(entry.published) < cutoff:
        return "too-old", canonical
    return "new", canonical


def parse_iso(text: str) -> datetime:
    """A listing's ISO 8601 date (naive: UTC); unreadable dates count as now."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
