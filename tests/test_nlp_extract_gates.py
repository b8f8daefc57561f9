"""Quality gates for extraction on the shared evaluation data (skipped when absent).

Data: $NEWSRADAR_SHARED_DATA, else ../shared/data next to the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nlp.eval_extraction import BENCHMARK_DIR, FUNDUS_DIR, evaluate_benchmark, evaluate_fundus, score_published_outputs


def shared_data_dir() -> Path:
    """Where the evaluation data lives (env override first)."""
    override = os.environ.get("NEWSRADAR_SHARED_DATA")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


def require_dataset(name: str) -> Path:
    """The data root, or skip the test cleanly when that data set is not there."""
    root = shared_data_dir()
    if not (root / name).is_dir():
        pytest.skip(f"evaluation data not found: {root / name}")
    return root


@pytest.fixture(scope="module")
def benchmark_figures() -> dict[str, Any]:
    return evaluate_benchmark(require_dataset(BENCHMARK_DIR), processes=2)


@pytest.fixture(scope="module")
def fundus_figures() -> dict[str, Any]:
    return evaluate_fundus(require_dataset(FUNDUS_DIR), processes=2)


# Published figures (README of scrapinghub/article-extraction-benchmark) for outputs shipped in output/.
PUBLISHED = {
    "trafilatura": (0.938, 0.978, 0.958),
    "AutoExtract": (0.984, 0.956, 0.970),
    "Diffbot": (0.958, 0.944, 0.951),
    "html-text": (0.500, 0.994, 0.665),
    "readability": (0.913, 0.931, 0.922),
}
PUBLISHED_F1 = {"go_trafilatura": 0.960, "rs_trafilatura": 0.970, "readability_js": 0.947}


def test_scorer_reproduces_published_table() -> None:
    scores = score_published_outputs(require_dataset(BENCHMARK_DIR))
    for name, (precision, recall, f1) in PUBLISHED.items():
        got = scores[name]
        assert (round(got["precision"], 3), round(got["recall"], 3), round(got["f1"], 3)) == (precision, recall, f1), name
    for name, f1 in PUBLISHED_F1.items():
        assert round(scores[name]["f1"], 3) == f1, name


def test_benchmark_body_f1(benchmark_figures: dict[str, Any]) -> None:
    assert benchmark_figures["pages"] == 181
    assert benchmark_figures["f1"] >= 0.96, benchmark_figures["f1"]


def test_fundus_title_accuracy(fundus_figures: dict[str, Any]) -> None:
    assert fundus_figures["title_pages"] >= 250
    assert fundus_figures["title_accuracy"] >= 0.85, fundus_figures["title_accuracy"]


def test_fundus_date_accuracy(fundus_figures: dict[str, Any]) -> None:
    assert fundus_figures["date_accuracy"] >= 0.97, fundus_figures["date_accuracy"]


def test_fundus_authors_accuracy(fundus_figures: dict[str, Any]) -> None:
    assert fundus_figures["authors_pages"] >= 240
    assert fundus_figures["authors_accuracy"] >= 0.85, fundus_figures["authors_accuracy"]
