"""Write concern: a small frozen value and the document sent as `writeConcern` (read-write-concern spec)."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from driver.errors import ConfigurationError
from driver.ops._util import concern_fields, option_object


@dataclass(frozen=True)
class WriteConcern:
    """w (int or tag/"majority"), wtimeout (ms) and j; all None means "the server's default".

    Spec ("Write Concern"): the server default is expressed by sending no writeConcern at all,
    so `document()` of the default is empty and callers omit the field.
    """

    w: int | str | None = None
    wtimeout: int | None = None
    j: bool | None = None

    def __post_init__(self) -> None:
        if self.w is not None and (isinstance(self.w, bool) or not isinstance(self.w, (int, str))):
            raise ConfigurationError(f"write concern w must be an integer or a string, not {self.w!r}")
        if isinstance(self.w, int) and self.w < 0:
            raise ConfigurationError(f"write concern w must be >= 0, not {self.w}")
        if self.wtimeout is not None and (isinstance(self.wtimeout, bool) or not isinstance(self.wtimeout, int)
                                          or self.wtimeout < 0):
            raise ConfigurationError(f"write concern wtimeout must be a non-negative integer (ms), not {self.wtimeout!r}")
        if self.j is not None and not isinstance(self.j, bool):
            raise ConfigurationError(f"write concern j must be True or False, not {self.j!r}")
        if self.w == 0 and self.j:
            raise ConfigurationError("write concern w=0 with j=True is contradictory: an unacknowledged "
                                     "write cannot wait for the journal")

    @property
    def acknowledged(self) -> bool:
        """False only for w: 0 (the server sends no reply: OP_MSG moreToCome)."""
        return self.w != 0

    @property
    def is_server_default(self) -> bool:
        return self.w is None and self.wtimeout is None and self.j is None

    def document(self) -> dict[str, Any]:
        """The `writeConcern` document; empty for the server default."""
        doc: dict[str, Any] = {}
        if self.w is not None:
            doc["w"] = self.w
        if self.j is not None:
            doc["j"] = self.j
        if self.wtimeout is not None:
            doc["wtimeout"] = self.wtimeout
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | "WriteConcern" | None) -> "WriteConcern":
        """From {w, wtimeout, j} (also `wtimeoutMS`, `journal`), a WriteConcern, or None (default)."""
        return option_object(doc, WriteConcern, DEFAULT_WRITE_CONCERN, cls._from_fields)

    @classmethod
    def _from_fields(cls, doc: Any) -> "WriteConcern":
        doc = concern_fields(doc, "write concern", ("w", "wtimeout", "j", "wtimeoutMS", "journal"))
        return cls(w=doc.get("w"), wtimeout=doc.get("wtimeout", doc.get("wtimeoutMS")),
                   j=doc.get("j", doc.get("journal")))

    @classmethod
    def from_uri_options(cls, options: Mapping[str, Any]) -> "WriteConcern":
        """From URI options w, wTimeoutMS, journal (keys matched case-insensitively)."""
        lowered = {str(k).lower(): v for k, v in options.items()}
        w = lowered.get("w")
        if isinstance(w, str) and w.lstrip("-").isdigit():
            w = int(w)
        return cls(w=w, wtimeout=lowered.get("wtimeoutms"), j=lowered.get("journal"))


DEFAULT_WRITE_CONCERN = WriteConcern()
UNACKNOWLEDGED = WriteConcern(w=0)
