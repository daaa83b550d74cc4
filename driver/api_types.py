"""The argument types of the public API, named once (documents, pipelines, key specs, option values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Union

if TYPE_CHECKING:
    from driver.read_concern import ReadConcern
    from driver.read_preference import ReadPreference
    from driver.write_concern import WriteConcern

Document: TypeAlias = Mapping[str, Any]
# An aggregation pipeline, or an update given as a pipeline (MongoDB 4.2+).
Pipeline: TypeAlias = Sequence[Mapping[str, Any]]
# An update document ({$set: ...}) or an update pipeline.
Update: TypeAlias = Union[Document, Pipeline]
# A sort or index key: {"a": 1}, [("a", 1), ("b", -1)] or one field name ("a": ascending).
KeySpec: TypeAlias = Union[str, Mapping[str, Any], Sequence[tuple[str, Any]]]
# An index hint: the index name or its key spec.
Hint: TypeAlias = KeySpec
# A projection document, or a list of field names to include.
Projection: TypeAlias = Union[Mapping[str, Any], Sequence[str]]
# Per-handle options: the driver's object, or its document / mode name.
ReadPreferenceLike: TypeAlias = Union["ReadPreference", str, Mapping[str, Any]]
ReadConcernLike: TypeAlias = Union["ReadConcern", Mapping[str, Any]]
WriteConcernLike: TypeAlias = Union["WriteConcern", Mapping[str, Any]]
# findOneAndUpdate/Replace: "before" / "after" (or True meaning after).
ReturnDocument: TypeAlias = Union[str, bool]
