"""Cases generated from what a suite writes once: assertion sets and matrices.

Assertion sets: `assert_sets: {NAME: [assertion, ...]}` in promptctl.yaml or a suite;
an item `{use: NAME}` (or `use: [A, B]`) of any assert list stands for the set's
assertions, in place. Names resolve where the `use` is written: in a suite, its own
sets first (they shadow promptctl.yaml's of the same name), then promptctl.yaml's; in
promptctl.yaml, its sets only. Every expanded assertion keeps the place where it is
defined (a set's line in its own file), so errors name that line. An unknown name or a
set that uses itself, directly or not, is a UserError at the `use`.

Matrices: `matrix: {KEY: [VALUE, ...]}` on an entry or in `defaults` gives one case per
combination (the cross product, the first key varying slowest), each value a var.
The entry's keys win over the defaults' of the same name; a var an entry or a data row
sets by name may not also be a matrix key (exit 2: the matrix would override it).
A generated id is `ID[L1-L2...]`, one label per key: a value's text when it is a
short scalar of word characters and dots, else its index in the list; an axis whose
labels would repeat (`1` and `"1"`) uses indices for all its values. Labels hold no
`-`, so ids of one entry never collide; suites.py still checks every id is unique.
At most MAX_COMBINATIONS combinations per entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserError, suggest
from ..schema import AssertionSpec, CaseDefaults, CaseSpec, SuiteSpec, UseSets
from .project import Project
from .yamlsrc import Loc, Source

MAX_COMBINATIONS = 10_000  # cases one entry's matrix may make (per data row)
_LABEL = re.compile(r"[\w.]{1,32}")

# An assertion and where it is written: (its Source, its location there), or None for
# a data row's own (the row's file:line stands for it).
Where = tuple[Source, Loc]
Located = tuple[AssertionSpec, Where | None]


@dataclass(frozen=True)
class _Scope:
    """One file's sets: the suite's, or promptctl.yaml's."""

    sets: dict[str, Any]
    src: Source
    parent: _Scope | None  # where a name not defined here is looked up


class AssertSets:
    """The assertion sets a suite sees, each expanded once. Every set of both files is
    expanded when this is made, so that an unknown name or a cycle is an error even in
    a set no case uses; `unused` lists those."""

    def __init__(self, project: Project, spec: SuiteSpec, src: Source) -> None:
        config = project.config
        outer = None
        if config.assert_sets and project.config_source is not None:
            outer = _Scope(config.assert_sets, project.config_source, None)
        self.suite = _Scope(spec.assert_sets, src, outer)
        # (a set's file, its name) -> its assertions; the sets each one uses
        self._done: dict[tuple[str, str], list[Located]] = {}
        self._uses: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._active: set[tuple[str, str]] = set()  # being expanded: a cycle meets one
        self._used: set[tuple[str, str]] = set()  # used by the suite's assert lists
        for scope in (outer, self.suite) if outer is not None else (self.suite,):
            for name in scope.sets:
                self._set(scope, name, (), (None, None), set())

    def expand(self, items: Sequence[Any], loc: Loc | None, *, file: str | None = None,
               line: int | None = None) -> list[Located]:
        """The assertions of a suite's assert list at `loc` (None: a data row's, at
        file:line), `use` items replaced by their sets' assertions."""
        return self._expand(self.suite, items, loc, (), file, line, self._used)

    def unused(self) -> list[tuple[str, int | None, str]]:
        """(file, line, name) of every set that no assert list expanded so far uses,
        directly or through another set."""
        reached: set[tuple[str, str]] = set()
        todo = list(self._used)
        while todo:
            key = todo.pop()
            if key not in reached:
                reached.add(key)
                todo.extend(self._uses.get(key, ()))
        out: list[tuple[str, int | None, str]] = []
        scope: _Scope | None = self.suite
        while scope is not None:
            out.extend((scope.src.file, scope.src.line(("assert_sets", name), key=True),
                        name) for name in scope.sets if (scope.src.file, name) not in reached)
            scope = scope.parent
        return out

    def _expand(self, scope: _Scope, items: Sequence[Any], loc: Loc | None,
                stack: tuple[str, ...], file: str | None, line: int | None,
                uses: set[tuple[str, str]]) -> list[Located]:
        out: list[Located] = []
        for i, item in enumerate(items):
            iloc = None if loc is None else (*loc, i)
            if not isinstance(item, UseSets):
                out.append((item, None if iloc is None else (scope.src, iloc)))
                continue
            for k, name in enumerate(item.use):
                where = (scope.src.file, scope.src.line((*iloc, "use", k))) \
                    if iloc is not None else (file, line)
                out.extend(self._set(scope, name, stack, where, uses))
        return out

    def _set(self, scope: _Scope, name: str, stack: tuple[str, ...],
             where: tuple[str | None, int | None], uses: set[tuple[str, str]]
             ) -> list[Located]:
        home: _Scope | None = scope
        while home is not None and name not in home.sets:
            home = home.parent
        if home is None:
            raise UserError(f"unknown assertion set '{name}'", file=where[0], line=where[1],
                            hint=self._known_hint(scope, name))
        key = (home.src.file, name)
        uses.add(key)
        if key in self._active:
            chain = " -> ".join((*stack[stack.index(name):], name))
            raise UserError(f"assertion set '{name}' uses itself: {chain}",
                            file=where[0], line=where[1],
                            hint="a set may use other sets, but not in a cycle")
        done = self._done.get(key)
        if done is None:
            self._active.add(key)
            try:
                done = self._expand(home, home.sets[name], ("assert_sets", name),
                                    (*stack, name), None, None,
                                    self._uses.setdefault(key, set()))
            finally:
                self._active.discard(key)
            self._done[key] = done
        return done

    @staticmethod
    def _known_hint(scope: _Scope, name: str) -> str:
        known: list[str] = []
        at: _Scope | None = scope
        while at is not None:
            known.extend(n for n in at.sets if n not in known)
            at = at.parent
        if not known:
            return "define it under 'assert_sets:' in the suite or in promptctl.yaml"
        return suggest(name, known) or "known assertion sets: " + ", ".join(sorted(known))


# -- matrix ------------------------------------------------------------------------


@dataclass(frozen=True)
class Axes:
    """The effective matrix of one entry: its keys, values and their id labels."""

    keys: tuple[str, ...]
    values: tuple[list[Any], ...]
    labels: tuple[list[str], ...]

    def combinations(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(the id suffix `[L1-L2]`, the vars) of every combination, in order."""
        def walk(i: int, labels: tuple[str, ...], chosen: dict[str, Any]
                 ) -> Iterator[tuple[str, dict[str, Any]]]:
            if i == len(self.keys):
                yield "[" + "-".join(labels) + "]", dict(chosen)
                return
            for value, label in zip(self.values[i], self.labels[i], strict=True):
                chosen[self.keys[i]] = value
                yield from walk(i + 1, (*labels, label), chosen)
        return walk(0, (), {})

    def check_vars(self, names: Any, what: str, file: str | None, line: int | None,
                   hint: str) -> None:
        """A var set by name (an entry's, a data row's) must not be a matrix key."""
        both = [k for k in self.keys if k in names]
        if both:
            raise UserError(f"{what} sets var '{both[0]}', which is also a matrix key: "
                            "the matrix would override it", file=file, line=line,
                            hint=hint.format(key=both[0]))


def entry_axes(defaults: CaseDefaults, cspec: CaseSpec, src: Source, loc: Loc
               ) -> Axes | None:
    """The matrix of the entry at `loc` (its own keys over the defaults'), or None."""
    if not defaults.matrix and not cspec.matrix:
        return None
    merged = {**defaults.matrix, **cspec.matrix}
    count = math.prod(len(v) for v in merged.values())
    if count > MAX_COMBINATIONS:
        at = (*loc, "matrix") if cspec.matrix else ("defaults", "matrix")
        raise src.error(f"matrix makes {count:,} combinations, more than "
                        f"{MAX_COMBINATIONS:,} per case", at, key=True,
                        hint="split the case, or move the values to a data file")
    axes = Axes(tuple(merged), tuple(merged.values()),
                tuple(_labels(v) for v in merged.values()))
    for name in cspec.vars:
        if name in merged:
            axes.check_vars({name}, f"case '{cspec.id}'" if cspec.id is not None
                            else "the entry", src.file,
                            src.line((*loc, "vars", name), key=True),
                            "remove one; to pin it for this case, write "
                            "'matrix: {{{key}: [VALUE]}}' instead")
    return axes


def _labels(values: list[Any]) -> list[str]:
    """Each value's label in ids: its text if short and plain, else its index; all
    indices when two labels would be the same."""
    labels = [_text(v) or str(i) for i, v in enumerate(values)]
    if len(set(labels)) < len(labels):
        return [str(i) for i in range(len(values))]
    return labels


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        return None
    return text if _LABEL.fullmatch(text) else None
