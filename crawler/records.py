"""What a crawl run reads from and writes to the store about its listings and sources.

Shared by the crawler's store pipeline (crawler.pipelines) and the listing probe
(crawler.probe), which records the sources it found quiet as if the crawler had visited
them: one place decides what a listing row and a source's run look like.
"""

from __future__ import annotations

from typing import Any, Protocol

from newsradar.store import Database


def known_urls(db: Database) -> set[str]:
    """Canonical URLs of every stored page and every URL known to lead to one."""
    urls = {row[0] for row in db.execute("select url from url_aliases")}
    urls.update(row[0] for row in db.execute("select url from pages"))
    return urls


def listing_validators(db: Database) -> dict[str, dict[str, str]]:
    """Conditional-GET validators of every listing, by canonical URL."""
    return {row[0]: {"etag": row[1] or "", "last_modified": row[2] or "", "last_status": row[3],
                     "body_hash": row[4] or "", "context": row[5] or ""}
            for row in db.execute("select url, etag, last_modified, last_status, body_hash, context from listings")}


class ListingAnswer(Protocol):
    """What a listing answered (the crawler's `ListingFetched`, the probe's `ListingCheck`)."""

    url: str
    source: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    context: str | None


def record_listing(db: Database, answer: ListingAnswer, status: int, now: str, *, keep_validators: bool) -> None:
    """A listing's last answer; its validators (etag, last_modified, body_hash, context) only
    when every article it announced is stored (`keep_validators`), so that "not modified"
    next time is true."""
    row: dict[str, Any] = {"url": answer.url, "source": answer.source, "last_status": status, "last_fetched_at": now}
    if keep_validators:
        row.update(etag=answer.etag, last_modified=answer.last_modified, body_hash=answer.body_hash,
                   context=answer.context)
    db.table("listings").upsert(row, pk="url")


def record_source_run(db: Database, run_group: str, name: str, *, started_at: str, finished_at: str,
                      status: str, counts: dict[str, int], last_error: str | None = None) -> None:
    """A `runs` row for the source and its running totals in `sources` (last run and success,
    consecutive failures, articles seen). `counts`: discovered, fetched, new, not_modified,
    errors, skipped."""
    db.table("runs").insert({"run_group": run_group, "source": name, "started_at": started_at,
                             "finished_at": finished_at, "status": status, **counts})
    previous = db.execute("select consecutive_failures, articles_seen from sources where name = ?",
                          [name]).fetchone()
    failures, seen = previous if previous else (0, 0)
    row: dict[str, Any] = {"name": name, "last_run_at": finished_at,
                           "articles_seen": (seen or 0) + counts.get("new", 0),
                           "consecutive_failures": (failures or 0) + 1 if status == "failed" else 0}
    if status != "failed":
        row["last_success_at"] = finished_at
    if last_error:
        row.update(last_error=last_error, last_error_at=finished_at)
    db.table("sources").upsert(row, pk="name")
