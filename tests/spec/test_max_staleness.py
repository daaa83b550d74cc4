"""Max staleness spec tests: staleness filtering and too-small maxStalenessSeconds errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec.specfiles import load, spec_params
from tests.spec.test_server_selection import run_selection_file


@pytest.mark.parametrize("path", spec_params("max-staleness"))
def test_max_staleness(path: Path) -> None:
    run_selection_file(load(path))
