"""The command families: each module here holds one family's click commands in `COMMANDS`.

Adding a family is a one-file change: create `mongocli/commands/<family>.py` with a
`COMMANDS` list; the root group finds it by scanning this package (modules whose name starts
with `_` are helpers, not families). A family module imports only click and mongocli.commands._app
at the top: the service, the driver, rich and bson are imported inside the command functions,
so `mongocli --help` and `--version` stay fast (issue 12, start-up).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Deferred:
    """A command defined elsewhere whose module is heavy (the shell, the sandbox): listed by name
    and one-line help, imported only when run (or when its own --help is asked for)."""

    name: str
    target: str       # "package.module:attribute"
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


def family_modules() -> list[str]:
    """Module names of every command family, sorted (the package is scanned, not listed)."""
    return sorted(f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__)
                  if not info.name.startswith("_"))


def all_commands() -> dict[str, Any]:
    """name -> click.Command or Deferred, across every family; a duplicate name is a bug."""
    table: dict[str, Any] = {}
    for module_name in family_modules():
        for command in getattr(importlib.import_module(module_name), "COMMANDS", ()):
            if command.name in table:
                raise RuntimeError(f"command {command.name!r} is defined twice ({module_name})")
            table[command.name] = command
    return table
