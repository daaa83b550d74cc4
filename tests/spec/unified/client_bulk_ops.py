"""Unified test format: clientBulkWrite on a client entity, its result document and its error's parts."""

from __future__ import annotations

from typing import Any

from tests.spec.unified.runner import Skip

_MODEL_FIELDS = {"namespace": "namespace", "document": "document", "filter": "filter", "update": "update",
                 "replacement": "replacement", "arrayFilters": "array_filters", "collation": "collation",
                 "hint": "hint", "upsert": "upsert", "sort": "sort"}


def _model(item: dict) -> Any:
    from driver.ops import client_bulk_write as cbw

    ((kind, body),) = item.items()
    classes = {"insertOne": cbw.ClientInsertOne, "updateOne": cbw.ClientUpdateOne,
               "updateMany": cbw.ClientUpdateMany, "replaceOne": cbw.ClientReplaceOne,
               "deleteOne": cbw.ClientDeleteOne, "deleteMany": cbw.ClientDeleteMany}
    if kind not in classes:
        raise Skip(f"client bulk write model {kind!r} is unsupported by this runner")
    unknown = set(body) - set(_MODEL_FIELDS)
    if unknown:
        raise Skip(f"client bulk write model field(s) {sorted(unknown)} unsupported by this runner")
    return classes[kind](**{_MODEL_FIELDS[k]: v for k, v in body.items()})


def client_bulk_write(run: Any, entity: Any, args: dict) -> Any:
    from tests.spec.unified.operations import kwargs

    models = [_model(m) for m in args["models"]]
    return entity.client.bulk_write(models, **kwargs(run, args, "models"))


def _int_keys(results: dict, fields: dict[str, str]) -> dict[str, dict]:
    return {str(i): {fields[k]: v for k, v in item.items()} for i, item in results.items()}


def result_document(result: Any) -> dict[str, Any]:
    """A ClientBulkWriteResult as the unified format's BulkWriteResult document (verbose maps
    only when verbose results were asked for; unset otherwise, as $$unsetOrMatches allows)."""
    if not result.acknowledged:
        return {"acknowledged": False}
    doc: dict[str, Any] = {"insertedCount": result.inserted_count, "upsertedCount": result.upserted_count,
                           "matchedCount": result.matched_count, "modifiedCount": result.modified_count,
                           "deletedCount": result.deleted_count}
    if result.has_verbose_results:
        doc["insertResults"] = _int_keys(result.insert_results, {"inserted_id": "insertedId"})
        doc["updateResults"] = _int_keys(result.update_results, {"matched_count": "matchedCount",
                                                                 "modified_count": "modifiedCount",
                                                                 "upserted_id": "upsertedId"})
        doc["deleteResults"] = _int_keys(result.delete_results, {"deleted_count": "deletedCount"})
    return doc


def is_result(value: Any) -> bool:
    return hasattr(value, "insert_results") and hasattr(value, "has_verbose_results")


def _error_document(error: dict) -> dict:
    """A server write (concern) error as the unified format names its fields; absent ones left out."""
    doc = {"code": error.get("code"), "message": error.get("errmsg")}
    if error.get("errInfo") is not None:
        doc["details"] = error["errInfo"]
    return doc


def check_error_parts(run: Any, expected: dict, exc: BaseException, where: str) -> None:
    """expectError.writeErrors (index -> error) and writeConcernErrors (a list), each error a root-level
    document (unified format, "expectedError": extra fields allowed)."""
    if "writeErrors" in expected:
        actual = {str(i): _error_document(e) for i, e in getattr(exc, "write_errors", {}).items()}
        assert set(actual) == set(expected["writeErrors"]), \
            f"{where}: write errors at indexes {sorted(actual)}, expected {sorted(expected['writeErrors'])}"
        for index, error in expected["writeErrors"].items():
            run.assert_match(error, actual[index], f"{where}: writeErrors[{index}]")
    if "writeConcernErrors" in expected:
        actual_wce = [_error_document(e) for e in getattr(exc, "write_concern_errors", [])]
        assert len(actual_wce) == len(expected["writeConcernErrors"]), \
            f"{where}: {len(actual_wce)} write concern errors, expected {len(expected['writeConcernErrors'])}"
        for i, (error, got) in enumerate(zip(expected["writeConcernErrors"], actual_wce)):
            run.assert_match(error, got, f"{where}: writeConcernErrors[{i}]")


def partial_result(exc: BaseException) -> Any:
    """The partial result of a ClientBulkWriteError (None when nothing is known written)."""
    partial = getattr(exc, "partial_result", None)
    return None if partial is None else result_document(partial)
