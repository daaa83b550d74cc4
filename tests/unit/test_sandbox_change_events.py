"""Pure parts of the sandbox's change streams: update descriptions and resume tokens."""

from __future__ import annotations

import pytest
from bson import Timestamp

from mongocli.sandbox.change_streams import make_token, parse_token, update_description
from mongocli.sandbox.engine_values import CommandError


@pytest.mark.parametrize(("old", "new", "described", "ambiguous"), [
    ({"_id": 1, "a": {"b": 1}, "gone": 1}, {"_id": 1, "a": {"b": 2}, "added": [1]},
     {"updatedFields": {"a.b": 2, "added": [1]}, "removedFields": ["gone"], "truncatedArrays": []}, {}),
    ({"_id": 1, "arr": [1, 2, 3]}, {"_id": 1, "arr": [1, 9]},
     {"updatedFields": {"arr.1": 9}, "removedFields": [], "truncatedArrays": [{"field": "arr", "newSize": 2}]}, {}),
    ({"_id": 1, "arr": [1]}, {"_id": 1, "arr": [1, 2]},
     {"updatedFields": {"arr.1": 2}, "removedFields": [], "truncatedArrays": []}, {}),
    # A numeric field name is ambiguous (disambiguatedPaths keeps it a string)...
    ({"_id": 1, "a": {"1": 1}}, {"_id": 1, "a": {"1": 2}},
     {"updatedFields": {"a.1": 2}, "removedFields": [], "truncatedArrays": []}, {"a.1": ["a", "1"]}),
    # ...and array indexes on an ambiguous path are integers.
    ({"_id": 1, "a": [{"1": 1}]}, {"_id": 1, "a": [{"1": 2}]},
     {"updatedFields": {"a.0.1": 2}, "removedFields": [], "truncatedArrays": []}, {"a.0.1": ["a", 0, "1"]}),
    # 1 and 1.0 are different BSON values: a type change is an update.
    ({"_id": 1, "n": 1}, {"_id": 1, "n": 1.0},
     {"updatedFields": {"n": 1.0}, "removedFields": [], "truncatedArrays": []}, {}),
    # A mostly rewritten array is reported whole.
    ({"_id": 1, "arr": [1, 2, 3]}, {"_id": 1, "arr": [4, 5, 6]},
     {"updatedFields": {"arr": [4, 5, 6]}, "removedFields": [], "truncatedArrays": []}, {}),
])
def test_update_description(old, new, described, ambiguous) -> None:
    assert update_description(old, new) == (described, ambiguous)


def test_resume_tokens_round_trip_and_sort_by_position() -> None:
    early, late = make_token(Timestamp(100, 1), 7), make_token(Timestamp(100, 2), 8, invalidate=True)
    assert parse_token(early) == (7, False) and parse_token(late) == (8, True)
    assert early["_data"] < late["_data"]
    for bad in ({"_data": "zz"}, {"x": 1}, "token", {"_data": "82" + "G" * 34}):
        with pytest.raises(CommandError) as refused:
            parse_token(bad)
        assert refused.value.code == 260


def test_journal_forgets_its_oldest_entries_in_chunks(monkeypatch) -> None:
    from mongocli.sandbox import change_journal
    from mongocli.sandbox.cluster_time import ClusterClock

    monkeypatch.setattr(change_journal, "MAX_ENTRIES", 10)
    journal = change_journal.ChangeJournal(ClusterClock())
    for i in range(11):
        journal.record_write("db", "c", None, {"_id": i}, False)
    assert len(journal.entries) == 11  # up to a tenth over the limit before forgetting
    journal.record_write("db", "c", None, {"_id": 11}, False)
    assert [e.seq for e in journal.entries] == list(range(3, 13))
    assert [e.seq for e in journal.since(10)] == [11, 12] and journal.since(12) == []
    times = [e.ts for e in journal.entries]
    assert times == sorted(times) and len(set(times)) == len(times)
