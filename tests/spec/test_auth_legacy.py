"""Auth spec (legacy) tests: the credential each connection string in auth/legacy/ configures."""

from __future__ import annotations

import pytest

from driver.credential import credential_from_uri
from driver.errors import DriverError
from driver.uri import parse_uri
from tests.spec.test_connection_string import case_params

FOLDER = "auth/legacy"

# Cases that cannot pass, keyed by "<file>::<description>", each with its reason.
XFAIL: dict[str, str] = {
    "auth/legacy/connection-string.json::should throw an exception if username and password "
    "provided (MONGODB-AWS)":
        "contradicts 'should use username and password if specified (MONGODB-AWS)' and "
        "'...session token if specified' in the same file: both accept user:password with "
        "MONGODB-AWS; only the host (localhost vs localhost.com) differs",
}


@pytest.mark.parametrize("case", case_params(FOLDER, xfail=XFAIL))
def test_auth_legacy(case):
    if not case["valid"]:
        with pytest.raises(DriverError):
            credential_from_uri(parse_uri(case["uri"]))
        return
    credential = credential_from_uri(parse_uri(case["uri"]))
    expected = case["credential"]
    if expected is None:
        assert credential is None
        return
    assert credential is not None
    for key in ("username", "password", "source", "mechanism"):
        if key in expected:
            assert getattr(credential, key) == expected[key], key
    if "mechanism_properties" in expected:
        want = expected["mechanism_properties"]
        if want is None:
            assert not credential.mechanism_properties
        else:
            # README: a subset that must match; other properties may exist.
            got = credential.mechanism_properties or {}
            for k, v in want.items():
                assert got.get(k) == v, k
