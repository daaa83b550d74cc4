"""mongocli's embedded MongoDB driver core, following the official driver specifications.

The public API is what `__all__` lists: `from driver import Client, WriteConcern, ...`. The
names are loaded on first use (PEP 562 `__getattr__`), so `import driver.wire` or the CLI's
start-up does not pay for the whole client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
DRIVER_NAME = "mongocli-driver"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Client": "driver.client",
    "Database": "driver.database",
    "Collection": "driver.collection",
    "IndexModel": "driver.collection",
    "Cursor": "driver.cursor",
    "ListCursor": "driver.cursor",
    "ClientSession": "driver.session",
    "ReadPreference": "driver.read_preference",
    "WriteConcern": "driver.write_concern",
    "ReadConcern": "driver.read_concern",
    "InsertOne": "driver.bulk",
    "UpdateOne": "driver.bulk",
    "UpdateMany": "driver.bulk",
    "ReplaceOne": "driver.bulk",
    "DeleteOne": "driver.bulk",
    "DeleteMany": "driver.bulk",
    "BulkWriteResult": "driver.bulk",
    "ClientInsertOne": "driver.ops.client_bulk_write",
    "ClientUpdateOne": "driver.ops.client_bulk_write",
    "ClientUpdateMany": "driver.ops.client_bulk_write",
    "ClientReplaceOne": "driver.ops.client_bulk_write",
    "ClientDeleteOne": "driver.ops.client_bulk_write",
    "ClientDeleteMany": "driver.ops.client_bulk_write",
    "ClientBulkWriteResult": "driver.ops.client_bulk_write",
    "ClientBulkWriteError": "driver.ops.client_bulk_write",
    "ChangeStream": "driver.change_stream",
    "ChangeStreamOptions": "driver.change_stream",
    "ServerApi": "driver.server_api",
    "ServerApiVersion": "driver.server_api",
    "InsertOneResult": "driver.results",
    "InsertManyResult": "driver.results",
    "UpdateResult": "driver.results",
    "DeleteResult": "driver.results",
    "UnacknowledgedBulkWriteResult": "driver.results",
    "DriverError": "driver.errors",
    "ConfigurationError": "driver.errors",
    "InvalidURI": "driver.errors",
    "DocumentTooLarge": "driver.errors",
    "ProtocolError": "driver.errors",
    "ConnectionFailure": "driver.errors",
    "NetworkTimeout": "driver.errors",
    "AuthenticationFailed": "driver.errors",
    "ServerSelectionTimeout": "driver.errors",
    "WaitQueueTimeout": "driver.errors",
    "PoolClearedError": "driver.errors",
    "OperationTimeout": "driver.errors",
    "PoolClosedError": "driver.errors",
    "OperationFailure": "driver.errors",
    "WriteError": "driver.errors",
    "DuplicateKeyError": "driver.errors",
    "WriteConcernError": "driver.errors",
    "BulkWriteError": "driver.errors",
}

__all__ = ["__version__", "DRIVER_NAME", *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and readers; at run time __getattr__ loads them
    from driver.bulk import BulkWriteResult, DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
    from driver.change_stream import ChangeStream, ChangeStreamOptions
    from driver.client import Client
    from driver.collection import Collection, IndexModel
    from driver.cursor import Cursor, ListCursor
    from driver.database import Database
    from driver.ops.client_bulk_write import (
        ClientBulkWriteError, ClientBulkWriteResult, ClientDeleteMany, ClientDeleteOne, ClientInsertOne,
        ClientReplaceOne, ClientUpdateMany, ClientUpdateOne,
    )
    from driver.errors import (
        AuthenticationFailed, BulkWriteError, ConfigurationError, ConnectionFailure, DocumentTooLarge,
        DriverError, DuplicateKeyError, InvalidURI, NetworkTimeout, OperationFailure, OperationTimeout, PoolClearedError,
        PoolClosedError, ProtocolError, ServerSelectionTimeout, WaitQueueTimeout, WriteConcernError, WriteError,
    )
    from driver.read_concern import ReadConcern
    from driver.read_preference import ReadPreference
    from driver.results import (
        DeleteResult, InsertManyResult, InsertOneResult, UnacknowledgedBulkWriteResult, UpdateResult,
    )
    from driver.session import ClientSession
    from driver.write_concern import WriteConcern


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driver' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
