"""The three retry regimes as named policies, and the state of one operation's attempts (pure).

An operation runs under one base policy: RETRYABLE_WRITES (retryable-writes spec),
RETRYABLE_READS (retryable-reads spec) or NO_RETRY. The overload policy (client-backpressure
spec, "Overload retry policy") applies on top of any of them. driver/execute.py runs the
attempts (select, send, sleep); every decision between two attempts is taken here, in
`Attempts.failed`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driver.retry import (
    RETRY_TOKEN_RETURN_RATE,
    TokenBucket,
    error_after_read_retry,
    error_after_write_retry,
    is_overload_error,
    is_retryable_overload_error,
    is_retryable_read_command,
    is_retryable_write_command,
    should_retry_read,
    should_retry_write,
    supports_retryable_reads,
    supports_retryable_writes,
)
from driver.timeout import as_timeout_error, is_timeout

if TYPE_CHECKING:
    from driver.read_preference import ReadPreference
    from driver.sdam.description import ServerDescription


class Retryable(str, enum.Enum):
    """What an Operation says of itself: a retryable-write or retryable-read candidate (or None: neither)."""

    WRITE = "write"
    READ = "read"


class Policy:
    """A regime's rules: which servers may run a retry, which errors it retries, what is raised at the end.

    This base class is NO_RETRY: the operation is only ever retried by the overload policy.
    """

    name = "no retry"

    def __repr__(self) -> str:
        return f"<retry policy: {self.name}>"

    def takes_txn_number(self, server: ServerDescription | None) -> bool:
        """Whether an attempt on `server` carries a txnNumber (and so may be retried as a write)."""
        return False

    def may_retry_on(self, server: ServerDescription | None) -> bool:
        """Whether a retry may run on `server`; if not, the first error stands (both specs)."""
        return True

    def retries(self, error: BaseException, txn_number: bool) -> bool:
        """Whether this regime retries after `error` (overload errors are the overload policy's)."""
        return False

    def final_error(self, errors: Sequence[BaseException]) -> BaseException:
        """The error to raise when the attempts end in failure (retryable-reads spec 3c by default)."""
        previous = errors[-2] if len(errors) > 1 else errors[0]
        return error_after_read_retry(previous, errors[-1])


class _RetryableWrites(Policy):
    """retryable-writes spec: one retry with the same txnNumber, on a RetryableWriteError label."""

    name = "retryable writes"

    def takes_txn_number(self, server: ServerDescription | None) -> bool:
        return server is not None and supports_retryable_writes(server)

    def may_retry_on(self, server: ServerDescription | None) -> bool:
        return self.takes_txn_number(server)

    def retries(self, error: BaseException, txn_number: bool) -> bool:
        return txn_number and should_retry_write(error)

    def final_error(self, errors: Sequence[BaseException]) -> BaseException:
        return error_after_write_retry(errors)


class _RetryableReads(Policy):
    """retryable-reads spec: one retry after a retryable read error, on a 3.6+ server."""

    name = "retryable reads"

    def may_retry_on(self, server: ServerDescription | None) -> bool:
        return server is not None and supports_retryable_reads(server.max_wire_version)

    def retries(self, error: BaseException, txn_number: bool) -> bool:
        return should_retry_read(error)


NO_RETRY = Policy()
RETRYABLE_WRITES = _RetryableWrites()
RETRYABLE_READS = _RetryableReads()


def base_policy(retryable: Retryable | None, command: Mapping[str, Any], *, retry_writes: bool,
                retry_reads: bool, has_session: bool, in_transaction: bool) -> Policy:
    """The base regime of one operation (`command` judged whole: document sequences merged back)."""
    if in_transaction:
        return NO_RETRY  # a transaction is retried as a whole by the application, never command by command
    if retryable is Retryable.WRITE and retry_writes and has_session and is_retryable_write_command(command):
        return RETRYABLE_WRITES
    if retryable is Retryable.READ and retry_reads and is_retryable_read_command(command):
        return RETRYABLE_READS
    return NO_RETRY


@dataclass(frozen=True)
class OverloadPolicy:
    """client-backpressure spec, "Overload retry policy": after an error labelled SystemOverloadedError
    and RetryableError any operation is retried, up to `max_retries` (maxAdaptiveRetries) times, each
    retry paid with a token of the client's budget, after an exponential backoff; with `retargeting`
    (enableOverloadRetargeting) a retry prefers another server than the overloaded one.

    `enabled`: overload retries follow retryWrites for writes, retryReads for reads, and need both
    for a runCommand (the driver cannot tell what it does).
    """

    enabled: bool = True
    max_retries: int = 2
    retargeting: bool = False

    def retries(self, error: BaseException) -> bool:
        return self.enabled and is_retryable_overload_error(error)


class Step(enum.Enum):
    """What follows a failed attempt."""

    RETRY = "retry"                  # select again (a sharded cluster prefers another mongos)
    BACK_OFF_AND_RETRY = "back off"  # overload: sleep, then select again
    GIVE_UP = "give up"              # raise Attempts.final_error()


@dataclass
class Attempts:
    """What changes from one attempt of an operation to the next; the Operation itself never changes.

    `number`: the attempt under way (0 = the first); `sent`: commands sent with a session so far
    (a retried commitTransaction asks for w: majority); `errors`: the failures so far, in order;
    `max_retries`: 1 (retryable reads/writes), or the overload policy's once an overload error was
    retryable; `txn_number_taken`: an attempt took the operation's txnNumber (every later attempt
    reuses it); `overload_retry`: this attempt retries an overload error (a commit then repeats
    itself as it was); `starts_transaction`: an attempt carried startTransaction, so its retries do
    too; `read_preference` / `address`: what selection uses now (a $out/$merge aggregate falls back
    to the primary: None; a transaction pins a mongos); `deprioritized`: servers a retry avoids.
    """

    policy: Policy
    overload: OverloadPolicy
    tokens: TokenBucket
    read_preference: ReadPreference | None = None
    address: str | None = None
    number: int = 0
    sent: int = 0
    max_retries: int = 1
    txn_number_taken: bool = False
    overload_retry: bool = False
    starts_transaction: bool = False
    errors: list[BaseException] = field(default_factory=list)
    deprioritized: tuple[str, ...] = ()
    outcome: BaseException | None = None  # an error that ends the operation whatever came before
    # client-side-operations-timeout: the operation's deadline (driver.timeout.Deadline) or None.
    deadline: Any = None

    @property
    def is_retry(self) -> bool:
        return self.number > 0

    @property
    def may_retry_again(self) -> bool:
        """Whether a failure of this attempt could still be retried.

        client-side-operations-timeout, "Retryability": with timeoutMS, retries go on while the
        operation's deadline allows instead of counting (the overload token budget still applies).
        """
        if self.deadline is not None and self.deadline.applies:
            return not self.deadline.expired()  # timeoutMS=0: no limit on retries either
        return self.number < self.max_retries

    def may_run_on(self, server: ServerDescription | None) -> bool:
        """SELECT: whether this attempt may run on `server`; if not, the first error stands (both specs)."""
        if self.number and not self.policy.may_retry_on(server):  # a retry (is_retry, asked once per attempt)
            self.outcome = self.errors[0]
            return False
        return True

    def selection_failed(self, error: BaseException) -> None:
        """SELECT found no server: the operation ends (a retry's failed selection is weighed with the others)."""
        self.errors.append(error)

    def stop(self, error: BaseException) -> None:
        """End the operation with `error`, whatever the earlier attempts raised."""
        self.outcome = error

    def failed(self, error: BaseException, *, txn_number: bool) -> Step:
        """FAILED: record `error` and decide what follows; an overload retry takes a token here."""
        self.errors.append(error)
        overload = is_overload_error(error)
        if self.is_retry and not overload:
            self.tokens.deposit(1)  # a retry failing for another reason shows the server copes again
        retryable = self.policy.retries(error, txn_number) or self.overload.retries(error)
        if not retryable:
            return Step.GIVE_UP
        if overload:
            self.max_retries = self.overload.max_retries
        if not self.may_retry_again:
            return Step.GIVE_UP
        if overload and not self.tokens.consume(1):
            return Step.GIVE_UP  # the client's retry budget is spent
        return Step.BACK_OFF_AND_RETRY if overload else Step.RETRY

    def next_attempt(self, address: str, step: Step, *, sharded: bool) -> None:
        """RETRY: move to the next attempt after a failure on `address`."""
        self.number += 1
        self.overload_retry = step is Step.BACK_OFF_AND_RETRY
        if self.overload_retry:
            if self.overload.retargeting:
                self.deprioritized = tuple(dict.fromkeys(self.deprioritized + (address,)))
        elif sharded:
            # Server selection spec, "deprioritized servers": a retry in a sharded cluster
            # prefers another mongos than the one that failed.
            self.deprioritized = (address,)

    def succeeded(self) -> None:
        """SUCCEEDED: every success refills the retry budget a little, a retried one more (backpressure)."""
        self.tokens.deposit(RETRY_TOKEN_RETURN_RATE + (1 if self.number else 0))

    def final_error(self) -> BaseException:
        """GIVE_UP: the error to raise, by the policy's rule when there were retries; with timeoutMS
        a timeout (or any error once the deadline passed) becomes the timeout error (CSOT spec)."""
        if self.outcome is not None:
            error = self.outcome
        elif len(self.errors) == 1:
            error = self.errors[0]
        else:
            error = self.policy.final_error(self.errors)
        return _timeout_error(error, self.deadline)


def _timeout_error(error: BaseException, deadline: Any) -> BaseException:
    """CSOT spec, "Errors" and "Retryability": the timeout error type when timeoutMS applies and
    the error is a timeout, or the deadline passed while retrying; otherwise `error` itself."""
    if deadline is not None and deadline.expired() and not is_timeout(error):
        return deadline.error("retries", error)
    return as_timeout_error(error, deadline)
