"""The crawler against fixture outlets on 127.0.0.1: what is stored, and what is (not) requested.

Every assertion about politeness and safety reads the server's own request log.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Iterator

import pytest

import crawler
from conftest import free_port
from newsradar.config import Config, load_config
from newsradar.outlets import OutletRequestHandler, OutletServer, Route
from newsradar.store import open_db

ARTICLE = """<html><head><title>{title} | Fixture Times</title></head><body>
<nav><a href="/">Home</a></nav><article><h1>{title}</h1>
<p>{title}: a story about export controls and the companies that deal with them, long enough to extract.</p>
</article></body></html>"""


def article(title: str) -> Route:
    return Route(ARTICLE.format(title=title))


def rss(base: str, links: list[str]) -> Route:
    items = "".join(f"<item><title>Item {i}</title><link>{link if '://' in link else base + link}</link>"
                    f"<pubDate>Sat, 28 Nov 2026 10:00:00 GMT</pubDate></item>" for i, link in enumerate(links))
    return Route(f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
                 content_type="application/rss+xml")


class Behaviours:
    """Handlers for routes whose answer depends on time or on earlier requests."""

    def __init__(self) -> None:
        self.retry_calls = 0

    def retry_after(self, handler: OutletRequestHandler) -> None:
        self.retry_calls += 1
        if self.retry_calls == 1:
            handler.send_body(503, b"busy", "text/html", {"Retry-After": "1"})
        else:
            handler.send_route(article("Recovered after retry"))

    @staticmethod
    def trickle(handler: OutletRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        deadline = time.monotonic() + 6
        try:
            while time.monotonic() < deadline:
                handler.wfile.write(b"<p>slow</p>")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the crawler gave up: that is the point

    @staticmethod
    def redirect(handler: OutletRequestHandler) -> None:
        handler.send_body(301, b"", None, {"Location": "/news/redirect-target-story-here"})

    @staticmethod
    def offsite_redirect(handler: OutletRequestHandler) -> None:
        port = handler.server.server_address[1]
        handler.send_body(302, b"", None, {"Location": f"http://localhost:{port}/news/redirected-off-site-story"})


@pytest.fixture()
def outlets() -> Iterator[OutletServer]:
    server = OutletServer().start()
    b = server.base
    port = server.port
    behaviours = Behaviours()
    cp1252 = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
              "<title>Café story</title></head><body><article><h1>Naïve café – “quotes”</h1>"
              "<p>Déjà vu for export controls – “smart quotes” and a euro sign €.</p></article></body></html>")
    news_sitemap = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>{b}/news/sitemap-fresh-story-here</loc><news:news><news:publication_date>"
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}</news:publication_date>"
        "<news:title>Fresh from the sitemap</news:title></news:news></url>"
        f"<url><loc>{b}/news/sitemap-ancient-story-here</loc><news:news><news:publication_date>"
        "2015-01-01T00:00:00Z</news:publication_date><news:title>Old</news:title></news:news></url>"
        "</urlset>")
    server.routes.update({
        "/robots.txt": Route("User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        "/feed.xml": rss(b, [
            "/news/plain-feed-story-here?utm_source=rss&utm_medium=feed",
            "/private/disallowed-story-here",
            "/s/abc123",
            "/news/retry-after-story-here",
            "/news/trickling-story-here",
            "/news/oversized-story-here",
            "/files/annual-report.pdf",
            "/download/report-without-extension-2026",
            "/news/windows-1252-story-here",
            "/news/gzip-encoded-story-here",
            "/s/offsite-hop",
            f"http://localhost:{port}/news/off-site-story-here",
        ]),
        "/atom.xml": Route(
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
            f'<entry><title>Atom story</title><link rel="alternate" href="{b}/news/atom-only-story-here"/>'
            "<published>2026-11-28T09:00:00Z</published><author><name>Ada Writer</name></author></entry>"
            f'<entry><title>Dup</title><link href="{b}/news/plain-feed-story-here"/></entry></feed>',
            content_type="application/atom+xml"),
        "/sitemap_index.xml": Route(
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{b}/news-sitemap.xml.gz</loc></sitemap>"
            f"<sitemap><loc>http://localhost:{port}/elsewhere-sitemap.xml</loc></sitemap></sitemapindex>",
            content_type="application/xml"),
        "/news-sitemap.xml.gz": Route(gzip.compress(news_sitemap.encode()), content_type="application/x-gzip"),
        "/section/policy/": Route(
            "<html><body><nav><a href='/tag/chips/'>Chips</a> <a href='/author/ada-writer/'>Ada</a>"
            "<a href='/category/policy/'>Policy</a> <a href='/section/policy/?page=2'>Next</a></nav>"
            "<a href='/news/section-linked-story-here'>A story</a>"
            "<a href='/calendar-trap/day-one-of-the-endless-calendar'>Day 1</a>"
            f"<a href='http://localhost:{port}/news/linked-off-site-story'>Off-site</a>"
            "<a href='mailto:desk@example.org'>Mail</a><a href='javascript:alert(1)'>js</a></body></html>"),
        "/calendar-trap/day-one-of-the-endless-calendar": Route(
            "<html><body><article><h1>Day one</h1><p>Events.</p>"
            "<a href='/calendar-trap/day-two-of-the-endless-calendar'>next day</a></article></body></html>"),
        "/news/plain-feed-story-here": article("Plain feed story"),
        "/news/atom-only-story-here": article("Atom only story"),
        "/news/section-linked-story-here": article("Section linked story"),
        "/news/sitemap-fresh-story-here": article("Sitemap fresh story"),
        "/news/sitemap-ancient-story-here": article("Ancient"),
        "/private/disallowed-story-here": article("Disallowed"),
        "/s/abc123": Behaviours.redirect,
        "/s/offsite-hop": Behaviours.offsite_redirect,
        "/news/redirect-target-story-here": article("Redirect target"),
        "/news/retry-after-story-here": behaviours.retry_after,
        "/news/trickling-story-here": Behaviours.trickle,
        "/news/oversized-story-here": Route("<html><body><p>" + "x" * 300_000 + "</p></body></html>"),
        "/files/annual-report.pdf": Route(b"%PDF-1.4 fake", content_type="application/pdf"),
        "/download/report-without-extension-2026": Route(b"%PDF-1.4 " + b"0" * 50_000,
                                                         content_type="application/pdf"),
        "/news/windows-1252-story-here": Route(cp1252.encode("cp1252"), content_type="text/html"),
        "/news/gzip-encoded-story-here": Route(ARTICLE.format(title="Gzip story"), gzip=True),
        "/broken/feed.xml": Route('<?xml version="1.0"?><rss><channel><item><title>half',
                                  content_type="application/rss+xml"),
        "/broken/not-a-feed.xml": Route("<html><body>This is an HTML page</body></html>"),
    })
    yield server
    server.stop()


def fixture_config(tmp_path: Path, base: str, *, extra: str = "", http_client: str = "aiohttp") -> Config:
    dead = free_port()
    text = f"""
[storage]
path = "t.db"
[crawl]
delay = 0
timeout = 2
max_page_bytes = 200_000
concurrency_per_host = 4
http_client = "{http_client}"
[[sources]]
name = "fixture-times"
feeds = ["{base}/feed.xml", "{base}/atom.xml"]
sitemaps = ["{base}/sitemap_index.xml"]
pages = ["{base}/section/policy/"]
[[sources]]
name = "broken-outlet"
feeds = ["{base}/broken/feed.xml", "{base}/broken/not-a-feed.xml"]
[[sources]]
name = "dead-outlet"
feeds = ["http://127.0.0.1:{dead}/feed.xml"]
{extra}
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def run_crawl(config: Config) -> list[crawler.SourceRun]:
    child = crawler.start_crawl(config, config.sources, log_file=str(config.path.parent / "crawl.log"))
    assert child.wait(timeout=120) == 0, (config.path.parent / "crawl.log").read_text()
    return crawler.read_summary(open_db(config.storage.path), child.run_group)


# both download handlers: the default (aiohttp, no Twisted reactor) and the fallback
@pytest.mark.parametrize("http_client", ["aiohttp", "twisted"])
def test_crawl_stores_every_reachable_article_once_and_nothing_else(outlets: OutletServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    http_client: str) -> None:
    config = fixture_config(tmp_path, outlets.base, http_client=http_client)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    files_during_crawl: list[list[Path]] = []

    def plain_story(handler: OutletRequestHandler) -> None:  # looks around while the crawl runs
        files_during_crawl.append([p for p in home.rglob("*") if p.is_file()] if home.exists() else [])
        handler.send_route(article("Plain feed story"))

    outlets.routes["/news/plain-feed-story-here"] = plain_story
    summary = {r.source: r for r in run_crawl(config)}
    # Scrapy's RemoteControl (an HTTP endpoint that runs code, announced by a job file in the
    # user's state directory) is off
    assert files_during_crawl == [[]]
    db = open_db(config.storage.path)
    pages = {row["url"].replace(outlets.base, ""): row for row in db["pages"].rows}
    assert set(pages) == {
        "/news/plain-feed-story-here", "/news/atom-only-story-here", "/news/section-linked-story-here",
        "/calendar-trap/day-one-of-the-endless-calendar", "/news/sitemap-fresh-story-here",
        "/news/redirect-target-story-here", "/news/retry-after-story-here", "/news/windows-1252-story-here",
        "/news/gzip-encoded-story-here",
    }
    # the 503 article was stored after its retry, which waited for Retry-After
    retry_times = [r.at for r in outlets.log if r.path == "/news/retry-after-story-here"]
    assert len(retry_times) == 2 and retry_times[1] - retry_times[0] >= 0.9
    # the redirect: stored under the final URL, as fetched; the short URL maps to it
    target = pages["/news/redirect-target-story-here"]
    assert target["fetched_url"] == outlets.base + "/news/redirect-target-story-here"
    alias = db.execute("select page_url from url_aliases where url = ?", [outlets.base + "/s/abc123"]).fetchone()
    assert alias == (outlets.base + "/news/redirect-target-story-here",)
    # tracking parameters are stripped from the stored URL and the page is stored once
    assert db.execute("select count(*) from pages where url like '%plain-feed-story%'").fetchone()[0] == 1
    # feed metadata kept for the extractor's fallbacks
    assert json.loads(pages["/news/atom-only-story-here"]["feed_meta"])["authors"] == ["Ada Writer"]
    assert json.loads(pages["/news/sitemap-fresh-story-here"]["feed_meta"])["title"] == "Fresh from the sitemap"
    # windows-1252 declared only by http-equiv comes out without mojibake; gzip was inflated
    assert "Naïve café – “quotes”" in pages["/news/windows-1252-story-here"]["html"]
    assert "€" in pages["/news/windows-1252-story-here"]["html"]
    assert "Gzip story" in pages["/news/gzip-encoded-story-here"]["html"]

    requested = outlets.paths()
    never = ["/private/disallowed-story-here", "/files/annual-report.pdf", "/news/sitemap-ancient-story-here",
             "/calendar-trap/day-two-of-the-endless-calendar", "/tag/chips/", "/author/ada-writer/",
             "/category/policy/", "/section/policy/?page=2", "/news/off-site-story-here",
             "/news/linked-off-site-story", "/news/redirected-off-site-story", "/elsewhere-sitemap.xml"]
    for path in never:
        assert path not in requested, f"{path} must not be requested"
    # nothing was requested under the other host name (the server logs every request it gets)
    assert all(not r.headers.get("Host", "").startswith("localhost") for r in outlets.log)
    # the PDF without extension was refused on its headers and never stored
    assert "/download/report-without-extension-2026" not in pages
    assert requested.count("/news/oversized-story-here") >= 1 and "/news/oversized-story-here" not in pages
    assert "/news/trickling-story-here" not in pages

    # failures are per source and recorded; the good source is fine
    assert summary["fixture-times"].status == "ok"
    assert summary["broken-outlet"].status == "failed"
    assert summary["dead-outlet"].status == "failed"
    sources = {row["name"]: row for row in db["sources"].rows}
    assert "connection refused" in sources["dead-outlet"]["last_error"]
    assert "not a feed" in sources["broken-outlet"]["last_error"] or "malformed" in sources["broken-outlet"][
        "last_error"]
    assert sources["dead-outlet"]["consecutive_failures"] == 1
    assert sources["fixture-times"]["articles_seen"] == 9


def test_second_crawl_fetches_no_article_and_revalidates_listings(outlets: OutletServer, tmp_path: Path) -> None:
    config = fixture_config(tmp_path, outlets.base)
    run_crawl(config)
    first = len(outlets.log)
    summary = {r.source: r for r in run_crawl(config)}
    second = outlets.log[first:]
    article_requests = [r.path for r in second if r.path.startswith(("/news/", "/calendar-trap/", "/s/"))]
    # only the ones that failed or were refused the first time are tried again
    assert set(article_requests) == {"/news/trickling-story-here", "/news/oversized-story-here", "/s/offsite-hop"}
    # listings whose articles all made it are revalidated; the feed that announced the failed
    # ones kept no validator, so it is read in full and they are retried
    revalidated = [r for r in second if r.path in ("/atom.xml", "/section/policy/")]
    assert revalidated and all("If-None-Match" in r.headers for r in revalidated)
    assert all("If-None-Match" not in r.headers for r in second if r.path == "/feed.xml")
    # the sitemap index keeps no validator (its children change under it); its child does
    assert [("If-None-Match" in r.headers) for r in second if r.path == "/sitemap_index.xml"] == [False]
    assert [("If-None-Match" in r.headers) for r in second if r.path == "/news-sitemap.xml.gz"] == [True]
    assert summary["fixture-times"].new == 0
    assert summary["fixture-times"].not_modified >= 3
    db = open_db(config.storage.path)
    assert db.execute("select count(*) from pages").fetchone()[0] == 9
    assert open_db(config.storage.path)["sources"].get("dead-outlet")["consecutive_failures"] == 2


def test_a_new_article_in_the_child_of_an_unchanged_sitemap_index_is_fetched(tmp_path: Path) -> None:
    def child_sitemap(paths: list[str]) -> Route:
        urls = "".join(f"<url><loc>{b}{p}</loc></url>" for p in paths)
        return Route(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
                     "</urlset>", content_type="application/xml", validators=False)

    with OutletServer() as server:
        b = server.base
        server.routes.update({
            "/robots.txt": Route("User-agent: *\n", content_type="text/plain"),
            "/sitemap_index.xml": Route(  # the same bytes, validators and all, on both runs
                '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{b}/sitemap-news.xml</loc></sitemap></sitemapindex>", content_type="application/xml"),
            "/sitemap-news.xml": child_sitemap(["/news/first-story-in-the-map"]),
            "/news/first-story-in-the-map": article("First"),
            "/news/second-story-in-the-map": article("Second"),
        })
        path = tmp_path / "config.toml"
        path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\n[[sources]]\nname = "mapped"\n'
                        f'sitemaps = ["{b}/sitemap_index.xml"]\n')
        config = load_config(path)
        run_crawl(config)
        server.routes["/sitemap-news.xml"] = child_sitemap(["/news/first-story-in-the-map",
                                                            "/news/second-story-in-the-map"])
        mark = len(server.log)
        run_crawl(config)
        second = [r.path for r in server.log[mark:]]
    assert "/news/second-story-in-the-map" in second and "/news/first-story-in-the-map" not in second


@pytest.mark.parametrize("http_client", ["aiohttp", "twisted"])
def test_pages_with_oversized_headers_are_stored(tmp_path: Path, http_client: str) -> None:
    """aiohttp's defaults refuse a header line over 8 kB or more than 128 headers; news sites
    send both (long Content-Security-Policy lines, cookie lists), and Twisted accepts them."""
    with OutletServer() as server:
        b = server.base
        paths = ["/news/long-policy-header-story", "/news/many-headers-story-here"]
        server.routes.update({
            "/robots.txt": Route("User-agent: *\n", content_type="text/plain"),
            "/feed.xml": rss(b, paths),
            paths[0]: Route(str(article("Long header").body), headers={"Content-Security-Policy": "x" * 9000}),
            paths[1]: Route(str(article("Many headers").body), headers={f"X-Extra-{i}": str(i) for i in range(140)}),
        })
        path = tmp_path / "config.toml"
        path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\nhttp_client = "{http_client}"\n'
                        f'[[sources]]\nname = "heavy"\nfeeds = ["{b}/feed.xml"]\n')
        config = load_config(path)
        run_crawl(config)
        stored = {row[0].replace(b, "") for row in open_db(config.storage.path).execute("select url from pages")}
    assert stored == set(paths)


def test_a_link_urllib_cannot_parse_costs_that_entry_only(tmp_path: Path) -> None:
    """`http://[oops/x` makes urljoin raise: the feed's other articles are still fetched and
    the source reports ok (the whole listing callback used to die as a Scrapy spider error)."""
    with OutletServer() as server:
        b = server.base
        server.routes.update({
            "/robots.txt": Route("User-agent: *\n", content_type="text/plain"),
            "/feed.xml": Route('<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>'
                               '<item><link>http://[oops/x</link></item>'
                               f'<item><link>{b}/news/the-good-story-here</link></item></channel></rss>',
                               content_type="application/rss+xml"),
            "/sitemap.xml": Route('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                  '<url><loc>http://[oops/y</loc></url>'
                                  f'<url><loc>{b}/news/the-mapped-story-here</loc></url></urlset>',
                                  content_type="application/xml"),
            "/news/the-good-story-here": article("Good story"),
            "/news/the-mapped-story-here": article("Mapped story"),
        })
        path = tmp_path / "config.toml"
        path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\n'
                        f'[[sources]]\nname = "odd"\nfeeds = ["{b}/feed.xml"]\nsitemaps = ["{b}/sitemap.xml"]\n')
        config = load_config(path)
        runs = run_crawl(config)
        stored = {row[0].replace(b, "") for row in open_db(config.storage.path).execute("select url from pages")}
    assert stored == {"/news/the-good-story-here", "/news/the-mapped-story-here"}
    assert [(r.source, r.status, r.errors) for r in runs] == [("odd", "ok", 0)]


def test_crawl_delay_in_robots_spaces_requests(tmp_path: Path) -> None:
    with OutletServer() as server:
        b = server.base
        server.routes.update({
            "/robots.txt": Route("User-agent: *\nCrawl-delay: 1\n", content_type="text/plain"),
            "/feed.xml": rss(b, [f"/news/delayed-story-number-{i}" for i in range(3)]),
            **{f"/news/delayed-story-number-{i}": article(f"Delayed {i}") for i in range(3)},
        })
        path = tmp_path / "config.toml"
        path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\n[[sources]]\nname = "slow"\n'
                        f'feeds = ["{b}/feed.xml"]\n')
        config = load_config(path)
        run_crawl(config)
        times = sorted(r.at for r in server.log if r.path.startswith("/news/"))
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) >= 0.9, gaps
