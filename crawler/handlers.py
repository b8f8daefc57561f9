"""Scrapy's aiohttp download handler with the header limits of its Twisted handler.

aiohttp refuses a response whose header line exceeds 8,190 bytes or that has more than 128
headers; Twisted accepts them, and news sites do send them (9 kB Content-Security-Policy
lines, long cookie lists). Scrapy builds the aiohttp session without a way to set the
limits, so this handler raises the session's defaults after Scrapy has built it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler

if TYPE_CHECKING:  # pragma: no cover
    from scrapy.crawler import Crawler

MAX_HEADER_LINE = 65_536  # bytes, a header line or field
MAX_HEADERS = 1_000


class NewsAiohttpHandler(AiohttpDownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        session = self._session
        # the session's defaults for every request (aiohttp 3.14, pinned; the crawler test
        # with oversized headers fails if an upgrade renames them)
        for attribute, value in (("_max_line_size", MAX_HEADER_LINE), ("_max_field_size", MAX_HEADER_LINE),
                                 ("_max_headers", MAX_HEADERS)):
            if not hasattr(session, attribute):
                raise RuntimeError(f"aiohttp's ClientSession has no {attribute}: check crawler/handlers.py")
            setattr(session, attribute, value)
