"""mongodb+srv:// seedlist discovery: SRV and TXT look-ups with dnspython (initial-dns-seedlist-discovery spec)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import dns.exception
import dns.resolver

from driver.errors import ConfigurationError

if TYPE_CHECKING:
    from driver.uri import ConnectionString

# Spec: only these options may come from a TXT record.
TXT_ALLOWED_OPTIONS = frozenset({"authsource", "replicaset", "loadbalanced"})
DEFAULT_LIFETIME_S = 20.0


@dataclass(frozen=True)
class SrvAnswer:
    """What DNS said about one mongodb+srv host name."""

    seeds: tuple[tuple[str, int], ...]
    txt_options: str | None  # the concatenated strings of the single TXT record, if any


def srv_domain(hostname: str) -> str:
    """The parent domain every SRV target must share (spec: "{domainname}" of the SRV host).

    Spec: with three or more dot-separated parts the first part is dropped; with fewer,
    the whole host name is the domain.
    """
    parts = hostname.lower().rstrip(".").split(".")
    return ".".join(parts[1:]) if len(parts) >= 3 else ".".join(parts)


def validate_srv_target(srv_host: str, target: str) -> None:
    """Raise ConfigurationError unless `target` lies inside the SRV host's domain (spec rules)."""
    host = srv_host.lower().rstrip(".")
    target = target.lower().rstrip(".")
    domain = srv_domain(host)
    if len(host.split(".")) < 3 and target == host:
        raise ConfigurationError(
            f"SRV record target {target!r} is the SRV host name itself; "
            f"for a host name with fewer than three parts the target must be a sub-domain of it")
    if not target.endswith("." + domain):
        raise ConfigurationError(
            f"SRV record target {target!r} is not inside the domain {domain!r} of {srv_host!r}; "
            f"refusing it (initial-dns-seedlist-discovery: targets must share the parent domain)")


def make_resolver(nameserver: str | None = None, port: int = 53,
                  lifetime_s: float = DEFAULT_LIFETIME_S) -> dns.resolver.Resolver:
    """A resolver: the system's, or one asking a given name server (tests, air-gapped sites)."""
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver]
        resolver.port = port
    resolver.lifetime = lifetime_s
    return resolver


def lookup(srv_host: str, service_name: str = "mongodb", *,
           resolver: dns.resolver.Resolver | None = None) -> SrvAnswer:
    """Query `_{service}._tcp.{host}` SRV and `{host}` TXT; validate as the spec requires."""
    resolver = resolver or make_resolver()
    query = f"_{service_name}._tcp.{srv_host}"
    try:
        answers = resolver.resolve(query, "SRV")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise ConfigurationError(f"DNS has no SRV records for {query!r}: check the host name "
                                 f"and srvServiceName") from None
    except dns.exception.DNSException as exc:
        raise ConfigurationError(f"DNS SRV look-up of {query!r} failed: {exc}") from None
    seeds: list[tuple[str, int]] = []
    for record in answers:
        target = record.target.to_text(omit_final_dot=True).lower()
        validate_srv_target(srv_host, target)
        seeds.append((target, int(record.port)))
    if not seeds:
        raise ConfigurationError(f"DNS returned an empty SRV answer for {query!r}")
    return SrvAnswer(tuple(seeds), _txt_options(srv_host, resolver))


def _txt_options(srv_host: str, resolver: dns.resolver.Resolver) -> str | None:
    try:
        answers = resolver.resolve(srv_host, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as exc:
        raise ConfigurationError(f"DNS TXT look-up of {srv_host!r} failed: {exc}") from None
    records = list(answers)
    if len(records) > 1:
        raise ConfigurationError(f"DNS returned {len(records)} TXT records for {srv_host!r}; "
                                 f"the spec allows at most one")
    if not records:
        return None
    # Spec: a TXT record may be split into several strings; they are concatenated.
    text = b"".join(records[0].strings).decode("utf-8", "replace")
    for pair in filter(None, text.split("&")):
        key = pair.split("=", 1)[0]
        if key.lower() not in TXT_ALLOWED_OPTIONS:
            raise ConfigurationError(f"TXT record of {srv_host!r} sets {key!r}; only authSource, "
                                     f"replicaSet and loadBalanced may be set there")
    return text


def choose_seeds(seeds: Sequence[tuple[str, int]], srv_max_hosts: int,
                 rng: random.Random | None = None) -> list[tuple[str, int]]:
    """Spec "srvMaxHosts": a random subset of at most n seeds (0 means all)."""
    chosen = list(seeds)
    if srv_max_hosts and srv_max_hosts < len(chosen):
        (rng or random).shuffle(chosen)
        chosen = chosen[:srv_max_hosts]
    return chosen


def resolve_seedlist(cs: "ConnectionString", *, resolver: dns.resolver.Resolver | None = None,
                     rng: random.Random | None = None) -> "ConnectionString":
    """Turn a parsed mongodb+srv:// ConnectionString into one with real seeds and TXT options.

    Spec order: SRV look-up and target validation, at most one TXT record with only
    authSource/replicaSet/loadBalanced, URI options override TXT options, tls defaults to
    true, cross-option rules re-checked on the merged set, then srvMaxHosts sampling.
    """
    from dataclasses import replace

    from driver.uri import parse_options_string
    from driver.uri_options import validate_options

    if not cs.is_srv:
        return cs
    srv_host = cs.hosts[0][0]
    answer = lookup(srv_host, cs.options.get("srvServiceName", "mongodb"), resolver=resolver)
    merged = dict(parse_options_string(answer.txt_options, srv=True)) if answer.txt_options else {}
    merged.update(cs.options)
    merged.setdefault("tls", True)
    validate_options(merged, srv=True, n_hosts=len(answer.seeds))
    seeds = choose_seeds(answer.seeds, merged.get("srvMaxHosts", 0), rng)
    return replace(cs, hosts=tuple(seeds), options=merged)
