"""What the spider hands to the store pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageFetched:
    """An article page as fetched; `url` is canonical after redirects, `fetched_url` exact."""

    url: str
    fetched_url: str
    requested_url: str
    source: str
    discovered_via: str
    status: int
    content_type: str
    encoding: str
    html: str
    feed_meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ListingFetched:
    """A feed, sitemap or section page answered: keep its validators for conditional GET."""

    url: str
    source: str
    status: int
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # see crawler.listings.body_digest
    context: str | None = None    # see crawler.listings.listing_context


@dataclass
class SourceEvent:
    """Counts and events of one source in this run; failures carry a user-readable detail."""

    source: str
    discovered: int = 0
    fetched: int = 0
    not_modified: int = 0
    errors: int = 0
    skipped: int = 0
    ok: bool = False
    failed: bool = False
    event: str | None = None
    url: str | None = None
    detail: str | None = None
    listings: tuple[str, ...] = ()  # listings that announced an article which failed: not revalidated
