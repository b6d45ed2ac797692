"""Report writers, chosen by the output file's extension."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..runner import RunResult

FORMATS = (".json", ".jsonl")


def check_output_path(path: Path, formats: tuple[str, ...] = FORMATS) -> None:
    """Fail before running anything if the report could not be written."""
    if path.suffix.lower() not in formats:
        raise UserError(f"unsupported output format '{path.suffix or path.name}'",
                        hint="use one of: " + ", ".join(formats))
    if path.parent and not path.parent.exists():
        raise UserError(f"directory {path.parent} does not exist", file=str(path),
                        hint="create it first")


def write_report(path: Path, result: RunResult) -> None:
    from .json_report import write_json, write_jsonl

    if path.suffix.lower() == ".jsonl":
        write_jsonl(path, result)
    else:
        write_json(path, result)
