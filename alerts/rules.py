"""Rules decide which stories alert and where; `raise_alerts` snapshots each alert once.

A story meets a rule when one of its articles does: score >= `min_score`, published (or,
without a date, first fetched) no more than `crawl.max_age_days` ago, and every filter
the rule sets (organisations, countries, sources, kinds: any one listed value suffices,
compared case-insensitively). For a rule without filters this is exactly "the story's
best article meets the rule". One story raises at most one alert (unique index on
`alerts.story_id`); its channels are the union of the matching rules' channels.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from newsradar.config import Config, Rule
from newsradar.store import Database

from .common import ArticleRow, fetch_articles, iso, parse_time, utc, write_transaction

MAX_SENTENCES = 6


def _lower(values: Any) -> set[str]:
    return {str(v).strip().lower() for v in values if str(v).strip()}


def article_meets(rule: Rule, article: ArticleRow, now: datetime, max_age: timedelta) -> bool:
    """Whether one article satisfies a rule (score, age and filters)."""
    if article.score < rule.min_score:
        return False
    when = article.when
    if when is None or now - when > max_age:
        return False
    if rule.organisations and not (_lower(rule.organisations) & _lower(article.organisations)):
        return False
    if rule.countries and not (_lower(rule.countries) & _lower(article.countries)):
        return False
    if rule.sources and article.source not in rule.sources:
        return False
    if rule.kinds and not (_lower(rule.kinds) & _lower(article.kinds)):
        return False
    return True


def matching_rules(config: Config, articles: list[ArticleRow], now: datetime) -> list[Rule]:
    max_age = timedelta(days=config.crawl.max_age_days)
    return [rule for rule in config.rules if any(article_meets(rule, a, now, max_age) for a in articles)]


@dataclass
class _Candidate:
    story_id: int
    articles: list[ArticleRow]


def _candidates(config: Config, db: Database, now: datetime) -> list[_Candidate]:
    """Stories without an alert that have a recent article scoring high enough for some
    rule (the date bound is coarse, with slack for zone offsets; rules re-check it)."""
    floor = min((rule.min_score for rule in config.rules), default=1.0)
    coarse = (now - timedelta(days=config.crawl.max_age_days + 2)).date().isoformat()
    story_ids = [r[0] for r in db.execute(
        "select distinct a.story_id from articles a left join alerts al on al.story_id = a.story_id "
        "where a.story_id is not null and al.id is null and a.score >= ? "
        "and substr(coalesce(nullif(a.published, ''), a.processed_at, ''), 1, 10) >= ? order by a.story_id",
        [floor, coarse]).fetchall()]
    out = []
    for story_id in story_ids:
        out.append(_Candidate(story_id, fetch_articles(db, "a.story_id = ?", [story_id])))
    return out


def build_payload(story_id: int, articles: list[ArticleRow], rules: list[Rule], created_at: str) -> dict[str, Any]:
    """The alert's content, frozen at creation so every channel (and every retry) sends
    the same thing. Articles: lead (best score) first, then by date."""
    ordered = sorted(articles, key=lambda a: (-a.score, a.when.isoformat() if a.when else "", a.url))
    lead, rest = ordered[0], sorted(ordered[1:], key=lambda a: (a.when.isoformat() if a.when else "", a.url))
    ordered = [lead] + rest

    def union(attr: str) -> list[str]:
        seen: dict[str, str] = {}
        for art in ordered:
            for value in getattr(art, attr):
                seen.setdefault(value.strip().lower(), value.strip())
        return list(seen.values())

    sentences: list[dict[str, Any]] = []
    seen_text: set[str] = set()
    for art in ordered:
        evidence = [e for e in art.evidence if not e.get("negated") and str(e.get("sentence", "")).strip()]
        evidence.sort(key=lambda e: -float(e.get("weight") or 0.0))
        for e in evidence:
            text = " ".join(str(e["sentence"]).split())
            key = text.lower()
            if key in seen_text:
                continue
            seen_text.add(key)
            sentences.append({"text": text, "source": art.source, "url": art.fetched_url,
                              "terms": list(e.get("restriction_terms") or []),
                              "cues": list(e.get("evasion_cues") or [])})
    sentences = sentences[:MAX_SENTENCES]
    return {
        "uid": uuid.uuid4().hex,
        "story_id": story_id,
        "created_at": created_at,
        "title": lead.title or lead.fetched_url,
        "url": lead.fetched_url,
        "source": lead.source,
        "score": round(lead.score, 3),
        "rules": [r.name for r in rules],
        "organisations": union("organisations"),
        "countries": union("countries"),
        "kinds": union("kinds"),
        "articles": [{"url": a.fetched_url, "canonical_url": a.url, "title": a.title, "source": a.source,
                      "published": a.published.isoformat() if a.published else None,
                      "score": round(a.score, 3)} for a in ordered],
        "sentences": sentences,
    }


def raise_alerts(config: Config, db: Database, now: datetime | None = None) -> list[int]:
    """Create one alert per newly qualifying story, plus a pending delivery per channel,
    in one transaction per alert (an alert never exists without its deliveries)."""
    from .outbox import message_id_for  # late import: outbox imports channels

    moment = utc(now)
    created: list[int] = []
    known_channels = {c.name: c for c in config.channels}
    for cand in _candidates(config, db, moment):
        rules = matching_rules(config, cand.articles, moment)
        if not rules:
            continue
        channels: list[str] = []
        for rule in rules:
            channels += [c for c in rule.channels if c in known_channels and c not in channels]
        stamp = iso(moment)
        payload = build_payload(cand.story_id, cand.articles, rules, stamp)
        with write_transaction(db) as conn:
            cur = conn.execute(
                "insert or ignore into alerts (story_id, rules, created_at, payload) values (?, ?, ?, ?)",
                [cand.story_id, json.dumps(payload["rules"]), stamp, json.dumps(payload, ensure_ascii=False)])
            if cur.rowcount != 1:   # another process alerted this story first
                continue
            alert_id = int(cur.lastrowid or 0)
            for name in channels:
                channel = known_channels[name]
                conn.execute(
                    "insert into deliveries (alert_id, channel, state, attempts, next_attempt_at, message_id, "
                    "updated_at) values (?, ?, 'pending', 0, ?, ?, ?)",
                    [alert_id, name, stamp, message_id_for(alert_id, payload, channel), stamp])
        created.append(alert_id)
    return created


def explain_rules(config: Config, article: Any, analysis: Any, source: str | None = None,
                  now: datetime | None = None) -> list[dict[str, Any]]:
    """For `newsradar explain`: each rule, whether a page meets it, and why (not)."""
    moment = utc(now)
    max_age = timedelta(days=config.crawl.max_age_days)
    published = parse_time(getattr(article, "date", None))
    score = float(analysis.score)
    orgs, countries = _lower(analysis.organisations), _lower(analysis.countries)
    kinds = _lower(getattr(analysis, "kinds", []) or [])
    out = []
    for rule in config.rules:
        reasons: list[str] = []
        ok = score >= rule.min_score
        reasons.append(f"score {score:.2f} {'>=' if ok else '<'} min_score {rule.min_score:.2f}")
        if published is None:
            reasons.append("no published date: age judged by first fetch time when crawled")
        elif moment - published > max_age:
            ok = False
            reasons.append(f"published {published.date()}, older than max_age_days {config.crawl.max_age_days:g}")
        else:
            reasons.append(f"published {published.date()}, within max_age_days")
        for name, wanted, have in (("organisations", rule.organisations, orgs), ("countries", rule.countries,
                                                                                  countries),
                                   ("kinds", rule.kinds, kinds)):
            if wanted:
                hit = bool(_lower(wanted) & have)
                ok = ok and hit
                reasons.append(f"{name} filter {'met' if hit else 'not met'}")
        if rule.sources:
            hit = source in rule.sources
            ok = ok and hit
            reasons.append("sources filter " + ("met" if hit else f"not met (source {source or 'unknown'})"))
        out.append({"name": rule.name, "meets": ok, "channels": list(rule.channels), "reasons": reasons})
    return out
