"""`mongocli doctor`: the connection path checked step by step, each with a timing, a verdict and a hint.

URI -> SRV/TXT -> DNS of every host -> TCP -> TLS (subject, expiry, host name) -> hello ->
authentication -> the replica set's own member names from here -> server selection.
The first failing step is named with what to try; later steps that depend on it are skipped.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from driver.errors import DriverError
from mongocli.service.options import ConnectOptions

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Step:
    name: str
    verdict: str
    ms: float
    detail: str
    hint: str = ""


@dataclass
class DoctorReport:
    steps: list[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.verdict != FAIL for s in self.steps)

    @property
    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if s.verdict == FAIL), None)

    def as_document(self) -> dict[str, Any]:
        return {"passed": self.passed, "steps": [
            {"step": s.name, "verdict": s.verdict, "ms": round(s.ms, 2), "detail": s.detail, "hint": s.hint}
            for s in self.steps]}


class _Checker:
    def __init__(self, report: DoctorReport, on_step: Callable[[Step], None] | None) -> None:
        self.report, self.on_step = report, on_step

    def run(self, name: str, check: Callable[[], tuple[str, str] | str], hint: str = "") -> bool:
        """Run one check: it returns a detail (ok) or (verdict, detail), or raises (fail)."""
        started = time.perf_counter()
        try:
            outcome = check()
            verdict, detail = outcome if isinstance(outcome, tuple) else (OK, outcome)
            step = Step(name, verdict, (time.perf_counter() - started) * 1000, detail,
                        hint if verdict != OK else "")
        except (DriverError, OSError, ValueError, ssl.SSLError) as exc:
            step = Step(name, FAIL, (time.perf_counter() - started) * 1000, str(exc), hint)
        self.add(step)
        return step.verdict != FAIL

    def skip(self, name: str, why: str) -> None:
        self.add(Step(name, SKIP, 0.0, why))

    def add(self, step: Step) -> None:
        self.report.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)


def run_doctor(options: ConnectOptions, on_step: Callable[[Step], None] | None = None) -> DoctorReport:
    """Every step in order; `on_step` sees each as it completes (for live output)."""
    report = DoctorReport()
    check = _Checker(report, on_step)
    parsed: dict[str, Any] = {}

    def parse() -> tuple[str, str] | str:
        cs = parsed["cs"] = options.connection_string()
        text = f"{cs.scheme}, {len(cs.hosts)} host(s), options {sorted(cs.options)}"
        return (WARN, text + "; " + "; ".join(cs.warnings)) if cs.warnings else text

    if not check.run("URI parse", parse, "fix the connection string; see the error for the option"):
        return report
    cs = parsed["cs"]
    if cs.is_srv:
        def srv() -> str:
            resolved = options.resolved_connection_string()
            seeds = ", ".join(f"{h}:{p or 27017}" for h, p in resolved.hosts)
            return f"SRV -> {seeds}; TXT options {sorted(set(resolved.options) - set(cs.options))}"
        if not check.run("SRV/TXT look-up", srv, "check the cluster host name and your DNS resolver"):
            return report
    else:
        check.skip("SRV/TXT look-up", "not a mongodb+srv URI")
    settings: Any = None

    def build() -> str:
        nonlocal settings
        settings = options.settings()
        return f"{len(settings.seeds)} seed(s): {', '.join(settings.seeds)}"

    if not check.run("settings", build, "fix the option named in the error (URI or command-line flag)"):
        return report
    timeout = (settings.connection.connect_timeout_ms or 10_000) / 1000.0
    reachable = _hosts_steps(check, list(settings.seeds), settings, timeout, "")
    if not reachable:
        return report
    hellos: dict[str, Any] = {}

    def ask(address: str) -> Callable[[], str]:
        def hello_step() -> str:
            from driver.hello import check_hello
            from mongocli.service.diagnostics import hello
            result = hello(options, address)
            reply = result.reply
            check_hello(address, reply)  # the driver's checks: a reply it would reject fails here, named
            hellos[address] = reply
            role = ("primary" if reply.get("isWritablePrimary") else "secondary" if reply.get("secondary")
                    else "mongos" if reply.get("msg") == "isdbgrid" else "arbiter" if reply.get("arbiterOnly")
                    else "standalone" if not reply.get("setName") else "other")
            return (f"{role}, setName {reply.get('setName')!r}, wire {reply.get('minWireVersion')}-"
                    f"{reply.get('maxWireVersion')}, rtt {result.rtt_ms:.1f} ms")
        return hello_step

    for address in reachable:
        check.run(f"hello {address}", ask(address), "the port answers but not as MongoDB: right port? TLS needed?")
    if not hellos:
        return report
    wanted_set = settings.get("replicaSet")
    members = sorted({h for reply in hellos.values() for h in reply.get("hosts", [])}
                     | {h for reply in hellos.values() for h in reply.get("passives", [])})
    if wanted_set is not None:
        names = {reply.get("setName") for reply in hellos.values()}
        check.run("replica set name", lambda: (OK, f"members report {wanted_set!r}") if names == {wanted_set}
                  else (FAIL, f"URI asks replicaSet={wanted_set!r}, members report {sorted(map(str, names))}"),
                  "use the set name the members report, or drop replicaSet= to connect directly")
    if members:
        unknown = [m for m in members if m not in reachable]
        if unknown:
            _hosts_steps(check, unknown, settings, timeout, "member ",
                         hint="the set advertises names this host cannot use: fix DNS/hosts here, or connect "
                              "with directConnection=true to one member")
        else:
            check.add(Step("member names", OK, 0.0, f"every advertised member ({', '.join(members)}) was checked above"))
    if settings.credential is not None:
        check.run("authentication", lambda: _authenticate(options),
                  "check user, password, --authenticationDatabase (authSource) and the mechanism")
    else:
        check.skip("authentication", "no credentials given")
    check.run("server selection", lambda: _selection(options),
              "no primary: an election in progress, or members unreachable from here (see above)")
    return report


def _hosts_steps(check: _Checker, hosts: list[str], settings: Any, timeout: float, label: str,
                 hint: str = "") -> list[str]:
    """DNS, TCP and (with tls) TLS per host; returns the hosts that passed all of them."""
    passed = []
    for address in hosts:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        if not check.run(f"{label}DNS {host}", lambda: _resolve(host, int(port)),
                         hint or "the name does not resolve from here: check spelling, DNS, /etc/hosts"):
            continue
        if not check.run(f"{label}TCP {address}", lambda: _tcp(host, int(port), timeout),
                         hint or "nothing accepts connections there: is mongod running, the port right, "
                                 "a firewall in the way?"):
            continue
        if settings.connection.tls and not check.run(
                f"{label}TLS {address}", lambda: _tls(host, int(port), timeout, settings.connection),
                hint or "check tlsCAFile, the certificate's names and dates, or the clock"):
            continue
        passed.append(address)
    return passed


def _resolve(host: str, port: int) -> str:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return ", ".join(sorted({info[4][0] for info in infos}))


def _tcp(host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        return f"connected from {sock.getsockname()[0]}"


def _tls(host: str, port: int, timeout: float, connection_options: Any) -> tuple[str, str] | str:
    from driver.socket_connection import ssl_context
    context = ssl_context(connection_options)
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            _tls_handshake(context, raw, host) as tls:
        cert = tls.getpeercert() or {}
        subject = ", ".join("=".join(pair) for rdn in cert.get("subject", ()) for pair in rdn) or "(not verified)"
        expires = cert.get("notAfter")
        detail = f"{tls.version()}, subject {subject}" + (f", expires {expires}" if expires else "")
        if expires:
            left = datetime.datetime.utcfromtimestamp(ssl.cert_time_to_seconds(expires)) - datetime.datetime.utcnow()
            if left.days < 14:
                return WARN, detail + f" (in {left.days} days)"
        return detail


def _tls_handshake(context: ssl.SSLContext, raw: socket.socket, host: str) -> ssl.SSLSocket:
    """The TLS handshake, its failures said in words: an untrusted or misnamed certificate says
    why (OpenSSL's verify message), a server closing at once probably does not speak TLS."""
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raise OSError(f"the server's certificate was refused: {exc.verify_message}") from exc
    except (ssl.SSLEOFError, ConnectionResetError) as exc:
        raise OSError("the server closed the connection during the TLS handshake: it may not have TLS "
                           "enabled (try without tls=true)") from exc


def _authenticate(options: ConnectOptions) -> str:
    from mongocli.service.connect import open_client
    with open_client(options.with_changes(server_selection_timeout_ms=options.server_selection_timeout_ms or 5_000)) \
            as client:
        reply = client.get_database("admin").run_command({"connectionStatus": 1})
    users = reply.get("authInfo", {}).get("authenticatedUsers", [])
    return "authenticated as " + (", ".join(f"{u.get('user')}@{u.get('db')}" for u in users) or "(none reported)")


def _selection(options: ConnectOptions) -> tuple[str, str] | str:
    from driver.read_preference import ReadPreference
    from mongocli.service.connect import discover, open_topology
    from mongocli.service.diagnostics import selection_row
    quick = options.with_changes(server_selection_timeout_ms=options.server_selection_timeout_ms or 5_000)
    with open_topology(quick) as live:
        td = discover(live)
    rows = [selection_row(td, ReadPreference(mode=m)) for m in ("primary", "nearest")]
    text = "; ".join(f"{r.read_preference['mode']}: {', '.join(r.selected) or 'none'}" for r in rows)
    if not rows[0].selected and td.type.value != "Single":
        return FAIL, text + f" (topology {td.type.value})"
    return text
