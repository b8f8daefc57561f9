"""Group articles into stories: one story per real-world event, however many outlets carry it.

Two kinds of "same story":

* syndicated near-copies (the same wire text under another headline): MinHash over word
  5-shingles, queried through a MinHashLSH index. Each article's signature is stored in
  `story_articles.signature`, so the index is rebuilt from the store after a restart
  without re-reading texts.
* rewrites of one event by other outlets: a same-event test that needs *all* of
  shared organisations, compatible countries, publication within `EVENT_WINDOW`, and a
  high TF-IDF cosine between the two texts (headline + key evidence sentences + body).

Merging is deliberately conservative: a false merge hides an alert, a missed merge only
costs a second alert. Two different events about the same companies share entities but
not their specific vocabulary (names, places, numbers, verbs), which is what the text
similarity measures once words common to the whole window are down-weighted.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
from sqlite_utils import Database

if TYPE_CHECKING:  # datasketch pulls in scipy (~0.7 s): imported only when stories are built
    from datasketch import MinHash, MinHashLSH

from newsradar.config import Config

from .common import ArticleRow, article_from_row, fetch_articles, iso, parse_time, utc, write_transaction

NUM_PERM = 128
SHINGLE = 5
MINHASH_WORDS = 400  # words of an article's opening that its signature covers
SIGNATURE_TAG = b"mhc32:"         # crc32 shingle hashes, affine32 scheme, NUM_PERM uint32 values follow
NEAR_DUPLICATE_JACCARD = 0.5      # estimated Jaccard of 5-shingle sets for a syndicated copy
SYNDICATION_WINDOW = timedelta(days=14)
EVENT_WINDOW = timedelta(days=3)  # a rewrite of the same event appears within a few days
BATCH = 200                       # articles per write transaction

# Same-event thresholds on the TF-IDF cosine, by how well the entities agree.
STRONG_ENTITY_THRESHOLD = 0.33    # organisation and country sets largely the same
WEAK_ENTITY_THRESHOLD = 0.50      # only some organisations / countries shared

_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or other
our out over own same she should so some such than that the their them then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you your said
says say according year years new one also like since its it's s t per via just about amid across within
""".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# ---------------------------------------------------------------- text features

def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _stem(word: str) -> str:
    """A crude suffix stripper: 'smuggled'/'smuggling' and 'charges'/'charged' must meet."""
    for suffix in ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    return [_stem(w) for w in words(text) if w not in _STOPWORDS and len(w) > 1]


@functools.lru_cache(maxsize=1)
def _permutations() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32").permutations


def minhash(text: str) -> MinHash:
    """MinHash of the word 5-shingles of the text's opening (shorter texts: of their words).

    Copies of one wire story share their opening; hashing at most MINHASH_WORDS words
    keeps the cost flat for long articles."""
    from datasketch import MinHash

    tokens = words(text)[:MINHASH_WORDS]
    # crc32: stable across processes and ~5x cheaper than sha1; permutations made once
    mh = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32, permutations=_permutations(),
                 scheme="affine32")
    if len(tokens) >= SHINGLE:
        shingles = {" ".join(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}
    else:
        shingles = set(tokens)
    if shingles:
        mh.update_batch([s.encode("utf-8") for s in shingles])
    return mh


def signature_bytes(mh: MinHash) -> bytes:
    return SIGNATURE_TAG + np.asarray(mh.hashvalues, dtype=np.uint32).tobytes()


def signature_from_bytes(blob: bytes | None) -> MinHash | None:
    if not blob or not bytes(blob).startswith(SIGNATURE_TAG):
        return None
    from datasketch import MinHash

    values = np.frombuffer(bytes(blob)[len(SIGNATURE_TAG):], dtype=np.uint32)
    if len(values) != NUM_PERM:
        return None
    return MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32, hashvalues=values.astype(np.uint64),
                   scheme="affine32")


def _norm_set(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values if v and v.strip()}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _event_text(article: ArticleRow) -> str:
    """Headline and key evidence sentences count twice: they say what happened."""
    evidence = " ".join(str(e.get("sentence", "")) for e in article.evidence if not e.get("negated"))
    return " ".join([article.title, article.title, evidence, evidence, article.text])


class _Vectoriser:
    """TF-IDF over the articles in the time window: words every article in the window uses
    (the company, "chips", "export controls") weigh little, the event's own words much."""

    def __init__(self, documents: dict[str, list[str]]) -> None:
        self.n = len(documents)
        self.df: Counter[str] = Counter()
        for terms in documents.values():
            self.df.update(set(terms))
        self.vectors = {key: self._vector(terms) for key, terms in documents.items()}

    def _vector(self, terms: list[str]) -> dict[str, float]:
        counts = Counter(terms)
        vec = {t: (1 + math.log(c)) * (math.log((self.n + 1) / (self.df[t] + 1)) + 1) for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def cosine(self, a: str, b: str) -> float:
        va, vb = self.vectors[a], self.vectors[b]
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(v * vb.get(t, 0.0) for t, v in va.items())


@dataclass
class Match:
    story_id: int
    relation: str        # duplicate | syndicated | same-event
    strength: float


def _entity_sets(a: ArticleRow) -> tuple[set[str], set[str]]:
    """Normalised organisation and country sets, computed once per article row."""
    cached = a.__dict__.get("_entity_sets")
    if cached is None:
        cached = a.__dict__["_entity_sets"] = (_norm_set(a.organisations), _norm_set(a.countries))
    return cached


def event_threshold(a: ArticleRow, b: ArticleRow) -> float | None:
    """The text similarity two articles need to be one event, or None when they cannot be
    (too far apart in time, no shared organisation, disjoint countries). Cheap: it runs
    before any similarity is computed."""
    if a.when is None or b.when is None or abs(a.when - b.when) > EVENT_WINDOW:
        return None
    orgs_a, countries_a = _entity_sets(a)
    orgs_b, countries_b = _entity_sets(b)
    if not (orgs_a & orgs_b):
        return None
    if (countries_a or countries_b) and not (countries_a & countries_b):
        return None
    strong = _jaccard(orgs_a, orgs_b) >= 0.5 and (
        _jaccard(countries_a, countries_b) >= 0.5 or not (countries_a or countries_b))
    return STRONG_ENTITY_THRESHOLD if strong else WEAK_ENTITY_THRESHOLD


def same_event(a: ArticleRow, b: ArticleRow, similarity: float) -> bool:
    """The conservative same-event test (see module docstring)."""
    threshold = event_threshold(a, b)
    return threshold is not None and similarity >= threshold


# ---------------------------------------------------------------- assignment

def _load_window(db: Database, start: datetime, end: datetime, *, with_text: bool) -> list[tuple[ArticleRow, bytes | None]]:
    """Articles already in stories whose date may fall in [start, end] (a coarse SQL date
    filter, re-checked in Python because `published` carries arbitrary zone offsets).
    Without `with_text` only what the near-duplicate index needs is read (no texts)."""
    coarse = (start - timedelta(days=2)).date().isoformat()
    where = ("a.story_id is not null and (substr(coalesce(a.processed_at, ''), 1, 10) >= ? "
             "or substr(coalesce(a.published, ''), 1, 10) >= ?)")
    text_column = "a.text" if with_text else "''"
    analysis_column = "a.analysis" if with_text else "'{}'"
    rows = db.execute(
        f"select a.url, a.source, a.fetched_url, a.title, a.published, {text_column}, a.text_hash, a.score, "
        f"{analysis_column}, a.processed_at, a.story_id, p.first_seen_at, p.fetched_at, sa.signature "
        f"from articles a left join pages p on p.url = a.url "
        f"left join story_articles sa on sa.article_url = a.url and sa.story_id = a.story_id where {where}",
        [coarse, coarse]).fetchall()
    out: list[tuple[ArticleRow, bytes | None]] = []
    for row in rows:
        art = article_from_row(row[:13])
        if art.when is not None and start <= art.when <= end:
            out.append((art, row[13]))
    return out


def assign_stories(config: Config, db: Database, now: datetime | None = None) -> int:
    """Put every article without a story into one (an existing one or a new one).

    Articles are taken oldest first so the first report of an event founds its story.
    Returns how many articles were assigned.
    """
    moment = utc(now)
    pending = fetch_articles(db, "a.story_id is null")
    if not pending:
        return 0
    pending.sort(key=lambda a: (a.when or moment, a.url))
    for art in pending:
        if art.when is None:
            art.seen_at = moment
    first, last = min(a.when or moment for a in pending), max(a.when or moment for a in pending)

    from datasketch import MinHashLSH

    # Near-duplicates: signatures of the last SYNDICATION_WINDOW (no texts needed).
    lsh = MinHashLSH(threshold=NEAR_DUPLICATE_JACCARD, num_perm=NUM_PERM)
    signatures: dict[str, MinHash] = {}
    copies: dict[str, ArticleRow] = {}
    by_hash: dict[str, int] = {}
    for art, blob in _load_window(db, first - SYNDICATION_WINDOW, last + SYNDICATION_WINDOW, with_text=False):
        sig = signature_from_bytes(blob)
        if sig is None:
            continue
        copies[art.url] = art
        signatures[art.url] = sig
        lsh.insert(art.url, sig)
        if art.text_hash and art.story_id:
            by_hash.setdefault(art.text_hash, art.story_id)
    # Same-event rewrites: full articles of the last EVENT_WINDOW, plus the new ones.
    members = {a.url: a for a, _ in _load_window(db, first - EVENT_WINDOW, last + EVENT_WINDOW, with_text=True)}
    by_org = _OrgIndex(members.values())
    # Only articles naming an organisation can be one event with another (event_threshold).
    documents = {a.url: content_terms(_event_text(a)) for a in list(members.values()) + pending
                 if a.organisations}
    vectoriser = _Vectoriser(documents)

    assigned = 0
    for start in range(0, len(pending), BATCH):
        with write_transaction(db) as conn:
            for art in pending[start:start + BATCH]:
                # Another process may have assigned it since we read it.
                row = conn.execute("select story_id from articles where url = ?", [art.url]).fetchone()
                if row is None or row[0] is not None:
                    continue
                sig = minhash(art.text or art.title)
                match = _best_match(art, sig, lsh, copies, signatures, by_hash, by_org, vectoriser)
                stamp = iso(moment)
                if match is None:
                    story_id = _new_story(conn, art, sig, stamp)
                    relation = "first"
                else:
                    story_id, relation = match.story_id, match.relation
                conn.execute(
                    "insert or replace into story_articles (story_id, article_url, added_at, relation, signature) "
                    "values (?, ?, ?, ?, ?)", [story_id, art.url, stamp, relation, signature_bytes(sig)])
                conn.execute("update articles set story_id = ? where url = ?", [story_id, art.url])
                _refresh_story(conn, story_id, stamp)
                art.story_id = story_id
                members[art.url] = art
                by_org.add(art)
                copies[art.url] = art
                signatures[art.url] = sig
                if art.url not in lsh.keys:
                    lsh.insert(art.url, sig)
                if art.text_hash:
                    by_hash.setdefault(art.text_hash, story_id)
                assigned += 1
    return assigned


class _OrgIndex:
    """Story members by organisation: only articles sharing one can be the same event, so a
    new article is compared with those, not with the whole window."""

    def __init__(self, articles: Iterable[ArticleRow]) -> None:
        self.by_org: dict[str, dict[str, ArticleRow]] = {}
        for art in articles:
            self.add(art)

    def add(self, art: ArticleRow) -> None:
        for org in _entity_sets(art)[0]:
            self.by_org.setdefault(org, {})[art.url] = art

    def candidates(self, art: ArticleRow) -> list[ArticleRow]:
        found: dict[str, ArticleRow] = {}
        for org in _entity_sets(art)[0]:
            found.update(self.by_org.get(org, {}))
        return list(found.values())


def _best_match(art: ArticleRow, sig: MinHash, lsh: MinHashLSH, copies: dict[str, ArticleRow],
                signatures: dict[str, MinHash], by_hash: dict[str, int], members: "_OrgIndex",
                vectoriser: _Vectoriser) -> Match | None:
    """The story this article belongs to, or None for a new story."""
    if art.text_hash and art.text_hash in by_hash and art.text.strip():
        return Match(by_hash[art.text_hash], "duplicate", 1.0)
    best: Match | None = None
    if len(words(art.text)) >= 3 * SHINGLE:   # too short a text makes shingles meaningless
        for key in lsh.query(sig):
            other = copies.get(key)
            if other is None or other.story_id is None or other.url == art.url:
                continue
            if art.when and other.when and abs(art.when - other.when) > SYNDICATION_WINDOW:
                continue
            jaccard = sig.jaccard(signatures[key])
            if jaccard >= NEAR_DUPLICATE_JACCARD and (best is None or jaccard > best.strength):
                best = Match(other.story_id, "syndicated", jaccard)
    if best is not None:
        return best
    for other in members.candidates(art):
        if other.story_id is None or other.url == art.url or other.url not in vectoriser.vectors:
            continue
        threshold = event_threshold(art, other)
        if threshold is None:
            continue
        similarity = vectoriser.cosine(art.url, other.url)
        if similarity >= threshold and (best is None or similarity > best.strength):
            best = Match(other.story_id, "same-event", similarity)
    return best


def _new_story(conn: sqlite3.Connection, art: ArticleRow, sig: MinHash, stamp: str) -> int:
    cur = conn.execute(
        "insert into stories (created_at, updated_at, title, lead_url, score, published, signature) "
        "values (?, ?, ?, ?, ?, ?, ?)",
        [stamp, stamp, art.title, art.url, art.score, iso(art.when) if art.when else None, signature_bytes(sig)])
    return int(cur.lastrowid or 0)


def _refresh_story(conn: sqlite3.Connection, story_id: int, stamp: str) -> None:
    """Lead = best-scoring article (earliest on ties); story score = the lead's; published =
    the earliest date among its articles."""
    rows = conn.execute(
        "select a.url, a.title, a.score, a.published, a.processed_at, sa.signature, sa.relation from articles a "
        "join story_articles sa on sa.article_url = a.url and sa.story_id = ? where a.story_id = ?",
        [story_id, story_id]).fetchall()
    if not rows:
        return
    lead = sorted(rows, key=lambda r: (-(r[2] or 0.0), utc_text(r[3]) or utc_text(r[4]) or "", r[6] != "first",
                                       r[0]))[0]
    dates = [d for d in (utc_text(r[3]) or utc_text(r[4]) for r in rows) if d]
    conn.execute(
        "update stories set updated_at = ?, title = ?, lead_url = ?, score = ?, published = ?, signature = ? "
        "where id = ?",
        [stamp, lead[1], lead[0], lead[2] or 0.0, min(dates) if dates else None, lead[5], story_id])


def utc_text(text: str | None) -> str | None:
    moment = parse_time(text)
    return iso(moment) if moment else None
