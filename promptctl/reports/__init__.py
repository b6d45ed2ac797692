"""Report writers, chosen by the output file's extension (WRITERS), and the two steps
every command with `-o` takes: check_outputs before any work (a bad path is exit 2
before a model is called), write_outputs at the end.

    .json   run: the results document (PRODUCT.md); check/diff: the diff document
    .jsonl  one line per model call
    .xml    JUnit XML: one testcase per case x prompt x model
    .html   one self-contained page: the case x (prompt, model) matrix, filters, diffs
    .md     run: a summary table; check/diff: the pull-request comment
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from .data import ReportData

__all__ = ["GATE_FORMATS", "RUN_FORMATS", "WRITERS", "ReportData", "check_outputs",
           "write_outputs", "write_report"]



# -- the writers ---------------------------------------------------------------------
# Each writer imports its module only when it is called: a command pays for the html,
# JUnit or Markdown code only when it writes that report (start-up speed).


def _write_json(path: Path, data: ReportData) -> None:
    if data.diff is not None:  # check and diff: the diff document
        # deferred: each writer's module only when it writes (start-up speed)
        from .diff_report import write_diff_json

        write_diff_json(path, data.diff, data.case_metadata(), data.cell_labels(),
                        data.timing)
    else:
        # deferred: each writer's module only when it writes (start-up speed)
        from .json_report import write_json

        write_json(path, data)


def _write_jsonl(path: Path, data: ReportData) -> None:
    # deferred: each writer's module only when it writes (start-up speed)
    from .json_report import write_jsonl

    write_jsonl(path, data)


def _write_junit(path: Path, data: ReportData) -> None:
    # deferred: each writer's module only when it writes (start-up speed)
    from .junit import junit_xml

    path.write_text(junit_xml(data), encoding="utf-8")


def _write_html(path: Path, data: ReportData) -> None:
    # deferred: each writer's module only when it writes (start-up speed)
    from .html_report import render_html

    path.write_text(render_html(data), encoding="utf-8")


def _write_markdown(path: Path, data: ReportData) -> None:
    # deferred: each writer's module only when it writes (start-up speed)
    from .markdown import markdown

    path.write_text(markdown(data), encoding="utf-8")


Writer = Callable[[Path, ReportData], None]

WRITERS: dict[str, Writer] = {
    ".json": _write_json,
    ".jsonl": _write_jsonl,
    ".xml": _write_junit,
    ".html": _write_html,
    ".md": _write_markdown,
}
RUN_FORMATS = tuple(WRITERS)
GATE_FORMATS = (".json", ".md", ".xml", ".html")  # a diff has no per-call .jsonl


def write_report(path: Path, data: ReportData) -> None:
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:  # check_output_path ran first
        raise UserError(f"unsupported output format '{path.suffix.lower()}'")
    writer(path, data)


# -- the -o paths --------------------------------------------------------------------


def check_output_path(path: Path, formats: tuple[str, ...] = RUN_FORMATS) -> None:
    """Fail before running anything if the report could not be written."""
    if path.suffix.lower() not in formats:
        raise UserError(f"unsupported output format '{path.suffix or path.name}'",
                        file=str(path), hint="use one of: " + ", ".join(formats))
    if path.parent and not path.parent.exists():
        raise UserError(f"directory {path.parent} does not exist", file=str(path),
                        hint="create it first")
    if path.is_dir():
        raise UserError("cannot write the report: this is a directory", file=str(path),
                        hint=f"name a file in it, e.g. {path / ('results' + path.suffix)}")
    if not path.parent.is_dir():
        raise UserError(f"cannot write the report: {path.parent} is not a directory",
                        file=str(path), hint="name a file in an existing directory")
    problem = unwritable_dir(path.parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = "the file is read-only"
    if problem is not None:
        raise UserError(f"cannot write the report: {problem}", file=str(path),
                        hint="choose a path you can write to")


def unwritable_dir(directory: Path) -> str | None:
    """Why a file cannot be created in `directory` (None: it can). Tried for real, with
    a probe file removed at once: permissions, read-only mounts and root all answer."""
    try:
        fd, name = tempfile.mkstemp(prefix=".promptctl-probe-", dir=directory)
    except OSError as exc:
        return f"{directory} is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(name)
    return None


# -- what the commands call ----------------------------------------------------------


def check_outputs(paths: list[Path] | None, formats: tuple[str, ...] = GATE_FORMATS) -> None:
    """Every `-o` path, checked before any work: run, merge, check, diff."""
    for path in paths or []:
        check_output_path(path, formats)


def write_outputs(paths: list[Path] | None, data: ReportData,
                  on_written: Callable[[Path], None] | None = None) -> None:
    """Write every `-o` report, in order; `on_written(path)` after each (the CLI says
    so on stderr)."""
    for path in paths or []:
        write_report(path, data)
        if on_written is not None:
            on_written(path)
