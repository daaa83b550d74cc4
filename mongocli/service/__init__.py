"""The service layer: calls into driver/ and returns plain results; no click, rich or prompt_toolkit."""

from mongocli.service.data import find, insert, ping, run_command
from mongocli.service.diagnostics import event_record, hello, note, server_row, topology_view
from mongocli.service.results import (CommandResult, EventRecord, FindResult, HelloResult, InsertReport,
                                      ServerRow, TopologyView)
from mongocli.service.session import (ConnectOptions, discover, is_settled, open_client, open_topology,
                                      wait_until)

__all__ = [
    "CommandResult", "ConnectOptions", "EventRecord", "FindResult", "HelloResult", "InsertReport",
    "ServerRow", "TopologyView", "discover", "event_record", "find", "hello", "insert", "is_settled",
    "note", "open_client", "open_topology", "ping", "run_command", "server_row", "topology_view", "wait_until",
]

from mongocli.service import inputs  # noqa: E402 - parsing helpers, service.inputs.*
