"""Collation for query matching: strength 1/2 (case- and accent-insensitive) string equality."""

from __future__ import annotations

import contextlib
import contextvars
import unicodedata
from typing import Any, Callable, Iterator

from mongomock import filtering as _mm_filtering

from mongocli.sandbox.engine_values import error

# The active collation's string folding (None: binary comparison, the "simple" collation).
# Set per command (find/aggregate/count/distinct/findAndModify) or per update/delete statement.
_FOLD: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar(
    "sandbox_collation_fold", default=None)

# Operator arguments that are not compared as strings under a collation ($regex ignores it,
# $type names a type, $expr holds field paths whose case matters).
_UNFOLDED = frozenset({"$regex", "$options", "$type", "$expr", "$where", "$exists", "$jsonSchema"})

_original_filter_applies = _mm_filtering.filter_applies


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def folding(spec: Any) -> Callable[[str], str] | None:
    """The string folding a collation document implies (None when comparisons stay binary).

    ICU strength 1 (primary) ignores case and diacritics, 2 (secondary) ignores case only,
    3+ (the default) distinguishes both. Ordering rules beyond that are not modelled.
    """
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise error(14, "BSON field 'collation' is the wrong type, expected type 'object'")
    locale = spec.get("locale")
    if not isinstance(locale, str):
        raise error(2, "Missing expected field \"locale\"")
    strength = spec.get("strength", 3)
    if locale == "simple" or not isinstance(strength, int) or strength >= 3:
        return None
    if strength == 1:
        return lambda s: _strip_accents(s).casefold()
    return str.casefold


@contextlib.contextmanager
def collation(spec: Any) -> Iterator[None]:
    """Match strings under ``spec`` (a command's or statement's ``collation``) inside the block."""
    token = _FOLD.set(folding(spec))
    try:
        yield
    finally:
        _FOLD.reset(token)


def active() -> bool:
    """Whether a non-binary collation applies to the current command."""
    return _FOLD.get() is not None


def _fold_value(value: Any, fold: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fold(value)
    if isinstance(value, list):
        return [_fold_value(v, fold) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _UNFOLDED else _fold_value(v, fold) for k, v in value.items()}
    return value


def comparison_form(value: Any) -> Any:
    """``value`` as the active collation compares it: strings (also inside documents and
    arrays) folded, so equal-under-collation values share one form (distinct's dedup)."""
    fold = _FOLD.get()
    return value if fold is None else _fold_value(value, fold)


def filter_applies(search_filter: Any, document: Any) -> bool:
    """mongomock's filter_applies, comparing strings under the active collation."""
    fold = _FOLD.get()
    if fold is None:
        return _original_filter_applies(search_filter, document)
    return _original_filter_applies(_fold_value(search_filter, fold), _fold_value(document, fold))
