"""Secrets (an SMTP password, Slack webhook URLs with their tokens) never show anywhere.

The config names them through `*_env`; the commands run as users run them (subprocesses,
debug logging on), channels fail in the ways that put URLs and credentials into error
messages (login refused, connection refused, HTTP 500), and then stdout, stderr, the crawl
log next to the database and a dump of every table are searched for the secrets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from newsradar.outlets import OutletServer, Route
from test_robustness_helpers import REPO, dump_database, page, rss

PASSWORD = "hunter2-Pa55-S3CRET-PW"
TOKEN = "xoxb-S3CRET-T0KEN-4242"
DEAD_TOKEN = "xoxb-DEAD-S3CRET-9191"


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "newsradar", *args], capture_output=True, text=True,
                            cwd=str(REPO), env=env, timeout=120)
    return result.returncode, result.stdout + "\n" + result.stderr


def test_secrets_never_appear_in_output_logs_errors_or_the_database(tmp_path: Path, smtp_server: Any,
                                                                    webhook: Any) -> None:
    live_url = f"{webhook.url}/services/T0000/B0000/{TOKEN}"
    dead_url = f"http://127.0.0.1:{dead_port()}/services/T1111/B1111/{DEAD_TOKEN}"
    env = {**os.environ, "NR_TEST_SMTP_PASSWORD": PASSWORD, "NR_TEST_SLACK_URL": live_url,
           "NR_TEST_DEAD_SLACK_URL": dead_url, "NR_TEST_NOT_A_URL": f"not a url {TOKEN}"}
    secrets = [PASSWORD, TOKEN, DEAD_TOKEN, live_url, dead_url, "T0000/B0000", "T1111/B1111"]
    outputs: list[str] = []
    with OutletServer() as server:
        server.routes["/news/chip-rental-loophole"] = Route(page(
            "Chinese AI firms rent restricted Nvidia chips in Malaysian data centres to get around export controls"))
        server.routes["/feed.xml"] = Route(rss(server.base, ["/news/chip-rental-loophole"]),
                                           content_type="application/rss+xml")
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\npath = "t.db"\n[crawl]\ndelay = 0\ntimeout = 5\n'
            f'[[sources]]\nname = "wire"\nfeeds = ["{server.base}/feed.xml"]\n'
            f'[[channels]]\nname = "mail"\ntype = "email"\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_server.port}\n'
            f'starttls = false\nusername = "alerts"\npassword_env = "NR_TEST_SMTP_PASSWORD"\n'
            f'from = "newsradar@example.org"\nto = ["analyst@example.org"]\ntimeout = 5\n'
            f'[[channels]]\nname = "slack"\ntype = "slack"\nwebhook_url_env = "NR_TEST_SLACK_URL"\ntimeout = 5\n'
            f'[[channels]]\nname = "dead-slack"\ntype = "slack"\nwebhook_url_env = "NR_TEST_DEAD_SLACK_URL"\n'
            f"timeout = 2\n")
        webhook.status = 500  # the live webhook fails first: its error text is stored and shown
        for args in (["-v", "crawl", "-c", str(config)], ["alerts", "-c", str(config), "--json"],
                     ["alerts", "-c", str(config)], ["sources", "-c", str(config), "--json"],
                     ["stories", "-c", str(config), "--json"]):
            code, out = run(args, env)
            assert code == 0, out[-3000:]
            outputs.append(out)
        webhook.status = 200
        code, out = run(["-v", "deliver", "-c", str(config)], env)
        outputs.append(out)
        # a secret that is not a valid URL: the config error names the key, not the value
        bad = tmp_path / "bad.toml"
        bad.write_text(config.read_text().replace('"NR_TEST_DEAD_SLACK_URL"', '"NR_TEST_NOT_A_URL"'))
        code, out = run(["crawl", "-c", str(bad)], env)
        assert code == 2 and "channels[2].webhook_url_env: is not an http(s) URL" in out, out
        outputs.append(out)

    # the run did reach every channel and fail in the interesting ways
    dump = dump_database(tmp_path / "t.db")
    assert "deliveries:" in dump and "alerts:" in dump
    assert webhook.requests >= 1
    assert "HTTP 500" in dump and "login" in dump.lower() or "auth" in dump.lower(), dump[-2000:]
    logs = [p.read_text() for p in tmp_path.glob("*.log")]
    assert logs, "the crawl log next to the database"
    haystack = "\n".join(outputs + logs + [dump])
    leaked = [s for s in secrets if s in haystack]
    assert not leaked, (leaked, [line for line in haystack.splitlines() if any(s in line for s in leaked)][:5])
