"""Story grouping: syndicated copies and same-event rewrites join; different events don't."""

from __future__ import annotations

from datetime import timedelta

from alerts import assign_stories, list_stories, raise_alerts
from alerts.stories import signature_from_bytes
from newsradar.store import open_db

from test_alerts_samples import (OTHER_EVENT_SENTENCES, OTHER_EVENT_TEXT, REWRITE_SENTENCES, REWRITE_TEXT,
                            SMUGGLING_COUNTRIES, SMUGGLING_ORGS, WIRE_SENTENCES, WIRE_TEXT)
from conftest import NOW


def smuggling(add_article, url, source, title, text=WIRE_TEXT, sentences=WIRE_SENTENCES, **kw):
    kw.setdefault("organisations", SMUGGLING_ORGS)
    kw.setdefault("countries", SMUGGLING_COUNTRIES)
    return add_article(url, source=source, title=title, text=text, sentences=sentences, **kw)


def other_event(add_article, url="https://policy-four.example/h20", **kw):
    kw.setdefault("organisations", ["Nvidia"])
    kw.setdefault("countries", ["United States", "China"])
    return add_article(url, source="policy-four", title="US revokes Nvidia's licence to sell H20 chips to China",
                       text=OTHER_EVENT_TEXT, sentences=OTHER_EVENT_SENTENCES, **kw)


def story_of(db, url):
    return db.execute("select story_id from articles where url = ?", [url]).fetchone()[0]


def test_syndicated_copy_and_rewrite_join_one_story_and_other_event_stays_apart(store, add_article, make_config):
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Singapore charges three over Nvidia chip smuggling")
    smuggling(add_article, "https://daily-two.example/b", "daily-two", "Three charged in Singapore in AI server case",
              text=WIRE_TEXT + " Reporting by the wire desk.", published=NOW - timedelta(hours=1))
    smuggling(add_article, "https://tech-three.example/c", "tech-three",
              "Singapore fraud case puts spotlight on Nvidia server diversion", text=REWRITE_TEXT,
              sentences=REWRITE_SENTENCES, published=NOW - timedelta(days=1))
    other_event(add_article)
    config = make_config("")

    assert assign_stories(config, store, NOW) == 4
    a, b, c = (story_of(store, u) for u in ("https://wire-one.example/a", "https://daily-two.example/b",
                                            "https://tech-three.example/c"))
    assert a == b == c
    assert story_of(store, "https://policy-four.example/h20") != a
    relations = dict(store.execute("select article_url, relation from story_articles").fetchall())
    assert relations["https://daily-two.example/b"] == "syndicated"
    assert relations["https://wire-one.example/a"] == "same-event"  # the rewrite came first (oldest)
    assert assign_stories(config, store, NOW) == 0  # idempotent


def test_same_companies_different_events_are_two_stories(store, add_article, make_config):
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Nvidia chips smuggled via Singapore, three charged",
              organisations=["Nvidia"], countries=["United States", "China"])
    other_event(add_article, organisations=["Nvidia"])
    assign_stories(make_config(""), store, NOW)
    assert story_of(store, "https://wire-one.example/a") != story_of(store, "https://policy-four.example/h20")


def test_rewrite_outside_the_event_window_is_a_new_story(store, add_article, make_config):
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Singapore charges three",
              published=NOW - timedelta(days=9))
    smuggling(add_article, "https://tech-three.example/c", "tech-three", "Singapore fraud case", text=REWRITE_TEXT,
              sentences=REWRITE_SENTENCES)
    assign_stories(make_config(""), store, NOW)
    assert story_of(store, "https://wire-one.example/a") != story_of(store, "https://tech-three.example/c")


def test_signature_survives_restart_and_late_copy_joins_alerted_story(tmp_path, add_article, store, make_config):
    config = make_config('[[channels]]\nname = "out"\ntype = "file"\npath = "out"\n')
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Singapore charges three over Nvidia chips")
    assign_stories(config, store, NOW)
    assert len(raise_alerts(config, store, NOW)) == 1
    blob = store.execute("select signature from story_articles").fetchone()[0]
    assert signature_from_bytes(blob) is not None
    store.conn.close()

    db = open_db(tmp_path / "t.db")   # a restart: the LSH index is rebuilt from stored signatures
    db["articles"].update("https://wire-one.example/a", {"text": ""})  # prove the text is not needed
    from conftest import article_row
    with db.conn:
        db["articles"].insert(article_row(
            "https://late.example/x", source="late-outlet", title="AI server fraud: three in court",
            text=WIRE_TEXT, sentences=WIRE_SENTENCES, organisations=SMUGGLING_ORGS, countries=SMUGGLING_COUNTRIES))
    later = NOW + timedelta(hours=1)
    assert assign_stories(config, db, later) == 1
    assert story_of(db, "https://late.example/x") == story_of(db, "https://wire-one.example/a")
    assert raise_alerts(config, db, later) == []  # the story already alerted
    (story,) = list_stories(db)
    assert story["alert_id"] is not None
    assert [a["source"] for a in story["also_reported_by"]] == ["late-outlet"]
    assert story["also_reported_by"][0]["after_alert"] is True
    db.conn.close()


def test_list_stories_filters_and_orders(store, add_article, make_config):
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Singapore charges three", score=0.9)
    other_event(add_article, score=0.4)
    assign_stories(make_config(""), store, NOW)
    stories = list_stories(store)
    assert [s["score"] for s in stories] == [0.9, 0.4]
    assert [s["title"] for s in list_stories(store, min_score=0.5)] == ["Singapore charges three"]
    assert [s["source"] for s in list_stories(store, search="h20")] == ["policy-four"]
    assert list_stories(store, search="100%_nothing") == []


def test_articles_with_nothing_found_join_no_story_unless_a_rule_alerts_from_zero(store, add_article, make_config):
    smuggling(add_article, "https://wire-one.example/a", "wire-one", "Singapore charges three", score=0.9)
    add_article("https://daily-two.example/weather", source="daily-two", title="Sunny weekend ahead",
                text="Forecasters expect a dry and sunny weekend across the region.", score=0.0)
    assert assign_stories(make_config(""), store, NOW) == 1
    assert story_of(store, "https://daily-two.example/weather") is None
    assert [s["title"] for s in list_stories(store)] == ["Singapore charges three"]

    everything = make_config('[[rules]]\nname = "all"\nmin_score = 0.0\n')
    assert assign_stories(everything, store, NOW) == 1
    assert story_of(store, "https://daily-two.example/weather") is not None
