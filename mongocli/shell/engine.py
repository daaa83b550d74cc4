"""The shell's JavaScript runtime: QuickJS with the mongosh prelude, one input at a time, interruptible.

One QuickJS context lives on the thread that created it (QuickJS runtimes are not thread
safe). Driver calls made through the bridge run on a worker thread while this thread waits,
so Ctrl-C abandons a blocked call at once; pure JavaScript is interrupted through the loop
guards `jssource.instrument` inserts (QuickJS ignores SIGINT and outside time limits while an
`eval` runs). The prelude is loaded after PRELUDE_LINE so its stack frames are told apart from
the user's by line number alone (QuickJS names every eval "<input>").
"""

from __future__ import annotations

import os
import re
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mongocli.shell import metacommands
from mongocli.shell.jssource import Instrumented, instrument

__all__ = ["Engine", "Outcome", "PRELUDE_LINE", "MEMORY_LIMIT"]

PRELUDE_LINE = 100_000
MEMORY_LIMIT = 1 << 30           # 1 GiB: a runaway script fails with "out of memory", the shell survives
_PRELUDE_FILES = ("bson.js", "inspect.js", "api.js", "globals.js")
_FRAME = re.compile(r"<input>:(\d+):(\d+)")


@dataclass(frozen=True)
class Outcome:
    """What one input did: the text to show for its value, or its error; `exit_code` after quit()."""

    text: str = ""
    error: str | None = None
    exit_code: int | None = None


class _Interrupt:
    """Ctrl-C while JavaScript runs: a flag the loop guard polls and an event a waiting bridge call wakes on."""

    def __init__(self) -> None:
        self.flag = False
        self.wake: threading.Event | None = None

    def fire(self, *_: Any) -> None:
        self.flag = True
        if self.wake is not None:
            self.wake.set()


def _import_quickjs() -> Any:
    # Why the extension module: the `quickjs` package's __init__ starts a worker thread at import
    # for a helper we do not use; `_quickjs` is the same engine without it.
    import _quickjs
    return _quickjs


def _prelude_source() -> str:
    folder = Path(__file__).with_name("js")
    parts = [(folder / name).read_text(encoding="utf-8") for name in _PRELUDE_FILES]
    return "\n" * PRELUDE_LINE + "\n".join(parts)


class Engine:
    """A JavaScript session: `run(source)` evaluates one input and reports its value or error.

    `write(text, stream)` receives print() output ("stdout"/"stderr"); `bridge` handles the
    prelude's database requests; `read_file(path)` serves load().
    """

    def __init__(self, bridge: Any, write: Callable[[str, str], None], *, db_name: str = "test",
                 interactive: bool = False, read_file: Callable[[str], str] | None = None,
                 colors: bool = False) -> None:
        quickjs = _import_quickjs()
        self._quickjs = quickjs
        self.bridge = bridge
        self.write = write
        self.interactive = interactive
        self._read_file = read_file or _read_text
        self._interrupt = _Interrupt()
        self._exit_code: int | None = None
        self._base_dir = ""  # load() resolves relative paths against the running script's folder
        ctx = quickjs.Context()
        ctx.set_memory_limit(MEMORY_LIMIT)
        ctx.set_max_stack_size(4 << 20)
        ctx.add_callable("__mc_bridge", self._bridge_call)
        ctx.add_callable("__mc_write", lambda text, stream="stdout": self.write(text, stream))
        ctx.add_callable("__mc_poll", lambda: self._interrupt.flag)
        ctx.add_callable("__mc_sleep", self._sleep)
        ctx.add_callable("__mc_quit", self._quit)
        ctx.add_callable("__mc_interactive", lambda: self.interactive)
        ctx.add_callable("__mc_initialDb", lambda: db_name)
        ctx.add_callable("__mc_loadSource", self._load_source)
        ctx.eval(_prelude_source())
        if colors:  # mongosh's colours for printed values (js/inspect.js); off unless asked
            ctx.eval("__mc_inspectOptions.colors = true")
        self._ctx = ctx
        self._run = ctx.eval("__mc_run")

    # -- callables (never raise: a Python exception cannot cross into QuickJS) ---------------
    def call_driver(self, fn: Callable[[], Any]) -> Any:
        """Run a driver call on a worker thread; Ctrl-C (or an earlier one) abandons it with KeyboardInterrupt."""
        if self._interrupt.flag:
            raise KeyboardInterrupt
        wake = threading.Event()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            finally:
                wake.set()

        self._interrupt.wake = wake
        try:
            threading.Thread(target=target, name="mongocli-shell-call", daemon=True).start()
            wake.wait()
        finally:
            self._interrupt.wake = None
        if "error" in box:
            raise box["error"]
        if "value" not in box:
            raise KeyboardInterrupt  # woken by Ctrl-C: the call is abandoned (it finishes on its own)
        return box["value"]

    def _bridge_call(self, request: str) -> str:
        return self.bridge.handle(request)

    def _sleep(self, ms: float) -> bool:
        """sleep(ms) that Ctrl-C cuts short; True when interrupted (the prelude then throws)."""
        wake = threading.Event()
        self._interrupt.wake = wake
        try:
            if not self._interrupt.flag:
                wake.wait(max(0.0, ms) / 1000.0)
        finally:
            self._interrupt.wake = None
        return self._interrupt.flag

    def _quit(self, code: float) -> None:
        self._exit_code = int(code) if code == code else 0

    def _load_source(self, path: str) -> str:
        path = os.path.join(self._base_dir, os.path.expanduser(path)) if self._base_dir else path
        try:
            text = self._read_file(path)
        except OSError as exc:
            return _json({"error": f"load({path!r}): {exc.strerror or exc}"})
        return _json({"code": instrument(metacommands.translate(text)).source})

    # -- running input -------------------------------------------------------------------
    def run(self, source: str, *, filename: str = "<input>", output: str = "shell", all_levels: bool = False) -> Outcome:
        """Evaluate one input; `output` is "shell" (mongosh text), "canonical", "relaxed" or "jsonl".
        `all_levels` shows the value's every nesting level (mongosh prints --eval's result so; the
        prompt and print() stop at depth 6)."""
        self._interrupt.flag = False
        self._exit_code = None
        self._base_dir = os.path.dirname(os.path.abspath(filename)) if os.path.isfile(filename) else ""
        program = instrument(metacommands.translate(source))
        previous = _install_sigint(self._interrupt.fire)
        try:
            try:
                text = self._run(program.source, output, all_levels)
                if self._exit_code is not None:
                    return Outcome(exit_code=self._exit_code)
                return Outcome(text=text if isinstance(text, str) else "")
            except self._quickjs.JSException as exc:
                if self._exit_code is not None:
                    return Outcome(exit_code=self._exit_code)
                return Outcome(error=_error_text(str(exc), program, filename))
            except self._quickjs.StackOverflow as exc:
                return Outcome(error=_error_text(str(exc), program, filename))
        finally:
            _restore_sigint(previous)

    def completion_data(self) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """(methods by object kind, the user's globals with their property names) for completion.

        Call it on the engine's thread between inputs: completion itself stays pure and never
        touches the JavaScript runtime from prompt_toolkit's side."""
        data = _loads(self._ctx.eval("__mc_completionData()"))
        return ({k: tuple(v) for k, v in data["methods"].items()},
                {k: tuple(v) for k, v in data["globals"].items()})

    def current_db(self) -> str:
        return str(self._ctx.eval("db.getName()"))


def _json(value: Any) -> str:
    import json
    return json.dumps(value)


def _loads(text: str) -> Any:
    import json
    return json.loads(text)


def _read_text(path: str) -> str:
    with open(os.path.expanduser(path), encoding="utf-8") as handle:
        return handle.read()


def _install_sigint(handler: Callable[..., None]) -> Any:
    """Route SIGINT to `handler` while JavaScript runs (only the main thread may install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _error_text(raw: str, program: Instrumented, filename: str) -> str:
    """QuickJS's "Name: message\\n    at f (<input>:L:C)" as the shell shows it: the message, then the
    user's position (prelude frames hidden; columns mapped back past the loop guards)."""
    head, _, stack = raw.partition("\n    at ")
    stack = stack.split("at eval (native)")[0]  # frames below it are the shell's own
    head = head.strip()
    if head.endswith("\nundefined"):
        head = head[: -len("\nundefined")]
    if head.startswith("Mongo"):
        return head  # the server's or the shell's own error: where the user called it adds nothing
    for line, column in ((int(a), int(b)) for a, b in _FRAME.findall("    at " + stack)):
        if line < PRELUDE_LINE:
            return f"{head}\n    at {filename}:{line}:{program.original_column(line, column)}"
    return head
