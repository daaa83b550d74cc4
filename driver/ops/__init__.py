"""Pure builders and parsers for driver commands, one module per command family; no I/O here."""

from driver.ops.admin import (
    create_collection_command,
    drop_collection_command,
    drop_database_command,
    list_collections_command,
    list_databases_command,
    parse_list_databases_reply,
    rename_collection_command,
)
from driver.ops.aggregate import aggregate_command, has_write_stage
from driver.ops.count import (
    count_command,
    count_documents_command,
    estimated_document_count_command,
    parse_count_documents_reply,
    parse_count_reply,
)
from driver.ops.distinct import distinct_command, parse_distinct_reply
from driver.ops.find import CursorReply, find_command, get_more_command, kill_cursors_command, parse_cursor_reply
from driver.ops.find_and_modify import find_and_modify_command, parse_find_and_modify_reply
from driver.ops.indexes import (
    create_indexes_command,
    drop_indexes_command,
    index_document,
    index_keys,
    index_name,
    list_indexes_command,
)
from driver.ops.write import (
    delete_command,
    delete_statement,
    encode_insert,
    insert_command,
    update_command,
    update_statement,
    validate_replacement,
    validate_update,
    with_id,
)

__all__ = [name for name in dir() if not name.startswith("_")]
