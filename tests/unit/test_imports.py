"""driver/ and mongocli/ never import pymongo (bson only), and driver/ never imports the CLI stack."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("driver") + _sources("mongocli"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pymongo_import(path: Path) -> None:
    assert "pymongo" not in _imported_modules(path)


@pytest.mark.parametrize("path", _sources("driver"), ids=lambda p: str(p.relative_to(ROOT)))
def test_driver_stays_free_of_cli_stack(path: Path) -> None:
    assert not (_imported_modules(path) & {"click", "rich", "prompt_toolkit", "mongocli"})


def test_checker_sees_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom pymongo.errors import PyMongoError\n")
    assert "pymongo" in _imported_modules(bad)


# Loaded on first use, never by `import driver.client` (start-up time of one-shot commands, issue 12):
# bulk planning and its result classes, command-monitoring events, DNS (mongodb+srv only), TLS.
LAZY_FOR_A_CLIENT = ("driver.bulk", "driver.events.command", "dns", "ssl", "driver.srv")


def test_a_client_import_leaves_the_lazy_modules_unloaded() -> None:
    import subprocess
    import sys

    probe = ("import sys, driver.client; "
             f"print(','.join(m for m in {LAZY_FOR_A_CLIENT!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
    # ...and they still load when used: the re-export of driver.results, and a bulk write's planner.
    probe = ("import sys; from driver.results import BulkWriteResult; from driver.collection import Collection; "
             "print(BulkWriteResult.__module__, 'driver.bulk' in sys.modules)")
    used = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert used.stdout.split() == ["driver.bulk", "True"]
