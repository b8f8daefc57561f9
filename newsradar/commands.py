"""What each `newsradar` command does; argument parsing lives in `newsradar.cli`."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from newsradar.cli import fail, load, print_json, table
from newsradar.config import Config
from newsradar.store import now_iso, open_db

FETCH_LIMIT = 5_000_000


# -- crawl ---------------------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    sources = config.select_sources(args.source)
    return crawl_and_report(config, sources, console, send_alerts=not args.no_alerts)


def crawl_and_report(config: Config, sources: Any, console: Console, *, send_alerts: bool = True) -> int:
    from newsradar.pipeline import crawl_lock, run_pipeline

    db = open_db(config.storage.path)
    interactive = console.is_terminal
    live = Live(console=console, refresh_per_second=4, transient=True) if interactive else None

    def progress(db_: Any, report: Any) -> None:
        assert live is not None
        rows = db_.execute(
            "select source, count(*), sum(state != 'fetched') from pages where first_seen_at >= ? group by source",
            [started_at]).fetchall()
        live.update(table("crawling…", ["source", "stored", "analysed"], rows))

    started_at = now_iso()
    with crawl_lock(config.storage.path, on_wait=lambda m: console.print(Text(m), soft_wrap=True)):
        if live:
            live.start()
        try:
            report = run_pipeline(config, db, sources, send_alerts=send_alerts,
                                  on_progress=progress if live else None,
                                  crawl_log=str(config.storage.path) + ".crawl.log")
        finally:
            if live:
                live.stop()
    print_crawl_summary(console, sources, report)
    return 0 if report.crawl_exit == 0 else 1  # the crawl process itself failed (e.g. disk full)


def print_crawl_summary(console: Console, sources: Any, report: Any) -> None:
    seen = {r.source: r for r in report.sources}
    rows = []
    for source in sources:
        r = seen.get(source.name)
        if r is None:
            rows.append([source.name, "failed", "", "", "", "", f"crawl process exited {report.crawl_exit}"])
        else:
            rows.append([r.source, r.status, r.discovered, r.fetched, r.new, r.errors, r.last_error or ""])
    console.print(table(f"crawl finished in {report.seconds:.1f} s", ["source", "status", "discovered",
                                                                      "fetched", "new", "errors", "last error"],
                        rows))
    probe = report.probe
    if probe is not None and probe.quiet:
        console.print(Text(f"nothing new in the listings of {len(probe.quiet)} of {len(rows)} sources "
                           f"(checked in {probe.seconds:.1f} s; not crawled)"))
    console.print(Text(f"articles analysed: {report.nlp.processed}, failed: {report.nlp.failed}"))
    if report.alerts is not None:
        console.print(Text(str(report.alerts)))


# -- inspection ----------------------------------------------------------------------


def cmd_sources(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    db = open_db(config.storage.path)
    known = {row["name"]: row for row in db.table("sources").rows}
    data = []
    for source in config.sources:
        row = known.get(source.name, {})
        data.append({
            "name": source.name, "last_run": row.get("last_run_at"), "last_success": row.get("last_success_at"),
            "last_error": row.get("last_error"), "last_error_at": row.get("last_error_at"),
            "consecutive_failures": row.get("consecutive_failures", 0), "articles_seen": row.get("articles_seen", 0),
            "next_run": row.get("next_run_at"), "interval_seconds": source.interval,
        })
    if args.json:
        print_json(console, data)
        return 0
    console.print(table("sources", ["source", "last success", "last error", "failures", "articles", "next run"],
                        [[d["name"], d["last_success"], _error_line(d), d["consecutive_failures"],
                          d["articles_seen"], d["next_run"]] for d in data]))
    return 0


def _error_line(d: dict[str, Any]) -> str:
    return f"{d['last_error_at']}: {d['last_error']}" if d["last_error"] else ""


def cmd_stories(args: argparse.Namespace, console: Console) -> int:
    import alerts

    config = load(args)
    db = open_db(config.storage.path)
    stories = alerts.list_stories(db, min_score=args.min_score, search=args.search)
    if args.json:
        print_json(console, stories)
        return 0
    rows = []
    for s in stories:
        outlets = list(dict.fromkeys(a.get("source", "") for a in s.get("articles", [])))
        also = [a.get("source", "") for a in s.get("also_reported_by", [])]
        rows.append([f"{s.get('score') or 0:.2f}", s.get("title"), ", ".join(outlets),
                     (s.get("published") or "")[:16], (s.get("alerted_at") or "")[:16],
                     ", ".join(dict.fromkeys(also))])
    console.print(table("stories", ["score", "title", "outlets", "published", "alerted", "also reported by"],
                        rows))
    return 0


def cmd_alerts(args: argparse.Namespace, console: Console) -> int:
    import alerts

    config = load(args)
    db = open_db(config.storage.path)
    rows = alerts.list_alerts(db)
    if args.json:
        print_json(console, rows)
        return 0
    out = []
    for a in rows:
        states = "; ".join(f"{d['channel']}: {d['state']}" + (f" ({d['last_error']})" if d.get("last_error") else "")
                           for d in a.get("deliveries", []))
        out.append([a.get("id"), a.get("created_at"), f"{a.get('score', 0):.2f}", a.get("title"), states])
    console.print(table("alerts", ["id", "raised", "score", "title", "deliveries"], out))
    return 0


def cmd_deliver(args: argparse.Namespace, console: Console) -> int:
    import alerts

    config = load(args)
    db = open_db(config.storage.path)
    console.print(Text(str(alerts.deliver_pending(config, db))))
    return 0


# -- extraction and explanation ------------------------------------------------------


class InputError(Exception):
    """A page given on the command line cannot be read: one line, no traceback."""


def read_input(source: str, user_agent: str = "newsradar") -> tuple[bytes, str | None]:
    """A local .html/.html.gz file or an http(s) URL -> (bytes, url)."""
    try:
        if source.startswith(("http://", "https://")):
            import urllib.request

            request = urllib.request.Request(source, headers={"User-Agent": user_agent})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - user-given URL
                return response.read(FETCH_LIMIT), response.geturl()
        path = Path(source)
        data = path.read_bytes()
        if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                data = f.read(FETCH_LIMIT * 4)
        return data, None
    except (OSError, EOFError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise InputError(f"{source}: cannot read: {reason}") from None


def cmd_extract(args: argparse.Namespace, console: Console) -> int:
    from nlp.extract import extract_article

    failed = 0
    for item in args.inputs:
        try:
            html, url = read_input(item)
            art = extract_article(html, url)
        except InputError as exc:  # report per input, go on with the others
            failed += 1
            fail(str(exc))
            continue
        if args.json:
            sys.stdout.write(json.dumps(art.to_json(), ensure_ascii=False) + "\n")
        else:
            console.rule(Text(item))
            console.print(Text(f"title:    {art.title}\ndate:     {art.date}\nauthors:  {', '.join(art.authors)}\n"
                               f"language: {art.language}\n"))
            console.print(Text(art.text))
    return 1 if failed == len(args.inputs) else 0


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    import alerts
    import nlp

    config = load(args)
    try:
        html, url = read_input(args.input, config.crawl.user_agent)
    except InputError as exc:
        fail(str(exc))
        return 1
    art, analysis = nlp.analyse_page(config, html, url or args.input)
    rules = alerts.explain_rules(config, art, analysis, source=None)
    if args.json:
        print_json(console, {"extracted": art.to_json(), "analysis": analysis.to_json(), "rules": rules})
        return 0
    console.rule(Text(art.title or "(no title)"))
    console.print(Text(f"published: {art.date}   authors: {', '.join(art.authors) or '-'}   "
                       f"language: {art.language}   words: {len(art.text.split())}"))
    console.print(Text(f"organisations: {', '.join(analysis.organisations) or '-'}"))
    console.print(Text(f"countries:     {', '.join(analysis.countries) or '-'}"))
    console.print(Text(f"restriction terms: {', '.join(analysis.restriction_terms) or '-'}"))
    console.print(Text(f"evasion cues:      {', '.join(analysis.evasion_cues) or '-'}"))
    console.print(Text(f"score: {analysis.score:.2f}", style="bold"))
    if analysis.evidence:
        console.print(table("matching sentences", ["#", "weight", "negated", "terms / cues", "sentence"],
                            [[e.index, f"{e.weight:.2f}", "yes" if e.negated else "",
                              ", ".join(e.restriction_terms + e.evasion_cues + e.negation_cues), e.sentence]
                             for e in analysis.evidence]))
    for rule in rules:
        verdict = "MEETS" if rule["meets"] else "does not meet"
        console.print(Text(f"rule {rule['name']}: {verdict} ({'; '.join(rule['reasons'])})"))
    return 0


# -- evaluation ----------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    if args.what == "extraction":
        from nlp import eval_extraction

        return int(eval_extraction.main(["--data", args.path] if args.path else []) or 0)
    from nlp import eval_detection

    argv = [args.path] if args.path else []
    if args.config:
        argv += ["--pipeline", load(args).detection.pipeline]
    return int(eval_detection.main(argv) or 0)


# -- service and demo ----------------------------------------------------------------


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    import scheduler

    return scheduler.main(["-c", args.config])


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from newsradar.demo import run_demo

    return run_demo(Path(args.dir), console)
