"""Rules: score, age, filters, channel union, the built-in rule; the alert snapshot."""

from __future__ import annotations

import json
from datetime import timedelta

from alerts import assign_stories, list_alerts, raise_alerts

from test_alerts_samples import OTHER_EVENT_TEXT, SMUGGLING_COUNTRIES, SMUGGLING_ORGS, WIRE_SENTENCES, WIRE_TEXT
from conftest import NOW

CHANNELS = """
[[channels]]
name = "files-a"
type = "file"
path = "a"

[[channels]]
name = "files-b"
type = "file"
path = "b"
"""


def add_smuggling(add_article, url="https://wire-one.example/a", **kw):
    kw.setdefault("source", "wire-one")
    kw.setdefault("organisations", SMUGGLING_ORGS)
    kw.setdefault("countries", SMUGGLING_COUNTRIES)
    return add_article(url, title="Singapore charges three over Nvidia chips", text=WIRE_TEXT,
                       sentences=WIRE_SENTENCES, **kw)


def run(config, store, now=NOW):
    assign_stories(config, store, now)
    return raise_alerts(config, store, now)


def deliveries(store):
    return sorted(store.execute("select alert_id, channel, state from deliveries").fetchall())


def test_no_rules_means_builtin_rule_to_every_channel(store, add_article, make_config):
    config = make_config(CHANNELS)
    add_smuggling(add_article)
    (alert_id,) = run(config, store)
    assert deliveries(store) == [(alert_id, "files-a", "pending"), (alert_id, "files-b", "pending")]
    assert json.loads(store.execute("select rules from alerts").fetchone()[0]) == ["loopholes"]
    assert run(config, store) == []   # a story alerts once


def test_old_story_does_not_alert(store, add_article, make_config):
    config = make_config(CHANNELS + "[crawl]\nmax_age_days = 14\n")
    add_smuggling(add_article, published=NOW - timedelta(days=15))
    assert run(config, store) == []
    # without a published date, the first fetch time decides
    add_article("https://undated.example/x", title="Undated", text=OTHER_EVENT_TEXT, published="",
                organisations=["Huawei"], countries=["Russia"])
    with store.conn:
        store["pages"].insert({"url": "https://undated.example/x", "first_seen_at": (NOW - timedelta(days=20)).isoformat(),
                               "state": "processed"}, pk="url")
    assert run(config, store) == []
    assert run(config, store, NOW - timedelta(days=10)) != []  # seen "10 days earlier" it was fresh


def test_rule_filters_and_channel_union(store, add_article, make_config):
    config = make_config(CHANNELS + """
[[rules]]
name = "huawei"
organisations = ["Huawei"]
channels = ["files-a"]

[[rules]]
name = "singapore"
countries = ["singapore"]
channels = ["files-a"]

[[rules]]
name = "wire-high"
sources = []
min_score = 0.7
channels = ["files-b"]

[[rules]]
name = "very-high"
min_score = 0.95
channels = ["files-b"]

[[rules]]
name = "smuggling-kind"
kinds = ["smuggling"]
channels = ["files-b"]
""")
    add_smuggling(add_article, score=0.8, kinds=["smuggling"])
    (alert_id,) = run(config, store)
    assert json.loads(store.execute("select rules from alerts").fetchone()[0]) == ["singapore", "wire-high",
                                                                                  "smuggling-kind"]
    assert deliveries(store) == [(alert_id, "files-a", "pending"), (alert_id, "files-b", "pending")]


def test_source_filter_and_min_score(store, add_article, make_config):
    config = make_config(CHANNELS + """
[[sources]]
name = "wire-one"
feeds = ["https://wire-one.example/feed"]

[[sources]]
name = "other"
feeds = ["https://other.example/feed"]

[[rules]]
name = "other-only"
sources = ["other"]
channels = ["files-a"]

[[rules]]
name = "strict"
min_score = 0.9
channels = ["files-b"]
""")
    add_smuggling(add_article, score=0.8)
    assert run(config, store) == []
    add_article("https://other.example/y", source="other", title="H20 licence revoked", text=OTHER_EVENT_TEXT,
                organisations=["Nvidia"], countries=["China"], score=0.6)
    (alert_id,) = run(config, store)
    assert deliveries(store) == [(alert_id, "files-a", "pending")]


def test_alert_payload_names_every_article_as_fetched(store, add_article, make_config):
    config = make_config(CHANNELS)
    add_smuggling(add_article, fetched_url="https://wire-one.example/a?utm=feed&page=1")
    add_smuggling(add_article, "https://daily-two.example/b", source="daily-two", score=0.7,
                  fetched_url="https://www.daily-two.example/2025/b.html")
    (alert_id,) = run(config, store)
    payload = json.loads(store.execute("select payload from alerts").fetchone()[0])
    assert [a["url"] for a in payload["articles"]] == ["https://wire-one.example/a?utm=feed&page=1",
                                                       "https://www.daily-two.example/2025/b.html"]
    assert [a["source"] for a in payload["articles"]] == ["wire-one", "daily-two"]
    assert payload["score"] == 0.8
    assert payload["organisations"] == SMUGGLING_ORGS
    assert payload["countries"] == SMUGGLING_COUNTRIES
    assert payload["sentences"][0]["text"] == WIRE_SENTENCES[0]
    (listed,) = list_alerts(store)
    assert listed["id"] == alert_id and len(listed["articles"]) == 2
    assert {d["channel"]: d["state"] for d in listed["deliveries"]} == {"files-a": "pending", "files-b": "pending"}
