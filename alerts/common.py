"""Small helpers shared by the alerts stage: time, transactions, article rows.

Timestamps written by this stage are UTC ISO 8601 with seconds ("2025-01-02T03:04:05+00:00"),
the same shape as `store.now_iso()`, so they compare correctly as text in SQL.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from newsradar.store import Database


def utc(now: datetime | None) -> datetime:
    """`now` as an aware UTC datetime (naive values are taken as UTC); None means the clock."""
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        return now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    return utc(moment).isoformat(timespec="seconds")


def parse_time(text: str | None) -> datetime | None:
    """Parse stored ISO 8601 (with or without zone, 'Z' allowed); None when absent or garbled."""
    if not text:
        return None
    return _parse_time_text(str(text))


@functools.lru_cache(maxsize=1 << 16)  # story grouping re-reads the same rows every pass
def _parse_time_text(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return utc(value)


@contextmanager
def write_transaction(db: Database) -> Iterator[sqlite3.Connection]:
    """One IMMEDIATE transaction: take the write lock up front so two processes (the
    scheduler and a manual `crawl`) never interleave read-then-write sequences."""
    conn = db.conn
    if conn.in_transaction:  # the caller already holds a transaction: join it
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def loads(text: str | None, default: Any) -> Any:
    """Lenient JSON: a damaged column must not stop the whole stage."""
    if not text:
        return default
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


@dataclass
class ArticleRow:
    """The slice of an `articles` row this stage reads, with the analysis unpacked."""

    url: str
    source: str
    fetched_url: str
    title: str
    published: datetime | None
    seen_at: datetime | None          # first fetch time (pages.first_seen_at) or processing time
    text: str
    text_hash: str | None
    score: float
    story_id: int | None
    organisations: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def when(self) -> datetime | None:
        """The article's date for age and time-window checks: published, else first fetch."""
        return self.published or self.seen_at


ARTICLE_COLUMNS = (
    "a.url, a.source, a.fetched_url, a.title, a.published, a.text, a.text_hash, a.score, a.analysis, "
    "a.processed_at, a.story_id, p.first_seen_at, p.fetched_at"
)
ARTICLE_FROM = "articles a left join pages p on p.url = a.url"


def article_from_row(row: sqlite3.Row | tuple[Any, ...]) -> ArticleRow:
    (url, source, fetched_url, title, published, text, text_hash, score, analysis, processed_at, story_id,
     first_seen, fetched_at) = tuple(row)
    organisations, countries, kinds, evidence = _analysis_fields(analysis if isinstance(analysis, str) else None)
    return ArticleRow(
        url=url, source=source or "", fetched_url=fetched_url or url, title=(title or "").strip(),
        published=parse_time(published),
        seen_at=parse_time(first_seen) or parse_time(fetched_at) or parse_time(processed_at),
        text=text or "", text_hash=text_hash, score=float(score or 0.0), story_id=story_id,
        organisations=list(organisations), countries=list(countries), kinds=list(kinds),
        evidence=[dict(e) for e in evidence],
    )


@functools.lru_cache(maxsize=4096)  # story grouping re-reads the window's analyses every pass
def _analysis_fields(analysis: str | None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...],
                                                    tuple[dict[str, Any], ...]]:
    data = loads(analysis, {})
    return (tuple(str(o) for o in data.get("organisations", []) if o),
            tuple(str(c) for c in data.get("countries", []) if c),
            tuple(str(k) for k in data.get("kinds", []) if k),
            tuple(e for e in data.get("evidence", []) if isinstance(e, dict)))


def fetch_articles(db: Database, where: str, params: list[Any] | tuple[Any, ...] = ()) -> list[ArticleRow]:
    sql = f"select {ARTICLE_COLUMNS} from {ARTICLE_FROM} where {where}"
    return [article_from_row(r) for r in db.execute(sql, list(params)).fetchall()]


@dataclass(frozen=True)
class Alert:
    """One alert as stored: its id, creation time and the frozen payload every channel sends."""

    id: int
    created_at: str
    payload: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.payload.get("title") or "")


def load_alerts(db: Database, ids: list[int] | None = None) -> list[Alert]:
    """Alerts by id (all, oldest first, when `ids` is None)."""
    if ids is None:
        rows = db.execute("select id, created_at, payload from alerts order by id").fetchall()
    else:
        rows = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows += db.execute(f"select id, created_at, payload from alerts where id in ({','.join('?' * len(chunk))})"
                               " order by id", chunk).fetchall()
    return [Alert(int(r[0]), r[1] or "", loads(r[2], {})) for r in rows]
