"""Shell lexer/parser: literals, helper constructors, chains, statements, and error positions."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest
from bson.regex import str_flags_to_int
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from mongocli.shell.lexer import ParseError, is_complete
from mongocli.shell.parser import Attr, Call, Index, parse, parse_value

UTC = dt.timezone.utc


@pytest.mark.parametrize("source, expected", [
    ("1", 1), ("-1", -1), ("+2", 2), ("1.5", 1.5), ("-2.5e3", -2500.0), ("1e-2", 0.01), (".5", 0.5),
    ("0x1F", 31), ("true", True), ("false", False), ("null", None), ("undefined", None),
    ("'single'", "single"), ('"double"', "double"), (r"'it\'s'", "it's"), (r'"a\"b"', 'a"b'),
    (r"'\n\t\\'", "\n\t\\"), (r"'\u00e9\x41'", "éA"), (r"'\u{1F600}'", "\U0001F600"),
    (r"'\uD83D\uDE00'", "\U0001F600"), (r"'\q'", "q"),
    ("[]", []), ("[1, 'a', [2]]", [1, "a", [2]]), ("[1, 2,]", [1, 2]),
    ("{}", {}), ("{a: 1}", {"a": 1}), ("{'a-b': 1, \"c.d\": 2}", {"a-b": 1, "c.d": 2}),
    ("{$gt: 1}", {"$gt": 1}), ("{a: {b: {c: [1, {d: null}]}},}", {"a": {"b": {"c": [1, {"d": None}]}}}),
    ("{1: 'x', 2.0: 'y'}", {"1": "x", "2": "y"}), ("{_id: 1, $set: 2}", {"_id": 1, "$set": 2}),
    ("99999999999999999999", 1e20),  # beyond int64 a JS number is a double
    ("9223372036854775807", 9223372036854775807),
])
def test_literal_values(source, expected):
    value = parse_value(source)
    assert value == expected
    assert type(value) is type(expected)


def test_special_floats():
    assert math.isnan(parse_value("NaN"))
    assert parse_value("Infinity") == math.inf
    assert parse_value("-Infinity") == -math.inf


def test_object_keeps_key_order():
    assert list(parse_value("{z: 1, a: 2, m: 3}")) == ["z", "a", "m"]


def test_comments_are_skipped():
    assert parse_value("{a: 1, // the a\n /* block\n comment */ b: 2}") == {"a": 1, "b": 2}


@pytest.mark.parametrize("source, pattern, flags", [
    ("/ab+c/", "ab+c", ""), ("/ab+c/i", "ab+c", "i"), (r"/a\/b/ms", r"a\/b", "ms"), ("/[/]x/", "[/]x", ""),
])
def test_regex_literals(source, pattern, flags):
    value = parse_value(source)
    assert isinstance(value, Regex)
    assert (value.pattern, value.flags) == (pattern, str_flags_to_int(flags))


def test_object_id():
    assert parse_value('ObjectId("5f1d7e9e8b1e4c3a2c1b0a99")') == ObjectId("5f1d7e9e8b1e4c3a2c1b0a99")
    assert isinstance(parse_value("ObjectId()"), ObjectId)
    assert parse_value("new ObjectId('5f1d7e9e8b1e4c3a2c1b0a99')") == ObjectId("5f1d7e9e8b1e4c3a2c1b0a99")


@pytest.mark.parametrize("source, expected", [
    ('ISODate("2024-05-01T12:30:00Z")', dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ('ISODate("2024-05-01")', dt.datetime(2024, 5, 1, tzinfo=UTC)),
    ('ISODate("2024-05-01T12:30:00.250+02:00")', dt.datetime(2024, 5, 1, 10, 30, 0, 250000, tzinfo=UTC)),
    ("new Date(0)", dt.datetime(1970, 1, 1, tzinfo=UTC)),
    ("new Date(86400000)", dt.datetime(1970, 1, 2, tzinfo=UTC)),
    ("new Date('2020-02-29T00:00:00Z')", dt.datetime(2020, 2, 29, tzinfo=UTC)),
    ("new Date(2020, 0, 31)", dt.datetime(2020, 1, 31, tzinfo=UTC)),  # JS months are 0-based
])
def test_dates(source, expected):
    assert parse_value(source) == expected


def test_new_date_without_argument_is_now():
    before = dt.datetime.now(UTC)
    value = parse_value("new Date()")
    assert before <= value <= dt.datetime.now(UTC)


def test_numeric_wrappers():
    long = parse_value('NumberLong("9007199254740993")')
    assert isinstance(long, Int64) and long == 9007199254740993
    assert parse_value("NumberLong(5)") == Int64(5) and isinstance(parse_value("NumberLong(5)"), Int64)
    assert parse_value("NumberInt(7)") == 7 and type(parse_value("NumberInt('7')")) is int
    assert parse_value('NumberDecimal("1.10")') == Decimal128("1.10")


def test_binary_helpers():
    u = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
    assert parse_value(f'UUID("{u}")') == Binary.from_uuid(uuid.UUID(u))
    assert parse_value('BinData(0, "aGVsbG8=")') == Binary(b"hello", 0)
    assert parse_value('HexData(5, "00ff")') == Binary(b"\x00\xff", 5)


def test_timestamp_minkey_maxkey():
    assert parse_value("Timestamp(1700000000, 3)") == Timestamp(1700000000, 3)
    assert parse_value("Timestamp({t: 5, i: 6})") == Timestamp(5, 6)
    assert isinstance(parse_value("MinKey"), MinKey) and isinstance(parse_value("MinKey()"), MinKey)
    assert isinstance(parse_value("MaxKey"), MaxKey) and isinstance(parse_value("new MaxKey()"), MaxKey)


def test_find_chain_with_modifiers():
    [chain] = parse("db.coll.find({a: {$gt: 1}}).sort({a: -1}).limit(5)")
    assert chain.root == "db"
    kinds = [type(s).__name__ for s in chain.steps]
    assert kinds == ["Attr", "Attr", "Call", "Attr", "Call", "Attr", "Call"]
    assert chain.steps[1] == Attr("find", 1, 9)
    assert chain.steps[2].args == ({"a": {"$gt": 1}},)
    assert chain.steps[4].args == ({"a": -1},)
    assert chain.steps[6] == Call((5,), 1, 48)


def test_get_collection_and_index_access():
    [chain] = parse('db.getCollection("x")')
    assert chain.steps == (Attr("getCollection", 1, 4), Call(("x",), 1, 17))
    [chain] = parse('db["x-y"].find()')
    assert chain.steps[0] == Index("x-y", 1, 3)


def test_statements_split_on_semicolons_and_newlines():
    chains = parse("db.a.find(); db.b.find()\ndb.c.drop()")
    assert [c.steps[0].name for c in chains] == ["a", "b", "c"]
    assert chains[1].text == "db.b.find()"


def test_chain_continues_on_a_leading_dot():
    [chain] = parse("db.c.find({})\n  .limit(2)")
    assert chain.steps[-1] == Call((2,), 2, 9)


def test_multiline_object_positions():
    [chain] = parse("db.c.insertOne({\n  a: 1,\n  b: [1, 2]\n})")
    assert chain.steps[2].args == ({"a": 1, "b": [1, 2]},)


def test_literal_statement():
    [chain] = parse("{a: 1}")
    assert chain.is_literal and chain.value == {"a": 1}


@pytest.mark.parametrize("source, message, line, column", [
    ("db.c.find({a 1})", "expected ':' after key 'a'", 1, 14),
    ("db.c.find({a: 1)", "expected ',' or '}' after the value of 'a'", 1, 16),
    ("db.c.find({a: 1", "expected '}' to close the '{' from 1:11", 1, 16),
    ("db.c.find([1, 2}", "expected ',' or ']' in the array", 1, 16),
    ("db.c.find('abc)", "unterminated string (missing closing ')", 1, 11),
    ("db.c.find(/ab)", "unterminated regular expression (missing closing /)", 1, 11),
    ("db.c.find(/ab/q)", "invalid regular expression flag 'q'", 1, 15),
    ("db.c.find({a: foo})", "unknown name 'foo'", 1, 15),
    ("db.c.find({a: 1}) x", "expected end of statement", 1, 19),
    ("db.c.find({\n  a: 1,\n  b 2\n})", "expected ':' after key 'b'", 3, 5),
    ('ObjectId("nothex")', "ObjectId() needs a 24-character hex string", 1, 1),
    ('{d: ISODate("yesterday")}', "invalid date 'yesterday'", 1, 5),
    ("NumberInt(3000000000)", "NumberInt(3000000000) is outside the 32-bit range", 1, 1),
    ('BinData(0, "***")', "BinData() got invalid base64", 1, 1),
    ("db.c.find(12abc)", "invalid number '12a'", 1, 11),
    ("db.c.find(#)", "unexpected character '#'", 1, 11),
    ("db.c.find({a: 1}, {b: }", "expected a value", 1, 23),
    ("db.", "expected a name after '.'", 1, 4),
    ("1(2)", "a literal value cannot be called", 1, 2),
    ("new Foo()", "expected a constructor after 'new'", 1, 5),
    (r"'\uD800'", "string contains a lone UTF-16 surrogate", 1, 1),
    ("/* open", "unterminated comment", 1, 1),
    ("[" * 200, "nesting deeper than 100 levels", 1, 101),
])
def test_error_positions(source, message, line, column):
    with pytest.raises(ParseError) as info:
        parse(source)
    err = info.value
    assert err.reason.startswith(message), err.reason
    assert (err.line, err.column) == (line, column)
    assert f"at {line}:{column}" in str(err)


def test_error_message_and_caret_line():
    with pytest.raises(ParseError) as info:
        parse("db.c.find({a 1})")
    assert str(info.value) == "expected ':' after key 'a' at 1:14 (found '1')"
    assert info.value.caret() == "db.c.find({a 1})\n             ^"


def test_caret_on_a_later_line():
    with pytest.raises(ParseError) as info:
        parse("db.c.find({\n  a: 1\n  b: 2})")
    assert info.value.caret() == "  b: 2})\n  ^"


@pytest.mark.parametrize("source, complete", [
    ("db.c.find()", True), ("db.c.find({", False), ("db.c.insertOne({a: [1,\n2", False),
    ("db.c.find({a: '('})", True), ("db.c.find({a: 1}))", True),  # a stray closer is an error to show now
    ("/* comment", False), ("db.c.find({a 1})", True), ("", True),
])
def test_is_complete(source, complete):
    assert is_complete(source) is complete


_ALPHABET = st.sampled_from(list("{}[]():,.;\"'\\/-+*eE0123456789abxyz$ \n\t") + [
    "new ", "ObjectId(", "ISODate(", "/*", "*/", "//", "true", "null", "Timestamp(", "BinData(", "UUID(",
    "NumberDecimal(", "NumberLong(", "\\u", "0x", "1e", "Date(", "db.", ".find(", "'2020-01-01'", "MinKey"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_ALPHABET, max_size=40).map("".join)))
def test_arbitrary_text_parses_or_raises_parse_error(source):
    try:
        result = parse(source)
    except ParseError as err:
        assert err.line >= 1 and err.column >= 1
        assert isinstance(err.caret(), str)
    else:
        assert isinstance(result, list)
    assert is_complete(source) in (True, False)
