"""Connection String spec tests: one pytest case per JSON test in connection-string/."""

from __future__ import annotations

import pytest

from driver.errors import DriverError
from driver.uri import parse_uri
from tests.spec.specfiles import load, spec_params

FOLDER = "connection-string"

# Cases that cannot pass, keyed by "<file>::<description>", each with its reason.
XFAIL: dict[str, str] = {}


def case_params(*folders: str, xfail: dict[str, str] | None = None) -> list:
    """One param per test case: id "<relative path>::<description>"."""
    params = []
    for file_param in spec_params(*folders):
        path = file_param.values[0]
        if path is None:  # no spec files: keep the stated skip
            params.append(file_param)
            continue
        for case in load(path)["tests"]:
            case_id = f"{file_param.id}::{case['description']}"
            marks = ()
            if xfail and case_id in xfail:
                marks = (pytest.mark.xfail(reason=xfail[case_id], strict=True),)
            params.append(pytest.param(case, id=case_id, marks=marks))
    return params


def _lower_keys(d: dict) -> dict:
    return {k.lower(): v for k, v in d.items()}


def check_case(case: dict) -> None:
    """Assert what the JSON gives: valid/warning/hosts/auth/options."""
    seen: list[str] = []
    if not case["valid"]:
        with pytest.raises(DriverError):
            parse_uri(case["uri"], warn=seen.append)
        return
    cs = parse_uri(case["uri"], warn=seen.append)
    assert list(cs.warnings) == seen
    if case.get("warning") is not None:
        assert bool(cs.warnings) == case["warning"], cs.warnings
    if case.get("hosts") is not None:
        expected = [(h["host"], h["port"]) for h in case["hosts"]]
        assert list(cs.hosts) == expected
    if case.get("auth") is not None:
        auth = case["auth"]
        assert cs.username == auth["username"]
        assert cs.password == auth["password"]
        assert cs.database == auth["db"]
    if case.get("options") is not None:
        actual = _lower_keys(cs.options)
        for key, value in _lower_keys(case["options"]).items():
            assert key in actual, f"option {key} missing from {cs.options}"
            assert actual[key] == value, key


@pytest.mark.parametrize("case", case_params(FOLDER, xfail=XFAIL))
def test_connection_string(case):
    check_case(case)
