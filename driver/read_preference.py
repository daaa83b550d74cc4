"""Read preferences: mode, tag sets, maxStalenessSeconds, hedge (server-selection spec, "Read Preference")."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Iterable

from driver.errors import ConfigurationError

PRIMARY = "primary"
PRIMARY_PREFERRED = "primaryPreferred"
SECONDARY = "secondary"
SECONDARY_PREFERRED = "secondaryPreferred"
NEAREST = "nearest"

MODES: tuple[str, ...] = (PRIMARY, PRIMARY_PREFERRED, SECONDARY, SECONDARY_PREFERRED, NEAREST)
_MODE_BY_LOWER = {m.lower(): m for m in MODES}

# Max-staleness spec, "idleWritePeriodMS" and "smallestMaxStalenessSeconds": an idle primary
# writes a no-op every 10 s, so staleness can never be measured finer than that plus one
# heartbeat; 90 s is the floor mongos enforces too.
IDLE_WRITE_PERIOD_MS = 10_000
SMALLEST_MAX_STALENESS_SECONDS = 90

TagSet = Mapping[str, str]


def _normalize_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode.lower() not in _MODE_BY_LOWER:
        raise ConfigurationError(
            f"invalid read preference mode {mode!r}: use one of {', '.join(MODES)}")
    return _MODE_BY_LOWER[mode.lower()]


def _normalize_tag_sets(tag_sets: Any) -> tuple[dict[str, str], ...]:
    if isinstance(tag_sets, Mapping) or isinstance(tag_sets, (str, bytes)):
        raise ConfigurationError(
            f"read preference tag_sets must be a list of documents, got {tag_sets!r}")
    try:
        items = list(tag_sets)
    except TypeError:
        raise ConfigurationError(
            f"read preference tag_sets must be a list of documents, got {tag_sets!r}") from None
    normalized = []
    for i, tag_set in enumerate(items):
        if not isinstance(tag_set, Mapping):
            raise ConfigurationError(
                f"read preference tag_sets[{i}] must be a document, got {tag_set!r}")
        normalized.append(dict(tag_set))
    return tuple(normalized)


def _normalize_max_staleness(value: Any) -> int | None:
    # Spec: -1 (or null) means "no maximum"; anything else must be a positive number of seconds.
    if value is None or (not isinstance(value, bool) and isinstance(value, (int, float)) and value == -1):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise ConfigurationError(
            f"maxStalenessSeconds must be -1 (no maximum) or a positive whole number of seconds, "
            f"got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class ReadPreference:
    """Which servers may answer a read, and how stale they may be.

    `mode` is one of MODES (case-insensitive on input, stored in the spec's camelCase).
    `tag_sets` is tried in order; the default `({},)` matches every server.
    `max_staleness_seconds` None (or -1 on input) means no maximum.
    `hedge` (deprecated by the server in 8.0) is passed through to mongos when set.
    Raises ConfigurationError on any combination the spec forbids.
    """

    mode: str = PRIMARY
    tag_sets: tuple[TagSet, ...] = ({},)
    max_staleness_seconds: int | None = None
    hedge: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        mode = _normalize_mode(self.mode)
        tag_sets = _normalize_tag_sets(self.tag_sets)
        max_staleness = _normalize_max_staleness(self.max_staleness_seconds)
        hedge = self.hedge
        if hedge is not None and not isinstance(hedge, Mapping):
            raise ConfigurationError(f"read preference hedge must be a document, got {hedge!r}")
        if mode == PRIMARY:
            # Spec, "tag_sets" / "maxStalenessSeconds": both are errors with mode 'primary'.
            if any(tag_sets):
                raise ConfigurationError(
                    f"read preference mode 'primary' cannot have tag sets (got {list(tag_sets)}); "
                    "use primaryPreferred, secondary, secondaryPreferred or nearest")
            if max_staleness is not None:
                raise ConfigurationError(
                    f"read preference mode 'primary' cannot have maxStalenessSeconds "
                    f"(got {max_staleness}); use another mode or drop maxStalenessSeconds")
            if hedge is not None:
                raise ConfigurationError("read preference mode 'primary' cannot have a hedge option")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "tag_sets", tag_sets)
        object.__setattr__(self, "max_staleness_seconds", max_staleness)
        object.__setattr__(self, "hedge", dict(hedge) if hedge is not None else None)
        # Frozen: the identity is computed once (server selection hashes it on every operation).
        object.__setattr__(self, "_identity", (
            self.mode, tuple(tuple(sorted(t.items())) for t in self.tag_sets), self.max_staleness_seconds,
            None if self.hedge is None else tuple(sorted(self.hedge.items()))))
        object.__setattr__(self, "_hash", hash(self._identity))  # type: ignore[attr-defined]

    # -- identity ----------------------------------------------------------------------
    def _key(self) -> tuple:
        return self._identity  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, ReadPreference) and self._key() == other._key())

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        parts = [f"mode={self.mode!r}"]
        if self.tag_sets != ({},):
            parts.append(f"tag_sets={list(self.tag_sets)!r}")
        if self.max_staleness_seconds is not None:
            parts.append(f"max_staleness_seconds={self.max_staleness_seconds}")
        if self.hedge is not None:
            parts.append(f"hedge={self.hedge!r}")
        return f"ReadPreference({', '.join(parts)})"

    __str__ = __repr__

    # -- behaviour ---------------------------------------------------------------------
    def check_max_staleness(self, heartbeat_frequency_ms: int) -> None:
        """Raise ConfigurationError if maxStalenessSeconds is too small for a replica set.

        Spec, "maxStalenessSeconds": it must be >= smallestMaxStalenessSeconds (90) and
        >= (heartbeatFrequencyMS + idleWritePeriodMS) / 1000, since staleness cannot be
        measured more finely than one heartbeat plus one idle write.
        """
        seconds = self.max_staleness_seconds
        if seconds is None:
            return
        floor_ms = heartbeat_frequency_ms + IDLE_WRITE_PERIOD_MS
        if seconds < SMALLEST_MAX_STALENESS_SECONDS or seconds * 1000 < floor_ms:
            least = max(SMALLEST_MAX_STALENESS_SECONDS, -(-floor_ms // 1000))
            raise ConfigurationError(
                f"maxStalenessSeconds={seconds} is too small: it must be at least {least} "
                f"(the larger of {SMALLEST_MAX_STALENESS_SECONDS} and heartbeatFrequencyMS "
                f"{heartbeat_frequency_ms} ms + idleWritePeriod {IDLE_WRITE_PERIOD_MS} ms)")

    def document(self) -> dict[str, Any]:
        """The `$readPreference` document (spec, "Document structure"): camelCase mode,
        `tags` only when some tag set is non-empty, `maxStalenessSeconds` and `hedge` when set."""
        doc: dict[str, Any] = {"mode": self.mode}
        if self.tag_sets and any(self.tag_sets):
            doc["tags"] = [dict(t) for t in self.tag_sets]
        if self.max_staleness_seconds is not None:
            doc["maxStalenessSeconds"] = self.max_staleness_seconds
        if self.hedge is not None:
            doc["hedge"] = dict(self.hedge)
        return doc

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> "ReadPreference":
        """Build from a read preference document: mode (default primary), tags or tag_sets,
        maxStalenessSeconds, hedge. Unknown fields are a ConfigurationError."""
        if not isinstance(doc, Mapping):
            raise ConfigurationError(f"a read preference must be a document, got {doc!r}")
        known = {"mode", "tags", "tag_sets", "maxStalenessSeconds", "hedge"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown read preference field(s) {unknown}: expected {sorted(known)}")
        if "tags" in doc and "tag_sets" in doc:
            raise ConfigurationError("read preference has both 'tags' and 'tag_sets'; give one")
        tag_sets = doc.get("tags", doc.get("tag_sets", ({},)))
        return cls(mode=doc.get("mode", PRIMARY), tag_sets=tag_sets,
                   max_staleness_seconds=doc.get("maxStalenessSeconds"), hedge=doc.get("hedge"))

    @classmethod
    def from_uri_options(cls, options: Mapping[str, Any]) -> "ReadPreference":
        """Build from URI options (keys case-insensitive): readPreference,
        readPreferenceTags (list of documents or of "k:v,k:v" strings), maxStalenessSeconds."""
        lowered = {str(k).lower(): v for k, v in options.items()}
        mode = lowered.get("readpreference", PRIMARY)
        raw_tags = lowered.get("readpreferencetags")
        if raw_tags is None:
            tag_sets: Iterable[Any] = ({},)
        else:
            if isinstance(raw_tags, (str, Mapping)):
                raw_tags = [raw_tags]
            tag_sets = [parse_tag_set(t) if isinstance(t, str) else t for t in raw_tags]
        max_staleness = lowered.get("maxstalenessseconds")
        if isinstance(max_staleness, str):
            try:
                max_staleness = int(max_staleness)
            except ValueError:
                raise ConfigurationError(
                    f"maxStalenessSeconds must be an integer, got {max_staleness!r}") from None
        return cls(mode=mode, tag_sets=tag_sets, max_staleness_seconds=max_staleness)


def as_read_preference(value: Any, default: "ReadPreference") -> "ReadPreference":
    """A handle's read_preference argument as a ReadPreference: None keeps `default`; a
    ReadPreference, a mode name or a read preference document are accepted."""
    if value is None:
        return default
    if isinstance(value, ReadPreference):
        return value
    if isinstance(value, str):
        return ReadPreference(value)
    if isinstance(value, Mapping):
        return ReadPreference.from_document(value)
    raise ConfigurationError(f"read_preference must be a ReadPreference, a mode name or a document, not {value!r}")


def parse_tag_set(text: str) -> dict[str, str]:
    """Parse a URI readPreferenceTags value "dc:ny,rack:1" into {"dc": "ny", "rack": "1"};
    the empty string is the empty tag set (matches any server)."""
    result: dict[str, str] = {}
    if not text:
        return result
    for pair in text.split(","):
        key, sep, value = pair.partition(":")
        if not sep or not key:
            raise ConfigurationError(
                f"invalid readPreferenceTags entry {pair!r} in {text!r}: expected key:value pairs "
                "separated by commas")
        result[key] = value
    return result


PRIMARY_READ = ReadPreference()
