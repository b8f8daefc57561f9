"""Unit tests for nlp.extract on small inline pages (no network, no shared data)."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from nlp.extract import (
    ExtractedArticle,
    extract_article,
    html_as_utf8,
    parse_date,
    parse_html,
    read_html_file,
    strip_site_affixes,
)

BODY = "".join(
    f"<p>Paragraph {i}: the regulator published new guidance on chip exports to partner countries, "
    f"and industry groups said they were studying the details before commenting further.</p>"
    for i in range(8)
)


def page(head: str = "", body: str = BODY, lang: str = "en") -> str:
    """A minimal news page around an article body."""
    return f'<!DOCTYPE html><html lang="{lang}"><head>{head}</head><body><article>{body}</article></body></html>'


def test_title_prefers_jsonld_headline_over_og_and_title_tag() -> None:
    jsonld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Real headline from JSON-LD"}
    head = (
        f'<script type="application/ld+json">{json.dumps(jsonld)}</script>'
        '<meta property="og:title" content="Social headline">'
        "<title>Tag headline | Example News</title>"
    )
    assert extract_article(page(head)).title == "Real headline from JSON-LD"


def test_title_uses_og_title_when_no_jsonld() -> None:
    head = '<meta property="og:title" content="Og headline"><title>Other | Example News</title>'
    assert extract_article(page(head)).title == "Og headline"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Chips smuggled via third countries | Example News", "Chips smuggled via third countries"),
        ("Chips smuggled via third countries - Example News", "Chips smuggled via third countries"),
        ("Chips smuggled via third countries — Example News", "Chips smuggled via third countries"),
        ("Chips smuggled via third countries – example.org", "Chips smuggled via third countries"),
        ("Example News: Chips smuggled via third countries", "Chips smuggled via third countries"),
        ("Chips smuggled via third countries | Tech", "Chips smuggled via third countries"),
        # a dash inside a headline that is not followed by the site name stays
        ("US tightens rules - again", "US tightens rules - again"),
    ],
)
def test_strip_site_affixes(raw: str, expected: str) -> None:
    assert strip_site_affixes(raw, {"examplenews", "exampleorg", "example"}) == expected


def test_title_tag_suffix_stripped_using_og_site_name() -> None:
    head = '<meta property="og:site_name" content="The Daily Wire Desk"><title>Cloud loophole closed - The Daily Wire Desk</title>'
    article = extract_article(page(head), url="https://news.example.com/a")
    assert article.title == "Cloud loophole closed"


def test_feed_fallback_used_only_when_page_is_silent() -> None:
    fallback = {"title": "Feed title", "date": "2026-11-27T08:00:00Z", "authors": ["Feed Author"], "summary": "x"}
    silent = extract_article(page(), fallback=fallback)
    assert silent.title == "Feed title"
    assert silent.date == "2026-11-27T08:00:00+00:00"
    assert silent.authors == ["Feed Author"]

    head = (
        '<meta property="og:title" content="Page title">'
        '<meta property="article:published_time" content="2026-11-28T09:30:00+01:00">'
        '<meta name="author" content="Page Author">'
    )
    talkative = extract_article(page(head), fallback=fallback)
    assert talkative.title == "Page title"
    assert talkative.date == "2026-11-28T09:30:00+01:00"
    assert talkative.authors == ["Page Author"]


def test_jsonld_authors_and_date() -> None:
    jsonld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "#site", "name": "Example News"},
            {
                "@type": "NewsArticle",
                "headline": "H",
                "datePublished": "2026-11-28",
                "author": [{"@type": "Person", "name": "By Jane Doe and John Roe"}, {"@id": "#p3"}],
            },
            {"@type": "Person", "@id": "#p3", "name": "Ann Example"},
        ],
    }
    head = f'<script type="application/ld+json">{json.dumps(jsonld)}</script>'
    article = extract_article(page(head))
    assert article.authors == ["Jane Doe", "John Roe", "Ann Example"]
    assert article.date == "2026-11-28T00:00:00+00:00"  # date-only -> midnight UTC


def test_outlet_author_only_when_no_person_named() -> None:
    head = '<meta property="og:site_name" content="Example News"><meta name="author" content="Example News">'
    only_outlet = extract_article(page(head), url="https://examplenews.com/x")
    assert only_outlet.authors == ["Example News"]
    byline = '<p class="byline">By <a rel="author" href="/staff/jd">Jane Doe</a></p>'
    with_person = extract_article(page(head, body=byline + BODY), url="https://examplenews.com/x")
    assert with_person.authors == ["Jane Doe"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-28T09:30:00Z", "2026-11-28T09:30:00+00:00"),
        ("2026-11-28T09:30:00.123+0200", "2026-11-28T09:30:00+02:00"),
        ("2026-11-28 09:30:00", "2026-11-28T09:30:00+00:00"),
        ("2026-11-28", "2026-11-28T00:00:00+00:00"),
        ("Sat, 28 Nov 2026 09:30:00 GMT", "2026-11-28T09:30:00+00:00"),
        ("1795858200", "2026-11-28T09:30:00+00:00"),
    ],
)
def test_date_normalised_to_aware_iso(raw: str, expected: str) -> None:
    head = f'<meta property="article:published_time" content="{raw}">'
    value = extract_article(page(head)).date
    assert value == expected
    assert value is not None and datetime.fromisoformat(value).tzinfo is not None


def test_parse_date_rejects_nonsense() -> None:
    assert parse_date("not a date") is None
    assert parse_date("") is None
    assert parse_date(None) is None


def test_windows_1252_declared_only_in_http_equiv() -> None:
    text = "naïve café – “quotes”"
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        f"<title>{text}</title></head><body><article><p>{text} " + "more words here. " * 30 + "</p></article></body></html>"
    ).encode("cp1252")
    article = extract_article(html)
    assert article.title == text
    assert text in article.text
    assert "Ã" not in article.text and "â€" not in article.text


def test_utf8_bytes_with_stale_latin1_declaration_not_garbled() -> None:
    html = page('<meta charset="iso-8859-1"><title>Grüße aus Köln</title>').encode("utf-8")
    assert extract_article(html).title == "Grüße aus Köln"


SANCTIONS_BOILERPLATE = """
<div class="newsletter-signup"><h3>Sanctions Weekly</h3><p>Get our export controls newsletter: sanctions news every week in your inbox.</p></div>
<aside class="related-articles"><a href="/x">Read more: new sanctions on chip exports</a>
 <a href="/y">Export controls loophole closed</a></aside>
<section id="comments"><div class="comment"><p>Reader comment: the sanctions are useless, export controls never work, everyone evades them anyway.</p></div>
 <div class="comment"><p>Another comment about sanctions and export controls evasion through shell companies.</p></div></section>
<div class="author-bio"><p>Jane writes about sanctions and export controls.</p></div>
<div id="cookie-banner"><p>We use cookies. Sanctions apply if you ignore export controls. Accept?</p></div>
"""


def test_boilerplate_not_in_body() -> None:
    html = (
        "<html><head><title>Harbour reopens</title></head><body><main><article>"
        + BODY
        + SANCTIONS_BOILERPLATE
        + "</article></main><div class='sidebar'><p>Popular: sanctions explained, export controls FAQ</p></div></body></html>"
    )
    text = extract_article(html).text
    assert "Paragraph 0" in text and "Paragraph 7" in text
    assert "sanctions" not in text.lower()
    assert "export controls" not in text.lower()


def test_body_paragraphs_separated_by_newline() -> None:
    text = extract_article(page()).text
    assert text.count("\n") >= 7
    assert all(line.strip() == line and line for line in text.split("\n"))


def test_language_from_html_lang() -> None:
    assert extract_article(page(lang="de-AT")).language == "de"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        "",
        b"\x00\x00\x00",
        "<html><body><p>truncated <div><span",
        b"\xff\xfe\xfa\xfb invalid \xc3\x28 utf-8 <p>x</p>",
        "<html>" + "x" * 5_000_000,
        "<html><head><title>" + "t" * 1_000_000 + "</title></head><body></body></html>",
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>xml decl</p></body></html>',
        "<html><head><script type='application/ld+json'>{broken json</script></head></html>",
        '<html><head><meta property="article:published_time" content="99999-99-99"></head></html>',
    ],
)
def test_garbage_does_not_raise(garbage: str | bytes) -> None:
    article = extract_article(garbage, url="not a url", fallback={"date": "garbage", "authors": "Solo Author"})
    assert isinstance(article, ExtractedArticle)
    assert isinstance(article.text, str)
    assert article.title is None or len(article.title) <= 1000
    json.dumps(article.to_json())


def test_to_json_keys() -> None:
    assert set(extract_article(page()).to_json()) == {"title", "date", "authors", "language", "text"}


def test_read_html_file_plain_and_gzip(tmp_path: Path) -> None:
    raw = page("<title>Stored</title>").encode("utf-8")
    (tmp_path / "a.html").write_bytes(raw)
    (tmp_path / "b.html.gz").write_bytes(gzip.compress(raw))
    assert read_html_file(tmp_path / "a.html") == raw
    assert read_html_file(tmp_path / "b.html.gz") == raw
    assert extract_article(read_html_file(tmp_path / "b.html.gz")).title == "Stored"


# --------------------------------------------------------------------------- title cross-checks


def jsonld_head(headline: str) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": headline}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


@pytest.mark.parametrize("separator", [": ", " - ", " – ", " | "])
def test_title_drops_kicker_when_og_title_is_the_headline_without_it(separator: str) -> None:
    head = jsonld_head(f"Neue Leipziger Schule{separator}Judy Lybke, ganz und gar nicht eigenartig") + (
        '<meta property="og:title" content="Judy Lybke, ganz und gar nicht eigenartig">'
    )
    assert extract_article(page(head)).title == "Judy Lybke, ganz und gar nicht eigenartig"


def test_title_keeps_jsonld_headline_when_og_title_differs_otherwise() -> None:
    head = jsonld_head("Chiesa ruft zum Widerstand auf") + '<meta property="og:title" content="Chiesa ruft auf">'
    assert extract_article(page(head)).title == "Chiesa ruft zum Widerstand auf"
    # og:title longer than the headline (it carries the kicker): the headline stays
    head = jsonld_head("Trump-Anwältin soll Justizministerin werden") + (
        '<meta property="og:title" content="Nach Gaetz-Rückzug: Trump-Anwältin soll Justizministerin werden">'
    )
    assert extract_article(page(head)).title == "Trump-Anwältin soll Justizministerin werden"


def test_title_kicker_not_dropped_on_h1_evidence_alone() -> None:
    # pages often render the kicker outside the <h1>; that is no evidence against it
    head = jsonld_head("Nach Gaetz-Rückzug: Trump-Anwältin soll Justizministerin werden") + (
        '<meta property="og:title" content="Nach Gaetz-Rückzug: Trump-Anwältin soll Justizministerin werden">'
    )
    body = "<h1>Trump-Anwältin soll Justizministerin werden</h1>" + BODY
    assert extract_article(page(head, body=body)).title == "Nach Gaetz-Rückzug: Trump-Anwältin soll Justizministerin werden"


def test_title_from_meta_headline_before_og_title_with_section_and_site() -> None:
    head = (
        '<meta property="og:site_name" content="한국일보">'
        '<meta name="headline" content="장동혁, 한동훈 제명했지만 부담 커졌다">'
        '<meta property="og:title" content="장동혁, 한동훈 제명했지만 부담 커졌다-정치ㅣ한국일보">'
    )
    assert extract_article(page(head, lang="ko")).title == "장동혁, 한동훈 제명했지만 부담 커졌다"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("南海トラフ、一時調査 巨大地震、基準達せず：中日新聞Web", "南海トラフ、一時調査 巨大地震、基準達せず"),
        ("フジテレビ問題で大激震へ｜日刊ゲンダイDIGITAL", "フジテレビ問題で大激震へ"),
        ("제목이 여기에 있다ㅣ한국일보", "제목이 여기에 있다"),
        # only an exact site name is cut when nothing but the separator marks it
        ("Trump-Anwältin kommt", "Trump-Anwältin kommt"),
        ("中日新聞Web：特集", "中日新聞Web：特集"),
    ],
)
def test_strip_site_affixes_unspaced_separators(raw: str, expected: str) -> None:
    keys = {"中日新聞web", "日刊ゲンダイdigital", "한국일보", "anwaltinkommt"}
    assert strip_site_affixes(raw, keys) == expected


# --------------------------------------------------------------------------- parsing and logging


def test_parse_strips_xml_invalid_characters_from_bytes_and_text() -> None:
    dirty = "<html><body><p>a\x00b\x0bc\ufffed\uffffe\tf</p></body></html>"
    for source in (dirty, dirty.encode("utf-8")):
        tree = parse_html(source)
        assert tree is not None
        assert tree.findtext(".//p") == "abcde\tf"
    assert parse_html(" \n\u3000 ") is None
    assert parse_html('<?xml version="1.0"?><html><body><p>x</p></body></html>'.encode()) is not None


def test_html_as_utf8_passes_utf8_through_and_decodes_the_rest() -> None:
    utf8 = page("<title>Grüße</title>").encode("utf-8")
    assert html_as_utf8(utf8) is utf8
    latin = '<html><head><meta charset="windows-1252"><title>caf\xe9</title></head></html>'.encode("cp1252")
    assert "café" in html_as_utf8(latin).decode("utf-8")
    assert html_as_utf8("Köln") == "Köln".encode("utf-8")


def test_bodyless_page_logs_no_trafilatura_warning_even_if_app_lowers_its_level() -> None:
    """An app (newsradar.cli.setup_logging) may set "trafilatura" to WARNING; a body-less page
    must still not emit "discarding data" (with a root handler on a closed stream, as after a
    captured test, that became a "--- Logging error ---" traceback)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    library_logger = logging.getLogger("trafilatura")
    previous_level = library_logger.level
    handler = Collect(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    library_logger.setLevel(logging.WARNING)
    try:
        article = extract_article("<html><head><title>Empty</title></head><body></body></html>")
    finally:
        library_logger.setLevel(previous_level)
        logging.getLogger().removeHandler(handler)
    assert article.text == ""
    assert not [r for r in records if r.name.startswith("trafilatura") and r.levelno >= logging.WARNING]
