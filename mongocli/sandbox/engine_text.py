"""$text queries over a collection's text index: term matching and textScore.

Simplified from the server's FTS (fts_spec.cpp, fts_matcher.cpp): English stop words are
dropped and matching is case- and diacritic-insensitive on whole words, without stemming;
"quoted phrases" must appear as written and -negated terms must not appear. The score follows
the server's formula: per term, weight x frequency (each repeat counting half the previous)
x (0.5 + 0.5 x occurrences / tokens of the field)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mongocli.sandbox.engine_values import error, path_values

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by could did do does doing down during each few for from further had has have "
    "having he her here hers herself him himself his how i if in into is it its itself just me more "
    "most my myself no nor not now of off on once only or other our ours ourselves out over own same "
    "she should so some such than that the their theirs them themselves then there these they this "
    "those through to too under until up very was we were what when where which while who whom why "
    "will with you your yours yourself yourselves".split())


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(_fold(text)) if w not in _STOP_WORDS]


class TextQuery:
    """A parsed `{$text: {$search, ...}}` against one text index's weighted fields."""

    def __init__(self, spec: Any, index: Any) -> None:
        if not isinstance(spec, dict) or not isinstance(spec.get("$search"), str):
            raise error(2, "$text requires a $search string")
        search = spec["$search"]
        self.phrases = [_fold(p) for p in re.findall(r'"([^"]*)"', search)]
        rest = re.sub(r'"[^"]*"', " ", search)
        words = rest.split()
        self.negated = {t for w in words if w.startswith("-") for t in _tokens(w[1:])}
        self.terms = {t for w in words if not w.startswith("-") for t in _tokens(w)} | {
            t for p in self.phrases for t in _tokens(p)}
        self.weights: dict[str, float] = dict(index.spec.get("weights") or {})

    def score(self, doc: dict) -> float:
        """The document's textScore, 0.0 when it does not match."""
        texts = {field: " ".join(v for v in _strings(doc, field)) for field in self.weights}
        folded = " ".join(_fold(t) for t in texts.values())
        all_tokens = set(_tokens(folded))
        if self.negated & all_tokens or any(p not in folded for p in self.phrases):
            return 0.0
        total = 0.0
        for field, weight in self.weights.items():
            tokens = _tokens(texts[field])
            for term in self.terms:
                count = tokens.count(term)
                if count:
                    frequency = sum(0.5 ** i for i in range(count))
                    total += weight * frequency * (0.5 + 0.5 * count / len(tokens))
        return total


def _strings(doc: dict, field: str) -> list[str]:
    out: list[str] = []
    for value in path_values(doc, field):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                out.append(item)
    return out


def text_query(coll: Any, spec: Any) -> TextQuery:
    """The $text query over ``coll``'s text index (IndexNotFound 27 without one)."""
    index = next((ix for ix in coll.indexes.values() if ix.spec.get("weights") is not None), None)
    if index is None:
        raise error(27, "text index required for $text query")
    return TextQuery(spec, index)


def split_meta(spec: Any) -> tuple[Any, list[str]]:
    """A projection without its {$meta: "textScore"} fields, and those fields' names."""
    if not isinstance(spec, dict):
        return spec, []
    meta = [k for k, v in spec.items() if isinstance(v, dict) and v.get("$meta") == "textScore"]
    rest = {k: v for k, v in spec.items() if k not in meta}
    return (rest or None), meta
