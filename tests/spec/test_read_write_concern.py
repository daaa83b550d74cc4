"""Read/write concern spec tests (pure): read-write-concern/connection-string and read-write-concern/document."""

from __future__ import annotations

from typing import Any

import pytest

from driver.errors import DriverError
from driver.read_concern import ReadConcern
from driver.uri import parse_uri
from driver.write_concern import WriteConcern
from tests.spec.test_connection_string import case_params

# The spec's option names for a write concern -> the driver's WriteConcern fields.
_WC_FIELDS = {"w": "w", "wtimeoutMS": "wtimeout", "journal": "j"}


def _write_concern_options(wc: WriteConcern) -> dict[str, Any]:
    """A WriteConcern in the spec's "writeConcern" option names (unset fields left out)."""
    return {name: getattr(wc, attr) for name, attr in _WC_FIELDS.items() if getattr(wc, attr) is not None}


def _parse_concerns(uri: str) -> tuple[ReadConcern, WriteConcern, tuple[str, ...]]:
    """The read and write concern a client built from `uri` uses, and the parser's warnings: parsed
    once by the URI parser, then made into values the way Client does (invalid combinations raise)."""
    parsed = parse_uri(uri)
    options = parsed.options
    return ReadConcern(options.get("readConcernLevel")), WriteConcern.from_uri_options(options), parsed.warnings


def _rejected(uri: str) -> str:
    """Why `uri`'s concern is invalid: the error raised, or the parser's warning that it dropped the
    invalid value. The uri-options spec lets a driver warn and ignore an invalid option value instead
    of raising ("Too low wTimeoutMS causes a warning" is valid there); this driver does, so an invalid
    w/wtimeoutMS must at least be refused that way and never reach the write concern."""
    try:
        _read, write_concern, warnings = _parse_concerns(uri)
    except DriverError as exc:
        return str(exc)
    assert warnings, f"{uri} should be refused (an error or a warning), was accepted as {write_concern}"
    assert write_concern.is_server_default, f"{uri}: the invalid value reached the write concern {write_concern}"
    return warnings[0]


@pytest.mark.parametrize("case", case_params("read-write-concern/connection-string"))
def test_connection_string(case: dict) -> None:
    """Read-write-concern spec, "Connection String": valid URIs give the concern, invalid ones an error."""
    if not case["valid"]:
        _rejected(case["uri"])
        return
    read_concern, write_concern, warnings = _parse_concerns(case["uri"])
    if case.get("warning") is not None:
        assert bool(warnings) == case["warning"], warnings
    if "readConcern" in case:
        assert read_concern.document() == case["readConcern"]
    if "writeConcern" in case:
        assert _write_concern_options(write_concern) == case["writeConcern"]


def _write_concern_from_spec(doc: dict) -> WriteConcern:
    unknown = set(doc) - set(_WC_FIELDS)
    assert not unknown, f"the test names write concern options this runner does not know: {unknown}"
    return WriteConcern(**{_WC_FIELDS[k]: v for k, v in doc.items()})


@pytest.mark.parametrize("case", case_params("read-write-concern/document"))
def test_document(case: dict) -> None:
    """Read-write-concern spec, "Document": the document sent to the server, server default, acknowledged."""
    if "writeConcern" in case:
        if not case["valid"]:
            with pytest.raises(DriverError):
                _write_concern_from_spec(case["writeConcern"])
            return
        wc = _write_concern_from_spec(case["writeConcern"])
        assert wc.document() == case["writeConcernDocument"]
        assert wc.is_server_default == case["isServerDefault"]
        assert wc.acknowledged == case["isAcknowledged"]
    else:
        if not case["valid"]:
            with pytest.raises(DriverError):
                ReadConcern.from_document(case["readConcern"])
            return
        rc = ReadConcern.from_document(case["readConcern"])
        assert rc.document() == case["readConcernDocument"]
        assert rc.is_server_default == case["isServerDefault"]
