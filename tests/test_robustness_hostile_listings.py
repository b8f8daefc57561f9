"""Hostile feeds, sitemaps, redirects and links against the real crawler.

One fixture server plays several hostile outlets and one crawl (the real child process)
runs over all of them; the tests then read the server's request log, the store and the
crawl log. Every hostile input must end in a bounded outcome: a per-source error or
refusal recorded in `fetch_log` and `sources.last_error`, nothing read from disk or
fetched that should not be, and the crawl of the other sources going on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from newsradar.config import load_config
from newsradar.outlets import OutletRequestHandler, OutletServer, Route
from newsradar.store import open_db
from test_robustness_helpers import dump_database, gzip_bomb, page, rss, run_crawl_measured

MARKER = "NEWSRADAR-XXE-MARKER-5d1c"
BOMB_MB = 100
PAD = " " * 5000  # pushes a DOCTYPE past the parser's quick look at the first 4 KiB
XML = '<?xml version="1.0"?>'
RSS_OPEN, RSS_CLOSE = '<rss version="2.0"><channel><title>T</title>', "</channel></rss>"
SM_OPEN, SM_CLOSE = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">', "</urlset>"


def billion_laughs(open_tag: str, close_tag: str, inner: str, pad: str = "") -> str:
    ents = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    return f"{XML}{pad}<!DOCTYPE x [{ents}]>{open_tag}{inner}{close_tag}"


def redirect_to(location: str, status: int = 302):
    def handler(h: OutletRequestHandler) -> None:
        port = h.server.server_address[1]
        h.send_body(status, b"", None, {"Location": location.replace("{port}", str(port))})
    return handler


@dataclass
class Crawled:
    server: OutletServer
    db_path: Path
    log: str
    seconds: float
    peak_rss_mb: float
    summary: dict
    secret_file: Path

    @property
    def base(self) -> str:
        return self.server.base

    def events(self, source: str) -> list[tuple[str, str, str]]:
        db = open_db(self.db_path)
        try:
            return [(e, u.replace(self.base, "") if u else u, d or "") for e, u, d in db.execute(
                "select event, url, detail from fetch_log where source = ? order by id", [source])]
        finally:
            db.conn.close()

    def event_for(self, source: str, path: str) -> tuple[str, str]:
        found = [(e, d) for e, u, d in self.events(source) if u == path]
        assert found, f"no event for {path} in {self.events(source)}"
        return found[0]

    def pages(self) -> dict[str, dict]:
        db = open_db(self.db_path)
        try:
            return {r["url"].replace(self.base, ""): r for r in db["pages"].rows}
        finally:
            db.conn.close()


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    tmp = tmp_path_factory.mktemp("hostile")
    secret = tmp / "secret.txt"
    secret.write_text(MARKER)
    server = OutletServer().start()
    b, port = server.base, server.port
    lol_item = f"<item><title>&lol9;</title><link>{b}/news/lol-story-&lol9;</link></item>"
    xxe = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
    utf16 = billion_laughs(RSS_OPEN, RSS_CLOSE, lol_item).replace('version="1.0"?>',
                                                                  'version="1.0" encoding="utf-16"?>')
    bomb = gzip_bomb(BOMB_MB)
    feed = "application/rss+xml"
    server.routes.update({
        # ---- XML attacks: nothing may expand, read a file or fetch a URL
        "/x/lol.xml": Route(billion_laughs(RSS_OPEN, RSS_CLOSE, lol_item), content_type=feed),
        "/x/lol-padded.xml": Route(billion_laughs(RSS_OPEN, RSS_CLOSE, lol_item, PAD), content_type=feed),
        "/x/lol-utf16.xml": Route(utf16.encode("utf-16"), content_type=feed),
        "/x/xxe-file.xml": Route(f"{XML}{PAD}{xxe}{RSS_OPEN}<item><title>&x;</title><link>{b}/news/xxe-&x;</link>"
                                 f"</item>{RSS_CLOSE}", content_type=feed),
        "/x/xxe-url.xml": Route(f'{XML}{PAD}<!DOCTYPE r [<!ENTITY x SYSTEM "{b}/xxe-target">]>{RSS_OPEN}<item>'
                                f"<title>&x;</title><link>{b}/news/xxe-url-story-here</link></item>{RSS_CLOSE}",
                                content_type=feed),
        "/x/param.xml": Route(f'{XML}{PAD}<!DOCTYPE r [<!ENTITY % p SYSTEM "{b}/param.dtd"> %p;]>{RSS_OPEN}'
                              f"<item><title>t</title><link>{b}/news/param-story-here</link></item>{RSS_CLOSE}",
                              content_type=feed),
        "/x/external-dtd.xml": Route(f'{XML}<!DOCTYPE rss SYSTEM "{b}/evil.dtd">{RSS_OPEN}<item><title>DTD &ent;'
                                     f"</title><link>{b}/news/external-dtd-story-here</link></item>{RSS_CLOSE}",
                                     content_type=feed),
        "/x/xinclude.xml": Route(f'{XML}<rss version="2.0" xmlns:xi="http://www.w3.org/2001/XInclude"><channel>'
                                 f'<item><title><xi:include href="file://{secret}" parse="text"/></title>'
                                 f"<link>{b}/news/xinclude-story-here</link></item>{RSS_CLOSE}", content_type=feed),
        "/x/sitemap-lol.xml": Route(billion_laughs(SM_OPEN, SM_CLOSE, f"<url><loc>{b}/news/sm-&lol9;</loc></url>", PAD),
                                    content_type="application/xml"),
        "/x/sitemap-xxe.xml": Route(f"{XML}{PAD}{xxe}{SM_OPEN}<url><loc>{b}/news/sm-xxe-&x;</loc></url>{SM_CLOSE}",
                                    content_type="application/xml"),
        "/x/sitemap-dtd.xml": Route(f'{XML}<!DOCTYPE urlset SYSTEM "{b}/evil-sitemap.dtd">{SM_OPEN}<url><loc>{b}'
                                    f"/news/sitemap-dtd-story-here</loc></url>{SM_CLOSE}",
                                    content_type="application/xml"),
        "/evil.dtd": Route('<!ENTITY ent "EXPANDED">', content_type="application/xml-dtd"),
        "/news/external-dtd-story-here": Route(page("External DTD story")),
        "/news/xinclude-story-here": Route(page("XInclude story")),
        "/news/sitemap-dtd-story-here": Route(page("Sitemap DTD story")),
        # ---- decompression bombs (100 MiB of zeros in ~100 KB)
        "/b/feed.xml": Route(rss(b, ["/news/gzip-bomb-story-here", "/news/fine-story-next-to-bomb"]),
                             content_type=feed),
        "/news/gzip-bomb-story-here": Route(bomb, headers={"Content-Encoding": "gzip"}, validators=False),
        "/news/fine-story-next-to-bomb": Route(page("Fine story next to the bomb")),
        "/b/sitemap.xml.gz": Route(bomb, content_type="application/x-gzip", validators=False),
        "/b/encoded-sitemap.xml": Route(bomb, content_type="application/xml", headers={"Content-Encoding": "gzip"},
                                        validators=False),
        # ---- listings that are not what they claim
        "/m/html-feed.xml": Route("<html><body><h1>Our feed moved</h1><p>Sorry</p></body></html>"),
        "/m/empty-feed.xml": Route(b"", content_type=feed),
        "/m/binary-feed.xml": Route(b"\x00\x01\xff\xfe garbage \x00" * 100, content_type=feed),
        "/m/html-sitemap.xml": Route("<html><body>Sitemap? <a href='/news/a-b-c'>x</a></body></html>"),
        # /m/404-sitemap.xml is not routed: the server answers 404 with an HTML page
        # ---- dates from nowhere
        "/d/feed.xml": Route(
            f"{XML}{RSS_OPEN}"
            f"<item><title>Year 10000</title><link>{b}/news/year-ten-thousand-story</link>"
            "<pubDate>Mon, 01 Jan 10000 00:00:00 GMT</pubDate></item>"
            f"<item><title>Future</title><link>{b}/news/published-in-the-future-story</link>"
            "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
            f"<item><title>Garbage date</title><link>{b}/news/garbage-date-story-here</link>"
            "<pubDate>yesterday-ish at 25:61 +99999999999999999999</pubDate></item>"
            f"{RSS_CLOSE}", content_type=feed),
        "/d/sitemap.xml": Route(
            f'{XML}<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"<url><loc>{b}/news/sitemap-year-ten-thousand</loc><lastmod>10000-01-01</lastmod></url>"
            f"<url><loc>{b}/news/sitemap-future-story-here</loc><news:news><news:publication_date>"
            "2099-12-31T23:59:59Z</news:publication_date><news:title>Future</news:title></news:news></url>"
            f"{SM_CLOSE}", content_type="application/xml"),
        **{f"/news/{slug}": Route(page(slug.replace("-", " ").capitalize())) for slug in [
            "year-ten-thousand-story", "published-in-the-future-story", "garbage-date-story-here",
            "sitemap-year-ten-thousand", "sitemap-future-story-here"]},
        # ---- redirect abuse
        "/r/feed.xml": Route(rss(b, ["/r/loop-a", "/r/chain-0", "/r/offsite", "/r/to-file", "/r/to-data",
                                     "/r/to-credentials", "/r/scheme-relative", "/r/short"]), content_type=feed),
        "/r/loop-a": redirect_to("/r/loop-b"),
        "/r/loop-b": redirect_to("/r/loop-a", 301),
        **{f"/r/chain-{i}": redirect_to(f"/r/chain-{i + 1}") for i in range(9)},
        "/r/chain-9": redirect_to("/news/end-of-a-long-chain"),
        "/news/end-of-a-long-chain": Route(page("End of a long chain")),
        "/r/offsite": redirect_to("http://localhost:{port}/news/redirected-off-site-story"),
        "/r/to-file": redirect_to(f"file://{secret}"),
        "/r/to-data": redirect_to("data:text/html,<h1>" + MARKER + "</h1>"),
        "/r/to-credentials": redirect_to("http://user:pass@127.0.0.1:{port}/news/credential-target-story"),
        "/r/scheme-relative": redirect_to("//evil.example/news/scheme-relative-story"),
        "/r/short": redirect_to("/news/redirect-ok-story-here", 301),
        "/news/redirect-ok-story-here": Route(page("Redirect OK story")),
        "/news/redirected-off-site-story": Route(page("Off-site")),
        "/news/credential-target-story": Route(page("Credentials")),
        # ---- URL abuse in feeds and on a section page
        "/u/feed.xml": Route(rss(b, [
            "javascript:alert(document.cookie)", "data:text/html;base64,PGgxPmhpPC9oMT4=", f"file://{secret}",
            "mailto:desk@example.org", f"http://user:pass@127.0.0.1:{port}/news/credential-story-here",
            f"http://127.0.0.1:{port}@evil.example/news/userinfo-trick-story", "../../../../etc/passwd",
            "//evil.example/x", "http://xn--80ak6aa92e.com/news/punycode-homograph-story",
            f"http://lоcalhost:{port}/news/cyrillic-o-homograph-story",
            f"http://ｌｏｃａｌｈｏｓｔ:{port}/news/fullwidth-homograph-story",
            f"http://127.0.0.1:{port}:80/news/double-port-story", "/news/legit-story-among-abuse",
        ]), content_type=feed),
        "/u/section/": Route(
            "<html><body><a href='javascript:alert(1)'>js</a><a href='data:text/html,x'>data</a>"
            f"<a href='file://{secret}'>file</a><a href='mailto:a@b.c'>mail</a>"
            f"<a href='http://user:pass@127.0.0.1:{port}/news/section-credential-story'>cred</a>"
            "<a href='../../../../etc/passwd'>passwd</a><a href='//evil.example/news/protocol-relative-story'>pr</a>"
            "<a href='/news/legit-section-story-here'>ok</a></body></html>"),
        "/news/legit-story-among-abuse": Route(page("Legit story among abuse")),
        "/news/legit-section-story-here": Route(page("Legit section story")),
        "/news/credential-story-here": Route(page("Credentials")),
    })
    paths = {
        "xml-attacks": {"feeds": ["/x/lol.xml", "/x/lol-padded.xml", "/x/lol-utf16.xml", "/x/xxe-file.xml",
                                  "/x/xxe-url.xml", "/x/param.xml", "/x/external-dtd.xml", "/x/xinclude.xml"],
                        "sitemaps": ["/x/sitemap-lol.xml", "/x/sitemap-xxe.xml", "/x/sitemap-dtd.xml"]},
        "bombs": {"feeds": ["/b/feed.xml"], "sitemaps": ["/b/sitemap.xml.gz", "/b/encoded-sitemap.xml"]},
        "malformed": {"feeds": ["/m/html-feed.xml", "/m/empty-feed.xml", "/m/binary-feed.xml"],
                      "sitemaps": ["/m/404-sitemap.xml", "/m/html-sitemap.xml"]},
        "dates": {"feeds": ["/d/feed.xml"], "sitemaps": ["/d/sitemap.xml"]},
        "redirects": {"feeds": ["/r/feed.xml"]},
        "url-abuse": {"feeds": ["/u/feed.xml"], "pages": ["/u/section/"]},
    }
    sources = "".join(
        f'[[sources]]\nname = "{name}"\n' + "".join(f"{kind} = {json.dumps([b + p for p in urls])}\n"
                                                   for kind, urls in kinds.items())
        for name, kinds in paths.items())
    config_path = tmp / "config.toml"
    config_path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\ntimeout = 3\nmax_page_bytes = 200_000\n'
                           f"concurrency_per_host = 8\n{sources}")
    config = load_config(config_path)
    log = tmp / "crawl.log"
    summary, seconds, rss_kb = run_crawl_measured(config, log)
    yield Crawled(server, config.storage.path, log.read_text(), seconds, rss_kb / 1024,
                  {r.source: r for r in summary}, secret)
    server.stop()


def test_the_whole_hostile_crawl_is_bounded_in_time_and_memory(crawled: Crawled) -> None:
    assert crawled.seconds < 30
    # a 100 MiB bomb never inflates in memory: the child stays at its usual size
    assert crawled.peak_rss_mb < BOMB_MB + 60, crawled.peak_rss_mb
    assert set(crawled.summary) == {"xml-attacks", "bombs", "malformed", "dates", "redirects", "url-abuse"}
    assert "Traceback" not in crawled.log


def test_xml_attacks_expand_read_and_fetch_nothing(crawled: Crawled) -> None:
    refused = "XML with an internal DTD or entity declarations is refused"
    for path in ["/x/lol.xml", "/x/lol-padded.xml", "/x/lol-utf16.xml", "/x/xxe-file.xml", "/x/xxe-url.xml",
                 "/x/param.xml"]:
        assert crawled.event_for("xml-attacks", path) == ("feed-error", refused), path
    for path in ["/x/sitemap-lol.xml", "/x/sitemap-xxe.xml"]:
        assert crawled.event_for("xml-attacks", path) == ("sitemap-error", refused), path
    requested = crawled.server.paths()
    # no external entity, parameter entity or DTD was fetched, and nothing came from a refused listing
    for path in ["/xxe-target", "/param.dtd", "/evil.dtd", "/evil-sitemap.dtd", "/news/xxe-url-story-here",
                 "/news/param-story-here"]:
        assert path not in requested, path
    assert not [p for p in requested if p.startswith("/news/") and ("lol" in p or "xxe" in p or "sm-" in p)]
    # the local file never reached a request, a page, a log line or any table
    assert all(MARKER not in p for p in requested)
    assert MARKER not in dump_database(crawled.db_path)
    assert MARKER not in crawled.log
    # a harmless external DOCTYPE (RSS 0.91 style) keeps the feed readable, unexpanded and unfetched
    pages = crawled.pages()
    assert {"/news/external-dtd-story-here", "/news/xinclude-story-here", "/news/sitemap-dtd-story-here"} <= set(pages)
    assert "EXPANDED" not in pages["/news/external-dtd-story-here"]["feed_meta"]
    assert crawled.summary["xml-attacks"].status == "partial"
    assert crawled.summary["xml-attacks"].last_error


def test_decompression_bombs_are_dropped_with_an_error(crawled: Crawled) -> None:
    event, detail = crawled.event_for("bombs", "/news/gzip-bomb-story-here")
    assert (event, detail) == ("article-error", "page larger than max_page_bytes after decompression")
    assert crawled.event_for("bombs", "/b/sitemap.xml.gz") == (
        "sitemap-error", "gzipped sitemap inflates past 200000 bytes")
    event, detail = crawled.event_for("bombs", "/b/encoded-sitemap.xml")
    assert event == "listing-error" and "max_page_bytes" in detail
    pages = crawled.pages()
    assert "/news/gzip-bomb-story-here" not in pages
    assert "/news/fine-story-next-to-bomb" in pages  # the run went on
    assert crawled.summary["bombs"].errors == 3


def test_listings_that_are_not_listings_fail_their_source_with_a_reason(crawled: Crawled) -> None:
    events = {u: (e, d) for e, u, d in crawled.events("malformed")}
    assert events["/m/html-feed.xml"] == ("feed-error", "not a feed (root element <html>)")
    assert events["/m/empty-feed.xml"][0] == "feed-error" and "XML" in events["/m/empty-feed.xml"][1]
    assert events["/m/binary-feed.xml"][0] == "feed-error"
    assert events["/m/404-sitemap.xml"] == ("listing-error", "HTTP 404")
    assert events["/m/html-sitemap.xml"] == ("sitemap-error", "not a sitemap (root element <html>)")
    run = crawled.summary["malformed"]
    assert run.status == "failed" and run.errors == 5 and run.last_error
    assert "/news/a-b-c" not in crawled.server.paths()


def test_dates_in_the_year_10000_or_the_future_are_dropped_not_trusted(crawled: Crawled) -> None:
    pages = crawled.pages()
    for slug in ["year-ten-thousand-story", "published-in-the-future-story", "garbage-date-story-here",
                 "sitemap-year-ten-thousand", "sitemap-future-story-here"]:
        assert f"/news/{slug}" in pages, slug  # fetched and stored ...
        assert "date" not in json.loads(pages[f"/news/{slug}"]["feed_meta"]), slug  # ... without the bogus date
    assert json.loads(pages["/news/sitemap-future-story-here"]["feed_meta"])["title"] == "Future"
    assert crawled.summary["dates"].status == "ok"


def test_redirect_abuse_is_bounded_and_never_leaves_the_source(crawled: Crawled) -> None:
    requested = crawled.server.paths()
    # a loop: at most 1 + 5 requests, then an error naming the cause
    assert requested.count("/r/loop-a") + requested.count("/r/loop-b") <= 6
    event, detail = crawled.event_for("redirects", "/r/loop-a")
    assert event == "article-error" and detail.startswith("redirect loop"), detail
    # a chain of 10: followed 5 times, never to the end
    assert "/r/chain-5" in requested and "/r/chain-6" not in requested
    assert "/news/end-of-a-long-chain" not in requested
    assert crawled.event_for("redirects", "/r/chain-0") == (
        "article-error", "too many redirects (a chain longer than 5)")
    # to another host (localhost vs 127.0.0.1): refused before any request
    assert all(not r.headers.get("Host", "").startswith("localhost") for r in crawled.server.log)
    assert "/news/redirected-off-site-story" not in requested
    event, detail = crawled.event_for("redirects", "/r/offsite")
    assert event == "refused" and "off-site" in detail
    # to file:, data:, credentials, scheme-relative off-site: none followed
    assert crawled.event_for("redirects", "/r/to-file") == (
        "article-error", "HTTP 302: redirect to a file: URL not followed")
    assert crawled.event_for("redirects", "/r/to-data")[0] == "article-error"
    assert crawled.event_for("redirects", "/r/to-credentials")[0] == "refused"
    assert crawled.event_for("redirects", "/r/scheme-relative")[0] == "refused"
    assert "/news/credential-target-story" not in requested
    pages = crawled.pages()
    assert MARKER not in dump_database(crawled.db_path)
    # an ordinary redirect still works
    assert "/news/redirect-ok-story-here" in pages
    assert not [p for p in pages if p.startswith("/r/")]


def test_abusive_urls_are_skipped_or_stay_on_the_site(crawled: Crawled) -> None:
    events = crawled.events("url-abuse")
    skipped = {u for e, u, d in events if e == "off-site"}
    for url in ["javascript:alert(document.cookie)", "data:text/html;base64,PGgxPmhpPC9oMT4=",
                f"file://{crawled.secret_file}", "mailto:desk@example.org", "//evil.example/x",
                "http://xn--80ak6aa92e.com/news/punycode-homograph-story"]:
        assert any(u == url or u.endswith(url.lstrip("/")) for u in skipped), (url, skipped)
    assert any("user:pass@" in u for u in skipped)
    assert any("evil.example/news/userinfo-trick-story" in u for u in skipped)
    assert any("cyrillic-o-homograph" in u for u in skipped)
    assert any("fullwidth-homograph" in u for u in skipped)
    requested = crawled.server.paths()
    # only the legitimate links and the site's own (harmless, 404) /etc/passwd URL were requested
    articles = sorted(p for p in requested if not p.startswith(("/x/", "/b/", "/m/", "/d/", "/r/", "/u/",
                                                                 "/robots.txt"))
                      and ("legit" in p or "credential" in p or "passwd" in p or "homograph" in p or "port" in p))
    assert articles == ["/etc/passwd", "/news/legit-section-story-here", "/news/legit-story-among-abuse"], articles
    pages = crawled.pages()
    assert "/news/legit-story-among-abuse" in pages and "/news/legit-section-story-here" in pages
    assert "/etc/passwd" not in pages  # a 404 on the site, reported
    assert ("article-error", "/etc/passwd", "HTTP 404") in events
    assert "root:" not in dump_database(crawled.db_path)
    assert crawled.summary["url-abuse"].status == "ok"
