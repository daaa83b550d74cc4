"""Collection options at work: schema validation on writes, collMod, and the validate command."""

from __future__ import annotations

from typing import Any

from mongocli.sandbox.engine_collation import filter_applies
from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_store import Catalog, Collection
from mongocli.sandbox.engine_values import error

_LEVELS = ("off", "strict", "moderate")
_ACTIONS = ("error", "warn", "errorAndLog")
# Options collMod changes here; the rest of its IDL is refused as an unknown field.
_COLLMOD_OPTIONS = {"validator", "validationLevel", "validationAction", "index", "viewOn", "pipeline",
                    "expireAfterSeconds", "comment", "writeConcern", "maxTimeMS", "dryRun",
                    "cappedSize", "cappedMax", "changeStreamPreAndPostImages"}


def _fails(validator: dict, doc: dict) -> bool:
    try:
        return not filter_applies(validator, doc)
    except NotImplementedError as exc:  # e.g. $jsonSchema keywords mongomock lacks
        raise error(238, f"validator not supported by the sandbox engine: {exc}") from exc


def check_document(coll: Collection, new: dict, old: dict | None, bypass: bool) -> None:
    """DocumentValidationFailure (121) if ``new`` breaks the collection's validator.

    validationLevel "moderate" checks updates only of documents that were valid before;
    validationAction "warn" lets the write through (the server only logs it);
    bypassDocumentValidation skips the check (server docs, "Schema Validation")."""
    validator = coll.options.get("validator")
    if not validator or bypass:
        return
    level = coll.options.get("validationLevel", "strict")
    if level == "off" or coll.options.get("validationAction", "error") == "warn":
        return
    if level == "moderate" and old is not None and _fails(validator, old):
        return
    if _fails(validator, new):
        raise error(121, "Document failed validation", errInfo=_err_info(validator, new))


def _err_info(validator: dict, doc: dict) -> dict:
    """errInfo of a validation failure: the failing _id and the top-level clauses not satisfied.

    Shape after the server's doc_validation_error.cpp (operatorName/specifiedAs/reason); the
    per-operator detail below the top level is not modelled (inferred, simplified)."""
    failing = [{"index": i, "details": {"operatorName": _operator_name(key, value),
                                        "specifiedAs": {key: value},
                                        "reason": "expression did not match"}}
               for i, (key, value) in enumerate(validator.items())
               if _fails({key: value}, doc)]
    return {"failingDocumentId": doc.get("_id"),
            "details": {"operatorName": "$and", "clausesNotSatisfied": failing}}


def _operator_name(key: str, value: Any) -> str:
    if key.startswith("$"):
        return key
    if isinstance(value, dict) and value and all(k.startswith("$") for k in value):
        return next(iter(value))
    return "$eq"


def check_options(options: dict) -> None:
    """Refuse validator options a server refuses at create/collMod (InvalidOptions 72, BadValue 2)."""
    if "validator" in options:
        if not isinstance(options["validator"], dict):
            raise error(14, "BSON field 'validator' is the wrong type, expected type 'object'")
        validate_filter(options["validator"])
    if "validationLevel" in options and options["validationLevel"] not in _LEVELS:
        raise error(2, f"Enumeration value '{options['validationLevel']}' for field 'validationLevel' "
                       "is not a valid value.")
    if "validationAction" in options and options["validationAction"] not in _ACTIONS:
        raise error(2, f"Enumeration value '{options['validationAction']}' for field "
                       "'validationAction' is not a valid value.")


def coll_mod(catalog: Catalog, db: str, cmd: dict) -> dict:
    """collMod: validator/validationLevel/validationAction, an index's hidden/expireAfterSeconds,
    a view's viewOn/pipeline."""
    name = cmd["collMod"]
    coll = catalog.get(db, name)
    if coll is None:
        raise error(26, f"ns does not exist: {db}.{name}")
    for key in cmd:
        if key != "collMod" and key not in _COLLMOD_OPTIONS:
            raise error(40415, f"BSON field 'collMod.{key}' is an unknown field.")
    check_options(cmd)
    reply: dict[str, Any] = {}
    if "index" in cmd:
        reply.update(_mod_index(coll, cmd["index"]))
    for key in ("validator", "validationLevel", "validationAction", "viewOn", "pipeline",
                "changeStreamPreAndPostImages"):  # the last one read by change streams
        if key in cmd:
            coll.options[key] = cmd[key]
    reply["ok"] = 1.0
    return reply


def _mod_index(coll: Collection, spec: Any) -> dict:
    if not isinstance(spec, dict):
        raise error(14, "BSON field 'collMod.index' is the wrong type, expected type 'object'")
    wanted = spec.get("name", spec.get("keyPattern"))
    index = next((ix for ix in coll.indexes.values()
                  if ix.name == wanted or (isinstance(wanted, dict) and dict(ix.keys) == wanted)), None)
    if index is None:
        raise error(27, f"cannot find index {wanted} for ns {coll.ns}")
    out: dict[str, Any] = {}
    if spec.get("prepareUnique") or spec.get("unique"):
        out.update(_toward_unique(coll, index, spec))
    for option in ("hidden", "expireAfterSeconds"):
        if option in spec:
            out[f"{option}_old"] = index.spec.get(option, False if option == "hidden" else None)
            index.spec[option] = spec[option]
            out[f"{option}_new"] = spec[option]
            if option == "hidden" and not spec[option]:
                index.spec.pop("hidden")
    return out


def _toward_unique(coll: Collection, index: Any, spec: dict) -> dict:
    """collMod's two steps to a unique index (6.0+): prepareUnique refuses new duplicate keys;
    unique then converts the index, or fails with CannotConvertIndexToUnique (359) listing the
    _ids of each group of documents that share a key."""
    out: dict[str, Any] = {}
    if spec.get("prepareUnique") and not index.spec.get("prepareUnique"):
        out["prepareUnique_old"], out["prepareUnique_new"] = False, True
        index.spec["prepareUnique"] = True
        index.unique = True  # new writes may not add a duplicate key (existing ones stay)
    if spec.get("unique") and not index.spec.get("unique"):
        if not index.spec.get("prepareUnique"):
            raise error(72, "Cannot make index unique with 'unique: true' when 'prepareUnique' is not set to "
                            "true. Run collMod with 'prepareUnique: true' first")
        violations = [{"ids": [coll.docs[k]["_id"] for k in holders]}
                      for holders in index.entries.values() if len(holders) > 1]
        if violations:
            raise error(359, "Cannot convert the index to unique. Please resolve conflicting documents before "
                             "running collMod again.", violations=violations)
        index.spec.pop("prepareUnique")
        index.spec["unique"] = True
        out["unique_new"] = True
    return out


def validate(catalog: Catalog, db: str, cmd: dict) -> dict:
    """validate: the collection and its indexes check out (the store keeps them consistent);
    documents breaking the current validator are counted as non-compliant, as a server does."""
    name = cmd["validate"]
    coll = catalog.get(db, name)
    if coll is None or coll.is_view:
        raise error(26, f"Collection '{db}.{name}' does not exist to validate.")
    if cmd.get("background") and cmd.get("full"):
        raise error(72, "Running the validate command with both { background: true } and "
                        "{ full: true } is not supported.")
    validator = coll.options.get("validator")
    non_compliant = sum(1 for d in coll.docs.values() if validator and _fails(validator, d))
    keys = {ix.name: sum(len(holders) for holders in ix.entries.values()) for ix in coll.indexes.values()}
    warnings = [f"Detected {non_compliant} non-compliant documents"] if non_compliant else []
    return {"ns": coll.ns, "uuid": coll.uuid, "nInvalidDocuments": 0, "nNonCompliantDocuments": non_compliant,
            "nrecords": len(coll.docs), "nIndexes": len(coll.indexes), "keysPerIndex": keys,
            "indexDetails": {n: {"valid": True} for n in keys}, "valid": True, "repaired": False,
            "warnings": warnings, "errors": [], "extraIndexEntries": [], "missingIndexEntries": [],
            "corruptRecords": [], "ok": 1.0}
