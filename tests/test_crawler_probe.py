"""The listing probe: sources with nothing new are not crawled, everything else is.

Real server on 127.0.0.1 (its request log is the witness), real store, real crawler child
for the runs that need one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

import crawler
from newsradar.config import Config, load_config
from newsradar.outlets import OutletRequestHandler, OutletServer, Route
from newsradar.pipeline import run_pipeline
from newsradar.store import open_db

ARTICLE = ("<html><head><title>{t}</title></head><body><article><h1>{t}</h1><p>{t}: a story about export "
           "controls, long enough to be extracted as an article body by the extractor.</p></article></body></html>")


def rss(base: str, paths: list[str]) -> Route:
    items = "".join(f"<item><title>Story {p}</title><link>{base}{p}</link></item>" for p in paths)
    return Route(f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
                 content_type="application/rss+xml")


def urlset(base: str, paths: list[str]) -> Route:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return Route(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
                 content_type="application/xml")


@pytest.fixture()
def outlets() -> Iterator[OutletServer]:
    server = OutletServer().start()
    b = server.base
    server.routes.update({
        "/robots.txt": Route("User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        "/feed.xml": rss(b, ["/news/one-story-here", "/news/two-story-here"]),
        "/sitemap.xml": urlset(b, ["/news/three-story-here"]),
        "/news/one-story-here": Route(ARTICLE.format(t="One")),
        "/news/two-story-here": Route(ARTICLE.format(t="Two")),
        "/news/three-story-here": Route(ARTICLE.format(t="Three")),
        "/news/four-story-here": Route(ARTICLE.format(t="Four")),
    })
    yield server
    server.stop()


def source(name: str, **urls: list[str]) -> str:
    """One [[sources]] table: source("wire", feeds=[...], sitemaps=[...], pages=[...])."""
    lines = [f'[[sources]]\nname = "{name}"'] + [f"{kind} = {json.dumps(found)}" for kind, found in urls.items()]
    return "\n".join(lines) + "\n"


def make_config(tmp_path: Path, base: str, sources: str | None = None, *, crawl: str = "",
                workers: int = 0) -> Config:
    """A store in tmp_path, no delay, in-process NLP unless `workers`; by default a feed source
    and a sitemap source. `crawl` adds lines to [crawl]; calling again rewrites the file."""
    if sources is None:
        sources = source("wire", feeds=[f"{base}/feed.xml"]) + source("mapped", sitemaps=[f"{base}/sitemap.xml"])
    path = tmp_path / "config.toml"
    path.write_text(f"""
[storage]
path = "t.db"
[crawl]
delay = 0
timeout = 5
{crawl}
[detection]
workers = {workers}
{sources}""")
    return load_config(path)


def crawl_in_cli(config: Config, report: str) -> list[object]:
    """`newsradar crawl` in a fresh interpreter; [exit status, the Python expression `report`
    evaluated in that interpreter after the run] (what the run loaded, started...)."""
    code = (f"import json, sys; from newsradar.cli import main; rc = main(['crawl', '-c', sys.argv[1]]); "
            f"print(json.dumps([rc, {report}]))")
    done = subprocess.run([sys.executable, "-c", code, str(config.path)], capture_output=True, text=True,
                          timeout=120, cwd=config.path.parent)
    assert done.stdout.strip(), done.stderr
    result: list[object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(config: Config) -> crawler.ProbeResult | None:
    report = run_pipeline(config, open_db(config.storage.path), config.sources, send_alerts=False)
    assert report.crawl_exit == 0
    return report.probe


def article_requests(server: OutletServer, since: int) -> list[str]:
    return [r.path for r in server.log[since:] if r.path.startswith("/news/")]


def test_a_first_run_crawls_and_an_unchanged_second_run_does_not(outlets: OutletServer, tmp_path: Path) -> None:
    config = make_config(tmp_path, outlets.base)
    probe = run(config)
    assert probe is not None and sorted(probe.busy) == ["mapped", "wire"]  # listings never read: crawl
    assert len(article_requests(outlets, 0)) == 3

    mark = len(outlets.log)
    probe = run(config)
    assert probe is not None and sorted(probe.quiet) == ["mapped", "wire"] and probe.busy == []
    second = outlets.log[mark:]
    # robots.txt, then each listing once, conditionally; no article, no second robots.txt from a crawler
    assert sorted(r.path for r in second) == ["/feed.xml", "/robots.txt", "/sitemap.xml"]
    assert all("If-None-Match" in r.headers for r in second if r.path != "/robots.txt")
    db = open_db(config.storage.path)
    group = db.execute("select run_group from runs order by id desc limit 1").fetchone()[0]
    runs = {r.source: r for r in crawler.read_summary(db, group)}
    assert runs["wire"].status == "ok" and runs["wire"].not_modified == 1 and runs["wire"].new == 0
    assert runs["mapped"].status == "ok"
    assert db.execute("select count(*) from pages").fetchone()[0] == 3


def test_a_run_with_nothing_new_loads_no_crawler_no_nlp_and_no_numpy(outlets: OutletServer, tmp_path: Path) -> None:
    """The service polls quiet sources all day: such a run is the CLI, the store and the probe."""
    config = make_config(tmp_path, outlets.base)
    run(config)
    loaded = "sorted(m for m in ('numpy', 'spacy', 'scrapy', 'trafilatura', 'twisted') if m in sys.modules)"
    assert crawl_in_cli(config, loaded) == [0, []]


def test_a_new_entry_sends_only_its_source_to_the_crawler(outlets: OutletServer, tmp_path: Path) -> None:
    config = make_config(tmp_path, outlets.base)
    run(config)
    outlets.routes["/feed.xml"] = rss(outlets.base, ["/news/one-story-here", "/news/two-story-here",
                                                     "/news/four-story-here"])
    mark = len(outlets.log)
    probe = run(config)
    assert probe is not None and probe.busy == ["wire"] and probe.quiet == ["mapped"]
    assert article_requests(outlets, mark) == ["/news/four-story-here"]
    # the crawler read the sitemap only through the probe: once
    assert [r.path for r in outlets.log[mark:]].count("/sitemap.xml") == 1
    db = open_db(config.storage.path)
    group = db.execute("select run_group from runs order by id desc limit 1").fetchone()[0]
    runs = {r.source: r for r in crawler.read_summary(db, group)}
    assert runs["wire"].new == 1 and runs["mapped"].status == "ok"  # one run, both sources reported


def test_a_listing_that_answers_200_with_known_articles_only_is_quiet(outlets: OutletServer, tmp_path: Path) -> None:
    def feed(build_date: str) -> Route:  # a server without ETag / Last-Modified, as many are
        body = str(rss(outlets.base, ["/news/one-story-here"]).body).replace(
            "<title>F</title>", f"<title>F</title><lastBuildDate>{build_date}</lastBuildDate>")
        return Route(body, content_type="application/rss+xml", validators=False)

    outlets.routes["/feed.xml"] = feed("Mon, 23 Nov 2026 10:00:00 GMT")
    config = make_config(tmp_path, outlets.base)
    run(config)
    # the same bytes again: judged by their digest, not parsed
    mark = len(outlets.log)
    probe = run(config)
    assert probe is not None and "wire" in probe.quiet
    assert article_requests(outlets, mark) == []
    check = next(c for c in probe.checks if c.source == "wire")
    assert check.status == 200 and check.reason == "unchanged body" and check.entries == 0
    # other bytes (a new build date), the same known article: parsed, still quiet
    outlets.routes["/feed.xml"] = feed("Mon, 23 Nov 2026 11:00:00 GMT")
    probe = run(config)
    assert probe is not None and "wire" in probe.quiet
    check = next(c for c in probe.checks if c.source == "wire")
    assert check.status == 200 and check.entries == 1 and check.reason == "nothing new"
    # ...and that version's digest is the one kept
    probe = run(config)
    assert probe is not None and "wire" in probe.quiet
    assert next(c for c in probe.checks if c.source == "wire").reason == "unchanged body"
    assert article_requests(outlets, mark) == []


@pytest.mark.parametrize("change", ["robots", "redirect", "error", "sitemap-index", "malformed"])
def test_what_the_probe_cannot_judge_goes_to_the_crawler(outlets: OutletServer, tmp_path: Path, change: str) -> None:
    config = make_config(tmp_path, outlets.base)
    run(config)
    b = outlets.base
    if change == "robots":
        outlets.routes["/robots.txt"] = Route("User-agent: *\nDisallow: /feed.xml\n", content_type="text/plain")
    elif change == "redirect":
        outlets.routes["/feed.xml"] = Route("", status=301, headers={"Location": f"{b}/elsewhere.xml"})
    elif change == "error":
        outlets.routes["/feed.xml"] = Route("busy", status=503)
    elif change == "sitemap-index":
        outlets.routes["/sitemap.xml"] = Route(
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{b}/sitemap-2.xml</loc></sitemap></sitemapindex>", content_type="application/xml")
    else:
        outlets.routes["/feed.xml"] = Route("<html>not a feed</html>", content_type="application/rss+xml")
    mark = len(outlets.log)
    probe = crawler.probe_sources(config, open_db(config.storage.path), config.sources)
    busy = "mapped" if change == "sitemap-index" else "wire"
    assert probe.busy == [busy] and probe.quiet == [s for s in ("wire", "mapped") if s != busy]
    if change == "robots":  # a listing robots.txt now forbids is not requested, not even by the probe
        assert "/feed.xml" not in [r.path for r in outlets.log[mark:]]
    if change == "redirect":  # never followed
        assert "/elsewhere.xml" not in [r.path for r in outlets.log[mark:]]


def test_a_proxy_in_the_environment_leaves_every_source_to_the_crawler(outlets: OutletServer, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, outlets.base)
    run(config)
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    mark = len(outlets.log)
    probe = crawler.probe_sources(config, open_db(config.storage.path), config.sources)
    assert sorted(probe.busy) == ["mapped", "wire"] and probe.quiet == []
    assert outlets.log[mark:] == []


def test_a_listing_shared_with_a_busy_source_is_left_for_the_crawler_to_revalidate(outlets: OutletServer,
                                                                                   tmp_path: Path) -> None:
    # "wide" may also fetch from localhost; "narrow" only from 127.0.0.1: the new localhost
    # article is news for "wide" only. The validator written for quiet "narrow" must not
    # make the crawler's request for "wide" a 304 (validators carry the rules they were
    # earned under: crawler.listings.listing_context) and hide the article.
    b, port = outlets.base, outlets.port
    outlets.routes["/feed.xml"] = rss(b, ["/news/one-story-here"])
    outlets.routes["/section/"] = Route("<html><body><a href='/news/one-story-here'>one</a></body></html>")
    config = make_config(tmp_path, b, source("narrow", feeds=[f"{b}/feed.xml"])
                         + source("wide", feeds=[f"{b}/feed.xml"], pages=[f"http://localhost:{port}/section/"]))
    run(config)
    outlets.routes["/feed.xml"] = Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><item><link>{b}/news/one-story-here'
        f'</link></item><item><link>http://localhost:{port}/news/four-story-here</link></item></channel></rss>',
        content_type="application/rss+xml")
    probe = run(config)
    assert probe is not None and probe.quiet == ["narrow"] and probe.busy == ["wide"]
    db = open_db(config.storage.path)
    stored = {row[0] for row in db.execute("select url from pages")}
    assert f"http://localhost:{port}/news/four-story-here" in stored


@pytest.mark.parametrize("trouble", ["bad-link", "crawl-delay", "huge-crawl-delay", "trickle"])
def test_listing_trouble_never_stalls_or_breaks_the_probe(outlets: OutletServer, tmp_path: Path,
                                                         trouble: str) -> None:
    config = make_config(tmp_path, outlets.base)
    run(config)
    if trouble == "bad-link":  # urllib cannot even parse the first link; the second is new
        outlets.routes["/feed.xml"] = Route('<?xml version="1.0"?><rss version="2.0"><channel><item>'
                                            "<link>http://[oops/x</link></item><item>"
                                            f"<link>{outlets.base}/news/a-story-after-the-bad-link</link>"
                                            "</item></channel></rss>", content_type="application/rss+xml")
    elif trouble in ("crawl-delay", "huge-crawl-delay"):
        delay = "86400" if trouble == "crawl-delay" else "1e20"
        outlets.routes["/robots.txt"] = Route(f"User-agent: *\nCrawl-delay: {delay}\n", content_type="text/plain")
    else:
        def trickle(handler: OutletRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            handler.send_header("Content-Length", "100000")
            handler.end_headers()
            try:
                for _ in range(40):
                    handler.wfile.write(b"<!-- slow -->")
                    handler.wfile.flush()
                    time.sleep(0.25)
            except OSError:
                pass
        outlets.routes["/feed.xml"] = trickle
    started = time.monotonic()
    probe = crawler.probe_sources(config, open_db(config.storage.path), config.sources)
    assert time.monotonic() - started < 8  # timeout = 5 s for the whole request, not per read
    assert "wire" in probe.busy
    if trouble.endswith("crawl-delay"):  # two listings on one host, a long delay between them: not probed
        assert "mapped" in probe.busy
    else:
        assert probe.quiet == ["mapped"]


def test_an_article_that_failed_is_retried_although_its_listing_did_not_change(outlets: OutletServer,
                                                                              tmp_path: Path) -> None:
    b = outlets.base
    outlets.routes["/feed.xml"] = rss(b, ["/news/one-story-here", "/news/flaky-story-here"])
    outlets.routes["/news/flaky-story-here"] = Route("not yet", status=404)
    config = make_config(tmp_path, b)
    run(config)
    db = open_db(config.storage.path)
    assert db.execute("select count(*) from pages where url like '%flaky%'").fetchone()[0] == 0
    # the listing owes an article: no validator kept, so neither the probe nor the crawler gets a 304
    assert db.execute("select etag from listings where url like '%feed.xml'").fetchone() == (None,)

    outlets.routes["/news/flaky-story-here"] = Route(ARTICLE.format(t="Flaky"))
    mark = len(outlets.log)
    probe = run(config)
    assert probe is not None and "wire" in probe.busy
    assert "/news/flaky-story-here" in article_requests(outlets, mark)
    assert open_db(config.storage.path).execute(
        "select count(*) from pages where url like '%flaky%'").fetchone()[0] == 1
    # now complete: validators are kept again and the next run is quiet
    assert run(config) is not None and crawler.probe_sources(
        config, open_db(config.storage.path), config.sources).quiet == ["wire", "mapped"]


@pytest.mark.parametrize("first", ["feed", "sitemap"])
def test_a_failed_article_is_retried_through_any_listing_that_announced_it(outlets: OutletServer,
                                                                           tmp_path: Path, first: str) -> None:
    """The feed and the sitemap both announce the article. The first listing read requests it
    and it fails before the other listing (held back by the server until then) is read; the
    first one then moves on. The other, unchanged (no server validators: judged by its
    digest), must bring the article back."""
    b = outlets.base
    flaky, other = "/news/flaky-story-here", "/news/one-story-here"
    paths = {"feed": "/feed.xml", "sitemap": "/sitemap.xml"}

    def listing(kind: str, article_paths: list[str]) -> Route:
        made = rss(b, article_paths) if kind == "feed" else urlset(b, article_paths)
        return Route(made.body, content_type=made.content_type, validators=False)

    answered = threading.Event()

    def flaky_not_yet(handler: OutletRequestHandler) -> None:
        handler.send_route(Route("not yet", status=404))
        answered.set()

    def after_the_failure(route: Route) -> Callable[[OutletRequestHandler], None]:
        def serve(handler: OutletRequestHandler) -> None:
            answered.wait(10)
            handler.send_route(route)
        return serve

    late = "sitemap" if first == "feed" else "feed"
    outlets.routes[paths[first]] = listing(first, [flaky])
    outlets.routes[paths[late]] = after_the_failure(listing(late, [flaky]))
    outlets.routes[flaky] = flaky_not_yet
    config = make_config(tmp_path, b, source("wire", feeds=[f"{b}/feed.xml"], sitemaps=[f"{b}/sitemap.xml"]))
    run(config)
    assert answered.is_set()
    outlets.routes[paths[first]] = listing(first, [other])
    outlets.routes[paths[late]] = listing(late, [flaky])
    outlets.routes[flaky] = Route(ARTICLE.format(t="Flaky"))
    mark = len(outlets.log)
    run(config)
    assert flaky in article_requests(outlets, mark)


def test_validators_earned_under_other_rules_are_not_used(outlets: OutletServer, tmp_path: Path) -> None:
    """An entry too old under max_age_days = 14 is due once the limit is raised, although
    the sitemap (and its ETag) did not change."""
    b = outlets.base
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30 * 86400))
    outlets.routes["/sitemap.xml"] = Route(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{b}/news/three-story-here</loc><lastmod>{old}</lastmod></url></urlset>",
        content_type="application/xml")
    sources = source("mapped", sitemaps=[f"{b}/sitemap.xml"])
    config = make_config(tmp_path, b, sources)
    run(config)
    assert article_requests(outlets, 0) == []  # too old under the configured limit
    config = make_config(tmp_path, b, sources, crawl="max_age_days = 60")
    mark = len(outlets.log)
    run(config)
    assert article_requests(outlets, mark) == ["/news/three-story-here"]


def test_a_crawl_that_may_bring_nothing_does_not_load_spacy_ahead(outlets: OutletServer, tmp_path: Path) -> None:
    """A sitemap index always goes to the crawler; when its children hold nothing new, the
    run must not have started the NLP fork server (spaCy, ~2 s of CPU) for nothing."""
    b = outlets.base
    outlets.routes["/sitemap_index.xml"] = Route(
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{b}/sitemap.xml</loc></sitemap></sitemapindex>", content_type="application/xml")
    config = make_config(tmp_path, b, source("indexed", sitemaps=[f"{b}/sitemap_index.xml"]), workers=2)
    started = "__import__('multiprocessing.forkserver').forkserver._forkserver._forkserver_pid is not None"
    # the first run fetches the article (fork server started), the second nothing
    assert [crawl_in_cli(config, started) for _ in range(2)] == [[0, True], [0, False]]
