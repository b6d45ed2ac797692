"""`promptctl batches [RUN]`: a run's OpenAI batches (run/batch.py), and `--cancel`."""

# no `from __future__ import annotations`: see cli/main.py

from typing import Annotated

import typer

from . import common
from .funnel import funnel


@funnel
def batches(
    run: Annotated[str | None, typer.Argument(
        help="The run id (default: the latest run).", show_default=False)] = None,
    cancel: Annotated[bool, typer.Option(
        "--cancel", help="Cancel the run's unfinished batches (what they answered so "
        "far is still collected by `run --resume`).")] = False,
    config: common.ConfigOpt = None,
) -> None:
    """The batches a run sent through the OpenAI Batch API (--batch): per batch its id,
    model, status, request counts, and when it was created and finished. The status of
    a batch not yet collected is asked of the API.

    Exit 2 for a run without batches."""
    # deferred: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    from ..run.batch import run_batches
    from .output import out

    project = common.project(config)
    run_id, entries = run_batches(project, run, cancel=cancel)
    table = Table(pad_edge=False, title=f"run {run_id}", title_justify="left")
    for col in ("batch", "model", "status", "requests", "done", "failed", "created",
                "finished"):
        table.add_column(col, overflow="fold")
    for e in entries:
        counts = e.get("request_counts") or {}
        status = e["status"] + ("" if e["collected"] else " (not collected)")
        table.add_row(Text(str(e["id"] or f"(not created: {e['input_file_id']})")),
                      Text(e["model"]), Text(status), str(counts.get("total", 0)),
                      str(counts.get("completed", 0)), str(counts.get("failed", 0)),
                      Text(e["created"]), Text(e.get("finished") or ""))
    out.print(table)
