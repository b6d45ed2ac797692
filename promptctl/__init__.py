"""promptctl: prompt engineering and prompt regression testing.

The public API, shared by the CLI, the pytest plugin and the tests::

    from promptctl import load_project, load_suite, run_suites, RunOptions

    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions(models=["echo"]))
    print(result.summary.to_dict(), result.exit_code)

Names are imported lazily so that `promptctl lint` and `--help` stay instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_project": "promptctl.load.project",
    "Project": "promptctl.load.project",
    "load_suite": "promptctl.load.suites",
    "Suite": "promptctl.load.suites",
    "Case": "promptctl.load.suites",
    "render_messages": "promptctl.load.rendering",
    "run_suites": "promptctl.run.runner",
    "RunOptions": "promptctl.run.options",
    "RunResult": "promptctl.run.runner",
    "lint_project": "promptctl.load.lint",
    "CallRecord": "promptctl.results",
    "AssertionResult": "promptctl.results",
    "Completion": "promptctl.results",
    "ExitCode": "promptctl.errors",
    "UserError": "promptctl.errors",
    "InfraError": "promptctl.errors",
    "PromptctlError": "promptctl.errors",
}

__all__ = [  # noqa: RUF022 - grouped by module, as in _EXPORTS
    "load_project", "Project", "load_suite", "Suite", "Case", "render_messages", "run_suites",
    "RunOptions", "RunResult", "lint_project", "CallRecord", "AssertionResult",
    "Completion", "ExitCode", "UserError", "InfraError", "PromptctlError", "__version__",
]

if TYPE_CHECKING:
    from .errors import ExitCode, InfraError, PromptctlError, UserError
    from .load.lint import lint_project
    from .load.project import Project, load_project
    from .load.rendering import render_messages
    from .load.suites import Case, Suite, load_suite
    from .results import AssertionResult, CallRecord, Completion
    from .run.options import RunOptions
    from .run.runner import RunResult, run_suites


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'promptctl' has no attribute {name!r}")
