"""Watch lists as data: loading, merging config additions, and parsing the phrase syntax.

The built-in lists live in ``nlp/watchlists.toml`` (package data) so analysts can read and
extend them without touching code; config files add to them under ``[watchlists]``.
Nothing here imports spaCy, so the config loader can validate keys cheaply.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

#: Phrase lists whose entries use the lemma phrase syntax, with each list's default weight.
PHRASE_LIST_DEFAULTS: dict[str, float] = {
    "restriction_terms": 1.0,
    "weak_restriction_terms": 0.55,
    "evasion_cues": 1.0,
    "negation_cues": 1.0,
    "denial_cues": 1.0,
    "compliance_cues": 1.0,
    "benign_contexts": 1.0,
    "history_cues": 1.0,
    "hedge_cues": 1.0,
    "actor_cues": 1.0,
    "prevention_cues": 1.0,
}
#: Gazetteer tables: canonical name -> list of aliases.
GAZETTEER_KEYS: frozenset[str] = frozenset({"organisations", "countries"})
#: Top-level keys allowed under ``[watchlists]`` in config (the config loader validates against it).
WATCHLIST_KEYS: frozenset[str] = frozenset(PHRASE_LIST_DEFAULTS) | GAZETTEER_KEYS


class WatchlistError(ValueError):
    """A watch-list addition has the wrong shape (unknown key, non-string phrase...)."""


@dataclass(frozen=True)
class Phrase:
    """One watch-list entry: the phrase as written (used in reports) and its weight."""

    text: str
    weight: float


@dataclass(frozen=True)
class Watchlists:
    """Merged watch lists: phrase lists by key plus the two gazetteers."""

    lists: Mapping[str, tuple[Phrase, ...]]
    organisations: Mapping[str, tuple[str, ...]]
    countries: Mapping[str, tuple[str, ...]]
    fingerprint: str = field(default="")
    #: kind -> lower-case substrings of cue phrases (built-in ``[cue_kinds]``; not a config key)
    cue_kinds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def phrases(self, key: str) -> tuple[Phrase, ...]:
        """Phrases of one list (empty when the list is absent)."""
        return self.lists.get(key, ())

    @property
    def restriction_terms(self) -> tuple[Phrase, ...]:
        return self.phrases("restriction_terms") + self.phrases("weak_restriction_terms")

    @property
    def evasion_cues(self) -> tuple[Phrase, ...]:
        return self.phrases("evasion_cues")

    @property
    def negation_cues(self) -> tuple[Phrase, ...]:
        return self.phrases("negation_cues")


def parse_phrase(entry: str, default_weight: float) -> Phrase:
    """Split an optional trailing ``@weight`` off a watch-list entry."""
    text = entry.strip()
    weight = default_weight
    if "@" in text:
        head, _, tail = text.rpartition("@")
        try:
            weight = float(tail.strip())
            text = head.strip()
        except ValueError:
            pass
    if not text:
        raise WatchlistError(f"empty phrase in watch list: {entry!r}")
    return Phrase(text=text, weight=max(0.0, min(1.0, weight)))


def _builtin_data() -> dict[str, Any]:
    """The packaged ``watchlists.toml`` as a dict."""
    raw = resources.files("nlp").joinpath("watchlists.toml").read_text(encoding="utf-8")
    return tomllib.loads(raw)


def _check_list(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise WatchlistError(f"watchlists.{key} must be a list of strings")
    return list(value)


def _check_table(key: str, value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        raise WatchlistError(f"watchlists.{key} must be a table of canonical name -> list of aliases")
    out: dict[str, list[str]] = {}
    for canon, aliases in value.items():
        out[str(canon)] = _check_list(f"{key}.{canon}", aliases)
    return out


def validate_extra(extra: Mapping[str, Any]) -> None:
    """Raise WatchlistError when a config ``[watchlists]`` table has unknown keys or bad values."""
    for key, value in extra.items():
        if key not in WATCHLIST_KEYS:
            allowed = ", ".join(sorted(WATCHLIST_KEYS))
            raise WatchlistError(f"unknown watchlists key {key!r} (allowed: {allowed})")
        if key in GAZETTEER_KEYS:
            _check_table(key, value)
        else:
            _check_list(key, value)


def load_watchlists(extra: Mapping[str, Any] | None = None) -> Watchlists:
    """Built-in watch lists merged with config additions (lists extend, tables add aliases)."""
    data = _builtin_data()
    extra = dict(extra or {})
    validate_extra(extra)

    lists: dict[str, tuple[Phrase, ...]] = {}
    for key, default in PHRASE_LIST_DEFAULTS.items():
        entries = _check_list(key, data.get(key, [])) + _check_list(key, extra.get(key, []))
        seen: dict[str, Phrase] = {}
        for entry in entries:
            phrase = parse_phrase(entry, default)
            seen[phrase.text] = phrase  # a later (config) entry may re-weight a built-in
        lists[key] = tuple(seen.values())

    tables: dict[str, dict[str, tuple[str, ...]]] = {}
    for key in GAZETTEER_KEYS:
        merged: dict[str, list[str]] = {k: list(v) for k, v in _check_table(key, data.get(key, {})).items()}
        for canon, aliases in _check_table(key, extra.get(key, {})).items():
            bucket = merged.setdefault(canon, [])
            for alias in [canon, *aliases]:
                if alias not in bucket:
                    bucket.append(alias)
        for canon, bucket in merged.items():
            if canon not in bucket:
                bucket.insert(0, canon)
        tables[key] = {k: tuple(v) for k, v in merged.items()}

    fingerprint = repr(sorted((k, tuple(p.text for p in v)) for k, v in lists.items())) + repr(
        sorted((k, sorted(v.items())) for k, v in tables.items())
    )
    cue_kinds = {str(k): tuple(v.lower() for v in _check_list(f"cue_kinds.{k}", vals))
                 for k, vals in _check_table("cue_kinds", data.get("cue_kinds", {})).items()}
    return Watchlists(
        lists=lists,
        organisations=tables["organisations"],
        countries=tables["countries"],
        fingerprint=str(hash(fingerprint)),
        cue_kinds=cue_kinds,
    )
