"""configureFailPoint / failCommand as a real test server implements it, one registry per member."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

# Names accepted by configureFailPoint. failCommand, onPrimaryTransactionalWrite,
# maxTimeAlwaysTimeOut and stopReplProducer change behaviour; the others are accepted (ok: 1) so
# that test suites written for real servers can switch them on and off.
KNOWN_FAILPOINTS = frozenset(
    {"failCommand", "onPrimaryTransactionalWrite", "failGetMoreAfterCursorCheckout", "maxTimeAlwaysTimeOut",
     "hangBeforeCommit", "stopReplProducer"}
)


class FailPointError(ValueError):
    """A configureFailPoint command is malformed; the message names the bad field."""


@dataclass
class FailCommandAction:
    """What one firing of failCommand does to one command (see the failCommand section of
    the server's `fail_point` docs, as used by the drivers' unified test format)."""

    error_code: int | None = None
    error_labels: list[str] | None = None
    error_message: str | None = None
    write_concern_error: dict[str, Any] | None = None
    close_connection: bool = False
    block_ms: int = 0


@dataclass
class _FailPoint:
    mode: str  # "off" | "alwaysOn" | "times" | "skip" | "activationProbability"
    remaining: int = 0
    probability: float = 1.0
    data: dict[str, Any] = field(default_factory=dict)


def _parse_mode(mode: Any) -> _FailPoint:
    if mode in ("off", "alwaysOn"):
        return _FailPoint(mode=mode)
    if isinstance(mode, Mapping) and len(mode) == 1:
        (key, value), = mode.items()
        if key in ("times", "skip") and isinstance(value, int) and value >= 0:
            return _FailPoint(mode=key, remaining=int(value))
        if key == "activationProbability" and isinstance(value, (int, float)) and 0 <= value <= 1:
            return _FailPoint(mode=key, probability=float(value))
    raise FailPointError(
        f"configureFailPoint: mode must be 'off', 'alwaysOn', {{times: n}}, {{skip: n}} or "
        f"{{activationProbability: p}}, got {mode!r}"
    )


class FailPoints:
    """The fail points of one member (a real server's fail points are per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, _FailPoint] = {}

    def configure(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a configureFailPoint command; returns the server reply (count = times entered)."""
        name = command.get("configureFailPoint")
        if not isinstance(name, str) or not name:
            raise FailPointError("configureFailPoint: the fail point name must be a non-empty string")
        if name not in KNOWN_FAILPOINTS:
            raise FailPointError(f"configureFailPoint: unknown fail point '{name}'")
        point = _parse_mode(command.get("mode"))
        data = command.get("data", {})
        if not isinstance(data, Mapping):
            raise FailPointError("configureFailPoint: 'data' must be a document")
        point.data = dict(data)
        if name == "failCommand" and point.mode != "off":
            commands = point.data.get("failCommands")
            if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
                raise FailPointError("configureFailPoint failCommand: data.failCommands must be a list of command names")
        with self._lock:
            if point.mode == "off":
                self._points.pop(name, None)
            else:
                self._points[name] = point
        return {"count": 0, "ok": 1.0}

    def is_on(self, name: str) -> bool:
        """Whether a fail point is on, without consuming an activation (a state, not an event)."""
        with self._lock:
            return name in self._points

    def fires(self, name: str) -> bool:
        """Evaluate a fail point once (consuming an activation when it fires)."""
        with self._lock:
            point = self._points.get(name)
            return point is not None and self._consume(name, point)

    def clear(self) -> None:
        """Turn every fail point off (a restarted process starts with none)."""
        with self._lock:
            self._points.clear()

    def on_primary_transactional_write(self, statements: int = 1) -> tuple[bool, int | None] | None:
        """If onPrimaryTransactionalWrite fires for one of a retryable write's statements on the
        primary, return (close the connection?, failBeforeCommitExceptionCode or None).

        Evaluated once per statement (document), as the server does, up to the first that fires.
        The sandbox then applies the outcome to the whole command: statements before the firing
        one are not committed separately (a simplification of the server's per-statement commit)."""
        with self._lock:
            point = self._points.get("onPrimaryTransactionalWrite")
            if point is None:
                return None
            for _ in range(statements):
                if self._consume("onPrimaryTransactionalWrite", point):
                    break
                if "onPrimaryTransactionalWrite" not in self._points:
                    return None
            else:
                return None
            data = point.data
        return bool(data.get("closeConnection", True)), data.get("failBeforeCommitExceptionCode")

    def fail_get_more_after_cursor_checkout(self) -> tuple[int, bool] | None:
        """If failGetMoreAfterCursorCheckout fires for a getMore, consume one activation and
        return (data.errorCode, data.closeConnection)."""
        with self._lock:
            point = self._points.get("failGetMoreAfterCursorCheckout")
            if point is None or not self._consume("failGetMoreAfterCursorCheckout", point):
                return None
            data = point.data
        return int(data.get("errorCode", 1)), bool(data.get("closeConnection", False))

    def _consume(self, name: str, point: _FailPoint) -> bool:
        """One evaluation of a fail point under the lock: does it fire now? (mode semantics)."""
        if point.mode == "skip":
            if point.remaining > 0:
                point.remaining -= 1
                return False
        elif point.mode == "times":
            if point.remaining <= 0:
                self._points.pop(name, None)
                return False
            point.remaining -= 1
            if point.remaining == 0:
                self._points.pop(name, None)
        elif point.mode == "activationProbability":
            return random.random() < point.probability
        return True

    def fail_command(self, command_name: str, app_name: str | None) -> FailCommandAction | None:
        """If failCommand fires for this command, consume one activation and say what to do."""
        with self._lock:
            point = self._points.get("failCommand")
            if point is None:
                return None
            data = point.data
            if command_name not in data.get("failCommands", ()):
                return None
            wanted_app = data.get("appName")
            if wanted_app is not None and wanted_app != app_name:
                return None
            if not self._consume("failCommand", point):
                return None
        return FailCommandAction(
            error_code=data.get("errorCode"),
            error_labels=list(data["errorLabels"]) if "errorLabels" in data else None,
            error_message=data.get("errmsg"),
            write_concern_error=dict(data["writeConcernError"]) if "writeConcernError" in data else None,
            close_connection=bool(data.get("closeConnection", False)),
            block_ms=int(data.get("blockTimeMS", 0)) if data.get("blockConnection") else 0,
        )
