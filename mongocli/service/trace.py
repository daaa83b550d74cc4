"""`--trace`: every command sent and reply received, timed, one line each, secrets redacted."""

from __future__ import annotations

import threading
import time
from typing import IO, Any, Mapping

from bson import json_util

from driver.events.command import CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent

# Field names whose values never appear in a trace, wherever they sit in a command or reply
# (SCRAM payloads, passwords of createUser/updateUser, speculative authentication).
SECRET_FIELDS = frozenset({"payload", "pwd", "password", "speculativeAuthenticate", "saslSupportedMechs"})
MAX_LINE = 400  # a trace line shows the start of a large command (an insert batch), then "..."


def redact(value: Any) -> Any:
    """A copy of `value` with every SECRET_FIELDS value replaced by "<redacted>"."""
    if isinstance(value, Mapping):
        return {k: "<redacted>" if k in SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def trace_line(event: Any, now: float) -> str | None:
    """The trace line for a command monitoring event (pure); None for other events."""
    if not isinstance(event, (CommandStartedEvent, CommandSucceededEvent, CommandFailedEvent)):
        return None
    clock = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    where = f"{event.address or '?'} conn {event.connection_id}"
    if isinstance(event, CommandStartedEvent):
        body = _compact(redact(dict(event.command)))
        return f"{clock} -> {where} req {event.request_id} {event.database_name}.{event.command_name} {body}"
    if isinstance(event, CommandSucceededEvent):
        body = _compact(redact(dict(event.reply)))
        return f"{clock} <- {where} req {event.request_id} {event.command_name} {event.duration_ms:.2f} ms {body}"
    return (f"{clock} <- {where} req {event.request_id} {event.command_name} FAILED "
            f"{event.duration_ms:.2f} ms: {event.failure}")


def _compact(doc: Mapping[str, Any]) -> str:
    text = json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS)
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + f"... ({len(text):,} chars)"


class TraceLog:
    """A driver event listener writing trace lines to `stream` (a lock: events come from many threads)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        line = trace_line(event, time.time())
        if line is None:
            return
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
