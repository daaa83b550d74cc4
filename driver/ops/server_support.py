"""A command against the wire version of the server it goes to: what it must not carry there (pure).

The server is known only once selected, so the executor applies these to the command as sent.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from driver.errors import ConfigurationError

# maxWireVersion of the first release with each feature.
GET_MORE_COMMENT = 9        # 4.4: getMore takes `comment` (CRUD spec, "comment": not sent before)
UNACKNOWLEDGED_HINT = 9     # 4.4: hint on delete and findAndModify (CRUD spec: a client error before,
                            # for an unacknowledged write, whose server error nobody would see)
SNAPSHOT_READS = 13         # 5.0 (sessions spec, "Snapshot reads": a client error before)
RAW_DATA = 27               # 8.2 (CRUD spec, "rawData": sent only to 8.2+)


def put_raw_data(body: dict[str, Any], raw_data: bool | None) -> None:
    """CRUD spec, "rawData" (timeseries buckets as stored): sent only when true (and only to 8.2+: fit)."""
    if raw_data:
        body["rawData"] = True


def check_supported(body: Mapping[str, Any], sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None,
                    max_wire_version: int, *, snapshot: bool, unacknowledged: bool) -> None:
    """ConfigurationError when the server is too old for what the command needs."""
    if snapshot and max_wire_version < SNAPSHOT_READS:
        raise ConfigurationError("Snapshot reads require MongoDB 5.0 or later")
    if unacknowledged and max_wire_version < UNACKNOWLEDGED_HINT and _hinted_delete_or_find_and_modify(body, sequences):
        name = next(iter(body))
        raise ConfigurationError(f"hint on an unacknowledged {name} requires MongoDB 4.4 or later "
                                 "(the server would refuse it and nobody would hear)")


def fit(body: dict[str, Any], max_wire_version: int) -> None:
    """Drop the optional fields the server would not take: a getMore's comment before 4.4,
    rawData before 8.2."""
    if max_wire_version < GET_MORE_COMMENT and next(iter(body), None) == "getMore":
        body.pop("comment", None)
    if max_wire_version < RAW_DATA:
        body.pop("rawData", None)


def _hinted_delete_or_find_and_modify(body: Mapping[str, Any],
                                      sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None) -> bool:
    name = next(iter(body), None)
    if name == "findAndModify":
        return "hint" in body
    if name == "delete":
        statements = (sequences or {}).get("deletes") or body.get("deletes") or ()
        return any("hint" in statement for statement in statements)
    return False
