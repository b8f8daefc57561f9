"""URL hygiene: canonical forms, host allow-lists and the article-link test.

One canonical form per article is what makes the crawl incremental: the same story
reached through a feed (with utm_* tags), a sitemap and a section page is fetched once.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|_hsenc|_hsmi|ref|ref_src|"
    r"cmpid|ito|itm_[a-z_]+|ocid|smid|sr_share|at_medium|at_campaign|guccounter|rss|feed|mbid|ncid|cid)$",
    re.IGNORECASE,
)
SKIPPED_EXTENSIONS = re.compile(
    r"\.(pdf|jpe?g|png|gif|webp|svg|ico|bmp|tiff?|mp[34]|m4a|mov|avi|webm|ogg|wav|zip|gz|tgz|rar|7z|exe|dmg|"
    r"docx?|xlsx?|pptx?|csv|json|css|js|woff2?|ttf|eot)$",
    re.IGNORECASE,
)
# Path segments that name listings rather than articles.
NON_ARTICLE_SEGMENTS = {
    "tag", "tags", "topic", "topics", "author", "authors", "category", "categories", "section", "sections",
    "page", "search", "archive", "archives", "about", "contact", "subscribe", "newsletter", "newsletters",
    "login", "signin", "sign-in", "register", "account", "privacy", "terms", "cookies", "feed", "rss",
    "calendar", "events", "jobs", "careers", "advertise", "podcasts", "video", "videos", "gallery", "staff",
    "people", "cart", "wp-admin", "wp-login.php", "cdn-cgi", "amp",
}
NON_ARTICLE_QUERY = re.compile(r"(^|&)(page|p|paged|offset|start|sort|date|month|year|s|q|replytocom)=", re.I)
DATE_IN_PATH = re.compile(r"/(19|20)\d{2}/(0?[1-9]|1[0-2])(/|$)|/(19|20)\d{2}-\d{2}-\d{2}")
ID_IN_PATH = re.compile(r"\d{5,}")


@functools.lru_cache(maxsize=16384)  # each article URL is canonicalised at request and at response
def canonicalize(url: str) -> str:
    """The canonical form used as the key of every stored URL.

    Lower-case scheme and host, default port dropped, fragment dropped, tracking
    parameters removed, remaining query sorted (w3lib), trailing-slash kept as is.
    Never raises: a URL that cannot be parsed (a port out of range, a broken IPv6
    literal) is returned stripped, and `host_key` refuses it.
    """
    try:
        return _canonicalize(url)
    except ValueError:
        return url.strip()


# http(s), a lower-case ASCII host, an optional port, a path of unreserved characters whose
# segments do not start with "." (no dot segments to resolve), no query, no fragment: a URL
# that every step of `_canonicalize` would leave as it is, but for the default port and an
# empty path. Most article links look like this; the full route costs ~0.1 ms per URL.
_PLAIN_URL = re.compile(r"(https?)://((?:[a-z0-9][a-z0-9-]{0,62}\.)*[a-z0-9][a-z0-9-]{0,62})(?::([0-9]{1,5}))?"
                        r"((?:/(?!\.)[A-Za-z0-9._~-]*)*)")


def _canonicalize(url: str) -> str:
    return canonicalize_plain(url) or canonicalize_full(url)


def canonicalize_plain(url: str) -> str | None:
    """The canonical form of a plain URL (see _PLAIN_URL), or None for any other."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None or plain[2].endswith("-"):
        return None
    scheme, host, port_text, path = plain.groups()
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        return None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{path or '/'}"


def canonicalize_full(url: str) -> str:
    """Every step, for any URL (raises ValueError on what cannot be parsed)."""
    parts = urlsplit(safe_url_string(url.strip()))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if ":" in (parts.hostname or "") and not host.startswith("["):  # IPv6 literal
        host = f"[{parts.hostname}]" + (f":{port}" if port else "")
    rebuilt = urlunsplit((parts.scheme.lower(), host, parts.path or "/", urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def host_key(url: str) -> tuple[str, int | None] | None:
    """(host, port) of an http(s) URL, or None for anything else (javascript:, data:, credentials...).

    The host is read after the same normalisation Scrapy applies to every request URL
    (w3lib's `safe_url_string`: IDNA, so `bücher.example` is `xn--bcher-kva.example` and
    fullwidth letters fold to ASCII): the allow-list compares what is actually fetched.
    A homograph (Cyrillic 'о' for Latin 'o') stays a different host.
    """
    plain = _PLAIN_HOST_URL.match(url)
    if plain is not None:  # fast path: w3lib would leave this scheme, host and port as they are
        port_text = plain["port"]
        if not port_text or int(port_text) <= 65535:
            return _plain_host_key(plain["scheme"].lower(), plain["host"].lower(),
                                   int(port_text) if port_text else None)
    try:
        parts = urlsplit(safe_url_string(url.strip()))
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower().rstrip(".")
    with contextlib.suppress(ValueError):
        host = ipaddress.ip_address(host).compressed  # one spelling per IP address ([::ffff:7f00:1])
    return host, port or default


# An http(s) URL whose host is plain ASCII letters, digits, dots and hyphens, followed by an
# optional port and the end of the authority: nothing for IDNA, percent-decoding or
# credentials to change. Anything else (non-ASCII, '%', '@', '\\', whitespace) goes through w3lib.
_PLAIN_HOST_URL = re.compile(r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?(?=[/?#]|$)",
                             re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _plain_host_key(scheme: str, host: str, port: int | None) -> tuple[str, int | None] | None:
    host = host.rstrip(".")
    if not host:
        return None
    with contextlib.suppress(ValueError):
        host = ipaddress.ip_address(host).compressed
    return host, port or (443 if scheme == "https" else 80)


def allowed_hosts(urls: Iterable[str]) -> frozenset[tuple[str, int | None]]:
    return frozenset(k for k in (host_key(u) for u in urls) if k is not None)


def is_allowed(url: str, hosts: frozenset[tuple[str, int | None]]) -> bool:
    """Only the exact hosts (and ports) of a source's own URLs may be fetched."""
    key = host_key(url)
    return key is not None and key in hosts


def looks_like_document(url: str) -> bool:
    """False for URLs whose extension says PDF, image, media or archive (or that do not parse)."""
    try:
        return not SKIPPED_EXTENSIONS.search(urlsplit(url).path)
    except ValueError:
        return False


def looks_like_article(url: str, listing_url: str) -> bool:
    """Guess whether a link on a section page is an article rather than navigation.

    Articles have a slug of several words, a date in the path or a long numeric id;
    tag/author/category/pagination/calendar links and the listing itself are not.
    """
    if host_key(url) is None:  # javascript:, mailto:, credentials, unparsable: never an article
        return False
    parts = urlsplit(url)
    if canonicalize(url) == canonicalize(listing_url) or not looks_like_document(url):
        return False
    if parts.query and NON_ARTICLE_QUERY.search(parts.query):
        return False
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return False
    if any(s.lower() in NON_ARTICLE_SEGMENTS for s in segments):
        return False
    last = re.sub(r"\.(s?html?|php|aspx?)$", "", segments[-1].lower())
    if re.fullmatch(r"\d{1,4}", last) and DATE_IN_PATH.search(parts.path) and len(segments) <= 3:
        return False  # /2024/05/ or /2024/05/12: a date archive, not an article
    words = [w for w in re.split(r"[-_]+", last) if w]
    if len(words) >= 3 and sum(w.isalpha() for w in words) >= 2:
        return True
    return bool(ID_IN_PATH.search(last)) or bool(DATE_IN_PATH.search(parts.path) and len(words) >= 2)
