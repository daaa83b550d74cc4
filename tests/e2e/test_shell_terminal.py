"""The interactive shell on a real pseudo-terminal: the config file's editing_mode, output colour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mongocli.sandbox import Sandbox
from tests.e2e.test_shell import SHELL, _read_until, sandbox  # noqa: F401 - sandbox is a fixture

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")


class Terminal:
    """`mongocli shell URI` with a pty as its controlling terminal; read with deadlines, never forever."""

    def __init__(self, uri: str, tmp_path, *args: str, config: str = "", no_color: bool = True) -> None:
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
            os.execve(sys.executable, SHELL + [uri, *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))

    def expect(self, pattern: str) -> str:
        return _read_until(self.fd, pattern)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self) -> int:
        """The exit code once the shell ends by itself (--eval)."""
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

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
        term.send(b"3100+12")
        # One write: Escape and "0" must reach the shell together (emacs reads Escape-0 as Meta-0
        # only within its escape timeout, which a loaded machine could otherwise exceed).
        term.send(b"\x1b0i3")
        term.send(b"\r")
        term.expect(expected + r"[\s\S]*test>")
        assert term.exit() == 0
    finally:
        term.close()


VALUE = "({n: 1, s: 'x', o: ObjectId('650000000000000000000001')})"
COLOURED = "{ n: \x1b[33m1\x1b[39m, s: \x1b[32m'x'\x1b[39m, o: ObjectId(\x1b[32m'650000000000000000000001'\x1b[39m) }"
PLAIN = "{ n: 1, s: 'x', o: ObjectId('650000000000000000000001') }"


def test_values_are_coloured_on_a_terminal_as_mongosh_colours_them(sandbox: Sandbox, tmp_path) -> None:
    term = Terminal(sandbox.uri, tmp_path, "--eval", VALUE, no_color=False)
    try:
        seen = term.expect(r"\}\s*$")
        assert term.wait() == 0
    finally:
        term.close()
    assert COLOURED in seen, repr(seen)


@pytest.mark.parametrize("no_color, config", [(True, ""), (False, "color = false\n")],
                         ids=["NO_COLOR", "config color=false"])
def test_no_colour_with_no_color_or_the_config_file(sandbox: Sandbox, tmp_path, no_color: bool, config: str) -> None:
    term = Terminal(sandbox.uri, tmp_path, "--eval", VALUE, config=config, no_color=no_color)
    try:
        seen = term.expect(r"\}\s*$")
        assert term.wait() == 0
    finally:
        term.close()
    assert PLAIN in seen and "\x1b[3" not in seen, repr(seen)


def test_no_colour_on_a_pipe(sandbox: Sandbox) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MONGODB_URI")}
    proc = subprocess.run(SHELL + [sandbox.uri, "--eval", VALUE], capture_output=True, text=True, timeout=120,
                          env=dict(env, TERM="xterm"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, PLAIN + "\n", "")
