"""Deterministic benchmark corpus: N articles over M outlets, ~10% sanctions/export-control
circumvention stories, the rest ordinary tech/business/policy news, rendered as realistic
pages (nav, cookie banner, related + newsletter boxes that mention sanctions words, footer,
JSON-LD, og tags, inline scripts) with outlet-specific templates and listings
(RSS, Atom or Google News sitemap).

Text is generated combinatorially from sentence templates with a fixed seed: the same
arguments always give the same words. Only publication dates move with `now`, so the
articles stay inside the crawler's max_age_days window.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

SEED = 20260101

# -- vocabulary -------------------------------------------------------------------------

CN_FIRMS = ["Hangzhou Lingxi Intelligence", "Shenzhen Kuanyu Technology", "Beijing Zhiyuan Compute",
            "Shanghai Tianhe Data", "Chengdu Xinghai AI", "Wuhan Guanglian Systems", "Nanjing Ruisi Robotics",
            "Suzhou Hengtong Microelectronics", "Xi'an Qiming Semiconductor", "Guangzhou Yunfan Cloud"]
THIRD = ["Malaysia", "Singapore", "Thailand", "Vietnam", "the United Arab Emirates", "Indonesia", "India",
         "Kazakhstan", "Armenia", "Turkey", "Hong Kong", "Taiwan"]
THIRD_CITY = {"Malaysia": "Johor", "Singapore": "Singapore", "Thailand": "Bangkok", "Vietnam": "Hanoi",
              "the United Arab Emirates": "Dubai", "Indonesia": "Batam", "India": "Mumbai",
              "Kazakhstan": "Almaty", "Armenia": "Yerevan", "Turkey": "Istanbul", "Hong Kong": "Kowloon",
              "Taiwan": "Taipei"}
GPUS = ["H100", "H200", "A100", "B200", "H800", "A800"]
CHIP_FIRMS = ["Nvidia", "AMD", "Intel", "Micron", "Broadcom", "Qualcomm"]
TOOL_FIRMS = ["ASML", "Applied Materials", "Lam Research", "Tokyo Electron", "KLA"]
PARTS = ["programmable logic chips", "radio-frequency modules", "high-bandwidth memory", "navigation chips",
         "power semiconductors", "machine tools", "lithography spare parts", "servers"]
AGENCIES = ["the Commerce Department's Bureau of Industry and Security", "the Treasury's Office of Foreign Assets Control",
            "the Justice Department", "Britain's Office of Trade Sanctions Implementation",
            "the European Commission", "Dutch customs"]
CITIES = ["Boston", "San Jose", "Brooklyn", "Miami", "Phoenix", "Seattle", "Austin", "Chicago"]
FIRST = ["Mara", "Daniel", "Priya", "Tomás", "Wei", "Hannah", "Kwame", "Sofia", "Yuki", "Ahmed", "Lena", "Oliver",
         "Chen", "Isabel", "Rafael", "Nadia", "Jonas", "Amara", "Felix", "Ingrid"]
LAST = ["Lindqvist", "Okafor", "Raman", "Herrera", "Zhang", "Becker", "Mensah", "Rossi", "Tanaka", "Hassan",
        "Vogel", "Brennan", "Liu", "Moreau", "Silva", "Karimi", "Berg", "Adeyemi", "Novak", "Sørensen"]
TECH_FIRMS = ["Microsoft", "Alphabet", "Amazon", "Apple", "Meta", "Salesforce", "Oracle", "SAP", "Spotify",
              "Shopify", "Atlassian", "Adobe", "Netflix", "Uber", "Airbnb", "Siemens", "Ericsson", "Nokia"]
STARTUPS = ["Quillbyte", "Nimbusly", "Fernhill Robotics", "Arclight Bio", "Tidewater Energy", "Parcelo",
            "Brightloop", "Kestrel Analytics", "Moss & Marlow", "Halcyon Grid", "Orbitra", "Veridian Pay"]
PRODUCTS = ["a foldable phone", "an AI coding assistant", "a cloud database", "a battery pack", "a smart speaker",
            "a payments app", "a mixed-reality headset", "an electric delivery van", "a chatbot for banks"]
REGULATORS = ["the Federal Trade Commission", "the European Commission", "Britain's Competition and Markets Authority",
              "Japan's Fair Trade Commission", "the Securities and Exchange Commission", "Ofcom"]
MARKETS = ["Europe", "Brazil", "Japan", "Canada", "Australia", "Germany", "France", "Mexico", "South Korea"]
ANALYSTS = ["Bernstein", "Morgan Stanley", "Gartner", "IDC", "Counterpoint Research", "Jefferies", "Moody's"]

# -- sentence templates -----------------------------------------------------------------
# Each is a format string over the slots filled by `_slots`.

RELEVANT_LEADS = [
    "{cn} has been training its models on {n} Nvidia {gpu} accelerators rented from a data centre in {third}, "
    "according to {k} people familiar with the arrangement, sidestepping US export controls that bar sales of the chips to China.",
    "Smugglers routed at least {n} servers packed with restricted Nvidia {gpu} chips through {third} to buyers in China "
    "last year, evading export controls, court filings unsealed on {day} show.",
    "A network of shell companies registered in {third} bought {parts} from American distributors and diverted them "
    "to {cn}, a firm on the Entity List, prosecutors in {city} said on {day}.",
    "Chinese developers barred from buying top-end AI chips are getting around US restrictions by leasing cloud "
    "capacity in {third}, where {n} {gpu} servers were installed this year, a review of import records shows.",
    "{agency} added {n} companies in {third} and China to its export blacklist on {day}, accusing them of helping "
    "{cn} circumvent controls on advanced semiconductors.",
]
RELEVANT_BODY = [
    "The chips never cross into China: engineers in {cn_city} log in remotely to the cluster in {third_city}, a practice that falls outside rules written for the shipment of hardware rather than access to it.",
    "Lawyers who advise chip distributors described remote access to restricted accelerators as a loophole that officials in Washington have discussed but not yet closed.",
    "One operator said a front company registered in {third} signs the leases, so the Chinese customer does not appear on any contract.",
    "According to the indictment, the defendants falsely declared that the {parts} were destined for consumer electronics makers in {third}.",
    "Investigators say the shipments were transshipped to the mainland, evading the licence requirement that applies to any export to a listed company.",
    "The scheme moved more than ${m} million of controlled parts over {k} years, the Justice Department said.",
    "{chip} said its partners are required to comply with all applicable export laws and that it would investigate the claims.",
    "{agency} did not respond to a request for comment on whether the leases breach the Export Administration Regulations.",
    "Trade data show that imports of {gpu} servers into {third} rose {p} percent in the first half of the year, far beyond any plausible local demand.",
    "Officials in {third} said they would not allow the country to be used to circumvent foreign export controls and have begun asking data-centre operators about their ultimate customers.",
    "Export-control specialists said the case shows how diversion through third countries has become the main route for sanctioned buyers to obtain dual-use technology.",
    "The company was added to the Entity List in {year}, which means suppliers need a licence before shipping it any item subject to US rules.",
    "Customs officers in {third_city} seized {n} boxes of graphics cards labelled as gaming equipment, the second such seizure this quarter.",
    "A broker in {third_city} told buyers the servers could be delivered to Shenzhen within {k} weeks, for a premium of about {p} percent over the list price.",
    "The Disruptive Technology Strike Force, set up by the Justice and Commerce departments, has brought {k} cases involving the smuggling of chips to China since its creation.",
    "Lawmakers in Washington called for a rule that would require cloud providers to verify who is renting restricted chips, closing what one senator called a gaping back door.",
    "Under the foreign direct product rule, chips made anywhere with American tools can fall under US export controls, but enforcement abroad depends on cooperation from local authorities.",
    "{cn} denied wrongdoing and said it had always complied with the laws of every country where it operates.",
    "People familiar with the matter said the accelerators were first sold to a systems integrator in {third} and then resold through {k} intermediaries.",
    "The leases were paid through a bank in {third}, and invoices described the service as general-purpose computing, the documents show.",
]
ORDINARY_LEADS = [
    "{tech} reported quarterly revenue of ${m} billion on {day}, beating analysts' forecasts as demand for its cloud services grew {p} percent.",
    "{startup}, a {year2}-year-old start-up that makes {product}, has raised ${m} million in a funding round led by {analyst_vc}.",
    "{regulator} opened an investigation on {day} into whether {tech} abused its dominance in online advertising.",
    "{tech} will launch {product} in {market} next month, its chief executive said at an event in {city}.",
    "Shares of {tech} fell {p} percent on {day} after the company cut its full-year outlook, citing weaker spending by business customers.",
    "Lawmakers in {market} approved new rules on {day} requiring large online platforms to give users more control over recommendation algorithms.",
    "{tech} agreed to buy {startup} for ${m} million, its largest acquisition in {k} years, the companies said on {day}.",
]
ORDINARY_BODY = [
    "The company said operating margin improved to {p} percent, helped by lower energy costs and a smaller workforce.",
    "Analysts at {analyst} said the results showed that corporate customers were still willing to pay for productivity software.",
    "{startup} said it would use the money to hire {n} engineers and expand into {market} before the end of next year.",
    "The chief executive told investors that spending on data centres would rise to ${m} billion next year as the company builds capacity for AI services.",
    "Consumer groups welcomed the decision, saying it would make it easier for people to switch providers and compare prices.",
    "{tech} said it would appeal, arguing that the case ignored competition from dozens of smaller rivals.",
    "The deal still needs approval from {regulator}, which has taken a closer look at acquisitions of young companies by large platforms.",
    "Sales of {product} were strongest in {market}, where the company cut prices by {p} percent in the spring.",
    "Employees were told in an internal memo that the reorganisation would affect about {n} roles, mostly in sales and marketing.",
    "The new rules take effect in {year}, and companies that break them face fines of up to {k} percent of global turnover.",
    "Privacy advocates said the proposal did not go far enough and called for stricter limits on the use of personal data for advertising.",
    "Battery prices have fallen by about {p} percent over the past two years, making electric vans competitive with diesel models for city deliveries.",
    "The company has struggled to turn a profit since its stock-market debut in {year}, and its shares have lost more than half their value.",
    "{analyst} estimates that the market for {product} will be worth ${m} billion by the end of the decade.",
    "A spokesperson for {tech} said the outage was caused by a faulty configuration change and that no customer data were lost.",
    "The central bank kept interest rates unchanged, and executives said borrowing costs were still weighing on technology investment.",
    "Trade groups said the tariff changes on steel and aluminium would raise costs for manufacturers of household appliances.",
    "The telecom operator plans to switch off its 3G network in {market} next year and reuse the spectrum for 5G.",
    "Researchers at a university in {city} said the model matched human experts on {k} of {n} benchmark tasks.",
    "Investors have poured money into AI start-ups this year, with funding in the sector up {p} percent from a year earlier.",
    "The firm said its new chip design would cut power consumption by {p} percent, an important selling point for data-centre operators.",
    "Regulators are also examining the company's app store fees, which developers say are too high.",
]
QUOTES = [
    "\u201cWe are seeing a step change in how customers use our products,\u201d said {person}, the company's chief financial officer.",
    "\u201cThis is a market that rewards patience,\u201d said {person}, an analyst at {analyst}.",
    "\u201cThe rules were written for a world of shipping containers, not remote logins,\u201d said {person}, a former export-control official.",
    "\u201cWe take these obligations extremely seriously,\u201d {person}, a spokesperson, said in a statement.",
]
SUBHEADS_REL = ["A gap in the rules", "Following the money", "Enforcement catches up", "What comes next"]
SUBHEADS_ORD = ["What it means for customers", "The numbers", "Competition", "What comes next"]

NAV_SECTIONS = ["Tech", "Business", "Policy", "Markets", "AI", "Semiconductors", "Sanctions", "Export Controls",
                "Trade", "Cybersecurity", "Energy", "Opinion", "Podcasts", "Events"]
RELATED_HEADLINES = [
    "How sanctions evasion became a growth industry", "Inside the chip smuggling networks of Southeast Asia",
    "US widens export controls on AI chips", "Shell companies and the loophole nobody closed",
    "Treasury sanctions dozens of firms over drone parts", "Cloud rental: the new export-control workaround",
    "EU adopts 16th sanctions package", "Why export controls leak", "Nvidia's China problem, explained",
]


@dataclass
class Article:
    outlet: str
    slug: str
    path: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]
    subheads: dict[int, str]
    relevant: bool
    words: int


@dataclass
class Outlet:
    name: str
    title: str
    listing: str      # rss | atom | sitemap
    template: int
    articles: list[Article] = field(default_factory=list)

    @property
    def listing_path(self) -> str:
        return {"rss": f"/{self.name}/feed.xml", "atom": f"/{self.name}/atom.xml",
                "sitemap": f"/{self.name}/news-sitemap.xml"}[self.listing]


OUTLET_NAMES = [("chipwire", "ChipWire"), ("asia-policy-daily", "Asia Policy Daily"), ("tradewatch", "TradeWatch"),
                ("the-ledger", "The Ledger"), ("siliconbrief", "Silicon Brief"), ("capitol-tech", "Capitol Tech"),
                ("datacentre-dynamics", "Datacentre Dynamics Today"), ("market-morning", "Market Morning"),
                ("eurotech-review", "EuroTech Review"), ("pacific-wire", "Pacific Wire"),
                ("global-compute", "Global Compute"), ("regwatch", "RegWatch")]


def _slots(rng: random.Random) -> dict[str, str]:
    third = rng.choice(THIRD)
    return {
        "cn": rng.choice(CN_FIRMS), "cn_city": rng.choice(["Shanghai", "Hangzhou", "Shenzhen", "Beijing"]),
        "third": third, "third_city": THIRD_CITY[third], "gpu": rng.choice(GPUS), "chip": rng.choice(CHIP_FIRMS),
        "tool": rng.choice(TOOL_FIRMS), "parts": rng.choice(PARTS), "agency": rng.choice(AGENCIES),
        "city": rng.choice(CITIES), "n": str(rng.choice([12, 40, 64, 120, 300, 512, 2000, 10000])),
        "k": str(rng.randint(2, 9)), "m": str(rng.choice([3, 4.2, 18, 27, 140, 350, 1.9, 62])),
        "p": str(rng.randint(3, 48)), "year": str(rng.randint(2019, 2025)), "year2": str(rng.randint(2, 9)),
        "day": rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        "tech": rng.choice(TECH_FIRMS), "startup": rng.choice(STARTUPS), "product": rng.choice(PRODUCTS),
        "regulator": rng.choice(REGULATORS), "market": rng.choice(MARKETS), "analyst": rng.choice(ANALYSTS),
        "analyst_vc": rng.choice(["Sequoia", "Index Ventures", "Accel", "Balderton", "General Catalyst"]),
        "person": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
    }


def _sentence(rng: random.Random, template: str, base: dict[str, str]) -> str:
    slots = dict(base)
    # a third of sentences draw fresh numbers/people so paragraphs do not repeat themselves
    if rng.random() < 0.35:
        fresh = _slots(rng)
        for key in ("n", "k", "m", "p", "person", "analyst", "market", "year"):
            slots[key] = fresh[key]
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def _title(rng: random.Random, relevant: bool, s: dict[str, str]) -> str:
    if relevant:
        return rng.choice([
            f"{s['cn']} rents restricted Nvidia {s['gpu']} chips through {s['third']} data centre",
            f"Chips smuggled via {s['third']} reached sanctioned Chinese buyers, filings show",
            f"Shell companies in {s['third']} diverted US {s['parts']} to China, prosecutors say",
            f"US blacklists {s['n']} firms over export-control circumvention",
            f"Cloud leases in {s['third']} let Chinese AI firms get around chip curbs",
        ])
    return rng.choice([
        f"{s['tech']} beats forecasts as cloud demand grows",
        f"{s['startup']} raises ${s['m']} million for {s['product']}",
        f"{s['regulator'][0].upper() + s['regulator'][1:]} opens probe into {s['tech']}",
        f"{s['tech']} to launch {s['product']} in {s['market']}",
        f"{s['tech']} shares slide after outlook cut",
        f"{s['market']} lawmakers approve platform rules",
        f"{s['tech']} agrees to buy {s['startup']}",
    ])


def make_article(rng: random.Random, outlet: str, index: int, relevant: bool, now: datetime) -> Article:
    s = _slots(rng)
    title = _title(rng, relevant, s)
    target_words = rng.randint(520, 780)
    paragraphs: list[str] = []
    words = 0
    lead_pool = RELEVANT_LEADS if relevant else ORDINARY_LEADS
    paragraphs.append(_sentence(rng, rng.choice(lead_pool), s))
    words += len(paragraphs[0].split())
    body_pool = list(RELEVANT_BODY if relevant else ORDINARY_BODY)
    if relevant:  # relevant stories also carry ordinary context sentences
        body_pool += rng.sample(ORDINARY_BODY, 6)
    rng.shuffle(body_pool)
    pos = 0
    while words < target_words:
        n_sent = rng.randint(2, 4)
        sents = []
        for _ in range(n_sent):
            if rng.random() < 0.08:
                # the export-control quote belongs to relevant stories only: in an ordinary
                # story it would make the article relevant and the labels wrong
                quotes = QUOTES if relevant else [q for q in QUOTES if "export-control" not in q]
                sents.append(_sentence(rng, rng.choice(quotes), s))
            else:
                sents.append(_sentence(rng, body_pool[pos % len(body_pool)], s))
                pos += 1
        para = " ".join(sents)
        paragraphs.append(para)
        words += len(para.split())
    heads = SUBHEADS_REL if relevant else SUBHEADS_ORD
    subheads = {i: heads[(i // 4) % len(heads)] for i in range(4, len(paragraphs), 4)}
    hours = 1 + (index * 7 + rng.randint(0, 6)) % 300  # within 12.5 days
    published = (now - timedelta(hours=hours, minutes=rng.randint(0, 59))).replace(second=0, microsecond=0)
    slug_words = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
    slug = "-".join(w for w in slug_words.split("-") if w)[:70] + f"-{index:05d}"
    path = f"/{outlet}/{published:%Y/%m/%d}/{slug}"
    return Article(outlet=outlet, slug=slug, path=path, title=title,
                   author=f"{rng.choice(FIRST)} {rng.choice(LAST)}", published=published,
                   paragraphs=paragraphs, subheads=subheads, relevant=relevant, words=words)


def build_corpus(n_articles: int = 2000, n_outlets: int = 10, relevant_share: float = 0.10, seed: int = SEED,
                 now: datetime | None = None) -> list[Outlet]:
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    listings = ["rss", "atom", "sitemap"]
    outlets = [Outlet(name=OUTLET_NAMES[i % len(OUTLET_NAMES)][0] + ("" if i < len(OUTLET_NAMES) else f"-{i}"),
                      title=OUTLET_NAMES[i % len(OUTLET_NAMES)][1], listing=listings[i % 3], template=i % 5)
               for i in range(n_outlets)]
    n_relevant = round(n_articles * relevant_share)
    relevant_idx = set(rng.sample(range(n_articles), n_relevant))
    for i in range(n_articles):
        outlet = outlets[i % n_outlets]
        outlet.articles.append(make_article(rng, outlet.name, i, i in relevant_idx, now))
    return outlets


# -- rendering --------------------------------------------------------------------------

E = html.escape

INLINE_JS = ("window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());"
             "gtag('config','G-XXXX');(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),"
             "event:'gtm.js'});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;"
             "j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);})"
             "(window,document,'script','dataLayer','GTM-XXXX');")
CSS = ("body{font-family:Georgia,serif;margin:0;color:#222}.nav a{padding:0 8px;text-decoration:none}"
       ".related li{margin:4px 0}.newsletter{background:#f4f4f4;padding:12px}.cookie{position:fixed;bottom:0}"
       "footer{font-size:12px;color:#666}h1{font-size:2.2em;line-height:1.1}.byline{color:#555}") * 20


def _nav(outlet: Outlet) -> str:
    links = "".join(f'<li><a href="/{outlet.name}/section/{s.lower().replace(" ", "-")}/">{s}</a></li>'
                    for s in NAV_SECTIONS)
    sub = "".join(f'<li><a href="/{outlet.name}/tag/{t}/">{t.replace("-", " ").title()}</a></li>'
                  for t in ("nvidia", "china", "huawei", "tsmc", "entity-list", "ofac", "chips-act", "smuggling",
                            "cloud", "startups", "earnings", "antitrust", "privacy", "5g"))
    return (f'<header class="site-header"><a class="logo" href="/{outlet.name}/">{E(outlet.title)}</a>'
            f'<nav class="nav primary-nav"><ul>{links}</ul></nav><nav class="nav topics"><ul>{sub}</ul></nav>'
            f'<form class="search" action="/{outlet.name}/search"><input name="q" placeholder="Search"></form></header>')


def _boxes(outlet: Outlet, rng: random.Random) -> tuple[str, str, str]:
    related = "".join(f'<li><a href="/{outlet.name}/related/{i}">{E(h)}</a></li>'
                      for i, h in enumerate(rng.sample(RELATED_HEADLINES, 4)))
    related_box = f'<aside class="related-stories"><h3>Related</h3><ul>{related}</ul></aside>'
    newsletter = ('<aside class="newsletter-signup"><h3>Sanctions &amp; Export Controls Weekly</h3><p>The latest on '
                  'sanctions evasion, chip smuggling, shell companies and export-control loopholes, from our '
                  'trade reporters. Every Friday.</p><form><input type="email" placeholder="Email">'
                  '<button>Subscribe</button></form></aside>')
    cookie = ('<div id="cookie-consent" class="cookie-banner"><p>We use cookies to personalise content and ads, '
              'to provide social media features and to analyse our traffic. By continuing you agree to our '
              '<a href="/privacy">privacy policy</a>.</p><button>Accept all</button><button>Manage</button></div>')
    return related_box, newsletter, cookie


def _footer(outlet: Outlet) -> str:
    links = "".join(f'<li><a href="/{outlet.name}/{p}/">{p.replace("-", " ").title()}</a></li>' for p in
                    ("about", "contact", "careers", "advertise", "terms", "privacy", "cookie-policy", "corrections",
                     "ethics", "rss", "newsletters", "events", "licensing", "accessibility"))
    return (f'<footer class="site-footer"><ul>{links}</ul><p>\u00a9 {datetime.now().year} {E(outlet.title)} Media Ltd. '
            'All rights reserved. Reproduction without permission is prohibited.</p></footer>')


def _paragraphs(a: Article, tpl: int, outlet: Outlet) -> str:
    out = []
    for i, p in enumerate(a.paragraphs):
        if i in a.subheads:
            out.append(f"<h2>{E(a.subheads[i])}</h2>")
        if tpl == 2:
            out.append(f'<div class="text-block"><p>{E(p)}</p></div>')
        else:
            out.append(f"<p>{E(p)}</p>")
        if tpl == 3 and i == 3:
            out.append(f'<p class="read-more"><strong>Read more:</strong> <a href="/{outlet.name}/related/9">'
                       "US tightens rules on chip exports to China</a></p>")
        if tpl == 4 and i == 2:
            out.append('<figure><img src="/img/hero.jpg" alt="Server racks"><figcaption>Server racks in a data '
                       "centre. Photo: Agency</figcaption></figure>")
    return "\n".join(out)


def render_article(outlet: Outlet, a: Article, base: str) -> str:
    rng = random.Random(a.slug)
    date = a.published.isoformat()
    jsonld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": a.title,
                         "datePublished": date, "dateModified": date, "mainEntityOfPage": base + a.path,
                         "author": [{"@type": "Person", "name": a.author}],
                         "publisher": {"@type": "Organization", "name": outlet.title}}).replace("</", "<\\/")
    desc = a.paragraphs[0][:200]
    head = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{E(a.title)} | {E(outlet.title)}</title>"
            f'<meta name="description" content="{E(desc)}">'
            f'<link rel="canonical" href="{base}{a.path}">'
            f'<meta property="og:type" content="article"><meta property="og:title" content="{E(a.title)}">'
            f'<meta property="og:site_name" content="{E(outlet.title)}"><meta property="og:url" content="{base}{a.path}">'
            f'<meta property="og:description" content="{E(desc)}"><meta property="article:published_time" content="{date}">'
            f'<meta name="twitter:card" content="summary_large_image"><meta name="author" content="{E(a.author)}">'
            f"<style>{CSS}</style><script>{INLINE_JS}</script>"
            f'<script type="application/ld+json">{jsonld}</script></head>')
    related, newsletter, cookie = _boxes(outlet, rng)
    byline = f'<span class="author">{E(a.author)}</span>'
    when = f'<time datetime="{date}">{a.published:%d %B %Y %H:%M} UTC</time>'
    paras = _paragraphs(a, outlet.template, outlet)
    share = ('<div class="share-bar"><a href="#">Share on X</a> <a href="#">LinkedIn</a> <a href="#">Email</a>'
             ' <a href="#">Copy link</a></div>')
    tpl = outlet.template
    state = ""
    if tpl in (1, 4):  # Next.js-style sites ship the article again as a JSON state blob
        blob = json.dumps({"props": {"pageProps": {"article": {"headline": a.title, "body": a.paragraphs,
                           "author": a.author, "published": date}, "related": RELATED_HEADLINES,
                           "nav": NAV_SECTIONS}}, "page": "/[section]/[slug]", "buildId": "b" + a.slug[-5:]})
        blob = blob.replace("</", "<\\/")
        state = f'<script id="__NEXT_DATA__" type="application/json">{blob}</script>'
    if tpl == 0:
        body = (f'<main id="main"><article class="post"><h1 class="entry-title">{E(a.title)}</h1>'
                f'<p class="byline">By {byline} \u00b7 {when}</p>{share}<div class="entry-content">{paras}</div>'
                f"</article>{related}{newsletter}</main>")
    elif tpl == 1:
        body = (f'<div id="page"><div class="container"><div id="story"><h1>{E(a.title)}</h1>'
                f'<div class="meta"><span>By</span> {byline} {when}</div>'
                f'<div class="story-body__inner" itemprop="articleBody">{paras}</div></div>'
                f'<div class="sidebar">{newsletter}<div class="most-read"><h3>Most read</h3><ol>'
                + "".join(f"<li><a href='/r/{i}'>{E(h)}</a></li>" for i, h in enumerate(RELATED_HEADLINES[:5]))
                + f"</ol></div></div>{related}</div></div>")
    elif tpl == 2:
        body = (f'<main><section class="article__header"><h1>{E(a.title)}</h1><div class="article__byline">'
                f'{byline}<br>{when}</div></section><section class="article__content">{paras}</section>'
                f"{share}{related}</main>{newsletter}")
    elif tpl == 3:
        body = (f'<div class="content"><article><header><h1>{E(a.title)}</h1><p class="dek">{E(desc)}</p>'
                f'<p class="byline">{byline} | {when}</p></header><div class="body-copy">{paras}</div>'
                f'<div class="tags"><a href="/t/trade">Trade</a> <a href="/t/china">China</a></div></article>'
                f"{newsletter}{related}</div>")
    else:
        body = (f'<main role="main"><article itemscope itemtype="https://schema.org/NewsArticle">'
                f'<h1 itemprop="headline">{E(a.title)}</h1><div class="byline" itemprop="author">{byline}</div>'
                f'{when}<div class="article-body">{paras}</div>{share}</article><div class="widgets">{related}'
                f"{newsletter}</div></main>")
    return (f"{head}<body>{cookie}{_nav(outlet)}{body}{_footer(outlet)}"
            f"{state}<script>{INLINE_JS * 8}</script></body></html>")


def render_listing(outlet: Outlet, base: str, now: datetime) -> tuple[str, str]:
    items = outlet.articles
    if outlet.listing == "rss":
        entries = "".join(
            f"<item><title>{E(a.title)}</title><link>{base}{a.path}</link><guid>{base}{a.path}</guid>"
            f"<pubDate>{format_datetime(a.published)}</pubDate><dc:creator>{E(a.author)}</dc:creator>"
            f"<description>{E(a.paragraphs[0][:200])}</description></item>" for a in items)
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<channel><title>{E(outlet.title)}</title><link>{base}/{outlet.name}/</link>"
                f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>{entries}</channel></rss>",
                "application/rss+xml")
    if outlet.listing == "atom":
        entries = "".join(
            f'<entry><title>{E(a.title)}</title><link rel="alternate" href="{base}{a.path}"/><id>{base}{a.path}</id>'
            f"<published>{a.published.isoformat()}</published><updated>{a.published.isoformat()}</updated>"
            f"<author><name>{E(a.author)}</name></author><summary>{E(a.paragraphs[0][:200])}</summary></entry>"
            for a in items)
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{E(outlet.title)}</title><id>{base}/{outlet.name}/</id><updated>{now.isoformat()}</updated>"
                f"{entries}</feed>", "application/atom+xml")
    urls = "".join(
        f"<url><loc>{base}{a.path}</loc><news:news><news:publication><news:name>{E(outlet.title)}</news:name>"
        f"<news:language>en</news:language></news:publication><news:publication_date>{a.published.isoformat()}"
        f"</news:publication_date><news:title>{E(a.title)}</news:title></news:news></url>" for a in items)
    return ('<?xml version="1.0" encoding="utf-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>",
            "application/xml")


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    etag: str


def render_site(outlets: list[Outlet], base: str, now: datetime) -> dict[str, Page]:
    """Every path the server answers, pre-rendered to bytes."""
    pages: dict[str, Page] = {}

    def add(path: str, text: str, ctype: str) -> None:
        body = text.encode("utf-8")
        pages[path] = Page(body, ctype, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')

    add("/robots.txt", "User-agent: *\nDisallow: /admin/\nDisallow: /search\n", "text/plain")
    for outlet in outlets:
        text, ctype = render_listing(outlet, base, now)
        add(outlet.listing_path, text, ctype)
        for a in outlet.articles:
            add(a.path, render_article(outlet, a, base), "text/html; charset=utf-8")
    return pages
