"""The fast paths of issue 12 give exactly what the plain paths gave: same bytes, same choices."""

from __future__ import annotations

from collections import OrderedDict

import bson
import pytest
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.son import SON

from driver.errors import ConfigurationError
from driver.ops.write import encode_insert, with_id


@pytest.mark.parametrize("document", [
    {"a": 1, "b": {"c": [1, 2]}},
    {"a": 1, "_id": 7},  # _id present but not first
    {"_id": "x", "a": 1},
    SON([("z", 1), ("_id", 2.5)]),
    OrderedDict([("a", None)]),
    RawBSONDocument(bson.encode({"a": "raw"})),
    {},
])
def test_encode_insert_gives_the_bytes_of_with_id_without_copying_or_mutating(document) -> None:
    before = bson.encode(document)
    fixed = ObjectId()
    encoded, _id = encode_insert(document, lambda: fixed)
    expected_doc, expected_id = with_id(document) if "_id" in document else with_id({"_id": fixed, **document})
    assert _id == expected_id
    assert encoded == bson.encode(expected_doc)
    assert list(bson.decode(encoded))[0] == "_id"
    assert bson.encode(document) == before  # not mutated


def test_encode_insert_names_a_non_document() -> None:
    with pytest.raises(ConfigurationError, match="document"):
        encode_insert([("a", 1)])


def test_encode_insert_generates_a_fresh_object_id_by_default() -> None:
    first, a = encode_insert({"k": 1})
    second, b = encode_insert({"k": 1})
    assert isinstance(a, ObjectId) and a != b and bson.decode(first)["_id"] == a
