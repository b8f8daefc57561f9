"""File and console channels: what the demo shows."""

from __future__ import annotations

import email
import email.policy
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from io import StringIO

from rich.console import Console

from alerts import assign_stories, deliver_pending, process_alerts, raise_alerts

from conftest import NOW
from test_alerts_delivery import add_story

ATOM = {"a": "http://www.w3.org/2005/Atom"}


def test_file_channel_writes_jsonl_atom_eml_and_slack_json(tmp_path, store, add_article, make_config):
    config = make_config('[[channels]]\nname = "files"\ntype = "file"\npath = "out"\n')
    add_story(add_article, 1)
    process_alerts(config, store, NOW)
    add_story(add_article, 2)
    process_alerts(config, store, NOW + timedelta(minutes=5))
    out = tmp_path / "out"
    lines = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == [1, 2]
    feed = ET.parse(out / "alerts.atom").getroot()
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"a:{required}", ATOM) is not None
    entries = feed.findall("a:entry", ATOM)
    assert [e.find("a:title", ATOM).text for e in entries] == ["Story number 2 about company 2",
                                                              "Story number 1 about company 1"]
    assert all(e.find("a:id", ATOM).text.startswith("urn:uuid:") for e in entries)
    eml = email.message_from_bytes((out / "2.eml").read_bytes(), policy=email.policy.default)
    assert eml["From"] == "newsradar@localhost" and eml["Subject"] == "[newsradar] Story number 2 about company 2"
    assert eml.get_body(("html",)) is not None and eml.get_body(("plain",)) is not None
    slack = json.loads((out / "2.slack.json").read_text())
    assert set(slack) == {"text", "blocks"}

    # an interrupted delivery that is resent does not duplicate the JSONL line
    with store.conn:
        store.execute("update deliveries set state = 'pending', next_attempt_at = null where alert_id = 2")
    deliver_pending(config, store, NOW + timedelta(minutes=10))
    assert len((out / "alerts.jsonl").read_text().splitlines()) == 2


def test_eml_uses_the_email_channel_addresses_when_there_is_one(tmp_path, store, add_article, make_config,
                                                                 smtp_server):
    config = make_config(smtp_server.toml() + '[[channels]]\nname = "files"\ntype = "file"\npath = "out"\n')
    add_story(add_article, 1)
    process_alerts(config, store, NOW)
    eml = email.message_from_bytes((tmp_path / "out" / "1.eml").read_bytes(), policy=email.policy.default)
    (sent,) = smtp_server.messages
    for header in ("From", "To", "Subject", "Message-ID", "Date"):
        assert eml[header] == sent[header]


def test_console_channel_prints_a_panel_per_alert(store, add_article, make_config):
    config = make_config('[[channels]]\nname = "screen"\ntype = "console"\ncolor = false\n')
    add_story(add_article, 1)
    add_story(add_article, 2)
    assign_stories(config, store, NOW)
    raise_alerts(config, store, NOW)
    screen = StringIO()
    report = deliver_pending(config, store, NOW, console=Console(file=screen, width=160))
    assert report.sent == 2
    printed = screen.getvalue()
    assert "Story number 1 about company 1" in printed and "Story number 2 about company 2" in printed
    assert "https://outlet-1.example/story-1" in printed and "Company1" in printed
