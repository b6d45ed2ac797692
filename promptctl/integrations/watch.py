"""`promptctl run --watch`: wait for the OS to report a save of one of the project's
input files and run again only the cells whose inputs changed (load/deps.py); the others
keep their last result.

The loop is a library function so that it can be tested in a thread: `watch(...)`
calls `on_result` after the first full run and after every save that changed some
cell's inputs, `on_error` when the project does not load or a run fails, and returns
when `stop` is set (within watchfiles' 50 ms step). Only files inside the project's
boundary (boundary.py) are watched and read: the folders handed to the OS watcher are
listed here, one by one and not recursively, so a link to a folder elsewhere is never
followed, and a change reported for a path that resolves outside is dropped.

Saves come from watchfiles (the Rust `notify` crate: inotify, FSEvents,
ReadDirectoryChangesW), not from polling. A round lists the files' (mtime, size)
stamps before it loads; after it, a fresh watcher is armed on the new scope (a new data
file or include joins it) and a save made while the round ran, or before the watcher
was armed, shows in those stamps, so none is lost. This module imports watchfiles (and
anyio with it): the CLI imports it only for --watch.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from ..boundary import inside, is_readable_input, project_boundary, safe_path
from ..errors import InfraError, PromptctlError, UserError
from ..load import deps, filters
from ..load.project import CONFIG_NAMES, Project, find_root, load_project
from ..load.suites import Suite, load_suite
from ..results import CallRecord, CellKey
from ..run.options import RunOptions
from ..run.runner import run_suites
from ..run.summary import Summary

Stamp = tuple[int, int]  # (mtime_ns, size)

# watchfiles' timing, in ms. A batch of changes ends STEP_MS after the last one, or
# DEBOUNCE_MS after the first (a git checkout, an editor's write-then-rename: one round).
STEP_MS = 50
DEBOUNCE_MS = 1600
# Without changes the watcher wakes every RUST_TIMEOUT_MS (no file is looked at): the
# first wake after arming compares the stamps once more, for a save made in the instant
# between the last comparison and the arming.
RUST_TIMEOUT_MS = 500


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
        wanted = filters.select(((s.name, c) for s in suites for c in s.cases),
                                options.filter) if options.filter else None
        self.cells = {k: v for k, v in deps.cell_inputs(project, suites).items()
                      if wanted is None or k[:2] in wanted}
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


def watched_dirs(root: Path, dirs: Sequence[Path], files: Sequence[Path]) -> list[Path]:
    """The folders to hand to the OS watcher, each watched without recursion: the root
    (promptctl.yaml), prompts/ and suites/ with every folder below them (a new file
    there counts), and the folder of each input file. Only existing folders inside the
    boundary; rglob does not descend into links to folders."""
    boundary = project_boundary(root)
    found: set[Path] = {root, *(p.parent for p in files)}
    for d in dirs:
        if d.is_dir():
            found.add(d)
            found.update(p for p in d.rglob("*") if p.is_dir())
    out = set()
    for d in found:
        try:
            real = safe_path(d, boundary, expect="dir")
        except UserError:
            continue  # outside, a system folder, unreadable: never watched
        if real.is_dir():
            out.add(real)
    return sorted(out)


def watch(project_root: Path, options: RunOptions,
          on_result: Callable[[WatchResult], None], stop: threading.Event, *,
          targets: Sequence[str] = (), config: Path | None = None,
          on_error: Callable[[PromptctlError], None] | None = None) -> None:
    """Run the suites, then wait for saves until `stop` is set; after each save run
    again only the cells whose inputs changed since the last good run. Ctrl-C (in the
    main thread) raises KeyboardInterrupt out of it."""
    root = (config.resolve().parent if config is not None else find_root(project_root))
    state: _State | None = None
    records: dict[CellKey, list[CallRecord]] = {}
    saved: list[Path] = []
    while not stop.is_set():
        # stamps and contents first: a save during the round is seen after it
        stamps = watched_files(root, *_scope(root, state))
        contents = {p: deps.read_now(p) for p in stamps}
        try:
            state, records = _round(root, options, targets, config, state, records, saved,
                                    contents, on_result)
        except PromptctlError as exc:
            if on_error is not None:
                on_error(exc)
        _join(root, state, stamps)
        saved = _next_save(root, state, stamps, stop)


def _join(root: Path, state: _State | None, stamps: dict[Path, Stamp | None]) -> None:
    """Files first read in this round (a data file, a python check) join the watch,
    stamped now; so do files created while it ran. One whose bytes differ from those
    the round used (a save since it read it; a new file) is stamped as missing, so
    that it counts as saved."""
    for p, stamp in watched_files(root, *_scope(root, state)).items():
        if p not in stamps:
            used = state.contents.get(p) if state is not None else None
            stamps[p] = stamp if deps.read_now(p) == used else None


def _moved(root: Path, state: _State | None, stamps: dict[Path, Stamp | None]) -> set[Path]:
    """The watched files whose stamp differs from `stamps` (new and deleted ones too)."""
    now = watched_files(root, *_scope(root, state))
    return {p for p in set(now) | set(stamps) if now.get(p) != stamps.get(p)}


def _next_save(root: Path, state: _State | None, stamps: dict[Path, Stamp | None],
               stop: threading.Event) -> list[Path]:
    """The files saved since `stamps` were taken, waiting for the OS to report one if
    none was yet; [] once `stop` is set."""
    while not stop.is_set():
        saved = _moved(root, state, stamps)  # saved while the round ran
        if saved:
            return sorted(saved)
        try:
            return _wait(root, state, stamps, stop)
        except FileNotFoundError:
            continue  # a folder went away before the watcher was armed: list them again
    return []


def _wait(root: Path, state: _State | None, stamps: dict[Path, Stamp | None],
          stop: threading.Event) -> list[Path]:
    """Arm a watcher on the scope and return the files of the first batch of changes
    that matter (see WatchFilter), or [] when `stop` is set."""
    dirs, _ = _scope(root, state)
    wanted = WatchFilter(root, dirs, stamps)
    changes = watchfiles.watch(
        *watched_dirs(root, dirs, list(stamps)), watch_filter=wanted, recursive=False,
        stop_event=stop, debounce=DEBOUNCE_MS, step=STEP_MS, rust_timeout=RUST_TIMEOUT_MS,
        yield_on_timeout=True, ignore_permission_denied=True)
    armed = False
    try:
        for batch in changes:
            # a file that exists, or that the scope listed (a deletion); not an editor's
            # temporary file, created and renamed away within the batch
            saved = {real for real in (Path(p).resolve() for _, p in batch)
                     if real in stamps or real.exists()}
            if not armed:  # a save just before the watcher was armed
                saved |= _moved(root, state, stamps)
                armed = True
            if saved:
                return sorted(saved)
    except FileNotFoundError:
        raise
    except OSError as exc:  # e.g. the OS's limit of watched folders
        raise InfraError(f"cannot watch the project's files: {exc}",
                         hint="raise fs.inotify.max_user_watches, or set "
                              "WATCHFILES_FORCE_POLLING=1 to poll instead") from None
    finally:
        changes.close()  # stops the watcher's thread
    return []


class WatchFilter:
    """watchfiles' watch_filter: a change worth a round is one to a file the scope
    lists (an input of the last load, promptctl.yaml) or to anything under prompts/ or
    suites/ (a new or deleted file or folder), less editors' temporary files (watchfiles'
    DefaultFilter: swap files, `~` backups, .git, __pycache__). A path that resolves
    outside the boundary is never wanted."""

    def __init__(self, root: Path, dirs: Sequence[Path],
                 stamps: dict[Path, Stamp | None]) -> None:
        self.root = root.resolve()
        self.boundary = project_boundary(root)
        self.dirs = [d.resolve() for d in dirs]
        self.files = set(stamps)
        self.temporary = watchfiles.DefaultFilter()

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        real = Path(path).resolve()
        if not inside(real, self.boundary):
            return False
        if real in self.files:
            return True
        # the default filter on the part below the root: the project's own path may
        # hold a name it skips (a checkout under .venv/ is still a project)
        below = os.path.relpath(path, self.root)
        return (any(real.is_relative_to(d) for d in self.dirs)
                and self.temporary(change, below))


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
