"""Shell meta-commands (show dbs, use, it, exit, help, ...) in one registry, and input dispatch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mongocli.shell.evaluate import (COLLECTION_METHODS, CURSOR_METHODS, DB_METHODS, RS_METHODS, EvalError,
                                     Result, ShellState, evaluate, next_page)
from mongocli.shell.parser import parse

__all__ = ["MetaCommand", "REGISTRY", "match", "run_input", "prompt_text", "topology_lines", "SHOW_TOPICS"]


@dataclass(frozen=True)
class MetaCommand:
    """One command typed without JavaScript syntax; `name` is what the user types before any argument."""

    name: str
    usage: str
    help: str
    handler: Callable[[ShellState, str], Result]
    takes_argument: bool = False
    aliases: tuple[str, ...] = ()


def _human_size(size: Any) -> str:
    try:
        value = float(size)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.2f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return ""


def _show_dbs(state: ShellState, arg: str) -> Result:
    docs = list(state.client.list_databases())
    if not docs:
        return Result("text", "(no databases)")
    width = max(len(d.get("name", "")) for d in docs)
    lines = [f"{d.get('name', ''):<{width}}  {_human_size(d.get('sizeOnDisk'))}".rstrip() for d in docs]
    return Result("text", "\n".join(lines))


def _show_collections(state: ShellState, arg: str) -> Result:
    names = sorted(state.client.get_database(state.db_name).list_collection_names())
    return Result("text", "\n".join(names) if names else f"(no collections in {state.db_name})")


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


def _show_topology(state: ShellState, arg: str) -> Result:
    return Result("text", "\n".join(topology_lines(state.client.topology.description)))


def _use(state: ShellState, arg: str) -> Result:
    name = arg.strip().strip("\"'")
    bad = set(name) & set('/\\. "$*<>:|?')
    if not name or bad or len(name) >= 64:
        what = f"contains {''.join(sorted(bad))!r}" if bad else ("is empty" if not name else "is too long")
        raise EvalError(f"invalid database name {name!r}: it {what}")
    state.db_name = name
    if state.pager is not None:
        state.pager.close()
        state.pager = None
    return Result("text", f"switched to db {name}")


def _it(state: ShellState, arg: str) -> Result:
    return next_page(state)


def _exit(state: ShellState, arg: str) -> Result:
    return Result("exit")


def _help(state: ShellState, arg: str) -> Result:
    width = max(len(c.usage) for c in REGISTRY)
    lines = ["Shell commands:"]
    lines += [f"  {c.usage:<{width}}  {c.help}" for c in REGISTRY]
    lines += ["", "JavaScript-style statements:",
              "  db.<collection>.<method>(...)   " + ", ".join(sorted(COLLECTION_METHODS)),
              "  cursor modifiers                " + ", ".join(sorted(CURSOR_METHODS)),
              "  db.<method>(...)                " + ", ".join(sorted(DB_METHODS)),
              "  rs.<method>()                   " + ", ".join(sorted(RS_METHODS)),
              "  values: {a: 1}, [1, 2], 'text', /regex/i, ObjectId('...'), ISODate('...'), new Date(),",
              "          NumberLong('1'), NumberInt(1), NumberDecimal('1.5'), UUID('...'), BinData(0, '...'),",
              "          Timestamp(1, 2), MinKey, MaxKey"]
    return Result("text", "\n".join(lines))


REGISTRY: tuple[MetaCommand, ...] = (
    MetaCommand("show dbs", "show dbs", "list databases with their size on disk", _show_dbs,
                aliases=("show databases",)),
    MetaCommand("show collections", "show collections", "list collections of the current database",
                _show_collections, aliases=("show tables",)),
    MetaCommand("show topology", "show topology", "the deployment as the client sees it: servers, types, RTT",
                _show_topology),
    MetaCommand("use", "use <db>", "switch the current database", _use, takes_argument=True),
    MetaCommand("it", "it", "show the next 20 documents of the last cursor", _it),
    MetaCommand("help", "help", "this help", _help),
    MetaCommand("exit", "exit", "leave the shell (also quit, Ctrl-D)", _exit, aliases=("quit",)),
)

SHOW_TOPICS = tuple(sorted({n.split()[1] for c in REGISTRY for n in (c.name, *c.aliases) if n.startswith("show ")}))


def match(text: str) -> tuple[MetaCommand, str] | None:
    """The meta-command `text` invokes and its argument, or None for a JavaScript-style statement."""
    stripped = text.strip().rstrip(";").strip()
    if stripped in ("exit()", "quit()", "help()"):
        stripped = stripped[:-2]
    words = stripped.split(None, 2)
    if not words:
        return None
    for cmd in REGISTRY:
        for name in (cmd.name, *cmd.aliases):
            parts = name.split()
            if words[:len(parts)] != parts:
                continue
            rest = stripped.split(None, len(parts))[len(parts):]
            arg = rest[0] if rest else ""
            if cmd.takes_argument or not arg:
                return cmd, arg
    if words[0] == "show":
        raise EvalError(f"unknown 'show' topic {' '.join(words[1:])!r} (try: {', '.join(SHOW_TOPICS)})")
    return None


def run_input(text: str, state: ShellState, emit: Callable[[Result], None]) -> bool:
    """Run one complete input (a meta-command or statements); emit each result. False means exit."""
    found = match(text)
    if found is not None:
        cmd, arg = found
        result = cmd.handler(state, arg)
        if result.kind == "exit":
            return False
        emit(result)
        return True
    for chain in parse(text):
        emit(evaluate(state, chain, text))
    return True


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
