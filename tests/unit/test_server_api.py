"""The declared Stable API version (versioned-api spec): ServerApi validation, its command fields, where it is accepted."""

from __future__ import annotations

import dataclasses

import pytest

from driver import ServerApi, ServerApiVersion
from driver.errors import ConfigurationError
from driver.settings import client_settings
from mongocli.sandbox import server_api as sandbox_api


def test_fields_only_what_the_user_declared():
    # "Command Syntax": apiStrict/apiDeprecationErrors only when specified, even when equal to the default.
    assert ServerApi(ServerApiVersion.V1).fields == {"apiVersion": "1"}
    assert ServerApi("1", strict=False).fields == {"apiVersion": "1", "apiStrict": False}
    assert ServerApi("1", strict=True, deprecation_errors=True).fields == {
        "apiVersion": "1", "apiStrict": True, "apiDeprecationErrors": True}
    command = {"find": "c", "filter": {}}
    ServerApi("1", deprecation_errors=False).add_to(command)
    assert list(command) == ["find", "filter", "apiVersion", "apiDeprecationErrors"]


@pytest.mark.parametrize("bad", [{"version": "2"}, {"version": 1}, {"version": "1", "strict": "yes"},
                                 {"version": "1", "deprecation_errors": 1}])
def test_unknown_versions_and_non_booleans_are_client_errors(bad):
    with pytest.raises(ConfigurationError):
        ServerApi(**bad)


def test_immutable_and_never_from_the_uri():
    api = ServerApi("1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        api.version = "2"  # type: ignore[misc]
    assert client_settings("mongodb://h", server_api=api).server_api is api
    assert client_settings("mongodb://h").server_api is None
    with pytest.raises(ConfigurationError, match="ServerApi"):
        client_settings("mongodb://h", server_api={"version": "1"})


def test_sandbox_checks_api_parameters_as_mongod():
    params = dict(sandbox_api.DEFAULT_PARAMETERS)
    assert sandbox_api.check("find", {"find": "c"}, params) is None
    assert sandbox_api.check("find", {"find": "c", "apiVersion": "3"}, params)["code"] == 322
    assert sandbox_api.check("find", {"find": "c", "apiVersion": 1}, params)["codeName"] == "TypeMismatch"
    assert sandbox_api.check("ping", {"ping": 1, "apiStrict": True}, params)["code"] == 4886600
    strict = {"apiVersion": "1", "apiStrict": True}
    assert sandbox_api.check("find", {"find": "c", **strict}, params) is None
    assert sandbox_api.check("buildInfo", {"buildInfo": 1, **strict}, params)["code"] == 323
    assert sandbox_api.check("testVersion2", {"testVersion2": 1, "apiVersion": "2", "apiStrict": True}, params) is None
    deprecated = {"testDeprecation": 1, "apiVersion": "1", "apiDeprecationErrors": True}
    assert sandbox_api.check("testDeprecation", deprecated, params)["codeName"] == "APIDeprecationError"
    params["acceptApiVersion2"] = False
    assert sandbox_api.check("testVersion2", {"testVersion2": 1, "apiVersion": "2"}, params)["code"] == 322
    params["requireApiVersion"] = True
    assert sandbox_api.check("ping", {"ping": 1}, params)["code"] == 498870
    assert sandbox_api.check("hello", {"hello": 1}, params) is None  # monitoring stays possible


def test_set_parameter_changes_only_known_booleans():
    params = dict(sandbox_api.DEFAULT_PARAMETERS)
    assert sandbox_api.set_parameters(params, {"setParameter": 1, "requireApiVersion": True}) == {"was": False, "ok": 1.0}
    assert params["requireApiVersion"] is True
    assert sandbox_api.set_parameters(params, {"setParameter": 1, "nope": 1})["code"] == 72
    assert sandbox_api.set_parameters(params, {"setParameter": 1, "requireApiVersion": "x"})["code"] == 14
    assert params["requireApiVersion"] is True


def test_monitoring_hellos_declare_the_version_the_handshake_did():
    from types import SimpleNamespace

    from driver.sdam.monitor import Monitor

    declared = SimpleNamespace(hello={"helloOk": True}, server_api=ServerApi("1", strict=True))
    assert Monitor._hello_command(declared) == {"hello": 1, "helloOk": True, "apiVersion": "1", "apiStrict": True}
    plain = SimpleNamespace(hello={"helloOk": True}, server_api=None)
    assert Monitor._hello_command(plain) == {"hello": 1, "helloOk": True}

