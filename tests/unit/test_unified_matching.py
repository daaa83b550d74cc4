"""Unit tests for the unified test format matcher (tests/spec/unified/matching.py)."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp, json_util

from tests.spec.unified.matching import InvalidExpectation, bson_type_name, match, match_each_root


def fails(expected, actual, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        match(expected, actual, **kw)
    return str(info.value)


def test_root_allows_extra_fields_nested_does_not():
    match({"x": 1}, {"x": 1, "y": 1})
    msg = fails({"x": {"y": 1}}, {"x": {"y": 1, "z": 1}})
    assert msg.startswith("$.x:") and "'z'" in msg


def test_missing_field_and_json_path():
    msg = fails({"command": {"updates": [{"u": {"$set": {"x": 1}}}]}},
                {"command": {"updates": [{"u": {"$set": {"x": 2}}}]}})
    assert msg.startswith("$.command.updates[0].u.$set.x:")
    assert "missing" in fails({"x": 1, "y": 1}, {"x": 1})


def test_non_root_mode_rejects_extra_fields():
    fails({"x": 1}, {"x": 1, "y": 2}, root=False)


def test_key_order_does_not_matter():
    match({"x": 1, "y": {"a": 1, "b": 2}}, {"y": {"b": 2, "a": 1}, "x": 1})


def test_flexible_numerics_but_not_bool_or_decimal():
    match(1, 1.0)
    match(1, Int64(1))
    match(Int64(5), 5)
    fails(1, 1.5)
    fails(1, True)
    fails(True, 1)
    fails(1, Decimal128("1"))
    fails(1, "1")


def test_arrays_same_length_and_elements_not_root():
    match([1, 2, 3], [1, 2, 3])
    assert "expected 3 element(s), got 4" in fails([1, 2, 3], [1, 2, 3, 4])
    fails([{"x": 1}], [{"x": 1, "y": 1}])  # distinct-like: elements are not root
    match_each_root([{"x": 1}, {"x": 2}], [{"x": 1, "y": 1}, {"x": 2, "y": 2}])  # find-like
    with pytest.raises(AssertionError):
        match_each_root([{"x": 1}], [{"x": 1}, {"x": 2}])


def test_exists():
    match({"a": {"$$exists": True}}, {"a": None})
    match({"a": {"$$exists": False}}, {"b": 1})
    assert fails({"a": {"$$exists": False}}, {"a": 1}).startswith("$.a:")
    fails({"a": {"$$exists": True}}, {})
    # nested: a $$exists false key need not appear, and is not an "extra" key
    match({"c": {"a": 1, "b": {"$$exists": False}}}, {"c": {"a": 1}})


@pytest.mark.parametrize(
    "type_name, value",
    [
        ("int", 1), ("long", Int64(1)), ("long", 2**40), ("double", 1.5), ("decimal", Decimal128("1.1")),
        ("string", "s"), ("object", {"a": 1}), ("array", [1]), ("bool", False), ("null", None),
        ("binData", Binary(b"x", 4)), ("binData", b"x"), ("objectId", ObjectId()),
        ("date", datetime.datetime(2020, 1, 1)), ("timestamp", Timestamp(1, 1)),
        ("regex", Regex("a", "i")), ("regex", re.compile("a")),
    ],
)
def test_type_names(type_name, value):
    match({"v": {"$$type": type_name}}, {"v": value})
    assert bson_type_name(value) == type_name


def test_type_lists_number_alias_and_mismatch():
    match({"v": {"$$type": ["int", "long"]}}, {"v": Int64(3)})
    for v in (1, Int64(1), 1.5, Decimal128("2")):
        match({"$$type": "number"}, v)
    fails({"$$type": "number"}, True)
    fails({"$$type": "number"}, "1")
    assert "expected type int" in fails({"v": {"$$type": "int"}}, {"v": "x"})
    fails({"v": {"$$type": "int"}}, {})  # the value must exist
    # arrays: only the array's own type is checked
    match({"$$type": "array"}, [1, "a"])
    fails({"$$type": "int"}, [1])


def test_unset_or_matches():
    match({"a": {"$$unsetOrMatches": 2}}, {})
    match({"a": {"$$unsetOrMatches": 2}}, {"a": 2})
    fails({"a": {"$$unsetOrMatches": 2}}, {"a": 3})
    fails({"a": {"$$unsetOrMatches": 2}}, {"a": None})
    match({"$$unsetOrMatches": {"n": 1}}, None)  # a whole result may be absent
    # the matched value keeps its root-ness: extra keys allowed at the root
    match({"$$unsetOrMatches": {"n": 1}}, {"n": 1, "extra": 1})
    fails({"a": {"$$unsetOrMatches": {"n": 1}}}, {"a": {"n": 1, "extra": 1}})


def test_matches_entity_and_session_lsid():
    oid = ObjectId()
    lsid = {"id": Binary(uuid.uuid4().bytes, 4)}

    class Session:
        session_id = lsid

    entities = {"objectid0": oid, "session0": Session(), "doc": {"a": 1}}
    match({"_id": {"$$matchesEntity": "objectid0"}}, {"_id": oid}, entities=entities)
    fails({"_id": {"$$matchesEntity": "objectid0"}}, {"_id": ObjectId()}, entities=entities)
    match({"lsid": {"$$sessionLsid": "session0"}}, {"lsid": dict(lsid)}, entities=entities)
    fails({"lsid": {"$$sessionLsid": "session0"}}, {"lsid": {"id": Binary(uuid.uuid4().bytes, 4)}}, entities=entities)
    with pytest.raises(InvalidExpectation, match="undefined entity 'nope'"):
        match({"x": {"$$matchesEntity": "nope"}}, {"x": 1}, entities=entities)


def test_matches_hex_bytes():
    match({"$$matchesHexBytes": "12AB"}, b"\x12\xab")
    match({"$$matchesHexBytes": ""}, b"")
    fails({"$$matchesHexBytes": "12AB"}, b"\x12\xac")
    with pytest.raises(InvalidExpectation):
        match({"$$matchesHexBytes": "123"}, b"\x12")
    with pytest.raises(InvalidExpectation):
        match({"$$matchesHexBytes": "zz"}, b"\x12")


def test_lte():
    match({"v": {"$$lte": 1}}, {"v": 1.0})
    match({"v": {"$$lte": 1}}, {"v": 0.0})
    match({"v": {"$$lte": Int64(5)}}, {"v": 4})
    assert "<= 1" in fails({"v": {"$$lte": 1}}, {"v": 1.1})
    fails({"v": {"$$lte": 1}}, {"v": "0"})


def test_match_as_document_and_as_root():
    text = json_util.dumps({"a": 1, "b": {"c": 2}})
    match({"$$matchAsDocument": {"a": 1, "b": {"c": 2}}}, text)
    fails({"$$matchAsDocument": {"a": 1}}, text)  # not root: extra "b" is refused
    match({"$$matchAsDocument": {"$$matchAsRoot": {"a": 1}}}, text)
    match({"x": {"$$matchAsRoot": {"a": 1}}}, {"x": {"a": 1, "z": 0}})
    fails({"x": {"$$matchAsRoot": {"a": 2}}}, {"x": {"a": 1}})
    fails({"$$matchAsDocument": {"a": 1}}, {"a": 1})  # actual must be a string


def test_scalars_bytes_uuid_and_dates():
    match(b"abc", Binary(b"abc", 0))
    u = uuid.uuid4()
    match(Binary.from_uuid(u), u)
    fails(Binary(b"abc", 0), Binary(b"abc", 5))
    match(datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 1))
    fails("a", "b")
    fails(None, 0)
    match(None, None)


def test_unknown_operator_is_a_test_error():
    with pytest.raises(InvalidExpectation, match=r"\$\$bogus"):
        match({"a": {"$$bogus": 1}}, {"a": 1})


def test_documents_with_several_dollar_keys_are_plain_documents():
    match({"$$a": 1, "$$b": 2}, {"$$a": 1, "$$b": 2})
    fails({"a": {"b": 1}}, {"a": 5})
