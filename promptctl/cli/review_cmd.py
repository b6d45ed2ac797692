"""`promptctl review`: human labels for a saved run's outputs, kept in reviews/ (issue
17 item 2). A group of three:

- `review [RUN] [SUITE...]` (the same as `review label ...`): one output at a time in
  the terminal (cli/review_tty.py), each label written to reviews/<suite>.yaml as it is
  given; with `--html FILE` a self-contained page instead (reports/review_html.py),
  whose "Save labels" button downloads a file for `review import`;
- `review import FILE [--force]` (cli/review_import_cmd.py);
- `review promote [SUITE...]` (cli/review_promote_cmd.py).

A first word that is not a subcommand is the labelling command's: `review`,
`review latest summarize`, `review --only failing` all label. RUN is a run id (or
'latest') only when it names a saved run, so `review summarize` reviews the latest run's
summarize suite. Exit 0 (a session ended early keeps every label given), 2 for bad input.
"""

# no `from __future__ import annotations`: see cli/main.py

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from . import common, review_import_cmd
from .funnel import funnel
from .params import App, FastGroup

LABEL = "label"
_RUN_ID = re.compile(r"\d{8}T\d")  # store.new_run_id's shape; a prefix names a run too


class ReviewGroup(FastGroup):
    """Routes a first word that is no subcommand (or no word at all) to `label`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = [LABEL, *args]
        return super().parse_args(ctx, args)


app = App(cls=ReviewGroup, help="Label a run's outputs by hand (terminal or a page), "
          "import labels saved from the page, and promote reviewed outputs to reference "
          "answers. `promptctl review [RUN] [SUITE...]` is `review label`.")


def split_words(runs_dir: Path, words: list[str]) -> tuple[str | None, list[str]]:
    """The run and the suites of `review [RUN] [SUITE...]`."""
    if words and (words[0] == "latest" or _RUN_ID.match(words[0])
                  or (runs_dir / words[0]).is_dir()):
        return words[0], words[1:]
    return None, words


@app.command(LABEL)
@funnel
def label(
    words: Annotated[list[str] | None, typer.Argument(
        help="A saved run id ('latest', the default), then suite names (default: every "
        "suite of the run).", show_default=False, metavar="RUN|SUITE")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Only these outputs: failing, judged (a model-graded assertion "
        "ran on it), unlabelled (or stale), disagreements (the label and the suite's "
        "verdict differ). Repeatable or comma-separated; all must hold.",
        show_default=False)] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write a self-contained review page to this file instead of "
        "reviewing in the terminal; its 'Save labels' button downloads a file for "
        "`promptctl review import`.", show_default=False)] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who is labelling (default: git's user.email).",
        show_default=False)] = None,
    config: common.ConfigOpt = None,
) -> None:
    """Label a saved run's outputs pass or fail, one at a time, with its rendered prompt,
    the assertions' verdicts and the judge's reasons. Keys: p pass, f fail, s skip,
    n note, b back, q quit. Every label is written to reviews/<suite>.yaml at once."""
    # deferred: keeps --help fast
    from ..gate.labels import check_only, review_items, reviews_of
    from ..load.reviews import reviewer
    from ..run.meta import load_run
    from ..run.store import runs_dir
    from . import output

    filters = check_only(only or [])
    project = common.project(config)
    run, suites = split_words(runs_dir(project), list(words or []))
    saved = load_run(project, run)
    _, records = common.of_saved_run(project, saved, suites)
    books = reviews_of(project, {r.suite for r in records})
    items = review_items(project, records, only=filters, reviews=books)
    who = by or reviewer(project.root)
    if html is not None:
        from ..reports.review_html import write_review_page  # deferred: the page's text

        write_review_page(html, items, run_id=saved.run_id, by=who)
        output.wrote(html)
        output.out.print(f"{len(items)} outputs to review; open {html} in a browser, "
                         f"then `promptctl review import labels-{saved.run_id}.json`",
                         markup=False)
        return
    if not items:
        output.out.print(f"nothing to review in run {saved.run_id}"
                         + (f" (--only {','.join(filters)})" if filters else ""),
                         markup=False)
        return
    from .review_tty import run_session  # deferred: termios and the session's views

    tally = run_session(project, items, books, by=who, console=output.out)
    output.out.print(tally.words(), markup=False)


app.command("import")(review_import_cmd.import_)
