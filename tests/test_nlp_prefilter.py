"""The cheap gate in front of the detector must never hide a story that could alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.eval_detection import load_corpus
from nlp.eval_extraction import default_data_dir
from nlp.prefilter import build_gate, needs_analysis

REPO = Path(__file__).resolve().parents[1]
CORPORA = [default_data_dir() / "dev-corpus" / "articles.jsonl"] + [
    REPO / "tests" / "data" / f"heldout_sim{n}.jsonl" for n in ("", "2", "3", "4", "5", "6")]


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
def test_every_labelled_loophole_story_passes_the_gate(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")
    gate = build_gate()
    positives = [a for a in load_corpus(path) if a["label"] == 1]
    assert positives
    missed = [a["id"] for a in positives if not needs_analysis(gate, a["title"], "\n".join(a["paragraphs"]))]
    assert missed == []


def test_ordinary_news_is_skipped_and_additions_widen_the_gate() -> None:
    text = ("Shares of the software maker rose 4 percent after it raised its forecast. The company said cloud "
            "revenue grew strongly and that it would hire 300 engineers next year.")
    assert not needs_analysis(build_gate(), "Software maker raises forecast", text)
    assert needs_analysis(build_gate(), "Chipmaker evaded export curbs, filing says", text)
    wider = build_gate({"restriction_terms": ["hiring freeze"]})
    assert needs_analysis(wider, "", "The company imposed a hiring freeze last spring.")
