"""prompt_toolkit wiring for the shell: key bindings, highlighting, completion, private history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from prompt_toolkit.completion import Completer, Completion

from mongocli.shell.completion import complete
from mongocli.shell.history import PrivateFileHistory
from mongocli.shell.jssource import is_complete

if TYPE_CHECKING:
    from mongocli.shell.app import Shell

__all__ = ["make_session"]


class _Completer(Completer):
    """prompt_toolkit adapter: the pure complete() over snapshots (never touches the engine or the network)."""

    def __init__(self, shell: "Shell") -> None:
        self.shell = shell

    def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
        for s in complete(document.text_before_cursor, self.shell.completion_names()):
            yield Completion(s.text, start_position=s.start, display_meta=s.meta)


def make_session(shell: "Shell", history_file: str, *, output: Any = None, input: Any = None,
                 editing_mode: str = "emacs") -> Any:
    """A PromptSession: Enter runs a complete input and continues an open one on a new line;
    `editing_mode` "vi" or "emacs" picks the key bindings."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.enums import EditingMode
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.javascript import JavascriptLexer

    bindings = KeyBindings()

    # Why ~is_searching: during Ctrl-R the focused buffer is the search field; Enter there must
    # accept the found line (prompt_toolkit's own binding), not submit the empty search text.
    @bindings.add("enter", filter=~is_searching)
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is not None and buffer.complete_state.current_completion is not None:
            buffer.apply_completion(buffer.complete_state.current_completion)
        elif is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")  # brackets or a statement still open: continue (mongosh behaviour)

    return PromptSession(
        history=PrivateFileHistory(history_file), lexer=PygmentsLexer(JavascriptLexer),
        completer=_Completer(shell), multiline=True, key_bindings=bindings, complete_while_typing=True,
        prompt_continuation=lambda width, line, soft: "... ".rjust(width), refresh_interval=1.0,
        editing_mode=EditingMode.VI if editing_mode == "vi" else EditingMode.EMACS, output=output, input=input)
