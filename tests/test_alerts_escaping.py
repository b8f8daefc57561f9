"""Text from the web is data in every format: no markup, links, mentions or headers."""

from __future__ import annotations

import email
import email.policy
import json
import re
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from io import StringIO

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import process_alerts
from alerts.common import Alert
from alerts.render import clean_line, email_subject, render_html, slack_escape, slack_link, slack_message

from conftest import NOW

HOSTILE_TITLE = ('<script>alert(1)</script> <!channel> <https://evil.example|click> @here [bold red]x[/] '
                 '&amp; "quoted"\r\nBcc: victim@evil.example\x1b[31m\u202e')
HOSTILE_SENTENCE = ('Smuggling via <a href="https://evil.example">Singapore</a> <!everyone> <@U123> '
                    '<https://evil.example|official notice> @channel export controls evaded.')
LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]
        assert not any(k.startswith("on") for k, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> Tags:
    parser = Tags()
    parser.feed(text)
    parser.close()
    return parser


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def assert_slack_inert(body: dict) -> None:
    """Every `<...>` is one of our links to a validated URL; no mention syntax survives."""
    for raw in _strings(body):
        for match in re.finditer(r"<[^>]*>", raw):
            link = LINK.fullmatch(match.group(0))
            assert link, match.group(0)
            assert "evil.example" not in link.group(1)
        assert "<!" not in raw and "<@" not in raw
        assert not re.search(r"@(here|channel|everyone)\b", raw, re.IGNORECASE)


def hostile_articles(add_article):
    add_article("https://outlet.example/a", source="outlet", title=HOSTILE_TITLE,
                text="Nvidia chips were smuggled through Singapore. " * 10, sentences=[HOSTILE_SENTENCE],
                organisations=["<b>Nvidia</b>"], countries=["Singapore"], fetched_url="https://outlet.example/a?q=<x>&r=|y")
    add_article("https://other.example/b", source="other", title="Plain copy",
                text="Nvidia chips were smuggled through Singapore. " * 10, sentences=[HOSTILE_SENTENCE],
                organisations=["<b>Nvidia</b>"], countries=["Singapore"], fetched_url="javascript:alert(1)", score=0.6)


def test_hostile_text_is_inert_in_every_format(tmp_path, store, add_article, make_config, smtp_server, webhook):
    from rich.console import Console

    config = make_config(smtp_server.toml() + webhook.toml()
                         + '[[channels]]\nname = "files"\ntype = "file"\npath = "out"\n'
                         + '[[channels]]\nname = "screen"\ntype = "console"\n')
    hostile_articles(add_article)
    screen = StringIO()
    result = process_alerts(config, store, NOW, console=Console(file=screen, width=200, force_terminal=False))
    assert result.delivery.sent == 4

    # email, as received
    (msg,) = smtp_server.messages
    assert smtp_server.handler.envelopes[0][1] == ["analyst@example.org"]
    assert msg["Bcc"] is None
    subject = msg["Subject"]
    assert "\n" not in subject and "\r" not in subject and "\x1b" not in subject and "\u202e" not in subject
    assert subject.startswith("[newsradar] <script>")
    html = msg.get_body(("html",)).get_content()
    tags = parse_html(html)
    assert "script" not in tags.tags and "b" not in tags.tags
    assert all(h.startswith("https://outlet.example/") for h in tags.hrefs)   # javascript: is no link
    assert "<script>alert(1)</script>" in "".join(tags.text)                  # shown as text
    assert "javascript:alert(1)" in "".join(tags.text)

    # Slack, as received
    (body,) = webhook.bodies
    assert_slack_inert(body)
    blocks = "\n".join(_strings(body["blocks"]))
    assert "&lt;https://evil.example|click&gt;" in blocks and "&lt;!channel&gt;" in blocks
    links = [m.group(1) for m in LINK.finditer(blocks)]
    assert links and all(u.startswith("https://outlet.example/a?q=%3Cx%3E&amp;r=%7Cy") for u in links)

    # files: .eml, .slack.json, Atom, JSONL
    out = tmp_path / "out"
    eml = email.message_from_bytes((out / "1.eml").read_bytes(), policy=email.policy.default)
    assert eml["Subject"] == subject and eml["Bcc"] is None
    assert eml["Message-ID"] == msg["Message-ID"]   # the same message the email channel sent
    assert_slack_inert(json.loads((out / "1.slack.json").read_text()))
    feed = ET.parse(out / "alerts.atom").getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    (entry,) = feed.findall("a:entry", ns)
    assert entry.find("a:title", ns).text == clean_line(HOSTILE_TITLE, 300)
    assert not any(el.tag.endswith("script") for el in feed.iter())
    assert all(link.get("href").startswith("https://") for link in entry.findall("a:link", ns))
    line = json.loads((out / "alerts.jsonl").read_text().splitlines()[0])
    assert line["title"] == HOSTILE_TITLE.strip()   # the raw data, JSON-escaped

    # console: markup printed literally, no escape sequences
    printed = screen.getvalue()
    assert "[bold red]x[/]" in printed and "\x1b" not in printed


# ---------------------------------------------------------------- properties

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(
    [HOSTILE_TITLE, HOSTILE_SENTENCE, "<!here>", "<<!channel>>", "&lt;!channel&gt;", "@everyone", "<http://x|y>"])


@settings(max_examples=300, deadline=None)
@given(text)
def test_slack_escape_never_makes_links_or_mentions(value: str) -> None:
    out = slack_escape(value)
    assert "<" not in out and ">" not in out
    assert not re.search(r"@(here|channel|everyone)\b", out, re.IGNORECASE)
    assert unescape(out.replace("\u200b", "")) == clean_line(value).replace("\u200b", "")


@settings(max_examples=300, deadline=None)
@given(url=text | st.builds(lambda s: "https://ok.example/" + s, text), label=text)
def test_slack_link_only_links_validated_http_urls(url: str, label: str) -> None:
    out = slack_link(url, label)
    found = re.findall(r"<[^>]*>", out)
    assert len(found) <= 1 and out.count("<") == len(found) and out.count(">") == len(found)
    if found:
        assert LINK.fullmatch(found[0]) and out.startswith("<") and out.endswith(">")
        assert found[0][1:].lower().startswith(("http://", "https://"))


def _alert(title: str, sentence: str, source: str, org: str) -> Alert:
    return Alert(1, "2025-01-01T00:00:00+00:00", {
        "uid": "0" * 32, "title": title, "url": "https://outlet.example/a", "score": 0.9, "rules": ["loopholes"],
        "organisations": [org], "countries": [org], "created_at": "2025-01-01T00:00:00+00:00",
        "articles": [{"url": "https://outlet.example/a", "title": title, "source": source},
                     {"url": "https://other.example/b", "title": sentence, "source": source}],
        "sentences": [{"text": sentence, "source": source}]})


BENIGN = _alert("t", "s", "o", "g")


@settings(max_examples=200, deadline=None)
@given(title=text, sentence=text, source=text, org=text)
def test_html_and_slack_structure_is_independent_of_web_text(title: str, sentence: str, source: str, org: str) -> None:
    alert = _alert(title, sentence, source, org)
    html, benign = parse_html(render_html(alert)), parse_html(render_html(BENIGN))
    assert html.tags == benign.tags and html.hrefs == benign.hrefs
    body = slack_message(alert)
    assert_slack_inert(body)
    assert len(body["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in body["blocks"] if b["type"] == "section")
    subject = email_subject(alert)
    assert not any(ch in subject for ch in "\r\n\x00\x0b\x0c\x85\u2028\u2029")


def test_slack_limits_with_many_articles() -> None:
    many = _alert("x" * 5000, "y" * 5000, "z", "g")
    many.payload["articles"] = [{"url": f"https://o{i}.example/{'p' * 300}", "title": "t" * 400, "source": "s"}
                                for i in range(400)]
    body = slack_message(many)
    assert len(body["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in body["blocks"] if b["type"] == "section")
    assert len(body["text"]) <= 3000
