"""`promptctl review promote [SUITE...]`: reviewed passing outputs become the cases'
reference answers (gate/promote.py), so a suite can assert
`{type: similar, value: "{{ reference }}"}`. Prints each change, conflict and case it
skipped, then one line of totals. Exit 0; bad input exit 2 (one line, file:line).
"""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from . import common
from .funnel import funnel


@funnel
def promote(
    suites: common.SuitesArg = None,
    to: Annotated[str, typer.Option(
        "--to", help="'suite' writes vars.<var> into each case of suites/<suite>.yaml "
        "(comments kept); a .csv or .jsonl path writes rows id,<var> there instead.")] = "suite",
    var: Annotated[str, typer.Option("--var", help="The variable to write.")] = "reference",
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help="Use the labels of this prompt (default: the most labelled).",
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Use the labels of this model (default: the most labelled).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a different reference a case already has.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print what would change; write nothing.")] = False,
    config: common.ConfigOpt = None,
) -> None:
    """Write the newest passing reviewed output of each case as its reference answer."""
    # deferred: keeps --help fast
    from ..gate.promote import promote as run_promote
    from . import output

    project = common.project(config)
    result = run_promote(project, list(suites or []), to=to, var=var, prompt=prompt,
                         model=model, force=force, dry_run=dry_run)
    for note in result.notes:
        output.out.print(note, markup=False)
    for c in result.changes:
        if c.kind == "same":
            continue
        if c.kind == "new":
            output.out.print(f"{c.suite}/{c.case}: {var} = {_short(c.text)}", markup=False)
        else:
            how = "replaced" if force else "kept (--force replaces it)"
            output.out.print(f"{c.suite}/{c.case}: has a different {var} "
                             f"{_short(c.old or '')}, label says {_short(c.text)}: {how}",
                             markup=False)
    for path in result.written:
        output.wrote(path)
    output.out.print(result.words(), markup=False)


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return repr(one if len(one) <= width else one[: width - 1] + "…")
