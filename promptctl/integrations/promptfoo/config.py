"""A promptfoo config to the files of a promptctl project: `convert(path) -> Imported`
(nothing written) and `write(imported, out, force)`.

The public shapes here are stable: `import promptfoo-results` matches promptfoo's
results to `Imported.tests` (same suite, case id and vars, in promptfoo's evaluation
order), `Imported.prompts` and `Imported.providers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UserError
from .notes import Note


@dataclass
class ImportedTest:
    """One promptfoo test after scenario and list-var expansion, in the order promptfoo
    numbers testIdx, and the promptctl case it became."""

    suite: str
    case_id: str
    vars: dict[str, Any]
    description: str | None = None


@dataclass
class Imported:
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    notes: list[Note] = field(default_factory=list)
    tests: list[ImportedTest] = field(default_factory=list)
    # (promptfoo label, or the raw prompt when it has none; promptctl ref "coll.name")
    prompts: list[tuple[str, str]] = field(default_factory=list)
    # (promptfoo id, promptfoo label or None, promptctl model alias)
    providers: list[tuple[str, str | None, str]] = field(default_factory=list)


def convert(config_path: Path) -> Imported:
    raise UserError("promptfoo import is being written", file=config_path)


def write(imported: Imported, out: Path, force: bool) -> list[Path]:
    raise UserError("promptfoo import is being written", file=out)
