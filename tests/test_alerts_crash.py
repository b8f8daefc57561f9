"""A delivery process killed with SIGKILL mid-batch, then restarted: nothing twice, nothing lost.

The receiver holds one request open (it has already received it) so the kill lands at a
known point: after the claim, before the outcome is recorded — the one ambiguous window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from alerts import assign_stories, deliver_pending, list_alerts, raise_alerts
from alerts.outbox import MIN_LEASE
from newsradar.config import load_config

from conftest import NOW, wait_until
from test_alerts_delivery import add_story

SCRIPT = """
import sys
from datetime import datetime
from alerts import deliver_pending
from newsradar.config import load_config
from newsradar.store import open_db
config = load_config(sys.argv[1])
db = open_db(config.storage.path)
report = deliver_pending(config, db, datetime.fromisoformat(sys.argv[2]))
print(report.sent)
"""

AFTER_LEASE = NOW + timedelta(seconds=MIN_LEASE + 60)


def setup(tmp_path: Path, store, add_article, channel_toml: str, n: int = 5):
    path = tmp_path / "config.toml"
    path.write_text('[storage]\npath = "t.db"\n' + channel_toml)
    config = load_config(path, env={})
    for i in range(1, n + 1):
        add_story(add_article, i)
    assign_stories(config, store, NOW)
    assert len(raise_alerts(config, store, NOW)) == n
    return path, config


def start_delivery(path: Path, now) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(path), now.isoformat()], cwd=str(Path(__file__).parents[1]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


def delivery_states(store, channel):
    return [s for (s,) in store.execute("select state from deliveries where channel = ? order by alert_id", [channel])]


def test_slack_kill_mid_batch_never_duplicates_and_loses_nothing(tmp_path, store, add_article, webhook):
    path, config = setup(tmp_path, store, add_article, webhook.toml())
    webhook.hold_at = 3
    proc = start_delivery(path, NOW)
    wait_until(webhook.held.is_set, timeout=30)
    kill(proc)
    assert delivery_states(store, "slack") == ["sent", "sent", "sending", "pending", "pending"]

    # Restart at once: the in-flight claim is still within its lease, so it is left alone.
    report = deliver_pending(config, store, NOW + timedelta(seconds=5))
    assert report.sent == 2
    webhook.release.set()
    # After the lease: the interrupted Slack post is not re-sent (it reached the receiver).
    report = deliver_pending(config, store, AFTER_LEASE)
    assert (report.sent, report.uncertain) == (0, 1)
    assert deliver_pending(config, store, AFTER_LEASE + timedelta(hours=5)).sent == 0

    titles = Counter(b["text"].split(" (")[0] for b in webhook.bodies)
    assert titles == Counter({f"Story number {i} about company {i}": 1 for i in range(1, 6)})
    assert delivery_states(store, "slack") == ["sent", "sent", "uncertain", "sent", "sent"]
    uncertain = [d for a in list_alerts(store) for d in a["deliveries"] if d["state"] == "uncertain"]
    assert "not sent again" in uncertain[0]["last_error"]


def test_email_kill_mid_batch_resends_in_flight_message_with_same_message_id(tmp_path, store, add_article,
                                                                              smtp_server):
    path, config = setup(tmp_path, store, add_article, smtp_server.toml(), n=4)
    smtp_server.handler.hold_at = 2
    proc = start_delivery(path, NOW)
    wait_until(smtp_server.handler.held.is_set, timeout=30)
    kill(proc)
    smtp_server.handler.release.set()
    assert delivery_states(store, "mail") == ["sent", "sending", "pending", "pending"]

    assert deliver_pending(config, store, NOW + timedelta(seconds=5)).sent == 2
    report = deliver_pending(config, store, AFTER_LEASE)
    assert (report.resumed, report.sent) == (1, 1)
    assert delivery_states(store, "mail") == ["sent"] * 4

    ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(ids) == 4                       # every alert arrived
    assert sorted(ids.values()) == [1, 1, 1, 2]  # only the in-flight one twice, recognisably the same
    stored = dict(store.execute("select alert_id, message_id from deliveries").fetchall())
    assert set(ids) == set(stored.values())
