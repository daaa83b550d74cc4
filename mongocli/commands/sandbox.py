"""The sandbox family: `mongocli sandbox`, defined in mongocli/sandbox/cli_command.py (the query
engine, mongomock, loads only when it runs)."""

from mongocli.commands import Deferred

COMMANDS = [Deferred("sandbox", "mongocli.sandbox.cli_command:sandbox_command",
                     "A simulated deployment on loopback; its URI first.")]
