"""doctor's first steps: the URI parsed once, SRV looked up once, each failure under its own step."""

from __future__ import annotations

from dataclasses import replace

import pytest

import driver.srv
from driver.errors import ConfigurationError
from mongocli.service.doctor import FAIL, OK, SKIP, run_doctor
from mongocli.service.options import ConnectOptions
from tests.support.ports import closed_port


def _verdicts(report) -> dict[str, str]:
    return {step.name: step.verdict for step in report.steps}


def test_a_failing_srv_look_up_is_its_own_step_not_the_uri_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def no_answer(cs, resolver=None):
        calls.append(cs)
        raise ConfigurationError("SRV look-up of _mongodb._tcp.cluster.example.com failed: NXDOMAIN")

    monkeypatch.setattr(driver.srv, "resolve_seedlist", no_answer)
    report = run_doctor(ConnectOptions(uri="mongodb+srv://cluster.example.com/"))
    verdicts = _verdicts(report)
    assert verdicts["URI parse"] == OK
    assert report.first_failure is not None and report.first_failure.name == "SRV/TXT look-up"
    assert "NXDOMAIN" in report.first_failure.detail
    assert len(calls) == 1


def test_srv_is_looked_up_once_and_its_seeds_are_the_hosts_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    calls = []

    def answer(cs, resolver=None):
        calls.append(cs)
        return replace(cs, hosts=(("127.0.0.1", port),), options={**cs.options, "authSource": "admin"})

    monkeypatch.setattr(driver.srv, "resolve_seedlist", answer)
    report = run_doctor(ConnectOptions(uri="mongodb+srv://cluster.example.com/", connect_timeout_ms=2000))
    verdicts = _verdicts(report)
    assert verdicts["URI parse"] == OK and verdicts["SRV/TXT look-up"] == OK and verdicts["settings"] == OK
    srv_step = next(s for s in report.steps if s.name == "SRV/TXT look-up")
    assert f"127.0.0.1:{port}" in srv_step.detail and "authSource" in srv_step.detail
    assert report.first_failure is not None and f"127.0.0.1:{port}" in report.first_failure.name
    assert len(calls) == 1  # the settings and the host steps reuse the one answer


def test_a_bad_option_value_fails_the_uri_parse_and_a_bad_flag_the_settings_step(tmp_path) -> None:
    report = run_doctor(ConnectOptions(uri="mongodb://127.0.0.1/?tls=ture"))
    assert report.first_failure is not None and report.first_failure.name == "URI parse"
    assert "tls" in report.first_failure.detail
    missing = tmp_path / "missing-ca.pem"
    report = run_doctor(ConnectOptions(uri="mongodb://127.0.0.1/", tls=True, tls_ca_file=str(missing)))
    verdicts = _verdicts(report)
    assert verdicts["URI parse"] == OK and verdicts["SRV/TXT look-up"] == SKIP and verdicts["settings"] == FAIL
    assert "missing-ca.pem" in report.first_failure.detail
