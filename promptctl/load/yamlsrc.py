"""YAML loading that remembers where every value came from.

`load_yaml` returns the data and a `Source` that maps a path of keys and indices
(the same shape as pydantic's error `loc`) to a 1-based line number, so a schema error
deep inside a suite can still name `suites/x.yaml:42`.

Loading is bounded, so a hostile file fails fast instead of taking seconds and
gigabytes: a file holds at most MAX_YAML_BYTES; mappings and sequences nest at most
MAX_DEPTH levels (through aliases too); and aliases (`*name`) and merge keys
(`<<: *name`) may add at most max(ALIAS_BUDGET, the file's own node count) nodes (keys
and values) to the document as written out in full, so a "billion laughs" document of
300 bytes is refused after that many, in a tenth of a second. An alias inside the value
it names is refused too. Every refusal is a UserError naming the file and line.

Three readers, one result (the same data, lines and errors): libyaml's C composer for a
text with few nesting marks (it recurses on the C stack); for any other, `_direct`, one
pass over libyaml's events with an explicit stack, which leaves documents with anchors,
aliases, tags or merge keys to PyYAML's Python composer with the depth counted
(`_BoundedLoader`), whose tree `_walk` then checks against the alias budget.

Every reader resolves and constructs scalars by the YAML 1.2 core schema (yamlcore.py:
`yes`, `on`, `14:02` and `2026-12-02` are text), and every YAML file promptctl reads
(promptctl.yaml, prompts/, suites/, their versions at a git ref) comes through here. A
tag the core schema does not know, or a tagged value not of its type, is a UserError
at its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError, quote
from .yamlcore import CoreLoader

# libyaml's C loader (where PyYAML has it) with the YAML 1.2 core schema (yamlcore.py)
_Loader: type = CoreLoader

Loc = tuple[str | int, ...]

MAX_YAML_BYTES = 10_000_000  # one YAML file; big data goes in CSV/JSONL data files
MAX_DEPTH = 100  # nesting of mappings and sequences
ALIAS_BUDGET = 100_000  # nodes aliases and merge keys may add (or the file's own count)


class _Refused(Exception):
    """A bound of this module was passed, at `mark`."""

    def __init__(self, message: str, mark: Any, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


_Composer = yaml.composer.Composer


# The C composer is safe (and several times faster) when the text cannot nest deeply:
# every level of nesting needs one of these characters, so fewer of them than this
# bounds the C composer's recursion far below any stack's limit. _walk still refuses
# past MAX_DEPTH on either path.
_NESTING_MARKS = "[{-:?"
_C_COMPOSER_SAFE = 1_000


def _nesting_bound(text: str) -> int:
    return sum(text.count(mark) for mark in _NESTING_MARKS)


class _BoundedLoader(_Loader):
    """The safe loader with PyYAML's Python composer in place of the C one: the same
    nodes from the same (C) parser's events, but with the nesting depth counted (the C
    composer recurses on the C stack: a 200 KB `[[[[...` file crashes the process)."""

    get_single_node = _Composer.get_single_node
    compose_document = _Composer.compose_document
    compose_scalar_node = _Composer.compose_scalar_node
    compose_sequence_node = _Composer.compose_sequence_node
    compose_mapping_node = _Composer.compose_mapping_node

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        _Composer.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"YAML nested more than {MAX_DEPTH} levels deep",
                               self.peek_event().start_mark,
                               "flatten the structure, or move the data to a data file")
            return _Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1


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


def _own_nodes(root: yaml.Node) -> int:
    """How many distinct nodes the document holds (each alias target counted once)."""
    seen = {id(root)}
    todo = [root]
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            continue
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    return len(seen)


class _Walk:
    """Counts the nodes of the document as if every alias and merge key were written
    out in full, and refuses past `budget` or on an alias that contains itself."""

    def __init__(self, root: yaml.Node) -> None:
        own = _own_nodes(root)
        self.allowance = max(ALIAS_BUDGET, own)
        self.budget = own + self.allowance
        self.path: set[int] = set()  # ids of the nodes on the way to the current one

    def enter(self, node: yaml.Node, site: int) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _Refused(f"YAML aliases expand to more than {self.allowance:,} nodes "
                           "beyond the file's own", site,
                           "aliases may repeat a block, not multiply one; write the "
                           "values out or move them to a data file")
        if id(node) in self.path:
            raise _Refused("YAML alias refers to a value that contains it", site,
                           "an alias cannot point at one of its own ancestors")
        self.path.add(id(node))

    def leave(self, node: yaml.Node) -> None:
        self.path.discard(id(node))


def _walk(node: yaml.Node, loc: Loc, src: Source, walk: _Walk, site: int = 0,
          record: bool = True, depth: int = 0) -> None:
    """Record the line of every value (`record`), check for duplicate keys and count
    the document's expanded size and depth. `site` is the furthest line on the way to
    this node: an alias target is written before its aliases, so in an aliased value
    it is the alias's line, where an error is reported."""
    line = node.start_mark.line + 1
    site = max(site, line)
    if depth > MAX_DEPTH:
        raise _Refused(f"YAML nested more than {MAX_DEPTH} levels deep (through aliases)",
                       site, "flatten the structure, or move the data to a data file")
    walk.enter(node, site)
    depth += 1
    if record:
        src.lines[loc] = line
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            walk.budget -= 1  # the key (its value is counted when entered)
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key == "<<":
                # merge keys: counted here, their lines recorded where they are defined
                _walk(value_node, loc, src, walk, max(site, line), False, depth)
                continue
            if key in seen:
                raise UserError(
                    f"duplicate key {quote(key)} (first defined on line {seen[key]})",
                    file=src.file, line=line, hint="remove or rename one of them",
                )
            seen[key] = line
            path = (*loc, key)
            if record:
                src.key_lines[path] = line
            _walk(value_node, path, src, walk, max(site, line), record, depth)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), src, walk, site, record, depth)
    walk.leave(node)


class _Fallback(Exception):
    """The document uses what `_direct` leaves to the composer (anchors, aliases, tags,
    merge keys, keys that are not scalars, more than one document)."""


_STR_TAG = "tag:yaml.org,2002:str"
_NO_KEY = object()  # a mapping frame waiting for its next key (None is a key: `~: x`)


def _direct(text: str, src: Source) -> Any:
    """The document's data from the C parser's events in one pass, without the node
    tree: lines recorded and duplicate keys found as `_walk` records and finds them,
    scalars resolved and constructed as the safe loader does, the depth bounded as
    `_BoundedLoader` bounds it (no recursion at all here). Raises _Fallback for what
    it leaves to the composer; a document without anchors and aliases needs no alias
    budget. Errors come in the composer path's order: the parser's and the depth's as
    met, a duplicate key's once the whole document parsed."""
    loader = _Loader(text)
    try:
        get = loader.get_event
        resolve = loader.resolve
        lines, key_lines = src.lines, src.key_lines
        duplicate: UserError | None = None
        # one frame per open collection: [container, loc, pending key or _NO_KEY,
        # its raw text, keys seen (text -> line)]
        stack: list[list[Any]] = []
        root: Any = None
        if not isinstance(get(), yaml.StreamStartEvent) or not isinstance(
                get(), yaml.DocumentStartEvent):
            raise _Fallback
        while True:
            event = get()
            kind = type(event)
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value = stack.pop()[0]
                if not stack:
                    root = value
                    break
                _put(stack[-1], value)
                continue
            if event.anchor is not None or kind is yaml.AliasEvent:
                raise _Fallback
            if len(stack) >= MAX_DEPTH:
                raise _Refused(f"YAML nested more than {MAX_DEPTH} levels deep",
                               event.start_mark,
                               "flatten the structure, or move the data to a data file")
            frame = stack[-1] if stack else None
            line = event.start_mark.line + 1
            if frame is not None and type(frame[0]) is dict and frame[2] is _NO_KEY:
                # a key: text only (a collection as a key is the composer's)
                if kind is not yaml.ScalarEvent or event.tag not in (None, "!"):
                    raise _Fallback
                raw = event.value
                if raw == "<<":
                    raise _Fallback
                seen = frame[4]
                if raw in seen:
                    if duplicate is None:
                        duplicate = UserError(
                            f"duplicate key {quote(raw)} (first defined on line "
                            f"{seen[raw]})", file=src.file, line=line,
                            hint="remove or rename one of them")
                else:
                    seen[raw] = line
                frame[2] = _scalar(loader, resolve, event)
                frame[3] = raw
                path: Loc = (*frame[1], raw)
                key_lines[path] = line
                continue
            if frame is None:
                loc: Loc = ()
            elif type(frame[0]) is dict:
                loc = (*frame[1], frame[3])
            else:
                loc = (*frame[1], len(frame[0]))
            lines[loc] = line
            if kind is yaml.ScalarEvent:
                if event.tag not in (None, "!"):
                    raise _Fallback
                value = _scalar(loader, resolve, event)
                if frame is None:
                    root = value
                    break
                _put(frame, value)
                continue
            if event.tag not in (None, "!"):
                raise _Fallback
            if kind is yaml.MappingStartEvent:
                stack.append([{}, loc, _NO_KEY, None, {}])
            elif kind is yaml.SequenceStartEvent:
                stack.append([[], loc, None, None, None])
            else:
                raise _Fallback
        if not isinstance(get(), yaml.DocumentEndEvent) or not isinstance(
                get(), yaml.StreamEndEvent):
            raise _Fallback  # a second document: the composer says so
    finally:
        loader.dispose()
    if duplicate is not None:
        raise duplicate
    return root


def _put(frame: list[Any], value: Any) -> None:
    container = frame[0]
    if type(container) is dict:
        container[frame[2]] = value
        frame[2] = _NO_KEY
    else:
        container.append(value)


def _scalar(loader: Any, resolve: Any, event: Any) -> Any:
    """A scalar as the loader's constructor makes it: text as it is, anything else (a
    number, a boolean, null) by the constructor of its resolved tag."""
    tag = resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR_TAG:
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                           style=event.style)
    try:
        return loader.construct_object(node, deep=True)
    except Exception:  # an overlong int: the composer path meets it after what comes first
        raise _Fallback from None


def parse_yaml(text: str, file: str) -> tuple[Any, Source]:
    """Parse one YAML document; syntax errors become a UserError with file:line.

    A shallow text goes to the C composer (see _nesting_bound); any other, to
    `_direct`, and what that leaves to the composer, to `_BoundedLoader`."""
    if len(text) > MAX_YAML_BYTES:
        raise _too_big(file)
    try:
        if _nesting_bound(text) >= _C_COMPOSER_SAFE:
            src = Source(file)
            try:
                return _direct(text, src), src
            except _Fallback:
                pass
        return _composed(text, file)
    except _Refused as exc:
        line = exc.mark if isinstance(exc.mark, int) else exc.mark.line + 1
        raise UserError(exc.message, file=file, line=line, hint=exc.hint) from None
    except yaml.constructor.ConstructorError as exc:  # a tag, or a value not of its tag
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise UserError(f"YAML value error: {exc.problem}", file=file, line=line,
                        hint="promptctl reads YAML 1.2 core: quote the value to keep it as "
                             "text, or remove the tag") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise UserError(f"YAML syntax error: {problem}", file=file, line=line,
                        hint="fix the YAML syntax at that line") from None
    except yaml.YAMLError as exc:
        raise UserError(f"YAML error: {exc}", file=file,
                        hint="fix the YAML syntax") from None


def _composed(text: str, file: str) -> tuple[Any, Source]:
    """Through the node tree: composed, walked (lines, duplicate keys, the alias
    budget), then constructed."""
    src = Source(file)
    loader = (_Loader if _nesting_bound(text) < _C_COMPOSER_SAFE else _BoundedLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, src
        _walk(node, (), src, _Walk(node))
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, src


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, Source]:
    """Read and parse a YAML file; unreadable files are user errors too."""
    name = display or str(path)
    try:
        text = _read_bounded(path, name)
    except FileNotFoundError:
        raise UserError("file not found", file=name, hint="check the path") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name,
                        hint="save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", file=name,
                        hint="check the file's permissions") from None
    return parse_yaml(text, name)


def _too_big(file: str) -> UserError:
    return UserError(f"YAML file larger than {MAX_YAML_BYTES:,} bytes", file=file,
                     hint="split it, or move bulk data to a CSV/JSONL data file "
                          "(`from:`)")


def _read_bounded(path: Path, name: str) -> str:
    """The file as text (UTF-8, universal newlines, as `Path.read_text`), never reading
    more than MAX_YAML_BYTES + 1 bytes of it."""
    with path.open("rb") as fh:
        data = fh.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise _too_big(name)
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
