"""URI Options spec tests: one pytest case per JSON test in uri-options/."""

from __future__ import annotations

import pytest

from tests.spec.test_connection_string import case_params, check_case

FOLDER = "uri-options"

# Cases that cannot pass, keyed by "<file>::<description>", each with its reason.
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", case_params(FOLDER, xfail=XFAIL))
def test_uri_options(case):
    check_case(case)
