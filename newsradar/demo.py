"""`newsradar demo`: the whole pipeline on bundled sample outlets, with no network and no config.

The sample outlets (package data) are rendered with publication dates relative to now,
served on 127.0.0.1 by `newsradar.outlets`, crawled, analysed and alerted to the console
and to files (the .eml and Slack JSON it would send, and an Atom feed).
"""

from __future__ import annotations

import html
import json
import shutil
import tomllib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from newsradar.outlets import OutletServer, Route

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | {outlet}</title>
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{outlet}">
<meta property="article:published_time" content="{date}">
<script type="application/ld+json">{jsonld}</script>
</head><body>
<header><nav><a href="/">Home</a> <a href="/section/policy/">Policy</a> <a href="/tag/sanctions/">Sanctions</a>
<a href="/about/">About</a></nav></header>
<main><article>
<h1>{title}</h1>
<p class="byline">By <span class="author">{author}</span> · <time datetime="{date}">{date_human}</time></p>
{paragraphs}
</article>
<aside class="newsletter"><h3>Sanctions Weekly</h3><p>Sign up for our newsletter on export controls,
sanctions evasion and loopholes — delivered every Friday.</p></aside>
<aside class="related"><h3>Related</h3><ul><li><a href="/tag/export-controls/">More on export controls</a></li></ul></aside>
</main><footer><p>© {outlet}. All rights reserved.</p></footer></body></html>
"""


def load_sample() -> dict[str, Any]:
    data = resources.files("newsradar").joinpath("demo_outlets/articles.toml").read_text("utf-8")
    return tomllib.loads(data)


def render_article(article: dict[str, Any], outlet_title: str, published: datetime) -> str:
    jsonld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": article["title"],
                         "datePublished": published.isoformat(),
                         "author": [{"@type": "Person", "name": article["author"]}]})
    return PAGE.format(
        title=html.escape(article["title"]), outlet=html.escape(outlet_title), date=published.isoformat(),
        date_human=published.strftime("%d %B %Y %H:%M UTC"), author=html.escape(article["author"]),
        jsonld=jsonld.replace("</", "<\\/"),
        paragraphs="\n".join(f"<p>{html.escape(p)}</p>" for p in article["paragraphs"]),
    )


def build_routes(base: str, now: datetime) -> tuple[dict[str, Route], list[dict[str, Any]]]:
    """Pages, feeds, sitemaps and section pages for each sample outlet; and the sources config."""
    sample = load_sample()
    routes: dict[str, Route] = {"/robots.txt": Route("User-agent: *\nDisallow: /admin/\n",
                                                     content_type="text/plain")}
    sources: list[dict[str, Any]] = []
    for outlet in sample["outlets"]:
        name, title = outlet["name"], outlet["title"]
        items = []
        for article in (a for a in sample["articles"] if a["outlet"] == name):
            published = now - timedelta(hours=article["hours_ago"])
            path = f"/{name}/{published:%Y/%m}/{article['slug']}"
            routes[path] = Route(render_article(article, title, published))
            items.append((path, article, published))
        source: dict[str, Any] = {"name": name, "interval": "10m"}
        if outlet["listing"] == "rss":
            entries = "".join(
                f"<item><title>{html.escape(a['title'])}</title><link>{base}{p}</link>"
                f"<pubDate>{format_datetime(d)}</pubDate><dc:creator>{html.escape(a['author'])}</dc:creator></item>"
                for p, a, d in items)
            routes[f"/{name}/feed.xml"] = Route(
                f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{html.escape(title)}</title>'
                f"<link>{base}/{name}/</link>{entries}</channel></rss>", content_type="application/rss+xml")
            source["feeds"] = [f"{base}/{name}/feed.xml"]
        elif outlet["listing"] == "atom":
            entries = "".join(
                f'<entry><title>{html.escape(a["title"])}</title><link rel="alternate" href="{base}{p}"/>'
                f"<id>{base}{p}</id><published>{d.isoformat()}</published><updated>{d.isoformat()}</updated>"
                f"<author><name>{html.escape(a['author'])}</name></author></entry>" for p, a, d in items)
            routes[f"/{name}/atom.xml"] = Route(
                f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{html.escape(title)}</title><id>{base}/{name}/</id><updated>{now.isoformat()}</updated>"
                f"{entries}</feed>", content_type="application/atom+xml")
            source["feeds"] = [f"{base}/{name}/atom.xml"]
        else:
            urls = "".join(
                f'<url><loc>{base}{p}</loc><news:news><news:publication><news:name>{html.escape(title)}'
                f"</news:name><news:language>en</news:language></news:publication><news:publication_date>"
                f"{d.isoformat()}</news:publication_date><news:title>{html.escape(a['title'])}</news:title>"
                f"</news:news></url>" for p, a, d in items)
            routes[f"/{name}/news-sitemap.xml"] = Route(
                '<?xml version="1.0" encoding="utf-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>",
                content_type="application/xml")
            links = "".join(f'<li><a href="{p}">{html.escape(a["title"])}</a></li>' for p, a, d in items)
            routes[f"/{name}/policy/"] = Route(
                f"<html><body><nav><a href='/{name}/tag/sanctions/'>Sanctions</a> <a href='/{name}/page/2'>Next</a>"
                f"</nav><ul>{links}</ul></body></html>")
            source["sitemaps"] = [f"{base}/{name}/news-sitemap.xml"]
            source["pages"] = [f"{base}/{name}/policy/"]
        sources.append(source)
    return routes, sources


def write_config(directory: Path, sources: list[dict[str, Any]]) -> Path:
    lines = ['[storage]', 'path = "demo.db"', "", "[crawl]", "delay = 0", "obey_robots = true",
             "timeout = 10", ""]
    for source in sources:
        lines.append("[[sources]]")
        for key, value in source.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    lines += ['[[channels]]', 'name = "console"', 'type = "console"', "",
              '[[channels]]', 'name = "files"', 'type = "file"', 'path = "alerts"', ""]
    path = directory / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_demo(directory: Path, console: Console) -> int:
    from newsradar.commands import crawl_and_report
    from newsradar.config import load_config

    if directory.exists():
        shutil.rmtree(directory)  # every demo starts from an empty store, so it always alerts
    directory.mkdir(parents=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with OutletServer() as server:
        routes, sources = build_routes(server.base, now)
        server.routes.update(routes)
        config = load_config(write_config(directory, sources))
        console.print(Text(f"newsradar demo: {len(sources)} sample outlets on {server.base}, "
                           f"store {config.storage.path}"))
        crawl_and_report(config, config.sources, console)
    alert_dir = directory / "alerts"
    files = sorted(p.relative_to(directory).as_posix() for p in alert_dir.rglob("*") if p.is_file()) \
        if alert_dir.exists() else []
    console.print(Text(f"files written under {directory}/: " + (", ".join(files) or "none")))
    console.print(Text(f"see also: newsradar stories -c {directory}/config.toml ; "
                       f"newsradar alerts -c {directory}/config.toml"))
    return 0
