"""A prompt's body in a file of its own: `template_file:` (the file's text is the Jinja
template, one user message) or `messages_file:` (a .json, .yaml or .yml file holding a
list of `{role, content}`, validated as `messages` is).

Invariants (the repository is hostile):
- the path is relative to the folder of the collection that names it and must resolve,
  links followed, inside prompts/ (`../../etc/passwd`, an absolute path, or a link
  that leads out are exit 2 at the collection's line), then pass boundary.safe_path
  (a regular file: no FIFO, no device, nothing under /proc);
- the file is read once, without blocking, at most MAX_BODY_BYTES of it, as UTF-8;
- every error in the file names the file and its line: a JSON syntax error its line,
  a message that does not validate the line of that message (found by reading the
  JSON as YAML, which it is; where that reading differs, the error names the file and
  the message's index, `messages[2].role`).
A past version (`render --diff`, read from git) is read through a Reader instead: the
path as written must then stay inside prompts/ as text.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boundary import display_path, inside, safe_path
from ..errors import UserError
from ..schema import Message, MessagesFile, Prompt
from . import templates
from .validate import validate
from .yamlsrc import MAX_YAML_BYTES, Loc, Source, parse_yaml

MAX_BODY_BYTES = MAX_YAML_BYTES  # a body file holds what a collection may hold
MESSAGES_SUFFIXES = (".json", ".yaml", ".yml")
Reader = Callable[[Path], bytes | None]  # a file's bytes in some version; None: missing
HINT = ("a prompt's own files live under prompts/ (the path is relative to the "
        "collection's folder): move the file there")


@dataclass
class BodyFile:
    """A template_file or messages_file, read and validated."""

    key: str  # "template_file" or "messages_file"
    path: Path  # resolved: what deps.py hashes and watch mode watches
    file: str  # as shown in messages
    template: str | None = None
    messages: list[Message] | None = None
    source: Source | None = None  # messages_file: the line of every message
    layout: str = templates.YAML  # how a message's content lies in the file

    def content_line(self, index: int) -> int | None:
        return self.source.line(("messages", index, "content")) if self.source else None


def load_body(spec: Prompt, *, collection: Path, prompts_dir: Path, boundary: Path,
              src: Source, loc: Loc, read: Reader | None = None, label: str = ""
              ) -> BodyFile | None:
    """The prompt's body file, read (None when its body is written inline). `read`
    reads a past version (`label`, e.g. " (main)", is added to the file's name in
    messages); without it, the working tree, with every check."""
    key = "template_file" if spec.template_file is not None else \
        "messages_file" if spec.messages_file is not None else None
    if key is None:
        return None
    written: str = getattr(spec, key)
    where: dict[str, Any] = {"file": src.file, "line": src.line((*loc, key))}
    path = collection.parent / written
    top = Path(os.path.realpath(prompts_dir))
    suffix = path.suffix.lower()
    if key == "messages_file" and suffix not in MESSAGES_SUFFIXES:
        raise UserError(f"messages_file '{written}' must be .json, .yaml or .yml", **where,
                        hint="a messages file is a JSON or YAML list of {role, content}")
    if key == "template_file" and suffix in (".yaml", ".yml"):
        raise UserError(f"template_file '{written}' is named like YAML", **where,
                        hint="a template file is the template's text: name it .j2, "
                             ".jinja, .txt or .md (a list of messages is a messages_file)")
    if key == "messages_file" and suffix != ".json" and \
            Path(os.path.realpath(path)).parent == top:
        raise UserError(f"messages_file '{written}' is a YAML file directly in prompts/, "
                        "where every YAML file is a prompt collection", **where,
                        hint="move it into a subfolder (prompts/chats/NAME.yaml), or "
                             "write it as .json")
    if read is None:
        real = _checked(path, written, key, top, boundary, where)
        data = _read(real, written, key, where)
    else:
        real = Path(os.path.normpath(os.path.abspath(path)))
        if not inside(real, top):
            raise UserError(f"{key} '{written}' is outside prompts/ ({top})", **where,
                            hint=HINT)
        found = read(real)
        if found is None:
            raise UserError(f"{key} '{written}' not found", **where,
                            hint=f"paths are relative to {display_path(collection.parent)}/")
        data = found
    if len(data) > MAX_BODY_BYTES:
        raise UserError(f"{key} '{written}' is larger than {MAX_BODY_BYTES:,} bytes",
                        **where, hint="a prompt's text is far smaller: check the file")
    shown = display_path(path) + label
    text = _text(data, shown)
    if key == "template_file":
        return BodyFile(key, real, shown, template=text, layout=templates.WHOLE)
    if suffix == ".json":
        return _messages(key, real, shown, *_json(text, shown))
    loaded, msrc = parse_yaml(text, shown)
    return _messages(key, real, shown, loaded, msrc, templates.YAML)


def _checked(path: Path, written: str, key: str, top: Path, boundary: Path,
             where: dict[str, Any]) -> Path:
    """The body file resolved, if it may be read: inside prompts/, then as safe_path
    says (inside the boundary, not a system file, a regular file)."""
    real = Path(os.path.realpath(path))
    if not inside(real, top):
        absolute = Path(os.path.abspath(path))
        how = f"is a link to {real}" if absolute != real and inside(absolute, top) \
            else f"resolves to {real}"
        raise UserError(f"{key} '{written}' {how}, outside prompts/ ({top})", **where,
                        hint=HINT)
    real = safe_path(path, boundary, what=key, written=written, **where)
    if not real.exists():
        raise UserError(f"{key} '{written}' not found", **where,
                        hint=f"paths are relative to the collection's folder "
                             f"({display_path(path.parent)}/ here)")
    return real


def _read(real: Path, written: str, key: str, where: dict[str, Any]) -> bytes:
    """At most MAX_BODY_BYTES + 1 bytes, opened without blocking: a FIFO swapped in
    after the check is refused, not read."""
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(0, "not a regular file")
            with os.fdopen(fd, "rb") as fh:
                fd = -1
                return fh.read(MAX_BODY_BYTES + 1)
        finally:
            if fd >= 0:
                os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot read {key} '{written}': {exc.strerror}", **where,
                        hint="check the file's permissions") from None


def _text(data: bytes, shown: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=shown,
                        hint="save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _json(text: str, shown: str) -> tuple[Any, Source, str]:
    """The JSON's data, and a Source of its lines: the JSON read as YAML (JSON is
    YAML's flow style), kept only where it reads the same data."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"JSON syntax error: {exc.msg} (column {exc.colno})", file=shown,
                        line=exc.lineno, hint="fix the JSON at that line") from None
    except RecursionError:
        raise UserError("JSON nested too deeply", file=shown,
                        hint="a messages file is a flat list of {role, content}") from None
    try:
        same, src = parse_yaml(text, shown)
    except UserError:
        same, src = None, Source(shown)
    if same != data:
        src = Source(shown)  # no lines: errors name the message's index
    return data, src, templates.ONE_LINE


def _messages(key: str, real: Path, shown: str, data: Any, src: Source, layout: str
              ) -> BodyFile:
    if not isinstance(data, list):
        got = "nothing" if data is None else f"a {type(data).__name__}"
        raise UserError(f"a messages file holds a list of messages, got {got}",
                        file=shown, line=src.line(()) or 1,
                        hint='write a list: [{"role": "system", "content": "..."}, ...]')
    shifted = Source(shown, {("messages", *k): v for k, v in src.lines.items()},
                     {("messages", *k): v for k, v in src.key_lines.items()})
    checked = validate(MessagesFile, {"messages": data}, shifted)
    return BodyFile(key, real, shown, messages=checked.messages, source=shifted,
                    layout=layout)
