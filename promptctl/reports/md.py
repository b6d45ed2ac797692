"""Escaping for GitHub-flavoured Markdown: the one way a user- or model-provided value
(a case id, a suite, prompt, model or metric name, an output, a reason, a diff) enters a
Markdown report (`-o x.md`, the pull-request comment and job summary).

Invariants: a value passed through `text` or `code` renders as the characters it holds
and as nothing else: never a heading, list, quote, code block or table row (it is one
line: newlines and tabs become spaces), never an image, link, autolink, emphasis, raw
HTML, entity or math, and never a table cell break (`|` is escaped, and a
cut never leaves a dangling backslash: values are cut before they are escaped). Only the
markup promptctl writes around these values is Markdown. Characters that mean nothing
where they stand stay unescaped, so the file reads well as plain text too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..load.filters import as_terms

# Every ASCII punctuation character may be backslash-escaped in CommonMark. Escaped
# everywhere: what forms inline markup, i.e. emphasis and strikethrough (* _ ~), code (`),
# links, images and footnotes ([ ]: without them `(`, `)` and `!` are plain), raw HTML,
# autolinks and entities (< > &), table cells (|), GitHub's math ($), e-mail autolinks
# (@), ATX heading closers (#), the escape itself (\\), and the two triggers of GFM's
# extended autolinks: the `:` of `scheme://` and the `.` of `www.`. Escaped at the
# start of a value only (a block can start nowhere else on a line): list, quote and
# setext markers (+ - = >) and the `.` or `)` of an ordered list item (`1.`).
INLINE = "\\`*_[]<>&~|$@#"
_INLINE = re.compile("[" + re.escape(INLINE) + "]|:(?=//)|(?<=www)\\.", re.IGNORECASE)
_BLOCK_START = re.compile(r"^(?:[+\-=>]|\d+(?=[.)]))")
_RUN_OF_TICKS = re.compile(r"`+")


def flat(value: object, limit: int | None = None) -> str:
    """One line: every run of whitespace (newlines, tabs) becomes one space; cut to
    `limit` characters with an ellipsis."""
    line = " ".join(str("" if value is None else value).split())
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line


def text(value: object, limit: int | None = None) -> str:
    """Inline text that renders exactly as `value` reads (on one line)."""
    line = _INLINE.sub(lambda m: "\\" + m.group(), flat(value, limit))
    start = _BLOCK_START.match(line)
    if start:  # `- x`, `> x`, `1. x`: escape the marker, `1\. x`
        at = start.end() if start.group()[0].isdigit() else 0
        line = line[:at] + "\\" + line[at:]
    return line


def code(value: object, limit: int | None = None, *, in_table: bool = True) -> str:
    """An inline code span of `value` (on one line): its fence is longer than any run of
    backticks inside; in a table cell `|` is escaped (GFM splits cells on a bare `|`
    even inside code). An empty value is an empty string, not an empty span."""
    line = flat(value, limit)
    if not line:
        return ""
    longest = max((len(m) for m in _RUN_OF_TICKS.findall(line)), default=0)
    fence = "`" * (longest + 1)
    if line.startswith("`") or line.endswith("`"):
        line = f" {line} "  # CommonMark strips one space each side of such a span
    return fence + (line.replace("|", "\\|") if in_table else line) + fence


METADATA_LIMIT = 200  # characters of a case's metadata shown in a cell


def metadata(values: Mapping[str, Any], tags: Sequence[str]) -> str:
    """A case's metadata and tags as inline text, as the -k terms that select the case
    (`owner=alice, tag:smoke`), escaped as `text` escapes."""
    return text(", ".join(as_terms(values, tags)), METADATA_LIMIT)
