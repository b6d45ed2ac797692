"""`promptctl score LOGS.jsonl --suite SUITE`: production logs scored by a suite's
checks, per window, with a drift verdict (gate/score.py; the log format: docs/score.md).
Exit 0, or 1 with --gate when a decline is significant and larger than --max-drop; 2
for bad input (a bad log line names LOGS.jsonl:LINE, unless --skip-bad); 3 when no
line got a verdict (every one errored: a judge or embedder failed)."""

# no `from __future__ import annotations`: see cli/main.py

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode, UserError
from . import common
from .check_cmd import AlphaOpt
from .funnel import funnel

ScoreOutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write the result; the format comes from the extension: "
    ".json (the windows, their drift and distribution), .html (the same, as charts), "
    ".jsonl (one line per scored log line). Repeatable.", show_default=False)]


@funnel
def score(
    logs: Annotated[Path, typer.Argument(
        help="The log: one JSON object per line (docs/score.md).", show_default=False)],
    suite: Annotated[str, typer.Option(
        "--suite", "-s", help="The suite whose checks score the lines (a file, or a "
        "name in suites/).", show_default=False)],
    by: Annotated[str, typer.Option(
        "--by", help="Windows: day, week (by timestamp, UTC), or N lines each.")] = "day",
    field: Annotated[list[str] | None, typer.Option(
        "--field", metavar="FIELD=PATH", help="Where a field is in your lines: a dotted "
        "path with list indices, e.g. output=response.choices.0.message.content, "
        "vars.question=input.text. Repeatable.", show_default=False)] = None,
    log_format: Annotated[str, typer.Option(
        "--format", help="The shape of the lines: promptctl, or openai (chat-completion "
        "request/response pairs).")] = "promptctl",
    gate: Annotated[bool, typer.Option(
        "--gate", help="Exit 1 when the pass rate or a metric declines significantly "
        "by more than --max-drop.")] = False,
    max_drop: Annotated[float | None, typer.Option(
        "--max-drop", min=0.0, max=1.0, help="The decline --gate tolerates; default: the "
        "suite's max_drop, else 0.05 (as history).", show_default=False)] = None,
    alpha: AlphaOpt = 0.05,
    sample: Annotated[int, typer.Option(
        "--sample", min=0, help="Lines per window whose inputs and outputs are embedded "
        "for the centroid distances (a seeded sample; 0: none).")] = 256,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Count and list lines that cannot be read instead of "
        "stopping at the first.")] = False,
    no_cache: common.NoCacheOpt = False,
    output_file: ScoreOutputOpt = None,
    quiet: common.QuietOpt = False,
    config: common.ConfigOpt = None,
) -> None:
    """Score logged outputs with a suite's checks (and its judges) without calling the
    model under test, per day, week or N lines: pass rate and metrics with intervals,
    the drift verdict across windows, and how inputs and outputs drift (length,
    refusals, embedding distance from the suite's cases)."""
    # deferred: keeps --help fast
    from ..gate.history import DEFAULT_MAX_DROP
    from ..gate.score import ScoreOptions, parse_by, score_log
    from ..load.suites import load_suite
    from ..reports import check_outputs
    from ..reports.score_report import FORMATS, LINES, LineSink, write_document
    from ..run.logs import Mapping
    from . import output, scoreview

    check_outputs(output_file, FORMATS)
    by_window = parse_by(by)
    project = common.project(config)
    if not no_cache or sample:
        common.check_state(project)
    # not common.load_suites: the model under test is never called, so its GGUF file
    # need not be here
    loaded = [load_suite(project, p) for p in project.suite_paths([suite])]
    if len(loaded) != 1:
        raise UserError(f"--suite {suite!r} names {len(loaded)} suites",
                        hint="name one suite file, or one suite in suites/")
    if max_drop is None:
        max_drop = loaded[0].spec.max_drop
    options = ScoreOptions(by=by_window, alpha=alpha,
                           max_drop=DEFAULT_MAX_DROP if max_drop is None else max_drop,
                           sample=sample, skip_bad=skip_bad, use_cache=not no_cache,
                           mapping=Mapping(log_format, field))
    paths = output_file or []
    sink = LineSink([p for p in paths if p.suffix.lower() in LINES])
    size = logs.stat().st_size if logs.is_file() else 0
    try:
        with output.byte_progress(not quiet and size > 1 << 22, size) as advance:
            doc = score_log(project, loaded[0], logs, options,
                            on_line=sink.write if sink else None, on_bytes=advance)
    except BaseException:
        sink.abort()
        raise
    for path in sink.finish():
        output.wrote(path)
    scoreview.show(doc, quiet=quiet)
    for path in paths:
        if path.suffix.lower() not in LINES:
            write_document(path, doc)
            output.wrote(path)
    if doc["lines"]["scored"] == 0:
        raise UserError("the log holds no lines to score", file=doc["log"],
                        hint="one JSON object per line: docs/score.md")
    if gate:
        failed = doc["gate"]["failed"]
        output.out.print("gate: failed (a significant decline)" if failed else
                         "gate: passed", style="bold red" if failed else "bold green",
                         markup=False)
        if failed:
            raise typer.Exit(int(ExitCode.FAILED))
    points = [p for s in doc["suites"] for p in s["points"]]
    if points and all(p["passed"] + p["failed"] == 0 for p in points):
        raise typer.Exit(int(ExitCode.INFRA))
