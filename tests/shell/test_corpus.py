"""Every corpus snippet runs in the shell against a 3-member sandbox replica set and prints what mongosh prints."""

from __future__ import annotations

import io
from typing import Iterator

import pytest

from driver import Client
from mongocli.sandbox import Sandbox
from mongocli.shell.app import Shell
from tests.shell.corpus import Case, load_cases

CASES = load_cases()


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 60


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    sb = Sandbox(topology="replset", port=0, host="127.0.0.1").start()
    c = Client(sb.uri, serverSelectionTimeoutMS=10000)
    try:
        yield c
    finally:
        c.close()
        sb.stop()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.number:02d}-{c.name}" for c in CASES])
def test_snippet(client: Client, case: Case) -> None:
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(client, "mongodb://sandbox", out, err, db_name=case.db)
    try:
        shell.run_program(case.code, filename="<eval>", show=True)
    finally:
        shell.close()
    assert out.getvalue().rstrip("\n") == case.out
    expected_err = case.expected_err()
    if expected_err is None:
        assert err.getvalue() == ""
    else:
        assert err.getvalue().split("\n")[0] == expected_err
