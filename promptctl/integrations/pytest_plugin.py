"""pytest plugin: `pytest suites/` collects every case x prompt x model of each promptctl
suite as a test item, and runs it through the same library calls as `promptctl run`.

Registered through the `pytest11` entry point, so it is active wherever promptctl is
installed; `-p no:promptctl` turns it off. A YAML file is collected only when it sits in
the suites directory of a promptctl project: the `paths.suites` of the nearest
promptctl.yaml upwards, or, with no promptctl.yaml, a `suites/` directory beside a
`prompts/` one. Any other YAML file (CI workflows, prompt collections) is left alone.

Ids read `suites/triage.yaml::double-charge[support.triage@default]`; the `[...]` part
is left out when the suite has one prompt and one model. An item is a cell: it draws
every repeat and passes when the cell passes, as in the CLI's table. A failing cell is a
failure (F) that shows each failing assertion, its reason and the output; a cell whose
model call failed has no verdict and is reported as an error (E), like a broken
fixture. Bad input in a suite is a collection error with promptctl's one-line message.

Importing this module costs nothing beyond pytest: promptctl's loaders are imported
only when a YAML file is seen, so pytest runs of unrelated code stay as they were.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._io import TerminalWriter

    from ..errors import PromptctlError
    from ..load.project import Project, PromptRef
    from ..load.suites import Case, Suite
    from ..results import CallRecord, CellKey
    from ..run.options import RunOptions
    from ..run.runner import RunResult

YAML_SUFFIXES = (".yaml", ".yml")
OUTPUT_LIMIT = 2000  # characters of an output shown in a failure (-vv shows all)

# root of a project -> the loaded project, or the error that loading it raised
_PROJECTS = pytest.StashKey[dict[Path, "Project | PromptctlError"]]()
# a directory -> the project whose suites directory it is (None: not a suites directory)
_SUITE_DIRS = pytest.StashKey[dict[Path, "Path | None"]]()
# response caches this process has opened once already


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promptctl", "promptctl suites (suites/*.yaml)")
    group.addoption(
        "--promptctl-model", action="append", default=[], metavar="NAME",
        dest="promptctl_models",
        help="Model alias or spec (builtin:smollm2, PATH.gguf, openai:NAME, echo) to run "
             "the suites on instead of their own models; repeat for a matrix.")
    group.addoption(
        "--promptctl-repeat", metavar="N", type=_repeat, default=None,
        dest="promptctl_repeat",
        help="Samples per case (overrides the suites' repeat), or 'auto'. A case passes "
             "when every sample passes.")
    group.addoption(
        "--promptctl-filter", action="append", default=[], metavar="PATTERN",
        dest="promptctl_filter",
        help="Only the cases that match, as promptctl's -k: TEXT or id:TEXT (the id), "
             "tag:NAME, KEY=VALUE (metadata), !TERM; commas separate alternatives, a "
             "repeated option narrows. (pytest's own -k also sees each case's tags.)")
    group.addoption(
        "--promptctl-no-cache", action="store_true", default=False,
        dest="promptctl_no_cache",
        help="Call the model even when the response cache has an answer.")


def _repeat(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"bad value {value!r}: a whole number >= 1, or auto")
    return count


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "promptctl: a case of a promptctl suite (added by the promptctl plugin)")
    config.stash[_PROJECTS] = {}
    config.stash[_SUITE_DIRS] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.suffix not in YAML_SUFFIXES:
        return None
    root = _suite_root(parent.config, file_path.parent)
    if root is None:
        return None
    return SuiteFile.from_parent(parent, path=file_path, project_root=root)


# -- which files are suites ----------------------------------------------------------

def _suite_root(config: pytest.Config, directory: Path) -> Path | None:
    """The root of the project whose suites directory `directory` is, else None."""
    cache = config.stash[_SUITE_DIRS]
    key = directory.resolve()
    if key not in cache:
        cache[key] = _find_suite_root(config, key)
    return cache[key]


def _find_suite_root(config: pytest.Config, directory: Path) -> Path | None:
    # deferred: this plugin loads in every pytest session (module docstring)
    from ..load.project import CONFIG_NAMES, find_root
    from ..schema import Paths

    root = find_root(directory)
    has_config = any((root / name).is_file() for name in CONFIG_NAMES)
    if not has_config:
        # defaults: suites/ beside prompts/; a lone suites/ of YAML is someone else's
        root = directory.parent
        if directory.name != Paths().suites or not (root / Paths().prompts).is_dir():
            return None
    project = _project(config, root)
    if isinstance(project, Exception):
        # promptctl.yaml itself is broken: report it on the files of the default place
        return root if directory == root / Paths().suites else None
    return root if project.suites_dir.resolve() == directory else None


def _project(config: pytest.Config, root: Path) -> Project | PromptctlError:
    # deferred: this plugin loads in every pytest session (module docstring)
    from ..errors import PromptctlError
    from ..load.project import load_project

    cache = config.stash[_PROJECTS]
    if root not in cache:
        try:
            cache[root] = load_project(root)
        except PromptctlError as exc:
            cache[root] = exc
    return cache[root]


def _properties(case: Case) -> list[tuple[str, str]]:
    """The case's metadata and tags as the test's user properties: --junitxml writes
    them as the testcase's <properties>, as promptctl's own JUnit report does."""
    # deferred: this plugin loads in every pytest session (module docstring)
    from ..reports.junit import case_properties

    return case_properties(case.metadata, case.tags)


def _run_options(config: pytest.Config) -> RunOptions:
    # deferred: this plugin loads in every pytest session (module docstring)
    from ..load.filters import check_filter
    from ..run.options import RunOptions

    repeat = config.getoption("promptctl_repeat")
    return RunOptions(models=list(config.getoption("promptctl_models") or []),
                      filter=check_filter(config.getoption("promptctl_filter")),
                      repeat=repeat if isinstance(repeat, int) else None,
                      auto_repeat=repeat == "auto",
                      use_cache=not config.getoption("promptctl_no_cache"))


# -- collection ------------------------------------------------------------------------

class SuiteFile(pytest.File):
    """A suite YAML file: one item per (case, prompt, model) cell."""

    def __init__(self, *, project_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_root = project_root

    def collect(self) -> list[CaseItem]:
        # deferred: this plugin loads in every pytest session (module docstring)
        from ..errors import UserError
        from ..run.plan import plan

        project = _project(self.config, self.project_root)
        if isinstance(project, Exception):
            raise project
        options = _run_options(self.config)
        for name in options.models:
            try:
                project.model(name)
            except UserError as exc:
                exc.message += " (given with --promptctl-model)"
                raise
        # deferred: this plugin loads in every pytest session (module docstring)
        from ..load.suites import case_matches, load_suite

        suite = load_suite(project, self.path, models=options.models)
        # render every cell now, as `promptctl run` does before its first model call: a
        # template error is an error in the input (a collection error), not a failure
        plan(project, [suite], dataclasses.replace(options, repeat=1, auto_repeat=False))
        matrix = len(suite.prompts) > 1 or len(suite.models) > 1
        items = []
        for case in suite.cases:
            if not case_matches(case.id, options.filter, case.metadata, case.tags):
                continue
            for prompt in suite.prompts:
                for model in suite.models:
                    name = f"{case.id}[{prompt.id}@{model}]" if matrix else case.id
                    item = CaseItem.from_parent(self, name=name, project=project,
                                                suite=suite, case=case, prompt=prompt,
                                                model=model)
                    item.add_marker("promptctl")
                    item.extra_keyword_matches.update({suite.name, prompt.id, model})
                    item.extra_keyword_matches.update(case.tags)
                    item.user_properties.extend(_properties(case))
                    items.append(item)
        return items

    def repr_failure(  # type: ignore[override]  # as pytest.Collector's own
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> Any:
        # deferred: this plugin loads in every pytest session (module docstring)
        from ..errors import PromptctlError

        if isinstance(excinfo.value, PromptctlError):
            return _Report(f"error: {excinfo.value}")
        return super().repr_failure(excinfo)


class CaseFailed(Exception):
    """A cell's verdict is negative (raised by CaseItem.runtest, shown by repr_failure)."""


class CaseItem(pytest.Item):
    """One cell of a suite: a case on one prompt and one model, every repeat of it."""

    def __init__(self, *, project: Project, suite: Suite, case: Case, prompt: PromptRef,
                 model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.suite = suite
        self.case = case
        self.prompt = prompt
        self.model = model
        self.result: RunResult | None = None
        # where the case is written (a data file's row for `from:` cases), fixed now:
        # promptctl's messages are relative to the directory pytest was started in
        self.case_path = Path(os.path.abspath(case.file))

    @property
    def cell(self) -> CellKey:
        return (self.suite.name, self.case.id, self.prompt.id, self.model)

    def setup(self) -> None:
        """Draw the cell's samples. A failed model call leaves no verdict: it is raised
        here, so pytest reports an error (E) rather than a failure (F)."""
        # deferred: this plugin loads in every pytest session (module docstring)
        from ..errors import PromptctlError
        from ..run.runner import run_suites

        cell = dataclasses.replace(self.suite, cases=[self.case], prompts=[self.prompt],
                                   models=[self.model])
        options = _run_options(self.config)
        try:
            result = run_suites(self.project, [cell], options, record_run=False)
        except PromptctlError as exc:
            pytest.fail(f"error: {exc}", pytrace=False)
        self.result = result
        records = result.records
        passed = sum(r.status == "pass" for r in records)
        self.user_properties.extend([
            ("prompt", self.prompt.id), ("model", self.model),
            ("samples", len(records)), ("passed_samples", passed),
            ("cached_samples", sum(r.cached for r in records))])
        if result.summary.cells.get(self.cell) == "error":
            pytest.fail(self._error_text(records), pytrace=False)

    def runtest(self) -> None:
        assert self.result is not None
        if self.result.summary.cells.get(self.cell) != "pass":
            raise CaseFailed(self.case.id)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed) and self.result is not None:
            return self._failure_report(self.result.records)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.case.line - 1 if self.case.line else None
        return self.case_path, line, f"{self.suite.name}::{self.name}"

    # -- what a report says ----------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.case.file}:{self.case.line}" if self.case.line else self.case.file

    def _heading(self, records: list[CallRecord], verdict: str) -> str:
        text = f"{self.where}: case '{self.case.id}' {verdict} on {self.prompt.id} @ {self.model}"
        if len(records) > 1:
            passed = sum(r.status == "pass" for r in records)
            text += f" ({passed}/{len(records)} samples passed)"
        return text

    def _error_text(self, records: list[CallRecord]) -> str:
        lines = [self._heading(records, "has no verdict: a model call failed")]
        for rec in records:
            if rec.error is not None:
                prefix = f"repeat {rec.repeat}: " if len(records) > 1 else ""
                lines.append(f"  {prefix}error: {rec.error}")
        return "\n".join(lines)

    def _failure_report(self, records: list[CallRecord]) -> _Report:
        verbose = self.config.get_verbosity() >= 2
        failing = [r for r in records if r.status != "pass"]
        # repeats that failed the same way (same output, same reasons) are shown once
        groups: dict[tuple[Any, ...], list[CallRecord]] = {}
        for rec in failing:
            reasons = tuple((a.type, a.reason) for a in rec.assertions if not a.passed)
            groups.setdefault((rec.output, rec.error, reasons), []).append(rec)
        first_reason = ""
        lines = [self._heading(records, "failed"), ""]
        for (output, error, _), recs in groups.items():
            indent = ""
            if len(records) > 1:
                label = "repeat" if len(recs) == 1 else "repeats"
                lines.append(f"{label} {', '.join(str(r.repeat) for r in recs)}:")
                indent = "  "
            rec = recs[0]
            if error is not None:
                lines.append(f"{indent}error: {error}")
                first_reason = first_reason or f"error: {error}"
                continue
            lines.extend(f"{indent}{line}" for line in _show_output(output, verbose))
            if self.case.threshold is not None:
                lines.append(f"{indent}score {rec.score:.3g} < threshold "
                             f"{self.case.threshold:.3g}")
            failed = [(i, a) for i, a in enumerate(rec.assertions) if not a.passed]
            if failed:
                lines.append(f"{indent}failed assertions:")
            for i, a in failed:
                at = self._assertion_line(i)
                lines.append(f"{indent}    {at}{a.type}: {a.reason}")
                first_reason = first_reason or f"{a.type}: {a.reason}"
            lines.append("")
        message = f"{self.where}: {first_reason}" if first_reason else self.where
        if self.config.getoption("tbstyle", "auto") == "line":  # one line per failure
            return _Report(f"E   {first_reason}", message, self.case.file, self.case.line)
        return _Report("\n".join(lines).rstrip("\n"), message, self.case.file, self.case.line)

    def _assertion_line(self, i: int) -> str:
        """'suites/x.yaml:14: ' for an assertion written in the suite file; a data row's
        own assertions are located by the case line already."""
        lines = self.case.assert_lines
        if self.case.file != self.suite.file or i >= len(lines) or not lines[i]:
            return ""
        return f"{self.suite.file}:{lines[i]}: "


def _show_output(output: str | None, verbose: bool) -> list[str]:
    if output is None:
        return ["output: (none)"]
    if output == "":
        return ["output: (empty)"]
    shown = output
    note = []
    if not verbose and len(output) > OUTPUT_LIMIT:
        shown = output[:OUTPUT_LIMIT]
        note = [f"    ... {len(output) - OUTPUT_LIMIT} more characters (-vv shows all)"]
    return ["output:", *(f"    | {line}" for line in shown.splitlines()), *note]


@dataclasses.dataclass
class _Crash:
    """The one-line summary pytest shows in `-ra` and in JUnit's message attribute."""

    message: str
    path: str | None = None
    lineno: int | None = None

    def __str__(self) -> str:
        return self.message


class _Report:
    """A failure report: printed as written, without a Python traceback. Pytest reads
    `toterminal`, `str()` (e.g. when pytest-xdist sends it to the controller) and
    `reprcrash.message` (the short summary line)."""

    def __init__(self, text: str, message: str | None = None, path: str | None = None,
                 lineno: int | None = None) -> None:
        self.text = text
        self.reprcrash = _Crash(message or text.split("\n", 1)[0], path, lineno)

    def toterminal(self, tw: TerminalWriter) -> None:
        for line in self.text.split("\n"):
            tw.line(line)

    def __str__(self) -> str:
        return self.text
