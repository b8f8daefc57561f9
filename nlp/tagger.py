"""spaCy tagging: one lazily loaded pipeline per process, a cheap lemma/phrase pass over the
whole text, and statistical NER only on the few sentences that can change the score.

Why this shape: NER is ~90% of spaCy's CPU when run over whole articles, and the
tagger+tok2vec needed by spaCy's rule lemmatizer cost as much again. Instead the cheap pass
lemmatizes with the model's own lemma tables *without* POS (every token gets the first
verb/noun/adjective analysis that exists in the tables, cached per word form), so watch-list
phrases written in any inflection match "evaded", "evading", "sanctions". Only the headline
and the candidate evidence sentences go through the ``ner`` component.

Nothing in this module imports spaCy at import time.
"""

from __future__ import annotations

import numpy

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from nlp.terms import GAZETTEER_KEYS, PHRASE_LIST_DEFAULTS, Phrase, Watchlists

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

#: Components the loaded pipeline keeps: ``ner`` (its own embedding layer, no tok2vec
#: listener) and ``lemmatizer`` (only for its lookup tables; never run as a pipe).
KEEP_COMPONENTS: tuple[str, ...] = ("lemmatizer", "ner")

_PIPELINES: dict[str, "Language"] = {}
_PIPELINE_LOCK = threading.Lock()
_LOAD_COUNT: dict[str, int] = {}


def get_pipeline(name: str) -> "Language":
    """The spaCy pipeline for ``name``, loaded once per process with only the components we use."""
    nlp = _PIPELINES.get(name)
    if nlp is not None:
        return nlp
    with _PIPELINE_LOCK:
        nlp = _PIPELINES.get(name)
        if nlp is None:
            import spacy

            meta_names = _component_names(name)
            exclude = [c for c in meta_names if c not in KEEP_COMPONENTS]
            nlp = spacy.load(name, exclude=exclude)
            _PIPELINES[name] = nlp
            _LOAD_COUNT[name] = _LOAD_COUNT.get(name, 0) + 1
    return nlp


def _component_names(name: str) -> list[str]:
    """Component names declared by an installed pipeline package, without loading its weights."""
    import spacy

    try:
        path = spacy.util.get_package_path(name)
        meta = spacy.util.load_meta(next(path.glob("*/meta.json"), path / "meta.json"))
        comps = list(meta.get("components", [])) or list(meta.get("pipeline", []))
        if comps:
            return comps
    except Exception:  # noqa: BLE001 - fall back to the usual en_core_web_* layout
        pass
    return ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner"]


def load_count(name: str) -> int:
    """How many times ``name`` was loaded in this process (tests check it stays 1)."""
    return _LOAD_COUNT.get(name, 0)


# --------------------------------------------------------------------------------------
# POS-free lemmatizer
# --------------------------------------------------------------------------------------

_SPECIAL_LEMMAS = {"n't": "not", "nt": "not", "'s": "'s", "’s": "'s", "ca": "can", "wo": "will", "licence": "licence"}
_VOWELS = set("aeiou")


class LemmaTable:
    """Deterministic lemmas from the model's rule tables without a POS tagger.

    Pattern phrases and article text both go through this function, so they agree by
    construction; the verb -> noun -> adjective order maps inflected verbs ("evaded") to
    their base and plural nouns ("controls") to the singular.
    """

    def __init__(self, nlp: "Language") -> None:
        from spacy.lang.en.stop_words import STOP_WORDS

        self._stop = STOP_WORDS
        self._rules: dict[str, list[list[str]]] = {}
        self._index: dict[str, Any] = {}
        self._exc: dict[str, Any] = {}
        if "lemmatizer" in nlp.component_names:
            lemmatizer: Any = nlp.get_pipe("lemmatizer")
            lookups = lemmatizer.lookups
            tables = set(lookups.tables)
            for pos in ("verb", "noun", "adj"):
                if "lemma_rules" in tables:
                    self._rules[pos] = list(lookups.get_table("lemma_rules").get(pos, []))
                if "lemma_index" in tables:
                    self._index[pos] = set(lookups.get_table("lemma_index").get(pos, []))
                if "lemma_exc" in tables:
                    self._exc[pos] = dict(lookups.get_table("lemma_exc").get(pos, {}))
        self._cache: dict[str, str] = {}

    def _in_index(self, form: str) -> bool:
        return any(form in idx for idx in self._index.values())

    def lemma(self, lower: str) -> str:
        """Lemma of a lower-cased word form (cached)."""
        hit = self._cache.get(lower)
        if hit is not None:
            return hit
        out = self._compute(lower)
        self._cache[lower] = out
        return out

    def _compute(self, w: str) -> str:
        if w in _SPECIAL_LEMMAS:
            return _SPECIAL_LEMMAS[w]
        if not w.isalpha():
            return w
        for pos in ("verb", "noun", "adj"):
            exc = self._exc.get(pos, {}).get(w)
            if exc:
                return exc[0]
        if w in self._stop or len(w) <= 3:
            return w
        known = self._in_index(w)
        # a word that is itself a lemma ("thing", "process") only yields to a derived form
        # of 4+ letters ("chips" -> "chip", "importing" -> "import"), never to "the"
        min_len = 4 if known else 3
        oov: list[str] = []
        for pos in ("verb", "noun", "adj"):
            index = self._index.get(pos, set())
            for old, new in self._rules.get(pos, []):
                if not w.endswith(old):
                    continue
                form = w[: len(w) - len(old)] + new
                if len(form) < min_len:
                    continue
                if form in index:
                    return form
                # doubled final consonant: "transshipped" -> "transship"
                if (
                    new == ""
                    and old in ("ed", "ing")
                    and form[-1] == form[-2]
                    and form[-1] not in _VOWELS
                    and form[:-1] in index
                ):
                    return form[:-1]
                oov.append(form)
        if known:
            return w
        # British doubled "l" on a word the tables do not know: "relabelling" -> "relabel"
        # (known bases such as "channel"/"funnel" are already handled above)
        if w.endswith(("lled", "lling")):
            stem = w[:-2] if w.endswith("lled") else w[:-3]
            if len(stem) >= 6 and stem[-3] in _VOWELS and stem[-4] not in _VOWELS:
                return stem[:-1]
        return oov[0] if oov else w


# --------------------------------------------------------------------------------------
# Phrase compilation
# --------------------------------------------------------------------------------------

GAP_MAX = 3
_HYPHENS = frozenset({"-", "–", "‐", "—"})


@dataclass(frozen=True)
class PatternInfo:
    """Metadata for one compiled pattern: which list, which phrase, which weight."""

    category: str
    phrase: str
    weight: float


@dataclass(frozen=True)
class Slot:
    """One position of a compiled phrase: a set of lemmas or exact forms, or a gap."""

    kind: str  # "lemma" | "orth" | "gap"
    values: frozenset[str] = frozenset()
    optional: bool = False

    @property
    def required_word(self) -> bool:
        """A word that must be there (not a gap, not optional): the one slot kind whose
        position can be checked before trying to match what comes before it."""
        return self.kind != "gap" and not self.optional


Pattern = tuple[Slot, ...]


def _slot_alternatives(nlp: "Language", lemmas: LemmaTable, slot: str) -> list[list[Slot]]:
    """Slot sequences for one written slot ("a|b", "=EXACT", "word?"), grouped by length."""
    optional = slot.endswith("?") and len(slot) > 1
    if optional:
        slot = slot[:-1]
    exact: set[str] = set()
    by_len: dict[int, list[list[str]]] = {}
    for alt in slot.split("|"):
        if not alt:
            continue
        if alt.startswith("=") and len(alt) > 1:
            exact.add(alt[1:])
            continue
        toks = [t.text for t in nlp.make_doc(alt) if t.text not in _HYPHENS and not t.is_space]
        if toks:
            by_len.setdefault(len(toks), []).append([lemmas.lemma(t.lower()) for t in toks])
    variants: list[list[Slot]] = []
    if exact:
        variants.append([Slot("orth", frozenset(exact), optional)])
    for n, seqs in by_len.items():
        if n == 1:
            variants.append([Slot("lemma", frozenset(seq[0] for seq in seqs), optional)])
        else:
            variants.extend([Slot("lemma", frozenset([lem])) for lem in seq] for seq in seqs)
    return variants


def compile_phrase(nlp: "Language", lemmas: LemmaTable, text: str) -> list[Pattern]:
    """Compiled patterns for one watch-list phrase (see the syntax notes in watchlists.toml).

    Hyphens are not part of patterns: the matcher skips hyphen tokens, so "re-export",
    "re export" and "export-control" / "export control" match alike.
    """
    slots: list[list[list[Slot]]] = []
    for raw in text.split():
        if raw == "...":
            slots.append([[Slot("gap")]])
            continue
        parts = re.split(r"(?<=\w)[-–](?=\w)", raw) if "|" not in raw and not raw.startswith("=") else [raw]
        for part in parts:
            alts = _slot_alternatives(nlp, lemmas, part)
            if alts:
                slots.append(alts)
    patterns: list[Pattern] = []
    for combo in itertools.product(*slots):
        seq = [slot for piece in combo for slot in piece]
        while seq and (seq[0].kind == "gap" or seq[0].optional):
            seq.pop(0)
        while seq and (seq[-1].kind == "gap" or seq[-1].optional):
            seq.pop()
        if seq and tuple(seq) not in patterns:
            patterns.append(tuple(seq))
    return patterns


class LemmaMatcher:
    """Phrase matcher over lemmas with gaps, alternatives and optional tokens.

    Why not spaCy's ``Matcher``: it tries every pattern at every token, which cost ~60 ms
    per article with ~400 watch-list patterns; indexing patterns by their first slot makes
    the pass ~1-2 ms, so it can run over whole articles.
    """

    def __init__(self) -> None:
        self._by_lemma: dict[str, list[_Entry]] = {}
        self._by_orth: dict[str, list[_Entry]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: int, patterns: Iterable[Pattern]) -> None:
        for pattern in patterns:
            first = pattern[0]
            index = self._by_orth if first.kind == "orth" else self._by_lemma
            entry = (pattern, key, *_second_word(pattern))
            for value in first.values:
                index.setdefault(value, []).append(entry)
            self._count += 1

    def __call__(self, lemmas: Sequence[str], orths: Sequence[str]) -> list[tuple[int, int, int]]:
        """(key, start, end) over a token sequence (positions in that sequence)."""
        out: list[tuple[int, int, int]] = []
        n = len(lemmas)
        by_lemma, by_orth = self._by_lemma, self._by_orth
        for i in range(n):
            nxt = i + 1 < n
            for index, value in ((by_lemma, lemmas[i]), (by_orth, orths[i])):
                for pattern, key, by_lemma_next, next_values in index.get(value, ()):
                    # most first words ("the", "in", "to") are not followed by the pattern's
                    # required second word: ruling that out here saves the recursive call
                    if next_values is not None and not (
                            nxt and (lemmas[i + 1] if by_lemma_next else orths[i + 1]) in next_values):
                        continue
                    end = _match_from(pattern, 0, i, lemmas, orths, n)
                    if end is not None:
                        out.append((key, i, end))
        return out


#: (pattern, key, second slot is a lemma slot, the second slot's words or None when the
#: second position is not one required word: a gap, optional, or the pattern's end)
_Entry = tuple[Pattern, int, bool, "frozenset[str] | None"]


def _second_word(pattern: Pattern) -> tuple[bool, frozenset[str] | None]:
    """The word the pattern requires right after its first one, if it requires one there."""
    if len(pattern) < 2 or not pattern[1].required_word:
        return False, None
    return pattern[1].kind == "lemma", pattern[1].values


def _match_from(
    pattern: Pattern, k: int, i: int, lemmas: Sequence[str], orths: Sequence[str], n: int
) -> int | None:
    """End position if ``pattern[k:]`` matches at token i (shortest gaps first)."""
    if k == len(pattern):
        return i
    slot = pattern[k]
    if slot.kind == "gap":
        after = pattern[k + 1] if k + 1 < len(pattern) else None
        # a required word after the gap: only the positions holding it can continue (the
        # same answer as trying every gap length, without a call per length)
        required = after is not None and after.required_word
        for j in range(i, min(i + GAP_MAX, n) + 1):
            if required:
                assert after is not None
                if j >= n or (lemmas[j] if after.kind == "lemma" else orths[j]) not in after.values:
                    continue
            end = _match_from(pattern, k + 1, j, lemmas, orths, n)
            if end is not None:
                return end
        return None
    if i < n and (lemmas[i] if slot.kind == "lemma" else orths[i]) in slot.values:
        end = _match_from(pattern, k + 1, i + 1, lemmas, orths, n)
        if end is not None:
            return end
    if slot.optional:
        return _match_from(pattern, k + 1, i, lemmas, orths, n)
    return None


def _exact_alias(alias: str) -> bool:
    """Short all-caps aliases ("US", "AWS", "BIS") match case-sensitively; everything else not."""
    letters = alias.replace(".", "").replace("&", "")
    return letters.isalpha() and letters.isupper() and 2 <= len(letters) <= 5


class CompiledWatchlists:
    """Matchers for one Watchlists object on one pipeline's vocab."""

    def __init__(self, nlp: "Language", lemmas: LemmaTable, watchlists: Watchlists) -> None:
        from spacy.matcher import PhraseMatcher

        self.matcher = LemmaMatcher()
        self.info: dict[int, PatternInfo] = {}
        for category in PHRASE_LIST_DEFAULTS:
            for phrase in watchlists.phrases(category):
                patterns = compile_phrase(nlp, lemmas, phrase.text)
                if not patterns:
                    continue
                key = len(self.info)
                self.matcher.add(key, patterns)
                self.info[key] = PatternInfo(category, phrase.text, phrase.weight)

        self.gaz_lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.gaz_exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.canonical: dict[int, tuple[str, str]] = {}
        self.alias_index: dict[str, tuple[str, str]] = {}
        for kind in sorted(GAZETTEER_KEYS):
            table = watchlists.organisations if kind == "organisations" else watchlists.countries
            for canon, aliases in table.items():
                key_name = f"{kind}::{canon}"
                key_id = nlp.vocab.strings.add(key_name)
                self.canonical[key_id] = (kind, canon)
                lower_docs: list[Doc] = []
                exact_docs: list[Doc] = []
                for alias in aliases:
                    self.alias_index.setdefault(_norm_name(alias), (kind, canon))
                    (exact_docs if _exact_alias(alias) else lower_docs).append(nlp.make_doc(alias))
                if lower_docs:
                    self.gaz_lower.add(key_name, lower_docs)
                if exact_docs:
                    self.gaz_exact.add(key_name, exact_docs)
        self._lemmas = lemmas
        org_aliases = sorted(
            (a for a, (k, _) in self.alias_index.items() if k == "organisations" and len(a) > 3),
            key=len,
            reverse=True,
        )
        self.org_alias_re = re.compile(r"\b(%s)\b" % "|".join(re.escape(a) for a in org_aliases)) if org_aliases else None


    def is_common_word(self, lower: str) -> bool:
        """Whether a lower-cased word is an ordinary dictionary word (the model's lemma index)."""
        return self._lemmas._in_index(self._lemmas.lemma(lower))


def _norm_name(name: str) -> str:
    """Normalise an entity string for alias lookup: case, leading 'the', trailing possessive."""
    s = name.strip().lower().replace("’", "'")
    s = re.sub(r"^the\s+", "", s)
    s = re.sub(r"'s$", "", s).strip()
    s = re.sub(r"[.,]?\s+(inc|corp|corporation|ltd|limited|co|plc|llc|group|holdings)\.?$", "", s)
    return s


# --------------------------------------------------------------------------------------
# Tagging a document
# --------------------------------------------------------------------------------------

_SENT_END = {".", "!", "?", "…"}
_CLOSERS = {'"', "'", "”", "’", ")", "]", "»"}


@dataclass
class Hit:
    """One watch-list match in a sentence."""

    category: str
    phrase: str
    weight: float
    start: int
    end: int
    text: str = ""


@dataclass
class Sentence:
    """A sentence (or the headline, index -1) with its matches and entities."""

    index: int
    text: str
    hits: list[Hit] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    ner_labels: set[str] = field(default_factory=set)
    ner_done: bool = False
    #: a capitalised word (not the first, not a calendar word) outside every gazetteer
    #: match: a name statistical NER could add; without one it can only repeat the gazetteer
    unknown_names: bool = True

    def of(self, category: str) -> list[Hit]:
        return [h for h in self.hits if h.category == category]


@dataclass
class Tagged:
    """Result of the cheap pass over one article (headline first, index -1)."""

    sentences: list[Sentence]
    org_counts: dict[str, int]
    country_counts: dict[str, int]


TOKENS_KEY = "newsradar_tokens"


@dataclass
class TokenLists:
    """A doc's token attributes as plain lists, read in one `to_array` call."""

    texts: list[str]
    lowers: list[str]
    is_space: list[bool]
    is_punct: list[bool]
    spaced: list[bool]        # followed by whitespace
    lemmas: list[str]         # POS-free lemmas, filled by Tagger.make_doc ("" for spaces)
    chars: list[int]          # character offset of each token in doc.text
    sent_starts: list[int] = field(default_factory=list)  # first token of each sentence
    text: str = ""            # doc.text (spaCy rebuilds it from Token objects on every access)

    def span_text(self, start: int, end: int) -> str:
        """doc[start:end].text, without making spaCy Token objects."""
        if end <= start:
            return ""
        return self.text[self.chars[start]:self.chars[end - 1] + len(self.texts[end - 1])]


def token_lists(doc: "Doc", text: str) -> TokenLists:
    """Read the attributes the cheap pass needs (`text` is doc.text); kept on the doc for the
    later steps (`Tagger.make_doc` fills in lemmas and sentence starts)."""
    from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, SPACY

    n = len(doc)
    if n:
        # small integers only: turning ORTH/LOWER hashes into strings costs more than slicing
        arr = doc.to_array([IDX, LENGTH, IS_SPACE, IS_PUNCT, SPACY]).astype("int64")
        chars, lengths = arr[:, 0].tolist(), arr[:, 1].tolist()
        texts = [text[c:c + k] for c, k in zip(chars, lengths)]
        lists = TokenLists(texts, [t.lower() for t in texts], (arr[:, 2] != 0).tolist(), (arr[:, 3] != 0).tolist(),
                           (arr[:, 4] != 0).tolist(), [""] * n, chars, text=text)
    else:
        lists = TokenLists([], [], [], [], [], [], [], text=text)
    doc.user_data[TOKENS_KEY] = lists
    return lists


class Tagger:
    """Cheap pass (tokenizer + POS-free lemmas + Matcher/PhraseMatcher) and selective NER."""

    def __init__(self, pipeline: str, watchlists: Watchlists) -> None:
        self.pipeline_name = pipeline
        self.watchlists = watchlists
        self._compiled: CompiledWatchlists | None = None
        self._lemmas: LemmaTable | None = None
        self._lock = threading.Lock()

    @property
    def nlp(self) -> "Language":
        return get_pipeline(self.pipeline_name)

    def _ready(self) -> tuple["Language", LemmaTable, CompiledWatchlists]:
        if self._compiled is None or self._lemmas is None:
            with self._lock:
                if self._compiled is None or self._lemmas is None:
                    nlp = self.nlp
                    lemmas = _lemma_table(nlp, self.pipeline_name)
                    key = (self.pipeline_name, self.watchlists.fingerprint)
                    compiled = _COMPILED.get(key) if self.watchlists.fingerprint else None
                    if compiled is None:
                        compiled = CompiledWatchlists(nlp, lemmas, self.watchlists)
                        if self.watchlists.fingerprint:
                            _COMPILED[key] = compiled
                    self._compiled = compiled
                    self._lemmas = lemmas
        return self.nlp, self._lemmas, self._compiled

    # -- cheap pass -------------------------------------------------------------------

    def make_doc(self, text: str) -> "Doc":
        """Tokenize, set sentence starts (punctuation and line breaks) and POS-free lemmas.

        Token attributes are read once into Python lists (`doc.user_data[TOKENS_KEY]`, a
        `TokenLists`) that the rest of the cheap pass works on: touching spaCy `Token`
        objects one by one costs more than the tokenizer itself. Sentence starts are set
        in one `from_array` call: assigning `token.is_sent_start` one by one makes spaCy
        rescan the document each time (quadratic in article length)."""
        from spacy.attrs import SENT_START

        nlp, lemmas, _ = self._ready()
        doc = nlp.make_doc(text)
        toks = token_lists(doc, text)
        texts, is_space, spaced = toks.texts, toks.is_space, toks.spaced
        n = len(texts)
        lemma_of = lemmas.lemma
        lemma_list = toks.lemmas
        starts = numpy.full((n, 1), -1, dtype="int64")  # 1 = starts a sentence, -1 = does not
        boundary = True
        for i in range(n):
            t = texts[i]
            if is_space[i]:
                if i == 0:
                    starts[i, 0] = 1
                if "\n" in t:
                    boundary = True
                continue
            if boundary and i > 0 and t in _CLOSERS and not spaced[i - 1] and texts[i - 1][-1:] in _SENT_END:
                lemma_list[i] = t  # closing quote/bracket after the full stop
                continue
            if boundary or i == 0:
                starts[i, 0] = 1
            boundary = False
            lemma_list[i] = lemma_of(toks.lowers[i])
            if t in _SENT_END or (len(t) > 1 and t.strip(".!?…") == ""):
                boundary = _end_of_sentence(texts, is_space, i)
        if n:
            sent_start: Any = starts.view("uint64")  # spaCy reads -1 from its uint64 form
            doc.from_array([SENT_START], sent_start)
            toks.sent_starts = numpy.flatnonzero(starts[:, 0] == 1).tolist()
        return doc

    def tag(self, title: str, text: str) -> Tagged:
        """Cheap pass over headline and body; NER is not run here (see ``run_ner``)."""
        return self.tag_docs(self.make_doc(title or ""), self.make_doc(text or ""))

    def tag_docs(self, head: "Doc", body: "Doc") -> Tagged:
        _, _, compiled = self._ready()
        sentences: list[Sentence] = []
        org_counts: dict[str, int] = {}
        country_counts: dict[str, int] = {}
        for idx_offset, doc in ((-1, head), (0, body)):
            lists: TokenLists = doc.user_data[TOKENS_KEY]  # left by make_doc
            bounds = [0, len(doc)] if idx_offset == -1 else [*lists.sent_starts, len(doc)]
            sents: list[tuple[int, int]] = []  # token ranges of the non-blank sentences
            sent_objs: list[Sentence] = []
            for a, b in zip(bounds, bounds[1:]):
                sentence = lists.span_text(a, b).strip()
                if sentence:
                    sent_objs.append(Sentence(index=-1 if idx_offset == -1 else len(sents), text=sentence))
                    sents.append((a, b))
            starts = [a for a, _ in sents]
            if not sent_objs:
                continue

            def which(i: int) -> int:
                lo, hi = 0, len(starts) - 1
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if starts[mid] <= i:
                        lo = mid
                    else:
                        hi = mid - 1
                return lo

            for si, (a, b) in enumerate(sents):
                idx = [i for i in range(a, b) if not lists.is_space[i] and lists.texts[i] not in _HYPHENS]
                lemma_seq = [lists.lemmas[i] for i in idx]
                orth_seq = [lists.texts[i] for i in idx]
                for key, first, last in compiled.matcher(lemma_seq, orth_seq):
                    info = compiled.info[key]
                    start, end = idx[first], idx[last - 1] + 1
                    surface = re.sub(r"\s*([-–‐])\s*", r"\1", lists.span_text(start, end))
                    sent_objs[si].hits.append(Hit(info.category, info.phrase, info.weight, start, end, surface))
            gaz, known = _gazetteer_spans(doc, compiled)
            for si, (a, b) in enumerate(sents):
                sent_objs[si].unknown_names = _has_unknown_names(lists, a, b, known)
            for kind, canon, start, _end in gaz:
                si = which(start)
                target = sent_objs[si].orgs if kind == "organisations" else sent_objs[si].countries
                if canon not in target:
                    target.append(canon)
                counts = org_counts if kind == "organisations" else country_counts
                counts[canon] = counts.get(canon, 0) + 1
            sentences.extend(sent_objs)
        return Tagged(sentences=sentences, org_counts=org_counts, country_counts=country_counts)

    # -- selective NER ----------------------------------------------------------------

    def run_ner(self, sentences: Sequence[Sentence], batch_size: int = 32) -> None:
        """Statistical NER on the given sentences only; adds canonical orgs/countries in place."""
        todo = [s for s in sentences if not s.ner_done and s.text]
        if not todo:
            return
        nlp, _, compiled = self._ready()
        ner: Any = nlp.get_pipe("ner") if "ner" in nlp.pipe_names else None
        docs = [nlp.make_doc(s.text) for s in todo]
        if ner is not None:
            docs = list(ner.pipe(docs, batch_size=batch_size))
        for sent, doc in zip(todo, docs):
            sent.ner_done = True
            for ent in doc.ents:
                sent.ner_labels.add(ent.label_)
                kind_canon = resolve_entity(ent.text, ent.label_, compiled)
                if kind_canon is None:
                    continue
                kind, canon = kind_canon
                target = sent.orgs if kind == "organisations" else sent.countries
                if canon not in target:
                    target.append(canon)


#: Capitalised words that are never the names NER is run for.
CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december".split())


def _has_unknown_names(lists: TokenLists, start: int, end: int, known: set[int]) -> bool:
    """Whether tokens start..end (a sentence) hold a capitalised word (after the first word)
    that no gazetteer match covers: only then can NER find an organisation or place the
    gazetteer did not."""
    first = True
    for i in range(start, end):
        if lists.is_space[i] or lists.is_punct[i]:
            continue
        if first:
            first = False
            continue
        text = lists.texts[i]
        if text[:1].isupper() and i not in known and lists.lowers[i] not in CALENDAR_WORDS:
            return True
    return False


def _end_of_sentence(texts: list[str], is_space: list[bool], i: int) -> bool:
    """Whether a sentence-final mark at token i ends the sentence (the next word is not lower-case)."""
    n = len(texts)
    j = i + 1
    while j < n and (is_space[j] and "\n" not in texts[j] or texts[j] in _CLOSERS):
        j += 1
    if j >= n:
        return True
    return not texts[j][:1].islower()


def _gazetteer_spans(doc: "Doc", compiled: CompiledWatchlists) -> tuple[list[tuple[str, str, int, int]], set[int]]:
    """Non-overlapping gazetteer matches (longest wins; organisations beat countries on ties),
    and the token positions they cover."""
    raw = list(compiled.gaz_lower(doc)) + list(compiled.gaz_exact(doc))
    cands = []
    for match_id, start, end in raw:
        kind, canon = compiled.canonical[match_id]
        cands.append((end - start, 1 if kind == "organisations" else 0, start, end, kind, canon))
    cands.sort(key=lambda c: (-c[0], -c[1], c[2]))
    taken: set[int] = set()
    out: list[tuple[str, str, int, int]] = []
    for _, _, start, end, kind, canon in cands:
        if any(i in taken for i in range(start, end)):
            continue
        taken.update(range(start, end))
        out.append((kind, canon, start, end))
    out.sort(key=lambda c: c[2])
    return out, taken


_ORG_STOP = {
    "reuters", "associated press", "ap", "bloomberg", "the information", "information",
    "ai", "gpu", "gpus", "cpu", "lng", "hbm", "euv", "duv", "ceo", "it", "eu", "un", "g7",
}


def resolve_entity(text: str, label: str, compiled: CompiledWatchlists) -> tuple[str, str] | None:
    """Map an NER entity to (kind, canonical name), or None when it is neither a known
    organisation/country nor a plausible new organisation name."""
    norm = _norm_name(text)
    hit = compiled.alias_index.get(norm)
    if hit is not None:
        if label == "ORG" or hit[0] == "countries":
            return hit
        if label in ("GPE", "NORP", "LOC", "FAC"):
            return hit if hit[0] == "countries" else None
        return hit if hit[0] == "organisations" and label == "ORG" else None
    if label != "ORG":
        return None
    # an ORG containing a known organisation alias ("Alibaba Group Holding Ltd")
    if compiled.org_alias_re is not None:
        m = compiled.org_alias_re.search(norm)
        if m is not None:
            return compiled.alias_index[m.group(1)]
    clean = re.sub(r"^(the)\s+", "", text.strip(), flags=re.I)
    clean = re.sub(r"['’]s$", "", clean).strip(" ,.;:")
    if len(clean) < 2 or not any(c.isupper() for c in clean) or clean.lower() in _ORG_STOP:
        return None
    if "\n" in clean or len(clean) > 80:
        return None
    # a single ordinary word tagged ORG ("Fraud", "Sanctions") is NER noise
    if " " not in clean and not clean.isupper() and compiled.is_common_word(clean.lower()):
        return None
    return "organisations", clean


_LEMMA_TABLES: dict[str, LemmaTable] = {}
#: Compiled matchers shared by Detectors with the same pipeline and watch lists.
_COMPILED: dict[tuple[str, str], "CompiledWatchlists"] = {}


def _lemma_table(nlp: "Language", name: str) -> LemmaTable:
    table = _LEMMA_TABLES.get(name)
    if table is None:
        table = _LEMMA_TABLES[name] = LemmaTable(nlp)
    return table


def iter_batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Chunks of ``size`` items (the last may be shorter)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "KEEP_COMPONENTS",
    "Hit",
    "LemmaTable",
    "Phrase",
    "Sentence",
    "Tagged",
    "Tagger",
    "compile_phrase",
    "get_pipeline",
    "load_count",
]
