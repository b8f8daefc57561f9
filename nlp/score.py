"""Article score from sentence-level evidence.

A sentence is evidence when it carries an evasion/loophole cue *and* a restriction term sits
in the same or an adjacent sentence (the headline counts as adjacent to the lead). Its weight
is the cue strength times the restriction strength, discounted for negation/denial,
compliance/legality, non-sanctions loophole contexts (tax, games, hacking), history and
hypothetical framing, and for the absence of an actor; the headline and lead count more.
The article score is a noisy-OR over the best few sentences, damped when the article as a
whole is a denial ("found no evidence", "rarely used in practice").

The numbers are deliberately few and coarse: they were set on a small dev corpus and must
carry over to other outlets' wording, so each one encodes a linguistic reason, not a fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nlp.tagger import Hit, Sentence, Tagged

#: Scale of one sentence's evidence: a single strong body sentence alone stays near 0.5,
#: so an alert needs either the headline or corroboration from a second sentence.
SENTENCE_SCALE = 0.7
HEADLINE_BOOST = 1.3
LEAD_BOOST = 1.12
LEAD_SENTENCES = 2
ADJACENT_RESTRICTION = 0.7
#: A weak restriction word in the cue sentence that refers back to a named restriction next door.
COREF_RESTRICTION = 0.85
SECOND_CUE_BONUS = 0.3
TOP_K = 4
NO_ACTOR = 0.8
NEGATION_DAMP = 0.75     # multiplier 1 - 0.75 * weight of the strongest negation cue
COMPLIANCE_DAMP = 0.5
BENIGN_DAMP = 0.75
HISTORY_DAMP = 0.6
#: A cue sentence next to a historical one ("Smugglers found ways around it." after "In the
#: 1970s...") is usually part of the same history; an article whose headline is historical
#: ("How Cold War smugglers...") is an explainer, not news of a circumvention.
HISTORY_NEIGHBOUR_DAMP = 0.3
HISTORY_HEADLINE_DAMP = 0.4
HEDGE_DAMP = 0.3
DENIAL_PER_SENTENCE = 0.22
DENIAL_FLOOR = 0.3
#: Articles whose only restriction words are generic ("ban", "rules", "tariff") are off-topic
#: loopholes (airline fares, app stores); without any sanctions/export-control term the score halves.
OFF_TOPIC_DAMP = 0.5
STRONG_RESTRICTION = 0.8
#: Restriction context from elsewhere in the article: stories name the sanction or control
#: once ("X is subject to US sanctions") and describe the workaround in other sentences.
#: A clear cue (weight >= ARTICLE_CONTEXT_MIN_CUE; in the headline two moderate cues together
#: count: "Suitcase couriers ...") in an article with strong restriction
#: terms (>= ARTICLE_CONTEXT_MIN_RESTRICTION) in >= 1 sentence counts as if a restriction term sat at this strength nearby.
ARTICLE_CONTEXT = 0.55
ARTICLE_CONTEXT_MIN_CUE = 0.55
ARTICLE_CONTEXT_MIN_RESTRICTION = 0.7
#: NER only runs on sentences whose preliminary weight reaches this (and on the headline).
NER_MIN_WEIGHT = 0.02
NER_MAX_SENTENCES = 4

ACTOR_LABELS = frozenset({"ORG", "PERSON", "NORP", "GPE"})


@dataclass
class SentenceScore:
    """Evidence weight of one sentence and the terms behind it."""

    sentence: Sentence
    weight: float
    restriction_terms: list[str]
    evasion_cues: list[str]
    negation_cues: list[str]
    negated: bool
    denial: bool = False


@dataclass
class ArticleScore:
    """Score plus the sentences that made it, best first."""

    score: float
    evidence: list[SentenceScore] = field(default_factory=list)
    denial_sentences: int = 0


def _names(hits: list[Hit]) -> list[str]:
    """Matched surface text for reports: overlapping matches collapse to the longest span,
    case-insensitively deduplicated, in text order."""
    kept: list[Hit] = []
    for h in sorted(hits, key=lambda h: (-(h.end - h.start), -h.weight, h.start)):
        if any(h.start < o.end and o.start < h.end for o in kept):
            continue
        kept.append(h)
    seen: dict[str, str] = {}
    for h in sorted(kept, key=lambda h: h.start):
        name = h.text or h.phrase
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def _max(hits: list[Hit]) -> float:
    return max((h.weight for h in hits), default=0.0)


def _distinct_cues(hits: list[Hit]) -> list[Hit]:
    """Cue hits with overlapping token spans collapsed to the strongest one."""
    out: list[Hit] = []
    for h in sorted(hits, key=lambda h: -h.weight):
        if any(h.start < o.end and o.start < h.end for o in out):
            continue
        out.append(h)
    return out


def _outside_restriction(cues: list[Hit], restr: list[Hit]) -> list[Hit]:
    """Cues not strictly inside a longer restriction phrase: in "cannot be exported without a
    licence" the "without a licence" belongs to the rule statement, not to an evasion."""
    return [
        c for c in cues
        if not any(r.start <= c.start and c.end <= r.end and r.end - r.start > c.end - c.start for r in restr)
    ]


#: A year before 2000 ("in 1983", "the 1970s"), not an amount ("$1,950", "1950 units" is rare).
_OLD_YEAR = re.compile(r"(?<![\d$£€.,])1[89]\d\d(?:s|\b)(?![\d,.]\d)")


def _historic(sent: Sentence) -> bool:
    """Whether a sentence is set in the past: a history cue or a pre-2000 year."""
    return bool(sent.of("history_cues")) or bool(_OLD_YEAR.search(sent.text))


def _outside_frames(cues: list[Hit], frames: list[Hit]) -> list[Hit]:
    """Cues that do not start inside a prevention/prohibition frame: in "to prevent diversion
    through third countries" or "a ban on trans-shipping gas through EU ports" the cue
    (and whatever it spans after) is what the rule forbids, not something anyone did."""
    return [
        c for c in cues
        if not any(f.start <= c.start < f.end for f in frames)
    ]


def _restriction(sent: Sentence) -> list[Hit]:
    return sent.of("restriction_terms") + sent.of("weak_restriction_terms")


def _neighbours(sentences: list[Sentence], i: int) -> list[Sentence]:
    """Adjacent sentences; the headline (index -1) neighbours the first two body sentences."""
    sent = sentences[i]
    out: list[Sentence] = []
    if sent.index == -1:
        out = [s for s in sentences if 0 <= s.index < LEAD_SENTENCES]
    else:
        for j in (i - 1, i + 1):
            if 0 <= j < len(sentences) and sentences[j].index >= 0:
                out.append(sentences[j])
        if sent.index == 0:
            out += [s for s in sentences if s.index == -1]
    return out


def _has_actor(sent: Sentence) -> bool:
    return bool(sent.orgs or sent.countries or sent.of("actor_cues") or (sent.ner_labels & ACTOR_LABELS))


def article_context(sentences: list[Sentence]) -> float:
    """Restriction strength available to every sentence: ARTICLE_CONTEXT when the article
    anywhere carries a strong sanctions/export-control term, else 0."""
    strong = any(h.weight >= ARTICLE_CONTEXT_MIN_RESTRICTION for s in sentences for h in s.of("restriction_terms"))
    return ARTICLE_CONTEXT if strong else 0.0


def score_sentence(sentences: list[Sentence], i: int, context: float = 0.0) -> SentenceScore:
    """Evidence weight of sentence i (0 when it has no cue or no restriction term nearby;
    ``context`` is the article-level restriction strength, see ``article_context``)."""
    sent = sentences[i]
    if not sent.hits:  # most sentences: nothing below could give weight or name a term
        return SentenceScore(sent, 0.0, [], [], [], False)
    restr_same = _restriction(sent)
    # cues that are part of a rule statement ("cannot be exported without a licence", "a ban on
    # trans-shipping") or the object of a prevention frame ("to prevent diversion") do not count
    cues = _outside_restriction(sent.of("evasion_cues"), sent.of("restriction_terms"))
    cues = _distinct_cues(_outside_frames(cues, sent.of("prevention_cues")))
    negs = sent.of("negation_cues")
    neg_names = _names(negs)
    result = SentenceScore(sent, 0.0, _names(restr_same), _names(cues), neg_names, bool(negs))
    if not cues:
        return result
    strengths = sorted((h.weight for h in cues), reverse=True)
    cue = min(1.0, strengths[0] + SECOND_CUE_BONUS * (strengths[1] if len(strengths) > 1 else 0.0))

    r_same = _max(restr_same)
    r_adj = 0.0
    adj_terms: list[str] = []
    for other in _neighbours(sentences, i):
        hits = _restriction(other)
        if not hits:
            continue
        strength = _max(hits) * ADJACENT_RESTRICTION
        comp = other.of("compliance_cues")
        if comp:  # "...complies with export controls": the restriction context is compliance
            strength *= 1.0 - COMPLIANCE_DAMP * _max(comp)
        if strength > r_adj:
            r_adj = strength
            adj_terms = _names(hits)
    r = max(r_same, r_adj)
    if r_same > 0.0 and r_adj > 0.0:
        # "U.S. rules bar X. But X escapes the restriction": a generic restriction word here
        # ("the restriction", "the rules") refers back to the one named next door
        r = max(r, min(1.0, r_adj / ADJACENT_RESTRICTION) * COREF_RESTRICTION)
    # a headline compresses its story into few words: two moderate cues there together
    # ("Suitcase couriers carried GPUs ...") are as clear as one strong cue in the body
    clear = cue if sent.index == -1 else strengths[0]
    if context > r and clear >= ARTICLE_CONTEXT_MIN_CUE and _has_actor(sent):
        # borrowed context only for sentences that say who does it, not for passing
        # mentions such as "the package includes provisions on circumvention"; and weaker
        # when the story next door frames the activity as compliant ("...will comply")
        r = context
        comp_near = [h for other in _neighbours(sentences, i) for h in other.of("compliance_cues")]
        if comp_near:
            r *= 1.0 - COMPLIANCE_DAMP * _max(comp_near)
    if r <= 0.0:
        return result
    if not result.restriction_terms:
        result.restriction_terms = adj_terms

    w = cue * r
    if negs:
        w *= 1.0 - NEGATION_DAMP * _max(negs)
    comp = sent.of("compliance_cues")
    if comp:
        w *= 1.0 - COMPLIANCE_DAMP * _max(comp)
    benign = sent.of("benign_contexts")
    if benign:
        # a strong sanctions term here or next door says the loophole is a sanctions one
        damp = BENIGN_DAMP if max(r_same, r_adj / ADJACENT_RESTRICTION) < 0.9 else BENIGN_DAMP / 2.5
        w *= 1.0 - damp * _max(benign)
    if _historic(sent):
        w *= 1.0 - HISTORY_DAMP
    elif any(_historic(o) for o in _neighbours(sentences, i)):
        w *= 1.0 - HISTORY_NEIGHBOUR_DAMP
    if sent.of("hedge_cues"):
        w *= 1.0 - HEDGE_DAMP
    if not _has_actor(sent):
        w *= NO_ACTOR
    if sent.index == -1:
        w *= HEADLINE_BOOST
    elif sent.index < LEAD_SENTENCES:
        w *= LEAD_BOOST
    result.weight = min(1.0, SENTENCE_SCALE * w)
    return result


def _is_denial(sentences: list[Sentence], i: int) -> bool:
    """A denial sentence that talks about the topic (cue or restriction here or next door)."""
    sent = sentences[i]
    if not sent.of("denial_cues"):
        return False
    window = [sent, *_neighbours(sentences, i)]
    return any(s.of("evasion_cues") or _restriction(s) for s in window)


@dataclass
class Preliminary:
    """Sentence scores before NER, and which sentences had been through NER then.

    A sentence's score reads NER results of that sentence only (`_has_actor`), so after
    NER only the sentences it ran on need scoring again."""

    scores: list[SentenceScore]
    ner_done: list[bool]


def preliminary_scores(tagged: Tagged) -> Preliminary:
    sents = tagged.sentences
    ctx = article_context(sents)
    return Preliminary([score_sentence(sents, i, ctx) for i in range(len(sents))], [s.ner_done for s in sents])


def score_article(tagged: Tagged, prelim: Preliminary | None = None) -> ArticleScore:
    """Noisy-OR of the best sentences, damped for denial-shaped articles. `prelim` (from
    `preliminary_scores` on this `tagged`) saves re-scoring the sentences NER did not touch."""
    sents = tagged.sentences
    ctx = article_context(sents)
    if prelim is None:
        scored = [score_sentence(sents, i, ctx) for i in range(len(sents))]
    else:
        assert len(prelim.scores) == len(sents), "preliminary scores of another article"
        scored = [sc if s.ner_done == done else score_sentence(sents, i, ctx)
                  for i, (s, sc, done) in enumerate(zip(sents, prelim.scores, prelim.ner_done))]
    denials = 0
    for i, sc in enumerate(scored):
        if _is_denial(sents, i):
            sc.denial = True
            denials += 1 if sents[i].index != -1 else 2
    evidence = sorted((s for s in scored if s.weight > 0), key=lambda s: -s.weight)
    remaining = 1.0
    for s in evidence[:TOP_K]:
        remaining *= 1.0 - s.weight
    score = 1.0 - remaining
    if denials:
        score *= max(DENIAL_FLOOR, 1.0 - DENIAL_PER_SENTENCE * denials)
    if any(s.index == -1 and _historic(s) for s in sents):
        score *= 1.0 - HISTORY_HEADLINE_DAMP
    if not any(h.weight >= STRONG_RESTRICTION for s in sents for h in s.of("restriction_terms")):
        score *= OFF_TOPIC_DAMP
    return ArticleScore(score=round(min(1.0, max(0.0, score)), 4), evidence=evidence, denial_sentences=denials)


def ner_candidates(tagged: Tagged, prelim: Preliminary | None = None) -> list[Sentence]:
    """Sentences where statistical NER can change the outcome: the headline and the strongest
    preliminary evidence, each only when NER could add something there: an actor the score
    lacks (no gazetteer organisation, country or actor cue) or a name for the alert (a
    capitalised word no gazetteer match covers)."""
    sents = tagged.sentences
    if prelim is None:
        prelim = preliminary_scores(tagged)
    weights = [(sc.weight, i) for i, sc in enumerate(prelim.scores)]
    chosen = [sents[i] for w, i in sorted(weights, reverse=True)[:NER_MAX_SENTENCES] if w >= NER_MIN_WEIGHT]
    head = [s for s in sents if s.index == -1]
    out = head + [s for s in chosen if s.index != -1]
    return [s for s in out if s.unknown_names or not _has_actor(s)]
