"""`-k/--filter`: which cases a command selects. `case_matches` is the one function
that decides, for `run`, `check`, `baseline update`, `compare`, `--changed-since`,
`--watch` and the pytest plugin's `--promptctl-filter`.

A filter is a list of patterns (one per `-k`): a case is selected when it matches
every pattern. A pattern is a comma-separated list of terms: it matches when any of
its terms does. A term, spaces around it ignored, is one of

    id:TEXT     the case id, as a plain term reads it (the explicit form, for an id
                that holds '=' or starts with 'tag:', 'id:' or '!')
    tag:NAME    one of the case's tags (its own, its defaults', its `from:` entry's
                and its suite's) is NAME; a glob (* ? [) matches a tag whole
    KEY=VALUE   the case's metadata[KEY] renders as VALUE (text as it is, other values
                as JSON: true, 3, null); a list also matches when one of its items
                does; a glob matches the rendered value whole
    TEXT        the case id contains TEXT; a glob matches the id whole
    !TERM       any of the above, negated

A comma inside a term is written `[,]` (a glob). Invariants: a pattern is parsed once
(`compile_filter`, cached), a malformed one is a UserError naming the fix (exit 2),
and an empty filter selects everything without looking at a case.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import UserError, quote
from ..results import canonical

Patterns = str | Sequence[str] | None
Term = Callable[[str, Mapping[str, Any], Sequence[str]], bool]

HINT = ("a -k term is TEXT or id:TEXT (the case id), tag:NAME, or KEY=VALUE (metadata); "
        "commas separate alternatives, each -k narrows further, ! negates")
_GLOB = frozenset("*?[")
_NONE: Mapping[str, Any] = {}


def patterns(value: Patterns) -> tuple[str, ...]:
    """The filter as a tuple of patterns: None, "" and () are no filter; a plain string
    (an older meta.json, a library caller) is one pattern."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(p for p in value if p)


def case_matches(case_id: str, value: Patterns, metadata: Mapping[str, Any] | None = None,
                 tags: Sequence[str] = ()) -> bool:
    """Does the case (its id, metadata and tags) pass the filter?"""
    if not value:
        return True
    compiled = compile_filter(patterns(value))
    return all(any(term(case_id, metadata or _NONE, tags) for term in alternatives)
               for alternatives in compiled)


def check_filter(value: Patterns) -> tuple[str, ...]:
    """The patterns, each checked now: a malformed term is exit 2 before any work."""
    found = patterns(value)
    compile_filter(found)
    return found


def no_match_hint(value: Patterns) -> str:
    """The hint when no case matches: what each form of term reads."""
    found = patterns(value)
    texts = [t.strip().lstrip("!").strip() for p in found for t in p.split(",")]
    if any("=" in t and not t.startswith(("id:", "tag:")) for t in texts):
        return ("check the case ids, tags and metadata; KEY=VALUE reads metadata: write "
                "id:TEXT for an id that holds '='")
    return "check the case ids, tags and metadata"


def describe(value: Patterns) -> str:
    """The filter as the command line wrote it: -k 'a' -k 'b'."""
    return " ".join(f"-k {quote(p)}" for p in patterns(value))


@functools.lru_cache(maxsize=64)
def compile_filter(found: tuple[str, ...]) -> tuple[tuple[Term, ...], ...]:
    out = []
    for pattern in found:
        terms = tuple(_term(t.strip(), pattern) for t in pattern.split(",") if t.strip())
        if terms:
            out.append(terms)
    return tuple(out)


def _term(text: str, pattern: str) -> Term:
    if text.startswith("!"):
        inner = _term(text[1:].strip(), pattern)
        return lambda i, m, t: not inner(i, m, t)
    if not text:
        raise UserError(f"bad -k {quote(pattern)}: '!' needs a term after it", hint=HINT)
    if text.startswith("id:"):
        return _id_term(_needs(text[3:], "id:", pattern))
    if text.startswith("tag:"):
        return _tag_term(_needs(text[4:], "tag:", pattern))
    key, sep, want = text.partition("=")
    if sep:
        key = key.strip()
        if not key:
            raise UserError(f"bad -k {quote(pattern)}: '={want}' names no metadata key",
                            hint=HINT + "; write id:TEXT for an id that holds '='")
        return _metadata_term(key, want.strip())
    return _id_term(text)


def _needs(rest: str, prefix: str, pattern: str) -> str:
    if not rest.strip():
        raise UserError(f"bad -k {quote(pattern)}: '{prefix}' needs a value after it",
                        hint=HINT)
    return rest.strip()


def _matcher(want: str, *, contains: bool = False) -> Callable[[str], bool]:
    """A glob matches a value whole; plain text is equal to it (or, `contains`, in it)."""
    if _GLOB.intersection(want):
        return lambda value: fnmatch.fnmatchcase(value, want)
    if contains:
        return lambda value: want in value
    return lambda value: value == want


def _id_term(want: str) -> Term:
    """The exact id always matches, glob characters and all: `-k 'greet[en]'` selects
    that matrix case."""
    match = _matcher(want, contains=True)
    return lambda case_id, metadata, tags: case_id == want or match(case_id)


def _tag_term(want: str) -> Term:
    match = _matcher(want)
    return lambda case_id, metadata, tags: any(match(t) for t in tags)


def _metadata_term(key: str, want: str) -> Term:
    match = _matcher(want)

    def term(case_id: str, metadata: Mapping[str, Any], tags: Sequence[str]) -> bool:
        if key not in metadata:
            return False
        value = metadata[key]
        if match(rendered(value)):
            return True
        return isinstance(value, list) and any(match(rendered(v)) for v in value)

    return term


def rendered(value: Any) -> str:
    """A metadata value as a filter and a report read it: text as it is, anything else
    as its canonical JSON (true, 3, 2.5, null, ["a","b"])."""
    return value if isinstance(value, str) else canonical(value)


def as_terms(metadata: Mapping[str, Any], tags: Sequence[str]) -> list[str]:
    """A case's metadata and tags as the -k terms that select it (KEY=VALUE, tag:NAME):
    how reports show them."""
    return [*(f"{k}={rendered(v)}" for k, v in metadata.items()), *(f"tag:{t}" for t in tags)]


def select(cases: Iterable[tuple[str, Any]], value: Patterns) -> set[tuple[str, str]]:
    """The (suite, case id) of the (suite name, Case) pairs the filter selects."""
    return {(suite, case.id) for suite, case in cases
            if case_matches(case.id, value, case.metadata, case.tags)}
