"""Find the official spec test files under $MONGOCLI_SPECS by walking folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_root() -> Path:
    """The specs folder: $MONGOCLI_SPECS, else ../shared/specs from the repository root."""
    env = os.environ.get("MONGOCLI_SPECS")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "specs").resolve()


def spec_files(*folders: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Every .json file below the given folders (relative to specs_root), sorted.

    `exclude` names sub-folders (relative to specs_root) to leave out, such as ones
    another runner owns.
    """
    root = specs_root()
    found: list[Path] = []
    for folder in folders:
        base = root / folder
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if any(rel_dir == ex or rel_dir.startswith(ex + "/") for ex in exclude):
                continue
            found.extend(Path(dirpath) / f for f in files if f.endswith(".json"))
    return sorted(found)


def spec_id(path: Path) -> str:
    """The test id: the file's path relative to the specs folder."""
    return path.relative_to(specs_root()).as_posix()


def spec_params(*folders: str, exclude: tuple[str, ...] = ()) -> list:
    """pytest params, one per JSON file, id = relative path; a missing folder is a stated skip."""
    files = spec_files(*folders, exclude=exclude)
    if not files:
        return [pytest.param(None, id="+".join(folders),
                             marks=pytest.mark.skip(reason=f"no spec files under {specs_root()} for {folders}"))]
    return [pytest.param(p, id=spec_id(p)) for p in files]


def load(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return json.load(f)
