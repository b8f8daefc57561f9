"""Malformed article pages through the whole pipeline (crawl child + extraction + tagging).

Each page must end either stored as an article or marked failed with a reason, the run
must finish within a bound, and the other pages must not notice.
"""

from __future__ import annotations

import time

import pytest

from newsradar.config import load_config
from newsradar.outlets import OutletServer, Route
from newsradar.pipeline import run_pipeline
from newsradar.store import open_db
from test_robustness_helpers import STORY_TEXT, page, rss

CP1252_TEXT = "Café owners in Zürich said “export controls” hit déjà-vu levels – €5m of chips."

PAGES: dict[str, Route] = {
    "truncated-html-story": Route(
        "<html><head><title>Truncated story</title></head><body><article><h1>Truncated story</h1><p>"
        + STORY_TEXT + "</p><p>The rest of the art"),
    "nul-bytes-story": Route(
        page("NUL\x00 bytes story", STORY_TEXT.replace(". ", ".\x00 ", 2) + "\x00\x01\x02\x1b[31m").encode()),
    "invalid-utf8-story": Route(
        page("Invalid UTF-8 story", STORY_TEXT).encode().replace(b"Malaysia", b"Malay\xff\xfe\xc3sia")
        .replace(b"said.", "said – naïvely.".encode())),
    "lying-charset-story": Route(page("Lying charset story", CP1252_TEXT + " " + STORY_TEXT).encode("cp1252"),
                                 content_type="text/html; charset=utf-8"),
    "empty-title-story": Route("<html><head><title></title></head><body><article><p>" + STORY_TEXT
                               + "</p></article></body></html>"),
    "megabyte-title-story": Route("<html><head><title>" + "Sanctions loophole " * 55_000 + "</title></head><body>"
                                  "<article><h1>A story with a huge title</h1><p>" + STORY_TEXT + "</p></article>"
                                  "</body></html>"),
    "year-ten-thousand-page-story": Route(page("Year ten thousand page", STORY_TEXT, head=(
        '<meta property="article:published_time" content="10000-01-01T00:00:00Z">'
        '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "10000-01-01"}</script>'))),
    "future-dated-page-story": Route(page("Future dated page", STORY_TEXT, head=(
        '<meta property="article:published_time" content="2099-06-01T00:00:00Z">'))),
    "one-line-five-megabytes": Route(
        "<html><head><title>One line of five megabytes</title></head><body><article><p>"
        + ("Export controls on chips are being evaded by renting servers abroad. " * 73_000)
        + "</p></article></body></html>"),
    "plain-ordinary-story": Route(page("Plain ordinary story")),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("pages")
    with OutletServer() as server:
        server.routes.update({f"/news/{slug}": route for slug, route in PAGES.items()})
        server.routes["/feed.xml"] = Route(rss(server.base, [f"/news/{slug}" for slug in PAGES]),
                                           content_type="application/rss+xml")
        path = tmp / "config.toml"
        path.write_text(f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\ntimeout = 10\nmax_page_bytes = 6_000_000\n'
                        f'[[sources]]\nname = "hostile-pages"\nfeeds = ["{server.base}/feed.xml"]\n')
        config = load_config(path)
        db = open_db(config.storage.path)
        started = time.monotonic()
        report = run_pipeline(config, db, config.sources, send_alerts=False, crawl_log=str(tmp / "crawl.log"))
        seconds = time.monotonic() - started
        pages = {r["url"].rsplit("/", 1)[-1]: r for r in db["pages"].rows}
        articles = {r["url"].rsplit("/", 1)[-1]: r for r in db["articles"].rows}
        yield report, seconds, pages, articles, (tmp / "crawl.log").read_text()
        db.conn.close()


def test_every_page_is_stored_or_failed_with_a_reason_within_a_bound(run) -> None:
    report, seconds, pages, articles, log = run
    assert seconds < 40, seconds
    assert set(pages) == set(PAGES), set(PAGES) - set(pages)
    for slug, row in pages.items():
        assert row["state"] in ("processed", "failed"), (slug, row["state"])
        if row["state"] == "failed":
            assert row["error"], slug
        else:
            assert slug in articles
    assert report.sources[0].status == "ok"
    assert "Traceback" not in log


def test_malformed_html_still_yields_the_article(run) -> None:
    report, seconds, pages, articles, log = run
    for slug in ["truncated-html-story", "nul-bytes-story", "invalid-utf8-story", "plain-ordinary-story"]:
        assert pages[slug]["state"] == "processed", (slug, pages[slug]["error"])
        assert "Malaysia" in articles[slug]["text"] or "Malay" in articles[slug]["text"], slug
    assert "\x00" not in pages["nul-bytes-story"]["html"]
    assert "\x00" not in articles["nul-bytes-story"]["title"] + articles["nul-bytes-story"]["text"]
    # invalid bytes in otherwise UTF-8 text become U+FFFD; the valid UTF-8 around them survives
    assert pages["invalid-utf8-story"]["encoding"].lower().replace("-", "") == "utf8"
    assert "naïvely" in articles["invalid-utf8-story"]["text"]


def test_a_charset_that_lies_is_read_as_the_windows_1252_it_is(run) -> None:
    report, seconds, pages, articles, log = run
    row = pages["lying-charset-story"]
    assert row["encoding"] == "cp1252"
    assert CP1252_TEXT in row["html"]
    assert CP1252_TEXT in articles["lying-charset-story"]["text"]


def test_titles_empty_or_huge_and_dates_from_nowhere(run) -> None:
    report, seconds, pages, articles, log = run
    assert pages["empty-title-story"]["state"] == "processed"
    title = articles["empty-title-story"]["title"]
    assert title is None or len(title) < 300
    assert pages["megabyte-title-story"]["state"] == "processed", pages["megabyte-title-story"]["error"]
    assert len(articles["megabyte-title-story"]["title"]) <= 1000
    for slug in ["year-ten-thousand-page-story", "future-dated-page-story"]:
        assert pages[slug]["state"] == "processed", (slug, pages[slug]["error"])
    published = articles["year-ten-thousand-page-story"]["published"]
    assert published is None or published[:4] <= time.strftime("%Y"), published


def test_a_page_date_in_the_future_is_not_trusted(run) -> None:
    report, seconds, pages, articles, log = run
    published = articles["future-dated-page-story"]["published"]
    assert published is None or published[:4] <= time.strftime("%Y"), published


def test_a_five_megabyte_line_is_processed_or_failed_in_bounded_time(run) -> None:
    report, seconds, pages, articles, log = run
    row = pages["one-line-five-megabytes"]
    assert len(row["html"]) > 5_000_000
    assert row["state"] == "processed", row["error"]  # tagging reads at most nlp.MAX_TAG_CHARS
    assert articles["one-line-five-megabytes"]["text"]
