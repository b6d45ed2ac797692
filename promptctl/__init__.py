"""promptctl: prompt engineering and prompt regression testing.

The public API, shared by the CLI, the pytest plugin and the tests::

    from promptctl import load_project, run_suites, RunOptions

    project = load_project()
    suites = [project.load_suite(p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions(models=["echo"]))
    print(result.summary.to_dict(), result.exit_code)

Names are imported lazily so that `promptctl lint` and `--help` stay instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_project": "promptctl.project",
    "Project": "promptctl.project",
    "Suite": "promptctl.project",
    "Case": "promptctl.project",
    "render_messages": "promptctl.rendering",
    "run_suites": "promptctl.runner",
    "RunOptions": "promptctl.runner",
    "RunResult": "promptctl.runner",
    "lint_project": "promptctl.lint",
    "CallRecord": "promptctl.results",
    "AssertionResult": "promptctl.results",
    "Completion": "promptctl.results",
    "ExitCode": "promptctl.errors",
    "UserError": "promptctl.errors",
    "InfraError": "promptctl.errors",
    "PromptctlError": "promptctl.errors",
}

__all__ = [  # noqa: RUF022 - grouped by module, as in _EXPORTS
    "load_project", "Project", "Suite", "Case", "render_messages", "run_suites",
    "RunOptions", "RunResult", "lint_project", "CallRecord", "AssertionResult",
    "Completion", "ExitCode", "UserError", "InfraError", "PromptctlError", "__version__",
]

if TYPE_CHECKING:
    from .errors import ExitCode, InfraError, PromptctlError, UserError
    from .lint import lint_project
    from .project import Case, Project, Suite, load_project
    from .rendering import render_messages
    from .results import AssertionResult, CallRecord, Completion
    from .runner import RunOptions, RunResult, run_suites


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'promptctl' has no attribute {name!r}")
