"""Turn an alert payload into each format: email, Slack, Atom, terminal.

Everything in a payload came from the web, so it is data in every format:

* email subject: control characters and line breaks removed (no header injection);
* HTML email: Jinja2 autoescape; links only for validated http(s) URLs;
* Slack: `&`, `<`, `>` escaped, so `<!channel>` or `<https://evil.example|click>` in a title
  stays text; `@here`-style words are broken with a zero-width space; link targets are
  validated http(s) URLs with `|`, `<`, `>` and spaces percent-encoded;
* Atom: built with ElementTree (escaped), characters XML 1.0 forbids removed;
* terminal: rich `Text` objects (never markup strings), control codes removed.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .common import Alert, parse_time

SUBJECT_PREFIX = "[newsradar] "
SUBJECT_MAX = 180
SLACK_SECTION_MAX = 3000
SLACK_MAX_BLOCKS = 50
SLACK_TEXT_MAX = 3000
ATOM_NS = "http://www.w3.org/2005/Atom"

_TEMPLATES = Path(__file__).with_name("templates")
_env = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=lambda name: bool(name and ".html" in name),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# ---------------------------------------------------------------- cleaning

def _is_unsafe_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] == "C" or cat in ("Zl", "Zp")


def clean_line(text: Any, limit: int | None = None) -> str:
    """One line of text: control/format characters (CR, LF, NUL, bidi overrides, ...) become
    spaces, runs of whitespace collapse; cut to `limit` characters with an ellipsis."""
    value = str(text if text is not None else "")
    if not value.isprintable():  # fast path: printable text has no control or format characters
        value = "".join(" " if _is_unsafe_char(ch) else ch for ch in value)
    value = " ".join(value.split())
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)].rstrip() + "…"
    return value


def safe_http_url(url: Any) -> str | None:
    """The URL when it is an absolute http(s) URL without whitespace or control characters,
    else None (then it is shown as text, never as a link)."""
    if not isinstance(url, str) or not url or len(url) > 4000:
        return None
    if " " in url or (not url.isprintable() and any(ch.isspace() or _is_unsafe_char(ch) for ch in url)):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


# ---------------------------------------------------------------- view model

def view(alert: Alert) -> dict[str, Any]:
    """The payload, cleaned for display; identical input for every format."""
    p = alert.payload
    articles = []
    for art in p.get("articles", []):
        url = str(art.get("url") or "")
        articles.append({"source": clean_line(art.get("source"), 100), "title": clean_line(art.get("title"), 300)
                         or clean_line(url, 300), "url": clean_line(url, 2000), "href": safe_http_url(url)})
    return {
        "id": alert.id,
        "created_at": clean_line(p.get("created_at") or alert.created_at),
        "title": clean_line(p.get("title"), 300) or "(untitled story)",
        "href": safe_http_url(p.get("url")),
        "url": clean_line(p.get("url"), 2000),
        "score": f"{float(p.get('score') or 0.0):.2f}",
        "rules": [clean_line(r, 64) for r in p.get("rules", [])],
        "organisations": [clean_line(o, 100) for o in p.get("organisations", [])],
        "countries": [clean_line(c, 100) for c in p.get("countries", [])],
        "articles": articles,
        "sentences": [{"text": clean_line(s.get("text"), 600), "source": clean_line(s.get("source"), 100)}
                      for s in p.get("sentences", [])],
    }


# ---------------------------------------------------------------- email

def email_subject(alert: Alert) -> str:
    return SUBJECT_PREFIX + clean_line(alert.payload.get("title"), SUBJECT_MAX) if alert.payload.get("title") \
        else SUBJECT_PREFIX + "(untitled story)"


def render_text(alert: Alert) -> str:
    return _env.get_template("alert.txt.j2").render(a=view(alert))


def render_html(alert: Alert) -> str:
    return _env.get_template("alert.html.j2").render(a=view(alert))


def build_email(alert: Alert, *, sender: str, recipients: Iterable[str], message_id: str) -> EmailMessage:
    """The message the email channel sends (and the file channel writes as .eml): plain
    text plus an HTML alternative, with a Message-ID fixed per (alert, channel) so a
    resend after a crash can be recognised by the receiver as the same message."""
    msg = EmailMessage()
    msg["Subject"] = email_subject(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    created = parse_time(alert.payload.get("created_at") or alert.created_at)
    if created is not None:
        msg["Date"] = format_datetime(created)
    msg["Message-ID"] = message_id
    msg["X-Newsradar-Alert"] = str(alert.id)
    msg.set_content(render_text(alert))
    msg.add_alternative(render_html(alert), subtype="html")
    return msg


# ---------------------------------------------------------------- Slack

_MENTION_WORD = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)


def slack_escape(text: Any) -> str:
    """Text for Slack mrkdwn/`text`: only `&amp;`, `&lt;`, `&gt;` are special to Slack, so
    after this no `<...>` link or mention can exist."""
    value = clean_line(text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION_WORD.sub("@\u200b", value)


def slack_link(url: Any, label: Any) -> str:
    """`<url|label>` for a validated http(s) URL, else the escaped label and address as text."""
    text = slack_escape(label)
    safe = safe_http_url(url)
    if safe is None:
        return f"{text} ({slack_escape(url)})" if url else text
    target = (safe.replace("&", "&amp;").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E"))
    return f"<{target}|{text or slack_escape(safe)}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _pack(lines: list[str], limit: int = SLACK_SECTION_MAX) -> list[str]:
    """Lines packed into as few section texts of at most `limit` characters as possible."""
    out: list[str] = []
    current = ""
    for line in lines:
        if len(line) > limit:
            line = line[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def slack_message(alert: Alert) -> dict[str, Any]:
    """Webhook body: a `text` fallback (notifications, old clients) and Block Kit `blocks`
    within Slack's limits (<= 50 blocks, <= 3000 characters per section)."""
    v = view(alert)
    p = alert.payload
    title_link = slack_link(p.get("url"), v["title"])
    outlets = sorted({a["source"] for a in v["articles"] if a["source"]})
    blocks: list[dict[str, Any]] = [
        _section(f"*{title_link}*"),
        _section(f"*Score* {v['score']} · *Outlets* {slack_escape(', '.join(outlets)) or '-'}\n"
                 f"*Organisations* {slack_escape(', '.join(v['organisations'])) or '-'}\n"
                 f"*Countries* {slack_escape(', '.join(v['countries'])) or '-'}"),
    ]
    article_lines = [f"• {slack_escape(a['source'])}: {slack_link(a['url'], a['title'])}" for a in v["articles"]]
    sentence_lines = [f"> {slack_escape(s['text'])} _({slack_escape(s['source'])})_" for s in v["sentences"]]
    tail = {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(
        f"newsradar alert {v['id']} · rules: {', '.join(v['rules'])} · {v['created_at']}")}]}
    room = SLACK_MAX_BLOCKS - len(blocks) - 2  # keep space for the divider and the context block
    article_sections = _pack(["*Reported by*"] + article_lines)
    sentence_sections = _pack(["*Why it matched*"] + sentence_lines) if sentence_lines else []
    body = article_sections + sentence_sections
    if len(body) > room:
        body = body[: room - 1] + ["_(more articles in `newsradar stories`)_"]
    blocks += [_section(text) for text in body]
    blocks += [{"type": "divider"}, tail]
    fallback = slack_escape(f"{v['title']} (score {v['score']}; {len(v['articles'])} article(s): "
                            f"{', '.join(outlets)})")[:SLACK_TEXT_MAX]
    return {"text": fallback, "blocks": blocks[:SLACK_MAX_BLOCKS]}


# ---------------------------------------------------------------- Atom

def _entry_id(alert: Alert) -> str:
    uid = str(alert.payload.get("uid") or "")
    try:
        return uuid.UUID(uid).urn
    except ValueError:
        return f"urn:newsradar:alert:{alert.id}"


def _atom_el(parent: ET.Element | None, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.Element(f"{{{ATOM_NS}}}{tag}", attrs) if parent is None else ET.SubElement(
        parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


#: Serialised feed entries by alert: an alert's payload never changes, and the file channel
#: rewrites the whole feed after each alert, so each entry is rendered and serialised once
#: per process (re-serialising every entry per alert was 12 ms an alert at 20 alerts).
_ENTRY_CACHE: dict[tuple[int, str, str], bytes] = {}
_ENTRY_CACHE_MAX = 10_000


def _atom_entry(alert: Alert) -> bytes:
    """The entry as UTF-8 XML (its own default-namespace declaration: valid where spliced)."""
    key = (alert.id, alert.created_at, _entry_id(alert))
    cached = _ENTRY_CACHE.get(key)
    if cached is not None:
        return cached
    v = view(alert)
    created = parse_time(alert.created_at)
    stamp = created.isoformat(timespec="seconds") if created else "1970-01-01T00:00:00+00:00"
    entry = _atom_el(None, "entry")
    _atom_el(entry, "id", _entry_id(alert))
    _atom_el(entry, "title", v["title"])
    _atom_el(entry, "updated", stamp)
    _atom_el(entry, "published", stamp)
    if v["href"]:
        _atom_el(entry, "link", rel="alternate", href=v["href"])
    for art in v["articles"]:
        if art["href"] and art["href"] != v["href"]:
            _atom_el(entry, "link", rel="related", href=art["href"], title=art["title"])
    for org in v["organisations"]:
        _atom_el(entry, "category", term=org, label=org)
    _atom_el(entry, "summary", f"Score {v['score']}; {', '.join(a['source'] for a in v['articles'])}", type="text")
    _atom_el(entry, "content", clean_text(render_text(alert)), type="text")
    if len(_ENTRY_CACHE) >= _ENTRY_CACHE_MAX:
        _ENTRY_CACHE.clear()
    data = _ENTRY_CACHE[key] = ET.tostring(entry, encoding="utf-8")
    return data


def atom_feed(alerts: list[Alert], *, feed_id: str, title: str = "newsradar alerts") -> bytes:
    """A complete Atom 1.0 document of `alerts`, newest first."""
    ET.register_namespace("", ATOM_NS)
    feed = _atom_el(None, "feed")
    _atom_el(feed, "id", feed_id)
    _atom_el(feed, "title", title)
    stamps = [parse_time(a.created_at) for a in alerts]
    latest = max((s for s in stamps if s), default=None)
    _atom_el(feed, "updated", latest.isoformat(timespec="seconds") if latest else "1970-01-01T00:00:00+00:00")
    author = _atom_el(feed, "author")
    _atom_el(author, "name", "newsradar")
    _atom_el(feed, "generator", "newsradar")
    head = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    close = head.rindex(b"</")  # the feed element's end tag
    entries = b"".join(_atom_entry(alert) for alert in sorted(alerts, key=lambda a: a.id, reverse=True))
    return head[:close] + entries + head[close:]


def clean_text(text: str) -> str:
    """Multi-line text without characters XML or terminals must not receive."""
    return "\n".join("".join(" " if _is_unsafe_char(ch) else ch for ch in line) for line in text.split("\n"))


def slack_json(alert: Alert) -> str:
    return json.dumps(slack_message(alert), ensure_ascii=False, indent=2)


# ---------------------------------------------------------------- terminal

def console_panel(alert: Alert) -> Any:
    """A rich Panel: headline, score, entities, the articles and the matching sentences.
    Built from Text objects so '[bold]'-style markup in a title prints literally."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    v = view(alert)
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    table.add_column("outlet", no_wrap=True)
    table.add_column("title")
    table.add_column("url", overflow="fold")
    for art in v["articles"]:
        table.add_row(Text(art["source"]), Text(art["title"]), Text(art["url"]))
    facts = Text()
    facts.append("score ", style="bold").append(v["score"])
    facts.append("   organisations ", style="bold").append(", ".join(v["organisations"]) or "-")
    facts.append("   countries ", style="bold").append(", ".join(v["countries"]) or "-")
    parts: list[Any] = [facts, table]
    for s in v["sentences"]:
        parts.append(Text("“") + Text(s["text"], style="italic") + Text(f"” ({s['source']})"))
    title = Text(f"alert {v['id']}: ") + Text(v["title"], style="bold")
    return Panel(Group(*parts), title=title, title_align="left",
                 subtitle=Text(f"rules: {', '.join(v['rules'])}"), subtitle_align="right")
