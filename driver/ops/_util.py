"""Small shared helpers for the pure command builders: option checks and document shapes."""

from __future__ import annotations

from collections import abc

from collections.abc import Mapping
from typing import Any, Callable, Iterable, TypeVar

from driver.errors import ConfigurationError

T = TypeVar("T")


def put(command: dict[str, Any], key: str, value: Any) -> None:
    """Set command[key] = value unless value is None (unset options are never sent)."""
    if value is not None:
        command[key] = value


def require_mapping(value: Any, name: str) -> Mapping[str, Any]:
    """Return value if it is a document, else raise ConfigurationError naming the option."""
    # collections.abc check: typing.Mapping's isinstance is several times slower (hot in bulk inserts)
    if type(value) is not dict and not isinstance(value, abc.Mapping):
        raise ConfigurationError(f"{name} must be a document (dict), not {type(value).__name__}: {value!r}")
    return value


def optional_mapping(value: Any, name: str) -> Mapping[str, Any] | None:
    """None stays None; anything else must be a document."""
    return None if value is None else require_mapping(value, name)


def option_object(value: Any, cls: type[T], default: T, build: Callable[[Any], T]) -> T:
    """An option given as its object (kept as it is), None (`default`), or another form (a document,
    keywords) that `build` turns into one: read/write concern, transaction options."""
    if value is None:
        return default
    if isinstance(value, cls):
        return value
    return build(value)


def concern_fields(value: Mapping[str, Any], what: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    """A read or write concern given as a document: a mapping with only the `allowed` fields."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"a {what} must be a document or {what.title().replace(' ', '')}, not {value!r}")
    allowed = tuple(allowed)
    unknown = set(value) - set(allowed)
    if unknown:
        raise ConfigurationError(f"unknown {what} field(s) {sorted(unknown)}; expected {', '.join(allowed)}")
    return value


def require_string(value: Any, name: str) -> str:
    """Return value if it is a non-empty str, else raise ConfigurationError."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string, not {value!r}")
    return value


def optional_int(value: Any, name: str, *, minimum: int | None = None) -> int | None:
    """None stays None; otherwise an int (not a bool) at least `minimum`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, not {value}")
    return value


def optional_bool(value: Any, name: str) -> bool | None:
    """None stays None; otherwise a real bool."""
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def non_empty_concern(value: Any, name: str) -> Mapping[str, Any] | None:
    """A read/write concern document, or None when unset or empty.

    Why: the server default is expressed by omitting the field (CRUD spec, "Read Concern" and
    "Write Concern"; command monitoring: only a non-default write concern must be sent).
    """
    if value is None:
        return None
    doc = require_mapping(value, name)
    return doc if len(doc) else None


def array_filters_list(array_filters: Any) -> list[Any] | None:
    """arrayFilters as sent: a list of filter documents, or None when not given."""
    if array_filters is None:
        return None
    if not isinstance(array_filters, (list, tuple)):
        raise ConfigurationError(f"array_filters must be a list of documents, not {array_filters!r}")
    return list(array_filters)


def key_document(spec: Any, name: str) -> dict[str, Any]:
    """Turn a sort / index key spec into an ordered document.

    Accepts a mapping {"a": 1}, a list of pairs [("a", 1), ("b", -1)], or a single field
    name "a" (meaning ascending). Order is kept; an empty spec is an error.
    """
    if isinstance(spec, str):
        if not spec:
            raise ConfigurationError(f"{name} field name must not be empty")
        return {spec: 1}
    if isinstance(spec, Mapping):
        pairs: Iterable[Any] = spec.items()
    elif isinstance(spec, (list, tuple)):
        pairs = spec
    else:
        raise ConfigurationError(
            f"{name} must be a field name, a document or a list of (field, direction) pairs, not {spec!r}"
        )
    out: dict[str, Any] = {}
    for i, pair in enumerate(pairs):
        if isinstance(pair, str):
            key, direction = pair, 1
        else:
            try:
                key, direction = pair
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{name}[{i}] must be a (field, direction) pair, not {pair!r}"
                ) from None
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"{name}[{i}]: field name must be a non-empty string, not {key!r}")
        if key in out:
            raise ConfigurationError(f"{name}: field {key!r} appears twice")
        out[key] = direction
    if not out:
        raise ConfigurationError(f"{name} must name at least one field")
    return out
