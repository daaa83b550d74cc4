"""Shell completions: the committed scripts match the click tree, and bash completes from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETIONS = os.path.join(ROOT, "completions")


def test_committed_scripts_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, os.path.join(COMPLETIONS, "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def bash_complete(*words: str) -> list[str]:
    """COMPREPLY for the command line `words` (the last word is the one being completed)."""
    script = os.path.join(COMPLETIONS, "mongocli.bash")
    quoted = " ".join(f"'{w}'" for w in words)
    program = (f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _mongocli; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed on this machine")
def test_bash_completes_commands_options_and_choices() -> None:
    assert {"monitor", "demo"} <= set(bash_complete("mongocli", "m")) | set(bash_complete("mongocli", "d"))
    assert bash_complete("mongocli", "monitor", "--mo") == ["--mode"]
    assert bash_complete("mongocli", "monitor", "--mode", "") == ["auto", "stream", "poll"]
    assert bash_complete("mongocli", "--format", "j") == ["json", "jsonl"]
    assert "--legacy" in bash_complete("mongocli", "--uri", "x", "hello", "--")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed on this machine")
def test_zsh_script_parses() -> None:
    result = subprocess.run(["zsh", "-n", os.path.join(COMPLETIONS, "_mongocli")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed on this machine")
def test_fish_script_parses() -> None:
    result = subprocess.run(["fish", "--no-execute", os.path.join(COMPLETIONS, "mongocli.fish")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
