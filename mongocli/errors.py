"""User-facing errors: every failure becomes one clear message and an exit code, in one place."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Iterable

# The one exit-code table, for every command and the shell (documented in the `mongocli --help`
# epilog and the README). 2 is click's own code for usage errors.
EXIT_OK = 0
EXIT_FAILURE = 1        # an unexpected error or a driver error with no better class
EXIT_USAGE = 2          # bad options, bad URI, bad JSON input
EXIT_UNREACHABLE = 3    # no suitable server: selection timeout, connection refused or timed out
EXIT_AUTH = 4           # authentication failed
EXIT_SERVER = 5         # the server answered with an error (command or write failed)
EXIT_TIMEOUT = 6        # --timeout-ms (timeoutMS) ran out before the operation finished
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


def _driver_errors() -> tuple[tuple[type[BaseException], str, int], ...]:
    """Most specific first: the first matching class decides the label and exit code.

    Built on first use: the driver is imported only by commands that reach a server.
    """
    from driver import errors as driver_errors
    from mongocli.service.connect import Unreachable
    return (
        (driver_errors.InvalidURI, "invalid connection string", EXIT_USAGE),
        (driver_errors.ConfigurationError, "configuration error", EXIT_USAGE),
        (driver_errors.OperationTimeout, "timed out", EXIT_TIMEOUT),
        (Unreachable, "unreachable", EXIT_UNREACHABLE),
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
    if "driver.errors" in sys.modules:  # else it cannot be a driver error, and the import is saved
        for cls, label, code in _driver_errors():
            if not isinstance(exc, cls):
                continue
            # ServerSelectionTimeout messages carry one explanation line per server: keep them.
            first, *rest = (str(exc) or cls.__name__).splitlines() or [cls.__name__]
            return Report(f"{label}: {first}", tuple(rest), code)
    return Report(f"unexpected error: {type(exc).__name__}: {exc}", ("run with --debug for the traceback",),
                  EXIT_FAILURE)


def report(exc: BaseException, *, debug: bool, stream: IO[str], secrets: Iterable[str] = ()) -> int:
    """Print the error (and the traceback when `debug`) to `stream`; return the exit code.

    Every occurrence of a secret (the password in any of its spellings) is masked, whatever
    the error's own text holds (issue 11 item 4: secrets never inside an error message).
    """
    info = describe(exc)
    import traceback  # only on the error path
    text = "".join(traceback.format_exception(exc)) if debug and not isinstance(exc, KeyboardInterrupt) else ""
    text += f"Error: {info.headline}\n" + "".join(f"{line}\n" for line in info.details)
    stream.write(mask(text, secrets))
    stream.flush()
    return info.exit_code


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (longest first, so no part of one survives) replaced by ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
