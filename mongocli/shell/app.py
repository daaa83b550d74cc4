"""The shell session: runs inputs on the JavaScript engine, prints values and errors, and the REPL loop."""

from __future__ import annotations

import re
from typing import IO, Any, Iterable

from mongocli.shell.bridge import Bridge
from mongocli.shell.completion import Names, NameSource
from mongocli.shell.engine import Engine
from mongocli.shell.jssource import is_complete
from mongocli.shell.metacommands import prompt_text

__all__ = ["Shell", "make_name_source"]

# An error's leading name ("MongoServerError", "ReferenceError"): mongosh's REPL shows it bold red.
_ERROR_NAME = re.compile(r"^([A-Za-z_$][\w$]*)(?=: |\[)")

# Inputs after which the database/collection names completion offers may have changed.
_NAME_CHANGERS = ("use ", "insert", "drop", "createCollection", "createIndex", "renameCollection", "update",
                  "replace", "bulkWrite", "getSiblingDB")


class Shell:
    """One shell session over a driver client: one JavaScript engine, one bridge, one output.

    `output` is "shell" (mongosh's text), "relaxed"/"canonical" (Extended JSON) or "jsonl";
    `color` styles mongosh's text as mongosh does on a terminal (the caller decides: a terminal,
    no NO_COLOR).
    """

    def __init__(self, client: Any, uri: str, stdout: IO[str], stderr: IO[str], *, db_name: str = "test",
                 interactive: bool = False, output: str = "shell", color: bool = False) -> None:
        self.client = client
        self.stdout = stdout
        self.stderr = stderr
        self.output = output
        self.failed = False
        self.exit_code: int | None = None
        self.names: NameSource | None = None
        self._completion: tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]] = ({}, {})
        self.bridge = Bridge(client, uri, lambda fn: self.engine.call_driver(fn))
        self.engine = Engine(self.bridge, self._write, db_name=db_name, interactive=interactive,
                             colors=color and output == "shell")
        self._color_errors = color and interactive  # as mongosh: at the prompt, not in --eval or scripts

    def _write(self, text: str, stream: str) -> None:
        target = self.stderr if stream == "stderr" else self.stdout
        target.write(text)
        target.flush()

    @property
    def db_name(self) -> str:
        return self.engine.current_db()

    def execute(self, text: str, *, filename: str = "<input>", show: bool = True, all_levels: bool = False) -> bool:
        """Run one complete input; print its value (when `show`; every level with `all_levels`) or
        its error. False once quit() ran."""
        if not text.strip():
            return True
        outcome = self.engine.run(text, filename=filename, output=self.output if show else "shell",
                                  all_levels=all_levels)
        if outcome.exit_code is not None:
            self.exit_code = outcome.exit_code
            return False
        if outcome.error is not None:
            self.failed = True
            error = _ERROR_NAME.sub("\x1b[1m\x1b[31m\\1\x1b[0m", outcome.error, count=1) if self._color_errors \
                else outcome.error
            self._write(error + "\n", "stderr")
        elif show and outcome.text:
            self._write(outcome.text + "\n", "stdout")
        if self.names is not None and any(word in text for word in _NAME_CHANGERS):
            self.names.refresh(self.db_name)
        return True

    def status(self) -> int:
        """The process exit code: quit(n)'s n, else 1 after an uncaught error, else 0."""
        if self.exit_code is not None:
            return self.exit_code
        return 1 if self.failed else 0

    def run_program(self, source: str, *, filename: str, show: bool) -> bool:
        """Run a whole program (--eval's joined code, a script file); False when it failed or quit.
        A shown value is printed to every level, as mongosh prints --eval's result."""
        keep_going = self.execute(source, filename=filename, show=show, all_levels=show)
        return keep_going and not self.failed

    def run_lines(self, lines: Iterable[str]) -> int:
        """Run piped input like the REPL: statements may span lines while brackets are open."""
        buffer = ""
        for line in lines:
            buffer += line if line.endswith("\n") else line + "\n"
            if not is_complete(buffer):
                continue
            text, buffer = buffer, ""
            if not self.execute(text):
                return self.status()
        if buffer.strip():
            self.execute(buffer)  # unbalanced at the end: run it so the user sees the syntax error
        return self.status()

    def prompt(self) -> str:
        """The prompt for the current topology and database."""
        return prompt_text(getattr(self.client, "topology_description", None), self.db_name)

    def completion_names(self) -> Names:
        """Names for completion: the background names plus the last snapshot of the engine's objects."""
        base = self.names.names(self.db_name) if self.names is not None else Names()
        methods, user_globals = self._completion
        return Names(base.databases, base.collections, methods, user_globals)

    def refresh_completion(self) -> None:
        """Snapshot the engine's methods and the user's variables (on the engine's thread)."""
        self._completion = self.engine.completion_data()

    def run_interactive(self, history_file: str, output: Any = None, input: Any = None, *,
                        editing_mode: str = "emacs") -> int:
        """The prompt_toolkit loop until exit/quit/Ctrl-D; Ctrl-C clears the line or interrupts the input.

        `editing_mode` is the key bindings, "emacs" or "vi" (the config file's editing_mode)."""
        from mongocli.shell.repl import make_session
        session = make_session(self, history_file, output=output, input=input, editing_mode=editing_mode)
        while True:
            self.refresh_completion()
            try:
                text = session.prompt(self.prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return self.exit_code or 0
            if not self.execute(text):
                return self.exit_code or 0

    def close(self) -> None:
        self.bridge.close()


def make_name_source(client: Any) -> NameSource:
    """A NameSource reading names from `client` on its own thread."""
    return NameSource(client.list_database_names,
                      lambda db: client.get_database(db).list_collection_names())
