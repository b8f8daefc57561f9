"""Delivery through a real SMTP server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

from alerts import deliver_pending, list_alerts, process_alerts
from alerts.outbox import MAX_ATTEMPTS

from test_alerts_samples import (OTHER_EVENT_SENTENCES, OTHER_EVENT_TEXT, SMUGGLING_COUNTRIES, SMUGGLING_ORGS,
                            WIRE_SENTENCES, WIRE_TEXT)
from conftest import NOW

LATER = NOW + timedelta(hours=2)


def add_story(add_article, n: int = 0, **kw):
    """A distinct event per `n` (different org and text), so each makes its own alert."""
    if n == 0:
        return add_article("https://wire-one.example/a", source="wire-one",
                           title="Singapore charges three over Nvidia chips", text=WIRE_TEXT,
                           sentences=WIRE_SENTENCES, organisations=SMUGGLING_ORGS, countries=SMUGGLING_COUNTRIES,
                           fetched_url="https://www.wire-one.example/a.html?x=1&y=2", **kw)
    return add_article(f"https://outlet-{n}.example/story-{n}", source=f"outlet-{n}",
                       title=f"Story number {n} about company {n}",
                       text=unique_text(n),
                       sentences=OTHER_EVENT_SENTENCES, organisations=[f"Company{n}"], countries=[f"Place{n}"], **kw)


def unique_text(n: int) -> str:
    """A text sharing no 5-word shingle with other values of n."""
    import random

    rng = random.Random(n)
    vocabulary = OTHER_EVENT_TEXT.split()
    return " ".join(f"{rng.choice(vocabulary)}{n}" if i % 3 == 0 else rng.choice(vocabulary) for i in range(120))


def states(store):
    return {(a, c): (s, n) for a, c, s, n in store.execute("select alert_id, channel, state, attempts from deliveries")}


def test_email_and_slack_carry_the_whole_alert(store, add_article, make_config, smtp_server, webhook):
    config = make_config(smtp_server.toml() + webhook.toml())
    add_story(add_article)
    add_article("https://daily-two.example/b", source="daily-two", title="Three charged in Singapore",
                text=WIRE_TEXT, sentences=WIRE_SENTENCES, organisations=SMUGGLING_ORGS,
                countries=SMUGGLING_COUNTRIES, score=0.6)
    result = process_alerts(config, store, NOW)
    assert len(result.alerts) == 1 and result.delivery.sent == 2

    (msg,) = smtp_server.messages
    assert msg["Subject"] == "[newsradar] Singapore charges three over Nvidia chips"
    assert msg["Message-ID"].startswith("<newsradar.") and msg["Message-ID"].endswith("@example.org>")
    assert smtp_server.handler.envelopes == [("newsradar@example.org", ["analyst@example.org"])]
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (plain, html.replace("&amp;", "&")):
        assert "https://www.wire-one.example/a.html?x=1&y=2" in part
        assert "https://daily-two.example/b" in part
        assert "wire-one" in part and "daily-two" in part and "Three charged in Singapore" in part
        assert "0.80" in part and "Super Micro" in part and "Malaysia" in part
        assert "shipped from Singapore to Malaysia" in part

    (body,) = webhook.bodies
    assert "Singapore charges three over Nvidia chips" in body["text"]
    blocks_text = "\n".join(b.get("text", {}).get("text", "") for b in body["blocks"] if b["type"] == "section")
    assert "<https://www.wire-one.example/a.html?x=1&amp;y=2|Singapore charges three over Nvidia chips>" in blocks_text
    assert "<https://daily-two.example/b|Three charged in Singapore>" in blocks_text
    assert "0.80" in blocks_text and "Super Micro" in blocks_text and "Malaysia" in blocks_text
    assert "shipped from Singapore to Malaysia" in blocks_text
    assert len(body["blocks"]) <= 50 and all(len(b.get("text", {}).get("text", "")) <= 3000 for b in body["blocks"])

    (alert,) = list_alerts(store)
    assert {d["channel"]: (d["state"], d["attempts"]) for d in alert["deliveries"]} == {
        "mail": ("sent", 1), "slack": ("sent", 1)}
    assert deliver_pending(config, store, LATER).sent == 0   # never twice
    assert len(smtp_server.messages) == 1 and len(webhook.bodies) == 1


def test_one_smtp_connection_per_call(store, add_article, make_config, smtp_server):
    config = make_config(smtp_server.toml())
    for n in range(1, 4):
        add_story(add_article, n)
    connections = []
    import aiosmtpd.smtp
    original = aiosmtpd.smtp.SMTP.connection_made

    def counting(self, transport):
        connections.append(1)
        return original(self, transport)

    aiosmtpd.smtp.SMTP.connection_made = counting
    try:
        process_alerts(config, store, NOW)
    finally:
        aiosmtpd.smtp.SMTP.connection_made = original
    assert len(smtp_server.messages) == 3
    assert len(connections) == 1


def test_webhook_500_then_recovers_exactly_once_and_email_is_not_held_up(
        store, add_article, make_config, smtp_server, webhook):
    config = make_config(smtp_server.toml() + webhook.toml())
    for n in range(1, 4):
        add_story(add_article, n)
    webhook.status = 500
    report = process_alerts(config, store, NOW).delivery
    assert report.channels["mail"].sent == 3          # email unaffected
    assert report.channels["slack"].retrying == 1     # first failure pauses the channel
    assert report.channels["slack"].postponed == 2
    assert webhook.requests == 1                      # not hammered for every queued alert
    assert webhook.bodies == []
    slack = {a: (s, n) for (a, c), (s, n) in states(store).items() if c == "slack"}
    assert sorted(slack.values()) == [("pending", 0), ("pending", 0), ("pending", 1)]
    slack_rows = [d for a in list_alerts(store) for d in a["deliveries"] if d["channel"] == "slack"]
    assert all("HTTP 500" in d["last_error"] for d in slack_rows)   # postponed ones say why too

    assert deliver_pending(config, store, NOW + timedelta(seconds=10)).sent == 0   # backing off
    webhook.status = 200
    assert deliver_pending(config, store, LATER).sent == 3
    assert deliver_pending(config, store, LATER + timedelta(hours=1)).sent == 0
    assert sorted(b["text"].split(" (")[0] for b in webhook.bodies) == [
        f"Story number {n} about company {n}" for n in range(1, 4)]
    assert len(smtp_server.messages) == 3


def test_smtp_server_down_then_up(store, add_article, make_config, smtp_server, webhook):
    config = make_config(smtp_server.toml() + webhook.toml())
    add_story(add_article, 1)
    add_story(add_article, 2)
    smtp_server.stop()
    report = process_alerts(config, store, NOW).delivery
    assert report.channels["slack"].sent == 2
    assert report.channels["mail"].retrying == 1 and report.channels["mail"].postponed == 1
    assert "cannot connect" in report.channels["mail"].errors[0]
    smtp_server.start()
    assert deliver_pending(config, store, LATER).sent == 2
    assert deliver_pending(config, store, LATER + timedelta(hours=1)).sent == 0
    assert len(smtp_server.messages) == 2 and len(webhook.bodies) == 2


def test_smtp_451_is_retried_and_550_fails_for_good(store, add_article, make_config, smtp_server):
    config = make_config(smtp_server.toml())
    add_story(add_article, 1)
    smtp_server.handler.rcpt_reply = "451 4.3.0 Try again later"
    process_alerts(config, store, NOW)
    assert list(states(store).values()) == [("pending", 1)]
    smtp_server.handler.rcpt_reply = None
    smtp_server.handler.data_reply = "550 5.7.1 Message rejected"
    deliver_pending(config, store, LATER)
    assert list(states(store).values()) == [("failed", 2)]
    (alert,) = list_alerts(store)
    assert "550" in alert["deliveries"][0]["last_error"]
    smtp_server.handler.data_reply = None
    assert deliver_pending(config, store, LATER + timedelta(days=1)).sent == 0   # not retried
    assert smtp_server.messages == []


def test_slack_404_fails_and_gives_up_after_max_attempts(store, add_article, make_config, webhook, tmp_path):
    config = make_config(webhook.toml())
    add_story(add_article, 1)
    webhook.status = 404
    report = process_alerts(config, store, NOW).delivery
    assert report.failed == 1
    (alert,) = list_alerts(store)
    assert alert["deliveries"][0]["state"] == "failed" and "HTTP 404" in alert["deliveries"][0]["last_error"]

    add_story(add_article, 2)
    webhook.status = 503
    moment = NOW
    process_alerts(config, store, moment)
    for _ in range(MAX_ATTEMPTS + 2):
        moment += timedelta(hours=2)
        deliver_pending(config, store, moment)
    delivery = list_alerts(store)[0]["deliveries"][0]
    assert (delivery["state"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert delivery["last_error"].startswith(f"gave up after {MAX_ATTEMPTS} attempts")


def test_refused_connection_for_slack_is_retried(store, add_article, make_config, webhook):
    url = webhook.url
    webhook.close()   # nothing listens on that port any more
    config = make_config(f'[[channels]]\nname = "slack"\ntype = "slack"\nwebhook_url = "{url}"\ntimeout = 2\n')
    add_story(add_article, 1)
    report = process_alerts(config, store, NOW).delivery
    assert report.channels["slack"].retrying == 1
    assert "unreachable" in report.channels["slack"].errors[0]
    assert url not in report.channels["slack"].errors[0]   # the webhook URL is a secret


def test_only_selected_channels_are_delivered(store, add_article, make_config, smtp_server, webhook):
    config = make_config(smtp_server.toml() + webhook.toml())
    add_story(add_article, 1)
    from alerts import assign_stories, raise_alerts
    assign_stories(config, store, NOW)
    raise_alerts(config, store, NOW)
    assert deliver_pending(config, store, NOW, channels=["slack"]).sent == 1
    assert smtp_server.messages == [] and len(webhook.bodies) == 1
    assert deliver_pending(config, store, NOW).sent == 1
    assert len(smtp_server.messages) == 1
