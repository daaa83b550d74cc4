"""User-facing errors: every failure becomes one clear message and an exit code, in one place."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import IO

from driver import errors as driver_errors

# Exit codes (documented in `mongocli --help` epilog). 2 is click's own code for usage errors.
EXIT_OK = 0
EXIT_FAILURE = 1        # an unexpected error or a driver error with no better class
EXIT_USAGE = 2          # bad options, bad URI, bad JSON input
EXIT_UNREACHABLE = 3    # no suitable server: selection timeout, connection refused or timed out
EXIT_AUTH = 4           # authentication failed
EXIT_SERVER = 5         # the server answered with an error (command or write failed)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class UserError(Exception):
    """A problem with what the user asked for (bad JSON, bad namespace, bad input line).

    `details` are extra lines printed after the message (e.g. which lines were inserted).
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = tuple(details)


@dataclass(frozen=True)
class Report:
    """What to tell the user about one error: a headline, explanation lines, an exit code."""

    headline: str
    details: tuple[str, ...]
    exit_code: int


# Most specific first: the first matching class decides the label and exit code.
_DRIVER_ERRORS: tuple[tuple[type[BaseException], str, int], ...] = (
    (driver_errors.InvalidURI, "invalid connection string", EXIT_USAGE),
    (driver_errors.ConfigurationError, "configuration error", EXIT_USAGE),
    (driver_errors.ServerSelectionTimeout, "no suitable server", EXIT_UNREACHABLE),
    (driver_errors.NetworkTimeout, "network timeout", EXIT_UNREACHABLE),
    (driver_errors.ConnectionFailure, "connection failed", EXIT_UNREACHABLE),
    (driver_errors.AuthenticationFailed, "authentication failed", EXIT_AUTH),
    (driver_errors.OperationFailure, "server error", EXIT_SERVER),
    (driver_errors.ProtocolError, "protocol error", EXIT_FAILURE),
    (driver_errors.DriverError, "driver error", EXIT_FAILURE),
)


def describe(exc: BaseException) -> Report:
    """Map an exception to the message and exit code the user sees (no traceback)."""
    if isinstance(exc, UserError):
        return Report(exc.message, exc.details, exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return Report("interrupted", (), EXIT_INTERRUPTED)
    for cls, label, code in _DRIVER_ERRORS:
        if isinstance(exc, cls):
            # ServerSelectionTimeout messages carry one explanation line per server: keep them.
            first, *rest = (str(exc) or cls.__name__).splitlines() or [cls.__name__]
            return Report(f"{label}: {first}", tuple(rest), code)
    return Report(f"unexpected error: {type(exc).__name__}: {exc}", ("run with --debug for the traceback",),
                  EXIT_FAILURE)


def report(exc: BaseException, *, debug: bool, stream: IO[str]) -> int:
    """Print the error (and the traceback when `debug`) to `stream`; return the exit code."""
    info = describe(exc)
    if debug and not isinstance(exc, KeyboardInterrupt):
        stream.write("".join(traceback.format_exception(exc)))
    stream.write(f"Error: {info.headline}\n")
    for line in info.details:
        stream.write(f"{line}\n")
    stream.flush()
    return info.exit_code
