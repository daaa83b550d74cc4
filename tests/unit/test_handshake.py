"""Client metadata and the initial handshake command (mongodb-handshake spec), no sockets."""

from __future__ import annotations

import bson
import pytest

import driver
from driver.errors import ConfigurationError
from driver.server_api import ServerApi
from driver.handshake import (
    HostInfo, build_hello, client_metadata, monitoring_hello, truncate_metadata, uses_op_msg,
)

HOST = HostInfo(os_type="Linux", os_name="Debian GNU/Linux 12", architecture="x86_64",
                os_version="6.1.0", platform="CPython 3.11.4", in_docker=False)


def meta(app=None, env=None, host=HOST, **kw):
    return client_metadata(app, env=env or {}, host=host, **kw)


def test_required_fields_and_no_default_app_name():
    doc = meta()
    assert doc["driver"] == {"name": "mongocli-driver", "version": driver.__version__}
    assert doc["os"] == {"type": "Linux", "name": "Debian GNU/Linux 12", "architecture": "x86_64", "version": "6.1.0"}
    assert doc["platform"] == "CPython 3.11.4"
    assert "application" not in doc and "env" not in doc


def test_real_host_info_fills_os_type():
    doc = client_metadata("x", env={})
    assert doc["os"]["type"] and doc["platform"].startswith(("CPython", "PyPy"))
    assert doc["application"] == {"name": "x"}


def test_app_name_limit_is_128_utf8_bytes():
    assert meta("é" * 64)["application"]["name"] == "é" * 64
    with pytest.raises(ConfigurationError, match="129 bytes"):
        meta("a" * 129)


def test_driver_info_is_appended_with_pipe():
    doc = meta(driver_info=[("mongocli", "0.1.0", "shell")])
    assert doc["driver"] == {"name": "mongocli-driver|mongocli", "version": f"{driver.__version__}|0.1.0"}
    assert doc["platform"] == "CPython 3.11.4|shell"
    with pytest.raises(ConfigurationError, match="'|'"):
        meta(driver_info=[("a|b", None, None)])


@pytest.mark.parametrize("env, expected", [
    ({"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "AWS_REGION": "us-east-2",
      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, {"name": "aws.lambda", "region": "us-east-2", "memory_mb": 1024}),
    ({"AWS_EXECUTION_ENV": "EC2"}, None),  # must start with AWS_Lambda_
    ({"FUNCTIONS_WORKER_RUNTIME": "python"}, {"name": "azure.func"}),
    ({"K_SERVICE": "s", "FUNCTION_MEMORY_MB": "2048", "FUNCTION_TIMEOUT_SEC": "60", "FUNCTION_REGION": "us-central1"},
     {"name": "gcp.func", "memory_mb": 2048, "timeout_sec": 60, "region": "us-central1"}),
    ({"VERCEL": "1", "VERCEL_REGION": "cdg1"}, {"name": "vercel", "region": "cdg1"}),
    ({"VERCEL": "1", "AWS_LAMBDA_RUNTIME_API": "x"}, {"name": "vercel"}),  # vercel wins over aws
    ({"AWS_LAMBDA_RUNTIME_API": "x", "FUNCTIONS_WORKER_RUNTIME": "p"}, None),  # conflict: omit
    ({"AWS_LAMBDA_RUNTIME_API": "x", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "big"}, {"name": "aws.lambda"}),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {"container": {"orchestrator": "kubernetes"}}),
])
def test_env_document(env, expected):
    assert meta(env=env).get("env") == expected


def test_docker_and_faas_together():
    host = HostInfo(**{**HOST.__dict__, "in_docker": True})
    doc = meta(env={"FUNCTIONS_WORKER_RUNTIME": "p"}, host=host)
    assert doc["env"] == {"name": "azure.func", "container": {"runtime": "docker"}}


def _size(doc):
    return len(bson.encode(doc))


def test_truncation_order():
    # Spec "Limitations": 1. env fields but name, 2. os fields but type, 3. env, 4. platform.
    big = {"driver": {"name": "d", "version": "1"}, "os": {"type": "Linux", "name": "n" * 100},
           "platform": "p" * 100, "env": {"name": "aws.lambda", "region": "r" * 300}}
    assert "region" not in truncate_metadata(big, limit=_size(big) - 1)["env"]
    step1 = {**big, "env": {"name": "aws.lambda"}}
    step2 = truncate_metadata(big, limit=_size(step1) - 1)
    assert step2["os"] == {"type": "Linux"} and step2["env"] == {"name": "aws.lambda"}
    step2_doc = {**step1, "os": {"type": "Linux"}}
    step3 = truncate_metadata(big, limit=_size(step2_doc) - 1)
    assert "env" not in step3 and step3["platform"] == "p" * 100
    step3_doc = {k: v for k, v in step2_doc.items() if k != "env"}
    step4 = truncate_metadata(big, limit=_size(step3_doc) - 10)
    assert step4["platform"] == "p" * 90 and _size(step4) <= _size(step3_doc) - 10
    assert big["env"]["region"] == "r" * 300  # input untouched


def test_real_metadata_fits_512_even_with_long_values():
    host = HostInfo("Linux", "x" * 400, "y" * 100, "z" * 100, "CPython " + "q" * 600, True)
    doc = meta("a" * 128, env={"AWS_LAMBDA_RUNTIME_API": "x", "AWS_REGION": "r" * 300}, host=host)
    assert _size(doc) <= 512
    assert doc["application"]["name"] == "a" * 128 and doc["os"] == {"type": "Linux"}
    assert doc["platform"].startswith("CPython q")


def test_legacy_handshake_by_default():
    req = build_hello({"driver": {}}, compressors=["zlib"], sasl_supported_mechs="admin.u",
                      speculative_authenticate={"saslStart": 1, "db": "admin"})
    assert req.legacy is True
    assert list(req.command)[0] == "isMaster"
    assert req.command["helloOk"] is True and req.command["compression"] == ["zlib"]
    assert req.command["saslSupportedMechs"] == "admin.u"
    assert req.command["speculativeAuthenticate"] == {"saslStart": 1, "db": "admin"}
    assert "loadBalanced" not in req.command


@pytest.mark.parametrize("kwargs", [{"load_balanced": True}, {"server_api": ServerApi("1", strict=True)}])
def test_hello_over_op_msg_with_server_api_or_load_balancer(kwargs):
    req = build_hello({}, **kwargs)
    assert req.legacy is False and list(req.command)[0] == "hello" and req.command["helloOk"] is True
    assert req.command.get("loadBalanced") is kwargs.get("load_balanced", None)
    if "server_api" in kwargs:
        assert req.command["apiVersion"] == "1" and req.command["apiStrict"] is True
    assert "compression" not in req.command and "saslSupportedMechs" not in req.command


@pytest.mark.parametrize("kwargs", [{}, {"load_balanced": True}, {"server_api": ServerApi("1")},
                                    {"compressors": ["zlib"], "sasl_supported_mechs": "admin.u"}])
def test_handshake_advertises_backpressure(kwargs):
    # client-backpressure spec, "Handshake changes": MUST add backpressure: true, in every form.
    req = build_hello({"driver": {}}, **kwargs)
    assert req.command["backpressure"] is True
    # monitoring hellos after the handshake stay minimal (no metadata, no handshake-only fields)
    assert "backpressure" not in monitoring_hello(True)


def test_after_handshake():
    assert monitoring_hello(True) == {"hello": 1} and monitoring_hello(False) == {"isMaster": 1}
    assert uses_op_msg(6, legacy_request=True)  # maxWireVersion, typed by hello.check_hello
    assert not uses_op_msg(5, legacy_request=True)
    assert not uses_op_msg(0, legacy_request=True)  # absent
    assert uses_op_msg(0, legacy_request=False)


# ----- appendMetadata (handshake spec, "Appending metadata after MongoClient initialization") -----
def _driver_fields(doc):
    # the spec's tests strip the driver's own info: everything after the first '|'
    return tuple(value.split("|", 1)[1] if "|" in value else "" for value in
                 (doc["driver"]["name"], doc["driver"]["version"], doc["platform"]))


def test_appended_info_follows_the_drivers_own():
    from driver.handshake import ClientMetadata

    metadata = ClientMetadata("app")
    before = metadata.document()
    assert metadata.append("library", "1.2", "Library Platform") is True
    after = metadata.document()
    assert _driver_fields(after) == ("library", "1.2", "Library Platform")
    assert after["application"] == before["application"] and after["os"] == before["os"]
    assert _driver_fields(before) == ("", "", "")  # the document handed out before is unchanged


@pytest.mark.parametrize(("case", "expected"), [
    (("library", "1.2", "Library Platform"), ("library", "1.2", "Library Platform")),  # identical: not repeated
    (("framework", "1.2", "Library Platform"), ("library|framework", "1.2|1.2", "Library Platform|Library Platform")),
    (("library", "2.0", None), ("library|library", "1.2|2.0", "Library Platform")),
])
def test_successive_appends_and_duplicates(case, expected):
    from driver.handshake import ClientMetadata

    metadata = ClientMetadata(None, driver_info=[("library", "1.2", "Library Platform")])
    metadata.append(*case)
    assert _driver_fields(metadata.document()) == expected


def test_bad_driver_info_changes_nothing():
    from driver.handshake import ClientMetadata

    metadata = ClientMetadata()
    with pytest.raises(ConfigurationError, match=r"\|"):
        metadata.append("a|b")
    with pytest.raises(ConfigurationError, match="name"):
        metadata.append("")
    assert metadata.driver_info == () and _driver_fields(metadata.document()) == ("", "", "")
