"""The SQLite store: the corridor between stages.

Each stage reads what the previous one left here and writes its own tables, so any
stage can be re-run alone and a crash resumes from the last committed batch. The schema
is versioned in `meta.schema_version`; `MIGRATIONS` only ever grows, so a newer release
opens an older file by applying the steps it has not seen.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator


def _import_sqlite_utils() -> Any:
    """sqlite-utils imports numpy and pandas when they are installed (spaCy brings numpy),
    only to name column types for numpy / pandas values in tables it creates from rows.
    newsradar declares every table and never inserts such values, and numpy alone is 0.1 s
    of every start: a fifth of a run that finds nothing new. So the import is made with
    both hidden (when not imported already; later imports of numpy are unaffected)."""
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            del sys.modules[name]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()
from sqlite_utils import Database  # noqa: E402

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def now_iso() -> str:
    """UTC timestamps as ISO 8601 text: sortable, readable in the sqlite shell."""
    return utcnow().isoformat(timespec="seconds")


def _v1(db: Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("sources").create(
        {"name": str, "last_run_at": str, "last_success_at": str, "last_error": str, "last_error_at": str,
         "consecutive_failures": int, "next_run_at": str, "articles_seen": int},
        pk="name", not_null={"name"}, defaults={"consecutive_failures": 0, "articles_seen": 0}, if_not_exists=True,
    )
    # One row per article page: `url` is the canonical form of the URL as fetched after redirects,
    # `fetched_url` that URL exactly. `state`: fetched -> processed (or failed).
    db.table("pages").create(
        {"url": str, "fetched_url": str, "source": str, "discovered_via": str, "first_seen_at": str,
         "fetched_at": str, "status": int, "content_type": str, "encoding": str, "html": str,
         "feed_meta": str, "state": str, "error": str},
        pk="url", defaults={"state": "fetched"}, if_not_exists=True,
    )
    db.table("pages").create_index(["state"], if_not_exists=True)
    db.table("pages").create_index(["source"], if_not_exists=True)
    # Every URL ever requested or discovered for an article maps to the page it became, so
    # redirects and tracking variants are never fetched twice.
    db.table("url_aliases").create({"url": str, "page_url": str}, pk="url", if_not_exists=True)
    # Feeds, sitemaps and section pages: validators for conditional GET.
    db.table("listings").create(
        {"url": str, "source": str, "etag": str, "last_modified": str, "last_status": int,
         "last_fetched_at": str, "last_error": str},
        pk="url", if_not_exists=True,
    )
    db.table("articles").create(
        {"url": str, "source": str, "fetched_url": str, "title": str, "published": str, "authors": str,
         "language": str, "text": str, "text_hash": str, "score": float, "analysis": str,
         "processed_at": str, "story_id": int},
        pk="url", if_not_exists=True,
    )
    db.table("articles").create_index(["score"], if_not_exists=True)
    db.table("articles").create_index(["story_id"], if_not_exists=True)
    db.table("articles").create_index(["text_hash"], if_not_exists=True)
    db.table("mentions").create(
        {"article_url": str, "kind": str, "value": str, "sentence": int},
        pk=("article_url", "kind", "value", "sentence"), if_not_exists=True,
    )
    db.table("mentions").create_index(["kind", "value"], if_not_exists=True)
    db.table("stories").create(
        {"id": int, "created_at": str, "updated_at": str, "title": str, "lead_url": str, "score": float,
         "published": str, "signature": str},
        pk="id", if_not_exists=True,
    )
    db.table("story_articles").create(
        {"story_id": int, "article_url": str, "added_at": str, "relation": str},
        pk=("story_id", "article_url"), if_not_exists=True,
    )
    db.table("alerts").create(
        {"id": int, "story_id": int, "rules": str, "created_at": str, "payload": str},
        pk="id", if_not_exists=True,
    )
    db.table("alerts").create_index(["story_id"], unique=True, if_not_exists=True)
    db.table("deliveries").create(
        {"alert_id": int, "channel": str, "state": str, "attempts": int, "next_attempt_at": str,
         "last_error": str, "sent_at": str, "message_id": str, "updated_at": str},
        pk=("alert_id", "channel"), defaults={"state": "pending", "attempts": 0}, if_not_exists=True,
    )
    db.table("deliveries").create_index(["state", "next_attempt_at"], if_not_exists=True)
    db.table("runs").create(
        {"id": int, "run_group": str, "source": str, "started_at": str, "finished_at": str, "status": str, "discovered": int,
         "fetched": int, "new": int, "not_modified": int, "errors": int, "skipped": int},
        pk="id", if_not_exists=True,
    )
    db.table("runs").create_index(["run_group"], if_not_exists=True)
    db.table("fetch_log").create(
        {"id": int, "at": str, "source": str, "url": str, "event": str, "status": int, "detail": str},
        pk="id", if_not_exists=True,
    )
    db.table("fetch_log").create_index(["at"], if_not_exists=True)


def _v2(db: Database) -> None:
    """Each story member keeps its MinHash signature, so a late copy can join a story
    after the member's text is gone or the process restarted."""
    if "signature" not in db.table("story_articles").columns_dict:
        db.execute("alter table story_articles add column signature blob")


def _v3(db: Database) -> None:
    """Story grouping looks for articles without a story above a score floor; most articles
    (nothing found in them) never join one, so that query must not scan them all."""
    db.table("articles").create_index(["story_id", "score"], if_not_exists=True)


def _v4(db: Database) -> None:
    """A digest of each listing's body, a validator of our own for servers that send
    neither ETag nor Last-Modified (crawler.listings.body_digest), and the context the
    validators were earned under (crawler.listings.listing_context). Validators stored
    before have no context, so each listing is read in full once: among them were sitemap
    indexes, whose 304 hid new articles in their children."""
    columns = db.table("listings").columns_dict
    for column in ("body_hash", "context"):
        if column not in columns:
            db.execute(f"alter table listings add column {column} text")


MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be opened or written (read-only, disk full, newer schema)."""


def schema_version(db: Database) -> int:
    if "meta" not in db.table_names():
        return 0
    row = db.execute("select value from meta where key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database) -> int:
    """Apply the migrations this file has not seen, in one write transaction.

    Two processes opening a new file at once (two `newsradar crawl`, or the crawl child
    and its parent) must not both migrate: the version is read again under the write
    lock, so the second waits for the first and then finds nothing to do.
    """
    def check(current: int) -> int:
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{db.conn.execute('pragma database_list').fetchone()[2]}: schema version {current} is newer than "
                f"this release understands ({SCHEMA_VERSION}); upgrade newsradar"
            )
        return current

    if check(schema_version(db)) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    with db.conn:  # BEGIN IMMEDIATE (see _Connection)
        for version in range(check(schema_version(db)) + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            db.table("meta").upsert({"key": "schema_version", "value": str(version)}, pk="key")
    return SCHEMA_VERSION


class StoreIOError(StoreError, sqlite3.DatabaseError):
    """The database file cannot be written or read: disk full, read-only, I/O error, corrupt.

    A StoreError (the CLI exits 1 with its one-line message) and still a sqlite3 error
    for code that handles those."""


# primary result codes meaning "the file, not the statement, is the problem"
_FILE_ERRORS = {
    sqlite3.SQLITE_READONLY: "the database file or its directory is read-only",
    sqlite3.SQLITE_IOERR: "is the disk full, or the file larger than the system allows?",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_CANTOPEN: "the file or its directory cannot be opened",
    sqlite3.SQLITE_CORRUPT: "the file is damaged; restore a backup",
    sqlite3.SQLITE_NOTADB: "the file is not a newsradar database",
    sqlite3.SQLITE_PERM: "permission denied",
}


def _file_error(exc: sqlite3.DatabaseError, path: str) -> StoreIOError | None:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    hint = _FILE_ERRORS.get(code)
    if hint is None or isinstance(exc, StoreIOError):
        return None
    return StoreIOError(f"{path}: cannot write to the database: {exc} ({hint})")


class _Connection(sqlite3.Connection):
    """`with conn:` is one write transaction, taken up front.

    Python's sqlite3 only commits at the end of a `with` block; it begins a transaction
    lazily, at the first INSERT/UPDATE/DELETE, and sqlite-utils commits its own
    statements when none is open. Without an explicit BEGIN a "batch" was many small
    transactions (a crash left half a batch; every row paid for a commit). BEGIN
    IMMEDIATE takes the write lock at the start (waiting up to the busy timeout for the
    other process), so a block that reads and then writes never fails on a stale
    snapshot.
    """

    store_path = "?"

    def __enter__(self) -> "_Connection":
        if not self.in_transaction:
            self.execute("BEGIN IMMEDIATE")
        return super().__enter__()

    # Disk full, read-only file, I/O error: one clear StoreIOError naming the file,
    # wherever it surfaces (a statement, the BEGIN, the COMMIT at the end of a block).
    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise (_file_error(exc, self.store_path) or exc) from exc

    def __exit__(self, *exc_info: Any) -> bool:  # type: ignore[override]
        with self._named_errors():
            return bool(super().__exit__(*exc_info))

    def execute(self, *args: object) -> sqlite3.Cursor:
        with self._named_errors():
            return super().execute(*args)  # type: ignore[arg-type]

    def executemany(self, *args: object) -> sqlite3.Cursor:
        with self._named_errors():
            return super().executemany(*args)  # type: ignore[arg-type]

    def executescript(self, *args: object) -> sqlite3.Cursor:
        with self._named_errors():
            return super().executescript(*args)  # type: ignore[arg-type]

    def commit(self) -> None:
        with self._named_errors():
            super().commit()


def open_db(path: Path | str, *, migrate_schema: bool = True) -> Database:
    """Open (creating if needed) the store in WAL mode, so the crawler child and the NLP
    parent can write while readers read."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False, factory=_Connection)
        conn.store_path = str(path)
        conn.isolation_level = ""  # type: ignore[assignment]  # back to the default: `with conn:` is one transaction
        db = sqlite_utils.Database(conn)
        db.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.execute("pragma journal_mode").fetchone()[0] != "wal":
            db.execute("pragma journal_mode = wal")
        db.execute("pragma synchronous = normal")
        if migrate_schema:
            migrate(db)
    except StoreIOError as exc:
        raise StoreIOError(str(exc).replace("cannot write to the database", "cannot open database", 1)) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open database: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot open database: {exc.strerror or exc}") from None
    return db


def get_meta(db: Database, key: str) -> str | None:
    row = db.execute("select value from meta where key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(db: Database, key: str, value: str) -> None:
    with db.conn:
        db.table("meta").upsert({"key": key, "value": value}, pk="key")
