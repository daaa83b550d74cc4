"""`mongocli doctor`'s TLS step against a TLS sandbox (self-signed certificates made at test time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from mongocli.errors import EXIT_FAILURE
from mongocli.sandbox import Sandbox
from tests.support.certificates import self_signed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**{k: v for k, v in os.environ.items() if k != "MONGODB_URI"},
       "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir")}


def doctor(uri: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mongocli", *options, "doctor", uri], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=ENV)


def tls_step(result: subprocess.CompletedProcess) -> dict[str, Any]:
    steps = [s for s in json.loads(result.stdout)["steps"] if s["step"].startswith("TLS ")]
    assert len(steps) == 1, result.stdout
    return steps[0]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("certificates")
    return {"long": self_signed(folder, name="long", days=400), "short": self_signed(folder, name="short", days=1),
            "other": self_signed(folder, name="other", days=400)}


@pytest.fixture(scope="module")
def tls_server(certificates) -> Iterator[Sandbox]:
    cert, key = certificates["long"]
    with Sandbox(topology="standalone", host="127.0.0.1", port=0, tls_cert=cert, tls_key=key) as sandbox:
        yield sandbox


def test_tls_step_shows_version_subject_and_expiry(tls_server: Sandbox) -> None:
    result = doctor(tls_server.uri, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    step = tls_step(result)
    assert step["step"] == f"TLS {tls_server.addresses[0]}" and step["verdict"] == "ok", step
    assert step["detail"].startswith("TLSv1.") and "subject commonName=127.0.0.1" in step["detail"], step
    assert "expires " in step["detail"] and "days)" not in step["detail"], step
    text = doctor(tls_server.uri)
    assert "[OK  ]" in text.stdout and f"TLS {tls_server.addresses[0]}: TLSv1." in text.stdout, text.stdout


def test_certificate_expiring_soon_is_a_warning(certificates) -> None:
    cert, key = certificates["short"]
    with Sandbox(topology="standalone", host="127.0.0.1", port=0, tls_cert=cert, tls_key=key) as sandbox:
        result = doctor(sandbox.uri, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr  # a warning is not a failure
    step = tls_step(result)
    assert step["verdict"] == "warn" and step["detail"].endswith("(in 0 days)"), step


def test_untrusted_certificate_fails_the_step_and_says_why(tls_server: Sandbox, certificates) -> None:
    other_ca = certificates["other"][0]
    uri = f"mongodb://{tls_server.addresses[0]}/?tls=true&tlsCAFile={other_ca}"
    result = doctor(uri)
    assert result.returncode == EXIT_FAILURE, result.stdout + result.stderr
    assert f"step 'TLS {tls_server.addresses[0]}' failed: the server's certificate was refused:" in result.stderr
    assert "try: check tlsCAFile" in result.stderr and "Traceback" not in result.stderr
    assert "hello " not in result.stdout  # nothing after the failed step is attempted on that host


def test_certificate_for_another_name_fails_naming_the_mismatch(tls_server: Sandbox, certificates) -> None:
    port = tls_server.addresses[0].rpartition(":")[2]
    result = doctor(f"mongodb://localhost:{port}/?tls=true&tlsCAFile={certificates['long'][0]}", "--format", "json")
    assert result.returncode == EXIT_FAILURE, result.stdout + result.stderr
    step = tls_step(result)
    assert step["verdict"] == "fail" and "mismatch" in step["detail"] and "'localhost'" in step["detail"], step


def test_tls_to_a_server_without_tls_says_it_may_not_have_tls(certificates) -> None:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as plain:
        result = doctor(f"mongodb://{plain.addresses[0]}/?tls=true&tlsCAFile={certificates['long'][0]}")
    assert result.returncode == EXIT_FAILURE, result.stdout + result.stderr
    assert "closed the connection during the TLS handshake: it may not have TLS enabled" in result.stderr
