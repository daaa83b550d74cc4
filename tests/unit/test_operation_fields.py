"""Operation's hand-written __init__ (written for speed) stays in step with its declared fields."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from driver.execute import Operation


def test_init_takes_every_declared_field_in_order_with_its_default() -> None:
    params = list(inspect.signature(Operation.__init__).parameters.values())[1:]  # without self
    fields = dataclasses.fields(Operation)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields):
        if f.name == "operation_id":
            assert p.default is None  # None: a fresh id from the counter
        else:
            assert p.default == (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default), f.name


def test_every_field_is_set_and_the_operation_stays_frozen() -> None:
    op = Operation("db", {"ping": 1}, retryable="read", address="h:1")
    assert {f.name for f in dataclasses.fields(Operation)} <= set(vars(op))
    assert op.retryable is not None and op.retryable.value == "read" and op.address == "h:1"
    assert op.operation_id != Operation("db", {"ping": 1}).operation_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.db = "other"  # type: ignore[misc]
    assert dataclasses.replace(op, db="other").db == "other"
