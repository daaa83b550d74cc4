"""Read concern: a small frozen value and the `readConcern` document (read-write-concern spec)."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from driver.errors import ConfigurationError
from driver.ops._util import concern_fields, option_object


@dataclass(frozen=True)
class ReadConcern:
    """`level` ("local", "majority", "linearizable", "available", "snapshot") or None = server default.

    The level is passed through unchecked beyond its type: servers add levels and say no
    themselves (spec: drivers SHOULD NOT validate the level).
    """

    level: str | None = None

    def __post_init__(self) -> None:
        if self.level is not None and not isinstance(self.level, str):
            raise ConfigurationError(f"read concern level must be a string, not {self.level!r}")

    @property
    def is_server_default(self) -> bool:
        return self.level is None

    def document(self) -> dict[str, Any]:
        """{level: ...} or {} for the server default (then the field is not sent)."""
        return {} if self.level is None else {"level": self.level}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | "ReadConcern" | None) -> "ReadConcern":
        """From {level: ...}, a ReadConcern, or None (default)."""
        return option_object(doc, ReadConcern, DEFAULT_READ_CONCERN,
                             lambda d: cls(level=concern_fields(d, "read concern", ("level",)).get("level")))


DEFAULT_READ_CONCERN = ReadConcern()
