"""Ctrl-C stops a change stream's blocking next() at once; the shell and the stream go on, no change lost."""

from __future__ import annotations

import io
import signal
import threading

from driver import Client
from mongocli.sandbox import Sandbox
from mongocli.shell.app import Shell
from tests.shell.signalling import SignallingOutput


def test_ctrl_c_interrupts_next_and_the_stream_still_sees_later_changes() -> None:
    sb = Sandbox(topology="replset", port=0, host="127.0.0.1").start()
    client = Client(sb.uri, serverSelectionTimeoutMS=10000)
    out, err = SignallingOutput("waiting"), io.StringIO()
    sh = Shell(client, sb.uri, out, err, db_name="cs_interrupt")

    def interrupt() -> None:
        if out.seen.wait(60):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    try:
        assert sh.execute("var cs = db.c.watch(); 1")
        threading.Thread(target=interrupt, daemon=True).start()
        assert sh.execute("print('waiting'); cs.next(); print('not reached')")
        assert "MongoshInterruptedError: execution was interrupted" in err.getvalue()
        assert "not reached" not in out.getvalue()
        assert sh.execute("db.c.insertOne({_id: 42}); var ch = null; while (ch === null) ch = cs.tryNext(); "
                          "print('got', ch.documentKey._id, cs.isClosed())")
        assert out.getvalue().endswith("got 42 false\n")
    finally:
        sh.close()
        client.close()
        sb.stop()
