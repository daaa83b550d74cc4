"""The shell family: `mongocli shell`, defined in mongocli/shell/command.py (prompt_toolkit and the
JavaScript engine load only when it runs)."""

from mongocli.commands import Deferred

COMMANDS = [Deferred("shell", "mongocli.shell.command:shell_command",
                     "An interactive MongoDB shell with mongosh-style syntax.")]
