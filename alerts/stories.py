"""Group articles into stories: one story per real-world event, however many outlets carry it.

Two kinds of "same story":

* syndicated near-copies (the same wire text under another headline): MinHash over word
  5-shingles, compared with every signature in the window. Each article's signature is stored in
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
import itertools
import math
import re
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from newsradar.config import Config
from newsradar.store import Database

if TYPE_CHECKING:  # numpy is imported where a signature is computed: a run with no
    import numpy as np  # article to group (most service polls) never loads it (0.1 s)

from .common import ArticleRow, article_from_row, fetch_articles, iso, parse_time, utc, write_transaction

NUM_PERM = 128
SHINGLE = 5
MINHASH_WORDS = 400  # words of an article's opening that its signature covers
SIGNATURE_TAG = b"mhc32:"         # crc32 shingle hashes, affine32 scheme, NUM_PERM uint32 values follow
NEAR_DUPLICATE_JACCARD = 0.5      # estimated Jaccard of 5-shingle sets for a syndicated copy
SYNDICATION_WINDOW = timedelta(days=14)
EVENT_WINDOW = timedelta(days=3)  # a rewrite of the same event appears within a few days
BATCH = 200                       # articles per write transaction
#: Articles the detector found nothing in (score 0: most never reached spaCy) join no story
#: unless a rule alerts from score 0: they cannot alert, `stories` is a view of the
#: sanctions and export-control news, and grouping all the news would cost more than
#: tagging it (measured: 2.7 ms of 13 ms per article in the benchmark).
STORY_MIN_SCORE = 1e-6

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

def words(text: str, limit: int | None = None) -> list[str]:
    """The text's words, lower-cased; the first `limit` only (the rest is not scanned)."""
    if limit is not None:
        return [m.group().lower() for m in itertools.islice(_WORD.finditer(text), limit)]
    if text.isascii():  # one lower() for the text: same words, a third of the time
        return _WORD.findall(text.lower())
    return [w.lower() for w in _WORD.findall(text)]


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A crude suffix stripper: 'smuggled'/'smuggling' and 'charges'/'charged' must meet."""
    for suffix in ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    return [_stem(w) for w in words(text) if w not in _STOPWORDS and len(w) > 1]


# MinHash, affine32 scheme (as datasketch 2.0 computes it, whose stored signatures these are):
# each crc32 shingle hash is pre-mixed with the MurmurHash3 finalizer, then permuted with
# a * h + b mod 2^32 (a odd); the signature is the minimum per permutation. Written out
# here because importing datasketch pulls in scipy (0.7 s per run, for LSH tuning we do
# not need: comparing a signature with every one in the window is one numpy expression).
_FMIX = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
_EMPTY = 0xFFFFFFFF


@functools.lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    gen = np.random.RandomState(1)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(hv: np.ndarray) -> np.ndarray:
    import numpy as np

    s1, m1, s2, m2, s3 = (np.uint32(v) for v in _FMIX)
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


def minhash(text: str) -> np.ndarray:
    """MinHash signature (NUM_PERM uint32) of the word 5-shingles of the text's opening
    (shorter texts: of their words).

    Copies of one wire story share their opening; hashing at most MINHASH_WORDS words
    keeps the cost flat for long articles."""
    import numpy as np

    tokens = words(text, MINHASH_WORDS)
    if len(tokens) >= SHINGLE:
        shingles = {" ".join(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}
    else:
        shingles = set(tokens)
    if not shingles:
        return np.full(NUM_PERM, _EMPTY, dtype=np.uint32)
    # crc32: stable across processes and ~5x cheaper than sha1
    hv = _fmix32(np.fromiter((zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint32,
                             count=len(shingles)))
    a, b = _permutations()
    with np.errstate(over="ignore"):  # uint32 wraparound is the modulo 2^32
        return (hv[:, None] * a + b).min(axis=0)


def signature_bytes(sig: np.ndarray) -> bytes:
    import numpy as np

    return SIGNATURE_TAG + np.asarray(sig, dtype=np.uint32).tobytes()


def signature_from_bytes(blob: bytes | None) -> np.ndarray | None:
    if not blob or not bytes(blob).startswith(SIGNATURE_TAG):
        return None
    import numpy as np

    values = np.frombuffer(bytes(blob)[len(SIGNATURE_TAG):], dtype=np.uint32)
    return values.copy() if len(values) == NUM_PERM else None


class _Signatures:
    """Signatures of the window's story members, queried all at once: at a few thousand
    articles a vectorised comparison beats an LSH index (and needs no parameter tuning)."""

    def __init__(self) -> None:
        import numpy as np

        self.urls: list[str] = []
        self.matrix = np.empty((64, NUM_PERM), dtype=np.uint32)
        self.index: dict[str, int] = {}

    def add(self, url: str, sig: np.ndarray) -> None:
        import numpy as np

        if url in self.index:
            self.matrix[self.index[url]] = sig
            return
        if len(self.urls) == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.empty_like(self.matrix)])
        self.matrix[len(self.urls)] = sig
        self.index[url] = len(self.urls)
        self.urls.append(url)

    def similar(self, sig: np.ndarray, threshold: float) -> list[tuple[str, float]]:
        """(url, estimated Jaccard) of every member at or above the threshold."""
        if not self.urls:
            return []
        import numpy as np

        agree = np.count_nonzero(self.matrix[: len(self.urls)] == sig, axis=1) / NUM_PERM
        return [(self.urls[i], float(agree[i])) for i in np.flatnonzero(agree >= threshold)]


def _norm_set(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values if v and v.strip()}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


#: Terms of articles already seen in this process: story grouping runs every few hundred
#: articles during a crawl, over a window that mostly holds the same articles each time.
_TERMS: dict[tuple[str, str | None, str], Counter[str]] = {}
_TERMS_MAX = 20_000


def event_terms(article: ArticleRow) -> Counter[str]:
    """content_terms of the article's event text, counted; once per article and process."""
    key = (article.url, article.text_hash, article.title)
    terms = _TERMS.get(key)
    if terms is None:
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        terms = _TERMS[key] = Counter(content_terms(_event_text(article)))
    return terms


def _event_text(article: ArticleRow) -> str:
    """Headline and key evidence sentences count twice: they say what happened."""
    evidence = " ".join(str(e.get("sentence", "")) for e in article.evidence if not e.get("negated"))
    return " ".join([article.title, article.title, evidence, evidence, article.text])


class _Vectoriser:
    """TF-IDF over the articles in the time window: words every article in the window uses
    (the company, "chips", "export controls") weigh little, the event's own words much.

    Vectors are built when a comparison first needs them: a grouping pass compares its
    new articles with the members that share an organisation, not the whole window."""

    def __init__(self, documents: dict[str, Counter[str]]) -> None:
        self.n = len(documents)
        self.documents = documents
        self.df: Counter[str] = Counter()
        for counts in documents.values():
            self.df.update(counts.keys())
        self.term_ids = {t: i for i, t in enumerate(self.df)}
        self._vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.documents

    def vector(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The document's sparse unit vector: (term ids, weights)."""
        vector = self._vectors.get(key)
        if vector is None:
            import numpy as np

            counts = self.documents[key]
            ids = np.array([self.term_ids[t] for t in counts], dtype=np.int64)
            tf = 1.0 + np.log(np.array(list(counts.values()), dtype=np.float64))
            df = np.array([self.df[t] for t in counts], dtype=np.float64)
            vec = tf * (np.log((self.n + 1) / (df + 1)) + 1.0)
            norm = float(np.sqrt(vec @ vec)) or 1.0
            vector = self._vectors[key] = (ids, vec / norm)
        return vector

    def cosines(self, a: str, others: list[str]) -> list[float]:
        """Cosine similarity of article `a` with each of `others`."""
        import numpy as np

        ids, weights = self.vector(a)
        dense = np.zeros(len(self.term_ids))
        dense[ids] = weights
        out = []
        for b in others:
            b_ids, b_weights = self.vector(b)
            out.append(float(dense[b_ids] @ b_weights))
        return out


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


def story_floor(config: Config) -> float:
    """The score an article needs to join a story (see STORY_MIN_SCORE)."""
    return min([STORY_MIN_SCORE, *(rule.min_score for rule in config.rules)])


def assign_stories(config: Config, db: Database, now: datetime | None = None) -> int:
    """Put every article without a story that scores at least `story_floor` into one (an
    existing one or a new one).

    Articles are taken oldest first so the first report of an event founds its story.
    Returns how many articles were assigned.
    """
    moment = utc(now)
    pending = fetch_articles(db, "a.story_id is null and a.score >= ?", [story_floor(config)])
    if not pending:
        return 0
    pending.sort(key=lambda a: (a.when or moment, a.url))
    for art in pending:
        if art.when is None:
            art.seen_at = moment
    first, last = min(a.when or moment for a in pending), max(a.when or moment for a in pending)

    # Near-duplicates: signatures of the last SYNDICATION_WINDOW (no texts needed).
    signatures = _Signatures()
    copies: dict[str, ArticleRow] = {}
    by_hash: dict[str, int] = {}
    for art, blob in _load_window(db, first - SYNDICATION_WINDOW, last + SYNDICATION_WINDOW, with_text=False):
        sig = signature_from_bytes(blob)
        if sig is None:
            continue
        copies[art.url] = art
        signatures.add(art.url, sig)
        if art.text_hash and art.story_id:
            by_hash.setdefault(art.text_hash, art.story_id)
    # Same-event rewrites: full articles of the last EVENT_WINDOW, plus the new ones.
    members = {a.url: a for a, _ in _load_window(db, first - EVENT_WINDOW, last + EVENT_WINDOW, with_text=True)}
    by_org = _OrgIndex(members.values())
    # Only articles naming an organisation can be one event with another (event_threshold).
    documents = {a.url: event_terms(a) for a in list(members.values()) + pending
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
                match = _best_match(art, sig, signatures, copies, by_hash, by_org, vectoriser)
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
                signatures.add(art.url, sig)
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


def _best_match(art: ArticleRow, sig: np.ndarray, signatures: _Signatures, copies: dict[str, ArticleRow],
                by_hash: dict[str, int], members: "_OrgIndex",
                vectoriser: _Vectoriser) -> Match | None:
    """The story this article belongs to, or None for a new story."""
    if art.text_hash and art.text_hash in by_hash and art.text.strip():
        return Match(by_hash[art.text_hash], "duplicate", 1.0)
    best: Match | None = None
    if len(words(art.text, 3 * SHINGLE)) >= 3 * SHINGLE:   # too short a text makes shingles meaningless
        for key, similarity in signatures.similar(sig, NEAR_DUPLICATE_JACCARD):
            other = copies.get(key)
            if other is None or other.story_id is None or other.url == art.url:
                continue
            if art.when and other.when and abs(art.when - other.when) > SYNDICATION_WINDOW:
                continue
            if best is None or similarity > best.strength:
                best = Match(other.story_id, "syndicated", similarity)
    if best is not None:
        return best
    if art.url not in vectoriser:
        return None
    eligible: list[tuple[ArticleRow, float]] = []
    for other in members.candidates(art):
        if other.story_id is None or other.url == art.url or other.url not in vectoriser:
            continue
        threshold = event_threshold(art, other)
        if threshold is not None:
            eligible.append((other, threshold))
    similarities = vectoriser.cosines(art.url, [other.url for other, _ in eligible])
    for (other, threshold), similarity in zip(eligible, similarities):
        if similarity >= threshold and (best is None or similarity > best.strength):
            best = Match(other.story_id, "same-event", similarity)  # type: ignore[arg-type]
    return best


def _new_story(conn: sqlite3.Connection, art: ArticleRow, sig: np.ndarray, stamp: str) -> int:
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
    dated = [(row, utc_text(row[3]) or utc_text(row[4]) or "") for row in rows]
    lead = min(dated, key=lambda rd: (-(rd[0][2] or 0.0), rd[1], rd[0][6] != "first", rd[0][0]))[0]
    dates = [d for _, d in dated if d]
    conn.execute(
        "update stories set updated_at = ?, title = ?, lead_url = ?, score = ?, published = ?, signature = ? "
        "where id = ?",
        [stamp, lead[1], lead[0], lead[2] or 0.0, min(dates) if dates else None, lead[5], story_id])


def utc_text(text: str | None) -> str | None:
    moment = parse_time(text)
    return iso(moment) if moment else None
