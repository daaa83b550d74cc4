"""initial-dns-seedlist-discovery spec files, resolved against a DNS responder on 127.0.0.1.

The responder serves exactly the records listed in that folder's README. The spec's
`hosts`/`numHosts` and `ping` checks need the TLS-enabled cluster the README describes
(localhost:27017-27019 with SSL); they are not asserted here, which each test states.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driver.errors import DriverError
from driver.srv import make_resolver, resolve_seedlist
from driver.uri import parse_uri
from tests.spec.specfiles import load, spec_params, specs_root
from tests.support.dns_responder import DnsResponder, zone_from_readme

FOLDER = "initial-dns-seedlist-discovery"


@pytest.fixture(scope="module")
def zone():
    readme = specs_root() / FOLDER / "README.md"
    if not readme.exists():
        pytest.skip(f"no {readme}: the DNS records to serve are listed there")
    return zone_from_readme(readme)


@pytest.fixture(scope="module")
def resolver(zone):
    with DnsResponder(zone) as responder:
        yield make_resolver("127.0.0.1", responder.port, lifetime_s=5.0)


def _served_seeds(zone, uri: str) -> set[str]:
    """The seeds the README's records give for this URI's SRV name (to spot README/file drift)."""
    cs = parse_uri(uri)
    name = f"_{cs.options.get('srvServiceName', 'mongodb')}._tcp.{cs.hosts[0][0]}."
    seeds = set()
    for rdata in zone.records.get((name.lower(), "SRV"), []):
        _prio, _weight, port, target = rdata.split()
        seeds.add(f"{target.rstrip('.')}:{port}")
    return seeds


def _resolve(uri: str, resolver):
    return resolve_seedlist(parse_uri(uri), resolver=resolver)


def _norm_options(options: dict) -> dict:
    """Option names compare case-insensitively; `ssl` is the spec's alias of `tls`."""
    out = {}
    for key, value in options.items():
        key = key.lower()
        out["tls" if key == "ssl" else key] = value
    return out


@pytest.mark.parametrize("path", spec_params(FOLDER))
def test_seedlist(path: Path, resolver, zone) -> None:
    case = load(path)
    if case.get("error"):
        with pytest.raises(DriverError):
            _resolve(case["uri"], resolver)
        return
    cs = _resolve(case["uri"], resolver)
    seeds = [f"{host}:{port}" for host, port in cs.hosts]
    if "seeds" in case:
        missing = set(case["seeds"]) - _served_seeds(zone, case["uri"])
        if missing:
            pytest.xfail(f"the folder's README lists no SRV record for {sorted(missing)}, "
                         f"which this file expects (README and test data disagree)")
        assert sorted(seeds) == sorted(case["seeds"])
    if "numSeeds" in case:
        assert len(seeds) == case["numSeeds"]
    ours = _norm_options(cs.options)
    for key, value in _norm_options(case.get("options", {})).items():
        assert ours.get(key) == value, f"option {key}: {ours.get(key)!r} != {value!r}"
    parsed = case.get("parsed_options", {})
    if "user" in parsed:
        assert cs.username == parsed["user"]
    if "password" in parsed:
        assert cs.password == parsed["password"]
    if "auth_database" in parsed:
        assert cs.database == parsed["auth_database"]


@pytest.mark.parametrize("srv_host,target", [
    ("localhost", "localhost.mongodb"),
    ("mongo.local", "test_1.evil.local"),
    ("blogs.mongodb.com", "blogs.evil.com"),
    ("localhost", "localhost"),
    ("mongo.local", "mongo.local"),
    ("localhost", "test_1.cluster_1localhost"),
    ("mongo.local", "test_1.my_hostmongo.local"),
    ("blogs.mongodb.com", "cluster.testmongodb.com"),
])
def test_prose_rejects_targets_outside_domain(srv_host: str, target: str) -> None:
    from driver.srv import validate_srv_target
    with pytest.raises(DriverError):
        validate_srv_target(srv_host, target)


@pytest.mark.parametrize("srv_host,target", [
    ("localhost", "test_1.localhost"),
    ("mongo.local", "test_1.mongo.local"),
    ("blogs.mongodb.com", "cluster.mongodb.com"),
])
def test_prose_accepts_targets_inside_domain(srv_host: str, target: str) -> None:
    from driver.srv import validate_srv_target
    validate_srv_target(srv_host, target)  # no error


def test_client_settings_resolve_srv_seeds(resolver) -> None:
    """The client's settings (what a Client is built from) carry the resolved seeds and tls=true."""
    from driver.settings import client_settings
    settings = client_settings("mongodb+srv://test1.test.build.10gen.cc/?replicaSet=repl0", resolver=resolver)
    assert sorted(settings.seeds) == ["localhost.test.build.10gen.cc:27017", "localhost.test.build.10gen.cc:27018"]
    assert settings.connection.tls is True
    assert settings.topology.replica_set_name == "repl0"
