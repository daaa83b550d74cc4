"""Unified test format: session operations for transactions (start/commit/abort/withTransaction) and their assertions."""

from __future__ import annotations

from typing import Any

from tests.spec.unified.runner import Skip

# startTransaction / withTransaction options: unified (camelCase) name -> driver keyword.
_TXN_OPTIONS = {"readConcern": "read_concern", "writeConcern": "write_concern",
                "readPreference": "read_preference", "maxCommitTimeMS": "max_commit_time_ms",
                "timeoutMS": "timeout_ms"}


def transaction_options(args: dict) -> dict[str, Any]:
    """The transaction options of an operation's arguments as driver keywords."""
    from tests.spec.unified.operations import UNSUPPORTED_ARGS, read_preference_from

    out: dict[str, Any] = {}
    for key, value in args.items():
        if key == "callback":
            continue
        if key in UNSUPPORTED_ARGS:
            raise Skip(f"argument {UNSUPPORTED_ARGS[key]} is unsupported by the driver")
        if key not in _TXN_OPTIONS:
            raise Skip(f"transaction option {key!r} is unsupported by this runner")
        out[_TXN_OPTIONS[key]] = read_preference_from(value) if key == "readPreference" else value
    return out


def _start(run: Any, session: Any, args: dict) -> None:
    session.start_transaction(**transaction_options(args))


def _commit(run: Any, session: Any, args: dict) -> None:
    session.commit_transaction(**transaction_options(args))


def _abort(run: Any, session: Any, args: dict) -> None:
    session.abort_transaction(**transaction_options(args))


def _with_transaction(run: Any, session: Any, args: dict) -> Any:
    """withTransaction: the callback runs the listed operations in order, each judged as usual; an
    error, expected or not, then ends the callback and reaches the driver (which aborts, and may
    retry the transaction), as the callback of an application would."""
    def callback(_session: Any) -> None:
        for op in args["callback"]:
            run.run_operation(op, propagate_errors=True)

    return session.with_transaction(callback, **transaction_options(args))


def _assert_state(run: Any, args: dict) -> None:
    session = run.entities.get(args["session"], "session")
    actual = session.transaction_state
    assert actual == args["state"], f"session {args['session']} transaction state is {actual!r}, " \
                                    f"expected {args['state']!r}"


def _pinned(run: Any, args: dict) -> Any:
    return run.entities.get(args["session"], "session").transaction.pinned_address


def _assert_pinned(run: Any, args: dict) -> None:
    assert _pinned(run, args) is not None, f"session {args['session']} should be pinned to a mongos"


def _assert_unpinned(run: Any, args: dict) -> None:
    pinned = _pinned(run, args)
    assert pinned is None, f"session {args['session']} should be unpinned, is pinned to {pinned}"


def _targeted_fail_point(run: Any, args: dict) -> None:
    """targetedFailPoint: configure the fail point on the mongos the session is pinned to; it is
    disabled there after the test (unified format, "targetedFailPoint")."""
    address = _pinned(run, args)
    assert address is not None, f"targetedFailPoint: session {args['session']} is not pinned to a mongos"
    command = args["failPoint"]
    run.failpoints.append((address, command["configureFailPoint"]))
    run.deployment.configure_failpoint(command, address)


SESSION_OPS = {"startTransaction": _start, "commitTransaction": _commit, "abortTransaction": _abort,
               "withTransaction": _with_transaction}
RUNNER_OPS = {"assertSessionTransactionState": _assert_state, "assertSessionPinned": _assert_pinned,
              "assertSessionUnpinned": _assert_unpinned, "targetedFailPoint": _targeted_fail_point}
