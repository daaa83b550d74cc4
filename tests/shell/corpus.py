"""The shell corpus: mongosh snippets with the output mongosh prints (tests/shell/corpus.txt)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.txt")


@dataclass(frozen=True)
class Case:
    """One snippet: its code, the expected stdout and (optionally) the first line of stderr."""

    number: int
    name: str
    code: str
    out: str
    err: str | None

    @property
    def db(self) -> str:
        return f"corpus_{self.number}"

    def expected_err(self) -> str | None:
        return None if self.err is None else self.err.replace("{db}", self.db)


def load_cases(path: Path = CORPUS) -> list[Case]:
    """Parse the corpus; a malformed case is an error naming its line."""
    cases: list[Case] = []
    blocks = re.split(r"^=== ", path.read_text(encoding="utf-8"), flags=re.M)[1:]
    for number, block in enumerate(blocks, 1):
        name, _, body = block.partition("\n")
        parts = re.split(r"^--- (out|err)\n", body, flags=re.M)
        if len(parts) < 3 or parts[1] != "out":
            raise ValueError(f"{path.name}: case {number} ({name!r}) needs a '--- out' section")
        sections = dict(zip(parts[1::2], parts[2::2]))
        err = sections.get("err")
        cases.append(Case(number, name.strip(), parts[0].strip("\n"), sections["out"].rstrip("\n"),
                          err.strip("\n").split("\n")[0] if err is not None else None))
    return cases


def collapse(text: str) -> str:
    """Whitespace runs as one space (how outputs are compared with mongosh's)."""
    return " ".join(text.split())
