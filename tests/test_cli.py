"""The command line as users run it: demo, extract, explain, and the read-side commands."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsradar.cli import main
from nlp.eval_detection import load_corpus, render_page
from nlp.eval_extraction import default_data_dir

DEV_CORPUS = default_data_dir() / "dev-corpus" / "articles.jsonl"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newsradar", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_demo_runs_the_whole_pipeline_offline(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "alerts raised: 3" in out, out[-3000:]
    alerts_dir = tmp_path / "demo" / "alerts"
    emls = sorted(alerts_dir.glob("*.eml"))
    slack = sorted(alerts_dir.glob("*.slack.json"))
    assert len(emls) == 3 and len(slack) == 3
    assert (alerts_dir / "alerts.atom").read_text().count("<entry") == 3
    subjects = {message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"] for p in emls}
    # the syndicated pair is one story; the archive story is too old; ordinary news never alerts
    assert not any("Memory chip prices" in s or "archive" in s or "tax loophole" in s for s in subjects)
    assert any("Hong Kong front companies" in s for s in subjects)
    payload = json.loads(slack[0].read_text())
    assert payload["text"] and payload["blocks"]
    # a second look at the store through the read-side commands
    config = str(tmp_path / "demo" / "config.toml")
    alerts = json.loads(run_cli("alerts", "-c", config, "--json").stdout)
    assert len(alerts) == 3 and all(d["state"] == "sent" for a in alerts for d in a["deliveries"])
    stories = json.loads(run_cli("stories", "-c", config, "--json", "--min-score", "0.5").stdout)
    assert any(len(s["articles"]) == 2 for s in stories)  # the syndicated copy joined its story
    sources = json.loads(run_cli("sources", "-c", config, "--json").stdout)
    assert {s["name"] for s in sources} == {"chipwire", "asia-policy-daily", "tradewatch"}
    assert all(s["last_success"] and not s["last_error"] for s in sources)


def test_extract_json_reads_html_and_gz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = ("<html><head><title>Chip curbs tighten | Example News</title>"
            '<meta property="og:title" content="Chip curbs tighten">'
            '<meta property="article:published_time" content="2026-11-20T08:00:00Z"></head><body><article>'
            "<h1>Chip curbs tighten</h1><p>By Jane Roe</p>"
            + "<p>The government announced new limits on exports of advanced processors to several countries.</p>" * 3
            + "</article></body></html>")
    plain = tmp_path / "a.html"
    plain.write_text(page)
    zipped = tmp_path / "b.html.gz"
    zipped.write_bytes(gzip.compress(page.encode()))
    assert main(["extract", str(plain), str(zipped), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        data = json.loads(line)
        assert set(data) >= {"title", "date", "authors", "language", "text"}
        assert data["title"] == "Chip curbs tighten"
        assert data["date"].startswith("2026-11-20T08:00:00")
        assert "advanced processors" in data["text"]


def test_extract_reports_unreadable_input_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "ok.html"
    good.write_text("<html><body><article><p>Hello there, this is a page.</p></article></body></html>")
    assert main(["extract", str(tmp_path / "missing.html"), str(good), "--json"]) == 0
    captured = capsys.readouterr()
    assert "missing.html: cannot read" in captured.err and "Traceback" not in captured.err
    assert len(captured.out.strip().splitlines()) == 1


@pytest.mark.skipif(not DEV_CORPUS.exists(), reason="shared dev corpus not present")
def test_explain_the_seed_story(tmp_path: Path) -> None:
    """pos-000: Alibaba, Tencent and ByteDance leasing US data-centre GPUs."""
    seed = next(a for a in load_corpus(DEV_CORPUS) if a["id"] == "pos-000")
    page = tmp_path / "pos-000.html"
    page.write_text(render_page(seed), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text('[[channels]]\nname = "console"\ntype = "console"\n')
    result = run_cli("explain", "-c", str(config), str(page), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)
    analysis = data["analysis"]
    assert {"Alibaba", "Tencent", "ByteDance"} <= set(analysis["organisations"])
    assert {"China", "United States"} <= set(analysis["countries"])
    assert analysis["score"] >= 0.5 and analysis["evidence"]
    assert any("leasing" in e["sentence"] for e in analysis["evidence"])
    assert data["rules"] == [{"name": "loopholes", "meets": True, "channels": ["console"],
                              "reasons": data["rules"][0]["reasons"]}]
    human = run_cli("explain", "-c", str(config), str(page))
    assert "rule loopholes: MEETS" in human.stdout and "Alibaba" in human.stdout
