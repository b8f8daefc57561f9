"""The alert outbox: per-channel deliveries and their state machine, in SQLite.

States of a `deliveries` row::

    pending --claim--> sending --ok--> sent
       ^                  |--temporary error--> pending (attempts < MAX_ATTEMPTS, next_attempt_at = backoff)
       |                  |--permanent error / MAX_ATTEMPTS reached--> failed
       |                  `--process died, lease expired--> pending   (email, file, console: resend)
       |                                                 `-> uncertain (Slack: not resent)
       `-- raise_alerts creates it, in the same transaction as the alert

Each arrow is its own committed transaction, and the network call happens *between*
the claim (pending -> sending, attempts + 1, updated_at = claim time) and the record
(sending -> sent/pending/failed). So a crash, `kill -9` or restart at any point leaves
one of: still `pending` (nothing was sent; sent later), `sent` (never sent again), or
`sending`. Only `sending` is ambiguous: the process died after the claim and before
recording the outcome, so the message may or may not have left. Such a row is left
alone while its lease runs (`lease_seconds`: another process may still be working on
it) and is then resolved by the channel's policy:

* email: sent again (at-least-once). The message carries the same Message-ID
  (`deliveries.message_id`, fixed when the alert was raised), so a receiver that
  already has it can recognise and drop the copy.
* file and console: sent again (the files are rewritten idempotently; a reprint is harmless).
* Slack: a webhook has no idempotency key, and in the window the request has usually
  already reached Slack, so the row becomes `uncertain` (at-most-once) and is shown so in
  `newsradar alerts` instead of risking a visible duplicate.

The window is the time between the receiver accepting the message and our
`sent` commit, normally milliseconds. Attempts are counted at claim time, so a message
that crashes the process every time still ends `failed` after MAX_ATTEMPTS.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from newsradar.config import Channel, Config
from newsradar.store import Database

from .channels import RESEND_AFTER_INTERRUPTION, DeliveryError, SendContext, Sender, make_sender
from .common import Alert, iso, load_alerts, loads, parse_time, utc, write_transaction

MAX_ATTEMPTS = 10
BACKOFF_BASE = 60.0        # seconds before the first retry; doubles each attempt
BACKOFF_CAP = 3600.0       # never wait more than an hour between attempts
MIN_LEASE = 600.0          # a 'sending' claim younger than this may still be in progress

STATES = ("pending", "sending", "sent", "failed", "uncertain")


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, capped."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return max(delay, min(retry_after or 0.0, BACKOFF_CAP))


def lease_seconds(channel: Channel | None) -> float:
    timeout = float(channel.options.get("timeout", 30.0)) if channel is not None else 30.0
    return max(MIN_LEASE, 10 * timeout)


def message_id_for(alert_id: int, payload: dict[str, Any], channel: Channel) -> str | None:
    """A Message-ID fixed per (alert, channel): the same on every attempt and resend."""
    if channel.type not in ("email", "file"):
        return None
    sender = str(channel.options.get("from", "")) if channel.type == "email" else ""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", sender.rpartition("@")[2]) or "newsradar.invalid"
    uid = re.sub(r"[^A-Za-z0-9]", "", str(payload.get("uid", ""))) or f"a{alert_id}"
    return f"<newsradar.{alert_id}.{uid}.{channel.name}@{domain}>"


@dataclass
class ChannelReport:
    sent: int = 0
    retrying: int = 0          # temporary failure: pending again, with backoff
    failed: int = 0            # permanent failure or attempts exhausted
    postponed: int = 0         # not tried this call because the channel was down
    errors: list[str] = field(default_factory=list)


@dataclass
class DeliveryReport:
    """What one `deliver_pending` call did, per channel."""

    channels: dict[str, ChannelReport] = field(default_factory=dict)
    resumed: int = 0           # interrupted sends put back to pending (resent)
    uncertain: int = 0         # interrupted sends not resent (Slack)
    unconfigured: list[str] = field(default_factory=list)   # deliveries waiting for a channel no longer configured

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    def __str__(self) -> str:
        text = f"deliveries sent: {self.sent}, retrying: {self.retrying}, failed: {self.failed}"
        if self.uncertain:
            text += f", uncertain: {self.uncertain}"
        if self.unconfigured:
            text += f" (waiting for unconfigured channels: {', '.join(self.unconfigured)})"
        return text

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels.values())

    @property
    def retrying(self) -> int:
        return sum(c.retrying + c.postponed for c in self.channels.values())


class _Outbox:
    """Row transitions; every method is one short transaction under the shared lock (the
    per-channel threads share the caller's SQLite connection)."""

    def __init__(self, db: Database, start: datetime) -> None:
        self.db = db
        self.lock = threading.Lock()
        self.start = start
        self.t0 = time.monotonic()

    def clock(self) -> datetime:
        """`now` as given by the caller, advanced by the real time this call has taken."""
        return self.start + timedelta(seconds=time.monotonic() - self.t0)

    def claim(self, alert_id: int, channel: str) -> str | None:
        stamp = iso(self.clock())
        with self.lock, write_transaction(self.db) as conn:
            cur = conn.execute(
                "update deliveries set state = 'sending', attempts = attempts + 1, updated_at = ? "
                "where alert_id = ? and channel = ? and state = 'pending' "
                "and (next_attempt_at is null or next_attempt_at <= ?)",
                [stamp, alert_id, channel, iso(self.start)])
            return stamp if cur.rowcount == 1 else None

    def sent(self, alert_id: int, channel: str, note: str | None) -> None:
        stamp = iso(self.clock())
        with self.lock, write_transaction(self.db) as conn:
            conn.execute(
                "update deliveries set state = 'sent', sent_at = ?, updated_at = ?, next_attempt_at = null, "
                "last_error = ? where alert_id = ? and channel = ? and state = 'sending'",
                [stamp, stamp, note, alert_id, channel])

    def failed_attempt(self, alert_id: int, channel: str, error: DeliveryError | Exception) -> tuple[str, str]:
        """Record a failed attempt; returns (new state, next attempt time)."""
        moment = self.clock()
        message = str(error) or type(error).__name__
        permanent = isinstance(error, DeliveryError) and error.permanent
        retry_after = error.retry_after if isinstance(error, DeliveryError) else None
        with self.lock, write_transaction(self.db) as conn:
            row = conn.execute("select attempts from deliveries where alert_id = ? and channel = ?",
                               [alert_id, channel]).fetchone()
            attempts = int(row[0]) if row else MAX_ATTEMPTS
            if permanent or attempts >= MAX_ATTEMPTS:
                state, next_at = "failed", None
                if not permanent:
                    message = f"gave up after {attempts} attempts: {message}"
            else:
                state, next_at = "pending", iso(moment + timedelta(seconds=backoff(attempts, retry_after)))
            conn.execute(
                "update deliveries set state = ?, next_attempt_at = ?, last_error = ?, updated_at = ? "
                "where alert_id = ? and channel = ? and state = 'sending'",
                [state, next_at, message[:500], iso(moment), alert_id, channel])
        return state, next_at or ""

    def postpone(self, alert_ids: list[int], channel: str, until: str, reason: str) -> None:
        """The channel is down: push its other due deliveries to the same retry time without
        spending their attempts, so a dead endpoint is probed once per backoff, not once
        per queued alert."""
        if not alert_ids:
            return
        with self.lock, write_transaction(self.db) as conn:
            for i in range(0, len(alert_ids), 500):
                chunk = alert_ids[i:i + 500]
                conn.execute(
                    f"update deliveries set next_attempt_at = ?, last_error = ?, updated_at = ? "
                    f"where channel = ? and state = 'pending' and alert_id in ({','.join('?' * len(chunk))})",
                    [until, f"channel unavailable: {reason}"[:500], iso(self.clock()), channel, *chunk])

    def all_alerts(self) -> list[Alert]:
        with self.lock:
            return load_alerts(self.db)


def resolve_interrupted(config: Config, db: Database, now: datetime | None = None) -> tuple[int, int]:
    """Settle `sending` rows whose claim lease has run out (their process died): resend
    where a duplicate is recognisable or harmless, else mark `uncertain`. Returns
    (resumed, uncertain)."""
    moment = utc(now)
    by_name = {c.name: c for c in config.channels}
    resumed = uncertain = 0
    rows = db.execute("select alert_id, channel, updated_at, attempts from deliveries where state = 'sending'").fetchall()
    for alert_id, name, claimed, attempts in rows:
        channel = by_name.get(name)
        claimed_at = parse_time(claimed)
        if channel is None:
            continue
        if claimed_at is not None and moment - claimed_at < timedelta(seconds=lease_seconds(channel)):
            continue
        if RESEND_AFTER_INTERRUPTION.get(channel.type, False):
            if attempts >= MAX_ATTEMPTS:
                state, error = "failed", f"gave up after {attempts} attempts: interrupted while sending at {claimed}"
            else:
                state, error = "pending", (f"interrupted while sending at {claimed} (process stopped); sending again"
                                           + (" with the same Message-ID" if channel.type == "email" else ""))
        else:
            state, error = "uncertain", (f"interrupted while sending at {claimed} (process stopped): the channel "
                                         "may already show it, so it is not sent again to avoid a duplicate")
        with write_transaction(db) as conn:
            cur = conn.execute(
                "update deliveries set state = ?, last_error = ?, next_attempt_at = ?, updated_at = ? "
                "where alert_id = ? and channel = ? and state = 'sending' and updated_at is ?",
                [state, error, iso(moment) if state == "pending" else None, iso(moment), alert_id, name, claimed])
        if cur.rowcount == 1:
            if state == "uncertain":
                uncertain += 1
            elif state == "pending":
                resumed += 1
    return resumed, uncertain


def deliver_pending(config: Config, db: Database, now: datetime | None = None, *,
                    channels: Sequence[str] | None = None, console: Any = None) -> DeliveryReport:
    """Send every due delivery. Channels run in parallel threads, so a slow or dead
    endpoint never holds up the others; within a channel, alerts go oldest first, and
    the first sign that the endpoint is down pauses that channel until the next call.
    `console` is the rich Console for console channels (default: stdout)."""
    moment = utc(now)
    report = DeliveryReport()
    report.resumed, report.uncertain = resolve_interrupted(config, db, moment)
    selected = {c.name: c for c in config.channels if channels is None or c.name in channels}
    rows = db.execute(
        "select alert_id, channel, message_id from deliveries where state = 'pending' "
        "and (next_attempt_at is null or next_attempt_at <= ?) order by alert_id, channel", [iso(moment)]).fetchall()
    configured = {c.name for c in config.channels}
    report.unconfigured = sorted({r[1] for r in rows if r[1] not in configured})
    due: dict[str, list[tuple[int, str | None]]] = {}
    for alert_id, name, message_id in rows:
        if name in selected:
            due.setdefault(name, []).append((int(alert_id), message_id))
    if not due:
        return report
    alerts = {a.id: a for a in load_alerts(db, sorted({a for items in due.values() for a, _ in items}))}
    outbox = _Outbox(db, moment)

    def make_id(alert: Alert, channel: Channel) -> str:
        return message_id_for(alert.id, alert.payload, channel) or f"<newsradar.{alert.id}@newsradar.invalid>"

    context = SendContext(config=config, console=console, all_alerts=outbox.all_alerts, message_id_for=make_id)
    threads = []
    for name, items in due.items():
        report.channels[name] = ChannelReport()
        thread = threading.Thread(target=_deliver_channel, name=f"deliver-{name}",
                                  args=(outbox, selected[name], items, alerts, context, report.channels[name]))
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join()
    return report


def _deliver_channel(outbox: _Outbox, channel: Channel, items: list[tuple[int, str | None]],
                     alerts: dict[int, Alert], context: SendContext, report: ChannelReport) -> None:
    sender: Sender | None = None
    try:
        for index, (alert_id, message_id) in enumerate(items):
            alert = alerts.get(alert_id)
            if alert is None or outbox.claim(alert_id, channel.name) is None:
                continue  # deleted, or claimed by another process meanwhile
            try:
                if sender is None:
                    sender = make_sender(channel, context)
                note = sender.send(alert, message_id)
            except DeliveryError as exc:
                state, next_at = outbox.failed_attempt(alert_id, channel.name, exc)
                report.errors.append(f"alert {alert_id}: {exc}")
                if state == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
                if exc.channel_down:
                    rest = [a for a, _ in items[index + 1:]]
                    until = next_at or iso(outbox.clock() + timedelta(seconds=BACKOFF_BASE))
                    outbox.postpone(rest, channel.name, until, str(exc))
                    report.postponed += len(rest)
                    return
            except Exception as exc:  # a bug or an unexpected library error: retry later, keep going
                state, _ = outbox.failed_attempt(alert_id, channel.name, exc)
                report.errors.append(f"alert {alert_id}: {type(exc).__name__}: {exc}")
                if state == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
            else:
                outbox.sent(alert_id, channel.name, note)
                report.sent += 1
    finally:
        if sender is not None:
            sender.close()


# ---------------------------------------------------------------- read side

def list_alerts(db: Database) -> list[dict[str, Any]]:
    """Alerts, newest first, each with its articles and per-channel delivery state."""
    deliveries: dict[int, list[dict[str, Any]]] = {}
    for alert_id, channel, state, attempts, next_at, error, sent_at, message_id in db.execute(
            "select alert_id, channel, state, attempts, next_attempt_at, last_error, sent_at, message_id "
            "from deliveries order by alert_id, channel").fetchall():
        deliveries.setdefault(alert_id, []).append({
            "channel": channel, "state": state, "attempts": attempts or 0, "next_attempt_at": next_at,
            "last_error": error, "sent_at": sent_at, "message_id": message_id})
    out = []
    for alert_id, story_id, rules, created_at, payload in db.execute(
            "select id, story_id, rules, created_at, payload from alerts order by id desc").fetchall():
        p = loads(payload, {})
        out.append({
            "id": alert_id, "story_id": story_id, "created_at": created_at, "rules": loads(rules, []),
            "title": p.get("title"), "url": p.get("url"), "score": p.get("score"),
            "organisations": p.get("organisations", []), "countries": p.get("countries", []),
            "articles": [{"url": a.get("url"), "title": a.get("title"), "source": a.get("source")}
                         for a in p.get("articles", [])],
            "deliveries": deliveries.get(alert_id, []),
        })
    return out


def list_stories(db: Database, min_score: float = 0.0, search: str | None = None) -> list[dict[str, Any]]:
    """Stories, best first: lead article, every other outlet that carried it ("also
    reported by", including articles that joined after the alert), and the alert if any."""
    params: list[Any] = [min_score]
    where = "coalesce(s.score, 0) >= ?"
    if search:
        where += (" and (s.title like ? escape '\\' or exists (select 1 from articles x where x.story_id = s.id "
                  "and (x.title like ? escape '\\' or x.source like ? escape '\\')))")
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern, pattern]
    stories = db.execute(
        f"select s.id, s.title, s.score, s.published, s.lead_url, s.created_at, s.updated_at, al.id, al.created_at "
        f"from stories s left join alerts al on al.story_id = s.id where {where} "
        f"order by s.score desc, s.published desc, s.id desc", params).fetchall()
    out = []
    for sid, title, score, published, lead_url, created, updated, alert_id, alerted_at in stories:
        members = db.execute(
            "select a.url, a.fetched_url, a.title, a.source, a.published, a.score, sa.relation, sa.added_at "
            "from story_articles sa join articles a on a.url = sa.article_url where sa.story_id = ? "
            "order by sa.added_at, a.url", [sid]).fetchall()
        articles = [{"url": r[1] or r[0], "canonical_url": r[0], "title": r[2], "source": r[3], "published": r[4],
                     "score": r[5], "relation": r[6], "added_at": r[7],
                     "after_alert": bool(alerted_at and r[7] and r[7] > alerted_at)} for r in members]
        lead = next((a for a in articles if a["canonical_url"] == lead_url), articles[0] if articles else None)
        out.append({
            "id": sid, "title": title, "score": score, "published": published, "created_at": created,
            "updated_at": updated, "url": lead["url"] if lead else lead_url, "source": lead["source"] if lead else None,
            "alert_id": alert_id, "alerted_at": alerted_at, "articles": articles,
            "also_reported_by": [a for a in articles if lead is None or a["canonical_url"] != lead["canonical_url"]],
        })
    return out
