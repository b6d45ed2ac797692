"""Parse and dispatch. Each command lives in its own module.

Start-up: `promptctl --help` imports every command module and typer builds every
command's parameters, so a command module imports at module level only typer, the
stdlib and promptctl.errors (tests/cli/test_startup.py checks it); the rest is imported
inside the command function ("# deferred: keeps --help fast"). The command modules
leave out `from __future__ import annotations`: typer evaluates the annotations of
every command's parameters, and as strings each is compiled and eval'd (~15 ms of
--help for the ~90 parameters). run_cmd and check_cmd still have it, as their other
functions annotate with names imported only for type checking.
"""

from __future__ import annotations

import gc
import sys

from . import (
    baseline_cmd,
    batches_cmd,
    cache_cmd,
    calibrate_cmd,
    check_cmd,
    compare_cmd,
    diff_cmd,
    history_cmd,
    import_promptfoo_cmd,
    import_results_cmd,
    init_cmd,
    lint_cmd,
    merge_cmd,
    models_cmd,
    render_cmd,
    review_cmd,
    robust_cmd,
    run_cmd,
    score_cmd,
)
from .lint_fast import answer_from_cache
from .params import App, GitRangeCommand

app = App(  # typer.Typer, minus the coercion of unset parameters (cli/params.py)
    name="promptctl",
    help="Prompt engineering and prompt regression testing: YAML prompts and suites, "
         "local and hosted models, baselines.\n\nExit codes: 0 all good, 1 negative "
         "verdict, 2 bad input, 3 infrastructure failure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("init")(init_cmd.init)
app.command("lint")(lint_cmd.lint)
app.command("render")(render_cmd.render)
app.command("run")(run_cmd.run)
app.command("check")(check_cmd.check)
app.command("diff")(diff_cmd.diff)
app.command("compare")(compare_cmd.compare)
app.command("merge")(merge_cmd.merge)
app.command("robust")(robust_cmd.robust)
app.command("history", cls=GitRangeCommand)(history_cmd.history)
app.command("score")(score_cmd.score)
app.command("calibrate")(calibrate_cmd.calibrate)
app.add_typer(baseline_cmd.app, name="baseline")
app.add_typer(review_cmd.app, name="review")
app.command("models")(models_cmd.models)
app.command("batches")(batches_cmd.batches)
app.add_typer(cache_cmd.app, name="cache")

# `promptctl import SOURCE ...`: one command per foreign format, each its own module.
import_app = App(help="Bring a project from another tool into promptctl.",
                 no_args_is_help=True)
import_app.command("promptfoo")(import_promptfoo_cmd.import_promptfoo)
import_app.command("promptfoo-results")(import_results_cmd.import_promptfoo_results)
app.add_typer(import_app, name="import")


def main() -> None:
    if sys.argv[1:2] == ["lint"]:  # an unchanged tree: answered before typer parses
        code = answer_from_cache(sys.argv[2:])
        if code is not None:
            raise SystemExit(code)
    try:
        app()
    finally:
        # The work is done and every file closed: spare the interpreter's exit a full
        # collection over every object the imports made (openai's types: ~0.2 s).
        gc.freeze()
