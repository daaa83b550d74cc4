"""A tiny authoritative DNS responder on 127.0.0.1 (UDP) serving A, SRV and TXT records for tests."""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    """Records by (lower-case fully qualified name, type): a list of rdata texts."""

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, name: str, rtype: str, rdata: str) -> None:
        key = (_fqdn(name), rtype.upper())
        self.records.setdefault(key, []).append(rdata)


def _fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


_RECORD_LINE = re.compile(r"^(\S+)\s+\d+\s+IN\s+(A|SRV|TXT)\s+(.*)$")


def zone_from_readme(readme: Path) -> Zone:
    """Read the records from the ```dns block of the seedlist README (the spec's own list)."""
    zone = Zone()
    in_block = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```dns"):
            in_block = True
            continue
        if in_block and line.strip().startswith("```"):
            break
        if not in_block:
            continue
        match = _RECORD_LINE.match(line.strip())
        if not match:
            continue
        name, rtype, rest = match.groups()
        if rtype == "SRV":
            port, target = rest.split()
            zone.add(name, "SRV", f"0 0 {port} {_fqdn(target)}")
        else:
            zone.add(name, rtype, rest.strip())
    return zone


class DnsResponder:
    """Answers queries from a Zone on a UDP socket bound to 127.0.0.1; stop() closes it."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="dns-responder", daemon=True)
        self._stopped = False

    def __enter__(self) -> "DnsResponder":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped = True
        # A datagram to ourselves unblocks recvfrom; then the socket is closed by the thread.
        try:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", ("127.0.0.1", self.port))
        except OSError:
            pass
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            while not self._stopped:
                data, peer = self._sock.recvfrom(4096)
                if self._stopped:
                    break
                try:
                    query = dns.message.from_wire(data)
                except Exception:  # a malformed datagram is ignored, as a real server would
                    continue
                self._sock.sendto(self._answer(query).to_wire(), peer)
        finally:
            self._sock.close()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        rdatas = self.zone.records.get((name, rtype))
        if not rdatas:
            if not any(key[0] == name for key in self.zone.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        response.answer.append(
            dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, question.rdtype, rdatas))
        return response
