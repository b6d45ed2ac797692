"""The case a production log line is scored as (`promptctl score`): the suite's
assertions that apply to every case, or, for a line that names a case, that case.

A line without `case` becomes a case of its own: the suite's `defaults.vars` under the
line's vars, and the `defaults.assert` list (its `use:` sets expanded, as every case
gets them) rendered with those vars, exactly as suites.py renders a case's assertions.
An assertion value that uses a var the line lacks is a UserError for that line (the
caller records it as the line's error). A line naming a case is scored by that case as
the suite resolves it: the defaults and the case's own assertions, with the case's vars.

Invariants: nothing here changes the suite; lines without vars share one case.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError, suggest
from . import expand
from .project import Project
from .suites import Case, Suite, _make_case, _Resolved


class LineCases:
    """Cases for log lines of one suite."""

    def __init__(self, project: Project, suite: Suite) -> None:
        spec = suite.spec
        self.suite = suite
        sets = expand.AssertSets(project, spec, suite.source)
        self._asserts = sets.expand(spec.defaults.assert_, ("defaults", "assert"))
        self._resolved = _Resolved(project, suite.source)
        self._threshold = spec.defaults.threshold
        self._vars = dict(spec.defaults.vars)
        self._params = spec.defaults.params.set_values()
        self._by_id = {c.id: c for c in suite.cases}
        self._blank: Case | None = None
        self.asserts = len(self._asserts)  # assertions every case gets

    def find(self, case_id: str) -> Case | None:
        return self._by_id.get(case_id)

    def named(self, case_id: str) -> Case:
        found = self._by_id.get(case_id)
        if found is None:
            raise UserError(f"case '{case_id}' is not in suite '{self.suite.name}'",
                            hint=suggest(case_id, self._by_id) or
                            f"use a case id of {self.suite.file}, or leave 'case' out")
        return found

    def for_vars(self, case_id: str, vars_: dict[str, Any] | None) -> Case:
        """The suite's every-case assertions, rendered with the line's vars."""
        if not vars_:
            if self._blank is None:
                self._blank = self._make(case_id, dict(self._vars))
            return self._blank
        return self._make(case_id, {**self._vars, **vars_})

    def _make(self, case_id: str, vars_: dict[str, Any]) -> Case:
        return _make_case(self._resolved, case_id, vars_, self._asserts, dict(self._params),
                          self._threshold, self.suite.file, None, None)
