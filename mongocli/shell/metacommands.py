"""mongosh's commands typed without JavaScript syntax (use, show, it, exit, help) and the prompt text.

They are translated line by line into calls of the prelude's one registry (`__mc_meta` in
js/globals.js), so scripts and the REPL share them and a JavaScript line is never touched.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["translate", "prompt_text", "topology_lines", "WORDS", "SHOW_TOPICS"]

WORDS = ("use", "show", "it", "exit", "quit", "help")
SHOW_TOPICS = ("collections", "databases", "dbs", "log", "profile", "roles", "tables", "topology", "users")
_WITH_ARGUMENT = re.compile(r"^(\s*)(use|show)\s+([^;(){}=]+?)\s*;?\s*$")
_BARE = re.compile(r"^(\s*)(it|exit|quit|help)\s*;?\s*$")


def translate(source: str) -> str:
    """`source` with every meta-command line replaced by the JavaScript call that runs it."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if m := _WITH_ARGUMENT.match(line):
            lines[i] = f"{m.group(1)}__mc_meta.{m.group(2)}({json.dumps(m.group(3))});"
        elif m := _BARE.match(line):
            word = m.group(2)
            lines[i] = f"{m.group(1)}quit();" if word in ("exit", "quit") else f"{m.group(1)}__mc_meta.{word}();"
    return "\n".join(lines)


def topology_lines(description: Any) -> list[str]:
    """Human lines for a TopologyDescription: the type, then one line per server (type, RTT, error)."""
    head = f"topology: {description.type.value}"
    if description.set_name:
        head += f"  set: {description.set_name}"
    lines = [head]
    servers = sorted(description.servers.values(), key=lambda s: s.address)
    width = max((len(s.address) for s in servers), default=0)
    for sd in servers:
        rtt = f"{sd.round_trip_time_ms:.1f} ms" if sd.round_trip_time_ms is not None else "-"
        line = f"  {sd.address:<{width}}  {sd.type.value:<12}  rtt {rtt}"
        if sd.error:
            line += f"  error: {sd.error}"
        lines.append(line)
    if not servers:
        lines.append("  (no servers)")
    return lines


def prompt_text(description: Any, db_name: str) -> str:
    """mongosh-like prompt: `rs0 [primary] test> `, `[mongos] test> `, or `test> ` for a standalone."""
    if description is None:
        return f"{db_name}> "
    kind = getattr(description.type, "value", str(description.type))
    if kind in ("ReplicaSetWithPrimary", "ReplicaSetNoPrimary"):
        types = {getattr(s.type, "value", "") for s in description.servers.values()}
        role = "primary" if "RSPrimary" in types else ("secondary" if "RSSecondary" in types else "no primary")
        return f"{description.set_name or ''} [{role}] {db_name}> ".lstrip()
    if kind == "Sharded":
        return f"[mongos] {db_name}> "
    if kind == "Unknown":
        return f"[connecting] {db_name}> "
    return f"{db_name}> "
