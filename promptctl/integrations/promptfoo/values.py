"""Assertion values as promptfoo reads them: `file://` values (.json / .yaml / .yml
parsed, .txt trimmed), JavaScript's `String(value)`, and the comma lists of the -any
and -all types.

Invariants: a `file://PATH` is read only when PATH resolves (links followed) to a
regular file inside the config's folder tree, at most 10 MB, opened without blocking;
anything else is a UserError naming the config's file:line (exit 2). A value promptfoo
would get by running a script raises `LeftOut`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ...boundary import read_bytes
from ...errors import UserError
from .notes import Where

MAX_VALUE_FILE = 10 * 1024 * 1024


class LeftOut(ValueError):
    """promptctl cannot have this value: the message says why."""


def inside(written: str, base: Path, where: Where) -> Path:
    """`written` (relative to the config's folder `base`, resolved) as an existing
    regular file inside `base`; else a UserError at `where`."""
    real = Path(os.path.realpath(base / written))
    if not real.is_relative_to(base):
        raise UserError(f"file://{written} is outside the config's folder ({base})",
                        file=where.file, line=where.line,
                        hint="an imported config may read only files inside its own "
                             "folder: move the file there")
    if not real.is_file():
        raise UserError(f"file://{written}: no such file under {base}", file=where.file,
                        line=where.line, hint="the path is relative to the config's folder")
    return real


def file_value(value: str, base: Path, where: Where) -> Any:
    """A `file://` value as promptfoo's processFileReference reads it."""
    written = value[len("file://"):]
    suffix = Path(written.partition(":")[0]).suffix.lower()
    if suffix not in (".json", ".yaml", ".yml", ".txt"):
        if suffix in (".js", ".cjs", ".mjs", ".ts", ".py"):
            raise LeftOut("its value comes from running a script")
        raise LeftOut(f"promptfoo reads no {suffix or 'extension-less'} file as a value")
    real = inside(written, base, where)
    if real.stat().st_size > MAX_VALUE_FILE:
        raise UserError(f"file://{written} is larger than 10 MB", file=where.file,
                        line=where.line, hint="an assertion value this large is a "
                                              "mistake: check the path")
    try:
        text = read_bytes(real).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read file://{written}: {exc}", file=where.file,
                        line=where.line, hint="it must be a UTF-8 text file") from None
    if suffix == ".txt":
        return text.strip()
    return yaml_value(text, written)


def yaml_value(text: str, shown: str) -> Any:
    """JSON or YAML text as data (a schema written as text, a .json/.yaml file)."""
    from ...load.yamlsrc import parse_yaml  # deferred: only a file or schema text needs it

    try:
        return parse_yaml(text, shown)[0]
    except UserError as exc:
        raise LeftOut(f"its value is not JSON or YAML ({exc.message})") from None


def js_string(value: Any) -> str | None:
    """JavaScript's String(value) of a YAML scalar; None for a list or a mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() \
            and abs(value) < 1e21):
        return str(int(value))
    if isinstance(value, float):
        text = repr(value).replace("inf", "Infinity").replace("nan", "NaN")
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", text)
    return value if isinstance(value, str) else None


def comma_list(text: str) -> list[str]:
    """promptfoo's parseCommaSeparatedValues: fields split on commas, a field in double
    quotes may hold commas ("" is a quote), unquoted fields are trimmed."""
    out: list[str] = []
    i = 0
    while i <= len(text):
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == '"':
            i += 1
            buf = []
            while i < len(text):
                if text.startswith('""', i):
                    buf.append('"')
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    buf.append(text[i])
                    i += 1
            out.append("".join(buf))
            while i < len(text) and text[i] != ",":
                i += 1
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            out.append(text[i:end].strip())
            i = end
        i += 1
    return out
