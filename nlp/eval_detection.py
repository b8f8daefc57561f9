"""Evaluate loophole detection on a labelled JSONL corpus, through the real pipeline.

Each article is rendered as a plausible outlet page (nav, byline, date, a "related stories"
box and a newsletter box that mention sanctions words), run through ``nlp.extract`` and
then ``Detector.analyse`` — so boilerplate that leaks through extraction counts against us,
as it would in production. ``--raw`` skips rendering and extraction (tuning only).

    python -m nlp.eval_detection [CORPUS.jsonl] [--threshold 0.5] [--raw] [--json]
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from nlp.detect import DetectionOptions, Detector


@dataclass(frozen=True)
class Row:
    """One article's outcome."""

    id: str
    kind: str
    label: int
    score: float
    predicted: int


@dataclass(frozen=True)
class Metrics:
    """Confusion counts and the derived rates (None where undefined, e.g. no positives)."""

    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float


@dataclass
class Report:
    """Overall and per-kind metrics, per-article rows and timings."""

    threshold: float
    overall: Metrics
    per_kind: dict[str, Metrics]
    rows: list[Row]
    ms_extract: float = 0.0
    ms_analyse: float = 0.0
    raw: bool = False
    margin: dict[str, float | None] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        return self.overall.precision

    @property
    def recall(self) -> float | None:
        return self.overall.recall

    @property
    def f1(self) -> float | None:
        return self.overall.f1

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "overall": asdict(self.overall),
            "per_kind": {k: asdict(v) for k, v in self.per_kind.items()},
            "rows": [asdict(r) for r in self.rows],
            "ms_extract": self.ms_extract,
            "ms_analyse": self.ms_analyse,
            "raw": self.raw,
            "margin": self.margin,
        }


def metrics(rows: Sequence[Row]) -> Metrics:
    """Precision/recall/F1 over rows."""
    tp = sum(1 for r in rows if r.label and r.predicted)
    fp = sum(1 for r in rows if not r.label and r.predicted)
    fn = sum(1 for r in rows if r.label and not r.predicted)
    tn = sum(1 for r in rows if not r.label and not r.predicted)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else (0.0 if precision is not None and recall is not None else None)
    )
    return Metrics(len(rows), tp, fp, fn, tn, precision, recall, f1, (tp + tn) / len(rows) if rows else 0.0)


# ------------------------------------------------------------------------- rendering


def render_page(article: Mapping[str, Any], now: datetime | None = None) -> str:
    """A simple but realistic outlet page for one corpus article.

    The boilerplate deliberately talks about sanctions and export controls, so a detector
    that scores navigation or promo boxes would be caught here.
    """
    esc = html_lib.escape
    now = now or datetime.now(timezone.utc)
    published = now - timedelta(hours=float(article.get("published_offset_hours") or 0))
    outlet = str(article.get("outlet") or "newsdesk")
    title = str(article.get("title") or "")
    author = article.get("author")
    section = str(article.get("section") or "news")
    paragraphs = "\n".join(f"      <p>{esc(str(p))}</p>" for p in article.get("paragraphs") or [])
    byline = f'<p class="byline">By <a rel="author" href="/authors/{esc(str(author).lower().replace(" ", "-"))}">{esc(str(author))}</a></p>' if author else ""
    iso = published.replace(microsecond=0).isoformat()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{esc(title)} | {esc(outlet)}</title>
  <meta property="og:title" content="{esc(title)}">
  <meta property="article:published_time" content="{iso}">
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
  <header>
    <nav class="site-nav">
      <a href="/">{esc(outlet)}</a>
      <ul>
        <li><a href="/policy/">Policy</a></li><li><a href="/sanctions/">Sanctions &amp; export controls</a></li>
        <li><a href="/chips/">Chips</a></li><li><a href="/security/">Security</a></li><li><a href="/newsletters/">Newsletters</a></li>
      </ul>
    </nav>
  </header>
  <main>
    <article>
      <p class="kicker"><a href="/{esc(section)}/">{esc(section.title())}</a></p>
      <h1>{esc(title)}</h1>
      {byline}
      <time datetime="{iso}">{published.strftime("%d %B %Y, %H:%M UTC")}</time>
{paragraphs}
    </article>
    <aside class="related">
      <h2>Related stories</h2>
      <ul>
        <li><a href="/sanctions/eu-package">EU agrees new sanctions package targeting Russian banks and energy</a></li>
        <li><a href="/chips/entity-list">Commerce adds dozens of firms to the Entity List in latest export-control round</a></li>
        <li><a href="/policy/explainer">Explainer: how US export controls on AI chips work</a></li>
      </ul>
    </aside>
    <aside class="newsletter">
      <h2>Sanctions Watch</h2>
      <p>Get our weekly briefing on sanctions, export controls and trade restrictions, delivered every Friday.</p>
      <form action="/subscribe"><input type="email" name="email"><button>Sign up</button></form>
    </aside>
  </main>
  <footer><p>&copy; {now.year} {esc(outlet)}. All rights reserved. <a href="/privacy">Privacy</a> · <a href="/terms">Terms</a></p></footer>
</body>
</html>
"""


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    """Articles from a JSONL file (blank lines skipped)."""
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
    return out


def evaluate_detection(
    jsonl_path: str | Path,
    threshold: float = 0.5,
    *,
    raw: bool = False,
    options: DetectionOptions | None = None,
    detector: Detector | None = None,
) -> Report:
    """Render -> extract -> analyse every article; precision/recall/F1 overall and per kind."""
    articles = load_corpus(jsonl_path)
    detector = detector or Detector(options or DetectionOptions())
    detector.analyse("", "")  # load the pipeline outside the timings

    inputs: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    if raw:
        inputs = [(str(a.get("title") or ""), "\n\n".join(a.get("paragraphs") or [])) for a in articles]
    else:
        from nlp.extract import extract_article

        now = datetime.now(timezone.utc)
        for a in articles:
            page = render_page(a, now)
            url = f"https://{a.get('outlet', 'outlet')}.example/{a.get('section', 'news')}/{a.get('id', 'article')}"
            art = extract_article(page, url=url)
            inputs.append((art.title or "", art.text or ""))
    t1 = time.perf_counter()
    analyses = list(detector.analyse_many(inputs))
    t2 = time.perf_counter()

    rows = [
        Row(
            id=str(a.get("id")),
            kind=str(a.get("kind") or "?"),
            label=int(a.get("label") or 0),
            score=an.score,
            predicted=int(an.score >= threshold),
        )
        for a, an in zip(articles, analyses)
    ]
    kinds: dict[str, list[Row]] = {}
    for r in rows:
        kinds.setdefault(r.kind, []).append(r)
    pos = [r.score for r in rows if r.label]
    neg = [r.score for r in rows if not r.label]
    n = max(1, len(articles))
    return Report(
        threshold=threshold,
        overall=metrics(rows),
        per_kind={k: metrics(v) for k, v in sorted(kinds.items())},
        rows=rows,
        ms_extract=0.0 if raw else (t1 - t0) / n * 1000,
        ms_analyse=(t2 - t1) / n * 1000,
        raw=raw,
        margin={"lowest_positive": min(pos) if pos else None, "highest_negative": max(neg) if neg else None},
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_report(report: Report, *, rows: bool = True, console: Any = None) -> None:
    """Rich tables: per kind, overall, and (optionally) per-article scores."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Detection @ threshold {report.threshold}" + (" (raw text)" if report.raw else " (rendered + extracted)"))
    for col in ("kind", "n", "tp", "fp", "fn", "precision", "recall", "F1", "accuracy"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for kind, m in report.per_kind.items():
        table.add_row(kind, str(m.n), str(m.tp), str(m.fp), str(m.fn), _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), _fmt(m.accuracy))
    m = report.overall
    table.add_row("[bold]overall", str(m.n), str(m.tp), str(m.fp), str(m.fn), _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), _fmt(m.accuracy))
    console.print(table)
    if rows:
        art = Table(title="Articles (best first)")
        for col in ("id", "kind", "label", "score", ""):
            art.add_column(col)
        for r in sorted(report.rows, key=lambda r: -r.score):
            flag = "" if r.label == r.predicted else ("[red]FN" if r.label else "[red]FP")
            art.add_row(r.id, r.kind, str(r.label), f"{r.score:.3f}", flag)
        console.print(art)
    console.print(
        f"margin: lowest positive {_fmt(report.margin.get('lowest_positive'))}, "
        f"highest negative {_fmt(report.margin.get('highest_negative'))}; "
        f"ms/article: extract {report.ms_extract:.1f}, analyse {report.ms_analyse:.1f}"
    )


def default_corpus() -> Path:
    """The shared dev corpus (NEWSRADAR_SHARED_DATA overrides the shared data directory)."""
    base = os.environ.get("NEWSRADAR_SHARED_DATA")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / "dev-corpus" / "articles.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit 0 when the corpus was evaluated (metrics are printed, not gated)."""
    parser = argparse.ArgumentParser(prog="python -m nlp.eval_detection", description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=None, help="labelled JSONL (default: shared dev corpus)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--raw", action="store_true", help="skip HTML rendering + extraction")
    parser.add_argument("--pipeline", default=DetectionOptions.pipeline)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-rows", action="store_true", help="omit the per-article table")
    args = parser.parse_args(list(argv) if argv is not None else None)
    corpus = Path(args.corpus) if args.corpus else default_corpus()
    if not corpus.exists():
        print(f"corpus not found: {corpus}", file=sys.stderr)
        return 2
    report = evaluate_detection(corpus, args.threshold, raw=args.raw, options=DetectionOptions(pipeline=args.pipeline))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, rows=not args.no_rows)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
