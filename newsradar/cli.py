"""The `newsradar` command line: a thin door onto the stage functions.

Each command loads and validates the config (exit 2 with one line naming file, key and
problem), opens the store, calls one or two stage functions and prints the result.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from newsradar.config import Config, ConfigError, load_config
from newsradar.store import StoreError, open_db

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Key=value lines on stderr: one event per line, parseable by a log collector."""
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT, force=True)
    for noisy in ("scrapy", "twisted", "trafilatura", "htmldate", "filelock", "urllib3", "asyncio", "apscheduler",
                   "slack_sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsradar", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        return p

    def config_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", default="config.toml", help="config file (default ./config.toml)")

    p = add("crawl", "one-off run: discover, fetch, extract, tag, score, alert; then a summary")
    config_arg(p)
    p.add_argument("--source", action="append", default=[], metavar="NAME", help="only this source (repeatable)")
    p.add_argument("--no-alerts", action="store_true", help="store and score, but raise and send no alerts")

    p = add("run", "the scheduler in the foreground (same as `python scheduler.py`)")
    config_arg(p)

    p = add("demo", "the whole pipeline on bundled sample outlets served on loopback; needs no network")
    p.add_argument("--dir", default="newsradar-demo", help="where the demo writes its database and alert files")

    p = add("alerts", "alerts raised, with delivery state per channel")
    config_arg(p)
    p.add_argument("--json", action="store_true")

    p = add("deliver", "send pending deliveries now (channels that were down are retried)")
    config_arg(p)

    p = add("stories", "stored stories, best first")
    config_arg(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--min-score", type=float, default=0.0, metavar="X")
    p.add_argument("--search", metavar="TEXT")

    p = add("sources", "per source: last success, last error, articles seen, next run")
    config_arg(p)
    p.add_argument("--json", action="store_true")

    p = add("extract", "extraction alone: title, date, authors, language, text")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_URL")
    p.add_argument("--json", action="store_true", help="one JSON object per input line")

    p = add("explain", "why a page would or would not alert")
    config_arg(p)
    p.add_argument("input", metavar="FILE_OR_URL")
    p.add_argument("--json", action="store_true")

    p = add("eval", "quality figures: extraction benchmarks or a labelled detection corpus")
    p.add_argument("what", choices=["extraction", "detection"])
    p.add_argument("path", nargs="?", help="data dir (extraction) or labelled .jsonl (detection)")
    p.add_argument("-c", "--config", default=None, help="config whose watch lists and pipeline to use")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    setup_logging(args.verbose, quiet=args.command not in ("run", "crawl", "deliver"))
    from newsradar import commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return int(handler(args, console) or 0)
    except ConfigError as exc:
        fail(str(exc))
        return EXIT_CONFIG
    except StoreError as exc:
        fail(f"error: {exc}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        fail("interrupted")
        return 130


def fail(message: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width: scripts grep it."""
    sys.stderr.write(" ".join(message.splitlines()) + "\n")
    sys.stderr.flush()


def load(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config))


def print_json(console: Console, data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for row in rows:
        t.add_row(*(Text("" if v is None else str(v)) for v in row))  # web text is never markup
    return t


__all__ = ["main", "build_parser", "load", "open_db", "print_json", "table", "EXIT_CONFIG"]
