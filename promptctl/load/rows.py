"""The rows of a suite's `from:` data files: CSV and JSONL, each row located at its
file:line, each a case (CaseSpec) or, for a plain row, what it validates to (_PlainRow).

A data file must resolve inside the project's boundary and be a regular file. Every
problem is a UserError naming the data file's line, or the suite line that names it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boundary import display_path
from ..errors import UserError
from ..schema import CaseSpec
from .project import Project
from .yamlsrc import Loc, Source

DATA_SUFFIXES = (".csv", ".jsonl")


@dataclass
class _PlainRow:
    """A plain data-file row as the CaseSpec it validates to (see `_row`)."""

    id: str | int
    vars: dict[str, Any]
    description: str | None
    assert_ = ()
    params = None
    threshold = None
    metadata = None
    tags = ()
    matrix = None
    perturb = None


META_PREFIX = "metadata."  # a plain row's `metadata.KEY` column: one key of its metadata


def _carries_metadata(row: dict[str, Any]) -> bool:
    """Does a plain row name its metadata or tags (`metadata`, `metadata.KEY`, `tags`)?"""
    if "metadata" in row or "tags" in row:
        return True
    return any(key.startswith(META_PREFIX) for key in row)


def _row(row: dict[str, Any], file: str, line: int) -> CaseSpec | _PlainRow:
    """`_row_case`, without pydantic for a plain row (no `vars`, no `assert`) whose id
    is text or a whole number: every other column is a variable, which any value may
    be. Anything else goes through CaseSpec, and its errors."""
    if "vars" in row or "assert" in row or _carries_metadata(row):
        return _row_case(row, file, line)
    case_id = row.get("id")
    if case_id is None or case_id == "":
        case_id = f"{Path(file).stem}-{line}"
    kind = type(case_id)
    if not ((kind is str and case_id.strip()) or kind is int):
        return _row_case(row, file, line)
    described = row.get("description")
    return _PlainRow(case_id, {k: v for k, v in row.items() if k != "id"},
                     described if isinstance(described, str) and described.strip()
                     else None)


def _row_case(row: dict[str, Any], file: str, line: int) -> CaseSpec:
    """A data-file row: `id` names it; a `vars` key means the row is a full case,
    otherwise every other column is a variable. A plain row's non-empty text
    `description` column is also the case's description (it wins over the entry's)."""
    # deferred: pydantic's errors only for a row that does not validate
    from pydantic import ValidationError

    data = dict(row) if "vars" in row or "assert" in row else _plain_case(row)
    if data.get("id") in (None, ""):
        data["id"] = f"{Path(file).stem}-{line}"
    try:
        return CaseSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        where = ".".join(loc)
        if loc[-1:] == ["[key]"]:  # a mapping's key, not its value, is wrong
            where = f"{'.'.join(loc[:-2])}: key {loc[-2]!r}"
        message = err["msg"].removeprefix("Value error, ")
        raise UserError(f"bad row: {where}: {message}", file=file, line=line,
                        hint="a row is an object with an 'id', variables, and optionally "
                             "'vars', 'assert', 'metadata' (a mapping; in CSV, columns "
                             "metadata.KEY) and 'tags'") from None


def _plain_case(row: dict[str, Any]) -> dict[str, Any]:
    """A plain row as a case: its `metadata` (an object) and `metadata.KEY` columns (an
    empty cell is no value) are its metadata, its `tags` (a list, or text split at
    commas) its tags; every other column but `id` is a variable."""
    reserved = {"id", "metadata", "tags"}
    data: dict[str, Any] = {"id": row.get("id"), "vars": {
        k: v for k, v in row.items() if k not in reserved and not k.startswith(META_PREFIX)}}
    described = row.get("description")
    if isinstance(described, str) and described.strip():
        data["description"] = described
    metadata = row.get("metadata")
    columns = {k[len(META_PREFIX):]: v for k, v in row.items()
               if k.startswith(META_PREFIX) and v != ""}
    if columns:
        metadata = {**metadata, **columns} if isinstance(metadata, dict) else \
            columns if metadata in (None, "") else metadata  # not a mapping: its error
    if metadata not in (None, ""):
        data["metadata"] = metadata
    tags = row.get("tags")
    if isinstance(tags, str):
        tags = [t for t in (part.strip() for part in tags.split(",")) if t]
    if tags not in (None, []):
        data["tags"] = tags
    return data


def load_rows(suite_path: Path, root: Path, ref: str, src: Source, loc: Loc, *,
              project: Project | None = None) -> list[tuple[str, int, dict[str, Any]]]:
    """The rows of a `from:` data file. With `project`, the file must resolve inside
    its boundary and be a regular file (boundary.py)."""
    line = src.line(loc)
    candidates = [suite_path.parent / ref, root / ref]
    # lexists, not is_file: a link that leaves the project or a FIFO is refused below
    path = next((p for p in candidates if os.path.lexists(p)), None)
    if path is not None and project is not None:
        project.check_input(path, what="data file", written=ref, file=src.file, line=line)
    if path is None or not path.is_file():
        raise UserError(f"data file '{ref}' not found", file=src.file, line=line,
                        hint="paths are relative to the suite file or the project root")
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise UserError(f"data file '{ref}' must be .csv or .jsonl", file=src.file, line=line)
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read data file '{ref}': {exc}", file=src.file, line=line,
                        hint="check that it exists, is readable and is UTF-8") from None
    rows = parse_rows(text, name, path.suffix)
    if not rows:
        raise UserError(f"data file '{ref}' has no rows", file=src.file, line=line,
                        hint="add rows or remove the entry")
    return rows


def parse_rows(text: str, name: str, suffix: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The rows of a data file's text (.csv or .jsonl by `suffix`), each with its file
    name and line; a malformed row is a UserError at its line."""
    return _csv_rows(text, name) if suffix.lower() == ".csv" else _jsonl_rows(text, name)


def _universal_newlines(text: str) -> str:
    """\\r\\n and \\r as \\n, as open() reads text (deps.py parses raw bytes)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _csv_rows(text: str, name: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Rows of a CSV file, each located at its first line. A quoted cell keeps its
    line breaks, as \\n whatever the file's line endings: the csv module is given
    the lines with their ends (newline="", as it requires) so that it sees them."""
    reader = csv.reader(io.StringIO(_universal_newlines(text), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        if any(not h for h in header):
            raise UserError("empty column name in the header", file=name, line=1,
                            hint="name every column")
        dupes = {h for h in header if header.count(h) > 1}
        if dupes:
            raise UserError(f"duplicate column '{sorted(dupes)[0]}'", file=name, line=1)
        rows = []
        end = reader.line_num
        width = len(header)
        for values in reader:
            lineno, end = end + 1, reader.line_num  # a row may span several lines
            if not values or not "".join(values).strip():  # blank: every cell is
                continue
            if len(values) != width:
                raise UserError(f"row has {len(values)} fields, the header has {width}",
                                file=name, line=lineno,
                                hint="quote fields that contain commas")
            rows.append((name, lineno, dict(zip(header, values, strict=True))))
        return rows
    except csv.Error as exc:
        raise UserError(f"CSV error: {exc}", file=name, line=reader.line_num) from None


def _jsonl_rows(text: str, name: str) -> list[tuple[str, int, dict[str, Any]]]:
    rows = []
    # lines end at \n only: str.splitlines() would also cut at U+2028, \x0c and the
    # like, which a JSON string may hold as they are
    for lineno, raw in enumerate(_universal_newlines(text).split("\n"), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=name,
                            line=lineno, hint="each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise UserError(f"expected a JSON object, got {type(row).__name__}", file=name,
                            line=lineno, hint="each line must be one JSON object")
        rows.append((name, lineno, row))
    return rows
