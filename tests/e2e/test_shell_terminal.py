"""The interactive shell on a real pseudo-terminal: the config file's editing_mode, output colour."""

from __future__ import annotations

import os
import signal
import sys
from typing import Iterator

import pytest

from mongocli.sandbox import Sandbox
from tests.e2e.test_shell import SHELL, _read_until

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(topology="standalone", port=0, host="127.0.0.1").start()
    try:
        yield sb
    finally:
        sb.stop()


class Terminal:
    """`mongocli shell URI` with a pty as its controlling terminal; read with deadlines, never forever."""

    def __init__(self, uri: str, tmp_path, *, config: str = "", no_color: bool = True) -> None:
        import fcntl
        import pty
        import struct
        import termios
        (tmp_path / "config" / "mongocli").mkdir(parents=True, exist_ok=True)
        (tmp_path / "config" / "mongocli" / "config.toml").write_text(config)
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MONGODB_URI")}
        env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                   PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
        if no_color:
            env["NO_COLOR"] = "1"
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the shell on the pty as its controlling terminal
            os.execve(sys.executable, SHELL + [uri], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))

    def expect(self, pattern: str) -> str:
        return _read_until(self.fd, pattern)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def exit(self) -> int:
        self.send(b"exit\r")
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.mark.parametrize("mode, expected", [("vi", r"(?<!\d)33112(?!\d)"), ("emacs", r"(?<!\d)3223(?!\d)")])
def test_config_editing_mode_sets_the_key_bindings(sandbox: Sandbox, tmp_path, mode: str, expected: str) -> None:
    # "3100+12", Escape, "0" (vi: to the line's start), "i3" (vi: insert 3 there): 33100+12 in vi;
    # in emacs Escape-0 is a numeric argument 0 for "i" (typed no times), then "3": 3100+123.
    term = Terminal(sandbox.uri, tmp_path, config=f'editing_mode = "{mode}"\n')
    try:
        term.expect(r"test>")
        term.send(b"3100+12\x1b")
        term.send(b"0i3")
        term.send(b"\r")
        term.expect(expected + r"[\s\S]*test>")
        assert term.exit() == 0
    finally:
        term.close()
