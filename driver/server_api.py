"""The declared server API version (Stable API spec, versioned-api.md): ServerApi and the command fields it adds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driver.errors import ConfigurationError


class ServerApiVersion:
    """The API versions this driver knows ("ServerApiVersion enumeration"); only these may be declared."""

    V1 = "1"


KNOWN_VERSIONS = (ServerApiVersion.V1,)


@dataclass(frozen=True)
class ServerApi:
    """`ServerApi(version="1", strict=None, deprecation_errors=None)`: immutable once made.

    Stable API spec, "ServerApi class": `version` is required and must be one the driver knows
    (a client-side error otherwise, "Hardcode supported versions in drivers"); `strict` and
    `deprecation_errors` are optional and, when given, sent even if equal to the server default.
    Declared on the Client only: never a URI option, never overridden per database or operation.
    """

    version: str
    strict: bool | None = None
    deprecation_errors: bool | None = None
    # The command options, computed once ("Command Syntax"): apiVersion, apiStrict, apiDeprecationErrors.
    fields: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version not in KNOWN_VERSIONS:
            raise ConfigurationError(f"unknown server API version {self.version!r}: this driver knows "
                                     f"{', '.join(repr(v) for v in KNOWN_VERSIONS)}")
        for name in ("strict", "deprecation_errors"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ConfigurationError(f"ServerApi {name} must be True, False or None, not {value!r}")
        fields: dict[str, Any] = {"apiVersion": self.version}
        if self.strict is not None:
            fields["apiStrict"] = self.strict
        if self.deprecation_errors is not None:
            fields["apiDeprecationErrors"] = self.deprecation_errors
        object.__setattr__(self, "fields", fields)

    def add_to(self, command: dict[str, Any]) -> None:
        """Add the API fields to a command about to be sent ("Sending Declared API Version": every
        command, getMore and the commands of a transaction included)."""
        command.update(self.fields)


__all__ = ["KNOWN_VERSIONS", "ServerApi", "ServerApiVersion"]
