"""The NLP stage: stored pages -> articles with extracted fields, entities, evidence and score.

Public face: `process_pending` (the stage function the CLI and scheduler call),
`analyse_page` (one page, for `newsradar explain`), and `get_detector`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

from sqlite_utils import Database

from newsradar.config import Config
from newsradar.store import now_iso

logger = logging.getLogger("newsradar.nlp")

_DETECTORS: dict[str, Any] = {}


def get_detector(config: Config) -> Any:
    """One Detector per (pipeline, watch lists) per process: spaCy loads once."""
    from nlp.detect import DetectionOptions, Detector

    key = config.detection.pipeline + json.dumps(config.watchlists, sort_keys=True, default=str)
    if key not in _DETECTORS:
        _DETECTORS[key] = Detector(DetectionOptions(pipeline=config.detection.pipeline,
                                                    watchlists=config.watchlists))
    return _DETECTORS[key]


def text_hash(text: str) -> str:
    """Hash of the normalised text: identical wire copies share it."""
    norm = re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()


@dataclass
class StageReport:
    processed: int = 0
    failed: int = 0
    extract_seconds: float = 0.0
    tag_seconds: float = 0.0
    store_seconds: float = 0.0


def process_pending(config: Config, db: Database, *, limit: int | None = None,
                    report: StageReport | None = None) -> StageReport:
    """Extract, tag and score every fetched-but-unprocessed page, one transaction per batch.

    A page that breaks extraction or tagging is marked failed with its error; the rest of
    the batch goes on.
    """
    from nlp.extract import extract_article

    report = report or StageReport()
    batch_size = config.detection.batch_size
    while limit is None or report.processed + report.failed < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.processed - report.failed)
        rows = db.execute(
            "select url, source, fetched_url, html, feed_meta from pages where state = 'fetched' "
            "order by rowid limit ?", [size]).fetchall()
        if not rows:
            break
        started = time.process_time()
        extracted: list[tuple[Any, ...]] = []
        failures: list[tuple[str, str]] = []
        for url, source, fetched_url, html, feed_meta in rows:
            try:
                fallback = json.loads(feed_meta) if feed_meta else {}
                extracted.append((url, source, fetched_url, extract_article(html or "", fetched_url, fallback)))
            except Exception as exc:  # one hostile page must not stop the stage
                logger.warning("stage=extract url=%s error=%s", url, json.dumps(f"{type(exc).__name__}: {exc}"))
                failures.append((url, f"extract: {type(exc).__name__}: {exc}"))
        report.extract_seconds += time.process_time() - started
        started = time.process_time()
        detector = get_detector(config)
        analyses: list[Any]
        try:
            analyses = list(detector.analyse_many([(a.title or "", a.text) for *_, a in extracted],
                                                  batch_size=batch_size))
        except Exception:  # find the page that broke the batch; keep the others
            analyses = []
            for item in extracted:
                try:
                    analyses.append(detector.analyse(item[3].title or "", item[3].text))
                except Exception as exc:
                    logger.warning("stage=tag url=%s error=%s", item[0],
                                   json.dumps(f"{type(exc).__name__}: {exc}"))
                    analyses.append(exc)
        report.tag_seconds += time.process_time() - started
        started = time.process_time()
        with db.conn:
            now = now_iso()
            for (url, source, fetched_url, art), analysis in zip(extracted, analyses):
                if isinstance(analysis, Exception):
                    failures.append((url, f"tag: {type(analysis).__name__}: {analysis}"))
                    continue
                write_article(db, url, source, fetched_url, art, analysis, now)
                report.processed += 1
            for url, error in failures:
                db["pages"].update(url, {"state": "failed", "error": error[:500]})
                report.failed += 1
        report.store_seconds += time.process_time() - started
        logger.info("stage=nlp batch=%d processed=%d failed=%d", len(rows), report.processed, report.failed)
    return report


def write_article(db: Database, url: str, source: str, fetched_url: str, art: Any, analysis: Any,
                  now: str) -> None:
    data = analysis.to_json()
    db["articles"].upsert({
        "url": url, "source": source, "fetched_url": fetched_url, "title": art.title, "published": art.date,
        "authors": json.dumps(art.authors), "language": art.language, "text": art.text,
        "text_hash": text_hash(art.text), "score": round(float(analysis.score), 4),
        "analysis": json.dumps(data), "processed_at": now,
    }, pk="url")
    db.execute("delete from mentions where article_url = ?", [url])
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
    db["mentions"].insert_all(
        ({"article_url": url, "kind": k, "value": v, "sentence": i} for k, v, i in mentions), ignore=True)
    db["pages"].update(url, {"state": "processed", "error": None})


def analyse_page(config: Config, html: str | bytes, url: str | None = None,
                 fallback: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """Extraction and analysis of one page, without touching the store (`explain`)."""
    from nlp.extract import extract_article

    art = extract_article(html, url, fallback)
    return art, get_detector(config).analyse(art.title or "", art.text)


__all__ = ["StageReport", "analyse_page", "get_detector", "process_pending", "text_hash"]
