"""Change stream token caching and the resume-once rule, with a scripted opener (no server)."""

from __future__ import annotations

import pytest

from driver.change_stream import (
    ChangeStream,
    ChangeStreamError,
    ChangeStreamOptions,
    Page,
    is_resumable,
)
from driver.errors import ConnectionFailure, OperationFailure


class ScriptedCursor:
    """getMore answers from a list: a Page or an exception each."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.closed = False

    @property
    def alive(self):
        return not self.closed and bool(self.replies)

    def get_more(self):
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def close(self):
        self.closed = True


class Opener:
    """Each aggregate gets the next (first batch Page, getMore replies) pair; records the options."""

    def __init__(self, *opens, wire=17):
        self.opens = list(opens)
        self.seen: list[ChangeStreamOptions] = []
        self.cursors: list[ScriptedCursor] = []
        self.wire = wire

    def __call__(self, options):
        self.seen.append(options)
        first, more = self.opens.pop(0)
        if isinstance(first, BaseException):
            raise first
        cursor = ScriptedCursor(more)
        self.cursors.append(cursor)
        return Page(first.batch, first.post_batch_resume_token, first.operation_time, self.wire, cursor)


def change(n):
    return {"_id": {"_data": f"t{n}"}, "operationType": "insert", "n": n}


def test_stage_shows_only_given_options() -> None:
    assert ChangeStreamOptions().stage() == {"$changeStream": {}}
    options = ChangeStreamOptions(full_document="updateLookup", show_expanded_events=True, all_changes_for_cluster=True)
    assert options.stage() == {"$changeStream": {"fullDocument": "updateLookup", "showExpandedEvents": True,
                                                 "allChangesForCluster": True}}


def test_token_follows_documents_and_post_batch_tokens() -> None:
    opener = Opener((Page([], {"_data": "p0"}), [Page([change(1), change(2)], {"_data": "p2"}), Page([], {"_data": "p3"})]))
    stream = ChangeStream(opener, ChangeStreamOptions())
    assert stream.resume_token == {"_data": "p0"}  # empty first batch with a postBatchResumeToken
    assert stream.try_next()["n"] == 1
    assert stream.resume_token == {"_data": "t1"}
    assert stream.try_next()["n"] == 2
    assert stream.resume_token == {"_data": "p2"}  # last of its batch: the batch's token
    assert stream.try_next() is None
    assert stream.resume_token == {"_data": "p3"}


def test_resumes_once_after_a_network_error_with_resume_after() -> None:
    opener = Opener((Page([change(1)]), [ConnectionFailure("reset")]),
                    (Page([change(2)]), []))
    stream = ChangeStream(opener, ChangeStreamOptions(full_document="updateLookup"))
    assert next(stream)["n"] == 1
    assert next(stream)["n"] == 2
    assert opener.cursors[0].closed
    assert opener.seen[1].resume_after == {"_data": "t1"} and opener.seen[1].full_document == "updateLookup"


def test_resume_uses_start_after_until_a_change_was_returned_then_operation_time() -> None:
    token = {"_data": "start"}
    opener = Opener((Page([]), [ConnectionFailure("x")]), (Page([]), []))
    stream = ChangeStream(opener, ChangeStreamOptions(start_after=token))
    assert stream.try_next() is None
    assert opener.seen[1].start_after == token and opener.seen[1].resume_after is None
    timed = Opener((Page([], operation_time="T1"), [ConnectionFailure("x")]), (Page([]), []))
    ChangeStream(timed, ChangeStreamOptions()).try_next()
    assert timed.seen[1].start_at_operation_time == "T1"


def test_non_resumable_errors_and_failed_resumes_are_raised() -> None:
    label_less = OperationFailure("interrupted", 11601, {"code": 11601})
    opener = Opener((Page([]), [label_less]))
    with pytest.raises(OperationFailure):
        ChangeStream(opener, ChangeStreamOptions()).try_next()
    failing = Opener((Page([]), [ConnectionFailure("x")]), (ConnectionFailure("still down"), []))
    with pytest.raises(ConnectionFailure, match="still down"):
        ChangeStream(failing, ChangeStreamOptions()).try_next()


def test_missing_resume_token_closes_the_stream() -> None:
    opener = Opener((Page([{"operationType": "insert"}]), []))
    stream = ChangeStream(opener, ChangeStreamOptions())
    with pytest.raises(ChangeStreamError, match="resume token is missing"):
        stream.try_next()
    assert not stream.alive and opener.cursors[0].closed


def test_resumable_error_rules() -> None:
    labelled = OperationFailure("x", 280, {"code": 280, "errorLabels": ["ResumableChangeStreamError"]})
    assert is_resumable(labelled, 17)
    assert not is_resumable(OperationFailure("x", 6, {"code": 6}), 17)   # 4.4+: only the label counts
    assert is_resumable(OperationFailure("x", 6, {"code": 6}), 8)        # before 4.4: the allow list
    assert is_resumable(OperationFailure("x", 43, {"code": 43}), 17)     # CursorNotFound always
    assert is_resumable(ConnectionFailure("x"), 17)
