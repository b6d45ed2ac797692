"""What an import could not carry over exactly: a Note names the source file:line of
the promptfoo item and says whether it was approximated or left out.

Every converter (config, prompts, providers, tests, asserts) returns its notes beside
what it made; nothing is printed here. A Note's `str()` is the one line the CLI prints,
`FILE:LINE: approximated: MESSAGE`. An "approximated" or "left out" note makes `import`
exit 1; an "info" note says what the import did that the user may want to change (the
mapping itself is exact) and leaves the exit code alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NoteKind = Literal["approximated", "left out", "info"]


@dataclass(frozen=True)
class Where:
    """A place in the promptfoo source: the file as the user named it (relative to the
    config's directory where it is inside it) and the 1-based line, when known."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class Note:
    where: Where
    kind: NoteKind
    message: str

    @property
    def inexact(self) -> bool:
        """Was something approximated or left out (what makes `import` exit 1)?"""
        return self.kind != "info"

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.message}"
