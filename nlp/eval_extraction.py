"""Quality figures for the extraction stage, on two public data sets.

* article-extraction-benchmark (Zyte/scrapinghub): body-text precision/recall/F1 with the
  benchmark's own shingle metric, so our figure is comparable to its published table.
* fundus-testdata (flairNLP): title, publication date and authors against the fundus
  parsers' hand-checked values for real news pages from 41 countries.

`newsradar eval extraction` prints these; the quality-gate tests assert thresholds on them.

Counting rules for fundus (documented because they change the figures):
* a page counts for a field only when its gold value is present and non-empty
  (title non-empty, publishing_date not null, authors a non-empty list); pages without a
  gold value are reported separately (for authors: share of those where we also return none);
* title: equal after NFKC, casefold and whitespace collapsing (invisible Cf characters
  such as soft hyphens and zero-width spaces dropped);
* date: same calendar day, read in the gold value's own UTC offset (a page stamped
  23:30+02:00 is that day even though it is the next-day-minus-one in UTC);
* authors: equal as sets after the same normalisation as titles.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from nlp.extract import ExtractedArticle, extract_article, parse_date, read_html_file

BENCHMARK_DIR = "article-extraction-benchmark"
FUNDUS_DIR = "fundus-testdata"
SHINGLE_SIZE = 4
TOKEN_RE = re.compile(r"\w+")

Extractor = Callable[[bytes, "str | None"], ExtractedArticle]


# --------------------------------------------------------------------------- data location


def default_data_dir() -> Path:
    """The shared evaluation data: $NEWSRADAR_SHARED_DATA, else ../shared/data next to the repo."""
    override = os.environ.get("NEWSRADAR_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def resolve_dataset_dir(data_dir: str | Path, name: str) -> Path:
    """Accept either the shared data root or the data set folder itself."""
    path = Path(data_dir)
    return path / name if (path / name).is_dir() else path


# --------------------------------------------------------------------------- benchmark metric


def tokenize(text: str | None) -> list[str]:
    """The benchmark's tokens: runs of word characters."""
    return TOKEN_RE.findall(text or "")


def shingles(text: str | None, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Multiset of consecutive `size`-token shingles; texts shorter than that give one shingle."""
    tokens = tokenize(text)
    if not tokens:
        return Counter()
    count = max(1, len(tokens) - size + 1)
    return Counter(tuple(tokens[i : i + size]) for i in range(count))


@dataclass(frozen=True)
class PageScore:
    """Per-page precision/recall; None where undefined (nothing predicted / no gold text)."""

    precision: float | None
    recall: float | None


def score_page(gold: str | None, predicted: str | None) -> PageScore:
    """Shingle-multiset overlap between gold and predicted body text."""
    gold_shingles, predicted_shingles = shingles(gold), shingles(predicted)
    overlap = sum((gold_shingles & predicted_shingles).values())
    predicted_total, gold_total = sum(predicted_shingles.values()), sum(gold_shingles.values())
    precision = overlap / predicted_total if predicted_total else None
    recall = overlap / gold_total if gold_total else None
    return PageScore(precision, recall)


def aggregate_scores(scores: Iterable[PageScore]) -> dict[str, float]:
    """Corpus P = mean page precision, R = mean page recall, F1 = harmonic mean of the two."""
    scores = list(scores)
    precisions = [s.precision for s in scores if s.precision is not None]
    recalls = [s.recall for s in scores if s.recall is not None]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pages": float(len(scores))}


def score_predictions(ground_truth: Mapping[str, Mapping[str, Any]], predictions: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Score a {id: {articleBody}} prediction file against the ground truth (missing id = empty)."""
    return aggregate_scores(
        score_page(gold.get("articleBody"), (predictions.get(key) or {}).get("articleBody"))
        for key, gold in ground_truth.items()
    )


def load_prediction_file(path: Path) -> dict[str, dict[str, Any]]:
    """Published outputs are either {id: {...}} or {"output": {id: {...}}, "version": ...}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("output"), dict):
        return data["output"]
    return data


def score_published_outputs(data_dir: str | Path) -> dict[str, dict[str, float]]:
    """Our scorer on the benchmark's published tool outputs (to check it against the README table)."""
    root = resolve_dataset_dir(data_dir, BENCHMARK_DIR)
    ground_truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    return {
        path.stem: score_predictions(ground_truth, load_prediction_file(path))
        for path in sorted((root / "output").glob("*.json"))
    }


# --------------------------------------------------------------------------- running the extractor


def run_extractor(extractor: Extractor, html: bytes, url: str | None) -> tuple[ExtractedArticle, float]:
    """One extraction and its wall time in seconds."""
    start = time.perf_counter()
    article = extractor(html, url)
    return article, time.perf_counter() - start


def default_extractor(html: bytes, url: str | None) -> ExtractedArticle:
    """extract_article without feed fallback: the data sets have no feed metadata."""
    return extract_article(html, url=url)


def map_jobs(function: Callable[[Any], Any], jobs: Sequence[Any], processes: int) -> list[Any]:
    """Run jobs serially or on a small process pool (results in job order)."""
    if processes <= 1 or len(jobs) < 20:
        return [function(job) for job in jobs]
    import multiprocessing

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with context.Pool(processes) as pool:
        return pool.map(function, jobs, chunksize=4)


# --------------------------------------------------------------------------- benchmark evaluation


def benchmark_job(job: tuple[str, str, str | None, Extractor]) -> tuple[str, str, float]:
    """Extract one benchmark page: (id, text, seconds)."""
    key, path, url, extractor = job
    article, seconds = run_extractor(extractor, read_html_file(path), url)
    return key, article.text, seconds


def evaluate_benchmark(
    data_dir: str | Path | None = None, extractor: Extractor = default_extractor, processes: int = 1
) -> dict[str, Any]:
    """Body P/R/F1 on the 181 benchmark pages, plus timing and the worst pages."""
    root = resolve_dataset_dir(data_dir or default_data_dir(), BENCHMARK_DIR)
    ground_truth: dict[str, dict[str, Any]] = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    jobs = [(key, str(root / "html" / f"{key}.html.gz"), gold.get("url"), extractor) for key, gold in ground_truth.items()]
    results = map_jobs(benchmark_job, jobs, processes)
    predictions = {key: {"articleBody": text} for key, text, _ in results}
    figures: dict[str, Any] = dict(score_predictions(ground_truth, predictions))
    seconds = [s for _, _, s in results]
    figures["ms_per_page"] = 1000 * statistics.fmean(seconds) if seconds else 0.0
    figures["ms_median"] = 1000 * statistics.median(seconds) if seconds else 0.0
    page_f1 = {key: page_f1_score(score_page(ground_truth[key].get("articleBody"), text)) for key, text, _ in results}
    figures["worst_pages"] = sorted(page_f1.items(), key=lambda item: item[1])[:10]
    figures["predictions"] = predictions
    return figures


def page_f1_score(score: PageScore) -> float:
    """Single-page F1 (for listing the worst pages)."""
    precision, recall = score.precision or 0.0, score.recall or 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


# --------------------------------------------------------------------------- fundus evaluation


@dataclass(frozen=True)
class FundusCase:
    """One fundus page with its gold values."""

    name: str
    path: str
    url: str | None
    title: str | None
    date: str | None
    authors: tuple[str, ...] | None


def version_key(version: str) -> tuple[int, ...]:
    """"V1" < "V1_1" < "V2" < "V10" (numeric, not lexical)."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def iter_fundus_cases(root: Path) -> Iterator[FundusCase]:
    """Pair each publisher's gold versions (sorted) with its HTML files (sorted by date)."""
    for country in sorted(p for p in root.iterdir() if p.is_dir()):
        meta_path = country / "meta.info"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        for gold_path in sorted(country.glob("*.json")):
            publisher = gold_path.stem
            gold = json.loads(gold_path.read_text(encoding="utf-8"))
            pages = sorted(country.glob(f"{glob_escape(publisher)}_*.html.gz"))
            pages = [p for p in pages if re.fullmatch(re.escape(publisher) + r"_\d{4}_\d{2}_\d{2}\.html\.gz", p.name)]
            for version, page in zip(sorted(gold, key=version_key), pages):
                values = gold[version]
                authors = values.get("authors")
                yield FundusCase(
                    name=f"{country.name}/{page.name}",
                    path=str(page),
                    url=(meta.get(page.name) or {}).get("url"),
                    title=values.get("title") or None,
                    date=values.get("publishing_date") or None,
                    authors=tuple(authors) if isinstance(authors, list) else None,
                )


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a publisher name."""
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def normalize_label(text: str | None) -> str:
    """Comparison form for titles and names: NFKC, casefold, single spaces.

    Invisible format characters (zero-width space, soft hyphen, word joiner: Unicode
    category Cf) are dropped too: they are not part of what a reader sees.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.casefold().split())


def same_day(gold: str, predicted: str | None) -> bool:
    """Same calendar day, both read in the gold value's UTC offset."""
    gold_date, predicted_date = parse_date(gold), parse_date(predicted)
    if gold_date is None or predicted_date is None:
        return False
    return predicted_date.astimezone(gold_date.tzinfo or timezone.utc).date() == gold_date.date()


def fundus_job(job: tuple[FundusCase, Extractor]) -> tuple[FundusCase, ExtractedArticle, float]:
    """Extract one fundus page."""
    case, extractor = job
    article, seconds = run_extractor(extractor, read_html_file(case.path), case.url)
    return case, article, seconds


def evaluate_fundus(
    data_dir: str | Path | None = None, extractor: Extractor = default_extractor, processes: int = 1
) -> dict[str, Any]:
    """Title / date / author accuracy over pages that have a gold value for each."""
    root = resolve_dataset_dir(data_dir or default_data_dir(), FUNDUS_DIR)
    cases = list(iter_fundus_cases(root))
    results = map_jobs(fundus_job, [(case, extractor) for case in cases], processes)
    title_hits: list[bool] = []
    date_hits: list[bool] = []
    author_hits: list[bool] = []
    no_author_hits: list[bool] = []
    failures: dict[str, list[tuple[str, Any, Any]]] = {"title": [], "date": [], "authors": []}
    for case, article, _ in results:
        if case.title:
            hit = normalize_label(case.title) == normalize_label(article.title)
            title_hits.append(hit)
            if not hit:
                failures["title"].append((case.name, case.title, article.title))
        if case.date:
            hit = same_day(case.date, article.date)
            date_hits.append(hit)
            if not hit:
                failures["date"].append((case.name, case.date, article.date))
        if case.authors:
            hit = {normalize_label(a) for a in case.authors} == {normalize_label(a) for a in article.authors}
            author_hits.append(hit)
            if not hit:
                failures["authors"].append((case.name, list(case.authors), article.authors))
        elif case.authors is not None:
            no_author_hits.append(not article.authors)
    seconds = [s for _, _, s in results]
    return {
        "pages": len(cases),
        "title_accuracy": mean_bool(title_hits),
        "title_pages": len(title_hits),
        "date_accuracy": mean_bool(date_hits),
        "date_pages": len(date_hits),
        "authors_accuracy": mean_bool(author_hits),
        "authors_pages": len(author_hits),
        "no_authors_accuracy": mean_bool(no_author_hits),
        "no_authors_pages": len(no_author_hits),
        "ms_per_page": 1000 * statistics.fmean(seconds) if seconds else 0.0,
        "failures": failures,
    }


def mean_bool(values: Sequence[bool]) -> float:
    """Share of True; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0


# --------------------------------------------------------------------------- report


def print_report(benchmark: Mapping[str, Any] | None, fundus: Mapping[str, Any] | None, show_failures: int = 0) -> None:
    """Rich tables of the figures (and optionally the first failures per field)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if benchmark is not None:
        table = Table(title="article-extraction-benchmark: body text (shingle metric)")
        for column in ("pages", "precision", "recall", "F1", "ms/page (mean)", "ms/page (median)"):
            table.add_column(column, justify="right")
        table.add_row(
            str(int(benchmark["pages"])),
            f"{benchmark['precision']:.3f}",
            f"{benchmark['recall']:.3f}",
            f"{benchmark['f1']:.3f}",
            f"{benchmark['ms_per_page']:.1f}",
            f"{benchmark['ms_median']:.1f}",
        )
        console.print(table)
        if show_failures:
            for key, f1 in benchmark.get("worst_pages", [])[:show_failures]:
                console.print(f"  worst: {key[:16]}… F1={f1:.3f}")
    if fundus is not None:
        table = Table(title=f"fundus-testdata: metadata ({fundus['pages']} pages)")
        for column in ("field", "accuracy", "pages with gold value"):
            table.add_column(column, justify="right")
        table.add_row("title", f"{fundus['title_accuracy']:.3f}", str(fundus["title_pages"]))
        table.add_row("date (same day)", f"{fundus['date_accuracy']:.3f}", str(fundus["date_pages"]))
        table.add_row("authors (exact set)", f"{fundus['authors_accuracy']:.3f}", str(fundus["authors_pages"]))
        table.add_row("no authors (none returned)", f"{fundus['no_authors_accuracy']:.3f}", str(fundus["no_authors_pages"]))
        console.print(table)
        console.print(f"  {fundus['ms_per_page']:.1f} ms per page")
        if show_failures:
            for field_name, rows in fundus.get("failures", {}).items():
                for name, gold, got in rows[:show_failures]:
                    console.print(f"  {field_name} ✗ {name}: gold={gold!r} got={got!r}", markup=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`newsradar eval extraction [--data DIR] [--only benchmark|fundus] [--failures N]`."""
    parser = argparse.ArgumentParser(prog="newsradar eval extraction", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data dir (default: $NEWSRADAR_SHARED_DATA or ../shared/data)")
    parser.add_argument("--only", choices=("benchmark", "fundus"), default=None)
    parser.add_argument("--failures", type=int, default=0, help="list the first N failures per field")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print figures as one JSON document")
    args = parser.parse_args(argv)
    data_dir = args.data or default_data_dir()
    if not data_dir.is_dir():
        parser.error(f"data directory not found: {data_dir}")
    benchmark = evaluate_benchmark(data_dir, processes=args.processes) if args.only in (None, "benchmark") else None
    fundus = evaluate_fundus(data_dir, processes=args.processes) if args.only in (None, "fundus") else None
    if args.json:
        summary = {
            "benchmark": {k: v for k, v in (benchmark or {}).items() if k not in ("predictions", "worst_pages")} or None,
            "fundus": {k: v for k, v in (fundus or {}).items() if k != "failures"} or None,
        }
        print(json.dumps(summary, indent=2))
    else:
        print_report(benchmark, fundus, show_failures=args.failures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
