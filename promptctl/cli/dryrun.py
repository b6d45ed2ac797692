"""`--dry-run` of run, check and baseline update: the priced plan, printed (and with
`-o FILE.json` written as JSON); no model is called, no run folder written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from . import common

if TYPE_CHECKING:
    from ..load.project import Project
    from ..load.suites import Suite
    from ..run.options import RunOptions


def dry_run(project: Project, targets: list[str] | None, model: list[str] | None,
            options: RunOptions, output_file: list[Path] | None, *, resume: bool = False,
            changed_since: str | None = None, loaded: list[Suite] | None = None) -> None:
    """Print the plan of a new run of `targets` (or `loaded`): the caller exits 0."""
    # deferred: keeps --help fast
    from ..run.dryrun import describe
    from ..run.dryrun import dry_run as priced_plan
    from ..run.store import write_json_atomic
    from . import output

    if resume:
        raise UserError("--dry-run shows the plan of a new run",
                        hint="leave out --resume / --retry-errors")
    for path in output_file or []:
        if path.suffix.lower() != ".json":
            raise UserError(f"--dry-run writes its plan as JSON only, not {path.name}",
                            hint="give -o PLAN.json, or leave out -o")
    if loaded is None:
        loaded = common.load_suites(project, targets, model)
    if not common.select_changed(project, loaded, options, changed_since):
        return
    result = priced_plan(project, loaded, options)
    for line in describe(result):
        output.out.print(line, markup=False, highlight=False)
    for path in output_file or []:
        write_json_atomic(path, result.to_dict())
        output.wrote(path)
