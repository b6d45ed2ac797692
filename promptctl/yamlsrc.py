"""YAML loading that remembers where every value came from.

`load_yaml` returns the data and a `Source` that maps a path of keys and indices
(the same shape as pydantic's error `loc`) to a 1-based line number, so a schema error
deep inside a suite can still name `suites/x.yaml:42`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

try:  # the C loader is several times faster where libyaml is available
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

Loc = tuple[str | int, ...]


@dataclass
class Source:
    """Where a loaded document lives, and the line of every value in it."""

    file: str
    lines: dict[Loc, int] = field(default_factory=dict)
    key_lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Sequence[str | int], *, key: bool = False) -> int | None:
        """The line of the value at `loc`, or of its nearest ancestor that has one."""
        path = tuple(loc)
        while True:
            if key and path in self.key_lines:
                return self.key_lines[path]
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, message: str, loc: Sequence[str | int] = (), *, key: bool = False,
              hint: str | None = None) -> UserError:
        return UserError(message, file=self.file, line=self.line(loc, key=key), hint=hint)


def _walk(node: yaml.Node, loc: Loc, src: Source) -> None:
    src.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key == "<<":
                continue  # merge keys: their values are walked where they are defined
            if key in seen:
                raise UserError(
                    f"duplicate key '{key}' (first defined on line {seen[key]})",
                    file=src.file, line=line, hint="remove or rename one of them",
                )
            seen[key] = line
            path = (*loc, key)
            src.key_lines[path] = line
            _walk(value_node, path, src)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), src)


def parse_yaml(text: str, file: str) -> tuple[Any, Source]:
    """Parse one YAML document; syntax errors become a UserError with file:line."""
    src = Source(file)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, src
            _walk(node, (), src)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise UserError(f"YAML syntax error: {problem}", file=file, line=line,
                        hint="fix the YAML syntax at that line") from None
    except yaml.YAMLError as exc:
        raise UserError(f"YAML error: {exc}", file=file,
                        hint="fix the YAML syntax") from None
    return data, src


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, Source]:
    """Read and parse a YAML file; unreadable files are user errors too."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=name, hint="check the path") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name,
                        hint="save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", file=name,
                        hint="check the file's permissions") from None
    return parse_yaml(text, name)
