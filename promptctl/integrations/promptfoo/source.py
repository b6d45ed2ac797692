"""Reading a promptfoo project as hostile input: every file the config names
(`file://`, globs, test files, var files) must resolve inside the config's directory
tree, and every value keeps the file:line it came from.

`Ctx` is what every converter shares: the config's folder (the boundary), the notes
made so far, and `where(doc, loc)` to name the place of a value. A `Doc` is one file
read (the config, a prompts file, a test file) with its `Source` of lines; JSON files
are read through the YAML reader (JSON is YAML), so their lines are known too.

Invariant: nothing here opens a path that `resolve` did not check; a path outside the
tree, a link out of it, a FIFO or a device is a UserError (exit 2) naming the config
line that referenced it.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...boundary import display_path, read_bytes, safe_path
from ...errors import UserError, quote
from ...load.yamlsrc import Loc, Source, parse_yaml
from .notes import Note, NoteKind, Where

MAX_FILE_BYTES = 20_000_000
FILE_PREFIX = "file://"


@dataclass
class Doc:
    """One file of the promptfoo project: its name relative to the config's folder,
    its data and where each value of it is."""

    name: str
    data: Any
    source: Source

    def where(self, loc: Loc = ()) -> Where:
        return Where(self.name, self.source.line(loc))


class Here(Doc):
    """A value known only by the one place it came from (an assertion's `provider`,
    read where the assertion is): every place in it is that place."""

    def __init__(self, at: Where, data: Any) -> None:
        super().__init__(at.file, data, Source(at.file))
        self.at = at

    def where(self, loc: Loc = ()) -> Where:
        return self.at


@dataclass
class Ctx:
    root: Path  # the config's folder, resolved: the boundary of what may be read
    notes: list[Note] = field(default_factory=list)
    # an assertion's grading `provider` -> the alias of its model entry (config.py sets it)
    judge_alias: Callable[[str | dict[str, Any], Where], str | None] | None = None
    # files the new project needs as they are (python checks): resolved source -> path
    copies: dict[str, str] = field(default_factory=dict)
    # assertionTemplates: name -> (the template as written, where); and the ones tests
    # use, converted: name -> promptctl assertions (the suite's `assert_sets`)
    templates: dict[str, tuple[Any, Where]] = field(default_factory=dict)
    sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def note(self, where: Where, kind: NoteKind, message: str) -> None:
        self.notes.append(Note(where, kind, message))

    def shown(self, path: Path) -> str:
        """A file's name in a note or an error: as the user would type it from here."""
        shown = display_path(path)
        return str(path) if shown.startswith("..") else shown

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def resolve(self, written: str, where: Where, *, base: Path | None = None,
                what: str = "file") -> Path:
        """A path as the config wrote it (with or without file://), relative to `base`
        (default: the config's folder), checked to resolve inside the config's tree."""
        text = written[len(FILE_PREFIX):] if written.startswith(FILE_PREFIX) else written
        path = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
        if not path.is_absolute():
            path = (base or self.root) / path
        return safe_path(path, self.root, file=where.file, line=where.line, what=what,
                         written=written)

    def glob(self, written: str, where: Where, *, base: Path | None = None) -> list[Path]:
        """The files a glob names, sorted as promptfoo's glob returns them, each checked."""
        text = written[len(FILE_PREFIX):] if written.startswith(FILE_PREFIX) else written
        pattern = text if os.path.isabs(text) else str((base or self.root) / text)
        found = sorted(glob.glob(pattern, recursive=True))
        return [self.resolve(p, where, what="file") for p in found if os.path.isfile(p)
                or not os.path.exists(p)]

    def read_text(self, path: Path, where: Where) -> str:
        """A checked file's text (UTF-8, universal newlines); missing or unreadable is
        exit 2 at the line that named it."""
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            raise UserError(f"file '{self.rel(path)}' not found", file=where.file,
                            line=where.line, hint="check the path; promptfoo resolves "
                            "it relative to the config's folder") from None
        except OSError as exc:
            raise UserError(f"cannot read '{self.rel(path)}': {exc.strerror or exc}",
                            file=where.file, line=where.line) from None
        if len(data) > MAX_FILE_BYTES:
            raise UserError(f"'{self.rel(path)}' is larger than {MAX_FILE_BYTES:,} bytes",
                            file=where.file, line=where.line)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UserError(f"'{self.rel(path)}' is not UTF-8 text ({exc.reason})",
                            file=self.rel(path), hint="save it as UTF-8") from None
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def load(self, path: Path, where: Where) -> Doc:
        """A YAML or JSON file as data with its lines."""
        name = self.shown(path)
        text = self.read_text(path, where)
        if path.suffix.lower() == ".json":
            try:  # strict JSON first: YAML would read some JSON numbers differently
                json.loads(text)
            except ValueError as exc:
                raise UserError(f"not valid JSON: {exc}", file=name,
                                hint="fix the JSON syntax") from None
        data, src = parse_yaml(text, name)
        return Doc(name, data, src)


def is_file_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FILE_PREFIX)


TEMPLATES = "#/assertionTemplates/"


def pointer_part(raw: str) -> str:
    """One part of a JSON pointer, unescaped (RFC 6901: ~1 is /, ~0 is ~)."""
    return raw.replace("~1", "/").replace("~0", "~")


def template_name(ref: Any) -> str | None:
    """NAME of a `$ref: "#/assertionTemplates/NAME"`, else None."""
    if not isinstance(ref, str) or not ref.startswith(TEMPLATES):
        return None
    name = ref[len(TEMPLATES):]
    return pointer_part(name) if name and "/" not in name else None


def template_ref(node: Any, loc: Loc) -> str | None:
    """The name of the assertion template `node` uses, when it is an item of a test's
    (or defaultTest's, or a scenario's) own `assert` list written `$ref:
    "#/assertionTemplates/NAME"`: such a reference becomes `use: NAME` of an assertion
    set (tests.py), not a copy."""
    if not (isinstance(node, dict) and set(node) == {"$ref"}):
        return None
    if len(loc) < 2 or loc[-2] != "assert" or "assert" in loc[:-2]:
        return None
    return template_name(node["$ref"])


def deref(data: Any, doc: Doc, ctx: Ctx) -> Any:
    """Replace every `{$ref: "#/a/b"}` (a JSON pointer into the same document, as
    promptfoo's $RefParser does) by what it points at, except a test's use of an
    assertion template (`template_ref`: kept, once checked to point at something). A
    pointer to a missing place, a reference to another file, or a cycle is exit 2 at
    its line."""
    root = doc.data

    def target(pointer: str, loc: Loc, seen: tuple[str, ...]) -> Any:
        where = doc.where(loc)
        if not pointer.startswith("#/"):
            raise UserError(f"$ref {quote(pointer)} is not a reference into this file",
                            file=where.file, line=where.line,
                            hint="promptctl imports only '#/...' references")
        if pointer in seen:
            raise UserError(f"$ref {quote(pointer)} refers to itself", file=where.file,
                            line=where.line)
        node = root
        for raw in pointer[2:].split("/"):
            part = pointer_part(raw)
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise UserError(f"$ref {quote(pointer)} points at nothing", file=where.file,
                                line=where.line, hint="check the name after '#/'")
        return walk(node, loc, (*seen, pointer))

    def walk(node: Any, loc: Loc, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$ref"} and isinstance(node["$ref"], str):
                resolved = target(node["$ref"], loc, seen)
                return dict(node) if template_ref(node, loc) is not None else resolved
            return {k: walk(v, (*loc, k), seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*loc, i), seen) for i, v in enumerate(node)]
        return node

    return walk(data, (), ())
