"""What a command may carry to a server of a given wire version (driver/ops/server_support.py)."""

from __future__ import annotations

import pytest

from driver.errors import ConfigurationError
from driver.ops.server_support import check_supported, fit


def test_fields_an_older_server_would_refuse_are_left_out() -> None:
    get_more = {"getMore": 1, "collection": "c", "comment": "x"}
    fit(get_more, 8)
    assert "comment" not in get_more
    kept = {"getMore": 1, "collection": "c", "comment": "x"}
    fit(kept, 9)
    assert kept["comment"] == "x"
    find = {"find": "c", "comment": "x", "rawData": True}
    fit(find, 25)
    assert find == {"find": "c", "comment": "x"}  # a find keeps its comment; rawData needs 8.2
    raw = {"find": "c", "rawData": True}
    fit(raw, 27)
    assert raw["rawData"] is True


def test_snapshot_reads_need_5_0() -> None:
    with pytest.raises(ConfigurationError, match="Snapshot reads require MongoDB 5.0"):
        check_supported({"find": "c"}, None, 12, snapshot=True, unacknowledged=False)
    check_supported({"find": "c"}, None, 13, snapshot=True, unacknowledged=False)


def test_unacknowledged_hint_needs_4_4_on_delete_and_find_and_modify() -> None:
    hinted = {"deletes": [{"q": {}, "limit": 0, "hint": "_id_"}]}
    with pytest.raises(ConfigurationError, match="hint"):
        check_supported({"delete": "c"}, hinted, 8, snapshot=False, unacknowledged=True)
    with pytest.raises(ConfigurationError, match="hint"):
        check_supported({"findAndModify": "c", "hint": "_id_"}, None, 8, snapshot=False, unacknowledged=True)
    check_supported({"delete": "c"}, hinted, 8, snapshot=False, unacknowledged=False)  # the server answers
    check_supported({"delete": "c"}, hinted, 9, snapshot=False, unacknowledged=True)
    check_supported({"update": "c", "updates": [{"q": {}, "u": {}, "hint": "_id_"}]}, None, 8,
                    snapshot=False, unacknowledged=True)


def test_raw_data_is_sent_only_when_true() -> None:
    from driver.ops.find import find_command
    from driver.ops.server_support import put_raw_data

    body: dict = {"count": "c"}
    put_raw_data(body, False)
    assert "rawData" not in body
    put_raw_data(body, True)
    assert body["rawData"] is True
    assert find_command("c", {}, raw_data=True)["rawData"] is True
    assert "rawData" not in find_command("c", {}, raw_data=False)
