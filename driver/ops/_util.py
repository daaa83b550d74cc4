"""Small shared helpers for the pure command builders: option checks and document shapes."""

from __future__ import annotations

from collections import abc

from collections.abc import Mapping
from typing import Any, Iterable

from driver.errors import ConfigurationError


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
