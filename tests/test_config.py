"""Configuration: complete validation before anything runs; exit 2 with one line naming file, key, problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from newsradar.cli import main
from newsradar.config import BUILTIN_RULE, ConfigError, Secret, load_config, parse_duration

REPO = Path(__file__).resolve().parents[1]

GOOD = """
[storage]
path = "data/radar.db"

[crawl]
user_agent = "newsradar-test"
max_age_days = 7

[[sources]]
name = "one"
feeds = ["https://example.org/feed.xml"]
interval = "10m"

[[sources]]
name = "two"
sitemaps = ["https://example.org/news-sitemap.xml"]
pages = ["https://example.org/policy/"]
interval = "1h30m"

[[channels]]
name = "team-email"
type = "email"
smtp_host = "smtp.example.org"
username = "alerts"
password_env = "NR_TEST_SMTP_PASSWORD"
from = "newsradar@example.org"
to = ["analyst@example.org"]

[[channels]]
name = "policy-slack"
type = "slack"
webhook_url_env = "NR_TEST_SLACK"
"""

ENV = {"NR_TEST_SMTP_PASSWORD": "hunter2-secret", "NR_TEST_SLACK": "https://hooks.example.org/T000/B000/XXXX"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env=ENV)
    assert config.storage.path == (tmp_path / "data" / "radar.db").resolve()
    assert config.crawl.max_age_days == 7 and config.crawl.timeout == 30 and config.crawl.obey_robots is True
    assert config.crawl.http_client == "aiohttp"
    assert [s.name for s in config.sources] == ["one", "two"]
    assert config.sources[1].interval == 5400
    email = config.channels[0]
    assert email.options["starttls"] is True and email.options["smtp_port"] == 587
    assert isinstance(email.options["password"], Secret)
    # no [[rules]]: the built-in rule sends to every channel
    assert [r.name for r in config.rules] == [BUILTIN_RULE]
    assert config.rules[0].channels == ("team-email", "policy-slack") and config.rules[0].min_score == 0.5


def test_secrets_never_show_in_repr_or_format(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env=ENV)
    password = config.channels[0].options["password"]
    assert password.reveal() == "hunter2-secret"
    for shown in (repr(config), str(config), f"{password}", repr(password), str(password)):
        assert "hunter2" not in shown and "XXXX" not in shown


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "config.toml", env={})
    assert len(config.sources) >= 8
    assert all(s.feeds or s.sitemaps or s.pages for s in config.sources)


BAD_CASES = [
    ("[crawl]\nuser_agnet = 'x'\n", 'crawl.user_agnet: unknown key'),
    ("[storage]\npath = 'x.db'\ncolour = 1\n", "storage.colour: unknown key"),
    ("[crawler]\ndelay = 1\n", "crawler: unknown key"),
    ("[crawl]\ndelay = 'fast'\n", 'crawl.delay: "fast" is not a number'),
    ("[crawl]\nobey_robots = 1\n", "crawl.obey_robots: 1 is not true or false"),
    ("[crawl]\nconcurrency_per_host = 0\n", "crawl.concurrency_per_host: 0 must be at least 1"),
    ("[crawl]\ntimeout = 0\n", "crawl.timeout: 0 must be greater than 0"),
    ("[crawl]\nhttp_client = 'curl'\n", 'crawl.http_client: "curl" is not an HTTP client (use aiohttp, twisted)'),
    ("[[sources]]\nfeeds = ['https://a.org/f']\n", "sources[0].name: is required"),
    ("[[sources]]\nname = 'a'\n", "sources[0]: needs at least one of feeds, sitemaps, pages"),
    ("[[sources]]\nname = 'a'\nfeeds = ['https://a.org/f']\n[[sources]]\nname = 'b'\nfeeds = ['https://a.org/f']\n"
     "[[sources]]\nname = 'c'\nfeeds = ['https://a.org/f']\n[[sources]]\nname = 'd'\nfeeds = ['https://a.org/f']\n"
     "interval = '5 minutes'\n",
     'sources[3].interval: "5 minutes" is not a duration (use 30s, 10m, 1h)'),
    ("[[sources]]\nname = 'a'\nfeeds = 'https://a.org/f'\n", 'sources[0].feeds: "https://a.org/f" is not a list'),
    ("[[sources]]\nname = 'a'\nfeeds = ['ftp://a.org/f']\n", 'sources[0].feeds[0]: "ftp://a.org/f" is not an http'),
    ("[[sources]]\nname = 'a'\nfeeds = ['https://a.org/f']\n[[sources]]\nname = 'a'\nfeeds = ['https://b.org/f']\n",
     'sources[1].name: "a" is used by another source'),
    ("[[sources]]\nname = 'a'\nfeeds = ['https://a.org/f']\ninterval = 600\n",
     "sources[0].interval: 600 is not a duration"),
    ("[[channels]]\nname = 'x'\ntype = 'pager'\n", 'channels[0].type: "pager" is not a channel type'),
    ("[[channels]]\nname = 'x'\ntype = 'slack'\nwebhook_url_env = 'NR_TEST_UNSET_VARIABLE'\n",
     "channels[0].webhook_url_env: environment variable NR_TEST_UNSET_VARIABLE is not set"),
    ("[[channels]]\nname = 'x'\ntype = 'slack'\n", "channels[0].webhook_url: is required"),
    ("[[channels]]\nname = 'x'\ntype = 'email'\nsmtp_host = 'h'\nfrom = 'a@b.c'\nto = ['not-an-address']\n",
     'channels[0].to[0]: "not-an-address" is not an email address'),
    ("[[channels]]\nname = 'c'\ntype = 'console'\n[[rules]]\nname = 'r'\nchannels = ['nope']\n",
     'rules[0].channels[0]: no channel named "nope"'),
    ("[[rules]]\nname = 'r'\nmin_score = 1.5\n", "rules[0].min_score: 1.5 must be at most 1.0"),
    ("[watchlists]\nevasion_cues = 'smuggle'\n", "watchlists.evasion_cues"),
    ("[detection]\npipeline = 3\n", "detection.pipeline: 3 is not a string"),
    ("[storage\npath = 'x'\n", "invalid TOML"),
]


@pytest.mark.parametrize("text, expected", BAD_CASES)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                          expected: str) -> None:
    path = write(tmp_path, text)
    assert main(["crawl", "-c", str(path), "--no-alerts"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{path}: ") and expected in err, err


def test_missing_file_and_unknown_source_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err
    path = write(tmp_path, "[[sources]]\nname = 'a'\nfeeds = ['https://a.org/f']\n")
    assert main(["crawl", "-c", str(path), "--source", "b"]) == 2
    assert "no source named 'b'" in capsys.readouterr().err


def test_config_error_from_the_console_script(tmp_path: Path) -> None:
    """The real entry point, as a user runs it: exit status 2, no traceback."""
    path = write(tmp_path, "[[sources]]\nname = 'a'\nfeeds = ['https://a.org/f']\ninterval = 'soon'\n")
    result = subprocess.run([sys.executable, "-m", "newsradar", "crawl", "-c", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f'{path}: sources[0].interval: "soon" is not a duration (use 30s, 10m, 1h)'


def test_error_messages_never_contain_secrets(tmp_path: Path) -> None:
    text = GOOD + "\n[[rules]]\nname = 'r'\nchannels = ['missing']\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=ENV)
    assert "hunter2" not in str(info.value) and "XXXX" not in str(info.value)


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2d", 172800),
                                           ("0.5s", 0.5), ("5 minutes", None), ("", None), ("0s", None),
                                           ("10", None)])
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
