"""The NLP stage: stored pages -> articles with extracted fields, entities, evidence and score.

Public face: `process_pending` (drain every fetched page; what `deliver`-style callers
use), `NlpStage` (the same work pumped batch by batch while a crawl is still fetching,
in this process or in worker processes), `analyse_page` (one page, for `explain`) and
`get_detector`.

Extraction and tagging are pure functions of a page (`analyse_rows`), so they can run in
worker processes; reading pages and writing articles stay in the caller's process, one
transaction per batch.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence


from newsradar.config import Config
from newsradar.store import Database, now_iso
from nlp.prefilter import build_gate, needs_analysis

logger = logging.getLogger("newsradar.nlp")

_DETECTORS: dict[str, Any] = {}

PageRow = tuple[str, str, str, str, str]  # url, source, fetched_url, html, feed_meta
PRELOAD_ENV = "NEWSRADAR_NLP_PRELOAD"  # what the fork server loads before forking workers
PRELOAD_ENV_MAX = 32_000  # characters; see start_pool
MAX_TAG_CHARS = 200_000  # spaCy refuses texts over 1,000,000 characters; no article is that long


def get_detector(pipeline: str, watchlists: Mapping[str, Any]) -> Any:
    """One Detector per (pipeline, watch lists) per process: spaCy loads once."""
    from nlp.detect import DetectionOptions, Detector

    key = pipeline + json.dumps(watchlists, sort_keys=True, default=str)
    if key not in _DETECTORS:
        _DETECTORS[key] = Detector(DetectionOptions(pipeline=pipeline, watchlists=watchlists))
    return _DETECTORS[key]


_NON_WORD = re.compile(r"\W+")


def text_hash(text: str) -> str:
    """Hash of the normalised text: identical wire copies share it."""
    # ASCII text is its own NFKC form and casefolds as it lower-cases (the common case, cheaper)
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    norm = _NON_WORD.sub(" ", folded).strip()
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()


@dataclass
class PageResult:
    url: str
    source: str
    fetched_url: str
    article: Any = None      # nlp.extract.ExtractedArticle
    analysis: Any = None     # nlp.detect.Analysis
    error: str | None = None
    text_hash: str = ""      # computed beside the extraction (in the worker), not by the writer


@dataclass
class Timings:
    """CPU seconds spent per step, for the benchmark and the run summary."""

    extract: float = 0.0
    tag: float = 0.0

    def add(self, other: "Timings") -> None:
        self.extract += other.extract
        self.tag += other.tag


def analyse_rows(rows: Sequence[PageRow], pipeline: str, watchlists: Mapping[str, Any],
                 batch_size: int) -> tuple[list[PageResult], Timings]:
    """Extract and analyse pages. A page that breaks either step gets an error; the others go on."""
    from nlp.extract import extract_article

    timings = Timings()
    started = time.process_time()
    results: list[PageResult] = []
    for url, source, fetched_url, html, feed_meta in rows:
        result = PageResult(url, source, fetched_url)
        try:
            fallback = json.loads(feed_meta) if feed_meta else {}
            result.article = extract_article(html or "", fetched_url, fallback)
            result.text_hash = text_hash(result.article.text)
        except Exception as exc:  # one hostile page must not stop the stage
            result.error = f"extract: {type(exc).__name__}: {exc}"
        results.append(result)
    timings.extract = time.process_time() - started
    started = time.process_time()
    detector = get_detector(pipeline, watchlists)
    gate = _gate(watchlists)
    todo = []
    for result in results:
        if result.error is not None:
            continue
        if needs_analysis(gate, result.article.title or "", result.article.text):
            todo.append(result)
        else:  # nothing the detector could find: skip spaCy altogether
            result.analysis = nothing_found()
    try:
        analyses = list(detector.analyse_many([(r.article.title or "", r.article.text[:MAX_TAG_CHARS])
                                               for r in todo], batch_size=batch_size))
        for result, analysis in zip(todo, analyses):
            result.analysis = analysis
    except Exception:  # find the page that broke the batch; keep the others
        for result in todo:
            try:
                result.analysis = detector.analyse(result.article.title or "", result.article.text[:MAX_TAG_CHARS])
            except Exception as exc:
                result.error = f"tag: {type(exc).__name__}: {exc}"
    timings.tag = time.process_time() - started
    return results, timings


def nothing_found() -> Any:
    """The analysis of an article the prefilter let skip spaCy."""
    from nlp.detect import Analysis

    return Analysis(score=0.0, organisations=[], countries=[], restriction_terms=[], evasion_cues=[],
                    evidence=[], kinds=[])


_GATES: dict[str, re.Pattern[str]] = {}


def _gate(watchlists: Mapping[str, Any]) -> re.Pattern[str]:
    key = json.dumps(watchlists, sort_keys=True, default=str)
    if key not in _GATES:
        _GATES[key] = build_gate(watchlists)
    return _GATES[key]


def preload_spec(pipeline: str, watchlists: Mapping[str, Any]) -> str:
    """What the fork server preloads (PRELOAD_ENV). Linux refuses a variable over 128 KiB when
    starting a process: large watch lists are then compiled by each worker instead (only the
    pipeline is preloaded)."""
    spec = json.dumps({"pipeline": pipeline, "watchlists": dict(watchlists)}, default=str)
    if len(spec) > PRELOAD_ENV_MAX:
        spec = json.dumps({"pipeline": pipeline, "watchlists": None})
    return spec


def start_pool(workers: int, pipeline: str, watchlists: Mapping[str, Any]) -> futures.ProcessPoolExecutor:
    """Worker processes forked from one fork server that has imported trafilatura and spaCy
    and loaded the pipeline (see nlp.preload): each worker starts with them in memory
    (shared copy-on-write) instead of loading its own."""
    # One BLAS thread per worker: the workers already fill the cores, and OpenBLAS's own
    # threads on top made a 2-worker crawl slower than an in-process one.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # the fork server inherits this environment when it starts (once per process)
    os.environ[PRELOAD_ENV] = preload_spec(pipeline, watchlists)
    context = multiprocessing.get_context("forkserver")
    # "__main__" too: otherwise every worker re-imports the main module (the CLI, with rich
    # and sqlite-utils) before its first task; preloaded, the fork server does it once
    context.set_forkserver_preload(["__main__", "nlp.preload"])
    pool = futures.ProcessPoolExecutor(workers, mp_context=context)
    # The pool forks its workers at the first task; the fork server's preload (~2 s of CPU:
    # spaCy, the pipeline, trafilatura) starts now, in the background, on the core the
    # crawler's start-up leaves idle. Should this fail, the first task reports it.
    with contextlib.suppress(Exception):
        multiprocessing.forkserver.ensure_running()
    return pool


def _analyse_in_worker(rows: Sequence[PageRow], pipeline: str, watchlists: Mapping[str, Any],
                       batch_size: int) -> tuple[list[PageResult], Timings]:
    return analyse_rows(rows, pipeline, watchlists, batch_size)


@dataclass
class StageReport:
    processed: int = 0
    failed: int = 0
    extract_seconds: float = 0.0
    tag_seconds: float = 0.0
    store_seconds: float = 0.0


@dataclass
class NlpStage:
    """Pumps fetched pages through extraction and tagging.

    `workers = 0` analyses in this process (the service: spaCy stays loaded between polls).
    `workers > 0` uses that many worker processes, started on the first page, so a large
    crawl uses every core while this process only reads and writes the store.
    """

    config: Config
    workers: int = 0
    report: StageReport = field(default_factory=StageReport)
    pool: futures.ProcessPoolExecutor | None = None
    in_flight: dict[futures.Future[Any], list[str]] = field(default_factory=dict)
    cursor: int = 0  # pages up to this rowid are handed out (in flight or done) in this run

    def _args(self) -> tuple[str, Mapping[str, Any], int]:
        return self.config.detection.pipeline, dict(self.config.watchlists), self.config.detection.batch_size

    def _next_rows(self, db: Database) -> list[PageRow]:
        size = self.config.detection.batch_size
        rows = db.execute("select rowid, url, source, fetched_url, html, feed_meta from pages "
                          "where state = 'fetched' and rowid > ? order by rowid limit ?",
                          [self.cursor, size]).fetchall()
        if rows:
            self.cursor = rows[-1][0]
        return [tuple(r[1:]) for r in rows]

    def _waiting(self, db: Database, at_least: int = 1) -> bool:
        """At least this many fetched pages wait to be handed out (their HTML is not read)."""
        return bool(db.execute("select count(*) from (select 1 from pages where state = 'fetched' and rowid > ? "
                               "limit ?)", [self.cursor, at_least]).fetchone()[0] >= at_least)

    def pump(self, db: Database, *, wait: float = 0.0, more_coming: bool = False) -> int:
        """Start what can be started, write what has finished; the number of pages written.

        Worker processes start with the first fetched page at the latest (`run_pipeline`
        starts the fork server with the crawler), so their start-up (spaCy, once, in the
        fork server) overlaps the crawl; while the crawl runs, busy workers are handed full
        batches only (each batch costs a transaction). A run that starts no crawler starts
        none (and never imports spaCy).
        """
        if self.workers > 0 and self.pool is None:
            if not self._waiting(db):
                if wait and more_coming:
                    time.sleep(wait)
                return 0
            self.start_workers()
        if self.workers <= 0:
            rows = self._next_rows(db)
            if not rows:
                return 0
            results, timings = analyse_rows(rows, *self._args())
            return self._write(db, results, timings)
        assert self.pool is not None
        while len(self.in_flight) < 2 * self.workers:
            if more_coming and self.in_flight and not self._waiting(db, self.config.detection.batch_size):
                break  # while the crawl runs, busy workers get full batches: each batch costs a transaction
            rows = self._next_rows(db)
            if not rows:
                break
            try:  # processes start here, on the first task: this is where starting them can fail
                future = self.pool.submit(_analyse_in_worker, rows, *self._args())
            except Exception as exc:
                self._analyse_here("workers-unavailable", exc)
                return 0
            self.in_flight[future] = [r[0] for r in rows]
        if not self.in_flight:
            return 0
        done, _ = futures.wait(self.in_flight, timeout=wait, return_when=futures.FIRST_COMPLETED)
        written = 0
        for future in done:
            self.in_flight.pop(future)
            try:
                results, timings = future.result()
            except Exception as exc:
                # A worker died (a page crashed the interpreter, or memory ran out): carry on
                # in this process, where every page is guarded.
                self._analyse_here("worker-error", exc)
                return written
            written += self._write(db, results, timings)
        return written

    def start_workers(self) -> None:
        """Start the fork server now (it loads spaCy in the background); workers fork from
        it at the first batch. `run_pipeline` calls this as the crawler starts when the probe
        saw new articles, so the ~2 s preload overlaps the crawler's own start-up (one core
        was idle for it); otherwise `pump` calls it at the first fetched page."""
        if self.workers <= 0 or self.pool is not None:
            return
        try:
            self.pool = start_pool(self.workers, *self._args()[:2])
        except OSError as exc:  # no processes to be had (limits): analyse here instead
            self._analyse_here("workers-unavailable", exc)
            return
        logger.debug("stage=nlp event=workers-started workers=%d", self.workers)

    def drain(self, db: Database, on_written: Callable[[int], None] | None = None) -> StageReport:
        """Process every page still waiting, then stop the workers. `on_written(n)` is called
        after each pass that wrote n > 0 pages (the run groups stories meanwhile)."""
        while True:
            written = self.pump(db, wait=1.0)
            if written and on_written is not None:
                on_written(written)
            if not (written or self.in_flight or self._waiting(db)):
                break
        self.close()
        return self.report

    def _analyse_here(self, event: str, exc: BaseException) -> None:
        """Give up on worker processes for the rest of this stage: pages handed out and not
        written are still 'fetched', and `close` rewinds the cursor, so they are analysed here."""
        logger.warning("stage=nlp event=%s action=in-process error=%s", event,
                       json.dumps(f"{type(exc).__name__}: {exc}"))
        self.close()
        self.workers = 0

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.in_flight.clear()
        self.cursor = 0  # pages of a failed worker are still 'fetched': hand them out again

    def _write(self, db: Database, results: list[PageResult], timings: Timings) -> int:
        """One transaction and one statement per table for the whole batch (sqlite-utils
        inspects a table on every call, which costs more than the row itself)."""
        started = time.process_time()
        self.report.extract_seconds += timings.extract
        self.report.tag_seconds += timings.tag
        now = now_iso()
        done = [r for r in results if r.error is None]
        for result in results:
            if result.error is not None:
                logger.warning("stage=nlp url=%s error=%s", result.url, json.dumps(result.error))
        with db.conn:
            if done:
                urls = [r.url for r in done]
                db.table("articles").upsert_all((article_row(r, now) for r in done), pk="url")
                db.execute(f"delete from mentions where article_url in ({','.join('?' * len(urls))})", urls)
                db.table("mentions").insert_all((m for r in done for m in mention_rows(r)), ignore=True)
                db.conn.executemany("update pages set state = 'processed', error = null where url = ?",
                                    [(u,) for u in urls])
            db.conn.executemany("update pages set state = 'failed', error = ? where url = ?",
                                [(r.error[:500], r.url) for r in results if r.error is not None])
        self.report.processed += len(done)
        self.report.failed += len(results) - len(done)
        self.report.store_seconds += time.process_time() - started
        logger.info("stage=nlp batch=%d processed=%d failed=%d", len(results), self.report.processed,
                    self.report.failed)
        return len(results)


def process_pending(config: Config, db: Database, *, workers: int = 0) -> StageReport:
    """Extract, tag and score every fetched-but-unprocessed page, one transaction per batch."""
    return NlpStage(config, workers=workers).drain(db)


def article_row(result: PageResult, now: str) -> dict[str, Any]:
    art, analysis = result.article, result.analysis
    return {
        "url": result.url, "source": result.source, "fetched_url": result.fetched_url, "title": art.title,
        "published": art.date, "authors": json.dumps(art.authors), "language": art.language, "text": art.text,
        "text_hash": result.text_hash, "score": round(float(analysis.score), 4),
        "analysis": json.dumps(analysis.to_json()), "processed_at": now,
    }


def mention_rows(result: PageResult) -> list[dict[str, Any]]:
    """Organisations and countries (sentence -2: the whole article), terms and cues by sentence."""
    analysis = result.analysis
    mentions: dict[tuple[str, str, int], None] = {}
    for org in analysis.organisations:
        mentions[("organisation", org, -2)] = None
    for country in analysis.countries:
        mentions[("country", country, -2)] = None
    for ev in analysis.evidence:
        for term in ev.restriction_terms:
            mentions[("restriction_term", term, ev.index)] = None
        for cue in ev.evasion_cues:
            mentions[("evasion_cue", cue, ev.index)] = None
    return [{"article_url": result.url, "kind": k, "value": v, "sentence": i} for k, v, i in mentions]


def analyse_page(config: Config, html: str | bytes, url: str | None = None,
                 fallback: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """Extraction and analysis of one page, without touching the store (`explain`)."""
    from nlp.extract import extract_article

    art = extract_article(html, url, fallback)
    detector = get_detector(config.detection.pipeline, config.watchlists)
    return art, detector.analyse(art.title or "", art.text)


__all__ = ["NlpStage", "StageReport", "analyse_page", "analyse_rows", "get_detector", "process_pending",
           "start_pool", "text_hash"]
