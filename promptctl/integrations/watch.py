"""`promptctl run --watch`: poll the project's input files and, on a save, run again
only the cells whose inputs changed (load/deps.py); the others keep their last result.

The loop is a library function so that it can be tested in a thread: `watch(...)`
calls `on_result` after the first full run and after every save that changed some
cell's inputs, `on_error` when the project does not load or a run fails, and returns
when `stop` is set. Only files inside the project's boundary (boundary.py) are
watched and read.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..boundary import inside, is_readable_input, project_boundary
from ..errors import PromptctlError
from ..load import deps
from ..load.project import CONFIG_NAMES, Project, find_root, load_project
from ..load.suites import Suite, case_matches, load_suite
from ..results import CallRecord, CellKey
from ..run.options import RunOptions
from ..run.runner import run_suites
from ..run.summary import Summary

Stamp = tuple[int, int]  # (mtime_ns, size)


@dataclass
class WatchResult:
    """The full result after a run: every cell's latest records, in plan order."""

    records: list[CallRecord]
    summary: Summary
    ran: set[CellKey]  # the cells this round ran (all of them the first time)
    changed: dict[CellKey, str] = field(default_factory=dict)  # cell -> new|better|worse|output
    files: list[Path] = field(default_factory=list)  # the saved files that set it off
    total: int = 0  # cells in the project
    seconds: float = 0.0
    first: bool = False


def _cell(rec: CallRecord) -> CellKey:
    return rec.cell


def _status(recs: Sequence[CallRecord]) -> str:
    return next(iter(Summary.of(recs).cells.values()), "error")


RANK = {"error": 0, "fail": 1, "flaky": 1, "pass": 2}


def compare_cells(before: dict[CellKey, list[CallRecord]],
                  after: dict[CellKey, list[CallRecord]]) -> dict[CellKey, str]:
    """How each cell that ran differs from its previous result: new, better, worse
    (its status), or output (same status, other text). Unchanged cells are left out."""
    out: dict[CellKey, str] = {}
    for key, recs in after.items():
        old = before.get(key)
        if old is None:
            out[key] = "new"
            continue
        s0, s1 = _status(old), _status(recs)
        if RANK[s1] > RANK[s0]:
            out[key] = "better"
        elif RANK[s1] < RANK[s0]:
            out[key] = "worse"
        elif [r.output for r in old] != [r.output for r in recs] or s0 != s1:
            out[key] = "output"
    return out


class _State:
    """The last good load: the project, its cells' inputs and the files' contents."""

    def __init__(self, project: Project, suites: list[Suite], options: RunOptions,
                 read_before: dict[Path, bytes | None]) -> None:
        self.project = project
        self.suites = suites
        self.cells = {k: v for k, v in deps.cell_inputs(project, suites).items()
                      if case_matches(k[1], options.filter)}
        files = {p for inputs in self.cells.values() for p, _ in inputs}
        # contents read before the project was loaded: a save made while this round
        # loads or runs differs from them, so the next round runs its cells again
        self.contents = {p: read_before[p] if p in read_before else deps.read_now(p)
                         for p in files}
        self.order = {key: i for i, key in enumerate(self.cells)}


def watched_files(root: Path, dirs: Sequence[Path], extra: Sequence[Path] = ()
                  ) -> dict[Path, Stamp | None]:
    """Every file under the directories (prompts/, suites/), promptctl.yaml and the
    inputs' files, with (mtime, size): a new or deleted file changes the listing too."""
    boundary = project_boundary(root)
    paths: set[Path] = {p.resolve() for p in extra}
    paths.update((root / name).resolve() for name in CONFIG_NAMES)
    for d in dirs:
        if d.is_dir():
            paths.update(p.resolve() for p in d.rglob("*") if is_readable_input(p, boundary))
    out: dict[Path, Stamp | None] = {}
    for p in paths:
        if not inside(p, boundary):
            continue  # never read (the load refuses it with a message)
        try:
            st = p.stat()
            out[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[p] = None
    return out


def watch(project_root: Path, options: RunOptions,
          on_result: Callable[[WatchResult], None], stop: threading.Event,
          poll: float = 0.3, *, targets: Sequence[str] = (), config: Path | None = None,
          on_error: Callable[[PromptctlError], None] | None = None) -> None:
    """Run the suites, then poll every `poll` seconds until `stop` is set; after each
    save run again only the cells whose inputs changed since the last good run."""
    root = (config.resolve().parent if config is not None else find_root(project_root))
    state: _State | None = None
    records: dict[CellKey, list[CallRecord]] = {}
    saved: list[Path] = []
    while not stop.is_set():
        # stamps and contents first: a save during the round is seen by the next poll
        stamps = watched_files(root, *_scope(root, state))
        contents = {p: deps.read_now(p) for p in stamps}
        try:
            state, records = _round(root, options, targets, config, state, records, saved,
                                    contents, on_result)
        except PromptctlError as exc:
            if on_error is not None:
                on_error(exc)
        # files first read in this round (a new data file or include) join the watch
        for p, stamp in watched_files(root, *_scope(root, state)).items():
            stamps.setdefault(p, stamp)
        saved = []
        while not saved and not stop.wait(poll):
            now = watched_files(root, *_scope(root, state))
            saved = sorted(p for p in set(now) | set(stamps) if now.get(p) != stamps.get(p))


def _scope(root: Path, state: _State | None) -> tuple[list[Path], list[Path]]:
    """The directories and files to watch: prompts/, suites/ and every input file of
    the last good load (else the default layout)."""
    if state is None:
        return [root / "prompts", root / "suites"], []
    return [state.project.prompts_dir, state.project.suites_dir], list(state.contents)


def _round(root: Path, options: RunOptions, targets: Sequence[str], config: Path | None,
           state: _State | None, records: dict[CellKey, list[CallRecord]],
           saved: list[Path], contents: dict[Path, bytes | None],
           on_result: Callable[[WatchResult], None]
           ) -> tuple[_State, dict[CellKey, list[CallRecord]]]:
    """Load, run what changed, report. Raises (and keeps the last good state) when the
    project does not load or the run fails."""
    project = load_project(root, config)
    suites = [load_suite(project, p, models=options.models)
              for p in project.suite_paths(targets)]
    new = _State(project, suites, options, contents)
    if state is None:
        todo = set(new.cells)
    else:
        before = state.contents

        def old(path: Path) -> bytes | None:
            # a file no cell read at the last run did not matter then: compare it to itself
            return before[path] if path in before else deps.read_now(path)

        todo = deps.changed_cells(new.cells, old) | (set(new.cells) - set(records))
    start = time.perf_counter()
    ran: dict[CellKey, list[CallRecord]] = {}
    if todo:
        result = run_suites(project, suites, dataclasses.replace(options, only=todo),
                            record_run=False)
        for rec in result.records:
            ran.setdefault(_cell(rec), []).append(rec)
    changed = compare_cells(records, ran) if state is not None else {}
    merged = {k: ran.get(k) or records[k] for k in new.cells if k in ran or k in records}
    if todo or state is None:
        ordered = [r for k in sorted(merged, key=new.order.__getitem__) for r in merged[k]]
        on_result(WatchResult(ordered, Summary.of(ordered), set(ran), changed, list(saved),
                              len(new.cells), time.perf_counter() - start, state is None))
    return new, merged
