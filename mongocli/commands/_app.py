"""What every command receives (the App) and the decorator that passes it; imports click only."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import click

from mongocli.output.environment import EJSON_MODES, FORMATS, Environment
from mongocli.service.options import ConnectOptions


@dataclass
class App:
    """The environment, connection options and output choices, built once by the root group."""

    env: Environment
    options: ConnectOptions
    fmt: str = "auto"
    ejson: str = "relaxed"
    debug: bool = False
    trace: bool = False
    editing_mode: str = "emacs"   # the shell's key bindings (config file: editing_mode)

    def renderer(self, *, streaming: bool = False) -> Any:
        from mongocli.output.renderers import make_renderer
        return make_renderer(self.fmt, self.env, self.ejson, streaming=streaming)

    def warn(self, message: str) -> None:
        """A message for the user on stderr (URI warnings, --tlsAllowInvalidCertificates...)."""
        self.env.stderr.write(f"Warning: {message}\n")
        self.env.stderr.flush()

    def preflight(self) -> None:
        """Check the options without connecting (exit 2 at once when invalid); warnings to stderr."""
        for warning in self.options.settings().warnings:
            self.warn(warning)

    @contextmanager
    def client(self, listener: Callable[[Any], None] | None = None) -> Iterator[Any]:
        """A connected driver Client (checked up front, fail fast unless --wait), --trace wired in."""
        from mongocli.service.connect import open_client
        with open_client(self.options, self._listener(listener), warn=self.warn) as client:
            yield client

    @contextmanager
    def topology(self, listener: Callable[[Any], None] | None = None,
                 options: ConnectOptions | None = None) -> Iterator[Any]:
        """A live topology (monitors only, no pools) for diagnostics commands."""
        from mongocli.service.connect import open_topology
        with open_topology(options or self.options, self._listener(listener), warn=self.warn) as live:
            yield live

    def _listener(self, listener: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        if not self.trace:
            return listener
        from mongocli.service.trace import TraceLog
        tracer = TraceLog(self.env.stderr)

        def both(event: Any) -> None:
            tracer(event)
            if listener is not None:
                listener(event)
        return both


_pass_app = click.make_pass_decorator(App)


def pass_app(command: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the App, and accept --format/--ejson/--debug after the command name as well."""
    @functools.wraps(command)
    def wrapper(app: App, *args: Any, fmt: str | None, ejson: str | None, debug: bool, **kwargs: Any) -> Any:
        app.fmt = fmt or app.fmt
        app.ejson = ejson or app.ejson
        app.debug = app.debug or debug
        return command(app, *args, **kwargs)

    wrapper = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(wrapper)
    wrapper = click.option("--ejson", type=click.Choice(EJSON_MODES), default=None,
                           help="Extended JSON mode (as the global option).")(wrapper)
    wrapper = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                           help="Output format (as the global option).")(wrapper)
    return _pass_app(wrapper)
