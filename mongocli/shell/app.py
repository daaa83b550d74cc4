"""The REPL: prompt_toolkit session (history, highlighting, completion, multi-line) and the script runner."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable, Mapping

from prompt_toolkit.completion import Completer, Completion

from driver.errors import DriverError
from mongocli.shell.completion import Names, NameSource, complete
from mongocli.shell.evaluate import Result, ShellState
from mongocli.shell.lexer import ShellError, is_complete
from mongocli.shell.metacommands import prompt_text, run_input
from mongocli.shell.render import ShellPrinter

__all__ = ["Shell", "history_path", "run_in_worker"]

# Statements whose success can change the database/collection names completion offers.
_NAME_CHANGERS = ("use ", "insert", "drop", "createCollection", "createIndex", "renameCollection", "update",
                  "replace")


def history_path(environ: Mapping[str, str] | None = None) -> str:
    """$MONGOCLI_HISTORY, else ~/.mongocli_history."""
    environ = os.environ if environ is None else environ
    return environ.get("MONGOCLI_HISTORY") or os.path.join(os.path.expanduser("~"), ".mongocli_history")


def run_in_worker(fn: Callable[[], Any]) -> Any:
    """Run `fn` on a daemon thread and wait; Ctrl-C interrupts the wait (the call is abandoned).

    Why a thread: a driver call may block for serverSelectionTimeoutMS; the main thread waits
    on an Event, which a SIGINT interrupts, so the prompt comes back at once.
    """
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, re-raised there
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="mongocli-shell-call", daemon=True).start()
    done.wait()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Shell:
    """One shell session over a driver client: runs inputs, prints results, remembers failures."""

    def __init__(self, client: Any, printer: ShellPrinter, *, db_name: str = "test",
                 names: NameSource | None = None) -> None:
        self.client = client
        self.printer = printer
        self.state = ShellState(client, db_name)
        self.names = names
        self.failed = False

    def execute(self, text: str) -> bool:
        """Run one complete input; print its results or its error. Returns False when the user exits."""
        if not text.strip():
            return True
        results: list[Result] = []

        def emit(result: Result) -> None:
            self.printer.result(result)
            results.append(result)

        try:
            keep_going = run_in_worker(lambda: run_input(text, self.state, emit))
        except KeyboardInterrupt as exc:
            self.failed = True
            self.printer.error(exc)
            return True
        except (ShellError, DriverError) as exc:
            self.failed = True
            self.printer.error(exc)
            return True
        except Exception as exc:  # noqa: BLE001 - the shell survives anything a statement does
            self.failed = True
            self.printer.error(exc)
            return True
        if self.names is not None and any(word in text for word in _NAME_CHANGERS):
            self.names.refresh(self.state.db_name)
        return keep_going

    def run_script(self, lines: Iterable[str], *, stop_on_error: bool = False) -> int:
        """Run lines as a script: statements may span lines while brackets are open. Exit code 0/1."""
        buffer = ""
        for line in lines:
            buffer += line if line.endswith("\n") else line + "\n"
            if not is_complete(buffer):
                continue
            text, buffer = buffer, ""
            if not self.execute(text):
                return 1 if self.failed else 0
            if stop_on_error and self.failed:
                return 1
        if buffer.strip():
            self.execute(buffer)  # unbalanced at the end: run it so the user sees the syntax error
        return 1 if self.failed else 0

    def prompt(self) -> str:
        """The prompt for the current topology and database."""
        topology = getattr(self.client, "topology", None)
        return prompt_text(getattr(topology, "description", None), self.state.db_name)

    def run_interactive(self, history_file: str | None = None, output: Any = None, input: Any = None) -> int:
        """The prompt_toolkit loop until exit/quit/Ctrl-D; Ctrl-C clears the line or abandons a call."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.lexers import PygmentsLexer
        from pygments.lexers.javascript import JavascriptLexer

        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: Any) -> None:
            buffer = event.current_buffer
            # Why: a statement with open brackets continues on the next line (mongosh behaviour).
            if buffer.complete_state is not None and buffer.complete_state.current_completion is not None:
                buffer.apply_completion(buffer.complete_state.current_completion)
            elif is_complete(buffer.text):
                buffer.validate_and_handle()
            else:
                buffer.insert_text("\n")

        session: PromptSession = PromptSession(
            history=FileHistory(history_file or history_path()), lexer=PygmentsLexer(JavascriptLexer),
            completer=_Completer(self), multiline=True, key_bindings=bindings, complete_while_typing=True,
            prompt_continuation=lambda width, line, soft: "... ".rjust(width), refresh_interval=1.0,
            output=output, input=input)
        while True:
            try:
                text = session.prompt(self.prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            if not self.execute(text):
                return 0


class _Completer(Completer):
    """prompt_toolkit adapter: the pure complete() over the background name snapshot."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
        names = self.shell.names.names(self.shell.state.db_name) if self.shell.names else Names()
        for s in complete(document.text_before_cursor, names):
            yield Completion(s.text, start_position=s.start, display_meta=s.meta)


def make_name_source(client: Any) -> NameSource:
    """A NameSource reading names from `client` on its own thread."""
    return NameSource(client.list_database_names,
                      lambda db: client.get_database(db).list_collection_names())
