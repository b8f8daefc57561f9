"""Property-based tests (hypothesis): URL canonicalisation and configuration loading.

Example counts are kept modest so the suite stays fast; the strategies aim at the inputs
that break parsers (IPv6 literals, IDNs, ports out of range, percent-escapes, NULs,
surrogate-free unicode, TOML values of every type in every place).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from crawler.listings import normalise_date
from crawler.urls import canonicalize, host_key, looks_like_article
from newsradar.cli import main as cli_main
from newsradar.config import ConfigError, load_config

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------ URLs

text_no_surrogates = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
label = st.one_of(
    st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True),
    st.sampled_from(["bücher", "пример", "xn--bcher-kva", "ｌｏｃａｌｈｏｓｔ", "lоcalhost", "EXAMPLE",
                     "ß"]),
)
hostname = st.one_of(
    st.lists(label, min_size=1, max_size=4).map(".".join),
    st.lists(label, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + "."),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["[::1]", "[2001:db8::1]", "[::ffff:127.0.0.1]", "localhost", "127.0.0.1"]),
)
port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"), st.sampled_from([":80", ":443"]))
path_segment = st.one_of(
    st.from_regex(r"[a-zA-Z0-9._~-]{0,12}", fullmatch=True),
    st.sampled_from(["..", ".", "%2F", "%7e", "%E2%82%AC", "€", "a b", "%zz", ";x=1", "~user", "%00"]),
    text_no_surrogates,
)
query_pair = st.tuples(
    st.one_of(st.sampled_from(["utm_source", "fbclid", "id", "page", "q", "ref", "a", "B"]), text_no_surrogates),
    st.one_of(st.sampled_from(["", "1", "x y", "%20", "€", "a&b"]), text_no_surrogates),
)


@st.composite
def urls(draw: Any) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "HtTpS"]))
    path = "/" + "/".join(draw(st.lists(path_segment, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.lists(query_pair, max_size=4)))
    fragment = draw(st.one_of(st.just(""), text_no_surrogates.map(lambda f: "#" + f)))
    return f"{scheme}://{draw(hostname)}{draw(port)}{path}{'?' + query if query else ''}{fragment}"


@FAST
@given(urls())
def test_canonicalize_is_idempotent_and_keeps_the_host(url: str) -> None:
    once = canonicalize(url)
    assert canonicalize(once) == once
    assert host_key(once) == host_key(url)
    assert "#" not in once


@FAST
@given(st.one_of(st.text(max_size=60), urls().map(lambda u: u.replace("://", st_mangle(u)))))
def test_url_helpers_never_raise_on_any_string(text: str) -> None:
    canonicalize(text)
    host_key(text)
    looks_like_article(text, "http://example.org/section/")


def st_mangle(url: str) -> str:
    return ":/" if len(url) % 3 == 0 else ("://user:pw@" if len(url) % 3 == 1 else "://[")


@FAST
@given(st.one_of(st.text(max_size=40), st.datetimes().map(lambda d: d.isoformat()),
                 st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S +9999"))))
def test_listing_dates_never_raise_and_stay_in_range(text: str) -> None:
    value = normalise_date(text)
    if value is not None:
        year = datetime.fromisoformat(value).year
        assert 1990 <= year <= datetime.now().year + 1


# ------------------------------------------------------------------------ configuration

SECTION_KEYS = ["storage", "crawl", "sources", "channels", "rules", "detection", "watchlists", "scheduler"]
LEAF_KEYS = [
    "path", "user_agent", "obey_robots", "max_age_days", "concurrency_per_host", "delay", "timeout",
    "max_page_bytes", "name", "feeds", "sitemaps", "pages", "interval", "type", "smtp_host", "smtp_port",
    "starttls", "ssl", "username", "password", "password_env", "from", "to", "webhook_url", "webhook_url_env",
    "color", "min_score", "channels", "organisations", "countries", "sources", "kinds", "pipeline", "batch_size",
    "delivery_interval", "maintenance_interval", "jitter", "keep_fetch_log_days", "restriction_terms",
    "evasion_cues", "negation_cues",
]
tricky_strings = st.sampled_from([
    "", " ", "http://", "https://[::1", "http://a:99999/", "http://user:pw@example.org/feed", "http://example.org/",
    "ftp://example.org/", "10m", "0s", "1e999h", "5 minutes", "email", "slack", "file", "console", "a@b", "x\r\ny",
    "NR_UNSET_VAR", "NR_SET_VAR", "\x00", "../../etc", "/abs/path", "loopholes", "é" * 70, "one", "two",
])
scalar = st.one_of(
    tricky_strings, text_no_surrogates, st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
    st.sampled_from([0, 1, 65536, -1, 2 ** 63]), st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(), st.dates(), st.times(),
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.sampled_from(LEAF_KEYS), text_no_surrogates), inner,
                                            max_size=4)),
    max_leaves=12,
)
url_like = st.one_of(tricky_strings, urls(), urls().map(lambda u: u.replace("://", st_mangle(u))))
number = st.one_of(st.integers(-5, 70_000), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0, 1024, 2 ** 63, 10 ** 30, 0.5, 1.0, 3601]))
duration = st.one_of(st.sampled_from(["10m", "0s", "1h30m", "99999999999d", "5 minutes", "1.5h", "", "2d"]),
                     text_no_surrogates)
BY_KEY = {
    **{k: st.lists(url_like, max_size=3) for k in ("feeds", "sitemaps", "pages")},
    **{k: url_like for k in ("webhook_url", "smtp_host")},
    **{k: number for k in ("max_age_days", "concurrency_per_host", "delay", "timeout", "max_page_bytes",
                           "smtp_port", "min_score", "batch_size", "jitter", "keep_fetch_log_days")},
    **{k: duration for k in ("interval", "delivery_interval", "maintenance_interval")},
    "name": st.one_of(st.sampled_from(["one", "two", "mail", "hook", "files", "loopholes"]), text_no_surrogates),
    "type": st.sampled_from(["email", "slack", "file", "console", "sms"]),
    **{k: st.sampled_from(["NR_SET_VAR", "NR_UNSET_VAR", ""]) for k in ("password_env", "webhook_url_env")},
    **{k: st.one_of(tricky_strings, st.just("a@b.c")) for k in ("from", "username", "path", "pipeline")},
    **{k: st.lists(st.one_of(tricky_strings, st.sampled_from(["one", "mail", "a@b.c"])), max_size=3)
       for k in ("to", "channels", "sources", "organisations", "countries", "kinds", "restriction_terms")},
}


SECTION_FIELDS = {
    "storage": ["path"],
    "crawl": ["user_agent", "obey_robots", "max_age_days", "concurrency_per_host", "delay", "timeout",
              "max_page_bytes"],
    "sources": ["name", "feeds", "sitemaps", "pages", "interval"],
    "channels": ["name", "type", "smtp_host", "smtp_port", "starttls", "ssl", "username", "password",
                 "password_env", "from", "to", "timeout", "webhook_url", "webhook_url_env", "path", "color"],
    "rules": ["name", "min_score", "channels", "organisations", "countries", "sources", "kinds"],
    "detection": ["pipeline", "batch_size"],
    "watchlists": ["restriction_terms", "evasion_cues", "negation_cues", "organisations", "countries"],
    "scheduler": ["delivery_interval", "maintenance_interval", "jitter", "keep_fetch_log_days"],
}


def mostly(usual: st.SearchStrategy, rare: st.SearchStrategy, one_in: int = 8) -> st.SearchStrategy:
    return st.integers(1, one_in).flatmap(lambda i: rare if i == 1 else usual)


@st.composite
def leaf_table(draw: Any, section: str) -> dict[str, Any]:
    key = mostly(st.sampled_from(SECTION_FIELDS[section]),
                 st.one_of(st.sampled_from(LEAF_KEYS), text_no_surrogates), one_in=12)
    keys = draw(st.lists(key, max_size=7, unique=True))
    if "name" in SECTION_FIELDS[section] and "name" not in keys and draw(st.integers(0, 4)):
        keys.insert(0, "name")
    return {k: draw(mostly(BY_KEY[k], value) if k in BY_KEY else value) for k in keys}


@st.composite
def document(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(mostly(st.sampled_from(SECTION_KEYS), text_no_surrogates, one_in=15), max_size=7,
                         unique=True))
    doc: dict[str, Any] = {}
    for k in keys:
        if k in ("sources", "channels", "rules") and draw(st.integers(0, 9)):
            doc[k] = draw(st.lists(leaf_table(k), min_size=1, max_size=3))
        elif k in SECTION_KEYS and draw(st.integers(0, 9)):
            doc[k] = draw(leaf_table(k))
        else:
            doc[k] = draw(value)
    return doc


def toml_key(key: str) -> str:
    return toml_string(key)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else ("-inf" if v == -math.inf else repr(v)))
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


CONFIG_DIR = Path(tempfile.mkdtemp(prefix="newsradar-config-props-"))
ENV = {"NR_SET_VAR": "value"}


def check_config_file(path: Path) -> None:
    """Either a Config or a ConfigError; and then the CLI exits 2 with one line, no traceback."""
    try:
        load_config(path, env=ENV)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
    else:
        return
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(["crawl", "-c", str(path)])
    lines = err.getvalue().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document())
def test_any_toml_document_loads_or_is_a_config_error(doc: dict[str, Any]) -> None:
    path = CONFIG_DIR / "config.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    check_config_file(path)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_load_or_are_a_config_error(raw: bytes) -> None:
    path = CONFIG_DIR / "raw.toml"
    path.write_bytes(raw)
    check_config_file(path)


def test_config_property_env_is_isolated() -> None:
    assert "NR_UNSET_VAR" not in os.environ
