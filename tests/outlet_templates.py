"""Realistic outlet page templates for end-to-end tests of extraction + detection.

Each template wraps one dev-corpus-style article (dict with title, author, section, paragraphs,
published_offset_hours, outlet) in the kind of page real outlets serve: mega-menus, "Most read"
and "Related" sidebars full of loaded sanctions/export-control headlines, newsletter promos,
author bios, comment threads, cookie banners, inline "Read more:" links, captions, pull quotes,
JSON-LD / Open Graph metadata (sometimes wrong or missing) and bylines in several formats.

`render_outlet_page(article, template) -> bytes` returns the page as served; `CONTENT_TYPES[t]` is
the Content-Type header the outlet sends (template 1 is windows-1252 declared only by
`<meta http-equiv>`, template 2 declares a charset in <meta> that lies about its UTF-8 bytes).
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

esc = html.escape

LOADED_HEADLINES = [
    "How chip smugglers beat US export controls with suitcases and shell companies",
    "Sanctions loophole lets Russian banks keep paying for Western electronics",
    "Inside the shadow fleet evading oil sanctions off Malaysia",
    "Exclusive: Chinese firms rent Nvidia GPUs abroad to skirt export curbs",
    "Regulators missed the transshipment route through Central Asia, audit finds",
    "Opinion: Export controls are leaking - close the cloud loophole now",
    "Front companies in Hong Kong funnelled banned chips to Moscow, prosecutors say",
    "Explainer: what counts as evading sanctions?",
]
COMMENTS = [
    ("chipwatcher99", "Of course the smuggling continues. Every export control has a loophole and everyone in the trade knows it."),
    ("Anonymous Coward", "Sanctions evasion is the only growth industry left. Ship it to Dubai, relabel, done."),
    ("policy_wonk", "The regulators are asleep. These rules get circumvented within a week of being published."),
]
NEWSLETTER = ("Sanctions Weekly: the loopholes regulators missed. Every Friday our team explains who is "
              "evading export controls and how. Sign up free.")
COOKIE = ("We use cookies to personalise content and ads and to analyse our traffic. By continuing you accept "
          "our cookie policy.")


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


def _when(article: Mapping[str, Any], now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return (now - timedelta(hours=float(article.get("published_offset_hours") or 0))).replace(microsecond=0)


def _pick(article: Mapping[str, Any], items: list, n: int) -> list:
    seed = int(hashlib.sha1(str(article.get("id") or article.get("title")).encode()).hexdigest(), 16)
    return [items[(seed + i * 3) % len(items)] for i in range(n)]


def _mega_menu(outlet: str) -> str:
    cols = {
        "World": ["Europe", "Asia", "Sanctions tracker", "Russia-Ukraine war"],
        "Tech": ["Chips", "Export controls", "AI", "Cybersecurity"],
        "Policy": ["Trade", "Sanctions & export controls", "Loopholes investigations", "Smuggling"],
    }
    html_cols = "".join(f'<li class="menu-col"><span>{esc(k)}</span><ul>'
                        + "".join(f'<li><a href="/{_slug(x)}/">{esc(x)}</a></li>' for x in v) + "</ul></li>"
                        for k, v in cols.items())
    return (f'<header class="site-header"><a class="logo" href="/">{esc(outlet)}</a>'
            f'<nav class="mega-menu" aria-label="Main"><ul>{html_cols}</ul></nav>'
            '<form class="search"><input name="q" placeholder="Search sanctions, chips, trade"></form></header>')


def _most_read(article: Mapping[str, Any], title: str = "Most read") -> str:
    items = "".join(f'<li><a href="/news/{_slug(h)}">{esc(h)}</a></li>' for h in _pick(article, LOADED_HEADLINES, 5))
    return f'<aside class="most-read"><h2>{esc(title)}</h2><ol>{items}</ol></aside>'


def _comments(author_note: str = "") -> str:
    items = "".join(f'<li class="comment"><span class="comment-author">{esc(a)}</span><p>{esc(t)}</p></li>'
                    for a, t in COMMENTS)
    return f'<section id="comments" class="comments"><h3>{len(COMMENTS)} comments</h3><ol>{items}</ol></section>'


def _footer(outlet: str) -> str:
    return (f'<footer class="site-footer"><p>&copy; 2026 {esc(outlet)}. All rights reserved.</p>'
            '<ul><li><a href="/about">About</a></li><li><a href="/sanctions-policy">Our sanctions compliance policy</a>'
            '</li><li><a href="/tips">Send us tips about export control evasion</a></li></ul></footer>')


def _jsonld(article: Mapping[str, Any], when: datetime, **over: Any) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": article.get("title"),
            "datePublished": when.isoformat(), "author": [{"@type": "Person", "name": article.get("author")}]
            if article.get("author") else []}
    data.update(over)
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def _paras(article: Mapping[str, Any]) -> list[str]:
    return [str(p) for p in article.get("paragraphs") or []]


# ------------------------------------------------------------------ 0: wire service (Reuters-like)
def _t0_wire(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "wire"), str(a.get("title") or ""), a.get("author")
    body = []
    for i, p in enumerate(_paras(a)):
        body.append(f'<div data-testid="paragraph-{i}" class="article-body__paragraph">{esc(p)}</div>')
        if i == 0:
            h = _pick(a, LOADED_HEADLINES, 1)[0]
            body.append(f'<div class="read-next"><a href="/news/{_slug(h)}">Read more: {esc(h)}</a></div>')
    byline = f'<div class="byline">By <a href="/authors/{_slug(str(author))}">{esc(str(author))}</a></div>' if author else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{esc(title)} | {esc(outlet)}</title>
<meta property="og:title" content="{esc(title)}"><meta property="og:type" content="article">
<meta name="description" content="{esc(_paras(a)[0][:150] if _paras(a) else '')}">
{_jsonld(a, when)}
</head><body>
<div id="cookie-banner" class="cookie">{COOKIE} <button>Accept all</button></div>
{_mega_menu(outlet)}
<main id="main-content"><div class="article-layout">
<div class="article-header"><nav class="breadcrumbs"><a href="/world/">World</a> / <a href="/sanctions/">Sanctions &amp; export controls</a></nav>
<h1 data-testid="Heading">{esc(title)}</h1>{byline}
<time datetime="{when.isoformat()}">{when.strftime('%B %d, %Y %I:%M %p UTC')}</time>
<div class="share">Share: X Facebook LinkedIn Email</div></div>
<figure><img src="/img/lead.jpg" alt="Containers"><figcaption>Shipping containers at a port. Export controls restrict sales of advanced chips to China. REUTERS/File Photo</figcaption></figure>
<div class="article-body">{''.join(body)}</div>
<p class="sign-off">Reporting by {esc(str(author or 'staff'))}; Editing by Mark Potter</p>
<p class="trust">Our Standards: The Trust Principles.</p>
</div>{_most_read(a)}
<section class="newsletter"><h3>Sanctions Weekly</h3><p>{NEWSLETTER}</p><input type="email"><button>Sign up</button></section>
</main>{_footer(outlet)}</body></html>"""


# ------------------------------------------------------------------ 1: Register-like, windows-1252 via http-equiv only
def _t1_vulture(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "vulture"), str(a.get("title") or ""), a.get("author")
    paras = _paras(a)
    standfirst = "Bits and bytes \u2013 and the \u201crules\u201d that govern them"
    body = "".join(f"<p>{esc(p)}</p>" for p in paras[:2])
    body += ('<p class="pullquote">\u201cNobody in the trade thinks the controls are watertight\u201d</p>' if len(paras) > 2 else "")
    body += "".join(f"<p>{esc(p)}</p>" for p in paras[2:])
    body += "<p>\u00a9 Vulture Media \u2013 Got Tips? Email us about sanctions dodges.</p>"
    return f"""<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>{esc(title)} \u2022 {esc(outlet)}</title>
<meta name="twitter:title" content="{esc(title)}">
</head><body>
<div class="topbar"><a href="/">{esc(outlet)}</a> | <a href="/security/">Security</a> | <a href="/offbeat/">Off-Prem</a> | <a href="/export-controls/">Export controls &amp; sanctions</a></div>
<div id="body"><div class="article_head"><h1>{esc(title)}</h1><h2>{esc(standfirst)}</h2>
<div class="byline"><a class="byline" href="/Author/{_slug(str(author or 'staff'))}">{esc(str(author or 'Staff'))}</a>
<span class="dateline">{when.strftime('%a %d %b %Y')} // {when.strftime('%H:%M UTC')}</span></div></div>
<div id="body_text">{body}</div>
<div class="author_bio"><h4>About the author</h4><p>{esc(str(author or 'Our reporter'))} covers sanctions evasion, export control loopholes and chip smuggling for {esc(outlet)}.</p></div>
<div class="related"><h3>Related stories</h3>{_most_read(a, 'More like these')}</div>
{_comments()}
</div>{_footer(outlet)}</body></html>"""


# ------------------------------------------------------------------ 2: SCMP-like, lying charset, wrong og, no JSON-LD
def _t2_hk(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "post"), str(a.get("title") or ""), a.get("author")
    paras = _paras(a)
    parts = []
    for i, p in enumerate(paras):
        parts.append(f'<p class="print-article__body">{esc(p)}</p>')
        if i == 1:
            parts.append('<div class="inline-related"><span>Related:</span> '
                         f'<a href="/news/x">{esc(_pick(a, LOADED_HEADLINES, 2)[1])}</a></div>')
    by = f'<div class="author-name"><a href="/author/{_slug(str(author))}">{esc(str(author))}</a></div>' if author else ""
    return f"""<!doctype html><html><head><meta charset="iso-8859-1">
<title>{esc(title)} | South China Morning Post</title>
<meta property="og:title" content="China Economy | {esc(outlet)}">
<meta property="article:published_time" content="{when.strftime('%Y-%m-%dT%H:%M:%S+08:00') if False else when.isoformat()}">
</head><body>
<div class="cookie-consent">{COOKIE}</div>
<header><nav><a href="/china/">China</a> <a href="/tech/">Tech</a> <a href="/tech/tech-war/">Tech war: sanctions, smuggling and export controls</a> <a href="/economy/">Economy</a></nav></header>
<div class="article-wrapper"><div class="topic-tags"><a href="/topics/us-china-tech-war">US-China tech war</a> \u00b7 <a href="/topics/sanctions">Sanctions</a></div>
<h1 class="headline">{esc(title)}</h1>
<div class="summary"><ul><li>Why it matters \u2013 the tech war\u2019s latest twist</li></ul></div>
{by}<time class="published">Published: {when.strftime('%I:%M%p, %d %b, %Y')}</time>
<figure><img src="/x.jpg"><figcaption>A semiconductor fab. Beijing says US export controls are \u201cbullying\u201d. Photo: Shutterstock</figcaption></figure>
<div class="article-body">{''.join(parts)}</div>
<div class="newsletter-box"><b>China Tech Brief</b>: {NEWSLETTER}</div>
{_most_read(a, 'Trending in Tech War')}</div>
<footer>Copyright \u00a9 2026 SCMP</footer></body></html>"""


# ------------------------------------------------------------------ 3: WordPress trade blog
def _t3_blog(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "blog"), str(a.get("title") or ""), a.get("author")
    paras = _paras(a)
    parts = []
    for i, p in enumerate(paras):
        parts.append(f"<p>{esc(p)}</p>")
        if i == 0:
            parts.append(f'<div class="wp-block-group newsletter-cta"><h4>Sanctions Weekly</h4><p>{NEWSLETTER}</p>'
                         '<form><input type="email" placeholder="you@company.com"><button>Subscribe</button></form></div>')
        if i == 1 and len(paras) > 2:
            parts.append(f'<blockquote class="wp-block-pullquote"><p>{esc(paras[0].split(". ")[0])}</p></blockquote>')
    by = f'by <span class="author vcard"><a href="/author/{_slug(str(author))}">{esc(str(author))}</a></span>' if author else ""
    return f"""<!DOCTYPE html><html lang="en-US"><head><meta charset="UTF-8">
<title>{esc(title)} &#8211; {esc(outlet)}</title>
<meta property="og:title" content="{esc(title)}">
<meta property="og:site_name" content="{esc(outlet)}">
<link rel="canonical" href="/{when.strftime('%Y/%m/%d')}/{_slug(title)}/">
</head><body class="single single-post">
<div id="masthead"><p class="site-title"><a href="/">{esc(outlet)}</a></p><p class="site-description">Trade compliance, sanctions and export-control news for the supply chain</p>
<ul id="primary-menu"><li><a href="/category/export-controls/">Export Controls</a></li><li><a href="/category/sanctions/">Sanctions</a></li><li><a href="/category/enforcement/">Enforcement</a></li><li><a href="/category/evasion-schemes/">Evasion schemes</a></li></ul></div>
<div id="content"><article class="post type-post"><header class="entry-header"><h1 class="entry-title">{esc(title)}</h1>
<div class="entry-meta">Posted on <time class="entry-date published" datetime="{when.isoformat()}">{when.strftime('%B %-d, %Y')}</time> {by}</div></header>
<div class="entry-content">{''.join(parts)}
<div class="sharedaddy"><h3>Share this:</h3><a>Twitter</a><a>LinkedIn</a></div>
<div class="jp-relatedposts"><h3>Related</h3>{''.join(f'<p><a href="/p/{_slug(h)}">{esc(h)}</a></p>' for h in _pick(a, LOADED_HEADLINES, 3))}</div>
</div><footer class="entry-footer"><span class="tags-links">Tagged <a>BIS</a>, <a>loopholes</a>, <a>smuggling</a>, <a>transshipment</a></span></footer></article>
{_comments()}
</div><div id="secondary" class="widget-area">{_most_read(a, 'Popular posts')}</div>{_footer(outlet)}</body></html>"""


# ------------------------------------------------------------------ 4: think tank, body in many divs, no JSON-LD
def _t4_thinktank(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "institute"), str(a.get("title") or ""), a.get("author")
    blocks = "".join(f'<div class="field-item"><div class="text-block"><div class="rich-text">{esc(p)}</div></div></div>'
                     for p in _paras(a))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<meta name="author" content="{esc(str(author or ''))}">
<meta name="dcterms.date" content="{when.date().isoformat()}">
</head><body>
<div class="utility-bar"><a href="/donate">Donate</a> <a href="/events">Events</a> <a href="/experts">Experts</a></div>
{_mega_menu(outlet)}
<div class="page-content"><div class="hero"><div class="eyebrow">Commentary \u00b7 Economic security</div>
<div class="hero-title"><h1>{esc(title)}</h1></div>
<div class="hero-meta"><div class="authors">{esc(str(author or ''))}</div><div class="date">{when.strftime('%B %-d, %Y')}</div></div></div>
<div class="layout"><div class="main-col"><div class="body-fields">{blocks}</div>
<div class="disclaimer">This commentary reflects the views of the author, not the institute, which takes no institutional positions on sanctions or export-control policy.</div>
<div class="expert-bio"><div class="bio-name">{esc(str(author or ''))}</div><div class="bio-text">Senior fellow, Economic Security Program. Research focuses on sanctions evasion networks, export control loopholes and chip smuggling routes through third countries.</div></div></div>
<div class="side-col"><div class="event-promo"><h3>Upcoming event</h3><p>Webinar: Closing the chip smuggling loopholes \u2013 how allies can stop the evasion of export controls.</p></div>
<div class="related-research"><h3>Related research</h3>{''.join(f'<div class="card"><a href="/r/{_slug(h)}">{esc(h)}</a></div>' for h in _pick(a, LOADED_HEADLINES, 4))}</div></div></div></div>
{_footer(outlet)}</body></html>"""


# ------------------------------------------------------------------ 5: AMP-like
def _t5_amp(a: Mapping[str, Any], now: datetime | None) -> str:
    when = _when(a, now)
    outlet, title, author = str(a.get("outlet") or "amp"), str(a.get("title") or ""), a.get("author")
    parts = []
    for i, p in enumerate(_paras(a)):
        parts.append(f"<p>{esc(p)}</p>")
        if i == 0:
            parts.append('<amp-ad width="300" height="250" type="doubleclick" data-slot="/news/tech"></amp-ad>')
        if i == 1:
            h = _pick(a, LOADED_HEADLINES, 3)[2]
            parts.append(f'<p class="read-more"><strong>READ MORE:</strong> <a href="/amp/{_slug(h)}">{esc(h)}</a></p>')
    return f"""<!doctype html><html \u26a1 lang="en"><head><meta charset="utf-8">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<title>{esc(title)} - {esc(outlet)}</title>
<link rel="canonical" href="/news/{_slug(title)}">
{_jsonld(a, when, headline=title, publisher={"@type": "Organization", "name": outlet})}
<style amp-custom>body{{font-family:sans-serif}}</style>
</head><body>
<amp-sidebar id="sidebar" layout="nodisplay"><ul><li><a href="/">Home</a></li><li><a href="/sanctions">Sanctions</a></li><li><a href="/export-controls">Export controls explained</a></li><li><a href="/smuggling">Smuggling investigations</a></li></ul></amp-sidebar>
<amp-consent id="consent" layout="nodisplay"><div class="consent-ui">{COOKIE}</div></amp-consent>
<header class="amp-header"><button on="tap:sidebar.toggle">Menu</button> {esc(outlet)}</header>
<article class="amp-article"><h1 class="amp-title">{esc(title)}</h1>
<div class="amp-byline">{('By ' + esc(str(author)) + ' | ') if author else ''}<time datetime="{when.isoformat()}">{when.strftime('%d/%m/%Y')}</time></div>
<amp-img src="/lead.jpg" width="800" height="450" alt="Border checkpoint"></amp-img>
<div class="amp-caption">Trucks queue at a border crossing used for re-exports to Russia.</div>
<div class="amp-article-body">{''.join(parts)}</div></article>
<div class="amp-related"><h3>You may also like</h3>{''.join(f'<a href="/amp/{_slug(h)}"><h4>{esc(h)}</h4></a>' for h in _pick(a, LOADED_HEADLINES, 3))}</div>
<amp-analytics type="gtag"></amp-analytics><footer>{esc(outlet)} &copy; 2026</footer></body></html>"""


TEMPLATES = [_t0_wire, _t1_vulture, _t2_hk, _t3_blog, _t4_thinktank, _t5_amp]
TEMPLATE_NAMES = ["wire", "vulture", "hk-post", "trade-blog", "think-tank", "amp"]
CONTENT_TYPES = ["text/html; charset=utf-8", "text/html", "text/html", "text/html; charset=UTF-8",
                 "text/html; charset=utf-8", "text/html; charset=utf-8"]


def render_outlet_page(article: Mapping[str, Any], template: int, now: datetime | None = None) -> bytes:
    """The page for `article` as outlet template `template` (0..5) serves it, as bytes."""
    t = template % len(TEMPLATES)
    page = TEMPLATES[t](article, now)
    if t == 1:
        return page.encode("cp1252", errors="xmlcharrefreplace")
    return page.encode("utf-8")
