"""Crawler building blocks on their own: URL hygiene, the article-link test, feed and sitemap parsing."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings, strategies as st
from scrapy.http import HtmlResponse

from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError, DownloadTimeoutError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TimeoutError
from twisted.python.failure import Failure

from crawler.listings import ListingError, normalise_date, parse_feed, parse_sitemap
from crawler.spiders import _CONTROL_CHARS, describe_failure, page_text
from crawler.urls import allowed_hosts, canonicalize, canonicalize_full, canonicalize_plain, host_key, is_allowed, looks_like_article, looks_like_document


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Example.ORG:80/a/b?utm_source=x&b=2&a=1#frag", "http://example.org/a/b?a=1&b=2"),
    ("https://example.org:443/story?fbclid=abc", "https://example.org/story"),
    ("https://example.org:8443/story", "https://example.org:8443/story"),
    ("https://example.org/p?utm_medium=rss&utm_campaign=y", "https://example.org/p"),
    ("https://example.org", "https://example.org/"),
])
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected
    assert canonicalize(canonicalize(url)) == canonicalize(url)


def test_host_allow_list_is_exact_host_and_port() -> None:
    hosts = allowed_hosts(["https://news.example.org/feed", "http://127.0.0.1:8080/x"])
    assert is_allowed("https://news.example.org/a-story", hosts)
    assert not is_allowed("https://example.org/a-story", hosts)            # parent domain
    assert not is_allowed("https://evil.news.example.org/x", hosts)        # subdomain
    assert not is_allowed("http://127.0.0.1:9090/x", hosts)                # other port
    assert not is_allowed("http://localhost:8080/x", hosts)                # other name, same machine
    for bad in ("javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "mailto:a@b.c",
                "https://user:pw@news.example.org/x", "ftp://news.example.org/x"):
        assert host_key(bad) is None and not is_allowed(bad, hosts)


@pytest.mark.parametrize("url, article", [
    ("https://ex.org/news/2026/11/chinese-firms-rent-gpus-abroad", True),
    ("https://ex.org/tech/chinese-firms-rent-gpus-abroad.html", True),
    ("https://ex.org/story/123456789", True),
    ("https://ex.org/tag/export-controls/", False),
    ("https://ex.org/author/jane-doe/", False),
    ("https://ex.org/category/policy-and-law/", False),
    ("https://ex.org/policy/?page=2", False),
    ("https://ex.org/2026/11/", False),
    ("https://ex.org/about", False),
    ("https://ex.org/files/annual-report-2026.pdf", False),
    ("https://ex.org/", False),
])
def test_looks_like_article(url: str, article: bool) -> None:
    assert looks_like_article(url, "https://ex.org/policy/") is article


def test_looks_like_document_rejects_media() -> None:
    assert not looks_like_document("https://ex.org/a/photo.JPG")
    assert looks_like_document("https://ex.org/a/story-about-chips")


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>
<item><title> Chips &amp; sanctions </title><link>/news/chips-and-sanctions</link>
<pubDate>Tue, 10 Nov 2026 08:00:00 +0100</pubDate><dc:creator>Jane Roe</dc:creator>
<description>&lt;p&gt;Summary&lt;/p&gt;</description></item>
<item><title>No link</title></item>
<item><guid isPermaLink="true">https://ex.org/news/guid-link-story</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title type="html">Atom one</title><link rel="self" href="https://ex.org/self"/>
<link rel="alternate" href="https://ex.org/news/atom-one"/><updated>2026-11-10T07:00:00Z</updated>
<author><name>Ann</name></author><author><name>Bo</name></author></entry></feed>"""


def test_parse_rss() -> None:
    entries = parse_feed(RSS, "https://ex.org/feed.xml")
    assert [e.url for e in entries] == ["https://ex.org/news/chips-and-sanctions", "https://ex.org/news/guid-link-story"]
    first = entries[0]
    assert first.title == "Chips & sanctions" and first.authors == ("Jane Roe",)
    assert first.published == "2026-11-10T08:00:00+01:00"
    assert first.meta()["summary"] == "<p>Summary</p>"


def test_parse_atom() -> None:
    (entry,) = parse_feed(ATOM, "https://ex.org/atom.xml")
    assert entry.url == "https://ex.org/news/atom-one" and entry.authors == ("Ann", "Bo")
    assert entry.published == "2026-11-10T07:00:00+00:00"


def test_parse_sitemaps() -> None:
    index = parse_sitemap(b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
                          b"<loc>https://ex.org/s1.xml.gz</loc></sitemap></sitemapindex>", "https://ex.org/")
    assert index.sitemaps == ["https://ex.org/s1.xml.gz"] and not index.entries
    news = parse_sitemap(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://ex.org/a-b-c</loc>'
        b"<news:news><news:publication_date>2026-11-09</news:publication_date><news:title>T</news:title>"
        b"</news:news></url><url><loc>https://ex.org/d-e-f</loc><lastmod>2026-11-08T10:00:00Z</lastmod></url>"
        b"</urlset>", "https://ex.org/")
    assert [(e.url, e.title, e.published) for e in news.entries] == [
        ("https://ex.org/a-b-c", "T", "2026-11-09T00:00:00+00:00"),
        ("https://ex.org/d-e-f", None, "2026-11-08T10:00:00+00:00"),
    ]


@pytest.mark.parametrize("body", [b"<html><body>not a feed</body></html>", b"", b"\x00\x01garbage",
                                  b"<rss><channel><item><title>half"])
def test_unreadable_feeds_raise_listing_error(body: bytes) -> None:
    with pytest.raises(ListingError):
        parse_feed(body, "https://ex.org/feed")


def test_normalise_date() -> None:
    assert normalise_date("Tue, 10 Nov 2026 08:00:00 GMT") == "2026-11-10T08:00:00+00:00"
    assert normalise_date("2026-11-10") == "2026-11-10T00:00:00+00:00"
    assert normalise_date("10000-01-01") is None and normalise_date("yesterday") is None


@pytest.mark.parametrize("error, said", [
    # the aiohttp handler raises Scrapy's exceptions, the Twisted one Twisted's
    (CannotResolveHostError("nowhere.invalid"), "DNS lookup failed"),
    (DNSLookupError("nowhere.invalid"), "DNS lookup failed"),
    (DownloadConnectionRefusedError("127.0.0.1:9"), "connection refused"),
    (ConnectionRefusedError("127.0.0.1:9"), "connection refused"),
    (DownloadTimeoutError("Getting http://a.org/ took longer than 2 seconds."), "timed out"),
    (TimeoutError("User timeout caused connection failure."), "timed out"),
    (DownloadConnectionRefusedError("Cannot connect to host a.org:443 ssl:default [Connect call failed "
                                    "('192.0.2.1', 443)]"), "connection refused"),
])
def test_describe_failure_names_network_errors_of_either_client(error: Exception, said: str) -> None:
    assert describe_failure(Failure(error)) == said


def test_describe_failure_tells_a_certificate_problem_from_a_refused_connection() -> None:
    error = DownloadConnectionRefusedError(
        "Cannot connect to host a.org:443 ssl:True [SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate (_ssl.c:1006)')]")
    assert describe_failure(Failure(error)).startswith("TLS error: ")


_LABEL = st.one_of(st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=70),
                   st.integers(0, 999).map(str))
_SEGMENT = st.text(string.ascii_letters + string.digits + "._~-", max_size=12)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(["http", "https"]), st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
       st.one_of(st.just(""), st.sampled_from([":80", ":443", ":080", ":0"]), st.integers(0, 99999).map(":{}".format)),
       st.lists(_SEGMENT, max_size=5).map(lambda segments: "".join("/" + s for s in segments)))
@example("http", "a.org", "", "/./x/../y")
@example("https", "xn--bcher-kva.example", ":443", "")
def test_plain_url_fast_path_agrees_with_the_full_route(scheme: str, host: str, port: str, path: str) -> None:
    url = f"{scheme}://{host}{port}{path}"
    plain = canonicalize_plain(url)
    if plain is not None:
        assert plain == canonicalize_full(url)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["utf-8", "cp1252", "iso-8859-1", "utf-16", "shift_jis", "koi8-r"]))
@example("caf\u00e9 \ufffe\uffff x".encode("utf-8"), "utf-8")
@example(b"a\x00b\x0bc\x7f\x0cd", "cp1252")
@example("na\u00efve".encode("cp1252"), "utf-8")  # the legacy page behind a UTF-8 header
def test_page_text_removes_every_control_character_and_nothing_else(body: bytes, encoding: str) -> None:
    response = HtmlResponse("http://a.org/", body=body, encoding=encoding)
    text, used = page_text(response)
    source = response.text if used == response.encoding else body.decode(used, errors="replace")
    assert text == _CONTROL_CHARS.sub("", source)
