"""Article extraction: body text, title, publication date, authors and language.

The body comes from Trafilatura (comments off) run on a pre-cleaned lxml tree; the
metadata comes from our own reading of the same tree (JSON-LD, meta tags, bylines),
because page metadata is more reliable than Trafilatura's heuristics for news pages,
and from the crawler's feed metadata where the page yields nothing.

The module never raises on bad input: garbage in, a (possibly empty) article out.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from lxml import etree, html as lxml_html
from lxml.html import HtmlElement

LOGGER = logging.getLogger(__name__)


class DropTrafilaturaDiscardNotice(logging.Filter):
    """Drop trafilatura's per-page "discarding data" WARNING: for us a page without body is normal.

    A logger-level setting alone is not enough: applications reconfigure library loggers
    (`newsradar.cli.setup_logging` sets "trafilatura" back to WARNING), after which every
    body-less page would print a warning. Worse, a root handler bound to a stream that has
    since been closed (a test's captured stderr) turns each of those into a
    "--- Logging error ---" traceback. The filter sits on the emitting logger, so it holds
    whatever levels and handlers the application sets; extract_body logs its own DEBUG line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and str(record.msg).startswith("discarding data"))


# Defaults for library chatter; applications may change these, the filter stays.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)
_TRAFILATURA_CORE_LOGGER = logging.getLogger("trafilatura.core")
if not any(isinstance(f, DropTrafilaturaDiscardNotice) for f in _TRAFILATURA_CORE_LOGGER.filters):
    _TRAFILATURA_CORE_LOGGER.addFilter(DropTrafilaturaDiscardNotice())

MAX_TITLE_CHARS = 1000
MAX_AUTHOR_CHARS = 100
MAX_AUTHORS = 20


@dataclass(frozen=True)
class ExtractedArticle:
    """What the extraction stage hands to tagging and storage."""

    title: str | None
    date: str | None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    text: str = ""

    def to_json(self) -> dict[str, object]:
        """Plain-JSON form used by `newsradar extract --json` and storage."""
        return {
            "title": self.title,
            "date": self.date,
            "authors": list(self.authors),
            "language": self.language,
            "text": self.text,
        }


# --------------------------------------------------------------------------- input


def read_html_file(path: str | Path) -> bytes:
    """Read a stored page; `.gz` files (as the crawler and test data store them) are inflated."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            # truncated archive: keep what can be inflated
            return read_truncated_gzip(data)
    return data


def read_truncated_gzip(data: bytes) -> bytes:
    """Inflate as much of a damaged gzip stream as possible."""
    import zlib

    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(data)
    except zlib.error:
        return b""


def decode_html(data: bytes | str) -> str:
    """Bytes to text: BOM, then valid UTF-8, then the declared charset, else detection.

    Bytes that decode as UTF-8 and contain multi-byte sequences are UTF-8 whatever the
    page declares: no real windows-1252/latin-1 text forms such sequences by accident,
    while pages re-encoded to UTF-8 by a CMS or proxy keep their stale `<meta charset>`.
    w3lib handles the rest (BOM, http-equiv/meta charset, latin-1 read as windows-1252).
    """
    if isinstance(data, str):
        return data
    from w3lib.encoding import html_to_unicode, read_bom

    bom_encoding, _ = read_bom(data)
    if bom_encoding is None and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        _, text = html_to_unicode(None, data, auto_detect_fun=detect_encoding)
        return text
    except Exception:  # pragma: no cover - defensive: never fail on bytes
        return data.decode("utf-8", errors="replace")


def detect_encoding(data: bytes) -> str | None:
    """Charset guess for undeclared pages: strict UTF-8 first (cheap, usual), then statistics."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        return best.encoding if best else None
    except Exception:  # pragma: no cover
        return None


def html_as_utf8(data: bytes | str) -> bytes:
    """The page as UTF-8 bytes for the parser, decoded by `decode_html`'s rules.

    Bytes that `decode_html` reads as UTF-8 (no BOM, multi-byte, valid) are passed on as
    they are: most pages are UTF-8, and a decode/encode round trip of a typical 250 kB page
    costs more than the validation alone.
    """
    if isinstance(data, bytes) and not data.isascii():
        from w3lib.encoding import read_bom

        if read_bom(data)[0] is None:
            try:
                data.decode("utf-8")
                return data
            except UnicodeDecodeError:
                pass
    return decode_html(data).encode("utf-8", "surrogatepass")


# Characters XML (hence lxml) rejects: C0 controls but tab/LF/CR, and U+FFFE/U+FFFF. In
# UTF-8 the controls are single bytes that never occur inside multi-byte sequences, so a
# byte-level delete is exact (and ~10x faster than a regex over the decoded text).
_XML_INVALID_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D))
_XML_NONCHARACTERS_UTF8 = ("\ufffe".encode("utf-8"), "\uffff".encode("utf-8"))
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.I)
_NOT_SPACE = re.compile(rb"\S")


_PARSERS = threading.local()


def html_parser() -> lxml_html.HTMLParser:
    """One lxml HTML parser per thread (parsers are reusable, not thread-safe).

    Its elements are all plain `HtmlElement`s, chosen in C: lxml.html's own lookup asks a
    Python method for every element object lxml creates (a form or an input gets its own
    class, which neither we nor Trafilatura use), and Trafilatura creates hundreds per page:
    that call alone was ~7% of the extraction."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = lxml_html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                                      remove_comments=True, remove_pis=True, huge_tree=True)
        parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
            element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment, pi=lxml_html.HtmlProcessingInstruction,
            entity=lxml_html.HtmlEntity))
        _PARSERS.parser = parser
    return parser


def parse_html(text: str | bytes) -> HtmlElement | None:
    """One lenient lxml parse shared by Trafilatura and our metadata readers (bytes must be UTF-8)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    data = data.translate(None, _XML_INVALID_BYTES)
    for sequence in _XML_NONCHARACTERS_UTF8:
        if sequence in data:
            data = data.replace(sequence, b"")
    data = _XML_DECL.sub(b"", data, count=1)
    if not _NOT_SPACE.search(data) or (len(data) < 1000 and not data.decode("utf-8", "replace").strip()):
        return None  # nothing but (possibly Unicode) white space
    parser = html_parser()
    try:
        tree = lxml_html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError, TypeError, etree.XMLSyntaxError):
        return None
    if tree is None or not isinstance(tree, HtmlElement):
        return None
    return tree


# --------------------------------------------------------------------------- text helpers


def normalize_space(text: str | None) -> str:
    """Collapse runs of whitespace (incl. NBSP) to one space, trimmed."""
    if not text:
        return ""
    return " ".join(text.split())


def element_text(element: etree._Element) -> str:
    """Visible text of an element, whitespace-normalised; scripts/styles skipped."""
    try:
        parts = element.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")
    except (etree.XPathError, ValueError):
        return ""
    return normalize_space(" ".join(str(p) for p in parts))


INVISIBLE_CHARS = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def clean_html_text(text: str | None) -> str:
    """Metadata strings sometimes carry markup, entities or invisible characters; make plain text."""
    if not text:
        return ""
    text = INVISIBLE_CHARS.sub("", str(text))
    if "<" in text and ">" in text:
        text = re.sub(r"<[^>]{0,500}>", " ", text)
    if "&" in text:
        import html as html_module

        text = html_module.unescape(text)
    return normalize_space(text)


# --------------------------------------------------------------------------- page metadata


ARTICLE_TYPES = re.compile(r"(article|posting|report|blog|story|analysisnews|review|creativework)$", re.I)


@dataclass
class PageMetadata:
    """Raw metadata read from one page, before choosing among candidates."""

    meta: dict[str, list[str]] = field(default_factory=dict)
    jsonld_articles: list[dict[str, Any]] = field(default_factory=list)
    jsonld_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    site_names: list[str] = field(default_factory=list)
    html_title: str = ""
    h1: list[str] = field(default_factory=list)
    lang_attr: str = ""
    host: str = ""


def read_meta_tags(tree: HtmlElement) -> dict[str, list[str]]:
    """All <meta> name/property/itemprop/http-equiv values, keyed by lower-cased key."""
    found: dict[str, list[str]] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if content is None:
            continue
        content = normalize_space(content)
        if not content:
            continue
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = element.get(attribute)
            if key:
                found.setdefault(key.strip().lower(), []).append(content)
    return found


def read_jsonld_blocks(tree: HtmlElement) -> list[Any]:
    """Parsed JSON-LD script blocks; malformed ones are repaired where cheap, else skipped."""
    blocks: list[Any] = []
    for script in tree.iter("script"):
        kind = (script.get("type") or "").lower()
        if "ld+json" not in kind or not script.text:
            continue
        raw = script.text.strip()
        raw = re.sub(r"^\s*(<!--|//\s*<!\[CDATA\[)|(-->|//\s*\]\]>)\s*$", "", raw)
        try:
            blocks.append(json.loads(raw, strict=False))
        except (ValueError, RecursionError):
            try:
                # common breakage: raw newlines/tabs or trailing commas
                repaired = re.sub(r",\s*([}\]])", r"\1", raw.replace("\n", " ").replace("\t", " "))
                blocks.append(json.loads(repaired, strict=False))
            except (ValueError, RecursionError):
                continue
    return blocks


def iter_jsonld_nodes(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object, flattening lists, @graph and nested objects (bounded depth)."""
    if depth > 12:
        return
    if isinstance(data, list):
        for item in data:
            yield from iter_jsonld_nodes(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key, value in data.items():
            if key in ("author", "creator", "publisher"):
                continue  # people/orgs are looked up through the article, not as articles
            if isinstance(value, (list, dict)):
                yield from iter_jsonld_nodes(value, depth + 1)


def jsonld_types(node: Mapping[str, Any]) -> list[str]:
    """The @type(s) of a node as plain names ("schema:NewsArticle" -> "NewsArticle")."""
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [str(k).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for k in kinds if k]


def is_article_node(node: Mapping[str, Any]) -> bool:
    """A JSON-LD node describing the article itself (NewsArticle, BlogPosting, ...)."""
    return any(ARTICLE_TYPES.search(kind) for kind in jsonld_types(node)) and not any(
        kind.lower() in ("webpage", "website", "organization", "person") for kind in jsonld_types(node)
    )


def collect_jsonld(tree: HtmlElement, metadata: PageMetadata) -> None:
    """Fill article nodes (best first: ones with a headline and date) and the @id index."""
    articles: list[dict[str, Any]] = []
    webpages: list[dict[str, Any]] = []
    for block in read_jsonld_blocks(tree):
        for node in iter_jsonld_nodes(block):
            node_id = node.get("@id")
            if isinstance(node_id, str):
                metadata.jsonld_nodes.setdefault(node_id, node)
            kinds = [k.lower() for k in jsonld_types(node)]
            if is_article_node(node):
                articles.append(node)
            elif "webpage" in kinds or "itempage" in kinds:
                webpages.append(node)
            if "website" in kinds or "organization" in kinds or "newsmediaorganization" in kinds:
                name = node.get("name")
                if isinstance(name, str) and name.strip():
                    metadata.site_names.append(normalize_space(name))
    articles.sort(key=lambda n: (not n.get("headline"), not n.get("datePublished")))
    # A WebPage node with datePublished/author is a usable last resort.
    metadata.jsonld_articles = articles + [w for w in webpages if w.get("datePublished") or w.get("author")]


def read_page_metadata(tree: HtmlElement, url: str | None) -> PageMetadata:
    """Gather every metadata source we use, in one pass over the tree each."""
    metadata = PageMetadata()
    metadata.meta = read_meta_tags(tree)
    collect_jsonld(tree, metadata)
    for key in ("og:site_name", "application-name", "twitter:site", "publisher", "al:ios:app_name"):
        for value in metadata.meta.get(key, []):
            metadata.site_names.append(value.lstrip("@"))
    for node in metadata.jsonld_articles[:1]:
        publisher = resolve_jsonld_ref(node.get("publisher"), metadata)
        for item in publisher if isinstance(publisher, list) else [publisher]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                metadata.site_names.append(normalize_space(item["name"]))
    title_element = tree.find(".//title")
    if title_element is not None:
        metadata.html_title = element_text(title_element)
    metadata.h1 = [text for text in (element_text(h) for h in tree.iter("h1")) if text][:5]
    metadata.lang_attr = tree.get("lang") or tree.get("xml:lang") or ""
    metadata.host = url_host(url) if url else ""
    if not metadata.host:
        for value in metadata.meta.get("og:url", []) + [node.get("url", "") for node in metadata.jsonld_articles[:1]]:
            if isinstance(value, str) and value.startswith("http"):
                metadata.host = url_host(value)
                break
    return metadata


def url_host(url: str) -> str:
    """Host name without port and leading www."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def resolve_jsonld_ref(value: Any, metadata: PageMetadata) -> Any:
    """Replace {"@id": ...} references by the node they point to, where known."""
    if isinstance(value, list):
        return [resolve_jsonld_ref(item, metadata) for item in value]
    if isinstance(value, dict) and set(value) <= {"@id", "@type"} and isinstance(value.get("@id"), str):
        return metadata.jsonld_nodes.get(value["@id"], value)
    return value


def first_meta(metadata: PageMetadata, *keys: str) -> str | None:
    """First non-empty meta value among keys, in the given order."""
    for key in keys:
        for value in metadata.meta.get(key, []):
            if value:
                return value
    return None


# --------------------------------------------------------------------------- title

TITLE_SEPARATORS = re.compile(r"\s+(\||-|–|—|::|·|•|«|»|/|:)\s+")
LOOSE_SEPARATORS = {"|", "::", "·", "•", "«", "»"}
SITE_PREFIX = re.compile(r"^([^:|]{2,60}?)\s*:\s+")
DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def squash(text: str) -> str:
    """Comparison key for names: NFKC, casefold, letters and digits only."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def site_name_keys(metadata: PageMetadata) -> set[str]:
    """Squashed forms of the site's names and domain, to recognise suffixes and org bylines."""
    keys = {squash(name) for name in metadata.site_names if name}
    if metadata.host:
        labels = metadata.host.split(".")
        keys.add(squash(metadata.host))
        if len(labels) >= 2:
            # "example.co.uk" / "people.com.cn": the name is the label before the public suffix
            has_compound_suffix = len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) <= 2
            registrable = labels[-3:] if has_compound_suffix else labels[-2:]
            keys.add(squash(".".join(registrable)))
            keys.add(squash(registrable[0]))
    keys.discard("")
    return keys


def is_site_name(text: str, site_keys: set[str], loose: bool = False) -> bool:
    """True when text names the site: exactly, or a short phrase containing its name.

    `loose` (for title suffixes, which are short by nature) accepts any phrase of up to
    five words containing the site's name, e.g. "Die Neue Südtiroler Tageszeitung".
    """
    key = squash(text)
    if not key:
        return False
    if key in site_keys:
        return True
    slack = 40 if loose and len(text.split()) <= 5 else 12
    return any(len(site) >= 4 and (site in key or key in site) and len(key) <= len(site) + slack for site in site_keys)


# Separators that join a site name to a headline without spaces, common in CJK titles:
# "見出し：朝日新聞デジタル", "제목ㅣ한국일보" (the Hangul letter ㅣ doubles as a bar).
TIGHT_SEPARATOR = re.compile(r"\s*[|｜:：ㅣ–—·•]\s*")


def strip_tight_site_suffix(title: str, site_keys: set[str]) -> str:
    """Drop a trailing site name attached by any separator, spaced or not; exact names only."""
    for match in TIGHT_SEPARATOR.finditer(title):
        tail = title[match.end() :]
        if len(tail) <= 60 and squash(tail) in site_keys and len(squash(title[: match.start()])) >= 4:
            return title[: match.start()]
    return title


def strip_site_affixes(title: str, site_keys: set[str]) -> str:
    """Drop " | Site", " - Site", "Site: ", "見出し：Site" and similar from a headline."""
    title = strip_tight_site_suffix(normalize_space(title), site_keys)
    for _ in range(3):
        parts = TITLE_SEPARATORS.split(title)
        if len(parts) < 3:
            break
        head, separator, tail = " ".join(parts[:-2]), parts[-2], parts[-1]
        first, rest = parts[0], " ".join(parts[2:])
        if (
            is_site_name(tail, site_keys, loose=True)
            or DATE_LIKE.fullmatch(tail)
            or (separator in LOOSE_SEPARATORS and len(tail.split()) <= 4 and len(head.split()) >= 3)
        ):
            title = head.strip()
            continue
        if is_site_name(first, site_keys) and len(rest.split()) >= 2:
            title = rest.strip()
            continue
        break
    prefix = SITE_PREFIX.match(title)
    if prefix and is_site_name(prefix[1], site_keys) and len(title[prefix.end() :].split()) >= 2:
        title = title[prefix.end() :]
    return title


TITLE_META_KEYS = ("headline", "og:title", "twitter:title", "dc.title", "title", "sailthru.title", "parsely-title")
# Editor-written title fields: a kicker-free headline here is a deliberate choice (see choose_title).
SOCIAL_TITLE_SOURCES = ("og:title", "twitter:title")
KICKER_END = re.compile(r"(?::|\s[-–—|/])$")
MAX_KICKER_WORDS = 8


def title_candidates(metadata: PageMetadata) -> list[tuple[str, str]]:
    """(source, headline) candidates, best source first: JSON-LD, meta headline/og/twitter/DC, <h1>, <title>."""
    candidates: list[tuple[str, str]] = []
    for node in metadata.jsonld_articles[:1]:
        for key in ("headline", "name"):
            value = node.get(key)
            if isinstance(value, str) and value.strip():
                candidates.append(("jsonld", value))
                break
    for key in TITLE_META_KEYS:
        value = first_meta(metadata, key)
        if value:
            candidates.append((key, value))
    candidates.extend(("h1", text) for text in metadata.h1[:1])
    if metadata.html_title:
        candidates.append(("html_title", metadata.html_title))
    return candidates


def title_key(text: str) -> str:
    """Comparison form for headline candidates: NFKC, casefold, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def is_kicker_variant(longer: str, shorter: str) -> bool:
    """True when `longer` is `shorter` with a leading kicker: "Topic: Headline", "Topic - Headline".

    The kicker (German "Dachzeile", the topic label above a headline) must end in a
    separator and be short; the remaining headline must be at least two words.
    """
    long_key, short_key = title_key(longer), title_key(shorter)
    if long_key == short_key or not long_key.endswith(short_key) or len(short_key.split()) < 2:
        return False
    head = long_key[: -len(short_key)].rstrip()
    return bool(KICKER_END.search(head)) and 0 < len(head.split()) <= MAX_KICKER_WORDS


def choose_title(metadata: PageMetadata, fallback: Mapping[str, Any]) -> str | None:
    """Headline from page metadata with site affixes and topic kickers removed; else the feed title.

    Sources are tried in order of reliability (JSON-LD headline first). One cross-check:
    when the site's own social title (og:title / twitter:title) is exactly the preferred
    headline minus a leading kicker ("Neue Leipziger Schule: Judy Lybke, ..." vs "Judy
    Lybke, ..."), the kicker is a topic label the CMS prepends, not part of the headline,
    so the kicker-free social title wins. <h1> and <title> are not used for this: their
    text often loses the kicker only because the page renders it in a separate element.
    """
    site_keys = site_name_keys(metadata)
    titles: list[tuple[str, str]] = []
    for source, candidate in title_candidates(metadata):
        title = strip_site_affixes(clean_html_text(candidate), site_keys)
        if title and not is_site_name(title, site_keys):
            titles.append((source, title[:MAX_TITLE_CHARS]))
    if titles:
        best = titles[0][1]
        for source, title in titles[1:]:
            if source in SOCIAL_TITLE_SOURCES and is_kicker_variant(best, title):
                return title
        return overruled_by_page(best, titles, metadata)
    feed_title = clean_html_text(str(fallback.get("title") or ""))
    return feed_title[:MAX_TITLE_CHARS] or None


def _title_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", title_key(text)))


def overruled_by_page(best: str, titles: list[tuple[str, str]], metadata: PageMetadata) -> str:
    """The <h1> instead of a metadata headline that is about something else.

    Templates sometimes fill og:title / twitter:title with a section or site label ("China Economy | The Post"). When the page's own <h1> and <title> agree
    with each other and share under a third of their words with the metadata headline,
    the page is right and the metadata is wrong.
    """
    if titles[0][0] not in SOCIAL_TITLE_SOURCES:
        return best
    h1 = next((t for s, t in titles if s == "h1"), None)
    if not h1 or not metadata.html_title or h1 == best or len(h1.split()) < 3:
        return best
    if title_key(h1) not in title_key(clean_html_text(metadata.html_title)):
        return best
    best_words, h1_words = _title_words(best), _title_words(h1)
    if best_words and len(best_words & h1_words) < len(best_words) / 3:
        return h1
    return best



# --------------------------------------------------------------------------- date

DATE_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "datepublished",
    "article.published",
    "published_time",
    "published-date",
    "publish-date",
    "publishdate",
    "publish_date",
    "pubdate",
    "og:published_time",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "dc.date.created",
    "dcterms.created",
    "date",
    "article:post_date",
    "cxenseparse:recs:publishtime",
    "og:updated_time",
    "article:modified_time",
)


def parse_date(value: Any) -> datetime | None:
    """Any reasonable date string/number to an aware datetime; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_epoch(float(value))
    else:
        parsed_or_none = parse_date_string(str(value))
        if parsed_or_none is None:
            return None
        parsed = parsed_or_none
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed if plausible_date(parsed) else None


def plausible_date(parsed: datetime) -> bool:
    """A publication date from 1990 up to a day from now: a page dated 2099 would otherwise
    look fresh (and alertable) forever."""
    return 1990 <= parsed.year and parsed <= datetime.now(timezone.utc) + timedelta(days=1)


def parse_epoch(seconds: float) -> datetime | None:
    """Unix timestamps in seconds or milliseconds."""
    if seconds > 1e11:
        seconds /= 1000.0
    try:
        parsed = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return parsed if plausible_date(parsed) else None


TZ_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "BST": 3600, "CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 10800,
    "EST": -18000, "EDT": -14400, "CST": -21600, "CDT": -18000, "MST": -25200, "MDT": -21600,
    "PST": -28800, "PDT": -25200, "IST": 19800, "JST": 32400, "KST": 32400, "AEST": 36000, "AEDT": 39600,
}  # fmt: skip
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_date_string(text: str) -> datetime | None:
    """ISO 8601 first (fast, exact), then dateutil for RFC 822 and friends."""
    text = normalize_space(text)[:100]
    if not text or not re.search(r"\d", text):
        return None
    if re.fullmatch(r"\d{10}(\d{3})?", text):
        return parse_epoch(float(text))
    candidate = text.replace(" UTC", "+00:00").replace("Z", "+00:00") if re.match(r"\d{4}-\d{2}-\d{2}", text) else text
    candidate = _COMPACT_OFFSET.sub(r"\1:\2", candidate) if re.match(r"\d{4}-\d{2}-\d{2}[T ]", candidate) else candidate
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        pass
    try:
        import warnings

        from dateutil import parser as date_parser  # type: ignore[import-untyped]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown zone names: parsed naive, taken as UTC below
            return date_parser.parse(text, fuzzy=False, tzinfos=TZ_ABBREVIATIONS)
    except (ValueError, OverflowError, TypeError, LookupError):
        pass
    match = re.search(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    if match:
        try:
            return datetime(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    return None


def format_date(value: datetime) -> str:
    """Timezone-aware ISO 8601, seconds precision."""
    return value.replace(microsecond=0).isoformat()


def page_date_candidates(tree: HtmlElement, metadata: PageMetadata) -> Iterator[Any]:
    """Publication date candidates, most trustworthy first."""
    for node in metadata.jsonld_articles:
        for key in ("datePublished", "dateCreated"):
            value = node.get(key)
            if value:
                yield value[0] if isinstance(value, list) and value else value
    for key in DATE_META_KEYS[:-2]:
        for value in metadata.meta.get(key, []):
            yield value
    for element in tree.xpath('//*[@itemprop="datePublished"] | //time[@pubdate] | //*[@property="article:published_time"]'):
        yield element.get("datetime") or element.get("content") or element_text(element)
    for element in tree.xpath("//article//time[@datetime] | //time[@datetime]")[:1]:
        yield element.get("datetime")
    for key in DATE_META_KEYS[-2:]:
        for value in metadata.meta.get(key, []):
            yield value


def choose_date(tree: HtmlElement, metadata: PageMetadata, fallback: Mapping[str, Any]) -> str | None:
    """First parseable page date; else the feed's date."""
    for candidate in page_date_candidates(tree, metadata):
        parsed = parse_date(candidate)
        if parsed is not None:
            return format_date(parsed)
    parsed = parse_date(fallback.get("date")) or parse_date(guess_date(tree))
    return format_date(parsed) if parsed else None


def guess_date(tree: HtmlElement) -> str | None:
    """htmldate's heuristics (URL, visible dates...) for pages without date metadata.

    Runs on a copy: htmldate cleans the tree it is given. Only reached when neither the
    page metadata nor the feed has a date, so its cost is rare.
    """
    from copy import deepcopy

    try:
        from htmldate import find_date

        return find_date(deepcopy(tree), original_date=True, extensive_search=False, outputformat="%Y-%m-%d %H:%M:%S")
    except Exception:  # htmldate on odd markup: no date rather than a crash
        return None


# --------------------------------------------------------------------------- authors

AUTHOR_META_KEYS = (
    "author",
    "article:author",
    "dc.creator",
    "dcterms.creator",
    "parsely-author",
    "sailthru.author",
    "byl",
    "cxenseparse:author",
    "twitter:data1",
)
BYLINE_PREFIX = re.compile(
    r"^(?:(?:written|reported|text|story|words|photos?|edited)\s+)?(?:by|von|par|door|di|por|de|af|av|przez|od|tekst|autor(?:in)?|author|text|redaktion)\s*[:\-]?\s+",
    re.I,
)
AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\||&|\band\b|\bund\b|\bet\b|\by\b|\be\b|\bog\b|\ben\b|\bi\b|\boch\b|\bja\b|\bsowie\b)\s*", re.I)
PARENTHETICAL = re.compile(r"\([^()]{0,80}\)|\[[^\[\]]{0,80}\]")
NOT_A_NAME = re.compile(r"(https?:|www\.|@|\d{3,}|^\W*$)", re.I)


def split_author_names(raw: str) -> list[str]:
    """"By A and B, C" -> ["A", "B", "C"]; drop URLs, handles and dates."""
    text = clean_html_text(raw)
    if not text or len(text) > 400:
        return []
    text = BYLINE_PREFIX.sub("", text)
    names: list[str] = []
    text = PARENTHETICAL.sub(" ", text)
    for part in AUTHOR_SPLIT.split(text):
        part = BYLINE_PREFIX.sub("", part.strip(" .:-–—·|/"))
        if not part or NOT_A_NAME.search(part) or len(part) > MAX_AUTHOR_CHARS or len(part.split()) > 6:
            continue
        names.append(part)
    return names


def jsonld_author_names(node: Mapping[str, Any], metadata: PageMetadata) -> list[str]:
    """Author names from an article node: strings, Person/Organization objects, @id refs."""
    value = resolve_jsonld_ref(node.get("author") or node.get("creator"), metadata)
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        item = resolve_jsonld_ref(item, metadata)
        if isinstance(item, str):
            names.extend(split_author_names(item))
        elif isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, list):
                name = " ".join(str(n) for n in name)
            if not name and (item.get("givenName") or item.get("familyName")):
                name = f"{item.get('givenName', '')} {item.get('familyName', '')}"
            if isinstance(name, str):
                names.extend(split_author_names(name))
    return names


def _class_token(name: str) -> str:
    return f'contains(concat(" ", normalize-space(@class), " "), " {name} ")'


# One pass over the tree (a union of `//` paths walks it once per branch). Node set, hence
# order, is that of the union: itemprop=name inside itemprop=author, itemprop=author without
# such a name, <a rel=author>, and class tokens author-name / byline__name / byline (the
# cheap contains() pre-test spares the token test on most elements).
BYLINE_XPATH = etree.XPath(
    '//*[(@itemprop and ((@itemprop="name" and ancestor::*[@itemprop="author"])'
    ' or (@itemprop="author" and not(.//*[@itemprop="name"]))))'
    ' or (@rel="author" and self::a)'
    ' or ((contains(@class, "byline") or contains(@class, "author-name"))'
    f' and ({_class_token("author-name")} or {_class_token("byline__name")} or {_class_token("byline")}))]'
)


def byline_author_names(tree: HtmlElement) -> list[str]:
    """Names from visible bylines (itemprop=author, rel=author, .byline)."""
    names: list[str] = []
    try:
        elements = BYLINE_XPATH(tree)
    except etree.XPathError:
        return names
    for element in elements[:10]:
        text = element.get("content") or element_text(element)
        names.extend(split_author_names(text))
    return names


def finalize_authors(names: Iterable[str]) -> list[str]:
    """Deduplicate (case/space-insensitive), keeping first-seen order."""
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        name = normalize_space(name)
        key = squash(name)
        if not key or key in seen:
            continue
        seen.add(key)
        result.append(name)
    return result[:MAX_AUTHORS]


def author_sources(tree: HtmlElement, metadata: PageMetadata, fallback: Mapping[str, Any]) -> Iterator[list[str]]:
    """Author name lists, most reliable source first (computed lazily: bylines cost an XPath)."""
    for node in metadata.jsonld_articles[:1]:
        yield jsonld_author_names(node, metadata)
    for key in AUTHOR_META_KEYS:
        values = metadata.meta.get(key, [])
        yield [name for value in values for name in split_author_names(value)]
    yield byline_author_names(tree)
    feed_authors = fallback.get("authors") or []
    if isinstance(feed_authors, str):
        feed_authors = [feed_authors]
    yield [name for value in feed_authors for name in split_author_names(str(value))]


def choose_authors(tree: HtmlElement, metadata: PageMetadata, fallback: Mapping[str, Any]) -> list[str]:
    """First source naming a person; a source that only names the outlet is kept as a last resort.

    Many sites put their own name in `<meta name=author>` while the byline names the
    reporter; the reporter is what users want, the outlet is better than nothing.
    """
    site_keys = site_name_keys(metadata)
    outlet_only: list[str] = []
    for names in author_sources(tree, metadata, fallback):
        authors = finalize_authors(names)
        if not authors:
            continue
        if not all(is_site_name(name, site_keys) for name in authors):
            return authors
        outlet_only = outlet_only or authors
    return outlet_only


# --------------------------------------------------------------------------- language

LANGUAGE_CODE = re.compile(r"^([a-zA-Z]{2})(?:[-_].*)?$")


def choose_language(metadata: PageMetadata) -> str | None:
    """ISO 639-1 from <html lang>, content-language, og:locale or JSON-LD inLanguage."""
    candidates: list[Any] = [metadata.lang_attr]
    candidates += metadata.meta.get("content-language", [])
    candidates += metadata.meta.get("og:locale", [])
    candidates += [n.get("inLanguage") for n in metadata.jsonld_articles[:1] if isinstance(n.get("inLanguage"), str)]
    candidates += metadata.meta.get("language", []) + metadata.meta.get("dc.language", [])
    for candidate in candidates:
        match = LANGUAGE_CODE.match((candidate or "").strip().split(",")[0])
        if match:
            return match[1].lower()
    return None


# --------------------------------------------------------------------------- body

TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "favor_precision": False,
    "favor_recall": True,
    "fast": True,
}
PRUNE_BOILERPLATE = True


@functools.lru_cache(maxsize=1)
def trafilatura_options() -> Any:
    """TRAFILATURA_OPTIONS as trafilatura's Extractor, built once: building it per page
    re-reads trafilatura's settings file (~0.3 ms, a tenth of the extraction)."""
    from trafilatura.settings import Extractor

    o = TRAFILATURA_OPTIONS
    return Extractor(output_format="python", fast=o["fast"], precision=o["favor_precision"],
                     recall=o["favor_recall"], comments=o["include_comments"], tables=o["include_tables"],
                     with_metadata=False)


BOILERPLATE_ATTR = re.compile(
    r"(?:^|[\s_-])(?:comments?(?!ary)|disqus|commentlist|respond|reply|replies|newsletters?|subscri(?:be|ption)|signup|sign-up"
    r"|related|recommend(?:ed|ations?)?|promo(?:tion)?s?|sponsor(?:ed)?|outbrain|taboola|cookies?|consent|gdpr"
    r"|author-?bio|author-?box|author-?info|about-?the-?author|bio-?box|share|sharing|social|sidebar"
    r"|read-?more|more-?stories|also-?read|most-?(?:read|popular|viewed)|popular|trending|teaser-?list|paywall|donat(?:e|ion)"
    # pull quotes repeat body text; captions, bios, disclaimers and mastheads carry the
    # outlet's own (often sanctions-heavy) vocabulary, not the story's
    r"|pull-?quotes?|(?:fig|image|img|photo|amp)?-?captions?|bio(?![a-z])|disclaimers?|masthead|site-?description)",
    re.I,
)
# The same pattern for lower-cased ASCII markers (most class/id strings): a case-sensitive
# search with a look-behind for the token boundary runs about a third faster than the above.
_BOILERPLATE_ATTR_LOWER = re.compile(r"(?<![^\s_-])" + BOILERPLATE_ATTR.pattern[len(r"(?:^|[\s_-])") :])
PROTECTED_TAGS = {"html", "body", "main", "article"}
#: A page whose <p> text is under this share of its visible text keeps its body in <div>s.
PARAGRAPH_POOR_SHARE = 0.1


def is_boilerplate_marker(marker: str) -> bool:
    """True when a "class id" string names a boilerplate block (see BOILERPLATE_ATTR)."""
    if marker.isascii():
        return _BOILERPLATE_ATTR_LOWER.search(marker.lower()) is not None
    return BOILERPLATE_ATTR.search(marker) is not None


def prune_boilerplate(tree: HtmlElement) -> None:
    """Remove comment sections, newsletter/promo boxes, related links, share bars, author bios.

    They often carry sanctions vocabulary that is not the story's ("comments on export
    controls...") and would raise false alerts. An element is spared when it holds a
    large share of the page's paragraph text: a class like "has-sidebar" on the main
    wrapper must not cost us the article.

    Cost matters (this runs on every page before Trafilatura): only elements with a class
    or id are visited, and class strings repeat heavily within a page (list items,
    cards), so verdicts are memoised per page.
    """
    total = paragraph_text_length(tree) or 1
    # pages whose body sits in <div>s have few <p>s: there a promo box's one <p> must not
    # pass for "most of the article", so the share of all text is checked as well
    total_text = text_length(tree) or 1
    few_paragraphs = total < PARAGRAPH_POOR_SHARE * total_text
    doomed: list[HtmlElement] = []
    verdicts: dict[str, bool] = {}
    # only elements with a class or an id can be judged: XPath finds them in C (walking every
    # element in Python was most of this function), in document order
    for element in _MARKED_ELEMENTS(tree):
        class_name, element_id = element.get("class"), element.get("id")
        marker = f"{class_name or ''} {element_id or ''}"
        if len(marker) < 4:
            continue
        verdict = verdicts.get(marker)
        if verdict is None:
            verdict = verdicts[marker] = is_boilerplate_marker(marker)
        if not verdict or element.tag in PROTECTED_TAGS:
            continue
        if doomed and any(a is doomed[-1] for a in element.iterancestors()):
            continue  # inside the latest doomed block (a comment in the comments): goes with it
        if element.get("itemprop") == "articleBody" or (
            paragraph_text_length(element) > 0.4 * total
            and (not few_paragraphs or text_length(element) > 0.4 * total_text)
        ):
            continue
        doomed.append(element)
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


_MARKED_ELEMENTS = etree.XPath("descendant-or-self::*[@class or @id]")


_NONBLANK_TEXTS = etree.XPath(".//text()[normalize-space()]", smart_strings=False)


def text_length(element: etree._Element) -> int:
    """Characters of visible text below element, scripts and styles aside (XPath selects the
    non-blank text nodes in C: walking them in Python was a tenth of the extraction)."""
    return sum(map(len, _NONBLANK_TEXTS(element))) - sum(
        len(x.text or "") for x in element.iter("script", "style"))


def paragraph_text_length(element: etree._Element) -> int:
    """Characters of text in <p> elements below element (a cheap 'how much article is here')."""
    return sum(len(p.text_content()) for p in element.iter("p"))


def extract_body(tree: HtmlElement, url: str | None) -> str:
    """Main text via Trafilatura (it copies the tree, so ours stays intact)."""
    from trafilatura import bare_extraction

    if PRUNE_BOILERPLATE:
        prune_boilerplate(tree)
    options = copy.copy(trafilatura_options())
    options.url = options.source = url
    try:
        document = bare_extraction(tree, options=options)
    except Exception as error:  # trafilatura on hostile markup: degrade to no text
        LOGGER.debug("trafilatura failed on %s: %s", url, error)
        return ""
    if document is None:
        LOGGER.debug("no body text found in %s", url)
        return ""
    text = getattr(document, "text", None) or ""
    return normalize_paragraphs(text)


# Page furniture that survives as a paragraph of its own: copyright notices and wire credits.
_NAMES = r"[A-Z][\w'’.-]*(?:,?\s+(?:and\s+|in\s+)?[A-Z][\w'’.-]*)*"
_CREDIT = r"(?:[Aa]dditional\s+reporting|Reporting|Writing|Editing|Compiled|Graphics)\s+by\s+" + _NAMES
FURNITURE_LINE = re.compile(
    r"^(?:©|\([cC]\)\s|[Cc]opyright\s*(?:©|\([cC]\)|\d{4})"
    r"|" + _CREDIT + r"(?:\s*[;,]\s*" + _CREDIT + r")*\s*\.?$)"
)


def normalize_paragraphs(text: str) -> str:
    """One paragraph per line, inner whitespace collapsed, empty lines and furniture lines dropped."""
    lines = (normalize_space(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line and not FURNITURE_LINE.match(line))


# --------------------------------------------------------------------------- entry point


def extract_article(
    html: str | bytes, url: str | None = None, fallback: Mapping[str, Any] | None = None
) -> ExtractedArticle:
    """Extract one page; page metadata first, `fallback` (feed/sitemap data) where it is silent."""
    fallback = fallback or {}
    try:
        tree = parse_html(html_as_utf8(html if isinstance(html, (bytes, str)) else b""))
    except Exception as error:  # pragma: no cover - decode/parse are already defensive
        LOGGER.debug("could not parse %s: %s", url, error)
        tree = None
    if tree is None:
        return article_from_fallback(fallback)
    try:
        metadata = read_page_metadata(tree, url)
        title = choose_title(metadata, fallback)
        published = choose_date(tree, metadata, fallback)
        authors = choose_authors(tree, metadata, fallback)
        language = choose_language(metadata)
    except Exception as error:  # metadata must never cost us the body
        LOGGER.debug("metadata extraction failed on %s: %s", url, error)
        fallback_article = article_from_fallback(fallback)
        title, published, authors, language = (
            fallback_article.title,
            fallback_article.date,
            fallback_article.authors,
            None,
        )
    body = extract_body(tree, url)
    return ExtractedArticle(title=title, date=published, authors=authors, language=language, text=body)


def article_from_fallback(fallback: Mapping[str, Any]) -> ExtractedArticle:
    """An article from feed metadata alone, for pages that cannot be parsed at all."""
    title = clean_html_text(str(fallback.get("title") or ""))[:MAX_TITLE_CHARS] or None
    parsed = parse_date(fallback.get("date"))
    raw_authors = fallback.get("authors") or []
    if isinstance(raw_authors, str):
        raw_authors = [raw_authors]
    authors = finalize_authors(n for value in raw_authors for n in split_author_names(str(value)))
    return ExtractedArticle(
        title=title, date=format_date(parsed) if parsed else None, authors=authors, language=None, text=""
    )
